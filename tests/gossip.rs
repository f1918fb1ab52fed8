//! Transaction gossip between real `kvvm` processes, each behind an imitation node that routes app
//! messages the way AvalancheGo's p2p layer does (`support::network`).

mod support;

use std::time::Duration;

use kvvm::gossip::wire::{self, PushTxs};
use kvvm::tx::Transaction;
use kvvm_proto::vm::vm_client::VmClient;
use kvvm_proto::vm::{self as pb};
use support::network::{connect, eventually, health, metric, node_id, Network};
use support::*;
use tonic::transport::Channel;

/// A peer that is not a kvvm process: the test speaks for it.
const FOREIGN: [u8; 20] = [0xf0; 20];
const ATTACKER: [u8; 20] = [0xbb; 20];
const PATIENCE: Duration = Duration::from_secs(20);

fn push_payload(txs: &[&Transaction]) -> Vec<u8> {
    wire::encode_prefixed(&PushTxs {
        txs: txs.iter().map(|t| t.encode()).collect(),
    })
}

/// An AppGossip from `from`, as the node delivers it; it must answer OK whatever the payload.
async fn app_gossip(vm: &mut VmClient<Channel>, from: &[u8], msg: Vec<u8>) {
    vm.app_gossip(pb::AppGossipMsg {
        node_id: from.to_vec(),
        msg,
    })
    .await
    .expect("AppGossip must never return an error: it would stop the chain");
}

async fn mempool_txs(vm: VmClient<Channel>) -> u64 {
    health(vm).await["mempoolTxs"].as_u64().unwrap()
}

async fn wait_for_mempool(net: &Network, i: usize, count: u64) {
    let vm = net.nodes[i].plugin.vm.clone();
    eventually(
        PATIENCE,
        &format!("{count} pending transaction(s) at node {i}"),
        || {
            let vm = vm.clone();
            async move { mempool_txs(vm).await == count }
        },
    )
    .await;
}

/// Whether a recorded payload carries `tx` (push or pull response).
fn carries(kind: &str, payload: &[u8], tx: &Transaction) -> bool {
    let bytes = tx.encode();
    let txs = match kind {
        "gossip" => wire::decode_push(payload, usize::MAX).map(|p| p.txs),
        "response" => wire::decode_pull_response(payload, usize::MAX).map(|p| p.txs),
        _ => return false,
    };
    txs.is_ok_and(|txs| txs.contains(&bytes))
}

