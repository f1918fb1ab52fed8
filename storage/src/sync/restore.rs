//! The syncing side: replacing this store's state with a summary's, bucket by bucket, so that a
//! node killed at any point resumes with the buckets it finished and never serves a half state.
//!
//! Progress lives in `meta`: the summary being synced, a bitmap of finished buckets and the sum of
//! their lattices, each bucket's last records written in the same synced batch as its bit. Records
//! of unfinished buckets are written as they arrive, unsynced; on resume they are deleted and the
//! bucket starts again. While a sync is under way the last accepted block (and the stored lattice)
//! stay genesis's: only
//! [`ChainStore::finish_state_sync`] moves it, in one batch, to the summary's block.

use rocksdb::{IteratorMode, WriteBatch};
use tracing::info;

use crate::error::{Result, StorageError};
use crate::lattice::LtHash;
use crate::store::codec::BORSH_TO_VEC;
use crate::store::{cf, meta, Account, ChainStore};
use crate::sync::record::{keys_in_range, SyncRecord};
use crate::sync::summary::{StateSummary, MAX_BUCKETS};

/// A sync under way: its summary, which buckets are in, and the lattice of those.
#[derive(Clone, Debug)]
pub struct SyncProgress {
    pub summary: StateSummary,
    pub done: Vec<bool>,
    pub lattice: LtHash,
}

impl SyncProgress {
    pub fn buckets_left(&self) -> usize {
        self.done.iter().filter(|done| !**done).count()
    }
}

impl ChainStore {
    /// Starts syncing to `summary`: drops every block but genesis, every entry, nonce, account and
    /// transaction record, and records the summary as the target, in one synced batch.
    pub fn begin_state_sync(&self, summary: &StateSummary) -> Result<SyncProgress> {
        let _writer = self.writer_lock();
        let genesis_id = self
            .block_id_at_height(0)?
            .ok_or(StorageError::NotInitialized)?;
        let genesis_bytes = self
            .block(&genesis_id)?
            .ok_or(StorageError::NotInitialized)?;
        let mut batch = WriteBatch::default();
        for name in [
            cf::BLOCKS,
            cf::HEIGHTS,
            cf::STATUS,
            cf::REJECTED_BY_HEIGHT,
            cf::ENTRIES,
            cf::NONCES,
            cf::ACCOUNTS,
            cf::TXS,
        ] {
            self.delete_all(&mut batch, name)?;
        }
        self.put_accepted_block(&mut batch, &genesis_id, 0, &genesis_bytes);
        // The lattice stays genesis's, like the last accepted block: a restart mid-sync opens a
        // consistent genesis tip, and only `finish_state_sync` moves both.
        let meta_cf = self.cf(cf::META);
        batch.delete_cf(meta_cf, meta::OLDEST_BLOCK_HEIGHT);
        let progress = SyncProgress {
            done: vec![false; summary.buckets.len()],
            summary: summary.clone(),
            lattice: LtHash::identity(),
        };
        batch.put_cf(meta_cf, meta::SYNC_SUMMARY, summary.to_bytes());
        self.put_sync_progress(&mut batch, &progress);
        self.write(batch, true)?;
        info!(
            height = summary.height,
            buckets = summary.buckets.len(),
            records = summary.records(),
            "state sync started"
        );
        Ok(progress)
    }

    /// The sync under way, if any, after deleting what unfinished buckets had written: what a
    /// restarted node resumes from.
    pub fn resume_state_sync(&self) -> Result<Option<SyncProgress>> {
        let Some(progress) = self.state_sync_progress()? else {
            return Ok(None);
        };
        for (bucket, done) in progress.done.iter().enumerate() {
            if !done {
                self.discard_sync_bucket(&progress.summary, bucket)?;
            }
        }
        Ok(Some(progress))
    }

    /// The sync under way, if any, as last made durable.
    pub fn state_sync_progress(&self) -> Result<Option<SyncProgress>> {
        let Some(summary) = self.get(cf::META, meta::SYNC_SUMMARY)? else {
            return Ok(None);
        };
        let summary = StateSummary::from_bytes(&summary).map_err(|err| StorageError::Corrupt {
            what: "state sync summary",
            reason: err.to_string(),
        })?;
        let bitmap = self.get(cf::META, meta::SYNC_DONE)?.unwrap_or_default();
        if bitmap.len() != MAX_BUCKETS / 8 {
            return Err(StorageError::Corrupt {
                what: "state sync progress",
                reason: format!("{} bytes of bucket bitmap", bitmap.len()),
            });
        }
        let done = (0..summary.buckets.len())
            .map(|bucket| bitmap[bucket / 8] & (1 << (bucket % 8)) != 0)
            .collect();
        let lattice = match self.get(cf::META, meta::SYNC_LATTICE)? {
            Some(bytes) => LtHash::from_bytes(&bytes)?,
            None => LtHash::identity(),
        };
        Ok(Some(SyncProgress {
            summary,
            done,
            lattice,
        }))
    }

