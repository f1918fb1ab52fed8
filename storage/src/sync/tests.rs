use tempfile::TempDir;

use super::*;
use crate::store::{AcceptBatch, Account, AccountId, ChainStore, Entry, GenesisState, Quota, Role};
use crate::{access_element, entry_element, nonce_element, LtHash, StorageError, StoreOptions};

fn block_id(height: u64) -> [u8; 32] {
    *blake3::hash(&height.to_le_bytes()).as_bytes()
}

fn account(n: u32) -> AccountId {
    *blake3::hash(&n.to_le_bytes()).as_bytes()
}

fn open(dir: &std::path::Path) -> ChainStore {
    ChainStore::open(dir, StoreOptions::default()).unwrap()
}

fn genesis(store: &ChainStore) {
    store
        .write_genesis(GenesisState {
            genesis_hash: [7; 32],
            block_id: block_id(0),
            block_bytes: b"genesis".to_vec(),
            entries: vec![],
            accounts: vec![],
            lattice: LtHash::identity(),
        })
        .unwrap();
}

/// Accepts `blocks` blocks, each writing `per_block` new keys owned by rotating accounts, their
/// nonces, and every tenth account a role or a quota override: all three kinds of record.
fn grow(store: &ChainStore, blocks: u64, per_block: u32) {
    let (_, start) = store.last_accepted().unwrap().unwrap();
    for height in start + 1..=start + blocks {
        let mut lattice = store.lattice().unwrap();
        let mut entry_writes = Vec::new();
        let mut nonce_writes = Vec::new();
        let mut account_writes = Vec::new();
        for i in 0..per_block {
            let n = (height as u32) * 1000 + i;
            let key = format!("key/{n:08}").into_bytes();
            let owner = account(n % 37);
            let entry = Entry {
                value: vec![n as u8; (n % 50) as usize],
                owner,
                height,
            };
            lattice.add(&entry_element(&key, &entry.value, &owner, height));
            entry_writes.push((key, Some(entry)));
        }
        let sender = account(height as u32 % 37);
        let old_nonce = store.nonce(&sender).unwrap();
        if old_nonce > 0 {
            lattice.sub(&nonce_element(&sender, old_nonce));
        }
        lattice.add(&nonce_element(&sender, old_nonce + 1));
        nonce_writes.push((sender, old_nonce + 1));
        if height % 10 == 0 {
            let granted = account(1000 + height as u32);
            let quota = (height % 20 == 0).then_some(Quota {
                max_keys: height,
                max_bytes: 100,
            });
            lattice.add(&access_element(
                &granted,
                Role::Enabled.code(),
                quota.map(|q| (q.max_keys, q.max_bytes)),
            ));
            account_writes.push((
                granted,
                Account {
                    role: Role::Enabled,
                    quota,
                    usage: Default::default(),
                },
            ));
        }
        store
            .accept(AcceptBatch {
                block_id: block_id(height),
                height,
                block_bytes: format!("block {height}").into_bytes(),
                entry_writes,
                nonce_writes,
                account_writes,
                tx_ids: vec![[height as u8; 32]],
                lattice,
                pruned: vec![],
            })
            .unwrap();
    }
}

/// A served chain: `blocks` blocks of `per_block` keys, snapshotted and summarized at its tip.
struct Server {
    _dir: TempDir,
    store: ChainStore,
    snapshots: Snapshots,
    height: u64,
}

fn server(blocks: u64, per_block: u32) -> Server {
    let dir = TempDir::new().unwrap();
    let store = open(&dir.path().join("db"));
    genesis(&store);
    grow(&store, blocks, per_block);
    let snapshots = Snapshots::open(&dir.path().join("snapshots")).unwrap();
    let height = snapshots.take(&store).unwrap();
    snapshots.summarize(height).unwrap();
    Server {
        _dir: dir,
        store,
        snapshots,
        height,
    }
}

