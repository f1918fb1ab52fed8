//! [`ChainStore`]: accepted blocks, block statuses, the key-value entries, nonces and the state lattice in RocksDB.
//!
//! Layout (one column family per kind of record, so each can be scanned and sized on its own):
//!
//! | column family        | key                          | value                               |
//! |----------------------|------------------------------|-------------------------------------|
//! | `blocks`             | block ID                     | block bytes (accepted blocks only)  |
//! | `heights`            | u64 BE height                | block ID                            |
//! | `status`             | block ID                     | borsh [`BlockStatus`]               |
//! | `rejected_by_height` | u64 BE height ‖ block ID     | empty (drives pruning of `status`)  |
//! | `entries`            | key bytes                    | borsh [`Entry`]                     |
//! | `nonces`             | 32-byte account              | u64 LE next nonce                   |
//! | `accounts`           | 32-byte account              | borsh [`Account`] (role, quota override, usage); absent = default |
//! | `txs`                | transaction ID               | u64 BE height ‖ block ID            |
//! | `meta`               | fixed names (see `meta` mod) | see below                           |
//!
//! `meta` holds the last accepted block ID and height (u64 LE), the genesis hash, the schema version (u32 LE) and the
//! 2048-byte lattice of the last accepted state. Heights in keys are big-endian so RocksDB's bytewise order is
//! numeric order.
//!
//! Schema 1 (before accounts) opens as schema 2: the first open derives every owner's usage from the entries, once,
//! and writes it with the new version in one batch (`accounts::migrate_from_v1`). Schema 1 had no roles, so the
//! lattice, and with it the state root, is unchanged.

use std::path::Path;
use std::sync::Arc;

use borsh::{BorshDeserialize, BorshSerialize};
use parking_lot::Mutex;
use rocksdb::{
    Cache, ColumnFamily, ColumnFamilyDescriptor, DBRecoveryMode, Direction, FlushOptions,
    IteratorMode, Options, WriteBatch, DB,
};
use tracing::{debug, info, warn};

use crate::error::{Result, StorageError};
use crate::lattice::LtHash;
use codec::{decode_borsh, decode_id, decode_u32, decode_u64_le, rejected_index_key, BORSH_TO_VEC};
use options::{column_family_options, synced};

pub type BlockId = [u8; 32];
pub type AccountId = [u8; 32];

/// Version of the on-disk layout described in the module docs. Bump it whenever a key or value encoding changes.
pub const SCHEMA_VERSION: u32 = 2;

pub(crate) mod cf {
    pub(crate) const BLOCKS: &str = "blocks";
    pub(crate) const HEIGHTS: &str = "heights";
    pub(crate) const STATUS: &str = "status";
    pub(crate) const REJECTED_BY_HEIGHT: &str = "rejected_by_height";
    pub(crate) const ENTRIES: &str = "entries";
    pub(crate) const NONCES: &str = "nonces";
    pub(crate) const META: &str = "meta";
    pub(crate) const TXS: &str = "txs";
    pub(crate) const ACCOUNTS: &str = "accounts";

    pub(crate) const ALL: [&str; 9] = [
        BLOCKS,
        HEIGHTS,
        STATUS,
        REJECTED_BY_HEIGHT,
        ENTRIES,
        NONCES,
        META,
        TXS,
        ACCOUNTS,
    ];
}

