//! The executor on a real RocksDB: all-or-nothing transactions, and incremental lattice updates
//! that equal the lattice of the whole state computed from scratch.

use ed25519_dalek::SigningKey;
use kvvm_storage::{AcceptBatch, ChainStore, GenesisState};

use super::*;
use crate::access::{Quota, Role};
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
    genesis_view_with(dir, Vec::new())
}

/// As [`genesis_view`], with `accounts` (whose access rules join the lattice) besides account 1's
/// usage of the genesis entry.
fn genesis_view_with(dir: &tempfile::TempDir, accounts: Vec<(AccountId, Account)>) -> StateView {
    let store = ChainStore::open(&dir.path().join("db"), Default::default()).unwrap();
    let entry = Entry {
        value: b"g".to_vec(),
        owner: key(1).verifying_key().to_bytes(),
        height: 0,
    };
    let owner = entry.owner;
    let entries = vec![(b"genesis".to_vec(), entry)];
    let mut lattice = lattice_of(
        entries.iter().map(|(k, e)| (k.as_slice(), e)),
        std::iter::empty(),
    );
    let mut accounts = accounts;
    let usage = Usage::of_entry(b"genesis", b"g");
    match accounts.iter_mut().find(|(a, _)| *a == owner) {
        Some((_, record)) => record.usage = usage,
        None => accounts.push((
            owner,
            Account {
                usage,
                ..Account::default()
            },
        )),
    }
    for (account, record) in &accounts {
        if let Some(element) = account_access_element(account, record) {
            lattice.add(&element);
        }
    }
    store
        .write_genesis(GenesisState {
            genesis_hash: [9; 32],
            block_id: [8; 32],
            block_bytes: vec![1],
            entries,
            accounts,
            lattice: lattice.clone(),
        })
        .unwrap();
    StateView::new(Vec::new(), store, lattice)
}

#[test]
fn a_failing_operation_leaves_nothing_staged() {
    let dir = tempfile::tempdir().unwrap();
    let mut executor = BlockExecutor::new(genesis_view(&dir), 1, AccessRules::default());
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
    let mut executor = BlockExecutor::new(genesis_view(&dir), 1, AccessRules::default());
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
    let mut executor = BlockExecutor::new(genesis_view(&dir), 7, AccessRules::default());
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

fn account_of(seed: u8) -> AccountId {
    key(seed).verifying_key().to_bytes()
}

fn set_role(seed: u8, role: Role) -> Operation {
    Operation::SetRole {
        account: account_of(seed),
        role,
    }
}

fn set_quota(seed: u8, quota: Option<Quota>) -> Operation {
    Operation::SetQuota {
        account: account_of(seed),
        quota,
    }
}

const RESTRICTED: AccessRules = AccessRules {
    restricted: true,
    default_quota: None,
};

/// A restricted chain whose admin is account 1.
fn restricted_view(dir: &tempfile::TempDir) -> StateView {
    let admin = Account {
        role: Role::Admin,
        ..Account::default()
    };
    genesis_view_with(dir, vec![(account_of(1), admin)])
}

fn invalid(result: Result<(), ApplyError>) -> TxError {
    match result {
        Err(ApplyError::Invalid(e)) => e,
        other => panic!("expected an invalid transaction, got {other:?}"),
    }
}

/// Accepts what `executor` did at height 1 into `view`'s store, and checks that the store, recounted
/// from scratch, agrees with the executor's lattice and usage: what every node recomputes.
fn accept_and_recount(view: &StateView, executor: BlockExecutor) -> ChainStore {
    let diff = executor.finish();
    let store = view.store.clone();
    store
        .accept(AcceptBatch {
            block_id: [1; 32],
            height: 1,
            block_bytes: vec![2],
            entry_writes: diff.entries.clone().into_iter().collect(),
            nonce_writes: diff.nonces.clone().into_iter().collect(),
            account_writes: diff.accounts.clone().into_iter().collect(),
            tx_ids: vec![],
            lattice: diff.lattice.clone(),
            pruned: vec![],
        })
        .unwrap();
    assert_eq!(store.recompute_lattice().unwrap(), diff.lattice);
    assert_eq!(
        store.kept_usage().unwrap(),
        store.usage_from_entries().unwrap()
    );
    store
}

#[test]
fn on_a_restricted_chain_a_stranger_is_refused_until_granted_and_after_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let view = restricted_view(&dir);
    let mut executor = BlockExecutor::new(view.clone(), 1, RESTRICTED);
    let root = executor.state_root();
    assert_eq!(
        invalid(executor.apply(&tx(2, 0, vec![put("a", "1")]))),
        TxError::NotAllowed
    );
    assert_eq!(
        executor.state_root(),
        root,
        "a refused transaction changes nothing"
    );
    executor
        .apply(&tx(1, 0, vec![set_role(2, Role::Enabled)]))
        .unwrap();
    executor.apply(&tx(2, 0, vec![put("a", "1")])).unwrap();
    executor
        .apply(&tx(1, 1, vec![set_role(2, Role::None)]))
        .unwrap();
    assert_eq!(
        invalid(executor.apply(&tx(2, 1, vec![put("b", "1")]))),
        TxError::NotAllowed
    );
    // The same transactions on an open chain pass without any role.
    let open_dir = tempfile::tempdir().unwrap();
    let mut open = BlockExecutor::new(genesis_view(&open_dir), 1, AccessRules::default());
    open.apply(&tx(2, 0, vec![put("a", "1")])).unwrap();

    let store = accept_and_recount(&view, executor);
    assert_eq!(store.account(&account_of(2)).unwrap().role, Role::None);
    assert_eq!(
        store.account(&account_of(2)).unwrap().usage,
        Usage::of_entry(b"a", b"1")
    );
    assert_eq!(store.entry(b"a").unwrap().unwrap().owner, account_of(2));
}

