//! How the store is tuned and how RocksDB is opened and written.

use std::time::Duration;

use rocksdb::{
    BlockBasedIndexType, BlockBasedOptions, Cache, DBCompressionType, Options, WriteOptions,
};

/// Tuning of a [`ChainStore`].
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// How many heights of rejected-block statuses are kept behind the last accepted height. Older ones are pruned as
    /// blocks are accepted: consensus never asks about a rejected block that far back, and the records would
    /// otherwise grow forever.
    pub rejected_window: u64,
    /// Size of the LRU block cache shared by all column families. Hot state is small; 32 MiB keeps recent blocks
    /// and entries in memory without competing with the node for RAM. Every table's index blocks are charged to it
    /// too, so a larger state does not grow memory beside it.
    pub block_cache_bytes: usize,
    /// Bytes of memtables across all column families before RocksDB flushes the largest one to disk. Left to
    /// RocksDB's defaults, each of the nine column families could hold two 64 MiB memtables. Memtables being
    /// flushed count until they are written, and each column family written holds at least one 1 MiB
    /// allocation block, so the memtables' peak is about twice this plus 9 MiB.
    pub write_buffer_bytes: usize,
    /// How long `open` waits for another process to release the database's lock. A node that
    /// restarts its plugin may start the new one while the old one is still exiting; failing at
    /// once would leave the chain down until the next restart. Zero fails at once.
    pub lock_wait: Duration,
}

impl StoreOptions {
    pub const DEFAULT_BLOCK_CACHE_BYTES: usize = 32 << 20;
    pub const DEFAULT_WRITE_BUFFER_BYTES: usize = 64 << 20;
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            rejected_window: 1024,
            block_cache_bytes: Self::DEFAULT_BLOCK_CACHE_BYTES,
            write_buffer_bytes: Self::DEFAULT_WRITE_BUFFER_BYTES,
            lock_wait: Duration::ZERO,
        }
    }
}

pub(super) fn synced() -> WriteOptions {
    let mut opts = WriteOptions::default();
    opts.set_sync(true);
    opts
}

/// A memtable's filter, as a share of its size; it is allocated in the memtable, so it counts
/// against `write_buffer_bytes`.
const MEMTABLE_FILTER_RATIO: f64 = 0.005;

/// Options shared by every column family: LZ4 (cheap to compress, and block bytes and values compress well), one
/// LRU block cache for the whole database, which also holds the tables' index and filter blocks, and Bloom filters
/// in the tables and the memtables.
pub(super) fn column_family_options(cache: &Cache) -> Options {
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(cache);
    // Otherwise every open table keeps its index in memory outside the cache, growing with the state.
    table.set_cache_index_and_filter_blocks(true);
    // In 4 KiB partitions under a small top-level index: a table's whole index, evicted from a cache
    // smaller than the state's indexes, would be read, checked and decompressed again for each
    // lookup (measured: a 10M-key fill spent two thirds of its time doing that), a partition only
    // where the lookup goes.
    table.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
    table.set_metadata_block_size(4 << 10);
    table.set_pin_top_level_index_and_filter(true);
    table.set_cache_index_and_filter_blocks_with_high_priority(true);
    // The newest tables are read most; keeping their indexes from being evicted costs little memory.
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    // Most lookups on the hot path are of keys that are not there: a new transaction's ID in the
    // index at every admission, a key written for the first time. Without a filter each one
    // searches the memtables and every level's index and block; 10 bits a key answer about 99% of
    // them from the filter, partitioned like the index so a large state's filters are cached in
    // pieces too.
    table.set_bloom_filter(10.0, false);
    table.set_partition_filters(true);
    let mut opts = Options::default();
    opts.set_compression_type(DBCompressionType::Lz4);
    opts.set_memtable_prefix_bloom_ratio(MEMTABLE_FILTER_RATIO);
    opts.set_memtable_whole_key_filtering(true);
    opts.set_block_based_table_factory(&table);
    opts
}
