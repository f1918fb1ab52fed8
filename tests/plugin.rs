//! The built `kvvm` binary driven over real gRPC the way AvalancheGo drives a plugin.

mod support;

use std::time::{Duration, Instant};

use kvvm::block::Block;
use kvvm::ids::BlockId;
use kvvm_proto::vm as pb;
use support::*;
use tonic::Code;

// ---------------------------------------------------------------------------------------------
// Process: handshake, settings, signals, shutdown.

#[tokio::test(flavor = "multi_thread")]
async fn handshake_offers_protocol_45_within_the_node_deadline() {
    let mut plugin = spawn_plugin().await;
    let version = plugin.vm.version(()).await.unwrap().into_inner().version;
    assert_eq!(version, env!("CARGO_PKG_VERSION"));
}

#[tokio::test(flavor = "multi_thread")]
async fn protocol_setting_selects_another_node_version() {
    let outcome = spawn_with(SpawnOptions {
        node_protocol: 44,
        plugin_protocol_env: Some("44".into()),
    })
    .await;
    assert!(matches!(outcome, SpawnOutcome::Serving(_)));
}

#[tokio::test(flavor = "multi_thread")]
async fn node_refusing_the_protocol_stops_the_plugin_with_the_reason() {
    let outcome = spawn_with(SpawnOptions {
        node_protocol: 45,
        plugin_protocol_env: Some("44".into()),
    })
    .await;
    let SpawnOutcome::Refused { status, log, .. } = outcome else {
        panic!("a protocol-44 plugin must not serve a protocol-45 node");
    };
    let status = status.expect("plugin exits after a refused handshake");
    assert!(!status.success());
    assert!(log.contains("refused the handshake"), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unsupported_protocol_setting_is_refused_before_the_handshake() {
    let outcome = spawn_with(SpawnOptions {
        node_protocol: 45,
        plugin_protocol_env: Some("99".into()),
    })
    .await;
    let SpawnOutcome::Refused { status, log, .. } = outcome else {
        panic!("protocol 99 must be refused");
    };
    assert_eq!(status.and_then(|s| s.code()), Some(2));
    assert!(log.contains("not supported"), "{log}");
}

#[test]
fn run_by_hand_explains_itself_and_exits_2() {
    let out = std::process::Command::new(KVVM)
        .env_remove("AVALANCHE_VM_RUNTIME_ENGINE_ADDR")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("plugin directory"), "{text}");
    assert!(
        text.contains("pKzWfwFJiwYE8pfXv6iF7r9E8nG68tv8uQuTKUA9Wmv5yUEmM"),
        "{text}"
    );
}

#[test]
fn version_json_reports_the_configured_protocol() {
    let run = |env: Option<&str>| {
        let mut cmd = std::process::Command::new(KVVM);
        cmd.arg("version-json")
            .env_remove("KVVM_RPCCHAINVM_PROTOCOL");
        if let Some(p) = env {
            cmd.env("KVVM_RPCCHAINVM_PROTOCOL", p);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success());
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let json = run(None);
    assert_eq!(json["name"], "kvvm");
    assert_eq!(
        json["vmid"],
        "pKzWfwFJiwYE8pfXv6iF7r9E8nG68tv8uQuTKUA9Wmv5yUEmM"
    );
    assert_eq!(json["rpcchainvm"], 45);
    assert_eq!(run(Some("44"))["rpcchainvm"], 44);
}

#[test]
fn settings_file_beside_the_binary_selects_the_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir
        .path()
        .join("pKzWfwFJiwYE8pfXv6iF7r9E8nG68tv8uQuTKUA9Wmv5yUEmM");
    std::fs::copy(KVVM, &plugin).unwrap();
    let set = std::process::Command::new(&plugin)
        .args(["set-protocol", "46", "--plugin-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(set.status.success());
    let out = std::process::Command::new(&plugin)
        .arg("version-json")
        .env_remove("KVVM_RPCCHAINVM_PROTOCOL")
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["rpcchainvm"], 46);
}

#[test]
fn genesis_command_writes_a_document_that_parses() {
    let out = std::process::Command::new(KVVM)
        .arg("genesis")
        .output()
        .unwrap();
    assert!(out.status.success());
    let genesis = kvvm_genesis::Genesis::parse(&out.stdout, now_unix() + 1).unwrap();
    assert!(genesis.timestamp <= now_unix());
    assert!(genesis.timestamp + 60 > now_unix());
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_before_initialize_exits_zero() {
    let plugin = spawn_plugin().await;
    let started = Instant::now();
    let status = plugin.stop().await;
    assert_eq!(status.code(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_and_early_sigterm_are_ignored() {
    let mut plugin = spawn_plugin().await;
    send_signal(&plugin.child, "INT");
    send_signal(&plugin.child, "TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        plugin.child.try_wait().unwrap().is_none(),
        "plugin died on a signal"
    );
    plugin.vm.version(()).await.unwrap();
    assert_eq!(plugin.stop().await.code(), Some(0));
}

// ---------------------------------------------------------------------------------------------
// The node's start-up sequence and every RPC it reaches.

#[tokio::test(flavor = "multi_thread")]
async fn init_sequence_of_the_node_succeeds_and_reports_genesis() {
    let data = tempfile::tempdir().unwrap();
    let genesis = genesis_bytes();
    let mut plugin = spawn_plugin().await;
    let init = plugin.initialize(data.path(), &genesis).await.unwrap();
    assert_eq!(init.height, 0);
    assert_eq!(init.last_accepted_id.len(), 32);
    assert_eq!(init.last_accepted_parent_id.len(), 32);
    assert_eq!(
        init.last_accepted_id,
        blake3::hash(&init.bytes).as_bytes().to_vec()
    );
    let ts = init.timestamp.unwrap();
    assert!(ts.seconds as u64 <= now_unix() && ts.seconds as u64 + 120 > now_unix());

    // proposervm reads the last accepted block back.
    let got = plugin
        .vm
        .get_block(pb::GetBlockRequest {
            id: init.last_accepted_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.err, pb::Error::Unspecified as i32);
    assert_eq!(got.bytes, init.bytes);
    plugin.vm.create_handlers(()).await.unwrap();
    plugin.vm.new_http_handler(()).await.unwrap();
    // A node at genesis may join by state sync (the default chain config enables it).
    let sync = plugin.vm.state_sync_enabled(()).await.unwrap().into_inner();
    assert!(sync.enabled);
    assert_eq!(sync.err, pb::Error::Unspecified as i32);
    let set = plugin
        .vm
        .set_state(pb::SetStateRequest {
            state: pb::State::Bootstrapping as i32,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(set.last_accepted_id, init.last_accepted_id);
    plugin
        .vm
        .connected(pb::ConnectedRequest {
            node_id: vec![0x0d; 20],
            name: "avalanchego".into(),
            major: 1,
            minor: 14,
            patch: 2,
        })
        .await
        .unwrap();
    plugin
        .vm
        .set_preference(pb::SetPreferenceRequest {
            id: init.last_accepted_id.clone(),
        })
        .await
        .unwrap();
    plugin
        .vm
        .set_state(pb::SetStateRequest {
            state: pb::State::NormalOp as i32,
        })
        .await
        .unwrap();
    let health = plugin.health().await;
    assert_eq!(health["lastAccepted"]["height"], 0);
    assert_eq!(health["processingBlocks"], 0);
    assert_eq!(health["connectedPeers"], 1);
    assert_eq!(health["database"], "ok");
    let families = plugin.metric_families().await;
    let names: Vec<&str> = families.iter().map(|f| f.name()).collect();
    for expected in [
        "blocks_accepted_total",
        "txs_accepted_total",
        "block_verify_seconds",
        "processing_blocks",
        "mempool_txs",
        "db_size_bytes",
        "db_memory_bytes",
    ] {
        assert!(names.contains(&expected), "missing {expected} in {names:?}");
    }
    // The genesis write is still in a memtable: RocksDB's memory is read, not left at zero.
    let db_memory = families
        .iter()
        .find(|f| f.name() == "db_memory_bytes")
        .unwrap();
    assert!(db_memory.metric[0].gauge.as_ref().unwrap().value() > 0.0);
    assert!(plugin.log_text().contains("chain initialized"));
    assert_eq!(plugin.stop().await.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_rpc_the_node_reaches_answers_without_unimplemented() {
    let data = tempfile::tempdir().unwrap();
    let mut plugin = spawn_plugin().await;
    let init = plugin.start(data.path(), &genesis_bytes()).await;
    let vm = &mut plugin.vm;
    let unknown = vec![7u8; 32];
    let get = vm
        .get_block(pb::GetBlockRequest {
            id: unknown.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(get.err, pb::Error::NotFound as i32);
    let short = vm
        .get_block(pb::GetBlockRequest { id: vec![1, 2, 3] })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(short.err, pb::Error::NotFound as i32);
    let at = vm
        .get_block_id_at_height(pb::GetBlockIdAtHeightRequest { height: 5 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(at.err, pb::Error::NotFound as i32);
    let at0 = vm
        .get_block_id_at_height(pb::GetBlockIdAtHeightRequest { height: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(at0.blk_id, init.last_accepted_id);

    // State sync: nothing under way; before any snapshot the newest summary is genesis's, which
    // parses to the same ID and height, is served at height 0 and nowhere else, and is skipped.
    let not_found = pb::Error::NotFound as i32;
    assert_eq!(
        vm.get_ongoing_sync_state_summary(())
            .await
            .unwrap()
            .into_inner()
            .err,
        not_found
    );
    let last = vm.get_last_state_summary(()).await.unwrap().into_inner();
    assert_eq!(last.err, pb::Error::Unspecified as i32);
    assert_eq!(last.height, 0);
    assert_eq!(last.id, blake3::hash(&last.bytes).as_bytes().to_vec());
    let parsed = vm
        .parse_state_summary(pb::ParseStateSummaryRequest {
            bytes: last.bytes.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((parsed.id.clone(), parsed.height), (last.id.clone(), 0));
    let junk = vm
        .parse_state_summary(pb::ParseStateSummaryRequest { bytes: vec![1] })
        .await
        .unwrap_err();
    assert_eq!(junk.code(), tonic::Code::InvalidArgument);
    let at0 = vm
        .get_state_summary(pb::GetStateSummaryRequest { height: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (at0.id, at0.bytes.clone()),
        (last.id.clone(), last.bytes.clone())
    );
    assert_eq!(
        vm.get_state_summary(pb::GetStateSummaryRequest { height: 1 })
            .await
            .unwrap()
            .into_inner()
            .err,
        not_found
    );
    let accepted = vm
        .state_summary_accept(pb::StateSummaryAcceptRequest {
            bytes: last.bytes.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        accepted.mode,
        pb::state_summary_accept_response::Mode::Skipped as i32
    );
    assert_eq!(accepted.err, pb::Error::Unspecified as i32);
    let junk = vm
        .state_summary_accept(pb::StateSummaryAcceptRequest { bytes: vec![1] })
        .await
        .unwrap_err();
    assert_eq!(junk.code(), tonic::Code::InvalidArgument);

    // App messages and peer events never fail (an error would stop the chain).
    vm.app_request(pb::AppRequestMsg {
        node_id: vec![1; 20],
        request_id: 1,
        deadline: Some(kvvm::plugin::convert::timestamp(u64::MAX / 2)),
        request: b"junk".to_vec(),
    })
    .await
    .unwrap();
    // The same for junk under state sync's handler ID (1), and for an answer to an even
    // (state sync) request ID this node never sent.
    vm.app_request(pb::AppRequestMsg {
        node_id: vec![1; 20],
        request_id: 2,
        deadline: None,
        request: vec![1, 1, 0xff, 0xff],
    })
    .await
    .unwrap();
    vm.app_response(pb::AppResponseMsg {
        node_id: vec![1; 20],
        request_id: 2,
        response: b"junk".to_vec(),
    })
    .await
    .unwrap();
    vm.app_response(pb::AppResponseMsg {
        node_id: vec![1; 20],
        request_id: 1,
        response: b"junk".to_vec(),
    })
    .await
    .unwrap();
    vm.app_request_failed(pb::AppRequestFailedMsg {
        node_id: vec![1; 20],
        request_id: 1,
        error_code: -1,
        error_message: "timed out".into(),
    })
    .await
    .unwrap();
    vm.app_gossip(pb::AppGossipMsg {
        node_id: vec![1; 20],
        msg: vec![0xff; 100],
    })
    .await
    .unwrap();
    vm.disconnected(pb::DisconnectedRequest {
        node_id: vec![1; 20],
    })
    .await
    .unwrap();
    vm.set_preference(pb::SetPreferenceRequest { id: vec![1] })
        .await
        .unwrap();

    // Nothing pending: BuildBlock fails cleanly, and the plugin keeps serving.
    let build = vm
        .build_block(pb::BuildBlockRequest {
            p_chain_height: Some(3),
        })
        .await
        .unwrap_err();
    assert_ne!(build.code(), Code::Unimplemented);
    assert!(build.message().contains("nothing to build"), "{build:?}");
    assert_eq!(plugin.last_accepted_height().await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn wait_for_event_blocks_while_nothing_is_pending_and_cancels_promptly() {
    let data = tempfile::tempdir().unwrap();
    let mut plugin = spawn_plugin().await;
    plugin.start(data.path(), &genesis_bytes()).await;
    for _ in 0..20 {
        let mut vm = plugin.vm.clone();
        let call = tokio::spawn(async move { vm.wait_for_event(()).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !call.is_finished(),
            "WaitForEvent returned with nothing to build"
        );
        // The node cancels the long poll; the plugin must keep answering afterwards.
        call.abort();
        let started = Instant::now();
        plugin.vm.health(()).await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    assert_eq!(plugin.stop().await.code(), Some(0));
}

// ---------------------------------------------------------------------------------------------
// Blocks.

#[tokio::test(flavor = "multi_thread")]
async fn blocks_with_transactions_verify_accept_and_persist() {
    let data = tempfile::tempdir().unwrap();
    let genesis = genesis_bytes();
    let mut producer = Producer::new(&genesis);
    let mut plugin = spawn_plugin().await;
    plugin.start(data.path(), &genesis).await;

    let b1 = producer.extend(vec![
        signed(2, 0, vec![put("alpha", "1"), put("beta", "2")]),
        signed(3, 0, vec![put("gamma", "3")]),
        signed(1, 0, vec![put("motd", "updated")]),
    ]);
    let b2 = producer.extend(vec![signed(
        2,
        1,
        vec![
            put("alpha", "one"),
            kvvm::tx::Operation::Delete {
                key: b"beta".to_vec(),
            },
        ],
    )]);
    for block in [&b1, &b2] {
        let parsed = plugin
            .vm
            .parse_block(pb::ParseBlockRequest {
                bytes: block.bytes.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(parsed.id, block.id.to_vec());
        assert_eq!(parsed.parent_id, block.parent.to_vec());
        assert_eq!(parsed.height, block.height);
        plugin.verify(block).await.unwrap();
        assert_eq!(plugin.health().await["processingBlocks"], 1);
        plugin.accept(block).await.unwrap();
    }
    assert_eq!(plugin.last_accepted_height().await, 2);
    assert_eq!(plugin.block_id_at(2).await, Some(b2.id.to_vec()));
    let families = plugin.metric_families().await;
    let accepted = families
        .iter()
        .find(|f| f.name() == "txs_accepted_total")
        .unwrap();
    assert_eq!(
        accepted.metric[0].counter.as_ref().unwrap().value,
        Some(4.0)
    );
    assert_eq!(plugin.stop().await.code(), Some(0));

    let store = open_plugin_store(data.path());
    assert_eq!(all_entries(&store), all_entries(&producer.store));
    let alpha = store.entry(b"alpha").unwrap().unwrap();
    assert_eq!(alpha.value, b"one");
    assert_eq!(alpha.owner, account(2));
    assert_eq!(alpha.height, 2);
    assert!(store.entry(b"beta").unwrap().is_none());
    assert_eq!(store.entry(b"motd").unwrap().unwrap().value, b"updated");
    assert_eq!(store.nonce(&account(2)).unwrap(), 2);
    assert_eq!(store.lattice().unwrap().checksum(), b2.state_root);
}

/// A block like `template` but with other transactions (state root kept: the transactions fail first).
fn block_with(parent: &Block, txs: Vec<kvvm::tx::Transaction>) -> Block {
    Block::new(
        parent.id,
        parent.height + 1,
        parent.timestamp_ms + 1,
        txs,
        [0; 32],
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_blocks_are_refused_and_change_nothing() {
    let data = tempfile::tempdir().unwrap();
    let genesis = genesis_bytes();
    let mut producer = Producer::new(&genesis);
    let mut plugin = spawn_plugin().await;
    plugin.start(data.path(), &genesis).await;
    let b1 = producer.extend(vec![signed(2, 0, vec![put("mine", "x")])]);
    plugin.verify(&b1).await.unwrap();
    plugin.accept(&b1).await.unwrap();

    let garbage = plugin
        .vm
        .parse_block(pb::ParseBlockRequest {
            bytes: b"\x00garbage".to_vec(),
        })
        .await
        .unwrap_err();
    assert!(garbage.message().contains("malformed"), "{garbage:?}");
    let garbage_verify = plugin
        .vm
        .block_verify(pb::BlockVerifyRequest {
            bytes: vec![0xff; 10],
            p_chain_height: None,
        })
        .await
        .unwrap_err();
    assert!(garbage_verify.message().contains("malformed"));

    let mut bad_sig = signed(3, 0, vec![put("k", "v")]);
    bad_sig.signed.signature[10] ^= 1;
    let bad_sig = kvvm::tx::Transaction::new(bad_sig.signed);
    let limits = kvvm_genesis::ChainLimits::default();
    let oversized = signed(
        3,
        0,
        vec![put("big", &"x".repeat(limits.max_value_bytes as usize + 1))],
    );
    let cases: Vec<(&str, Block)> = vec![
        ("signature", block_with(&b1, vec![bad_sig])),
        (
            "nonce",
            block_with(&b1, vec![signed(2, 0, vec![put("mine", "again")])]),
        ),
        (
            "owned by another",
            block_with(&b1, vec![signed(3, 0, vec![put("mine", "stolen")])]),
        ),
        (
            "another chain",
            block_with(&b1, vec![signed_for([9; 32], 3, 0, vec![put("k", "v")])]),
        ),
        ("over the limit", block_with(&b1, vec![oversized])),
        (
            "does not exist",
            block_with(
                &b1,
                vec![signed(
                    3,
                    0,
                    vec![kvvm::tx::Operation::Delete {
                        key: b"nope".to_vec(),
                    }],
                )],
            ),
        ),
        (
            "parent",
            Block::new(
                BlockId([0x42; 32]),
                2,
                b1.timestamp_ms,
                vec![signed(3, 0, vec![put("k", "v")])],
                [0; 32],
            ),
        ),
        (
            "height",
            Block::new(
                b1.id,
                5,
                b1.timestamp_ms,
                vec![signed(3, 0, vec![put("k", "v")])],
                [0; 32],
            ),
        ),
        (
            "state root",
            block_with(&b1, vec![signed(3, 0, vec![put("k", "v")])]),
        ),
        (
            "ahead",
            Block::new(
                b1.id,
                2,
                now_unix() * 1000 + 60_000,
                vec![signed(3, 0, vec![put("k", "v")])],
                [0; 32],
            ),
        ),
    ];
    for (expected, block) in cases {
        let err = plugin.verify(&block).await.unwrap_err();
        assert!(
            err.message().contains(expected),
            "expected {expected:?} in {:?}",
            err.message()
        );
        let got = plugin
            .vm
            .get_block(pb::GetBlockRequest {
                id: block.id.to_vec(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            got.err,
            pb::Error::NotFound as i32,
            "{expected}: refused block is served"
        );
        assert_eq!(plugin.health().await["processingBlocks"], 0);
    }
    // Accepting a block that never verified is refused too.
    let never = block_with(&b1, vec![]);
    assert!(plugin.accept(&never).await.is_err());
    assert_eq!(plugin.last_accepted_height().await, 1);
    // A valid block still goes through afterwards.
    let b2 = producer.extend(vec![signed(3, 0, vec![put("k", "v")])]);
    plugin.verify(&b2).await.unwrap();
    plugin.accept(&b2).await.unwrap();
    assert_eq!(plugin.stop().await.code(), Some(0));
    let store = open_plugin_store(data.path());
    assert_eq!(all_entries(&store), all_entries(&producer.store));
}

#[tokio::test(flavor = "multi_thread")]
async fn three_nodes_decide_conflicting_blocks_identically() {
    let genesis = genesis_bytes();
    let mut producer = Producer::new(&genesis);
    // Two blocks on genesis writing the same free key from two accounts.
    let genesis_id = producer.chain.last_accepted().id;
    let a = producer.build(vec![signed(2, 0, vec![put("contested", "from-2")])]);
    producer.chain.set_preference(genesis_id);
    let b = producer.build(vec![signed(3, 0, vec![put("contested", "from-3")])]);
    assert_eq!(a.parent, b.parent);
    producer.chain.accept(&a.id).unwrap();
    producer.chain.reject(&b.id).unwrap();
    producer.chain.set_preference(a.id);
    // A child of the losing block, which must not verify once its parent is rejected.
    let mut nodes = Vec::new();
    let mut dirs = Vec::new();
    for _ in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let mut plugin = spawn_plugin().await;
        plugin.start(dir.path(), &genesis).await;
        plugin.verify(&a).await.unwrap();
        plugin.verify(&b).await.unwrap();
        assert_eq!(plugin.health().await["processingBlocks"], 2);
        plugin.accept(&a).await.unwrap();
        plugin.reject(&b).await.unwrap();
        let gone = plugin
            .vm
            .get_block(pb::GetBlockRequest { id: b.id.to_vec() })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(gone.err, pb::Error::NotFound as i32);
        let on_loser = Block::new(
            b.id,
            2,
            b.timestamp_ms,
            vec![signed(3, 1, vec![put("x", "y")])],
            [0; 32],
        );
        assert!(plugin.verify(&on_loser).await.is_err());
        nodes.push(plugin);
        dirs.push(dir);
    }
    // Transactions of the rejected block are pending again on every node.
    for plugin in &mut nodes {
        assert_eq!(plugin.health().await["mempoolTxs"], 1);
    }
    for plugin in nodes {
        assert_eq!(plugin.stop().await.code(), Some(0));
    }
    let states: Vec<_> = dirs
        .iter()
        .map(|d| {
            let store = open_plugin_store(d.path());
            (all_entries(&store), store.lattice().unwrap().checksum())
        })
        .collect();
    assert_eq!(states[0], states[1]);
    assert_eq!(states[1], states[2]);
    assert_eq!(states[0].1, a.state_root);
    let contested = states[0].0.iter().find(|(k, _)| k == b"contested").unwrap();
    assert_eq!(contested.1.owner, account(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn get_ancestors_honours_count_size_and_time_limits() {
    let data = tempfile::tempdir().unwrap();
    let genesis = genesis_bytes();
    let mut producer = Producer::new(&genesis);
    let mut plugin = spawn_plugin().await;
    plugin.start(data.path(), &genesis).await;
    let mut blocks = Vec::new();
    for n in 0..10u64 {
        let b = producer.extend(vec![signed(2, n, vec![put("counter", &n.to_string())])]);
        plugin.verify(&b).await.unwrap();
        plugin.accept(&b).await.unwrap();
        blocks.push(b);
    }
    let tip = blocks.last().unwrap().clone();
    let ancestors = |max_blocks_num: i32, max_blocks_size: i32, ns: i64| pb::GetAncestorsRequest {
        blk_id: tip.id.to_vec(),
        max_blocks_num,
        max_blocks_size,
        max_blocks_retrival_time: ns,
    };
    let all = plugin
        .vm
        .get_ancestors(ancestors(100, 1 << 20, 1_000_000_000))
        .await
        .unwrap()
        .into_inner()
        .blks_bytes;
    assert_eq!(all.len(), 11, "10 blocks and genesis");
    assert_eq!(all[0], tip.bytes);
    assert_eq!(all[1], blocks[8].bytes);
    let three = plugin
        .vm
        .get_ancestors(ancestors(3, 1 << 20, 1_000_000_000))
        .await
        .unwrap()
        .into_inner()
        .blks_bytes;
    assert_eq!(three.len(), 3);
    let two_fit = (tip.bytes.len() + 4 + blocks[8].bytes.len() + 4) as i32;
    let by_size = plugin
        .vm
        .get_ancestors(ancestors(100, two_fit, 1_000_000_000))
        .await
        .unwrap()
        .into_inner()
        .blks_bytes;
    assert_eq!(by_size.len(), 2);
    let by_size_minus_one = plugin
        .vm
        .get_ancestors(ancestors(100, two_fit - 1, 1_000_000_000))
        .await
        .unwrap()
        .into_inner()
        .blks_bytes;
    assert_eq!(by_size_minus_one.len(), 1);
    let by_time = plugin
        .vm
        .get_ancestors(ancestors(100, 1 << 20, 0))
        .await
        .unwrap()
        .into_inner()
        .blks_bytes;
    assert_eq!(by_time.len(), 1);

    let batch: Vec<Vec<u8>> = all.iter().rev().cloned().collect();
    let parsed = plugin
        .vm
        .batched_parse_block(pb::BatchedParseBlockRequest { request: batch })
        .await
        .unwrap()
        .into_inner()
        .response;
    assert_eq!(parsed.len(), 11);
    for (i, p) in parsed.iter().enumerate() {
        assert_eq!(p.height, i as u64);
    }
    let with_garbage = plugin
        .vm
        .batched_parse_block(pb::BatchedParseBlockRequest {
            request: vec![tip.bytes.clone(), b"junk".to_vec()],
        })
        .await;
    assert!(with_garbage.is_err());
}

// ---------------------------------------------------------------------------------------------
// Restarts.

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_then_restart_resumes_at_the_last_accepted_block() {
    let data = tempfile::tempdir().unwrap();
    let genesis = genesis_bytes();
    let mut producer = Producer::new(&genesis);
    let mut plugin = spawn_plugin().await;
    plugin.start(data.path(), &genesis).await;
    let mut last = None;
    for n in 0..5u64 {
        let b = producer.extend(vec![signed(4, n, vec![put(&format!("k{n}"), "v")])]);
        plugin.verify(&b).await.unwrap();
        plugin.accept(&b).await.unwrap();
        last = Some(b);
    }
    let last = last.unwrap();
    let started = Instant::now();
    assert_eq!(plugin.stop().await.code(), Some(0));
    assert!(started.elapsed() < Duration::from_secs(3));

    let mut plugin = spawn_plugin().await;
    let init = plugin.start(data.path(), &genesis).await;
    assert_eq!(init.height, 5);
    assert_eq!(init.last_accepted_id, last.id.to_vec());
    assert_eq!(init.bytes, last.bytes);
    let next = producer.extend(vec![signed(4, 5, vec![put("k5", "v")])]);
    plugin.verify(&next).await.unwrap();
    plugin.accept(&next).await.unwrap();

    // Another genesis on the same data directory is refused clearly.
    let mut other = spawn_plugin().await;
    let other_genesis = genesis_bytes()
        .into_iter()
        .chain(b"\n".iter().copied())
        .collect::<Vec<_>>();
    assert_eq!(plugin.stop().await.code(), Some(0));
    let refused = other
        .initialize(data.path(), &other_genesis)
        .await
        .unwrap_err();
    assert!(
        refused.message().contains("different genesis"),
        "{refused:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_accepts_loses_nothing_and_matches_an_uninterrupted_twin() {
    let genesis = genesis_bytes();
    let mut producer = Producer::new(&genesis);
    let total = 120u64;
    let blocks: Vec<Block> = (0..total)
        .map(|n| {
            producer.extend(vec![
                signed(5, n, vec![put(&format!("a{}", n % 17), &format!("{n}"))]),
                signed(6, n, vec![put(&format!("b{n}"), "x")]),
            ])
        })
        .collect();
    let data = tempfile::tempdir().unwrap();
    let mut plugin = spawn_plugin().await;
    plugin.start(data.path(), &genesis).await;
    // Kill at a point that varies between runs, in the middle of the stream.
    let kill_after = 20 + (now_unix() % 60) as usize;
    for block in &blocks[..kill_after] {
        plugin.verify(block).await.unwrap();
        plugin.accept(block).await.unwrap();
    }
    // One more accept in flight while the process dies.
    let mut vm = plugin.vm.clone();
    let in_flight = blocks[kill_after].clone();
    let racing = tokio::spawn(async move {
        let _ = vm
            .block_verify(pb::BlockVerifyRequest {
                bytes: in_flight.bytes.clone(),
                p_chain_height: None,
            })
            .await;
        vm.block_accept(pb::BlockAcceptRequest {
            id: in_flight.id.to_vec(),
        })
        .await
    });
    plugin.kill();
    let _ = racing.await;

    let mut plugin = spawn_plugin().await;
    let init = plugin.start(data.path(), &genesis).await;
    let resumed = init.height as usize;
    assert!(
        resumed == kill_after || resumed == kill_after + 1,
        "resumed at {resumed}, fed {kill_after}"
    );
    assert_eq!(init.last_accepted_id, blocks[resumed - 1].id.to_vec());
    for block in &blocks[resumed..] {
        plugin.verify(block).await.unwrap();
        plugin.accept(block).await.unwrap();
    }
    assert_eq!(plugin.stop().await.code(), Some(0));
    let store = open_plugin_store(data.path());
    assert_eq!(all_entries(&store), all_entries(&producer.store));
    assert_eq!(
        store.lattice().unwrap().checksum(),
        blocks.last().unwrap().state_root
    );
    for (h, block) in blocks.iter().enumerate() {
        assert_eq!(
            store.block_id_at_height(h as u64 + 1).unwrap(),
            Some(block.id.0)
        );
    }
}