/// Keys of the `meta` column family.
pub(crate) mod meta {
    pub(crate) const LAST_ACCEPTED_ID: &[u8] = b"last_accepted_id";
    pub(crate) const LAST_ACCEPTED_HEIGHT: &[u8] = b"last_accepted_height";
    pub(crate) const GENESIS_HASH: &[u8] = b"genesis_hash";
    pub(crate) const SCHEMA_VERSION: &[u8] = b"schema_version";
    pub(crate) const LATTICE: &[u8] = b"lattice";
    /// The lowest height above genesis whose block body is kept (u64 LE); absent: nothing pruned.
    pub(crate) const OLDEST_BLOCK_HEIGHT: &[u8] = b"oldest_block_height";
    /// The summary a state sync under way is syncing to; absent: no sync under way.
    pub(crate) const SYNC_SUMMARY: &[u8] = b"sync_summary";
    /// Bitmap (32 bytes) of the buckets a state sync has finished.
    pub(crate) const SYNC_DONE: &[u8] = b"sync_done";
    /// The lattice (2048 bytes) of the buckets a state sync has finished.
    pub(crate) const SYNC_LATTICE: &[u8] = b"sync_lattice";
}

/// What consensus decided about a block, and at which height, so a late `GetBlock` can still answer for a block the
/// chain rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum BlockStatus {
    Accepted { height: u64 },
    Rejected { height: u64 },
}

/// Handle to the chain state on disk. Cloning is cheap and every clone sees the same database.
#[derive(Clone)]
pub struct ChainStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: DB,
    /// Serialises writers of the last-accepted pointer (`accept`, `write_genesis`) so the height check and the
    /// batch that moves the pointer form one step; released earlier, two accepts could both pass the check for
    /// the same height. A `parking_lot::Mutex` over `()`: it guards no data, only that sequence (so a panic
    /// elsewhere leaves nothing to poison), and it is held
    /// across the synced write on purpose. Readers never take it. Consensus accepts one block at a time, so it is
    /// uncontended in practice.
    writer: Mutex<()>,
    /// The first write that failed (a full disk, an I/O error), kept so `health` reports it: RocksDB
    /// may still answer reads after refusing a write, and the chain cannot go on without its writes.
    /// A `parking_lot::Mutex`: set once on an error path, read by health checks; never contended.
    write_failure: Mutex<Option<String>>,
    options: StoreOptions,
}

impl std::fmt::Debug for ChainStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainStore")
            .field("path", &self.inner.db.path())
            .finish_non_exhaustive()
    }
}

impl ChainStore {
    /// Opens (creating if missing) the store under `path`.
    ///
    /// Fails with [`StorageError::SchemaMismatch`] if the database was written by another layout version.
    pub fn open(path: &Path, options: StoreOptions) -> Result<Self> {
        let cache = Cache::new_lru_cache(options.block_cache_bytes);
        let mut db_opts = Options::default();
        db_opts.create_if_missing(true);
        db_opts.create_missing_column_families(true);
        // RocksDB's info LOG files are for debugging RocksDB itself; a few are plenty.
        db_opts.set_keep_log_file_num(4);
        db_opts.set_db_write_buffer_size(options.write_buffer_bytes);
        // Every accept is a synced write, so the WAL's only legitimate damage is an incomplete last
        // record (a process killed mid-write). RocksDB's default (point-in-time) recovery also stops
        // quietly at a corrupt record in the middle and opens without the synced records after it:
        // accepted blocks gone without a word. This mode tolerates the torn tail and refuses the rest.
        db_opts.set_wal_recovery_mode(DBRecoveryMode::TolerateCorruptedTailRecords);
        let db = crate::lock_wait::open_waiting_for_lock(path, options.lock_wait, || {
            let cfs = cf::ALL
                .map(|name| ColumnFamilyDescriptor::new(name, column_family_options(&cache)));
            DB::open_cf_descriptors(&db_opts, path, cfs)
        })?;

        let store = Self {
            inner: Arc::new(Inner {
                db,
                writer: Mutex::new(()),
                write_failure: Mutex::new(None),
                options,
            }),
        };
        match store.schema_version()? {
            Some(SCHEMA_VERSION) => {}
            Some(accounts::SCHEMA_V1) => store.migrate_from_v1()?,
            Some(found) => {
                return Err(StorageError::SchemaMismatch {
                    found,
                    expected: SCHEMA_VERSION,
                })
            }
            // Genesis writes the version together with the last-accepted pointer, so one without the other is damage.
            None if store.is_initialized()? => {
                return Err(StorageError::Corrupt {
                    what: "schema version",
                    reason: "missing in an initialized store".into(),
                })
            }
            None => {}
        }
        info!(path = %path.display(), last_accepted = ?store.last_accepted()?, "chain store opened");
        Ok(store)
    }

