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
use support::network::{eventually, metric, Network};
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
