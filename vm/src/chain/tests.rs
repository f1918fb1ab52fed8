//! The processing tree on a real RocksDB in a temporary directory: forks, accepting a child,
//! rejecting the preferred block, and the preferred state's fallback.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use kvvm_genesis::{Genesis, GenesisEntry};

use super::*;
use crate::builder::assemble;
use crate::node::open::open_chain;
use crate::tx::{Operation, Transaction, UnsignedTx};

const CHAIN_ID: [u8; 32] = [5; 32];
const NOW_MS: u64 = 1_800_000_000_000;

struct Fixture {
    chain: Chain,
    params: ChainParams,
    signatures: Arc<VerifiedSignatures>,
    _dir: tempfile::TempDir,
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn put(seed: u8, nonce: u64, k: &str, v: &str) -> Transaction {
    let signer = key(seed);
    let unsigned = UnsignedTx {
        chain_id: CHAIN_ID,
        sender: signer.verifying_key().to_bytes(),
        nonce,
        ops: vec![Operation::Put {
            key: k.as_bytes().to_vec(),
            value: v.as_bytes().to_vec(),
        }],
    };
    Transaction::new(unsigned.sign(&signer))
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = ChainStore::open(&dir.path().join("db"), Default::default()).unwrap();
    let mut genesis = Genesis::default_at(NOW_MS / 1000 - 60);
    genesis.entries.push(GenesisEntry {
        key: b"owned".to_vec(),
        value: b"by-1".to_vec(),
        owner: key(1).verifying_key().to_bytes(),
    });
    let params = ChainParams::new(CHAIN_ID, &genesis);
    let signatures = Arc::new(VerifiedSignatures::new(100, 100));
    let clock: Clock = Arc::new(|| NOW_MS);
    let chain = open_chain(
        store,
        &genesis,
        [9; 32],
        params.clone(),
        signatures.clone(),
        clock,
    )
    .unwrap();
    Fixture {
        chain,
        params,
        signatures,
        _dir: dir,
    }
}

impl Fixture {
    /// A block of `txs` on `parent`, not yet verified.
    fn block_on(&self, parent: &BlockId, txs: Vec<Transaction>) -> Block {
        let base = self.chain.base(parent).unwrap();
        let built = assemble(&self.params, &self.signatures, NOW_MS, base, txs).unwrap();
        assert!(built.invalid.is_empty(), "{:?}", built.invalid);
        (*built.block.unwrap()).clone()
    }

