use tempfile::TempDir;

use super::*;
use crate::lattice::{entry_element, nonce_element};

const ALICE: AccountId = [0xa1; 32];
const BOB: AccountId = [0xb0; 32];

fn block_id(height: u64) -> BlockId {
    *blake3::hash(&height.to_le_bytes()).as_bytes()
}

fn entry(value: &[u8], owner: AccountId, height: u64) -> Entry {
    Entry {
        value: value.to_vec(),
        owner,
        height,
    }
}

fn element(key: &[u8], e: &Entry) -> LtHash {
    entry_element(key, &e.value, &e.owner, e.height)
}

fn genesis(entries: Vec<(Vec<u8>, Entry)>) -> GenesisState {
    let mut lattice = LtHash::identity();
    for (key, e) in &entries {
        lattice.add(&element(key, e));
    }
    GenesisState {
        genesis_hash: [7; 32],
        block_id: block_id(0),
        block_bytes: b"genesis block".to_vec(),
        entries,
        accounts: vec![],
        lattice,
    }
}

fn open(dir: &TempDir) -> ChainStore {
    ChainStore::open(dir.path(), StoreOptions::default()).unwrap()
}

fn open_with_window(dir: &TempDir, rejected_window: u64) -> ChainStore {
    let options = StoreOptions {
        rejected_window,
        ..StoreOptions::default()
    };
    ChainStore::open(dir.path(), options).unwrap()
}

/// An accept that changes nothing but the block pointer, for tests about heights and pruning.
fn empty_accept(store: &ChainStore, height: u64) {
    accept_entries(store, height, vec![]);
}

/// An accept that writes `entry_writes` and nothing else (the lattice is left as it was).
fn accept_entries(store: &ChainStore, height: u64, entry_writes: Vec<(Vec<u8>, Option<Entry>)>) {
    store
        .accept(AcceptBatch {
            block_id: block_id(height),
            height,
            block_bytes: format!("block {height}").into_bytes(),
            entry_writes,
            nonce_writes: vec![],
            account_writes: vec![],
            tx_ids: vec![],
            lattice: store.lattice().unwrap(),
            pruned: vec![],
        })
        .unwrap();
}

#[test]
fn fresh_store_is_uninitialized() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    assert!(!store.is_initialized().unwrap());
    assert_eq!(store.last_accepted().unwrap(), None);
    assert_eq!(store.genesis_hash().unwrap(), None);
    assert_eq!(store.lattice().unwrap(), LtHash::identity());
    assert_eq!(store.nonce(&ALICE).unwrap(), 0);
    assert!(matches!(
        store.accept(AcceptBatch {
            block_id: block_id(1),
            height: 1,
            block_bytes: vec![],
            entry_writes: vec![],
            nonce_writes: vec![],
            account_writes: vec![],
            tx_ids: vec![],
            lattice: LtHash::identity(),
            pruned: vec![],
        }),
        Err(StorageError::NotInitialized)
    ));
    store.health().unwrap();
}

#[test]
fn genesis_survives_reopen() {
    let dir = TempDir::new().unwrap();
    let g = genesis(vec![
        (b"a".to_vec(), entry(b"1", ALICE, 0)),
        (b"b".to_vec(), entry(b"2", BOB, 0)),
    ]);
    let expected_root = g.lattice.checksum();
    {
        let store = open(&dir);
        store.write_genesis(g.clone()).unwrap();
    }
    let store = open(&dir);
    assert!(store.is_initialized().unwrap());
    assert_eq!(store.genesis_hash().unwrap(), Some([7; 32]));
    assert_eq!(store.last_accepted().unwrap(), Some((block_id(0), 0)));
    assert_eq!(store.block_id_at_height(0).unwrap(), Some(block_id(0)));
    assert_eq!(
        store.block(&block_id(0)).unwrap(),
        Some(b"genesis block".to_vec())
    );
    assert_eq!(
        store.block_status(&block_id(0)).unwrap(),
        Some(BlockStatus::Accepted { height: 0 })
    );
    assert_eq!(store.entry(b"a").unwrap(), Some(entry(b"1", ALICE, 0)));
    assert_eq!(store.entry(b"b").unwrap(), Some(entry(b"2", BOB, 0)));
    assert_eq!(store.lattice().unwrap().checksum(), expected_root);
    assert_eq!(store.recompute_lattice().unwrap().checksum(), expected_root);
}

