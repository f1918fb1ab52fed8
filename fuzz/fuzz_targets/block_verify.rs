//! BlockVerify on a small state in a real RocksDB: a structured input describes up to four blocks
//! (parents, heights, timestamps, transactions with valid or damaged signatures, right or wrong
//! state roots; puts, deletes, role grants and quota overrides), which the target signs and
//! encodes, so the fuzzer reaches execution and the state-root check instead of stopping at
//! decoding. The input also picks the chain: open, or restricted with one admin and a small
//! default quota, so the access rules and quota limits are reached too.
//!
//! Asserts, for every block: a refused block changes nothing (the processing tree, the preference,
//! the last accepted block and the state on disk are as before); a verified block's state is the
//! one its header commits to; and equal inputs give equal verdicts — three chains verify the same
//! blocks, two with fresh signature caches and one with a cache another has filled.
#![no_main]

use std::sync::Arc;

use arbitrary::Arbitrary;
use kvvm::access::{Quota, Role};
use kvvm::block::Block;
use kvvm::chain::Chain;
use kvvm::execute::BlockExecutor;
use kvvm::ids::BlockId;
use kvvm::tx::{Operation, Transaction, UnsignedTx, VerifiedSignatures};
use kvvm_fuzz::{
    fresh_chain, genesis_store_handle, params, signer, CHAIN_ID, GENESIS_KEYS, NOW_MS,
};
use kvvm_genesis::AccessMode;
use libfuzzer_sys::fuzz_target;

const MAX_BLOCKS: usize = 4;
/// Past the chain's limit of 8, so the limit is reached.
const MAX_TXS: usize = 10;
/// Past the chain's limit of 4.
const MAX_OPS: usize = 6;

#[derive(Arbitrary, Debug)]
struct Input {
    restricted: bool,
    blocks: Vec<BlockSpec>,
}

impl Input {
    fn mode(&self) -> AccessMode {
        if self.restricted {
            AccessMode::Restricted
        } else {
            AccessMode::Open
        }
    }
}

#[derive(Arbitrary, Debug)]
struct BlockSpec {
    /// 0: the last accepted block; 255: an unknown block; k: this input's (k-1 mod n)-th block.
    parent: u8,
    height: HeightChoice,
    timestamp: TimeChoice,
    txs: Vec<TxSpec>,
    root: RootChoice,
}

#[derive(Arbitrary, Debug)]
enum HeightChoice {
    Next,
    Offset(i8),
}

#[derive(Arbitrary, Debug)]
enum TimeChoice {
    SameAsParent,
    AfterParent(u16),
    BeforeParent(u16),
    /// Past the allowed drift ahead of the clock.
    AheadOfNow(u32),
}

#[derive(Arbitrary, Debug)]
enum RootChoice {
    /// The root of executing the block's transactions on its parent's state.
    Correct,
    /// The correct root with one bit flipped.
    FlipBit(u8),
    Raw([u8; 32]),
}

#[derive(Arbitrary, Debug)]
struct TxSpec {
    signer: u8,
    nonce: u8,
    wrong_chain: bool,
    ops: Vec<OpSpec>,
    signature: SignatureChoice,
    /// Put the block's previous transaction again instead of this one.
    repeat_previous: bool,
}

#[derive(Arbitrary, Debug)]
enum SignatureChoice {
    Valid,
    FlipBit(u16),
    Raw([u8; 64]),
    /// Signed by another signer than the sender.
    OtherSigner(u8),
}

#[derive(Arbitrary, Debug)]
enum OpSpec {
    Put {
        key: KeyChoice,
        value: Vec<u8>,
    },
    Delete {
        key: KeyChoice,
    },
    SetRole {
        account: AccountChoice,
        role: u8,
    },
    SetQuota {
        account: AccountChoice,
        /// `None` returns the account to the chain's default.
        quota: Option<(u8, u8)>,
    },
}

#[derive(Arbitrary, Debug)]
enum AccountChoice {
    /// One of the signers, so a grant can be used by a later transaction.
    Signer(u8),
    Raw([u8; 32]),
}

impl AccountChoice {
    fn id(&self) -> [u8; 32] {
        match self {
            AccountChoice::Signer(i) => signer(*i as usize).verifying_key().to_bytes(),
            AccountChoice::Raw(raw) => *raw,
        }
    }
}