    pub(crate) fn cf(&self, name: &'static str) -> &ColumnFamily {
        // Every name in `cf::ALL` was opened in `open`, and column families are never dropped.
        self.inner
            .db
            .cf_handle(name)
            .expect("column family opened in ChainStore::open")
    }

    pub(crate) fn db(&self) -> &DB {
        &self.inner.db
    }

    /// The lock that orders writers of the last-accepted pointer (see [`Inner::writer`]).
    pub(crate) fn writer_lock(&self) -> parking_lot::MutexGuard<'_, ()> {
        self.inner.writer.lock()
    }

    pub(crate) fn get(&self, cf_name: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.inner.db.get_cf(self.cf(cf_name), key)?)
    }

    fn schema_version(&self) -> Result<Option<u32>> {
        self.get(cf::META, meta::SCHEMA_VERSION)?
            .map(|bytes| decode_u32(&bytes, "schema version"))
            .transpose()
    }

    /// Whether genesis has been written (the last-accepted pointer exists).
    pub fn is_initialized(&self) -> Result<bool> {
        Ok(self.get(cf::META, meta::LAST_ACCEPTED_ID)?.is_some())
    }

    /// Hash of the genesis document this store was initialised with.
    pub fn genesis_hash(&self) -> Result<Option<[u8; 32]>> {
        self.get(cf::META, meta::GENESIS_HASH)?
            .map(|bytes| decode_id(&bytes, "genesis hash"))
            .transpose()
    }

    /// The last accepted block and its height, or `None` before genesis.
    pub fn last_accepted(&self) -> Result<Option<(BlockId, u64)>> {
        // A snapshot, so the ID and the height come from the same accepted state even while another thread accepts.
        let snapshot = self.inner.db.snapshot();
        let meta_cf = self.cf(cf::META);
        let id = snapshot.get_cf(meta_cf, meta::LAST_ACCEPTED_ID)?;
        let height = snapshot.get_cf(meta_cf, meta::LAST_ACCEPTED_HEIGHT)?;
        match (id, height) {
            (None, None) => Ok(None),
            (Some(id), Some(height)) => Ok(Some((
                decode_id(&id, "last accepted block ID")?,
                decode_u64_le(&height, "last accepted height")?,
            ))),
            _ => Err(StorageError::Corrupt {
                what: "last accepted pointer",
                reason: "block ID and height are not both present".into(),
            }),
        }
    }

    /// The lattice of the last accepted state; identity before genesis.
    pub fn lattice(&self) -> Result<LtHash> {
        match self.get(cf::META, meta::LATTICE)? {
            Some(bytes) => LtHash::from_bytes(&bytes),
            None => Ok(LtHash::identity()),
        }
    }

    /// Writes the genesis block at height 0 and the initial state, in one synced batch.
    pub fn write_genesis(&self, genesis: GenesisState) -> Result<()> {
        let _writer = self.inner.writer.lock();
        if self.is_initialized()? {
            return Err(StorageError::AlreadyInitialized);
        }
        let mut batch = WriteBatch::default();
        self.put_accepted_block(&mut batch, &genesis.block_id, 0, &genesis.block_bytes);
        self.put_genesis_state(&mut batch, &genesis);
        let meta_cf = self.cf(cf::META);
        batch.put_cf(meta_cf, meta::GENESIS_HASH, genesis.genesis_hash);
        batch.put_cf(meta_cf, meta::SCHEMA_VERSION, SCHEMA_VERSION.to_le_bytes());
        self.write(batch, true)?;
        info!(
            block_id = ?genesis.block_id,
            entries = genesis.entries.len(),
            state_root = ?genesis.lattice,
            "genesis written"
        );
        Ok(())
    }

    /// The genesis entries, account records and lattice (the state, not the block).
    pub(crate) fn put_genesis_state(&self, batch: &mut WriteBatch, genesis: &GenesisState) {
        for (key, entry) in &genesis.entries {
            batch.put_cf(
                self.cf(cf::ENTRIES),
                key,
                borsh::to_vec(entry).expect(BORSH_TO_VEC),
            );
        }
        self.put_account_writes(batch, &genesis.accounts);
        batch.put_cf(self.cf(cf::META), meta::LATTICE, genesis.lattice.to_bytes());
    }

    /// Block bytes, block ID at height, status and the last-accepted pointer for an accepted block.
    pub(crate) fn put_accepted_block(
        &self,
        batch: &mut WriteBatch,
        id: &BlockId,
        height: u64,
        bytes: &[u8],
    ) {
        batch.put_cf(self.cf(cf::BLOCKS), id, bytes);
        batch.put_cf(self.cf(cf::HEIGHTS), height.to_be_bytes(), id);
        batch.put_cf(
            self.cf(cf::STATUS),
            id,
            borsh::to_vec(&BlockStatus::Accepted { height }).expect(BORSH_TO_VEC),
        );
        let meta_cf = self.cf(cf::META);
        batch.put_cf(meta_cf, meta::LAST_ACCEPTED_ID, id);
        batch.put_cf(meta_cf, meta::LAST_ACCEPTED_HEIGHT, height.to_le_bytes());
    }

    /// Bytes of an accepted block.
    pub fn block(&self, id: &BlockId) -> Result<Option<Vec<u8>>> {
        self.get(cf::BLOCKS, id)
    }

    /// ID of the accepted block at `height`.
    pub fn block_id_at_height(&self, height: u64) -> Result<Option<BlockId>> {
        self.get(cf::HEIGHTS, &height.to_be_bytes())?
            .map(|bytes| decode_id(&bytes, "height index"))
            .transpose()
    }

    /// Status of a decided block; rejected ones are forgotten after [`StoreOptions::rejected_window`] heights.
    pub fn block_status(&self, id: &BlockId) -> Result<Option<BlockStatus>> {
        self.get(cf::STATUS, id)?
            .map(|bytes| decode_borsh(&bytes, "block status"))
            .transpose()
    }

    /// The entry under `key` in the last accepted state.
    pub fn entry(&self, key: &[u8]) -> Result<Option<Entry>> {
        self.get(cf::ENTRIES, key)?
            .map(|bytes| decode_borsh(&bytes, "entry"))
            .transpose()
    }

    /// The entries under `keys`, in the same order, read in one RocksDB `MultiGet`.
    pub fn entries(&self, keys: &[&[u8]]) -> Result<Vec<Option<Entry>>> {
        let entries_cf = self.cf(cf::ENTRIES);
        self.inner
            .db
            .multi_get_cf(keys.iter().map(|key| (entries_cf, *key)))
            .into_iter()
            .map(|found| {
                found?
                    .map(|bytes| decode_borsh(&bytes, "entry"))
                    .transpose()
            })
            .collect()
    }

    /// Up to `limit` entries whose keys start with `prefix`, in key order, strictly after `start_after` if given.
    ///
    /// Paging: pass the last key of one page as `start_after` of the next.
    pub fn entries_with_prefix(
        &self,
        prefix: &[u8],
        start_after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Entry)>> {
        let mut page = Vec::new();
        if limit == 0 {
            return Ok(page);
        }
        // Seek to the cursor when it lies at or past the prefix, else to the prefix itself.
        let from = match start_after {
            Some(cursor) if cursor > prefix => cursor,
            _ => prefix,
        };
        let iter = self.inner.db.iterator_cf(
            self.cf(cf::ENTRIES),
            IteratorMode::From(from, Direction::Forward),
        );
        for item in iter {
            let (key, value) = item?;
            if !key.starts_with(prefix) {
                break;
            }
            if start_after.is_some_and(|cursor| *key <= *cursor) {
                continue;
            }
            page.push((key.into_vec(), decode_borsh(&value, "entry")?));
            if page.len() == limit {
                break;
            }
        }
        Ok(page)
    }

    /// Height and ID of the accepted block that holds transaction `tx_id`.
    pub fn tx_location(&self, tx_id: &[u8; 32]) -> Result<Option<(u64, BlockId)>> {
        let Some(bytes) = self.get(cf::TXS, tx_id)? else {
            return Ok(None);
        };
        if bytes.len() != 8 + 32 {
            return Err(StorageError::Corrupt {
                what: "transaction index",
                reason: format!("{} bytes, expected 40", bytes.len()),
            });
        }
        let height = u64::from_be_bytes(bytes[..8].try_into().expect("8 bytes"));
        Ok(Some((height, decode_id(&bytes[8..], "transaction index")?)))
    }

    /// The next nonce `account` must use; 0 for an account that never sent a transaction.
    pub fn nonce(&self, account: &AccountId) -> Result<u64> {
        self.get(cf::NONCES, account)?
            .map_or(Ok(0), |bytes| decode_u64_le(&bytes, "nonce"))
    }

    /// Applies the acceptance of one block in a single synced batch, so after a crash the store is either before
    /// or after this block, never in between.
    ///
    /// The block must be exactly one height above the last accepted one ([`StorageError::HeightGap`] otherwise,
    /// with nothing written). The same batch prunes rejected-block statuses more than
    /// [`StoreOptions::rejected_window`] heights below the new block.
    pub fn accept(&self, accepted: AcceptBatch) -> Result<()> {
        let _writer = self.inner.writer.lock();
        let (_, last_height) = self.last_accepted()?.ok_or(StorageError::NotInitialized)?;
        let expected = last_height.saturating_add(1);
        if accepted.height != expected {
            return Err(StorageError::HeightGap {
                expected,
                got: accepted.height,
            });
        }

        let mut batch = WriteBatch::default();
        self.put_accepted_block(
            &mut batch,
            &accepted.block_id,
            accepted.height,
            &accepted.block_bytes,
        );
        let entries_cf = self.cf(cf::ENTRIES);
        for (key, write) in &accepted.entry_writes {
            match write {
                Some(entry) => {
                    batch.put_cf(entries_cf, key, borsh::to_vec(entry).expect(BORSH_TO_VEC))
                }
                None => batch.delete_cf(entries_cf, key),
            }
        }
        let nonces_cf = self.cf(cf::NONCES);
        for (account, next_nonce) in &accepted.nonce_writes {
            batch.put_cf(nonces_cf, account, next_nonce.to_le_bytes());
        }
        self.put_account_writes(&mut batch, &accepted.account_writes);
        let txs_cf = self.cf(cf::TXS);
        let mut location = accepted.height.to_be_bytes().to_vec();
        location.extend_from_slice(&accepted.block_id);
        for tx_id in &accepted.tx_ids {
            batch.put_cf(txs_cf, tx_id, &location);
        }
        batch.put_cf(
            self.cf(cf::META),
            meta::LATTICE,
            accepted.lattice.to_bytes(),
        );
        self.prune_blocks(&mut batch, accepted.height, &accepted.pruned)?;
        let pruned = self.prune_rejected(
            &mut batch,
            accepted
                .height
                .saturating_sub(self.inner.options.rejected_window),
        )?;

        self.write(batch, true)?;
        debug!(
            height = accepted.height,
            block_id = ?accepted.block_id,
            entry_writes = accepted.entry_writes.len(),
            nonce_writes = accepted.nonce_writes.len(),
            pruned_rejected = pruned,
            pruned_blocks = accepted.pruned.len(),
            state_root = ?accepted.lattice,
            "block accepted"
        );
        Ok(())
    }

    /// Records that consensus rejected block `id` at `height`.
    ///
    /// Not synced: losing this record in a crash only means the restarted node answers "unknown" for a block it had
    /// rejected, which consensus tolerates (an unknown block is re-fetched and re-decided, and a rejected one never
    /// reaches acceptance). Syncing would add an fsync to every rejection for no safety gain. The next synced
    /// `accept`, or `close`, makes it durable anyway since the WAL is written in order.
    pub fn record_rejected(&self, id: &BlockId, height: u64) -> Result<()> {
        let mut batch = WriteBatch::default();
        batch.put_cf(
            self.cf(cf::STATUS),
            id,
            borsh::to_vec(&BlockStatus::Rejected { height }).expect(BORSH_TO_VEC),
        );
        batch.put_cf(
            self.cf(cf::REJECTED_BY_HEIGHT),
            rejected_index_key(height, id),
            b"",
        );
        self.write(batch, false)
    }

    /// Writes `batch` (synced or not); a failure is remembered for [`ChainStore::health`].
    pub(crate) fn write(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        let written = if sync {
            self.inner.db.write_opt(batch, &synced())
        } else {
            self.inner.db.write(batch)
        };
        written.map_err(|err| {
            self.inner
                .write_failure
                .lock()
                .get_or_insert_with(|| err.to_string());
            StorageError::from(err)
        })
    }

    /// A cheap read that proves the database still answers, and no write has failed since it opened
    /// ([`StorageError::WriteFailed`] otherwise: the chain cannot accept blocks until it is reopened).
    pub fn health(&self) -> Result<()> {
        if let Some(reason) = self.inner.write_failure.lock().clone() {
            return Err(StorageError::WriteFailed { reason });
        }
        self.schema_version().map(drop)
    }

    /// Makes everything written so far durable and flushes memtables, so the next open has no WAL to replay.
    ///
    /// Meant to be called once from the vm's shutdown. Other clones of this handle keep the database open; it
    /// closes when the last one drops (which, without `close`, still syncs the WAL).
    pub fn close(self) -> Result<()> {
        let db = &self.inner.db;
        db.flush_wal(true)?;
        let handles: Vec<&ColumnFamily> = cf::ALL.iter().map(|name| self.cf(name)).collect();
        let mut flush = FlushOptions::default();
        flush.set_wait(true);
        db.flush_cfs_opt(&handles, &flush)?;
        info!(path = %db.path().display(), "chain store closed");
        Ok(())
    }

    #[cfg(test)]
    fn put_raw(&self, cf_name: &'static str, key: &[u8], value: &[u8]) {
        self.inner.db.put_cf(self.cf(cf_name), key, value).unwrap();
    }

    #[cfg(test)]
    fn raw_keys(&self, cf_name: &'static str) -> Vec<Vec<u8>> {
        self.inner
            .db
            .iterator_cf(self.cf(cf_name), IteratorMode::Start)
            .map(|item| item.unwrap().0.into_vec())
            .collect()
    }
}

impl Drop for Inner {
    /// Backstop for a shutdown that never called `close`: sync the WAL so unsynced writes (rejections) survive.
    /// Memtables are not flushed here; that can be slow, and drop also runs on error paths.
    fn drop(&mut self) {
        if let Err(err) = self.db.flush_wal(true) {
            warn!(%err, "syncing the chain store WAL on drop failed");
        }
    }
}

mod accounts;
pub(crate) mod codec;
mod history;
mod options;
mod records;
mod scan;

pub use accounts::account_access_element;
pub use options::StoreOptions;
pub use records::{AcceptBatch, Account, Entry, GenesisState, PrunedBlock, Quota, Role, Usage};
pub use scan::MemoryUsage;

#[cfg(test)]
mod crash_tests;
#[cfg(test)]
mod tests;
