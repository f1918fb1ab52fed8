//! State sync between real `kvvm` processes behind imitation nodes (`support::network`): two
//! validators serve summaries, one of them through a link that corrupts its answers, and a node at
//! genesis syncs from them the way AvalancheGo drives it (StateSummaryAccept, WaitForEvent until
//! STATE_SYNC_FINISHED, SetState(Bootstrapping)), then verifies and accepts the later blocks.

mod support;

use std::time::Duration;

use kvvm::block::Block;
use kvvm::state_sync::wire::{self, SyncResponse};
use kvvm_proto::vm::{self as pb};
use kvvm_storage::{StateSummary, SyncRecord};
use support::network::{eventually, health, metric, Network};
use support::*;

const PATIENCE: Duration = Duration::from_secs(60);
const CONFIG: &[u8] = br#"{"stateSummaryInterval":16,"stateSyncMinBlocks":8}"#;
const BLOCKS: u64 = 40;

/// Changes the value of the first entry of every chunk answer: what a lying peer would send.
fn corrupt_chunks(payload: Vec<u8>) -> Vec<u8> {
    let Ok(SyncResponse::Chunk {
        mut records,
        complete,
    }) = wire::decode_response(&payload)
    else {
        return payload;
    };
    for record in &mut records {
        if let SyncRecord::Entry { entry, .. } = record {
            entry.value.push(b'!');
            break;
        }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_at_genesis_syncs_past_a_lying_peer_and_goes_on_from_the_summary() {
    let genesis = genesis_bytes();
    let blocks = blocks(&genesis);
    let mut net = Network::new();
    let honest = net.spawn_node(&genesis, CONFIG).await;
    let liar = net.spawn_node(&genesis, CONFIG).await;
    for i in [honest, liar] {
        for block in &blocks {
            let plugin = &mut net.nodes[i].plugin;
            plugin.verify(block).await.unwrap();
            plugin.accept(block).await.unwrap();
        }
    }
    let mut summaries = Vec::new();
    for i in [honest, liar] {
        let vm = net.nodes[i].plugin.vm.clone();
        eventually(PATIENCE, "a summary at height 32", || {
            let mut vm = vm.clone();
            async move {
                vm.get_last_state_summary(())
                    .await
                    .unwrap()
                    .into_inner()
                    .height
                    == 32
            }
        })
        .await;
        let mut vm = vm.clone();
        summaries.push(vm.get_last_state_summary(()).await.unwrap().into_inner());
    }
    assert_eq!(
        summaries[0].bytes, summaries[1].bytes,
        "validators' summaries differ"
    );
    let summary = StateSummary::from_bytes(&summaries[0].bytes).unwrap();
    assert_eq!(summary.block_id, blocks[31].id.0);
    assert_eq!(summary.state_root, blocks[31].state_root);
    assert_eq!(summaries[0].id, summary.id().to_vec());

    net.tamper_responses(liar, corrupt_chunks);
    let joiner = net.spawn_syncing_node(&genesis, CONFIG).await;
    for i in [honest, liar, joiner] {
        net.join(i).await;
    }
    let vm = &mut net.nodes[joiner].plugin.vm;
    let accepted = vm
        .state_summary_accept(pb::StateSummaryAcceptRequest {
            bytes: summaries[0].bytes.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        accepted.mode,
        pb::state_summary_accept_response::Mode::Static as i32
    );
    let event = tokio::time::timeout(PATIENCE, vm.wait_for_event(()))
        .await
        .expect("no STATE_SYNC_FINISHED within a minute")
        .unwrap()
        .into_inner();
    assert_eq!(event.message, pb::Message::StateSyncFinished as i32);
    let tip = vm
        .set_state(pb::SetStateRequest {
            state: pb::State::Bootstrapping as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tip.last_accepted_id, blocks[31].id.to_vec());
    assert_eq!(tip.height, 32);
    assert!(
        vm.get_ongoing_sync_state_summary(())
            .await
            .unwrap()
            .into_inner()
            .err
            == pb::Error::NotFound as i32
    );

    // Every corrupted bucket was caught and fetched again; blocks after the summary verify
    // against the synced state (each commits to the whole state through its root).
    let plugin = &mut net.nodes[joiner].plugin;
    assert!(metric(plugin.vm.clone(), "state_sync_bad_buckets_total").await >= 1.0);
    assert_eq!(
        metric(plugin.vm.clone(), "state_sync_buckets_fetched_total").await,
        summary.buckets.len() as f64
    );
    for block in &blocks[32..] {
        plugin.verify(block).await.unwrap();
        plugin.accept(block).await.unwrap();
    }
    assert!(plugin
        .log_text()
        .contains("a peer served a bad state bucket"));
    assert!(net.app_errors().is_empty(), "{:?}", net.app_errors());
}

/// The sync under way on a node, from its health details: (summary height, buckets left).
async fn sync_under_way(net: &Network, i: usize) -> Option<(u64, u64)> {
    let health = health(net.nodes[i].plugin.vm.clone()).await;
    let sync = health.get("stateSync").filter(|s| !s.is_null())?;
    Some((sync["height"].as_u64()?, sync["bucketsLeft"].as_u64()?))
}

/// A network of one validator holding `blocks` (summary at 32) and a node at genesis that has
/// accepted the summary and finished some buckets but not all.
async fn half_synced(
    genesis: &[u8],
    blocks: &[Block],
) -> (Network, usize, pb::GetLastStateSummaryResponse) {
    let mut net = Network::new();
    let validator = net.spawn_node(genesis, CONFIG).await;
    for block in blocks {
        let plugin = &mut net.nodes[validator].plugin;
        plugin.verify(block).await.unwrap();
        plugin.accept(block).await.unwrap();
    }
    let vm = net.nodes[validator].plugin.vm.clone();
    eventually(PATIENCE, "a summary at height 32", || {
        let mut vm = vm.clone();
        async move {
            vm.get_last_state_summary(())
                .await
                .unwrap()
                .into_inner()
                .height
                == 32
        }
    })
    .await;
    let summary = vm
        .clone()
        .get_last_state_summary(())
        .await
        .unwrap()
        .into_inner();
    let joiner = net.spawn_syncing_node(genesis, CONFIG).await;
    net.join(validator).await;
    net.join(joiner).await;
    let accepted = net.nodes[joiner]
        .plugin
        .vm
        .state_summary_accept(pb::StateSummaryAcceptRequest {
            bytes: summary.bytes.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        accepted.mode,
        pb::state_summary_accept_response::Mode::Static as i32
    );
    // One validator answers 20 requests a second: 256 buckets take about 13 s, so the node is
    // caught with some in and most not.
    let start = std::time::Instant::now();
    loop {
        if let Some((32, left)) = sync_under_way(&net, joiner).await {
            if left < 200 {
                break;
            }
        }
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

    let vm = &mut net.nodes[joiner].plugin.vm;
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
    assert_eq!((ongoing.id, ongoing.height), (summary.id.clone(), 32));
    let (_, left_at_restart) = sync_under_way(&net, joiner).await.unwrap();
    assert!(left_at_restart < 200);
    let vm = &mut net.nodes[joiner].plugin.vm;
    let accepted = vm
        .state_summary_accept(pb::StateSummaryAcceptRequest {
            bytes: summary.bytes.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        accepted.mode,
        pb::state_summary_accept_response::Mode::Static as i32
    );
    let event = tokio::time::timeout(PATIENCE, vm.wait_for_event(()))
        .await
        .expect("no STATE_SYNC_FINISHED within a minute")
        .unwrap()
        .into_inner();
    assert_eq!(event.message, pb::Message::StateSyncFinished as i32);
    let plugin = &mut net.nodes[joiner].plugin;
    // Only the buckets missing at the restart were fetched again.
    assert_eq!(
        metric(plugin.vm.clone(), "state_sync_buckets_fetched_total").await,
        left_at_restart as f64
    );
    let tip = plugin
        .vm
        .set_state(pb::SetStateRequest {
            state: pb::State::Bootstrapping as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tip.height, 32);
    for block in &blocks[32..] {
        plugin.verify(block).await.unwrap();
        plugin.accept(block).await.unwrap();
    }
    assert!(plugin
        .log_text()
        .contains("resuming the state sync under way"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sync_the_engine_does_not_resume_gives_way_to_a_bootstrap_from_genesis() {
    let genesis = genesis_bytes();
    let blocks = blocks(&genesis);
    let (mut net, joiner, _) = half_synced(&genesis, &blocks).await;
    net.restart_syncing(joiner, &genesis, CONFIG).await;
    // No summary won the vote this time: the engine bootstraps instead.
    let plugin = &mut net.nodes[joiner].plugin;
    let tip = plugin
        .vm
        .set_state(pb::SetStateRequest {
            state: pb::State::Bootstrapping as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tip.height, 0);
    assert_eq!(sync_under_way(&net, joiner).await, None);
    let plugin = &mut net.nodes[joiner].plugin;
    for block in &blocks {
        plugin.verify(block).await.unwrap();
        plugin.accept(block).await.unwrap();
    }
    assert!(plugin.log_text().contains("back to genesis"));
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
        for block in &blocks[..height] {
            let plugin = &mut net.nodes[i].plugin;
            plugin.verify(block).await.unwrap();
            plugin.accept(block).await.unwrap();
        }
    }
    let vm = net.nodes[validator].plugin.vm.clone();
    eventually(PATIENCE, "a summary at height 32", || {
        let mut vm = vm.clone();
        async move {
            vm.get_last_state_summary(())
                .await
                .unwrap()
                .into_inner()
                .height
                == 32
        }
    })
    .await;
    let summary = vm
        .clone()
        .get_last_state_summary(())
        .await
        .unwrap()
        .into_inner();
    for i in [validator, far, close, without] {
        net.join(i).await;
    }
    let enabled = |i: usize| {
        let mut vm = net.nodes[i].plugin.vm.clone();
        async move {
            vm.state_sync_enabled(())
                .await
                .unwrap()
                .into_inner()
                .enabled
        }
    };
    assert!(enabled(far).await && enabled(close).await);
    assert!(
        !enabled(without).await,
        "a node with history syncs only with stateSyncWhenBehind"
    );

    let accept = |i: usize| {
        let mut vm = net.nodes[i].plugin.vm.clone();
        let bytes = summary.bytes.clone();
        async move {
            vm.state_summary_accept(pb::StateSummaryAcceptRequest { bytes })
                .await
                .unwrap()
                .into_inner()
                .mode
        }
    };
    use pb::state_summary_accept_response::Mode;
    assert_eq!(
        accept(close).await,
        Mode::Skipped as i32,
        "2 blocks behind the summary"
    );
    assert_eq!(
        accept(far).await,
        Mode::Static as i32,
        "28 blocks behind the summary"
    );
    let vm = &mut net.nodes[far].plugin.vm;
    let event = tokio::time::timeout(PATIENCE, vm.wait_for_event(()))
        .await
        .expect("no STATE_SYNC_FINISHED within a minute")
        .unwrap()
        .into_inner();
    assert_eq!(event.message, pb::Message::StateSyncFinished as i32);
    let tip = vm
        .set_state(pb::SetStateRequest {
            state: pb::State::Bootstrapping as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(tip.height, 32);
    let plugin = &mut net.nodes[far].plugin;
    for block in &blocks[32..] {
        plugin.verify(block).await.unwrap();
        plugin.accept(block).await.unwrap();
    }
    // The node that skipped goes on from its own history.
    let plugin = &mut net.nodes[close].plugin;
    for block in &blocks[30..] {
        plugin.verify(block).await.unwrap();
        plugin.accept(block).await.unwrap();
    }
}
