//! State sync's storage side. A serving node keeps [`Snapshots`]: checkpoints of the state at summary
//! heights, each with its [`StateSummary`], and answers with [`Chunk`]s of a bucket's records. A
//! syncing node checks each bucket with a [`BucketCheck`] and writes it into its [`ChainStore`]
//! (`begin_state_sync`, `write_sync_records`, `finish_sync_bucket`, `finish_state_sync`), which
//! keeps the progress so a restart resumes it.
//!
//! [`ChainStore`]: crate::ChainStore

mod record;
mod restore;
mod snapshot;
mod summary;

pub use record::SyncRecord;
pub use restore::{BucketCheck, SyncProgress};
pub use snapshot::{Chunk, SnapshotReader, Snapshots};
pub use summary::{Bucket, StateSummary, MAX_BUCKETS, MAX_SUMMARY_BYTES};

#[cfg(test)]
mod tests;