#[test]
fn genesis_cannot_be_written_twice() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    store.write_genesis(genesis(vec![])).unwrap();
    let mut other = genesis(vec![(b"x".to_vec(), entry(b"y", ALICE, 0))]);
    other.genesis_hash = [9; 32];
    assert!(matches!(
        store.write_genesis(other),
        Err(StorageError::AlreadyInitialized)
    ));
    assert_eq!(store.genesis_hash().unwrap(), Some([7; 32]));
    assert_eq!(store.entry(b"x").unwrap(), None);
}

#[test]
fn accept_persists_the_whole_block_effect() {
    let dir = TempDir::new().unwrap();
    let g = genesis(vec![
        (b"keep".to_vec(), entry(b"k", ALICE, 0)),
        (b"gone".to_vec(), entry(b"g", ALICE, 0)),
        (b"change".to_vec(), entry(b"old", BOB, 0)),
    ]);
    let new_change = entry(b"new", BOB, 1);
    let added = entry(b"fresh", ALICE, 1);
    let mut lattice = g.lattice.clone();
    lattice.sub(&element(b"gone", &entry(b"g", ALICE, 0)));
    lattice.sub(&element(b"change", &entry(b"old", BOB, 0)));
    lattice.add(&element(b"change", &new_change));
    lattice.add(&element(b"added", &added));
    lattice.add(&nonce_element(&ALICE, 1));
    lattice.add(&nonce_element(&BOB, 3));
    {
        let store = open(&dir);
        store.write_genesis(g).unwrap();
        store
            .accept(AcceptBatch {
                block_id: block_id(1),
                height: 1,
                block_bytes: b"block one".to_vec(),
                entry_writes: vec![
                    (b"gone".to_vec(), None),
                    (b"change".to_vec(), Some(new_change.clone())),
                    (b"added".to_vec(), Some(added.clone())),
                ],
                nonce_writes: vec![(ALICE, 1), (BOB, 3)],
                account_writes: vec![],
                tx_ids: vec![[0x71; 32], [0x72; 32]],
                lattice: lattice.clone(),
                pruned: vec![],
            })
            .unwrap();
    }

    let store = open(&dir);
    assert_eq!(store.last_accepted().unwrap(), Some((block_id(1), 1)));
    assert_eq!(
        store.block(&block_id(1)).unwrap(),
        Some(b"block one".to_vec())
    );
    assert_eq!(
        store.tx_location(&[0x71; 32]).unwrap(),
        Some((1, block_id(1)))
    );
    assert_eq!(
        store.tx_location(&[0x72; 32]).unwrap(),
        Some((1, block_id(1)))
    );
    assert_eq!(store.tx_location(&[0x73; 32]).unwrap(), None);
    assert_eq!(store.block_id_at_height(1).unwrap(), Some(block_id(1)));
    assert_eq!(
        store.block_status(&block_id(1)).unwrap(),
        Some(BlockStatus::Accepted { height: 1 })
    );
    assert_eq!(store.entry(b"gone").unwrap(), None);
    assert_eq!(
        store
            .entries(&[b"keep", b"change", b"added", b"gone"])
            .unwrap(),
        vec![
            Some(entry(b"k", ALICE, 0)),
            Some(new_change),
            Some(added),
            None
        ]
    );
    assert_eq!(store.nonce(&ALICE).unwrap(), 1);
    assert_eq!(store.nonce(&BOB).unwrap(), 3);
    assert_eq!(store.nonce(&[0; 32]).unwrap(), 0);
    assert_eq!(store.lattice().unwrap(), lattice);
    assert_eq!(store.recompute_lattice().unwrap(), lattice);
}