/// Fetches bucket `bucket` chunk by chunk (`max_bytes` each) and writes it into `client`.
fn sync_bucket(client: &ChainStore, reader: &SnapshotReader, bucket: usize, max_bytes: usize) {
    let mut check = BucketCheck::new(reader.summary(), bucket).unwrap();
    loop {
        let chunk = reader
            .chunk(bucket, check.resume_after(), max_bytes)
            .unwrap();
        check.take_chunk(&chunk.records, chunk.complete).unwrap();
        if chunk.complete {
            client
                .finish_sync_bucket(bucket, &chunk.records, check.lattice())
                .unwrap();
            return;
        }
        client.write_sync_records(&chunk.records).unwrap();
    }
}

fn fresh_client(dir: &TempDir) -> ChainStore {
    let store = open(&dir.path().join("db"));
    genesis(&store);
    store
}

#[test]
fn summaries_of_equal_states_are_byte_identical_and_add_up_to_the_root() {
    let a = server(30, 20);
    let b = server(30, 20);
    let summary_a = a.snapshots.summary(a.height).unwrap().unwrap();
    let summary_b = b.snapshots.summary(b.height).unwrap().unwrap();
    assert_eq!(summary_a.to_bytes(), summary_b.to_bytes());
    assert_eq!(summary_a.id(), summary_b.id());
    assert_eq!(summary_a.height, 30);
    assert_eq!(summary_a.block_id, block_id(30));
    assert_eq!(summary_a.state_root, a.store.lattice().unwrap().checksum());
    // 600 entries, 30 nonce records at most (37 senders, 30 blocks), 3 access records.
    assert_eq!(summary_a.records(), 600 + 30 + 3);
    assert_eq!(summary_a.buckets.len(), MAX_BUCKETS);
    let parsed = StateSummary::from_bytes(&summary_a.to_bytes()).unwrap();
    assert_eq!(parsed, summary_a);
}

#[test]
fn a_small_state_has_one_bucket_per_record() {
    let s = server(2, 3);
    let summary = s.snapshots.summary(s.height).unwrap().unwrap();
    assert_eq!(summary.records(), 6 + 2);
    assert_eq!(summary.buckets.len(), 8);
    assert!(summary.buckets.iter().all(|bucket| bucket.records == 1));
}

#[test]
fn summary_parsing_refuses_what_is_not_a_summary() {
    let s = server(3, 4);
    let summary = s.snapshots.summary(s.height).unwrap().unwrap();
    let bytes = summary.to_bytes();
    let refused = |bytes: &[u8]| {
        matches!(
            StateSummary::from_bytes(bytes),
            Err(StorageError::BadSummary { .. })
        )
    };
    assert!(refused(&[]));
    assert!(refused(&bytes[..bytes.len() - 1]));
    let mut wrong_version = bytes.clone();
    wrong_version[0] = 9;
    assert!(refused(&wrong_version));
    let mut unordered = summary.clone();
    unordered.buckets.swap(0, 1);
    assert!(refused(&unordered.to_bytes()));
    let mut malformed = summary.clone();
    malformed.buckets[0].first = vec![7, 1, 2];
    assert!(refused(&malformed.to_bytes()));
    let mut empty_bucket = summary;
    empty_bucket.buckets[0].records = 0;
    assert!(refused(&empty_bucket.to_bytes()));
    assert!(refused(&vec![1u8; MAX_SUMMARY_BYTES + 1]));
}

#[test]
fn a_snapshot_stays_at_its_height_while_the_chain_moves_on() {
    let s = server(10, 5);
    let root_at_snapshot = s.store.lattice().unwrap().checksum();
    grow(&s.store, 5, 5);
    assert_ne!(s.store.lattice().unwrap().checksum(), root_at_snapshot);
    let reader = s.snapshots.reader(s.height).unwrap().unwrap();
    assert_eq!(reader.summary().state_root, root_at_snapshot);
    assert_eq!(reader.block().unwrap(), b"block 10");
    // Summarizing the checkpoint again, as after a restart, gives the same summary.
    let again = s.snapshots.summarize(s.height).unwrap();
    assert_eq!(&again, reader.summary());
}

