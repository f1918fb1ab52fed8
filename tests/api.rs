//! The JSON-RPC API end to end: a client talks HTTP to an imitation of the node's HTTP server, which
//! forwards to the plugin's real HTTP bridge over gRPC (HandleSimple), as AvalancheGo does.

#[path = "support/http_front.rs"]
mod http_front;
mod support;

use std::time::{Duration, Instant};

use http_front::HttpFront;
use kvvm::tx::{Operation, Transaction};
use kvvm_proto::vm as pb;
use kvvm_rpc::client::HttpClient;
use kvvm_rpc::types::{codes, Hex32, HexBytes, KvBytes};
use kvvm_rpc::KvvmApiClient;
use kvvm_rpc::{OpArg, TxStatus, UnsignedTxRequest};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Node {
    plugin: Plugin,
    front: HttpFront,
    url: String,
    client: HttpClient,
    genesis: Vec<u8>,
    _data: tempfile::TempDir,
}

async fn node_with_config(config: &[u8]) -> Node {
    node_with(genesis_bytes(), config).await
}

async fn node_with(genesis: Vec<u8>, config: &[u8]) -> Node {
    let data = tempfile::tempdir().unwrap();
    let mut plugin = spawn_plugin().await;
    let init = plugin
        .vm
        .initialize(init_request(data.path(), &genesis, config))
        .await
        .unwrap()
        .into_inner();
    plugin
        .vm
        .set_state(kvvm_proto::vm::SetStateRequest {
            state: kvvm_proto::vm::State::NormalOp as i32,
        })
        .await
        .unwrap();
    plugin
        .vm
        .set_preference(kvvm_proto::vm::SetPreferenceRequest {
            id: init.last_accepted_id,
        })
        .await
        .unwrap();
    let (prefix, addr) = plugin.rpc_handler().await;
    assert_eq!(prefix, "/rpc");
    let route = chain_route(&prefix);
    let front = HttpFront::start(&addr, route.clone()).await;
    let url = front.url(&route);
    let client = kvvm_rpc::http_client(&url).unwrap();
    Node {
        plugin,
        front,
        url,
        client,
        genesis,
        _data: data,
    }
}

async fn node() -> Node {
    node_with_config(br#"{"minBlockGapMs": 0}"#).await
}

fn hex_tx(tx: &Transaction) -> HexBytes {
    HexBytes(tx.encode())
}

fn code_of(e: jsonrpsee::core::client::Error) -> i32 {
    match e {
        jsonrpsee::core::client::Error::Call(obj) => obj.code(),
        other => panic!("expected a JSON-RPC error, got {other:?}"),
    }
}

/// A raw HTTP/1.1 POST, to see status codes and headers a JSON-RPC client hides.
async fn raw(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let text = String::from_utf8_lossy(&response).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_lowercase(), body.to_string())
}

fn path_of(url: &str) -> String {
    url.splitn(4, '/').nth(3).map(|p| format!("/{p}")).unwrap()
}