/// Node `builder` builds a block as the engine would (WaitForEvent → BuildBlock); then every node
/// parses, verifies, prefers and accepts it. Returns the block's ID.
async fn build_and_accept_everywhere(net: &mut Network, builder: usize) -> Vec<u8> {
    let mut vm = net.nodes[builder].plugin.vm.clone();
    let event = tokio::time::timeout(PATIENCE, vm.wait_for_event(()))
        .await
        .expect("WaitForEvent announces the gossiped transaction")
        .unwrap()
        .into_inner();
    assert_eq!(event.message, pb::Message::BuildBlock as i32);
    let built = vm
        .build_block(pb::BuildBlockRequest {
            p_chain_height: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(built.height, 1);
    for node in &mut net.nodes {
        let vm = &mut node.plugin.vm;
        let parsed = vm
            .parse_block(pb::ParseBlockRequest {
                bytes: built.bytes.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(parsed.id, built.id);
        vm.block_verify(pb::BlockVerifyRequest {
            bytes: built.bytes.clone(),
            p_chain_height: None,
        })
        .await
        .unwrap();
        vm.set_preference(pb::SetPreferenceRequest {
            id: built.id.clone(),
        })
        .await
        .unwrap();
        vm.block_accept(pb::BlockAcceptRequest {
            id: built.id.clone(),
        })
        .await
        .unwrap();
    }
    built.id
}

/// Stops every plugin cleanly and returns each node's state (entries, lattice checksum).
async fn stop_and_read_states(
    net: Network,
) -> Vec<(Vec<(Vec<u8>, kvvm_storage::Entry)>, [u8; 32])> {
    let mut dirs = Vec::new();
    for node in net.nodes {
        let support::network::NetNode { plugin, dir, .. } = node;
        assert_eq!(plugin.stop().await.code(), Some(0));
        dirs.push(dir);
    }
    dirs.iter()
        .map(|d| {
            let store = open_plugin_store(d.path());
            (all_entries(&store), store.lattice().unwrap().checksum())
        })
        .collect()
}

async fn three_joined_nodes(config: &[u8]) -> (Network, Vec<u8>) {
    let genesis = genesis_bytes();
    let mut net = Network::new();
    for _ in 0..3 {
        let i = net.spawn_node(&genesis, config).await;
        net.join(i).await;
    }
    (net, genesis)
}

#[tokio::test(flavor = "multi_thread")]
async fn pushed_transaction_reaches_every_node_and_its_block_is_accepted_everywhere() {
    // Pull and regossip are off: only push can move the transaction.
    let config = br#"{"gossipPushIntervalMs": 20, "gossipPullIntervalMs": 3600000,
                      "gossipRegossipIntervalMs": 3600000}"#;
    let (mut net, _) = three_joined_nodes(config).await;
    connect(&mut net.nodes[0].plugin, &FOREIGN).await;

    let tx = signed(2, 0, vec![put("gossiped", "yes")]);
    let mut entry = net.nodes[0].plugin.vm.clone();
    app_gossip(&mut entry, &FOREIGN, push_payload(&[&tx])).await;
    for i in 0..3 {
        wait_for_mempool(&net, i, 1).await;
    }

    // Node 1 builds what it learnt by gossip; all three decide it.
    let block = build_and_accept_everywhere(&mut net, 1).await;
    for node in &mut net.nodes {
        let h = health(node.plugin.vm.clone()).await;
        assert_eq!(h["lastAccepted"]["id"], hex::encode(&block));
        assert_eq!(h["lastAccepted"]["height"], 1);
        assert_eq!(h["mempoolTxs"], 0);
    }

    // Node 0 pushed it to both plugins and never back to the peer it came from.
    let sent = net.sent();
    let pushes: Vec<_> = sent
        .iter()
        .filter(|s| s.kind == "gossip" && carries("gossip", &s.payload, &tx))
        .collect();
    assert!(pushes
        .iter()
        .any(|s| s.from == node_id(0) && s.to.contains(&node_id(1)) && s.to.contains(&node_id(2))));
    for push in &pushes {
        assert!(!push.to.contains(&FOREIGN.to_vec()), "echoed to its source");
        assert!(!push.to.contains(&push.from), "sent to itself");
    }
    assert!(metric(net.nodes[1].plugin.vm.clone(), "gossip_txs_admitted_total").await >= 1.0);
    assert!(net.app_errors().is_empty(), "{:?}", net.app_errors());

    let states = stop_and_read_states(net).await;
    assert_eq!(states[0], states[1]);
    assert_eq!(states[1], states[2]);
    assert!(states[0].0.iter().any(|(k, _)| k == b"gossiped"));
}

#[tokio::test(flavor = "multi_thread")]
async fn node_joining_after_the_push_gets_the_transaction_by_pull() {
    // Regossip is off, so after the initial push only a pull can deliver the transaction.
    let config = br#"{"gossipPushIntervalMs": 20, "gossipPullIntervalMs": 100,
                      "gossipRegossipIntervalMs": 3600000}"#;
    let genesis = genesis_bytes();
    let mut net = Network::new();
    for _ in 0..3 {
        net.spawn_node(&genesis, config).await;
    }
    net.join(0).await;
    net.join(1).await;
    // FOREIGN is the transaction's source at node 0 and another peer of node 1, so node 1's one
    // push of it is visible (and done) before node 2 joins.
    connect(&mut net.nodes[0].plugin, &FOREIGN).await;
    connect(&mut net.nodes[1].plugin, &FOREIGN).await;
    let tx = signed(3, 0, vec![put("late", "joiner")]);
    let mut entry = net.nodes[0].plugin.vm.clone();
    app_gossip(&mut entry, &FOREIGN, push_payload(&[&tx])).await;
    wait_for_mempool(&net, 1, 1).await;
    let pushed_by_1 = || {
        net.sent().iter().any(|s| {
            s.kind == "gossip" && s.from == node_id(1) && carries("gossip", &s.payload, &tx)
        })
    };
    eventually(PATIENCE, "node 1's push", || {
        std::future::ready(pushed_by_1())
    })
    .await;
    assert_eq!(mempool_txs(net.nodes[2].plugin.vm.clone()).await, 0);

    net.join(2).await;
    wait_for_mempool(&net, 2, 1).await;

    let sent = net.sent();
    assert!(
        sent.iter().any(|s| s.kind == "response"
            && s.to == vec![node_id(2)]
            && carries("response", &s.payload, &tx)),
        "a pull response carried it to node 2"
    );
    assert!(
        !sent.iter().any(|s| s.kind == "gossip"
            && s.to.contains(&node_id(2))
            && carries("gossip", &s.payload, &tx)),
        "no push reached node 2"
    );
    // Once node 2 holds the transaction, its pulls carry it in their filter and the answers to
    // those pulls leave it out. (Answers to pulls sent before it arrived may still carry it.)
    let vm = net.nodes[2].plugin.vm.clone();
    let answers_to_informed_pulls = |net: &Network| {
        let sent = net.sent();
        let informed: Vec<(u32, Vec<u8>)> = sent
            .iter()
            .filter(|s| s.kind == "request" && s.from == node_id(2))
            .filter(|s| wire::decode_pull_request(&s.payload).is_ok_and(|f| f.contains(&tx.id)))
            .map(|s| (s.request_id, s.to[0].clone()))
            .collect();
        sent.into_iter()
            .filter(|s| {
                s.kind == "response"
                    && s.to == vec![node_id(2)]
                    && informed.contains(&(s.request_id, s.from.clone()))
            })
            .collect::<Vec<_>>()
    };
    eventually(
        PATIENCE,
        "two answered pulls of node 2 holding the transaction",
        || std::future::ready(answers_to_informed_pulls(&net).len() >= 2),
    )
    .await;
    for answer in answers_to_informed_pulls(&net) {
        assert!(
            !carries("response", &answer.payload, &tx),
            "resent despite the filter"
        );
    }
    assert!(metric(vm, "gossip_txs_admitted_total").await >= 1.0);
    assert!(net.app_errors().is_empty(), "{:?}", net.app_errors());

    build_and_accept_everywhere(&mut net, 2).await;
    let states = stop_and_read_states(net).await;
    assert_eq!(states[0], states[1]);
    assert_eq!(states[1], states[2]);
}

/// One junk AppGossip payload; `i` picks the kind.
fn junk(i: usize, honest_looking: &Transaction) -> Vec<u8> {
    match i % 6 {
        // A well-framed transaction with a forged signature, twice in one message.
        0 => {
            let mut forged = honest_looking.clone();
            forged.signed.signature = [0x5a; 64];
            let forged = Transaction::new(forged.signed);
            push_payload(&[&forged, &forged])
        }
        1 => (0..200).map(|b| (b * 7 + i) as u8).collect(),
        // Another handler (ACP-118 signatures), then an unknown version.
        2 => vec![0x02, 0x01, 0, 0, 0, 0],
        3 => vec![0x00, 0x09, 0, 0, 0, 0],
        // A length prefix promising four billion transactions.
        4 => vec![0x00, 0x01, 0xff, 0xff, 0xff, 0xff, 0x01],
        // One "transaction" over the chain's 128 KiB limit.
        _ => wire::encode_prefixed(&PushTxs {
            txs: vec![vec![0; 200 << 10]],
        }),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn junk_flood_is_throttled_and_honest_gossip_still_gets_through() {
    let config = br#"{"gossipPushIntervalMs": 20, "gossipPullIntervalMs": 200,
                      "gossipPeerMsgsPerSec": 10, "gossipSeenCacheSize": 1000}"#;
    let (mut net, _) = three_joined_nodes(config).await;
    connect(&mut net.nodes[0].plugin, &FOREIGN).await;
    connect(&mut net.nodes[1].plugin, &ATTACKER).await;

    // The attacker floods node 1 with every kind of junk, including oversized payloads.
    let mut target = net.nodes[1].plugin.vm.clone();
    let template = signed(4, 0, vec![put("forged", "x")]);
    let flood = tokio::spawn(async move {
        for i in 0..300 {
            app_gossip(&mut target, &ATTACKER, junk(i, &template)).await;
            if i % 60 == 0 {
                let mut oversized = vec![0x00, 0x01];
                oversized.resize((2 << 20) + 1, 0);
                app_gossip(&mut target, &ATTACKER, oversized).await;
            }
            if i % 50 == 0 {
                // Unsolicited responses, failures and malformed requests: all dropped, all OK.
                target
                    .app_response(pb::AppResponseMsg {
                        node_id: ATTACKER.to_vec(),
                        request_id: i as u32,
                        response: vec![1, 2, 3],
                    })
                    .await
                    .unwrap();
                target
                    .app_request_failed(pb::AppRequestFailedMsg {
                        node_id: ATTACKER.to_vec(),
                        request_id: i as u32,
                        error_code: -1,
                        error_message: "timed out".into(),
                    })
                    .await
                    .unwrap();
                target
                    .app_request(pb::AppRequestMsg {
                        node_id: ATTACKER.to_vec(),
                        request_id: i as u32,
                        deadline: None,
                        request: vec![0x00, 0x01, 0xff],
                    })
                    .await
                    .unwrap();
            }
        }
    });

    // Meanwhile an honest transaction arrives at node 0 from another peer.
    let honest = signed(5, 0, vec![put("honest", "tx")]);
    let mut entry = net.nodes[0].plugin.vm.clone();
    app_gossip(&mut entry, &FOREIGN, push_payload(&[&honest])).await;
    for i in 0..3 {
        wait_for_mempool(&net, i, 1).await;
    }
    flood
        .await
        .expect("every App* call of the flood answered OK");

    let node1 = net.nodes[1].plugin.vm.clone();
    assert!(metric(node1.clone(), "gossip_throttled_messages_total").await > 0.0);
    assert!(
        metric(node1.clone(), "gossip_dropped_messages_total").await
            > metric(node1.clone(), "gossip_throttled_messages_total").await,
        "malformed and oversized messages are dropped too"
    );
    assert!(metric(node1.clone(), "gossip_txs_seen_skipped_total").await >= 1.0);
    // Only the honest transaction is pending anywhere.
    for node in &net.nodes {
        assert_eq!(mempool_txs(node.plugin.vm.clone()).await, 1);
    }

    // The flooded node still builds, and everyone accepts.
    let block = build_and_accept_everywhere(&mut net, 1).await;
    for node in &net.nodes {
        let h = health(node.plugin.vm.clone()).await;
        assert_eq!(h["lastAccepted"]["id"], hex::encode(&block));
    }
    assert!(net.app_errors().is_empty(), "{:?}", net.app_errors());
    let states = stop_and_read_states(net).await;
    assert_eq!(states[0], states[1]);
    assert_eq!(states[1], states[2]);
    assert!(states[0].0.iter().any(|(k, _)| k == b"honest"));
    assert!(!states[0].0.iter().any(|(k, _)| k == b"forged"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_peer_whose_pulls_fail_is_asked_again_only_after_a_growing_wait() {
    // Node 0 pulls every 100 ms, from node 1 (which answers) or from FOREIGN, a connected peer the
    // network cannot reach: the node fails each request to it at once (AppRequestFailed).
    let config = br#"{"gossipPullIntervalMs": 100, "gossipPullBackoffMaxMs": 1600}"#;
    let genesis = genesis_bytes();
    let mut net = Network::new();
    for _ in 0..2 {
        let i = net.spawn_node(&genesis, config).await;
        net.join(i).await;
    }
    connect(&mut net.nodes[0].plugin, &FOREIGN).await;
    tokio::time::sleep(Duration::from_secs(4)).await;

    let requests_to = |peer: &[u8]| {
        net.sent()
            .iter()
            .filter(|s| s.kind == "request" && s.from == node_id(0) && s.to == vec![peer.to_vec()])
            .count()
    };
    let to_failing = requests_to(&FOREIGN);
    let to_answering = requests_to(&node_id(1));
    // Without back-off FOREIGN would be asked on about half of 40 ticks. With it, the waits after
    // each failure are 200, 400, 800, then 1,600 ms (the maximum): at most 5 requests in 4 s, plus
    // one for timing slack.
    assert!(
        to_failing >= 2,
        "FOREIGN is asked again after its wait ({to_failing})"
    );
    assert!(
        to_failing <= 6,
        "FOREIGN was asked {to_failing} times in 4 s"
    );
    assert!(
        to_answering >= 10,
        "node 1, which answers, keeps being asked ({to_answering})"
    );
    let failures = metric(net.nodes[0].plugin.vm.clone(), "gossip_pull_failures_total").await;
    assert!(failures >= 2.0, "{failures} pull failures counted");
    assert!(net.app_errors().is_empty(), "{:?}", net.app_errors());
}