#[test]
fn a_whole_sync_reproduces_the_served_state() {
    let s = server(40, 25);
    let reader = s.snapshots.reader(s.height).unwrap().unwrap();
    let dir = TempDir::new().unwrap();
    let client = fresh_client(&dir);
    client.begin_state_sync(reader.summary()).unwrap();
    for bucket in 0..reader.summary().buckets.len() {
        sync_bucket(&client, &reader, bucket, 200);
    }
    client.finish_state_sync(&reader.block().unwrap()).unwrap();

    assert_eq!(client.last_accepted().unwrap(), Some((block_id(40), 40)));
    assert_eq!(client.lattice().unwrap(), s.store.lattice().unwrap());
    assert_eq!(
        client.recompute_lattice().unwrap(),
        s.store.lattice().unwrap()
    );
    assert_eq!(
        client.usage_from_entries().unwrap(),
        s.store.usage_from_entries().unwrap()
    );
    // The test's chain keeps no usage in its account records; the synced one counts it from the entries.
    let usage = s.store.usage_from_entries().unwrap();
    for n in [0u32, 5, 36, 1010, 1040] {
        let (synced, served) = (
            client.account(&account(n)).unwrap(),
            s.store.account(&account(n)).unwrap(),
        );
        assert_eq!((synced.role, synced.quota), (served.role, served.quota));
        assert_eq!(
            synced.usage,
            usage.get(&account(n)).copied().unwrap_or_default()
        );
    }
    let owned_by_5 = (1..=40u32)
        .flat_map(|height| (0..25).map(move |i| height * 1000 + i))
        .filter(|n| n % 37 == 5)
        .count();
    assert_eq!(
        client.account(&account(5)).unwrap().usage.keys,
        owned_by_5 as u64
    );
    assert_eq!(client.block(&block_id(40)).unwrap().unwrap(), b"block 40");
    assert_eq!(client.oldest_block_height().unwrap(), 40);
    assert_eq!(client.block_id_at_height(39).unwrap(), None);
    assert!(client.state_sync_progress().unwrap().is_none());
    // The synced store goes on accepting blocks from the summary's height.
    grow(&client, 1, 3);
    assert_eq!(client.last_accepted().unwrap().unwrap().1, 41);
}

#[test]
fn a_tampered_chunk_is_refused_and_the_bucket_is_fetched_again() {
    let s = server(20, 10);
    let reader = s.snapshots.reader(s.height).unwrap().unwrap();
    let dir = TempDir::new().unwrap();
    let client = fresh_client(&dir);
    let summary = reader.summary().clone();
    client.begin_state_sync(&summary).unwrap();

    let mut check = BucketCheck::new(&summary, 3).unwrap();
    let mut chunk = reader.chunk(3, None, 1 << 20).unwrap();
    assert!(chunk.complete);
    if let SyncRecord::Entry { entry, .. } = &mut chunk.records[0] {
        entry.value.push(1);
    }
    let refused = check.take_chunk(&chunk.records, chunk.complete);
    assert!(refused.unwrap_err().contains("checksum"));
    client.discard_sync_bucket(&summary, 3).unwrap();

    // Records of another bucket, out of order, or an access record with no rule are refused at once.
    let foreign = reader.chunk(4, None, 1 << 20).unwrap();
    assert!(BucketCheck::new(&summary, 3)
        .unwrap()
        .take_chunk(&foreign.records, false)
        .is_err());
    let mut two = reader.chunk(0, None, 1 << 20).unwrap().records;
    two.extend(reader.chunk(1, None, 1 << 20).unwrap().records);
    two.reverse();
    assert!(BucketCheck::new(&summary, 1)
        .unwrap()
        .take_chunk(&two, false)
        .is_err());

    for bucket in 0..summary.buckets.len() {
        sync_bucket(&client, &reader, bucket, 1 << 20);
    }
    client.finish_state_sync(&reader.block().unwrap()).unwrap();
    assert_eq!(
        client.recompute_lattice().unwrap(),
        s.store.lattice().unwrap()
    );
}