#[test]
fn managers_enable_writers_but_grant_nothing_higher_and_writers_grant_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let view = restricted_view(&dir);
    let mut executor = BlockExecutor::new(view.clone(), 1, RESTRICTED);
    executor
        .apply(&tx(1, 0, vec![set_role(2, Role::Manager)]))
        .unwrap();
    executor
        .apply(&tx(2, 0, vec![set_role(3, Role::Enabled)]))
        .unwrap();
    assert!(matches!(
        invalid(executor.apply(&tx(2, 1, vec![set_role(4, Role::Manager)]))),
        TxError::RoleChangeDenied { .. }
    ));
    assert!(matches!(
        invalid(executor.apply(&tx(2, 1, vec![set_role(1, Role::None)]))),
        TxError::RoleChangeDenied { .. }
    ));
    assert!(matches!(
        invalid(executor.apply(&tx(3, 0, vec![set_role(4, Role::Enabled)]))),
        TxError::RoleChangeDenied { .. }
    ));
    assert_eq!(
        invalid(executor.apply(&tx(2, 1, vec![set_quota(3, None)]))),
        TxError::QuotaChangeDenied(Role::Manager)
    );
    assert_eq!(
        invalid(executor.apply(&tx(1, 1, vec![set_role(1, Role::Enabled)]))),
        TxError::OwnRoleChange
    );
    // A failing operation after a role change undoes the change with the rest of the transaction.
    assert!(matches!(
        invalid(executor.apply(&tx(
            1,
            1,
            vec![
                set_role(4, Role::Enabled),
                put("genesis", "x"),
                delete("absent")
            ]
        ))),
        TxError::MissingKey { .. }
    ));
    let store = accept_and_recount(&view, executor);
    assert_eq!(store.account(&account_of(2)).unwrap().role, Role::Manager);
    assert_eq!(store.account(&account_of(3)).unwrap().role, Role::Enabled);
    assert_eq!(store.account(&account_of(4)).unwrap().role, Role::None);
}

#[test]
fn a_quota_is_reached_refuses_growth_and_a_delete_frees_it() {
    let dir = tempfile::tempdir().unwrap();
    let view = restricted_view(&dir);
    // Two keys, and bytes for "k1"+"12345" and "k2"+"1": 7 + 3 = 10.
    let rules = AccessRules {
        restricted: false,
        default_quota: Some(Quota {
            max_keys: 2,
            max_bytes: 10,
        }),
    };
    let mut executor = BlockExecutor::new(view.clone(), 1, rules);
    executor
        .apply(&tx(2, 0, vec![put("k1", "12345"), put("k2", "1")]))
        .unwrap();
    assert!(matches!(
        invalid(executor.apply(&tx(2, 1, vec![put("k3", "")]))),
        TxError::QuotaExceeded {
            keys: 3,
            max_keys: 2,
            ..
        }
    ));
    assert!(matches!(
        invalid(executor.apply(&tx(2, 1, vec![put("k2", "12")]))),
        TxError::QuotaExceeded {
            bytes: 11,
            max_bytes: 10,
            ..
        }
    ));
    // Replacing a key within the same transaction's net usage passes: delete k2, write k3.
    executor
        .apply(&tx(2, 1, vec![delete("k2"), put("k3", "")]))
        .unwrap();
    executor.apply(&tx(2, 2, vec![delete("k1")])).unwrap();
    executor
        .apply(&tx(2, 3, vec![put("k4", "123456")]))
        .unwrap();
    // An admin's override for account 2 applies at once; then the default again.
    executor
        .apply(&tx(
            1,
            0,
            vec![set_quota(
                2,
                Some(Quota {
                    max_keys: 1,
                    max_bytes: 100,
                }),
            )],
        ))
        .unwrap();
    assert!(matches!(
        invalid(executor.apply(&tx(2, 4, vec![put("k5", "")]))),
        TxError::QuotaExceeded { max_keys: 1, .. }
    ));
    // Over a lowered quota, deleting still works.
    executor.apply(&tx(2, 4, vec![delete("k3")])).unwrap();
    let store = accept_and_recount(&view, executor);
    let record = store.account(&account_of(2)).unwrap();
    assert_eq!(
        record.usage,
        Usage {
            keys: 1,
            bytes: 2 + 6
        }
    );
    assert_eq!(record.quota.map(|q| q.max_keys), Some(1));
}

#[test]
fn admission_applies_roles_ownership_and_quota_but_not_the_nonce_or_absent_deletes() {
    let dir = tempfile::tempdir().unwrap();
    let rules = AccessRules {
        restricted: true,
        default_quota: Some(Quota {
            max_keys: 1,
            max_bytes: 100,
        }),
    };
    let executor = BlockExecutor::new(restricted_view(&dir), 0, rules);
    let admissible = |t: &Transaction| executor.check_admissible(t);
    assert_eq!(
        invalid(admissible(&tx(2, 5, vec![put("a", "1")]))),
        TxError::NotAllowed
    );
    // The admin (account 1) owns "genesis"; a nonce ahead and an absent delete do not refuse.
    admissible(&tx(1, 9, vec![delete("not-yet-written")])).unwrap();
    assert!(matches!(
        invalid(admissible(&tx(1, 0, vec![put("x", "1")]))),
        TxError::QuotaExceeded { keys: 2, .. }
    ));
    assert!(matches!(
        invalid(admissible(&tx(1, 0, vec![set_role(1, Role::None)]))),
        TxError::OwnRoleChange
    ));
    admissible(&tx(1, 0, vec![set_role(2, Role::Enabled)])).unwrap();
}
