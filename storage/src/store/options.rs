//! How the store is tuned and how RocksDB is opened and written.

use std::time::Duration;

use rocksdb::{BlockBasedOptions, Cache, DBCompressionType, Options, WriteOptions};

/// Tuning of a [`ChainStore`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// How many heights of rejected-block statuses are kept behind the last accepted height. Older ones are pruned as
    /// blocks are accepted: consensus never asks about a rejected block that far back, and the records would
    /// otherwise grow forever.
    pub rejected_window: u64,
    /// Size of the LRU block cache shared by all column families. Hot state is small; 32 MiB keeps recent blocks
    /// and entries in memory without competing with the node for RAM.
    pub block_cache_bytes: usize,
    /// How long `open` waits for another process to release the database's lock. A node that
    /// restarts its plugin may start the new one while the old one is still exiting; failing at
    /// once would leave the chain down until the next restart. Zero fails at once.
    pub lock_wait: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            rejected_window: 1024,
            block_cache_bytes: 32 << 20,
            lock_wait: Duration::ZERO,
        }
    }
}

pub(super) fn synced() -> WriteOptions {
    let mut opts = WriteOptions::default();
    opts.set_sync(true);
    opts
}

/// Options shared by every column family: LZ4 (cheap to compress, and block bytes and values compress well) and
/// one LRU block cache for the whole database.
pub(super) fn column_family_options(cache: &Cache) -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    let mut opts = Options::default();
    opts.set_compression_type(DBCompressionType::Lz4);
    opts.set_block_based_table_factory(&table);
    opts
}