#[test]
fn a_sync_cannot_finish_before_every_bucket_is_in() {
    let s = server(5, 10);
    let reader = s.snapshots.reader(s.height).unwrap().unwrap();
    let dir = TempDir::new().unwrap();
    let client = fresh_client(&dir);
    client.begin_state_sync(reader.summary()).unwrap();
    sync_bucket(&client, &reader, 0, 100);
    assert!(matches!(
        client.finish_state_sync(&reader.block().unwrap()),
        Err(StorageError::SyncIncomplete { .. })
    ));
    assert_eq!(client.last_accepted().unwrap(), Some((block_id(0), 0)));
}

#[test]
fn a_restarted_sync_keeps_finished_buckets_and_drops_half_written_ones() {
    let s = server(40, 25);
    let reader = s.snapshots.reader(s.height).unwrap().unwrap();
    let summary = reader.summary().clone();
    let dir = TempDir::new().unwrap();
    {
        let client = fresh_client(&dir);
        client.begin_state_sync(&summary).unwrap();
        for bucket in 0..10 {
            sync_bucket(&client, &reader, bucket, 100);
        }
        // Half of bucket 10 written, not finished: then the process dies.
        let chunk = reader.chunk(10, None, 1).unwrap();
        assert!(!chunk.complete);
        client.write_sync_records(&chunk.records).unwrap();
    }
    let client = open(&dir.path().join("db"));
    let progress = client.resume_state_sync().unwrap().unwrap();
    assert_eq!(progress.summary, summary);
    assert_eq!(progress.buckets_left(), summary.buckets.len() - 10);
    assert!(progress.done[..10].iter().all(|done| *done));
    let (first, _) = summary.bucket_range(10).unwrap();
    let half_written_key = &first[1..];
    assert_eq!(client.entry(half_written_key).unwrap(), None);
    assert_eq!(client.last_accepted().unwrap(), Some((block_id(0), 0)));

    for bucket in 10..summary.buckets.len() {
        sync_bucket(&client, &reader, bucket, 100);
    }
    client.finish_state_sync(&reader.block().unwrap()).unwrap();
    assert_eq!(
        client.recompute_lattice().unwrap(),
        s.store.lattice().unwrap()
    );
}

#[test]
fn chunk_requests_outside_the_summary_are_refused() {
    let s = server(5, 10);
    let reader = s.snapshots.reader(s.height).unwrap().unwrap();
    let buckets = reader.summary().buckets.len();
    assert!(matches!(
        reader.chunk(buckets, None, 100),
        Err(StorageError::BadSyncRequest { .. })
    ));
    let next_first = reader.summary().buckets[2].first.clone();
    assert!(matches!(
        reader.chunk(1, Some(&next_first), 100),
        Err(StorageError::BadSyncRequest { .. })
    ));
    assert!(matches!(
        reader.chunk(1, Some(&[9, 9]), 100),
        Err(StorageError::BadSyncRequest { .. })
    ));
    // A budget smaller than one record still returns one record, so a sync always progresses.
    assert_eq!(reader.chunk(0, None, 1).unwrap().records.len(), 1);
}

#[test]
fn old_snapshots_are_deleted_and_unfinished_ones_removed_on_open() {
    let s = server(5, 2);
    grow(&s.store, 5, 2);
    let second = s.snapshots.take(&s.store).unwrap();
    assert_eq!(s.snapshots.unsummarized().unwrap(), vec![second]);
    s.snapshots.summarize(second).unwrap();
    assert_eq!(s.snapshots.summarized().unwrap(), vec![s.height, second]);
    assert_eq!(s.snapshots.retain_newest(1).unwrap(), vec![s.height]);
    assert_eq!(s.snapshots.summarized().unwrap(), vec![second]);
    assert!(s.snapshots.reader(s.height).unwrap().is_none());

    let dir = s._dir.path().join("snapshots");
    std::fs::create_dir(dir.join("00000000000000000099.tmp")).unwrap();
    let reopened = Snapshots::open(&dir).unwrap();
    assert!(!dir.join("00000000000000000099.tmp").exists());
    assert_eq!(reopened.summarized().unwrap(), vec![second]);
}

