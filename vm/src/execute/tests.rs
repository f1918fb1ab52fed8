//! The executor on a real RocksDB: all-or-nothing transactions, and incremental lattice updates
//! that equal the lattice of the whole state computed from scratch.

use ed25519_dalek::SigningKey;
use kvvm_storage::{ChainStore, GenesisState};

use super::*;
use crate::tx::UnsignedTx;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn tx(seed: u8, nonce: u64, ops: Vec<Operation>) -> Transaction {
    let signer = key(seed);
    let unsigned = UnsignedTx {
        chain_id: [1; 32],
        sender: signer.verifying_key().to_bytes(),
        nonce,
        ops,
    };
    Transaction::new(unsigned.sign(&signer))
}

fn put(k: &str, v: &str) -> Operation {
    Operation::Put {
        key: k.as_bytes().to_vec(),
        value: v.as_bytes().to_vec(),
    }
}

fn delete(k: &str) -> Operation {
    Operation::Delete {
        key: k.as_bytes().to_vec(),
    }
}

/// A store holding one entry, "genesis" owned by account 1, and the view of it.
fn genesis_view(dir: &tempfile::TempDir) -> StateView {
    let store = ChainStore::open(&dir.path().join("db"), Default::default()).unwrap();
    let entry = Entry {
        value: b"g".to_vec(),
        owner: key(1).verifying_key().to_bytes(),
        height: 0,
    };
    let entries = vec![(b"genesis".to_vec(), entry)];
    let lattice = lattice_of(
        entries.iter().map(|(k, e)| (k.as_slice(), e)),
        std::iter::empty(),
    );
    store
        .write_genesis(GenesisState {
            genesis_hash: [9; 32],
            block_id: [8; 32],
            block_bytes: vec![1],
            entries,
            lattice: lattice.clone(),
        })
        .unwrap();
    StateView::new(Vec::new(), store, lattice)
}

#[test]
fn a_failing_operation_leaves_nothing_staged() {
    let dir = tempfile::tempdir().unwrap();
    let mut executor = BlockExecutor::new(genesis_view(&dir), 1);
    let root_before = executor.state_root();
    // The put would succeed alone; the delete of a missing key fails the whole transaction.
    let failing = tx(2, 0, vec![put("fresh", "x"), delete("missing")]);
    assert!(matches!(
        executor.apply(&failing),
        Err(ApplyError::Invalid(TxError::MissingKey { .. }))
    ));
    assert_eq!(executor.state_root(), root_before);
    // Writing a key owned by another account fails the same way.
    let foreign = tx(2, 0, vec![put("fresh", "x"), put("genesis", "mine")]);
    assert!(matches!(
        executor.apply(&foreign),
        Err(ApplyError::Invalid(TxError::NotOwner { .. }))
    ));
    let diff = executor.finish();
    assert!(diff.entries.is_empty() && diff.nonces.is_empty());
    assert_eq!(diff.lattice.checksum(), root_before);
}

#[test]
fn a_wrong_nonce_is_refused_before_any_write() {
    let dir = tempfile::tempdir().unwrap();
    let mut executor = BlockExecutor::new(genesis_view(&dir), 1);
    assert!(matches!(
        executor.apply(&tx(2, 1, vec![put("a", "1")])),
        Err(ApplyError::Invalid(TxError::WrongNonce {
            expected: 0,
            got: 1
        }))
    ));
    assert!(executor.finish().entries.is_empty());
}

#[test]
fn the_incremental_lattice_equals_the_lattice_of_the_whole_state() {
    let dir = tempfile::tempdir().unwrap();
    let mut executor = BlockExecutor::new(genesis_view(&dir), 7);
    let owner1 = key(1).verifying_key().to_bytes();
    let owner2 = key(2).verifying_key().to_bytes();
    executor
        .apply(&tx(2, 0, vec![put("a", "1"), put("b", "2")]))
        .unwrap();
    executor
        .apply(&tx(2, 1, vec![put("a", "3"), delete("b")]))
        .unwrap();
    executor
        .apply(&tx(1, 0, vec![put("genesis", "changed")]))
        .unwrap();
    executor.apply(&tx(2, 2, vec![put("b", "again")])).unwrap();
    let root = executor.state_root();
    let entry = |value: &str, owner| Entry {
        value: value.as_bytes().to_vec(),
        owner,
        height: 7,
    };
    let state = [
        (b"a".as_slice(), entry("3", owner2)),
        (b"b".as_slice(), entry("again", owner2)),
        (b"genesis".as_slice(), entry("changed", owner1)),
    ];
    let nonces = [(owner1, 1), (owner2, 3)];
    let expected = lattice_of(
        state.iter().map(|(k, e)| (*k, e)),
        nonces.iter().map(|(a, n)| (a, *n)),
    );
    assert_eq!(root, expected.checksum());
    let diff = executor.finish();
    assert_eq!(diff.nonces.get(&owner2), Some(&3));
    assert_eq!(diff.entries.len(), 3);
}