#[test]
fn accept_out_of_height_order_is_refused_and_writes_nothing() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    store.write_genesis(genesis(vec![])).unwrap();
    let lattice_before = store.lattice().unwrap();
    for height in [0, 2, 5] {
        let result = store.accept(AcceptBatch {
            block_id: block_id(height),
            height,
            block_bytes: b"skipping".to_vec(),
            entry_writes: vec![(b"k".to_vec(), Some(entry(b"v", ALICE, height)))],
            nonce_writes: vec![(ALICE, 1)],
            account_writes: vec![],
            tx_ids: vec![],
            lattice: LtHash::of_element(b"anything"),
            pruned: vec![],
        });
        assert!(
            matches!(result, Err(StorageError::HeightGap { expected: 1, got }) if got == height),
            "{result:?}"
        );
    }
    assert_eq!(store.last_accepted().unwrap(), Some((block_id(0), 0)));
    assert_eq!(store.block(&block_id(2)).unwrap(), None);
    assert_eq!(store.block(&block_id(5)).unwrap(), None);
    assert_eq!(store.block_id_at_height(2).unwrap(), None);
    assert_eq!(store.entry(b"k").unwrap(), None);
    assert_eq!(store.nonce(&ALICE).unwrap(), 0);
    assert_eq!(store.lattice().unwrap(), lattice_before);
    // Block 0's bytes were not overwritten by the refused height-0 batch.
    assert_eq!(
        store.block(&block_id(0)).unwrap(),
        Some(b"genesis block".to_vec())
    );
}

#[test]
fn rejected_statuses_are_pruned_once_past_the_window() {
    let dir = TempDir::new().unwrap();
    let store = open_with_window(&dir, 2);
    store.write_genesis(genesis(vec![])).unwrap();
    let rejected_at_1 = [0xe1; 32];
    let rejected_at_2 = [0xe2; 32];
    store.record_rejected(&rejected_at_1, 1).unwrap();
    store.record_rejected(&rejected_at_2, 2).unwrap();
    assert_eq!(
        store.block_status(&rejected_at_1).unwrap(),
        Some(BlockStatus::Rejected { height: 1 })
    );

    for height in 1..=3 {
        empty_accept(&store, height);
    }
    // Accepted height 3: height 1 is exactly `window` behind, so it is kept.
    assert_eq!(
        store.block_status(&rejected_at_1).unwrap(),
        Some(BlockStatus::Rejected { height: 1 })
    );
    assert_eq!(store.raw_keys(cf::REJECTED_BY_HEIGHT).len(), 2);

    empty_accept(&store, 4);
    // Height 1 is now window + 1 behind and goes; height 2 sits exactly at the window and stays.
    assert_eq!(store.block_status(&rejected_at_1).unwrap(), None);
    assert_eq!(
        store.block_status(&rejected_at_2).unwrap(),
        Some(BlockStatus::Rejected { height: 2 })
    );
    assert_eq!(
        store.raw_keys(cf::REJECTED_BY_HEIGHT),
        vec![rejected_index_key(2, &rejected_at_2).to_vec()]
    );
    // Accepted statuses are never pruned.
    assert_eq!(
        store.block_status(&block_id(1)).unwrap(),
        Some(BlockStatus::Accepted { height: 1 })
    );

    empty_accept(&store, 5);
    assert_eq!(store.block_status(&rejected_at_2).unwrap(), None);
    assert!(store.raw_keys(cf::REJECTED_BY_HEIGHT).is_empty());
}