    fn put_sync_progress(&self, batch: &mut WriteBatch, progress: &SyncProgress) {
        let mut bitmap = [0u8; MAX_BUCKETS / 8];
        for (bucket, _) in progress.done.iter().enumerate().filter(|(_, done)| **done) {
            bitmap[bucket / 8] |= 1 << (bucket % 8);
        }
        let meta_cf = self.cf(cf::META);
        batch.put_cf(meta_cf, meta::SYNC_DONE, bitmap);
        batch.put_cf(meta_cf, meta::SYNC_LATTICE, progress.lattice.to_bytes());
    }

    /// Writes records of an unfinished bucket (checked by a [`crate::BucketCheck`]), unsynced.
    pub fn write_sync_records(&self, records: &[SyncRecord]) -> Result<()> {
        let mut batch = WriteBatch::default();
        self.put_sync_records(&mut batch, records);
        self.write(batch, false)
    }

    fn put_sync_records(&self, batch: &mut WriteBatch, records: &[SyncRecord]) {
        for record in records {
            match record {
                SyncRecord::Entry { key, entry } => batch.put_cf(
                    self.cf(cf::ENTRIES),
                    key,
                    borsh::to_vec(entry).expect(BORSH_TO_VEC),
                ),
                SyncRecord::Nonce {
                    account,
                    next_nonce,
                } => batch.put_cf(self.cf(cf::NONCES), account, next_nonce.to_le_bytes()),
                SyncRecord::Access {
                    account,
                    role,
                    quota,
                } => {
                    let record = Account {
                        role: *role,
                        quota: *quota,
                        usage: Default::default(),
                    };
                    batch.put_cf(
                        self.cf(cf::ACCOUNTS),
                        account,
                        borsh::to_vec(&record).expect(BORSH_TO_VEC),
                    )
                }
            }
        }
    }

    /// Writes a bucket's last records and marks it finished, with `lattice` (its records' sum,
    /// checked against the summary) added to the progress, in one synced batch.
    pub fn finish_sync_bucket(
        &self,
        bucket: usize,
        last_records: &[SyncRecord],
        lattice: &LtHash,
    ) -> Result<SyncProgress> {
        let _writer = self.writer_lock();
        let mut progress = self
            .state_sync_progress()?
            .ok_or(StorageError::NoStateSync)?;
        let expected = progress
            .summary
            .buckets
            .get(bucket)
            .ok_or(StorageError::NoStateSync)?;
        if progress.done[bucket] || lattice.checksum() != expected.checksum {
            return Err(StorageError::BadSyncRequest {
                reason: format!(
                    "bucket {bucket} is finished already or does not match its checksum"
                ),
            });
        }
        progress.done[bucket] = true;
        progress.lattice.add(lattice);
        let mut batch = WriteBatch::default();
        self.put_sync_records(&mut batch, last_records);
        self.put_sync_progress(&mut batch, &progress);
        self.write(batch, true)?;
        Ok(progress)
    }

    /// Deletes whatever records of bucket `bucket` were written, so it can be fetched again.
    pub fn discard_sync_bucket(&self, summary: &StateSummary, bucket: usize) -> Result<()> {
        let Some((first, end)) = summary.bucket_range(bucket) else {
            return Ok(());
        };
        let mut batch = WriteBatch::default();
        for (name, key) in keys_in_range(self.db(), first, end)? {
            batch.delete_cf(self.cf(name), key);
        }
        self.write(batch, false)
    }

    /// Ends the sync: checks that every bucket is in and that they add up to the summary's root,
    /// counts each owner's usage, and makes the summary's block (`block_bytes`, whose ID the caller
    /// checked) the last accepted one, the oldest kept, in one synced batch.
    pub fn finish_state_sync(&self, block_bytes: &[u8]) -> Result<()> {
        let _writer = self.writer_lock();
        let progress = self
            .state_sync_progress()?
            .ok_or(StorageError::NoStateSync)?;
        let summary = &progress.summary;
        if progress.buckets_left() > 0 || progress.lattice.checksum() != summary.state_root {
            return Err(StorageError::SyncIncomplete {
                buckets_left: progress.buckets_left(),
            });
        }
        let mut batch = WriteBatch::default();
        let usage = self.usage_from_entries()?;
        let mut accounts: Vec<(crate::AccountId, Account)> = Vec::new();
        for (account, usage) in usage {
            let mut record = self.account(&account)?;
            record.usage = usage;
            accounts.push((account, record));
        }
        self.put_account_writes(&mut batch, &accounts);
        self.put_accepted_block(&mut batch, &summary.block_id, summary.height, block_bytes);
        let meta_cf = self.cf(cf::META);
        batch.put_cf(meta_cf, meta::LATTICE, progress.lattice.to_bytes());
        batch.put_cf(
            meta_cf,
            meta::OLDEST_BLOCK_HEIGHT,
            summary.height.to_le_bytes(),
        );
        for key in [meta::SYNC_SUMMARY, meta::SYNC_DONE, meta::SYNC_LATTICE] {
            batch.delete_cf(meta_cf, key);
        }
        self.write(batch, true)?;
        info!(
            height = summary.height,
            block_id = ?summary.block_id,
            records = summary.records(),
            "state sync finished"
        );
        Ok(())
    }