    fn value_at(&self, block: &BlockId, k: &str) -> Option<Vec<u8>> {
        let view = self.chain.base(block).unwrap().view;
        view.entry(k.as_bytes()).unwrap().map(|e| e.value)
    }
}

#[test]
fn forks_verify_independently_and_see_only_their_own_writes() {
    let mut f = fixture();
    let genesis = f.chain.last_accepted().id;
    let a = f.block_on(&genesis, vec![put(2, 0, "k", "from-a")]);
    let b = f.block_on(&genesis, vec![put(3, 0, "k", "from-b")]);
    f.chain.verify(a.clone()).unwrap();
    f.chain.verify(b.clone()).unwrap();
    assert_eq!(f.chain.processing_blocks().len(), 2);
    assert_eq!(f.value_at(&a.id, "k"), Some(b"from-a".to_vec()));
    assert_eq!(f.value_at(&b.id, "k"), Some(b"from-b".to_vec()));
    assert_eq!(
        f.value_at(&genesis, "k"),
        None,
        "verify never writes to disk"
    );
    assert_ne!(a.state_root, b.state_root);
}

#[test]
fn a_child_verified_on_a_processing_parent_stays_valid_after_the_parent_is_accepted() {
    let mut f = fixture();
    let genesis = f.chain.last_accepted().id;
    let parent = f.block_on(&genesis, vec![put(2, 0, "k", "1")]);
    f.chain.verify(parent.clone()).unwrap();
    let child = f.block_on(&parent.id, vec![put(2, 1, "k", "2")]);
    f.chain.verify(child.clone()).unwrap();
    assert!(matches!(
        f.chain.accept(&child.id),
        Err(ChainError::ParentNotAccepted { id, parent: p }) if id == child.id && p == parent.id
    ));
    f.chain.accept(&parent.id).unwrap();
    assert_eq!(f.value_at(&child.id, "k"), Some(b"2".to_vec()));
    let accepted = f.chain.accept(&child.id).unwrap();
    assert_eq!(accepted.id, child.id);
    assert_eq!(f.chain.last_accepted().id, child.id);
    assert!(f.chain.processing_blocks().is_empty());
    assert_eq!(f.value_at(&child.id, "k"), Some(b"2".to_vec()));
    // The same block accepted again (a replay after restart) is no error.
    assert_eq!(f.chain.accept(&parent.id).unwrap().id, parent.id);
}

#[test]
fn rejecting_the_preferred_block_moves_the_preference_to_its_parent() {
    let mut f = fixture();
    let genesis = f.chain.last_accepted().id;
    let a = f.block_on(&genesis, vec![put(2, 0, "k", "a")]);
    f.chain.verify(a.clone()).unwrap();
    f.chain.set_preference(a.id);
    assert_eq!(f.chain.preferred_base().unwrap().block.id, a.id);
    let rejected = f.chain.reject(&a.id).unwrap().unwrap();
    assert_eq!(rejected.id, a.id);
    assert_eq!(f.chain.preferred_base().unwrap().block.id, genesis);
    assert!(
        f.chain.block(&a.id).unwrap().is_none(),
        "rejected blocks are not served"
    );
    assert!(
        f.chain.reject(&a.id).unwrap().is_none(),
        "an unknown ID is no error"
    );
}

#[test]
fn a_preference_on_a_lost_branch_falls_back_to_the_accepted_state() {
    let mut f = fixture();
    let genesis = f.chain.last_accepted().id;
    let a = f.block_on(&genesis, vec![put(2, 0, "k", "a")]);
    let b = f.block_on(&genesis, vec![put(3, 0, "k", "b")]);
    f.chain.verify(a.clone()).unwrap();
    f.chain.verify(b.clone()).unwrap();
    let on_b = f.block_on(&b.id, vec![put(3, 1, "k", "b2")]);
    f.chain.verify(on_b.clone()).unwrap();
    f.chain.set_preference(on_b.id);
    f.chain.accept(&a.id).unwrap();
    // `on_b` is still processing, but its parent lost: nothing may be built on it.
    let base = f.chain.preferred_base().unwrap();
    assert_eq!(base.block.id, a.id);
    assert_eq!(
        base.view.entry(b"k").unwrap().map(|e| e.value),
        Some(b"a".to_vec())
    );
    // Its ancestry ends at the old last accepted block, which is no longer the chain's base.
    assert!(matches!(
        f.chain.base(&on_b.id),
        Err(ChainError::UnknownParent(id)) if id == genesis
    ));
}

#[test]
fn a_block_with_a_wrong_root_or_a_foreign_owner_write_is_refused_and_changes_nothing() {
    let mut f = fixture();
    let genesis = f.chain.last_accepted().clone();
    let mut tampered = f.block_on(&genesis.id, vec![put(2, 0, "k", "v")]);
    tampered = Block::new(
        tampered.parent,
        tampered.height,
        tampered.timestamp_ms,
        tampered.txs,
        [0; 32],
    );
    assert!(matches!(
        f.chain.verify(tampered),
        Err(ChainError::StateRootMismatch { .. })
    ));
    let stolen = Block::new(
        genesis.id,
        1,
        NOW_MS,
        vec![put(2, 0, "owned", "mine now")],
        genesis.state_root,
    );
    assert!(matches!(
        f.chain.verify(stolen),
        Err(ChainError::InvalidTx {
            index: 0,
            source: crate::error::TxError::NotOwner { .. },
            ..
        })
    ));
    assert!(f.chain.processing_blocks().is_empty());
}

#[test]
fn an_assembled_block_verified_with_its_diff_accepts_to_the_same_state_as_one_executed_again() {
    let mut reused = fixture();
    let mut executed = fixture();
    let genesis = reused.chain.last_accepted().id;
    let txs = vec![put(2, 0, "k", "v"), put(3, 0, "other", "w")];
    let base = reused.chain.base(&genesis).unwrap();
    let built = assemble(&reused.params, &reused.signatures, NOW_MS, base, txs).unwrap();
    let (block, diff) = (built.block.unwrap(), built.diff.unwrap());
    assert_eq!(diff.lattice.checksum(), block.state_root);

    reused
        .chain
        .verify_assembled(block.clone(), diff.clone())
        .unwrap();
    executed.chain.verify((*block).clone()).unwrap();
    for f in [&mut reused, &mut executed] {
        assert_eq!(f.value_at(&block.id, "k"), Some(b"v".to_vec()));
        f.chain.accept(&block.id).unwrap();
    }
    assert_eq!(
        reused.chain.last_accepted().state_root,
        executed.chain.last_accepted().state_root
    );
    assert_eq!(
        reused.value_at(&block.id, "other"),
        executed.value_at(&block.id, "other")
    );

    // The header is still checked: a diff does not let a block skip its height rule.
    let child_base = reused.chain.base(&block.id).unwrap();
    let child = assemble(
        &reused.params,
        &reused.signatures,
        NOW_MS,
        child_base,
        vec![put(2, 1, "k", "again")],
    )
    .unwrap();
    let (child, child_diff) = (child.block.unwrap(), child.diff.unwrap());
    let wrong_height = Arc::new(Block::new(
        child.parent,
        child.height + 1,
        child.timestamp_ms,
        child.txs.clone(),
        child.state_root,
    ));
    assert!(matches!(
        reused
            .chain
            .verify_assembled(wrong_height, child_diff.clone()),
        Err(ChainError::WrongHeight { .. })
    ));
    reused.chain.verify_assembled(child, child_diff).unwrap();
}

/// Accepts one block with one put by signer 2 (nonce `nonce`); returns it.
fn accept_next(f: &mut Fixture, nonce: u64) -> Arc<Block> {
    let tip = f.chain.last_accepted().id;
    let block = f.block_on(&tip, vec![put(2, nonce, &format!("k{nonce}"), "v")]);
    let id = block.id;
    f.chain.verify(block).unwrap();
    f.chain.accept(&id).unwrap()
}

#[test]
fn pruning_drops_old_bodies_and_their_transactions_but_keeps_heights_statuses_and_genesis() {
    let mut f = fixture();
    f.chain = f.chain.keeping_blocks(3);
    let genesis = f.chain.last_accepted().clone();
    let accepted: Vec<Arc<Block>> = (0..8).map(|nonce| accept_next(&mut f, nonce)).collect();
    let store = f.chain.store.clone();
    // After height 8, bodies 3 heights behind it (5, 6, 7) and the tip stay; 1–4 are pruned.
    assert_eq!(store.oldest_block_height().unwrap(), 5);
    for block in &accepted {
        let kept = block.height >= 5;
        assert_eq!(
            f.chain.block(&block.id).unwrap().is_some(),
            kept,
            "height {}",
            block.height
        );
        assert_eq!(
            store.tx_location(&block.txs[0].id.0).unwrap().is_some(),
            kept,
            "transaction index at height {}",
            block.height
        );
        assert_eq!(
            store.block_id_at_height(block.height).unwrap(),
            Some(block.id.0)
        );
        assert_eq!(
            store.block_status(block.id.as_bytes()).unwrap(),
            Some(BlockStatus::Accepted {
                height: block.height
            })
        );
    }
    assert!(
        f.chain.block(&genesis.id).unwrap().is_some(),
        "genesis is kept"
    );
    // The state is untouched by pruning: the first block's write is still there.
    assert_eq!(
        f.value_at(&f.chain.last_accepted().id, "k0"),
        Some(b"v".to_vec())
    );
}

#[test]
fn pruning_turned_on_late_catches_up_a_bounded_number_of_blocks_per_accept() {
    let mut f = fixture();
    let past = MAX_PRUNED_PER_ACCEPT + 6;
    for nonce in 0..past {
        accept_next(&mut f, nonce);
    }
    assert_eq!(
        f.chain.store.oldest_block_height().unwrap(),
        1,
        "keeps all by default"
    );
    f.chain = f.chain.keeping_blocks(3);
    accept_next(&mut f, past);
    assert_eq!(
        f.chain.store.oldest_block_height().unwrap(),
        1 + MAX_PRUNED_PER_ACCEPT
    );
    accept_next(&mut f, past + 1);
    // Caught up: the last accepted height minus 3.
    let tip = f.chain.last_accepted().height;
    assert_eq!(f.chain.store.oldest_block_height().unwrap(), tip - 3);
}