#[test]
fn prefix_scan_pages_with_an_exclusive_cursor_and_stays_inside_the_prefix() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let keys: [&[u8]; 7] = [b"a", b"ab", b"ab\x00", b"ab1", b"ab2", b"abz", b"ac"];
    store
        .write_genesis(genesis(
            keys.iter()
                .map(|k| (k.to_vec(), entry(k, ALICE, 0)))
                .collect(),
        ))
        .unwrap();
    let page_keys = |prefix: &[u8], after: Option<&[u8]>, limit| -> Vec<Vec<u8>> {
        store
            .entries_with_prefix(prefix, after, limit)
            .unwrap()
            .into_iter()
            .map(|(k, e)| {
                assert_eq!(e.value, k, "entry value travels with its key");
                k
            })
            .collect()
    };
    let v = |ks: &[&[u8]]| ks.iter().map(|k| k.to_vec()).collect::<Vec<_>>();

    assert_eq!(
        page_keys(b"ab", None, 100),
        v(&[b"ab", b"ab\x00", b"ab1", b"ab2", b"abz"])
    );
    assert_eq!(page_keys(b"ab", None, 2), v(&[b"ab", b"ab\x00"]));
    assert_eq!(page_keys(b"ab", Some(b"ab\x00"), 2), v(&[b"ab1", b"ab2"]));
    assert_eq!(page_keys(b"ab", Some(b"ab2"), 2), v(&[b"abz"]));
    assert_eq!(page_keys(b"ab", Some(b"abz"), 2), Vec::<Vec<u8>>::new());
    // A cursor that is not itself a stored key still pages from the next key after it.
    assert_eq!(page_keys(b"ab", Some(b"ab10"), 10), v(&[b"ab2", b"abz"]));
    // A cursor before the prefix starts the scan at the prefix.
    assert_eq!(page_keys(b"ab", Some(b"a"), 1), v(&[b"ab"]));
    // A cursor past the prefix range yields nothing, even though "ac" follows.
    assert_eq!(page_keys(b"ab", Some(b"ab\xff"), 10), Vec::<Vec<u8>>::new());
    assert_eq!(page_keys(b"ab", None, 0), Vec::<Vec<u8>>::new());
    assert_eq!(page_keys(b"", None, 100), v(&keys));
    assert_eq!(page_keys(b"b", None, 100), Vec::<Vec<u8>>::new());
}

#[test]
fn opening_a_store_of_another_schema_version_is_refused() {
    let dir = TempDir::new().unwrap();
    {
        let store = open(&dir);
        store.write_genesis(genesis(vec![])).unwrap();
        store.put_raw(cf::META, meta::SCHEMA_VERSION, &3u32.to_le_bytes());
    }
    let result = ChainStore::open(dir.path(), StoreOptions::default());
    assert!(
        matches!(
            result,
            Err(StorageError::SchemaMismatch {
                found: 3,
                expected: SCHEMA_VERSION
            })
        ),
        "{result:?}"
    );
}

#[test]
fn corrupt_stored_values_are_errors_not_panics() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    store.write_genesis(genesis(vec![])).unwrap();
    store.put_raw(cf::ENTRIES, b"bad", &[1, 2, 3]);
    store.put_raw(cf::NONCES, &ALICE, &[1, 2, 3]);
    store.put_raw(cf::STATUS, &[3; 32], &[9]);
    store.put_raw(cf::HEIGHTS, &9u64.to_be_bytes(), &[1; 5]);

    let is_corrupt = |what: &str, result: Result<(), StorageError>| match result {
        Err(StorageError::Corrupt { what: w, .. }) => assert_eq!(w, what),
        other => panic!("{what}: expected Corrupt, got {other:?}"),
    };
    is_corrupt("entry", store.entry(b"bad").map(drop));
    is_corrupt("entry", store.entries(&[b"bad"]).map(drop));
    is_corrupt("entry", store.entries_with_prefix(b"b", None, 10).map(drop));
    is_corrupt("nonce", store.nonce(&ALICE).map(drop));
    is_corrupt("block status", store.block_status(&[3; 32]).map(drop));
    is_corrupt("height index", store.block_id_at_height(9).map(drop));

    store.put_raw(cf::META, meta::LATTICE, &[0; 10]);
    is_corrupt("lattice hash", store.lattice().map(drop));
}

#[test]
fn clones_share_one_database_and_close_leaves_it_reopenable() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let clone = store.clone();
    store.write_genesis(genesis(vec![])).unwrap();
    clone.record_rejected(&[5; 32], 0).unwrap();
    assert!(store.approximate_size_bytes().unwrap() > 0);
    drop(clone);
    store.close().unwrap();

    let store = open(&dir);
    assert_eq!(
        store.block_status(&[5; 32]).unwrap(),
        Some(BlockStatus::Rejected { height: 0 })
    );
    store.health().unwrap();
}

fn usage(keys: u64, bytes: u64) -> Usage {
    Usage { keys, bytes }
}

