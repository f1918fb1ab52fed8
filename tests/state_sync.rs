//! State sync between real `kvvm` processes behind imitation nodes (`support::network`): validators
//! serve summaries (one of them, in the first test, through a link that corrupts its answers), and
//! nodes sync from them the way AvalancheGo drives it: StateSummaryAccept, WaitForEvent until
//! STATE_SYNC_FINISHED, SetState(Bootstrapping); then they verify and accept the later blocks.

mod support;

use std::time::{Duration, Instant};

use kvvm::block::Block;
use kvvm::state_sync::wire::{self, SyncResponse};
use kvvm_proto::vm::state_summary_accept_response::Mode;
use kvvm_proto::vm::{self as pb};
use kvvm_storage::{StateSummary, SyncRecord};
use support::network::{eventually, health, metric, Network};
use support::*;

const PATIENCE: Duration = Duration::from_secs(60);
const CONFIG: &[u8] = br#"{"stateSummaryInterval":16,"stateSyncMinBlocks":8}"#;
const BLOCKS: u64 = 40;
/// The newest summary height of a chain of `BLOCKS` blocks at `CONFIG`'s interval.
const SUMMARY_HEIGHT: u64 = 32;

/// Changes the value of the first entry of every chunk answer: what a lying peer would send.
fn corrupt_chunks(payload: Vec<u8>) -> Vec<u8> {
    let Ok(SyncResponse::Chunk {
        mut records,
        complete,
    }) = wire::decode_response(&payload)
    else {
        return payload;
    };
    if let Some(SyncRecord::Entry { entry, .. }) = records
        .iter_mut()
        .find(|r| matches!(r, SyncRecord::Entry { .. }))
    {
        entry.value.push(b'!');
    }
    wire::encode_response(&SyncResponse::Chunk { records, complete })
}

/// `BLOCKS` blocks of 4 transactions of 16 puts each, from a producer.
fn blocks(genesis: &[u8]) -> Vec<Block> {
    let mut producer = Producer::new(genesis);
    (0..BLOCKS)
        .map(|height| {
            let txs = (0..4u8)
                .map(|sender| {
                    let ops = (0..16)
                        .map(|op| put(&format!("k/{height}/{sender}/{op}"), &"v".repeat(op + 1)))
                        .collect();
                    signed(sender + 1, height, ops)
                })
                .collect();
            producer.extend(txs)
        })
        .collect()
}

/// Verifies and accepts `blocks` on node `i`.
async fn feed(net: &mut Network, i: usize, blocks: &[Block]) {
    let plugin = &mut net.nodes[i].plugin;
    for block in blocks {
        plugin.verify(block).await.unwrap();
        plugin.accept(block).await.unwrap();
    }
}

/// Node `i`'s newest summary, once it is the one at `SUMMARY_HEIGHT`.
async fn newest_summary(net: &Network, i: usize) -> pb::GetLastStateSummaryResponse {
    let vm = net.nodes[i].plugin.vm.clone();
    eventually(PATIENCE, "a summary at height 32", || {
        let mut vm = vm.clone();
        async move {
            let last = vm.get_last_state_summary(()).await.unwrap().into_inner();
            last.height == SUMMARY_HEIGHT
        }
    })
    .await;
    let mut vm = vm.clone();
    vm.get_last_state_summary(()).await.unwrap().into_inner()
}

/// StateSummaryAccept on node `i`: the mode it answers.
async fn accept_summary(net: &Network, i: usize, bytes: &[u8]) -> i32 {
    let mut vm = net.nodes[i].plugin.vm.clone();
    let request = pb::StateSummaryAcceptRequest {
        bytes: bytes.to_vec(),
    };
    let accepted = vm.state_summary_accept(request).await.unwrap().into_inner();
    assert_eq!(accepted.err, pb::Error::Unspecified as i32);
    accepted.mode
}

