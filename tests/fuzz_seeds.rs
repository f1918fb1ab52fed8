//! The committed seeds of the byte-format fuzz targets (`fuzz/seeds/<target>/`), built here from the
//! public API so they follow the formats: this test fails when a committed seed no longer equals
//! what it builds, and rewrites them all when run with `KVVM_WRITE_FUZZ_SEEDS=1`:
//!
//! ```text
//! KVVM_WRITE_FUZZ_SEEDS=1 cargo test --workspace --test fuzz_seeds
//! ```
//!
//! The transactions are signed by the fuzz fixtures' signers for their chain (`fuzz/src/lib.rs`),
//! so a seed reaches admission and execution, not only decoding. The structured targets'
//! (`block_verify`, `rpc_bridge`) seeds are fuzzer-made; docs/reliability.md says how.

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use kvvm::block::Block;
use kvvm::gossip::bloom::BloomFilter;
use kvvm::gossip::wire::{self, PullRequest, PullResponse, PushTxs};
use kvvm::ids::BlockId;
use kvvm::state_sync::wire::{self as sync_wire, SyncRequest, SyncResponse};
use kvvm::tx::{Operation, Transaction, UnsignedTx};
use kvvm_genesis::{Access, ChainLimits, Genesis, GenesisEntry};
use kvvm_storage::{Entry, Role, StateSummary, SyncRecord};

/// The fuzz fixtures' chain ID and genesis time (`fuzz/src/lib.rs`).
const CHAIN_ID: [u8; 32] = [7; 32];
const GENESIS_UNIX: u64 = 1_800_000_000 - 60;

/// The state sync target's first byte picks the kind of bytes.
const SYNC_REQUEST: u8 = 0;
const SYNC_RESPONSE: u8 = 1;
const SYNC_SUMMARY: u8 = 2;

/// The gossip target's first byte picks the message kind.
const PUSH: u8 = 0;
const PULL_REQUEST: u8 = 1;
const PULL_RESPONSE: u8 = 2;

fn signer(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn tx(seed: u8, nonce: u64, ops: Vec<Operation>) -> Transaction {
    let key = signer(seed);
    Transaction::new(
        UnsignedTx {
            chain_id: CHAIN_ID,
            sender: key.verifying_key().to_bytes(),
            nonce,
            ops,
        }
        .sign(&key),
    )
}

fn put(key: &[u8], value: &[u8]) -> Operation {
    Operation::Put {
        key: key.to_vec(),
        value: value.to_vec(),
    }
}

fn with_kind(kind: u8, payload: Vec<u8>) -> Vec<u8> {
    [vec![kind], payload].concat()
}

/// Every seed: (target, file name, bytes).
fn seeds() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let fresh_put = tx(3, 0, vec![put(b"e", b"new")]);
    let owner_ops = tx(
        1,
        0,
        vec![
            put(b"a", b"changed"),
            Operation::Delete { key: b"c".to_vec() },
        ],
    );
    let empty = tx(4, 0, Vec::new());
    let genesis_block = BlockId([0; 32]);
    let block = Block::new(
        genesis_block,
        1,
        GENESIS_UNIX * 1000 + 1,
        vec![fresh_put.clone(), owner_ops.clone()],
        [0x5a; 32],
    );
    let empty_block = Block::new(genesis_block, 1, GENESIS_UNIX * 1000, Vec::new(), [0; 32]);
    let mut filter = BloomFilter::for_items(1, [0x11; 32]);
    filter.insert(&fresh_put.id);
    let genesis = Genesis {
        timestamp: 1_764_000_000,
        limits: ChainLimits::default(),
        entries: vec![
            GenesisEntry {
                key: b"greeting".to_vec(),
                value: b"hello".to_vec(),
                owner: signer(1).verifying_key().to_bytes(),
            },
            GenesisEntry {
                key: vec![0xff, 0x00],
                value: vec![0x80],
                owner: signer(2).verifying_key().to_bytes(),
            },
        ],
        access: Access::default(),
    };
    vec![
        ("tx_decode", "put", fresh_put.encode()),
        ("tx_decode", "put-and-delete", owner_ops.encode()),
        ("tx_decode", "no-operations", empty.encode()),
        ("block_parse", "two-txs", block.bytes.clone()),
        ("block_parse", "empty", empty_block.bytes),
        (
            "gossip",
            "push",
            with_kind(
                PUSH,
                wire::encode_prefixed(&PushTxs {
                    txs: vec![fresh_put.encode(), owner_ops.encode()],
                }),
            ),
        ),
        (
            "gossip",
            "pull-request",
            with_kind(
                PULL_REQUEST,
                wire::encode_prefixed(&PullRequest {
                    filter: filter.to_wire(),
                }),
            ),
        ),
        (
            "gossip",
            "pull-response",
            with_kind(
                PULL_RESPONSE,
                wire::encode_response(&PullResponse {
                    txs: vec![fresh_put.encode()],
                }),
            ),
        ),
        ("genesis_parse", "two-entries", genesis.to_json_pretty().into_bytes()),
        (
            "genesis_parse",
            "hex-entry",
            br#"{"timestamp": 1764000000, "limits": {"maxKeyBytes": 16, "maxValueBytes": 64,
"maxOpsPerTx": 4, "maxTxBytes": 512, "maxTxsPerBlock": 8, "maxBlockBytes": 4096}, "entries": [
{"key": "6b6579", "value": "", "owner": "0000000000000000000000000000000000000000000000000000000000000001", "encoding": "hex"}]}"#
                .to_vec(),
        ),
        ("chain_config_parse", "empty-object", b"{}".to_vec()),
        (
            "state_sync",
            "request-chunk",
            with_kind(
                SYNC_REQUEST,
                sync_wire::encode_request(&SyncRequest::Chunk {
                    height: 4096,
                    bucket: 3,
                    after: Some(vec![0, b'k']),
                    max_bytes: 1 << 18,
                }),
            ),
        ),
        (
            "state_sync",
            "request-block",
            with_kind(
                SYNC_REQUEST,
                sync_wire::encode_request(&SyncRequest::Block { height: 4096 }),
            ),
        ),
        (
            "state_sync",
            "response-chunk",
            with_kind(
                SYNC_RESPONSE,
                sync_wire::encode_response(&SyncResponse::Chunk {
                    records: sync_records(),
                    complete: true,
                }),
            ),
        ),
        (
            "state_sync",
            "summary",
            with_kind(
                SYNC_SUMMARY,
                StateSummary::of_records(4096, [9; 32], sync_records())
                    .unwrap()
                    .to_bytes(),
            ),
        ),
        (
            "chain_config_parse",
            "some-fields",
            br#"{"minBlockGapMs": 500, "logLevel": "kvvm=debug,info", "rpcMaxBatchLen": 10,
"mempoolMaxTxs": 100, "mempoolWaitingTtlMs": 1000, "gossipPeerBytesPerSec": 65536}"#
                .to_vec(),
        ),
    ]
}