#[test]
fn account_records_are_kept_read_back_and_their_access_rules_are_in_the_lattice() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    let admin = Account {
        role: Role::Admin,
        ..Account::default()
    };
    let mut state = genesis(vec![]);
    state.accounts = vec![(ALICE, admin)];
    state
        .lattice
        .add(&account_access_element(&ALICE, &admin).unwrap());
    store.write_genesis(state).unwrap();
    assert_eq!(store.account(&ALICE).unwrap(), admin);
    assert_eq!(store.account(&BOB).unwrap(), Account::default());
    assert_eq!(store.recompute_lattice().unwrap(), store.lattice().unwrap());

    // Bob is enabled with an override and stores a key; Alice's record returns to the default.
    let bob = Account {
        role: Role::Enabled,
        quota: Some(Quota {
            max_keys: 5,
            max_bytes: 100,
        }),
        usage: usage(1, 2),
    };
    let bob_entry = entry(b"v", BOB, 1);
    let mut lattice = store.lattice().unwrap();
    lattice.sub(&account_access_element(&ALICE, &admin).unwrap());
    lattice.add(&account_access_element(&BOB, &bob).unwrap());
    lattice.add(&element(b"k", &bob_entry));
    store
        .accept(AcceptBatch {
            block_id: block_id(1),
            height: 1,
            block_bytes: b"block 1".to_vec(),
            entry_writes: vec![(b"k".to_vec(), Some(bob_entry))],
            nonce_writes: vec![],
            account_writes: vec![(ALICE, Account::default()), (BOB, bob)],
            tx_ids: vec![],
            lattice: lattice.clone(),
            pruned: vec![],
        })
        .unwrap();
    assert_eq!(store.account(&BOB).unwrap(), bob);
    assert_eq!(store.account(&ALICE).unwrap(), Account::default());
    assert_eq!(
        store.raw_keys(cf::ACCOUNTS),
        vec![BOB.to_vec()],
        "a default record is deleted, not stored"
    );
    assert_eq!(store.recompute_lattice().unwrap(), lattice);
    assert_eq!(
        store.kept_usage().unwrap(),
        store.usage_from_entries().unwrap()
    );
}

#[test]
fn usage_alone_has_no_lattice_element() {
    let only_usage = Account {
        usage: usage(3, 30),
        ..Account::default()
    };
    assert_eq!(account_access_element(&ALICE, &only_usage), None);
}

#[test]
fn a_schema_1_store_opens_with_usage_derived_from_its_entries_and_the_same_state_root() {
    let dir = TempDir::new().unwrap();
    let entries = vec![
        (b"a".to_vec(), entry(b"12", ALICE, 0)),
        (b"bb".to_vec(), entry(b"345", ALICE, 0)),
        (b"c".to_vec(), entry(b"", BOB, 0)),
    ];
    let lattice_before = {
        let store = open(&dir);
        store.write_genesis(genesis(entries)).unwrap();
        // What a store written before account records looks like: schema 1, no `accounts` rows.
        store.put_raw(cf::META, meta::SCHEMA_VERSION, &1u32.to_le_bytes());
        assert!(store.raw_keys(cf::ACCOUNTS).is_empty());
        store.lattice().unwrap()
    };
    let store = open(&dir);
    assert_eq!(store.schema_version().unwrap(), Some(SCHEMA_VERSION));
    assert_eq!(
        store.account(&ALICE).unwrap().usage,
        usage(2, 1 + 2 + 2 + 3)
    );
    assert_eq!(store.account(&BOB).unwrap().usage, usage(1, 1));
    assert_eq!(store.account(&ALICE).unwrap().role, Role::None);
    assert_eq!(store.lattice().unwrap(), lattice_before);
    assert_eq!(store.recompute_lattice().unwrap(), lattice_before);
    drop(store);
    // A second open finds schema 2 and changes nothing.
    let store = open(&dir);
    assert_eq!(
        store.kept_usage().unwrap(),
        store.usage_from_entries().unwrap()
    );
    assert_eq!(store.lattice().unwrap(), lattice_before);
}

