//! Every gossip message a peer can send: the first byte picks the kind (push, pull request with its
//! bloom filter, pull response), the rest is the payload.
//!
//! Asserts that a body that decodes re-encodes to the same bytes; that a peer's filter survives
//! its own wire form and never forgets an ID put in it (no false negatives); that the inbound
//! pipeline accounts for every transaction once and asks admission at most once per transaction;
//! that the answer to a pull holds only pooled transactions the filter lacks, each once, within
//! the bytes granted, and that a larger grant only extends it; and that the VM's real handlers,
//! fed the same payload, leave the chain as it was and let into the pool only transactions that
//! pass the stateless checks (a pull request adds nothing; a pull response is read when it
//! answers a pull this node sent, and dropped otherwise).
#![no_main]

use std::collections::HashSet;

use kvvm::fuzzing::BoundedSet;
use kvvm::gossip::bloom::BloomFilter;
use kvvm::gossip::inbound::{receive_txs, Received};
use kvvm::gossip::wire::{self, PullResponse, PushTxs};
use kvvm::ids::TxId;
use kvvm::tx::{Operation, Transaction, UnsignedTx};
use kvvm_fuzz::{limits, runtime, served_vm, signer, CHAIN_ID, SIGNERS};
use libfuzzer_sys::fuzz_target;

const PEER: [u8; 20] = [9; 20];
/// Validly signed transactions pushed into the served VM's pool before the first input, so a
/// pull has something to answer with.
const POOLED: u64 = 12;
/// The bytes a pull answer may be granted, smallest first: nothing, less than one transaction,
/// a few, all.
const GRANTS: [usize; 4] = [0, 60, 600, 1 << 20];

fn fill_pool_once() {
    static FILLED: std::sync::Once = std::sync::Once::new();
    FILLED.call_once(|| {
        let txs = (0..POOLED)
            .map(|i| {
                let sender = signer(i as usize % SIGNERS);
                UnsignedTx {
                    chain_id: CHAIN_ID,
                    sender: sender.verifying_key().to_bytes(),
                    nonce: i / SIGNERS as u64,
                    ops: vec![Operation::Put {
                        key: format!("pool-{i}").into_bytes(),
                        value: vec![i as u8; 8],
                    }],
                }
                .sign(sender)
            })
            .map(|signed| Transaction::new(signed).encode())
            .collect();
        let gossip = served_vm().vm.gossip().expect("an open chain gossips");
        let push = wire::encode_prefixed(&PushTxs { txs });
        runtime().block_on(gossip.on_gossip(b"filler".to_vec(), push));
    });
}

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
    check_pull_answers(&filter);
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

/// The served VM's answers to `filter` under each of [`GRANTS`].
fn check_pull_answers(filter: &BloomFilter) {
    let gossip = served_vm().vm.gossip().expect("an open chain gossips");
    let max_tx_bytes = limits().max_tx_bytes as usize;
    let mut previous: Vec<Vec<u8>> = Vec::new();
    for grant in GRANTS {
        let answer = gossip.pull_answer(filter, grant);
        let mut ids = HashSet::new();
        for bytes in &answer {
            let tx =
                Transaction::decode(bytes, max_tx_bytes).expect("a pooled transaction decodes");
            assert!(
                !filter.contains(&tx.id),
                "answered a transaction the filter holds"
            );
            assert!(ids.insert(tx.id), "answered {} twice", tx.id);
        }
        if !answer.is_empty() {
            let encoded = wire::encode_response(&PullResponse {
                txs: answer.clone(),
            });
            assert!(
                encoded.len() <= grant,
                "an answer of {} bytes for a grant of {grant}",
                encoded.len()
            );
        }
        assert!(
            answer.starts_with(&previous),
            "a larger grant changed the answer instead of extending it"
        );
        previous = answer;
    }
    // Complete: under a grant that holds the whole pool, the answer is every pooled transaction
    // the filter lacks.
    let nothing_known = BloomFilter::for_items(1, [0; 32]);
    let pool = gossip.pull_answer(&nothing_known, 1 << 20);
    assert!(pool.len() as u64 >= POOLED, "the pool lost its filler");
    let whole = wire::encode_response(&PullResponse { txs: pool.clone() }).len();
    if whole + max_tx_bytes < 1 << 20 {
        let lacking: Vec<Vec<u8>> = pool
            .into_iter()
            .filter(|bytes| {
                let tx =
                    Transaction::decode(bytes, max_tx_bytes).expect("a pooled transaction decodes");
                !filter.contains(&tx.id)
            })
            .collect();
        assert_eq!(
            previous, lacking,
            "a pull answer left out what the filter lacks"
        );
    }
}

/// Returns how many transactions pass the stateless checks.
fn check_pull_response(payload: &[u8]) -> usize {
    let Ok(response) = wire::decode_pull_response(payload, limits().max_tx_bytes as usize) else {
        return 0;
    };
    assert_eq!(
        wire::encode_response(&response),
        payload,
        "decode∘encode is not the identity"
    );
    let PullResponse { txs } = response;
    receive(txs).admitted
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
            _ => {
                // Half the responses answer a pull this node sent (then they are read), half
                // arrive unasked (then they are dropped).
                let asked = if payload.len() % 2 == 0 {
                    gossip.start_pull(&PEER)
                } else {
                    None
                };
                gossip
                    .on_response(PEER.to_vec(), asked.unwrap_or(2), payload.to_vec())
                    .await
            }
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
    fill_pool_once();
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
        _ => check_pull_response(payload),
    };
    deliver(kind, payload, may_admit);
});