#[test]
fn a_summary_of_records_in_memory_equals_the_snapshots() {
    let s = server(12, 9);
    let reader = s.snapshots.reader(s.height).unwrap().unwrap();
    let mut records = Vec::new();
    for bucket in 0..reader.summary().buckets.len() {
        records.extend(reader.chunk(bucket, None, 1 << 20).unwrap().records);
    }
    records.reverse();
    let in_memory = StateSummary::of_records(s.height, block_id(s.height), records).unwrap();
    assert_eq!(&in_memory, reader.summary());
    let empty = StateSummary::of_records(0, block_id(0), vec![]).unwrap();
    assert!(empty.buckets.is_empty());
    assert_eq!(empty.state_root, LtHash::identity().checksum());
}

#[test]
fn an_abandoned_sync_leaves_the_genesis_state() {
    let s = server(10, 10);
    let reader = s.snapshots.reader(s.height).unwrap().unwrap();
    let dir = TempDir::new().unwrap();
    let client = open(&dir.path().join("db"));
    let owner = account(1);
    let genesis_entry = Entry {
        value: b"hello".to_vec(),
        owner,
        height: 0,
    };
    let lattice = {
        let mut l = LtHash::identity();
        l.add(&entry_element(b"g", b"hello", &owner, 0));
        l
    };
    let genesis = GenesisState {
        genesis_hash: [7; 32],
        block_id: block_id(0),
        block_bytes: b"genesis".to_vec(),
        entries: vec![(b"g".to_vec(), genesis_entry.clone())],
        accounts: vec![],
        lattice: lattice.clone(),
    };
    client.write_genesis(genesis.clone()).unwrap();
    client.begin_state_sync(reader.summary()).unwrap();
    assert_eq!(client.entry(b"g").unwrap(), None);
    sync_bucket(&client, &reader, 0, 100);
    client.abandon_state_sync(&genesis).unwrap();
    assert!(client.state_sync_progress().unwrap().is_none());
    assert_eq!(client.entry(b"g").unwrap(), Some(genesis_entry));
    assert_eq!(client.recompute_lattice().unwrap(), lattice);
    assert_eq!(client.lattice().unwrap(), lattice);
    assert_eq!(client.last_accepted().unwrap(), Some((block_id(0), 0)));
    assert!(matches!(
        client.abandon_state_sync(&genesis),
        Err(StorageError::NoStateSync)
    ));
}

#[test]
fn a_store_with_history_drops_all_of_it_when_a_sync_begins() {
    let s = server(20, 10);
    let reader = s.snapshots.reader(s.height).unwrap().unwrap();
    let dir = TempDir::new().unwrap();
    let client = fresh_client(&dir);
    grow(&client, 5, 7);
    client.begin_state_sync(reader.summary()).unwrap();
    assert_eq!(client.last_accepted().unwrap(), Some((block_id(0), 0)));
    assert!(client
        .entries_with_prefix(b"", None, usize::MAX)
        .unwrap()
        .is_empty());
    assert_eq!(client.nonce(&account(1)).unwrap(), 0);
    assert_eq!(client.account(&account(1010)).unwrap(), Account::default());
    assert_eq!(client.block_id_at_height(5).unwrap(), None);
    assert_eq!(client.block(&block_id(5)).unwrap(), None);
    assert_eq!(client.tx_location(&[5; 32]).unwrap(), None);
    assert_eq!(client.block(&block_id(0)).unwrap().unwrap(), b"genesis");
    for bucket in 0..reader.summary().buckets.len() {
        sync_bucket(&client, &reader, bucket, 300);
    }
    client.finish_state_sync(&reader.block().unwrap()).unwrap();
    assert_eq!(
        client.recompute_lattice().unwrap(),
        s.store.lattice().unwrap()
    );
}