/// One record of each kind, as a chunk answer carries them.
fn sync_records() -> Vec<SyncRecord> {
    let owner = signer(1).verifying_key().to_bytes();
    vec![
        SyncRecord::Entry {
            key: b"key".to_vec(),
            entry: Entry {
                value: b"value".to_vec(),
                owner,
                height: 7,
            },
        },
        SyncRecord::Entry {
            key: b"other".to_vec(),
            entry: Entry {
                value: vec![],
                owner,
                height: 9,
            },
        },
        SyncRecord::Nonce {
            account: owner,
            next_nonce: 3,
        },
        SyncRecord::Access {
            account: owner,
            role: Role::Admin,
            quota: None,
        },
    ]
}

fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds")
}

#[test]
fn committed_fuzz_seeds_are_current() {
    let write = std::env::var_os("KVVM_WRITE_FUZZ_SEEDS").is_some();
    for (target, name, bytes) in seeds() {
        let path = seeds_dir().join(target).join(name);
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
            continue;
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| {
            panic!("{}: {e}; run with KVVM_WRITE_FUZZ_SEEDS=1", path.display())
        });
        assert!(
            committed == bytes,
            "{} is stale; run with KVVM_WRITE_FUZZ_SEEDS=1",
            path.display()
        );
    }
}

#[test]
fn seeds_are_valid_inputs_of_their_formats() {
    let limits = ChainLimits::default();
    for (target, name, bytes) in seeds() {
        match target {
            "tx_decode" => {
                let tx = Transaction::decode(&bytes, usize::MAX).unwrap();
                assert_eq!(tx.verify_signature(), Ok(()), "{name}");
                assert_eq!(
                    tx.check_format(&CHAIN_ID, &limits).is_ok(),
                    name != "no-operations"
                );
            }
            "block_parse" => {
                let block = Block::decode(&bytes, usize::MAX).unwrap();
                assert_eq!(block.height, 1, "{name}");
            }
            "gossip" => {
                let (kind, payload) = bytes.split_first().unwrap();
                match *kind {
                    PUSH => assert_eq!(wire::decode_push(payload, 1 << 20).unwrap().txs.len(), 2),
                    PULL_REQUEST => {
                        wire::decode_pull_request(payload).unwrap();
                    }
                    _ => assert_eq!(
                        wire::decode_pull_response(payload, 1 << 20)
                            .unwrap()
                            .txs
                            .len(),
                        1
                    ),
                }
            }
            "genesis_parse" => {
                Genesis::parse(&bytes, GENESIS_UNIX).unwrap();
            }
            "state_sync" => {
                let (kind, payload) = bytes.split_first().unwrap();
                match *kind {
                    SYNC_REQUEST => {
                        sync_wire::decode_request(payload).unwrap();
                    }
                    SYNC_RESPONSE => {
                        sync_wire::decode_response(payload).unwrap();
                    }
                    _ => assert_eq!(StateSummary::from_bytes(payload).unwrap().records(), 4),
                }
            }
            _ => {
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap();
            }
        }
    }
}
