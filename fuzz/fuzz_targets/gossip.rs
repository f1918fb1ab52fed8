//! Every gossip message a peer can send: the first byte picks the kind (push, pull request with its
//! bloom filter, pull response), the rest is the payload.
//!
//! Asserts that a body that decodes re-encodes to the same bytes; that a peer's filter survives
//! its own wire form and never forgets an ID put in it (no false negatives); that the inbound
//! pipeline accounts for every transaction once and asks admission at most once per transaction;
//! and that the VM's real handlers, fed the same payload, leave the chain as it was and let into
//! the pool only transactions that pass the stateless checks (a pull request adds nothing, and
//! an unsolicited pull response is not read).
#![no_main]

use std::collections::HashSet;

use kvvm::fuzzing::BoundedSet;
use kvvm::gossip::bloom::BloomFilter;
use kvvm::gossip::inbound::{receive_txs, Received};
use kvvm::gossip::wire::{self, PullResponse, PushTxs};
use kvvm::ids::TxId;
use kvvm::tx::Transaction;
use kvvm_fuzz::{limits, runtime, served_vm, CHAIN_ID};
use libfuzzer_sys::fuzz_target;

const PEER: [u8; 20] = [9; 20];

/// The inbound pipeline with stateless admission: format, then signature.
fn receive(txs: Vec<Vec<u8>>) -> Received {
    let max_tx_bytes = limits().max_tx_bytes as usize;
    let expected_malformed = txs
        .iter()
        .filter(|t| Transaction::decode(t, max_tx_bytes).is_err())
        .count();
    let count = txs.len();
    let seen = BoundedSet::new(1_000);
    let mut admitted_ids = HashSet::new();
    let received = receive_txs(
        &seen,
        txs,
        max_tx_bytes,
        |_: &TxId| false,
        |tx| {
            assert!(
                admitted_ids.insert(tx.id),
                "admission asked twice for {}",
                tx.id
            );
            tx.check_format(&CHAIN_ID, &limits())?;
            tx.verify_signature()?;
            Ok(())
        },
    );
    let Received {
        admitted,
        skipped,
        refused,
        malformed,
    } = received;
    assert_eq!(
        admitted + skipped + refused + malformed,
        count,
        "{received:?}"
    );
    assert_eq!(malformed, expected_malformed);
    received
}

/// Returns how many transactions pass the stateless checks.
fn check_push(payload: &[u8]) -> usize {
    let Ok(PushTxs { txs }) = wire::decode_push(payload, limits().max_tx_bytes as usize) else {
        return 0;
    };
    // The handler prefix is a varint that may be written non-minimally (Go reads those too), so
    // the identity holds for what follows it.
    let (_, prefix) = wire::get_uvarint(payload).expect("a decoded push has a prefix");
    let encoded = wire::encode_prefixed(&PushTxs { txs: txs.clone() });
    assert_eq!(
        &encoded[1..],
        &payload[prefix..],
        "decode∘encode is not the identity"
    );
    receive(txs).admitted
}

fn check_pull_request(payload: &[u8]) {
    let Ok(filter) = wire::decode_pull_request(payload) else {
        return;
    };
    let (_, prefix) = wire::get_uvarint(payload).expect("a decoded request has a prefix");
    let wire_form = filter.to_wire();
    let encoded = wire::encode_prefixed(&wire::PullRequest {
        filter: wire_form.clone(),
    });
    assert_eq!(
        &encoded[1..],
        &payload[prefix..],
        "decode∘encode is not the identity"
    );
    assert_eq!(BloomFilter::from_wire(wire_form), Ok(filter.clone()));
    let mut filled = filter;
    let ids: Vec<TxId> = (0u8..4)
        .map(|i| TxId(*blake3::hash(&[payload, &[i]].concat()).as_bytes()))
        .collect();
    for id in &ids {
        filled.insert(id);
    }
    assert!(
        ids.iter().all(|id| filled.contains(id)),
        "a filter forgot an ID"
    );
}

fn check_pull_response(payload: &[u8]) {
    let Ok(response) = wire::decode_pull_response(payload, limits().max_tx_bytes as usize) else {
        return;
    };
    assert_eq!(
        wire::encode_response(&response),
        payload,
        "decode∘encode is not the identity"
    );
    let PullResponse { txs } = response;
    receive(txs);
}

/// The VM's own App* handlers on the same payload: the chain stays as it was, and the pool grows
/// by at most `may_admit` transactions.
fn deliver(kind: u8, payload: &[u8], may_admit: usize) {
    let served = served_vm();
    let gossip = served.vm.gossip().expect("an open chain gossips");
    let before = served.vm.health().expect("a healthy VM");
    runtime().block_on(async {
        match kind {
            0 => gossip.on_gossip(PEER.to_vec(), payload.to_vec()).await,
            1 => {
                gossip
                    .on_request(PEER.to_vec(), 1, None, payload.to_vec())
                    .await
            }
            _ => gossip.on_response(PEER.to_vec(), 1, payload.to_vec()).await,
        }
    });
    let after = served.vm.health().expect("a healthy VM");
    assert_eq!(after["lastAccepted"], before["lastAccepted"]);
    let pooled = |health: &serde_json::Value| health["mempoolTxs"].as_u64().expect("a count");
    assert!(
        pooled(&after) <= pooled(&before) + may_admit as u64,
        "a transaction that fails the stateless checks entered the pool"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&kind, payload)) = data.split_first() else {
        return;
    };
    let kind = kind % 3;
    let may_admit = match kind {
        0 => check_push(payload),
        1 => {
            check_pull_request(payload);
            0
        }
        _ => {
            check_pull_response(payload);
            0
        }
    };
    deliver(kind, payload, may_admit);
});