fn role(choice: u8) -> Role {
    match choice % 4 {
        0 => Role::None,
        1 => Role::Enabled,
        2 => Role::Manager,
        _ => Role::Admin,
    }
}

#[derive(Arbitrary, Debug)]
enum KeyChoice {
    /// A genesis key, or one of two free keys.
    Known(u8),
    Raw(Vec<u8>),
}

impl KeyChoice {
    fn bytes(&self) -> Vec<u8> {
        const FREE: [&[u8]; 2] = [b"e", b"f"];
        match self {
            KeyChoice::Known(i) => {
                let i = *i as usize % (GENESIS_KEYS.len() + FREE.len());
                GENESIS_KEYS
                    .iter()
                    .chain(FREE.iter())
                    .nth(i)
                    .unwrap()
                    .to_vec()
            }
            KeyChoice::Raw(bytes) => bytes.clone(),
        }
    }
}

fn transaction(spec: &TxSpec) -> Transaction {
    let sender = signer(spec.signer as usize);
    let ops = spec
        .ops
        .iter()
        .take(MAX_OPS)
        .map(|op| match op {
            OpSpec::Put { key, value } => Operation::Put {
                key: key.bytes(),
                value: value.clone(),
            },
            OpSpec::Delete { key } => Operation::Delete { key: key.bytes() },
            OpSpec::SetRole { account, role: r } => Operation::SetRole {
                account: account.id(),
                role: role(*r),
            },
            OpSpec::SetQuota { account, quota } => Operation::SetQuota {
                account: account.id(),
                quota: quota.map(|(keys, bytes)| Quota {
                    max_keys: u64::from(keys),
                    max_bytes: u64::from(bytes),
                }),
            },
        })
        .collect();
    let unsigned = UnsignedTx {
        chain_id: if spec.wrong_chain { [8; 32] } else { CHAIN_ID },
        sender: sender.verifying_key().to_bytes(),
        nonce: u64::from(spec.nonce),
        ops,
    };
    let mut signed = match spec.signature {
        SignatureChoice::OtherSigner(other) => unsigned.sign(signer(other as usize)),
        _ => unsigned.sign(sender),
    };
    match spec.signature {
        SignatureChoice::FlipBit(bit) => {
            signed.signature[(bit as usize / 8) % 64] ^= 1 << (bit % 8);
        }
        SignatureChoice::Raw(raw) => signed.signature = raw,
        SignatureChoice::Valid | SignatureChoice::OtherSigner(_) => {}
    }
    Transaction::new(signed)
}

/// The root of `txs` executed on `parent`'s state, when the chain knows that state.
fn executed_root(
    mode: AccessMode,
    chain: &mut Chain,
    parent: &BlockId,
    height: u64,
    txs: &[Transaction],
) -> [u8; 32] {
    chain.set_preference(*parent);
    let Ok(base) = chain.preferred_base() else {
        return [0; 32];
    };
    if base.block.id != *parent {
        return [0; 32];
    }
    let mut executor = BlockExecutor::new(base.view, height, params(mode).access);
    for tx in txs {
        if executor.apply(tx).is_err() {
            break;
        }
    }
    executor.state_root()
}