/// Runs a CLI command that waits for its transaction, building blocks meanwhile as consensus would.
async fn output_while_producing(
    plugin: &mut Plugin,
    mut command: tokio::process::Command,
) -> std::process::Output {
    let mut child = command.spawn().unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        plugin.produce_block(Duration::from_millis(200)).await;
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let mut out = child.stdout.take().unwrap();
    out.read_to_end(&mut stdout).await.unwrap();
    let mut err = child.stderr.take().unwrap();
    err.read_to_end(&mut stderr).await.unwrap();
    std::process::Output {
        status,
        stdout,
        stderr,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn write_then_read_status_blocks_and_chain_info() {
    let mut n = node().await;
    let tx = signed(2, 0, vec![put("greeting", "hello"), put("bin", "\u{1}")]);
    let id = n.client.submit_tx(hex_tx(&tx)).await.unwrap().tx_id;
    assert_eq!(id, Hex32(tx.id.0));
    assert_eq!(
        n.client.tx_status(id).await.unwrap().status,
        TxStatus::Pending
    );
    let nonce = n.client.nonce(Hex32(account(2))).await.unwrap();
    assert_eq!((nonce.accepted, nonce.next), (0, 1));

    let height = n
        .plugin
        .produce_block(Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(height, 1);
    let status = n.client.tx_status(id).await.unwrap();
    assert_eq!(status.status, TxStatus::Accepted);
    assert_eq!(status.block_height, Some(1));
    let block_id = status.block_id.unwrap();

    let entry = n
        .client
        .get(KvBytes(b"greeting".to_vec()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.value, KvBytes(b"hello".to_vec()));
    assert_eq!(entry.value_hex, hex::encode("hello"));
    assert_eq!(entry.owner, Hex32(account(2)));
    assert_eq!(entry.height, 1);
    // Binary values come back as hex.
    let bin = n
        .client
        .get(KvBytes(b"bin".to_vec()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(serde_json::to_value(&bin.value).unwrap(), "0x01");
    assert!(n
        .client
        .get(KvBytes(b"absent".to_vec()))
        .await
        .unwrap()
        .is_none());
    let many = n
        .client
        .get_many(vec![KvBytes(b"absent".to_vec()), KvBytes(b"motd".to_vec())])
        .await
        .unwrap();
    assert!(many[0].is_none());
    assert_eq!(many[1].as_ref().unwrap().value, KvBytes(b"hello".to_vec()));

    let nonce = n.client.nonce(Hex32(account(2))).await.unwrap();
    assert_eq!((nonce.accepted, nonce.next), (1, 1));
    let tip = n.client.last_accepted().await.unwrap();
    assert_eq!((tip.height, tip.id), (1, block_id));
    let by_id = n.client.block_by_id(block_id).await.unwrap().unwrap();
    assert_eq!(by_id.tx_ids, vec![Hex32(tx.id.0)]);
    let by_height = n.client.block_by_height(1).await.unwrap().unwrap();
    assert_eq!(by_height, by_id);
    assert!(n.client.block_by_height(2).await.unwrap().is_none());
    let genesis_block = n.client.block_by_height(0).await.unwrap().unwrap();
    assert_eq!(by_id.parent, genesis_block.id);

    let info = n.client.chain_info().await.unwrap();
    assert_eq!(info.chain_id_hex, Hex32(CHAIN_ID));
    assert_eq!(info.chain_id, kvvm::ids::cb58_encode(&CHAIN_ID));
    assert_eq!(info.network_id, 88_888);
    assert_eq!(info.rpcchainvm_protocol, 45);
    assert_eq!(info.limits.max_key_bytes, 256);
    // Every limit that can refuse a request is there, as configured (the defaults here but one).
    assert_eq!(info.access.mode, "open");
    assert_eq!(info.access.default_quota, None);
    assert_eq!(info.rpc_limits.max_txs_per_submit, 1_000);
    assert_eq!(info.rpc_limits.max_keys_per_get_many, 1_000);
    assert_eq!(info.rpc_limits.max_list_limit, 1_000);
    assert_eq!(info.rpc_limits.max_request_bytes, 2 << 20);
    assert_eq!(info.rpc_limits.max_batch_len, 100);
    assert_eq!(info.mempool_limits.max_future_nonces, 64);
    assert_eq!(info.mempool_limits.max_txs_per_sender, 256);
    assert_eq!(
        info.genesis_hash,
        Hex32(kvvm_genesis::genesis_hash(&n.genesis))
    );

    // The signing helper returns exactly the bytes kvvm signs.
    let helped = n
        .client
        .signing_bytes(UnsignedTxRequest {
            sender: Hex32(account(2)),
            nonce: None,
            ops: vec![OpArg::Delete {
                key: KvBytes(b"greeting".to_vec()),
            }],
        })
        .await
        .unwrap();
    assert_eq!(helped.nonce, 1);
    let local = signed(
        2,
        1,
        vec![Operation::Delete {
            key: b"greeting".to_vec(),
        }],
    );
    assert_eq!(
        helped.signing_bytes.0,
        local.signed.unsigned.signing_bytes()
    );
    assert_eq!(
        [
            helped.unsigned_tx.0.clone(),
            local.signed.signature.to_vec()
        ]
        .concat(),
        local.encode()
    );
    n.plugin.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn list_pages_by_prefix_with_cursor_and_limit() {
    let mut n = node().await;
    let ops: Vec<Operation> = (0..5).map(|i| put(&format!("user/{i}"), "x")).collect();
    n.client
        .submit_tx(hex_tx(&signed(
            2,
            0,
            [ops, vec![put("users", "not me")]].concat(),
        )))
        .await
        .unwrap();
    n.plugin
        .produce_block(Duration::from_secs(10))
        .await
        .unwrap();
    let first = n
        .client
        .list(KvBytes(b"user/".to_vec()), None, Some(2))
        .await
        .unwrap();
    let keys: Vec<_> = first.entries.iter().map(|e| e.key.0.clone()).collect();
    assert_eq!(keys, vec![b"user/0".to_vec(), b"user/1".to_vec()]);
    let cursor = first.next_cursor.unwrap();
    let rest = n
        .client
        .list(KvBytes(b"user/".to_vec()), Some(cursor), Some(10))
        .await
        .unwrap();
    assert_eq!(rest.entries.len(), 3);
    assert!(rest.next_cursor.is_none());
    assert_eq!(
        code_of(
            n.client
                .list(KvBytes(vec![]), None, Some(1001))
                .await
                .unwrap_err()
        ),
        codes::LIMIT_EXCEEDED
    );
    assert_eq!(
        n.client
            .list(KvBytes(vec![]), None, Some(1000))
            .await
            .unwrap()
            .entries
            .len(),
        7
    );
    n.plugin.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_stop_at_the_response_budget_instead_of_building_past_it() {
    // An entry of a 10,000-byte value counts 40,000 bytes and more against the budget (its value
    // as text or hex, and again as hex): one fits in 64 KiB, two do not.
    let mut n = node_with_config(br#"{"minBlockGapMs": 0, "rpcMaxResponseBytes": 65536}"#).await;
    let big = "v".repeat(10_000);
    let ops = (0..3).map(|i| put(&format!("big/{i}"), &big)).collect();
    n.client
        .submit_tx(hex_tx(&signed(2, 0, ops)))
        .await
        .unwrap();
    n.plugin
        .produce_block(Duration::from_secs(10))
        .await
        .unwrap();
    let key = || KvBytes(b"big/0".to_vec());
    let one = n.client.get_many(vec![key()]).await.unwrap();
    assert_eq!(one[0].as_ref().unwrap().value.0.len(), 10_000);
    let amplified = n.client.get_many(vec![key(); 1_000]).await.unwrap_err();
    assert_eq!(code_of(amplified), codes::RESPONSE_TOO_BIG);
    // A list page ends where the budget does, and its cursor carries on from there.
    let mut keys = Vec::new();
    let mut cursor = None;
    loop {
        let page = n
            .client
            .list(KvBytes(b"big/".to_vec()), cursor, Some(100))
            .await
            .unwrap();
        assert!(page.entries.len() <= 1, "one entry fits the budget");
        keys.extend(page.entries.into_iter().map(|e| e.key.0));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(
        keys,
        vec![b"big/0".to_vec(), b"big/1".to_vec(), b"big/2".to_vec()]
    );
    n.plugin.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_transactions_get_stable_codes_and_change_nothing() {
    let mut n = node().await;
    n.client
        .submit_tx(hex_tx(&signed(2, 0, vec![put("mine", "1")])))
        .await
        .unwrap();
    n.plugin
        .produce_block(Duration::from_secs(10))
        .await
        .unwrap();

    let mut bad_sig = signed(3, 0, vec![put("k", "v")]);
    bad_sig.signed.signature[0] ^= 1;
    let bad_sig = Transaction::new(bad_sig.signed);
    let limits = kvvm_genesis::ChainLimits::default();
    let max_value = "v".repeat(limits.max_value_bytes as usize);
    let cases = vec![
        (bad_sig, codes::BAD_SIGNATURE),
        (signed(2, 0, vec![put("again", "1")]), codes::NONCE_TOO_LOW),
        (signed(3, 0, vec![put("mine", "stolen")]), codes::NOT_OWNER),
        (
            signed_for([9; 32], 3, 0, vec![put("k", "v")]),
            codes::WRONG_CHAIN,
        ),
        (
            signed(3, 0, vec![put("big", &format!("{max_value}v"))]),
            codes::LIMIT_EXCEEDED,
        ),
        (
            signed(3, 0, vec![put(&"k".repeat(257), "v")]),
            codes::LIMIT_EXCEEDED,
        ),
        (
            signed(3, 500, vec![put("far", "future")]),
            codes::NONCE_TOO_HIGH,
        ),
    ];
    for (tx, code) in cases {
        let err = n.client.submit_tx(hex_tx(&tx)).await.unwrap_err();
        assert_eq!(code_of(err), code, "tx {}", hex::encode(tx.id));
        let status = n.client.tx_status(Hex32(tx.id.0)).await.unwrap();
        assert_eq!(status.status, TxStatus::Rejected);
        assert!(status.reason.is_some());
    }
    // A replay of the accepted transaction is known, not re-admitted.
    let accepted = signed(2, 0, vec![put("mine", "1")]);
    assert_eq!(
        code_of(n.client.submit_tx(hex_tx(&accepted)).await.unwrap_err()),
        codes::ALREADY_KNOWN
    );
    assert_eq!(
        code_of(
            n.client
                .submit_tx(HexBytes(vec![1, 2, 3]))
                .await
                .unwrap_err()
        ),
        codes::MALFORMED_TX
    );
    // The largest value is accepted.
    n.client
        .submit_tx(hex_tx(&signed(3, 0, vec![put("big", &max_value)])))
        .await
        .unwrap();
    assert_eq!(n.plugin.health().await["mempoolTxs"], 1);
    n.plugin
        .produce_block(Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        n.client
            .get(KvBytes(b"mine".to_vec()))
            .await
            .unwrap()
            .unwrap()
            .value,
        KvBytes(b"1".to_vec())
    );
    n.plugin.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nonce_gap_waits_until_it_closes() {
    let mut n = node().await;
    let later = signed(2, 1, vec![put("second", "2")]);
    n.client.submit_tx(hex_tx(&later)).await.unwrap();
    // Nothing executable: the VM must not ask for a block.
    assert_eq!(
        n.plugin.produce_block(Duration::from_millis(500)).await,
        None
    );
    assert_eq!(
        n.client.tx_status(Hex32(later.id.0)).await.unwrap().status,
        TxStatus::Pending
    );
    n.client
        .submit_tx(hex_tx(&signed(2, 0, vec![put("first", "1")])))
        .await
        .unwrap();
    n.plugin
        .produce_block(Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        n.client.tx_status(Hex32(later.id.0)).await.unwrap().status,
        TxStatus::Accepted
    );
    assert_eq!(n.client.nonce(Hex32(account(2))).await.unwrap().accepted, 2);
    n.plugin.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_block_waits_out_the_minimum_gap_however_busy_the_pool_and_no_longer() {
    const GAP: Duration = Duration::from_millis(1_500);
    let mut n = node_with_config(br#"{"minBlockGapMs": 1500}"#).await;
    // The genesis block is old: the first block is asked for at once.
    n.client
        .submit_tx(hex_tx(&signed(2, 0, vec![put("a", "0")])))
        .await
        .unwrap();
    let before_first = Instant::now();
    n.plugin.produce_block(GAP).await.unwrap();
    // Admissions all through the gap neither cut it short nor keep the block from being asked for.
    let client = n.client.clone();
    let admissions = tokio::spawn(async move {
        for nonce in 1..=20 {
            let tx = signed(2, nonce, vec![put("a", &nonce.to_string())]);
            client.submit_tx(hex_tx(&tx)).await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    assert_eq!(n.plugin.produce_block(GAP * 3).await, Some(2));
    let waited = before_first.elapsed();
    assert!(waited >= GAP, "block 2 came {waited:?} after block 1 began");
    admissions.await.unwrap();
    n.plugin.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn transactions_behind_nonce_gaps_from_many_accounts_neither_starve_nor_fill_the_pool() {
    const WAITING: usize = 300;
    let config = format!(r#"{{"minBlockGapMs": 0, "mempoolMaxWaitingTxs": {WAITING}}}"#);
    let mut n = node_with_config(config.as_bytes()).await;
    // Each fresh account's next nonce is 0, so nonce 1 can never execute.
    let gapped: Vec<HexBytes> = (0..WAITING as u32 + 5)
        .map(|a| {
            hex_tx(&signed_with(
                CHAIN_ID,
                &many_key(a),
                1,
                vec![put("gap", "x")],
            ))
        })
        .collect();
    let items = n.client.submit_txs(gapped).await.unwrap();
    let refused: Vec<i32> = items
        .iter()
        .filter_map(|i| i.error.as_ref().map(|e| e.code))
        .collect();
    assert_eq!(
        refused,
        vec![codes::MEMPOOL_FULL; 5],
        "the waiting budget holds at its edge"
    );
    let honest = signed(2, 0, vec![put("honest", "1")]);
    n.client.submit_tx(hex_tx(&honest)).await.unwrap();
    let height = n.plugin.produce_block(Duration::from_secs(10)).await;
    assert_eq!(height, Some(1));
    assert_eq!(
        n.client.tx_status(Hex32(honest.id.0)).await.unwrap().status,
        TxStatus::Accepted
    );
    let block = n.client.block_by_height(1).await.unwrap().unwrap();
    assert_eq!(
        block.tx_ids,
        vec![Hex32(honest.id.0)],
        "no gapped transaction was built"
    );
    assert_eq!(
        n.plugin.produce_block(Duration::from_millis(500)).await,
        None,
        "a pool holding only gapped transactions asks for no block"
    );
    n.plugin.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_node_s_calls_keep_answering_during_a_json_rpc_burst() {
    let mut n = node().await;
    // Junk that costs a full strict signature check per transaction: a valid key, a bad signature,
    // every transaction distinct so no verdict is remembered.
    let sender = account(3);
    let junk_batch = |batch: u64| -> Vec<HexBytes> {
        (0..1_000)
            .map(|i| {
                let unsigned = kvvm::tx::UnsignedTx {
                    chain_id: CHAIN_ID,
                    sender,
                    nonce: batch * 1_000 + i,
                    ops: vec![put("junk", "x")],
                };
                hex_tx(&Transaction::new(kvvm::tx::SignedTx {
                    unsigned,
                    signature: [0x5a; 64],
                }))
            })
            .collect()
    };
    let burst: Vec<_> = (0..32)
        .map(|b| {
            let client = n.client.clone();
            let txs = junk_batch(b);
            tokio::spawn(async move { client.submit_txs(txs).await })
        })
        .collect();
    let mut slowest = Duration::ZERO;
    let mut probes = 0;
    while !burst.iter().all(|task| task.is_finished()) {
        let started = Instant::now();
        let health = n.plugin.health().await;
        assert_eq!(health["database"], "ok");
        slowest = slowest.max(started.elapsed());
        probes += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for task in burst {
        match task.await.unwrap() {
            Ok(items) => assert!(items
                .iter()
                .all(|i| i.error.as_ref().unwrap().code == codes::BAD_SIGNATURE)),
            Err(e) => assert_eq!(code_of(e), codes::BUSY, "refused, not failed"),
        }
    }
    assert!(
        probes >= 3,
        "the burst lasted {probes} probes: too short to show anything"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "Health took {slowest:?} during the burst ({probes} probes); the node's calls must not wait on JSON-RPC work"
    );
    n.plugin.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn submit_many_reports_per_item_errors() {
    let n = node().await;
    let good = signed(2, 0, vec![put("a", "1")]);
    let mut bad = signed(3, 0, vec![put("b", "1")]);
    bad.signed.signature[5] ^= 1;
    let bad = Transaction::new(bad.signed);
    let items = n
        .client
        .submit_txs(vec![hex_tx(&good), hex_tx(&bad), hex_tx(&good)])
        .await
        .unwrap();
    assert_eq!(items.len(), 3);
    assert_eq!(items[0].tx_id, Some(Hex32(good.id.0)));
    assert_eq!(items[1].error.as_ref().unwrap().code, codes::BAD_SIGNATURE);
    assert_eq!(items[2].error.as_ref().unwrap().code, codes::ALREADY_KNOWN);
    n.plugin.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_layer_answers_like_a_json_rpc_server() {
    let n = node_with_config(
        br#"{"minBlockGapMs": 0, "rpcMaxBatchLen": 3, "rpcMaxRequestBytes": 4096}"#,
    )
    .await;
    let path = path_of(&n.url);
    let call = |id: u32| {
        format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"kvvm_lastAccepted","params":[]}}"#)
    };

    let (status, head, body) = raw(n.front.addr, "POST", &path, call(1).as_bytes()).await;
    assert_eq!(status, 200, "{body}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["result"]["height"], 0);

    let batch = format!("[{},{},{}]", call(1), call(2), call(3));
    let (status, _, body) = raw(n.front.addr, "POST", &path, batch.as_bytes()).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body)
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        3
    );

    let too_long = format!("[{},{},{},{}]", call(1), call(2), call(3), call(4));
    let (_, _, body) = raw(n.front.addr, "POST", &path, too_long.as_bytes()).await;
    assert!(
        body.contains("error"),
        "batch over the limit must fail: {body}"
    );

    let (_, _, body) = raw(n.front.addr, "POST", &path, b"{not json").await;
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["error"]["code"], -32700);

    let unknown = r#"{"jsonrpc":"2.0","id":1,"method":"kvvm_nope","params":[]}"#;
    let (_, _, body) = raw(n.front.addr, "POST", &path, unknown.as_bytes()).await;
    let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(reply["error"]["code"], -32601);

    let huge = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"kvvm_get","params":["{}"]}}"#,
        "k".repeat(5000)
    );
    let (status, _, _) = raw(n.front.addr, "POST", &path, huge.as_bytes()).await;
    assert_eq!(status, 413, "a body over rpcMaxRequestBytes is refused");

    let (status, _, _) = raw(n.front.addr, "GET", &path, b"").await;
    assert_eq!(status, 405);

    // 1001 keys do not fit in 4096 bytes; check the per-call key limit on a default node.
    n.plugin.stop().await;
    let d = node().await;
    let keys: Vec<KvBytes> = (0..1001)
        .map(|i| KvBytes(format!("k{i}").into_bytes()))
        .collect();
    assert_eq!(
        code_of(d.client.get_many(keys).await.unwrap_err()),
        codes::LIMIT_EXCEEDED
    );
    let keys: Vec<KvBytes> = (0..1000)
        .map(|i| KvBytes(format!("k{i}").into_bytes()))
        .collect();
    assert_eq!(d.client.get_many(keys).await.unwrap().len(), 1000);
    d.plugin.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn python_client_with_only_pynacl_writes_and_reads() {
    if std::process::Command::new("python3")
        .args(["-c", "import nacl"])
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        panic!("PyNaCl is missing: scripts/setup.sh installs it (pip install pynacl)");
    }
    let mut n = node().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/python/client.py");
    let mut child = tokio::process::Command::new("python3")
        .arg(script)
        .arg(&n.url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Play consensus while the client waits for its write.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let output = loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut out = String::new();
            let mut err = String::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_string(&mut out)
                .await
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .await
                .unwrap();
            break (status, out, err);
        }
        assert!(tokio::time::Instant::now() < deadline, "python client hung");
        n.plugin.produce_block(Duration::from_millis(200)).await;
    };
    let (status, out, err) = output;
    assert!(status.success(), "python client failed:\n{out}\n{err}");
    assert!(out.contains("read back: hello from python"), "{out}");
    let entry = n
        .client
        .get(KvBytes(b"python/greeting".to_vec()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.value, KvBytes(b"hello from python".to_vec()));
    n.plugin.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cli_writes_reads_and_reports_through_the_api() {
    let mut n = node().await;
    let home = tempfile::tempdir().unwrap();
    let key = home.path().join("key.json");
    let kvvm = |args: &[&str]| {
        let mut cmd = tokio::process::Command::new(KVVM);
        cmd.args(args)
            .env("KVVM_RPC", &n.url)
            .env("KVVM_KEY", &key)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    };
    let created = kvvm(&["key", "new", "--json"]).output().await.unwrap();
    assert!(created.status.success(), "{created:?}");
    let account: serde_json::Value = serde_json::from_slice(&created.stdout).unwrap();
    let account = account["account"].as_str().unwrap().to_string();

    // `put --wait` returns once accepted, so play consensus while it waits.
    let put = kvvm(&[
        "put",
        "cli/greeting",
        "hello from the cli",
        "--wait",
        "--json",
    ]);
    let put = output_while_producing(&mut n.plugin, put).await;
    assert!(put.status.success(), "put failed: {put:?}");
    let accepted: serde_json::Value = serde_json::from_slice(&put.stdout).unwrap();
    assert_eq!(accepted["status"], "accepted");

    let got = kvvm(&["get", "cli/greeting", "--json"])
        .output()
        .await
        .unwrap();
    let entry: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!(entry["value"], "hello from the cli");
    assert_eq!(entry["owner"], account);
    let listed = kvvm(&["ls", "cli/"]).output().await.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout).trim(),
        "cli/greeting = hello from the cli"
    );

    // Someone else's key: a clear error and a non-zero exit.
    let other = home.path().join("other.json");
    kvvm(&["key", "new", "--key", other.to_str().unwrap()])
        .output()
        .await
        .unwrap();
    let stolen = kvvm(&[
        "put",
        "cli/greeting",
        "mine now",
        "--key",
        other.to_str().unwrap(),
    ])
    .output()
    .await
    .unwrap();
    assert!(!stolen.status.success());
    assert!(String::from_utf8_lossy(&stolen.stderr).contains("owned by another account"));

    // A missing key file says how to make one.
    let missing = kvvm(&["put", "a", "b", "--key", "/nonexistent/key.json"])
        .output()
        .await
        .unwrap();
    assert!(String::from_utf8_lossy(&missing.stderr).contains("kvvm key new"));
    n.plugin.stop().await;
}

/// What the Quick start leaves a newcomer with: no key, no flags, only the network summary that
/// scripts/run-network.sh wrote under KVVM_CACHE. `kvvm put hello world` must work as typed.
#[tokio::test(flavor = "multi_thread")]
async fn cli_without_flags_uses_the_network_summary_and_creates_a_key() {
    let mut n = node().await;
    let home = tempfile::tempdir().unwrap();
    let cache = home.path().join("cache");
    std::fs::create_dir(&cache).unwrap();
    let summary = cache.join("network.json");
    let nodes = serde_json::json!({ "nodes": [{ "nodeID": "NodeID-1", "rpcURL": n.url }] });
    std::fs::write(&summary, nodes.to_string()).unwrap();
    let kvvm = |args: &[&str]| {
        let mut cmd = tokio::process::Command::new(KVVM);
        cmd.args(args)
            .env_remove("KVVM_RPC")
            .env_remove("KVVM_KEY")
            .env("HOME", home.path())
            .env("KVVM_CACHE", &cache)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd
    };

    let put = kvvm(&["put", "hello", "world", "--wait", "--timeout", "30"]);
    let put = output_while_producing(&mut n.plugin, put).await;
    assert!(put.status.success(), "put failed: {put:?}");
    let key_file = home.path().join(".kvvm").join("key.json");
    assert!(key_file.exists());
    let said = String::from_utf8_lossy(&put.stderr);
    assert!(said.contains("created key file"), "{said}");
    assert!(said.contains(&key_file.display().to_string()), "{said}");

    let got = kvvm(&["get", "hello"]).output().await.unwrap();
    assert!(got.status.success(), "{got:?}");
    assert!(String::from_utf8_lossy(&got.stdout).starts_with("world\n"));
    let again = kvvm(&["put", "hello", "again"]).output().await.unwrap();
    assert!(again.status.success(), "{again:?}");
    assert!(
        again.stderr.is_empty(),
        "the key was announced twice: {again:?}"
    );

    // Once the network is gone (run-network.sh stop removes the summary), say how to get one.
    std::fs::remove_file(&summary).unwrap();
    let lost = kvvm(&["get", "hello"]).output().await.unwrap();
    assert!(!lost.status.success());
    let said = String::from_utf8_lossy(&lost.stderr);
    assert!(
        said.contains("scripts/run-network.sh") && said.contains("--rpc"),
        "{said}"
    );
    n.plugin.stop().await;
}

/// A pending transaction that a peer's accepted block made invalid without using its nonce (here:
/// the peer's block took the key first) must leave the pool with a reason. Kept, it would make
/// WaitForEvent ask for blocks that BuildBlock can never fill, and stay `pending` forever.
#[tokio::test(flavor = "multi_thread")]
async fn a_transaction_a_peer_block_invalidated_is_dropped_with_its_reason() {
    let mut n = node().await;
    let mine = signed(2, 0, vec![put("contested", "from-2")]);
    n.client.submit_tx(hex_tx(&mine)).await.unwrap();

    let mut peer = Producer::new(&n.genesis);
    let theirs = peer.build(vec![signed(3, 0, vec![put("contested", "from-3")])]);
    n.plugin.verify(&theirs).await.unwrap();
    n.plugin.accept(&theirs).await.unwrap();
    n.plugin
        .vm
        .set_preference(kvvm_proto::vm::SetPreferenceRequest {
            id: theirs.id.to_vec(),
        })
        .await
        .unwrap();

    // By nonce the transaction still looks executable, so the VM asks for a block once...
    let signalled = tokio::time::timeout(Duration::from_secs(5), n.plugin.vm.wait_for_event(()))
        .await
        .expect("WaitForEvent should signal the pending transaction")
        .unwrap();
    assert_eq!(
        signalled.into_inner().message,
        kvvm_proto::vm::Message::BuildBlock as i32
    );
    let build = n
        .plugin
        .vm
        .build_block(kvvm_proto::vm::BuildBlockRequest {
            p_chain_height: Some(1),
        })
        .await
        .unwrap_err();
    assert!(build.message().contains("nothing to build"), "{build:?}");

    // ...finds it invalid while building, and drops it with the reason.
    let status = n.client.tx_status(Hex32(mine.id.0)).await.unwrap();
    assert_eq!(status.status, TxStatus::Dropped, "{status:?}");
    let reason = status.reason.unwrap_or_default();
    assert!(reason.contains("owned by another account"), "{reason}");
    assert_eq!(n.client.nonce(Hex32(account(2))).await.unwrap().next, 0);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), n.plugin.vm.wait_for_event(()))
            .await
            .is_err(),
        "WaitForEvent signalled again with nothing buildable left"
    );
    let entry = n
        .client
        .get(KvBytes(b"contested".to_vec()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.owner, Hex32(account(3)));
    n.plugin.stop().await;
}

/// A restricted chain whose first admin is account 1, every account limited to `max_keys` keys and
/// `max_bytes` bytes unless an admin says otherwise.
fn restricted_genesis(max_keys: u64, max_bytes: u64) -> Vec<u8> {
    let mut genesis = kvvm_genesis::Genesis::parse(&genesis_bytes(), u64::MAX).unwrap();
    genesis.access = kvvm_genesis::Access {
        mode: kvvm_genesis::AccessMode::Restricted,
        admins: vec![account(1)],
        default_quota: Some(kvvm_genesis::QuotaLimits {
            max_keys,
            max_bytes,
        }),
    };
    genesis.to_json_pretty().into_bytes()
}

/// Signs `ops` for `seed` through the node's `signingBytes`, as a client of docs/api.md would.
async fn signed_through_api(n: &Node, seed: u8, ops: Vec<OpArg>) -> HexBytes {
    let view = n
        .client
        .signing_bytes(UnsignedTxRequest {
            sender: Hex32(account(seed)),
            nonce: None,
            ops,
        })
        .await
        .unwrap();
    use ed25519_dalek::Signer;
    let signature = key(seed).sign(&view.signing_bytes.0).to_bytes();
    HexBytes([view.unsigned_tx.0, signature.to_vec()].concat())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restricted_chain_refuses_strangers_until_an_admin_grants_a_role() {
    // Account 2 may store two keys of at most 12 bytes in all.
    let mut n = node_with(restricted_genesis(2, 12), br#"{"minBlockGapMs": 0}"#).await;
    let info = n.client.chain_info().await.unwrap();
    assert_eq!(info.access.mode, "restricted");
    assert_eq!(info.access.default_quota.unwrap().max_keys, 2);

    // A stranger is refused at submission, and its transaction is remembered as refused.
    let stranger = signed(2, 0, vec![put("k1", "v")]);
    let refused = n.client.submit_tx(hex_tx(&stranger)).await.unwrap_err();
    assert_eq!(code_of(refused), codes::NOT_ALLOWED);
    let status = n.client.tx_status(Hex32(stranger.id.0)).await.unwrap();
    assert_eq!(status.status, TxStatus::Rejected);
    assert!(status.reason.unwrap().contains("no role"));

    // An enabled account may not grant roles; only the admin does.
    let grant = OpArg::SetRole {
        account: Hex32(account(2)),
        role: kvvm_rpc::RoleView::Enabled,
    };
    let granted = signed_through_api(&n, 1, vec![grant]).await;
    n.client.submit_tx(granted).await.unwrap();
    n.plugin
        .produce_block(Duration::from_secs(10))
        .await
        .unwrap();
    let view = n.client.account(Hex32(account(2))).await.unwrap();
    assert_eq!(view.role, kvvm_rpc::RoleView::Enabled);
    assert_eq!((view.keys_used, view.bytes_used, view.nonce), (0, 0, 0));
    let admin = n.client.account(Hex32(account(1))).await.unwrap();
    assert_eq!(admin.role, kvvm_rpc::RoleView::Admin);
    // The admin owns the genesis entry "motd" = "hello": one key, 4 + 5 bytes.
    assert_eq!((admin.keys_used, admin.bytes_used, admin.nonce), (1, 9, 1));
    let escalate = signed(
        2,
        0,
        vec![Operation::SetRole {
            account: account(3),
            role: kvvm::access::Role::Enabled,
        }],
    );
    let denied = n.client.submit_tx(hex_tx(&escalate)).await.unwrap_err();
    assert_eq!(code_of(denied), codes::NOT_ALLOWED);

    // The writer fills its quota; one more key is refused at submission with 1014.
    let fill = signed(2, 0, vec![put("k1", "1234"), put("k2", "12")]);
    n.client.submit_tx(hex_tx(&fill)).await.unwrap();
    n.plugin
        .produce_block(Duration::from_secs(10))
        .await
        .unwrap();
    let view = n.client.account(Hex32(account(2))).await.unwrap();
    assert_eq!((view.keys_used, view.bytes_used), (2, 6 + 4));
    let over = signed(2, 1, vec![put("k3", "")]);
    let refused = n.client.submit_tx(hex_tx(&over)).await.unwrap_err();
    assert_eq!(code_of(refused), codes::QUOTA_EXCEEDED);
    let too_long = signed(2, 1, vec![put("k2", "12345")]);
    assert_eq!(
        code_of(n.client.submit_tx(hex_tx(&too_long)).await.unwrap_err()),
        codes::QUOTA_EXCEEDED
    );
    // A delete frees the quota; the same key then fits.
    let free = signed(
        2,
        1,
        vec![Operation::Delete {
            key: b"k1".to_vec(),
        }],
    );
    n.client.submit_tx(hex_tx(&free)).await.unwrap();
    n.plugin
        .produce_block(Duration::from_secs(10))
        .await
        .unwrap();
    let view = n.client.account(Hex32(account(2))).await.unwrap();
    assert_eq!((view.keys_used, view.bytes_used), (1, 4));
    let again = signed(2, 2, vec![put("k3", "")]);
    n.client.submit_tx(hex_tx(&again)).await.unwrap();
    n.plugin
        .produce_block(Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        n.client.tx_status(Hex32(again.id.0)).await.unwrap().status,
        TxStatus::Accepted
    );

    // The admin's override, and revoking: the writer is a stranger again.
    let override_and_revoke = signed_through_api(
        &n,
        1,
        vec![
            OpArg::SetQuota {
                account: Hex32(account(2)),
                quota: Some(kvvm_rpc::QuotaView {
                    max_keys: 10,
                    max_bytes: 1000,
                }),
            },
            OpArg::SetRole {
                account: Hex32(account(2)),
                role: kvvm_rpc::RoleView::None,
            },
        ],
    )
    .await;
    n.client.submit_tx(override_and_revoke).await.unwrap();
    n.plugin
        .produce_block(Duration::from_secs(10))
        .await
        .unwrap();
    let view = n.client.account(Hex32(account(2))).await.unwrap();
    assert_eq!(view.role, kvvm_rpc::RoleView::None);
    assert!(view.quota_override);
    assert_eq!(view.quota.unwrap().max_keys, 10);
    let revoked = signed(2, 3, vec![put("k4", "")]);
    assert_eq!(
        code_of(n.client.submit_tx(hex_tx(&revoked)).await.unwrap_err()),
        codes::NOT_ALLOWED
    );
    n.plugin.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_peer_block_with_a_stranger_s_write_fails_verify_and_roles_agree_across_nodes() {
    let genesis = restricted_genesis(100, 10_000);
    let dir = tempfile::tempdir().unwrap();
    let mut plugin = spawn_plugin().await;
    plugin.start(dir.path(), &genesis).await;
    // Another validator, running kvvm's own chain code, grants account 2 and lets it write: the
    // plugin verifies and accepts its blocks, so both computed the same roots, roles and usage.
    let mut peer = Producer::new(&genesis);
    let grant = peer.extend(vec![signed(
        1,
        0,
        vec![Operation::SetRole {
            account: account(2),
            role: kvvm::access::Role::Enabled,
        }],
    )]);
    let write = peer.extend(vec![signed(2, 0, vec![put("granted", "yes")])]);
    for block in [&grant, &write] {
        plugin.verify(block).await.unwrap();
        plugin.accept(block).await.unwrap();
    }

    // A block that executes a stranger's write as if the chain were open: well-formed, correctly
    // rooted for open rules, and refused by the plugin for who wrote it.
    let base = peer.chain.preferred_base().unwrap();
    let height = base.block.height + 1;
    let stranger = signed(3, 0, vec![put("intruder", "x")]);
    let mut executor =
        kvvm::execute::BlockExecutor::new(base.view, height, kvvm::access::AccessRules::default());
    executor.apply(&stranger).unwrap();
    let forged = kvvm::block::Block::new(
        base.block.id,
        height,
        base.block.timestamp_ms + 1,
        vec![stranger],
        executor.state_root(),
    );
    let refused = plugin.verify(&forged).await.unwrap_err();
    assert!(refused.message().contains("no role"), "{refused:?}");
    assert!(peer.chain.verify(forged).is_err());

    let data = dir.path().to_path_buf();
    plugin.stop().await;
    let store = open_plugin_store(&data);
    let ours = store.account(&account(2)).unwrap();
    assert_eq!(ours, peer.store.account(&account(2)).unwrap());
    assert_eq!(ours.role, kvvm::access::Role::Enabled);
    assert_eq!(ours.usage.keys, 1);
    assert_eq!(store.lattice().unwrap(), peer.store.lattice().unwrap());
    assert_eq!(store.recompute_lattice().unwrap(), store.lattice().unwrap());
    assert!(store.entry(b"intruder").unwrap().is_none());
}

/// Runs `kvvm load ARGS --json` against the node while blocks are produced, and returns the report.
async fn load_report(n: &mut Node, args: &[&str]) -> serde_json::Value {
    let mut cmd = tokio::process::Command::new(KVVM);
    cmd.arg("load")
        .args(args)
        .args(["--json", "--deadline", "60", "--poll-ms", "10"])
        .env_remove("KVVM_RPC")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = output_while_producing(&mut n.plugin, cmd).await;
    assert!(out.status.success(), "kvvm load {args:?} failed: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The figures every complete run must show: all accepted, nothing refused, lost or duplicated,
/// latencies reported, the nodes agreeing.
fn assert_complete(report: &serde_json::Value, txs: u64) {
    let run = &report["runs"][0];
    assert_eq!(run["planned"], txs, "{report:#}");
    assert_eq!(run["sent"], txs, "{report:#}");
    assert_eq!(run["accepted"], txs, "{report:#}");
    assert_eq!(run["refused"], serde_json::json!({}), "{report:#}");
    assert_eq!(run["lost"], 0);
    assert_eq!(run["duplicates"], 0);
    assert_eq!(run["timedOut"], false);
    assert_eq!(run["rootsEqual"], true, "{report:#}");
    assert!(run["finalizedTxPerS"].as_f64().unwrap() > 0.0);
    let (p50, p99) = (
        run["latency"]["p50Ms"].as_f64().unwrap(),
        run["latency"]["p99Ms"].as_f64().unwrap(),
    );
    assert!(0.0 < p50 && p50 <= p99 && p99 < 60_000.0, "{report:#}");
    assert_eq!(report["median"]["allRootsEqual"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn load_client_counts_every_transaction_accepted_and_reports_latencies() {
    let mut n = node().await;
    let url = n.url.clone();
    let urls = format!("{url},{url}");
    let pid = n.plugin.child.id().to_string();
    let cpu_of = format!("plugin={pid}");
    // A window of 3 per account makes the client wait for acceptances between batches.
    let many = load_report(
        &mut n,
        &[
            "throughput",
            "--rpc",
            &urls,
            "--txs",
            "48",
            "--accounts",
            "6",
            "--batch",
            "8",
            "--concurrency",
            "2",
            "--window",
            "3",
            "--cpu-of",
            &cpu_of,
        ],
    )
    .await;
    assert_complete(&many, 48);
    let run = &many["runs"][0];
    assert_eq!(run["roots"].as_array().unwrap().len(), 2);
    assert!(run["blocks"].as_u64().unwrap() >= 2, "{many:#}");
    assert!(
        run["cpuSeconds"]["plugin"].as_f64().unwrap() > 0.0,
        "{many:#}"
    );
    assert!(run["cpuSeconds"]["load client"].as_f64().is_some());

    let writer = load_report(
        &mut n,
        &[
            "one-writer",
            "--rpc",
            &url,
            "--txs",
            "6",
            "--ops-per-tx",
            "4",
            "--window",
            "3",
        ],
    )
    .await;
    assert_complete(&writer, 6);
    let run = &writer["runs"][0];
    let (tx_s, puts_s) = (
        run["finalizedTxPerS"].as_f64().unwrap(),
        run["putsPerS"].as_f64().unwrap(),
    );
    assert!((puts_s - 4.0 * tx_s).abs() < 1e-6, "{writer:#}");

    let idle = load_report(
        &mut n,
        &["idle", "--rpc", &url, "--count", "3", "--runs", "2"],
    )
    .await;
    assert_complete(&idle, 3);
    assert_eq!(idle["runs"].as_array().unwrap().len(), 2);
    assert_eq!(
        idle["runs"][0]["txsPerBlockMax"], 1,
        "one at a time: {idle:#}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pruning_node_says_which_blocks_it_pruned() {
    const KEEP: u64 = 16;
    let mut n = node_with_config(br#"{"minBlockGapMs": 0, "keepBlocks": 16}"#).await;
    let mut blocks = Vec::new();
    for nonce in 0..KEEP + 4 {
        let tx = signed(2, nonce, vec![put(&format!("k{nonce}"), "v")]);
        n.client.submit_tx(hex_tx(&tx)).await.unwrap();
        let height = n
            .plugin
            .produce_block(Duration::from_secs(10))
            .await
            .unwrap();
        let block = n.client.block_by_height(height).await.unwrap().unwrap();
        assert_eq!(block.tx_ids, vec![Hex32(tx.id.0)]);
        blocks.push((height, block.id, tx.id));
    }
    let tip = blocks.last().unwrap().0;
    let oldest = tip - KEEP;
    let history = n.client.chain_info().await.unwrap().block_history;
    assert_eq!(
        (history.keep_blocks, history.oldest_block_height),
        (KEEP, oldest)
    );

    for (height, id, tx_id) in blocks {
        let status = n.client.tx_status(Hex32(tx_id.0)).await.unwrap();
        let by_id = n.client.block_by_id(id).await;
        let by_height = n.client.block_by_height(height).await;
        let grpc = n
            .plugin
            .vm
            .get_block(pb::GetBlockRequest { id: id.0.to_vec() })
            .await
            .unwrap()
            .into_inner();
        if height < oldest {
            assert_eq!(
                code_of(by_id.unwrap_err()),
                codes::PRUNED,
                "height {height}"
            );
            assert_eq!(code_of(by_height.unwrap_err()), codes::PRUNED);
            assert_eq!(status.status, TxStatus::Unknown);
            assert!(status.reason.unwrap().contains("pruned"));
            assert_eq!(grpc.err, pb::Error::NotFound as i32);
        } else {
            assert_eq!(by_id.unwrap().unwrap().height, height);
            assert_eq!(by_height.unwrap().unwrap().id, id);
            assert_eq!(status.status, TxStatus::Accepted);
            assert_eq!(grpc.err, pb::Error::Unspecified as i32);
        }
        // The height index answers at every height: the node's calls rely on it.
        let at = n
            .plugin
            .vm
            .get_block_id_at_height(pb::GetBlockIdAtHeightRequest { height })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(at.blk_id, id.0.to_vec());
    }
    let genesis = n.client.block_by_height(0).await.unwrap();
    assert!(genesis.is_some(), "genesis is never pruned");
    let families = n.plugin.metric_families().await;
    let oldest_metric = families
        .iter()
        .find(|f| f.name() == "oldest_block_height")
        .expect("the oldest_block_height metric");
    assert_eq!(
        oldest_metric.metric[0].gauge.as_ref().unwrap().value(),
        oldest as f64
    );
    n.plugin.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_keep_blocks_below_its_floor_is_refused_at_initialize() {
    let data = tempfile::tempdir().unwrap();
    let mut plugin = spawn_plugin().await;
    let refused = plugin
        .vm
        .initialize(init_request(
            data.path(),
            &genesis_bytes(),
            br#"{"keepBlocks": 15}"#,
        ))
        .await
        .unwrap_err();
    assert!(refused.message().contains("keepBlocks"), "{refused:?}");
    plugin.stop().await;
}