#[test]
fn a_corrupt_account_record_is_an_error_naming_it() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    store.put_raw(cf::ACCOUNTS, &ALICE, b"\x09");
    let err = store.account(&ALICE).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::Corrupt {
                what: "account record",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn pruned_blocks_must_continue_from_the_oldest_kept_one_or_nothing_is_written() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    store.write_genesis(genesis(vec![])).unwrap();
    for height in 1..=3 {
        empty_accept(&store, height);
    }
    let batch = |pruned_height: u64| AcceptBatch {
        block_id: block_id(4),
        height: 4,
        block_bytes: b"block 4".to_vec(),
        entry_writes: vec![],
        nonce_writes: vec![],
        account_writes: vec![],
        tx_ids: vec![],
        lattice: store.lattice().unwrap(),
        pruned: vec![PrunedBlock {
            height: pruned_height,
            block_id: block_id(pruned_height),
            tx_ids: vec![],
        }],
    };
    for wrong in [0, 2, 4] {
        assert!(matches!(
            store.accept(batch(wrong)),
            Err(StorageError::PruneOrder { expected: 1, got }) if got == wrong
        ));
        assert_eq!(store.last_accepted().unwrap(), Some((block_id(3), 3)));
        assert!(store.block(&block_id(1)).unwrap().is_some());
    }
    store.accept(batch(1)).unwrap();
    assert_eq!(store.oldest_block_height().unwrap(), 2);
    assert_eq!(store.block(&block_id(1)).unwrap(), None);
    assert_eq!(store.block_id_at_height(1).unwrap(), Some(block_id(1)));
    assert!(
        store.block(&block_id(0)).unwrap().is_some(),
        "genesis stays"
    );
    // The record survives a reopen.
    drop(store);
    assert_eq!(open(&dir).oldest_block_height().unwrap(), 2);
}

#[test]
fn memtables_stay_within_the_write_buffer_budget() {
    const BUDGET: usize = 4 << 20;
    let dir = TempDir::new().unwrap();
    let store = ChainStore::open(
        dir.path(),
        StoreOptions {
            write_buffer_bytes: BUDGET,
            ..StoreOptions::default()
        },
    )
    .unwrap();
    store.write_genesis(genesis(vec![])).unwrap();
    // Ten times the budget in entries, 1 KiB values, one block per 512 KiB.
    let value = vec![0x5a; 1024];
    for height in 1..=80u64 {
        let entry_writes = (0..512)
            .map(|i| {
                let key = format!("key/{height}/{i}").into_bytes();
                (key, Some(entry(&value, ALICE, height)))
            })
            .collect();
        accept_entries(&store, height, entry_writes);
    }
    let usage = store.memory_usage().unwrap();
    // Twice the budget (a full memtable being flushed beside the new one), and RocksDB's 1 MiB
    // allocation block in each column family written. Unbounded, all 40 MiB would still be there.
    let bound = 2 * BUDGET as u64 + ((cf::ALL.len() as u64) << 20);
    assert!(
        usage.memtables <= bound,
        "memtables hold {} bytes after 40 MiB of writes, bound {bound}",
        usage.memtables
    );
    assert!(
        usage.memtables > 0,
        "the last writes are still in a memtable"
    );
    assert_eq!(store.entry(b"key/1/0").unwrap().unwrap().value, value);
}

/// Lookups of absent keys (a new transaction's ID, a key written for the first time) are most of
/// the hot path's reads: every table must carry a filter that answers them.
#[test]
fn flushed_tables_carry_bloom_filters() {
    let dir = TempDir::new().unwrap();
    let store = open(&dir);
    for i in 0u32..2_000 {
        store.put_raw(cf::TXS, blake3::hash(&i.to_le_bytes()).as_bytes(), &[0; 40]);
    }
    store.clone().close().unwrap();
    let properties = store
        .inner
        .db
        .property_value_cf(store.cf(cf::TXS), "rocksdb.aggregated-table-properties")
        .unwrap()
        .unwrap();
    let filter_bytes: u64 = properties
        .split(';')
        .find_map(|p| p.trim().strip_prefix("filter block size="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no filter block size in {properties}"));
    // 10 bits a key: about 2,500 bytes for 2,000 keys.
    assert!(
        filter_bytes >= 2_000,
        "{filter_bytes} filter bytes: {properties}"
    );
    assert_eq!(store.tx_location(&[0xee; 32]).unwrap(), None);
}