    /// Adds the deletion of every key of a column family to `batch`: one range deletion from its
    /// first key to its last, and the last, so the work and the batch stay the same size whatever
    /// the state holds (the engine waits on this call).
    fn delete_all(&self, batch: &mut WriteBatch, name: &'static str) -> Result<()> {
        let handle = self.cf(name);
        let first = self.db().iterator_cf(handle, IteratorMode::Start).next();
        let last = self.db().iterator_cf(handle, IteratorMode::End).next();
        if let (Some(first), Some(last)) = (first, last) {
            let (first, last) = (first?.0, last?.0);
            batch.delete_range_cf(handle, &first, &last);
            batch.delete_cf(handle, &last);
        }
        Ok(())
    }
}

/// Checks a bucket's records as they arrive: in strict order, inside the bucket, each an element of
/// the state, and at the end exactly the summary's count and checksum. A peer that sends anything
/// else is caught by the first chunk that breaks a rule, or at the latest by the checksum.
#[derive(Clone, Debug)]
pub struct BucketCheck {
    pub bucket: usize,
    first: Vec<u8>,
    end: Option<Vec<u8>>,
    expected_records: u64,
    expected_checksum: [u8; 32],
    last: Option<Vec<u8>>,
    records: u64,
    lattice: LtHash,
}

impl BucketCheck {
    pub fn new(summary: &StateSummary, bucket: usize) -> Option<Self> {
        let (first, end) = summary.bucket_range(bucket)?;
        let expected = &summary.buckets[bucket];
        Some(Self {
            bucket,
            first: first.to_vec(),
            end: end.map(<[u8]>::to_vec),
            expected_records: expected.records,
            expected_checksum: expected.checksum,
            last: None,
            records: 0,
            lattice: LtHash::identity(),
        })
    }

    /// The key after which the next chunk starts (`None`: from the bucket's start).
    pub fn resume_after(&self) -> Option<&[u8]> {
        self.last.as_deref()
    }

    /// Takes one chunk; `complete` is the peer's word that the bucket ends with it.
    pub fn take_chunk(&mut self, records: &[SyncRecord], complete: bool) -> Result<(), String> {
        if records.is_empty() && !complete {
            return Err("an empty chunk that does not end the bucket".into());
        }
        for record in records {
            let key = record.sync_key();
            let floor_ok = match &self.last {
                Some(last) => key > *last,
                None => key == self.first,
            };
            if !floor_ok {
                return Err("a record out of order or before the bucket".into());
            }
            if self.end.as_ref().is_some_and(|end| key >= *end) {
                return Err("a record past the bucket's end".into());
            }
            let element = record
                .element()
                .ok_or_else(|| "an access record with no rule".to_string())?;
            self.records += 1;
            if self.records > self.expected_records {
                return Err("more records than the bucket holds".into());
            }
            self.lattice.add(&element);
            self.last = Some(key);
        }
        if complete
            && (self.records != self.expected_records
                || self.lattice.checksum() != self.expected_checksum)
        {
            return Err("the bucket's records do not match its checksum".into());
        }
        Ok(())
    }

    /// The lattice of the records taken: the bucket's, once a complete chunk was taken.
    pub fn lattice(&self) -> &LtHash {
        &self.lattice
    }
}

impl ChainStore {
    /// Gives up a sync under way: drops what it wrote and puts the genesis state back, so the node
    /// can bootstrap from genesis instead. One synced batch; the last accepted block stays genesis.
    pub fn abandon_state_sync(&self, genesis: &crate::GenesisState) -> Result<()> {
        let _writer = self.writer_lock();
        if self.state_sync_progress()?.is_none() {
            return Err(StorageError::NoStateSync);
        }
        let mut batch = WriteBatch::default();
        for name in [cf::ENTRIES, cf::NONCES, cf::ACCOUNTS, cf::TXS] {
            self.delete_all(&mut batch, name)?;
        }
        self.put_genesis_state(&mut batch, genesis);
        let meta_cf = self.cf(cf::META);
        for key in [meta::SYNC_SUMMARY, meta::SYNC_DONE, meta::SYNC_LATTICE] {
            batch.delete_cf(meta_cf, key);
        }
        self.write(batch, true)?;
        info!("state sync abandoned; the store is back at genesis");
        Ok(())
    }
}