/// Encodes the input's blocks; each correct root is computed on `chain`, which verifies the
/// blocks as they come so later blocks can build on earlier ones. Returns them with its verdicts.
fn build_blocks(input: &Input, chain: &mut Chain) -> (Vec<Block>, Vec<Result<BlockId, String>>) {
    let genesis = chain.last_accepted().clone();
    let mut blocks: Vec<Block> = Vec::new();
    let mut verdicts = Vec::new();
    for spec in input.blocks.iter().take(MAX_BLOCKS) {
        let (parent_id, parent_height, parent_ms) = match spec.parent {
            0 => (genesis.id, genesis.height, genesis.timestamp_ms),
            255 => (BlockId([0xab; 32]), genesis.height, genesis.timestamp_ms),
            k if !blocks.is_empty() => {
                let p = &blocks[(k as usize - 1) % blocks.len()];
                (p.id, p.height, p.timestamp_ms)
            }
            _ => (genesis.id, genesis.height, genesis.timestamp_ms),
        };
        let height = match spec.height {
            HeightChoice::Next => parent_height + 1,
            HeightChoice::Offset(d) => parent_height.saturating_add_signed(i64::from(d)),
        };
        let timestamp_ms = match spec.timestamp {
            TimeChoice::SameAsParent => parent_ms,
            TimeChoice::AfterParent(ms) => (parent_ms + u64::from(ms)).min(NOW_MS),
            TimeChoice::BeforeParent(ms) => parent_ms.saturating_sub(u64::from(ms) + 1),
            TimeChoice::AheadOfNow(ms) => {
                NOW_MS + kvvm::chain::MAX_FUTURE_DRIFT_MS + 1 + u64::from(ms)
            }
        };
        let mut txs: Vec<Transaction> = Vec::new();
        for spec in spec.txs.iter().take(MAX_TXS) {
            let tx = match txs.last() {
                Some(previous) if spec.repeat_previous => previous.clone(),
                _ => transaction(spec),
            };
            txs.push(tx);
        }
        let correct = executed_root(input.mode(), chain, &parent_id, height, &txs);
        let state_root = match spec.root {
            RootChoice::Correct => correct,
            RootChoice::FlipBit(bit) => {
                let mut root = correct;
                root[(bit as usize / 8) % 32] ^= 1 << (bit % 8);
                root
            }
            RootChoice::Raw(raw) => raw,
        };
        let block = Block::new(parent_id, height, timestamp_ms, txs, state_root);
        verdicts.push(
            chain
                .verify(block.clone())
                .map(|b| b.id)
                .map_err(|e| e.to_string()),
        );
        blocks.push(block);
    }
    (blocks, verdicts)
}

/// Everything a refused block must leave as it was.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    processing: Vec<BlockId>,
    preferred: BlockId,
    last_accepted: BlockId,
    stored_tip: Option<([u8; 32], u64)>,
    stored_lattice: [u8; 32],
}

fn snapshot(mode: AccessMode, chain: &Chain) -> Snapshot {
    let mut processing: Vec<BlockId> = chain.processing_blocks().iter().map(|b| b.id).collect();
    processing.sort_by_key(|id| id.0);
    let store = genesis_store_handle(mode);
    Snapshot {
        processing,
        preferred: chain.preferred_base().expect("a preferred base").block.id,
        last_accepted: chain.last_accepted().id,
        stored_tip: store.last_accepted().expect("reading the stored tip"),
        stored_lattice: store
            .lattice()
            .expect("reading the stored lattice")
            .checksum(),
    }
}

/// Verifies `blocks` in order on `chain`, checking the per-block invariants; returns the verdicts.
fn verify_all(
    mode: AccessMode,
    chain: &mut Chain,
    blocks: &[Block],
) -> Vec<Result<BlockId, String>> {
    let mut verdicts = Vec::new();
    for block in blocks {
        // What the node hands BlockVerify: bytes it parsed before.
        let parsed = Block::decode(&block.bytes, usize::MAX).expect("our own block decodes");
        let before = snapshot(mode, chain);
        let verdict = chain
            .verify(parsed)
            .map(|b| b.id)
            .map_err(|e| e.to_string());
        if verdict.is_err() {
            assert_eq!(
                snapshot(mode, chain),
                before,
                "a refused block changed the chain: {verdict:?}"
            );
        } else if block.height > chain.last_accepted().height {
            let preferred = before.preferred;
            chain.set_preference(block.id);
            let base = chain.preferred_base().expect("a preferred base");
            assert_eq!(
                base.block.id, block.id,
                "a verified block cannot be built on"
            );
            assert_eq!(
                base.view.lattice().checksum(),
                block.state_root,
                "a verified block's state is not the state its header commits to"
            );
            chain.set_preference(preferred);
        }
        verdicts.push(verdict);
    }
    verdicts
}

fuzz_target!(|input: Input| {
    let mode = input.mode();
    let mut builder = fresh_chain(mode, Arc::new(VerifiedSignatures::new(64, 64)));
    let (blocks, built_verdicts) = build_blocks(&input, &mut builder);

    let signatures = Arc::new(VerifiedSignatures::new(64, 64));
    let mut first = fresh_chain(mode, signatures.clone());
    let first_verdicts = verify_all(mode, &mut first, &blocks);
    // The same blocks again, on a chain whose signature cache the first run filled.
    let mut second = fresh_chain(mode, signatures);
    let second_verdicts = verify_all(mode, &mut second, &blocks);
    assert_eq!(
        first_verdicts, second_verdicts,
        "a warm signature cache changed a verdict"
    );
    assert_eq!(
        built_verdicts, first_verdicts,
        "equal inputs gave different verdicts"
    );
});
