//! Whole-store reads: recomputing the lattice from every record, the database's size, and the memory
//! RocksDB holds for it.

use rocksdb::{properties, IteratorMode};

use super::codec::{decode_borsh, decode_id, decode_u64_le};
use super::{cf, ChainStore};
use crate::error::Result;
use crate::lattice::{entry_element, nonce_element, LtHash};
use crate::store::records::Entry;

impl ChainStore {
    /// Recomputes the lattice from every stored entry and nonce: a full scan, for start-up verification and tests.
    pub fn recompute_lattice(&self) -> Result<LtHash> {
        // One snapshot for both scans, so the result describes a single accepted state.
        let snapshot = self.inner.db.snapshot();
        let mut lattice = LtHash::identity();
        for item in snapshot.iterator_cf(self.cf(cf::ENTRIES), IteratorMode::Start) {
            let (key, value) = item?;
            let entry: Entry = decode_borsh(&value, "entry")?;
            lattice.add(&entry_element(
                &key,
                &entry.value,
                &entry.owner,
                entry.height,
            ));
        }
        for item in snapshot.iterator_cf(self.cf(cf::NONCES), IteratorMode::Start) {
            let (account, next_nonce) = item?;
            let account = decode_id(&account, "nonce account")?;
            lattice.add(&nonce_element(
                &account,
                decode_u64_le(&next_nonce, "nonce")?,
            ));
        }
        self.add_access_elements(&snapshot, &mut lattice)?;
        Ok(lattice)
    }

    /// Approximate bytes on disk and in memtables, summed over column families; for a database-size metric.
    pub fn approximate_size_bytes(&self) -> Result<u64> {
        let mut total = 0u64;
        for name in cf::ALL {
            let handle = self.cf(name);
            for property in [
                properties::TOTAL_SST_FILES_SIZE,
                properties::SIZE_ALL_MEM_TABLES,
            ] {
                let size = self.inner.db.property_int_value_cf(handle, property)?;
                total = total.saturating_add(size.unwrap_or(0));
            }
        }
        Ok(total)
    }
}

/// What RocksDB holds in memory for a store, in bytes, as it reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryUsage {
    /// Memtables of every column family, those waiting to be flushed included.
    pub memtables: u64,
    /// The shared block cache: data blocks, and the index blocks charged to it.
    pub block_cache: u64,
    /// Open tables' readers outside the cache.
    pub table_readers: u64,
}

impl MemoryUsage {
    pub fn total(&self) -> u64 {
        self.memtables
            .saturating_add(self.block_cache)
            .saturating_add(self.table_readers)
    }
}

impl ChainStore {
    /// RocksDB's own account of its memory: the parts that grow with writes and with the state.
    pub fn memory_usage(&self) -> Result<MemoryUsage> {
        let db = &self.inner.db;
        let mut usage = MemoryUsage::default();
        for name in cf::ALL {
            let handle = self.cf(name);
            let memtables = db.property_int_value_cf(handle, properties::SIZE_ALL_MEM_TABLES)?;
            usage.memtables = usage.memtables.saturating_add(memtables.unwrap_or(0));
            let readers =
                db.property_int_value_cf(handle, properties::ESTIMATE_TABLE_READERS_MEM)?;
            usage.table_readers = usage.table_readers.saturating_add(readers.unwrap_or(0));
        }
        // One cache serves every column family, so any one of them reports all of it.
        usage.block_cache = db
            .property_int_value_cf(self.cf(cf::META), properties::BLOCK_CACHE_USAGE)?
            .unwrap_or(0);
        Ok(usage)
    }
}
