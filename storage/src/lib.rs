//! The chain state of kvvm on disk, and the lattice hash that commits to it.
//!
//! [`ChainStore`] keeps accepted blocks, the height index, block statuses, the key-value entries, account nonces,
//! account records (role, quota override, usage) and the lattice of the last accepted state in one RocksDB database.
//! Everything a block's acceptance changes is written in one synced batch, so a crash leaves the store at some
//! accepted height, never between two.
//!
//! [`LtHash`] is the state root: a lattice hash over every entry, nonce and access rule (role, quota override),
//! updated by adding and subtracting elements instead of rehashing the whole state.
//!
//! This crate knows nothing about transactions, the vm or protobuf; callers hand it bytes and domain records.

mod error;
pub mod lattice;
mod lock_wait;
pub mod store;
pub mod sync;

pub use error::StorageError;
pub use lattice::{access_element, entry_element, nonce_element, LtHash};
pub use store::{
    AcceptBatch, Account, AccountId, BlockId, BlockStatus, ChainStore, Entry, GenesisState,
    MemoryUsage, PrunedBlock, Quota, Role, StoreOptions, Usage, SCHEMA_VERSION,
};
pub use sync::{
    Bucket, BucketCheck, Chunk, SnapshotReader, Snapshots, StateSummary, SyncProgress, SyncRecord,
};