/// What the engine does after a STATIC summary: wait for STATE_SYNC_FINISHED, then bootstrap.
/// Returns SetState's answer, the last accepted block.
async fn finish_sync(net: &Network, i: usize) -> pb::SetStateResponse {
    let mut vm = net.nodes[i].plugin.vm.clone();
    let event = tokio::time::timeout(PATIENCE, vm.wait_for_event(()))
        .await
        .expect("no STATE_SYNC_FINISHED within a minute")
        .unwrap()
        .into_inner();
    assert_eq!(event.message, pb::Message::StateSyncFinished as i32);
    bootstrap(net, i).await
}

async fn bootstrap(net: &Network, i: usize) -> pb::SetStateResponse {
    let mut vm = net.nodes[i].plugin.vm.clone();
    let state = pb::State::Bootstrapping as i32;
    let set = vm.set_state(pb::SetStateRequest { state }).await;
    set.unwrap().into_inner()
}

/// The sync under way on a node, from its health details: (summary height, buckets left).
async fn sync_under_way(net: &Network, i: usize) -> Option<(u64, u64)> {
    let health = health(net.nodes[i].plugin.vm.clone()).await;
    let sync = health.get("stateSync").filter(|s| !s.is_null())?;
    Some((sync["height"].as_u64()?, sync["bucketsLeft"].as_u64()?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_at_genesis_syncs_past_a_lying_peer_and_goes_on_from_the_summary() {
    let genesis = genesis_bytes();
    let blocks = blocks(&genesis);
    let mut net = Network::new();
    let honest = net.spawn_node(&genesis, CONFIG).await;
    let liar = net.spawn_node(&genesis, CONFIG).await;
    feed(&mut net, honest, &blocks).await;
    feed(&mut net, liar, &blocks).await;
    let offered = newest_summary(&net, honest).await;
    let offered_by_liar = newest_summary(&net, liar).await;
    assert_eq!(
        offered.bytes, offered_by_liar.bytes,
        "validators' summaries differ"
    );
    let summary = StateSummary::from_bytes(&offered.bytes).unwrap();
    assert_eq!(summary.block_id, blocks[31].id.0);
    assert_eq!(summary.state_root, blocks[31].state_root);
    assert_eq!(offered.id, summary.id().to_vec());

    net.tamper_responses(liar, corrupt_chunks);
    let joiner = net.spawn_syncing_node(&genesis, CONFIG).await;
    for i in [honest, liar, joiner] {
        net.join(i).await;
    }
    assert_eq!(
        accept_summary(&net, joiner, &offered.bytes).await,
        Mode::Static as i32
    );
    let tip = finish_sync(&net, joiner).await;
    assert_eq!(tip.last_accepted_id, blocks[31].id.to_vec());
    assert_eq!(tip.height, SUMMARY_HEIGHT);
    assert_eq!(sync_under_way(&net, joiner).await, None);

    // Every corrupted bucket was caught and fetched again; blocks after the summary verify
    // against the synced state (each commits to the whole state through its root).
    let vm = net.nodes[joiner].plugin.vm.clone();
    assert!(metric(vm.clone(), "state_sync_bad_buckets_total").await >= 1.0);
    assert_eq!(
        metric(vm, "state_sync_buckets_fetched_total").await,
        summary.buckets.len() as f64
    );
    feed(&mut net, joiner, &blocks[32..]).await;
    let log = net.nodes[joiner].plugin.log_text();
    assert!(log.contains("a peer served a bad state bucket"));
    assert!(net.app_errors().is_empty(), "{:?}", net.app_errors());
}

/// A network of one validator holding `blocks` and a node at genesis that has accepted the
/// summary and finished some buckets but not all.
async fn half_synced(genesis: &[u8], blocks: &[Block]) -> (Network, usize, Vec<u8>) {
    let mut net = Network::new();
    let validator = net.spawn_node(genesis, CONFIG).await;
    feed(&mut net, validator, blocks).await;
    let summary = newest_summary(&net, validator).await.bytes;
    let joiner = net.spawn_syncing_node(genesis, CONFIG).await;
    net.join(validator).await;
    net.join(joiner).await;
    assert_eq!(
        accept_summary(&net, joiner, &summary).await,
        Mode::Static as i32
    );
    // One validator answers 20 requests a second: 256 buckets take about 13 s, so the node is
    // caught with some in and most not.
    let start = Instant::now();
    while !matches!(sync_under_way(&net, joiner).await, Some((SUMMARY_HEIGHT, left)) if left < 200)
    {
        assert!(start.elapsed() < PATIENCE, "the sync made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (net, joiner, summary)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_mid_sync_resumes_with_the_buckets_it_had() {
    let genesis = genesis_bytes();
    let blocks = blocks(&genesis);
    let (mut net, joiner, summary) = half_synced(&genesis, &blocks).await;
    net.restart_syncing(joiner, &genesis, CONFIG).await;

    let mut vm = net.nodes[joiner].plugin.vm.clone();
    assert!(
        vm.state_sync_enabled(())
            .await
            .unwrap()
            .into_inner()
            .enabled
    );
    let ongoing = vm
        .get_ongoing_sync_state_summary(())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ongoing.bytes, summary);
    assert_eq!(ongoing.height, SUMMARY_HEIGHT);
    let (_, left_at_restart) = sync_under_way(&net, joiner).await.unwrap();
    assert!(left_at_restart < 200);
    assert_eq!(
        accept_summary(&net, joiner, &summary).await,
        Mode::Static as i32
    );
    assert_eq!(finish_sync(&net, joiner).await.height, SUMMARY_HEIGHT);
    // Only the buckets missing at the restart were fetched again.
    assert_eq!(
        metric(vm, "state_sync_buckets_fetched_total").await,
        left_at_restart as f64
    );
    feed(&mut net, joiner, &blocks[32..]).await;
    let log = net.nodes[joiner].plugin.log_text();
    assert!(log.contains("resuming the state sync under way"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sync_the_engine_does_not_resume_gives_way_to_a_bootstrap_from_genesis() {
    let genesis = genesis_bytes();
    let blocks = blocks(&genesis);
    let (mut net, joiner, _) = half_synced(&genesis, &blocks).await;
    net.restart_syncing(joiner, &genesis, CONFIG).await;
    // No summary won the vote this time: the engine bootstraps instead.
    assert_eq!(bootstrap(&net, joiner).await.height, 0);
    assert_eq!(sync_under_way(&net, joiner).await, None);
    feed(&mut net, joiner, &blocks).await;
    assert!(net.nodes[joiner]
        .plugin
        .log_text()
        .contains("back to genesis"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_state_sync_when_behind_a_node_far_behind_syncs_and_one_close_behind_does_not() {
    const BEHIND: &[u8] =
        br#"{"stateSummaryInterval":16,"stateSyncMinBlocks":8,"stateSyncWhenBehind":true}"#;
    let genesis = genesis_bytes();
    let blocks = blocks(&genesis);
    let mut net = Network::new();
    let validator = net.spawn_node(&genesis, CONFIG).await;
    let far = net.spawn_node(&genesis, BEHIND).await;
    let close = net.spawn_node(&genesis, BEHIND).await;
    let without = net.spawn_node(&genesis, CONFIG).await;
    for (i, height) in [(validator, 40), (far, 4), (close, 30), (without, 4)] {
        feed(&mut net, i, &blocks[..height]).await;
    }
    let summary = newest_summary(&net, validator).await.bytes;
    for i in [validator, far, close, without] {
        net.join(i).await;
    }
    for (i, enabled) in [(far, true), (close, true), (without, false)] {
        let mut vm = net.nodes[i].plugin.vm.clone();
        let answer = vm.state_sync_enabled(()).await.unwrap().into_inner();
        assert_eq!(answer.enabled, enabled, "node {i}");
    }
    assert_eq!(
        accept_summary(&net, close, &summary).await,
        Mode::Skipped as i32
    );
    assert_eq!(
        accept_summary(&net, far, &summary).await,
        Mode::Static as i32
    );
    assert_eq!(finish_sync(&net, far).await.height, SUMMARY_HEIGHT);
    feed(&mut net, far, &blocks[32..]).await;
    // The node that skipped goes on from its own history.
    feed(&mut net, close, &blocks[30..]).await;
}
