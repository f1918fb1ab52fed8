//! Frozen views of the state at summary heights: RocksDB checkpoints (hard links of the immutable
//! table files, so taking one costs a memtable flush, not a copy) under a directory of their own,
//! each with the summary computed from it once.
//!
//! Layout of the directory: `<height>/` is the checkpoint of the state at that height (20 digits, so
//! names sort by height), `<height>.summary` its summary. A checkpoint without a summary file was
//! taken but not yet summarised (or the process stopped meanwhile); summarising it again gives the
//! same bytes. RocksDB builds a checkpoint in `<height>.tmp` and renames it when complete, so a
//! leftover `.tmp` is a checkpoint that never finished and is removed.

use std::fs;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use rocksdb::checkpoint::Checkpoint;
use rocksdb::{Options, DB};
use tracing::{info, warn};

use crate::error::{Result, StorageError};
use crate::lattice::LtHash;
use crate::store::codec::{decode_id, decode_u64_le};
use crate::store::{cf, meta, ChainStore};
use crate::sync::record::{handle, is_sync_key, scan_records, SyncRecord};
use crate::sync::summary::{BucketCut, StateSummary};

const SUMMARY_SUFFIX: &str = "summary";

/// The snapshot directory of one chain.
#[derive(Clone, Debug)]
pub struct Snapshots {
    dir: PathBuf,
}

impl Snapshots {
    /// Opens (creating if missing) the directory, removing checkpoints that never finished.
    pub fn open(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|err| io_error(dir, err))?;
        for entry in fs::read_dir(dir).map_err(|err| io_error(dir, err))? {
            let path = entry.map_err(|err| io_error(dir, err))?.path();
            if path.extension().is_some_and(|ext| ext == "tmp") {
                warn!(path = %path.display(), "removing an unfinished state snapshot");
                remove_path(&path)?;
            }
        }
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn checkpoint_dir(&self, height: u64) -> PathBuf {
        self.dir.join(format!("{height:020}"))
    }

    fn summary_file(&self, height: u64) -> PathBuf {
        self.dir.join(format!("{height:020}.{SUMMARY_SUFFIX}"))
    }

    /// Checkpoints `store` at its last accepted height and returns that height. Holds the store's
    /// writer lock meanwhile, so no block is accepted between reading the height and the checkpoint.
    pub fn take(&self, store: &ChainStore) -> Result<u64> {
        let _writer = store.writer_lock();
        let (_, height) = store.last_accepted()?.ok_or(StorageError::NotInitialized)?;
        let path = self.checkpoint_dir(height);
        if !path.exists() {
            Checkpoint::new(store.db())?.create_checkpoint(&path)?;
            info!(height, path = %path.display(), "state snapshot taken");
        }
        Ok(height)
    }

    /// Heights of checkpoints with no summary yet, lowest first.
    pub fn unsummarized(&self) -> Result<Vec<u64>> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|(_, summarized)| !summarized)
            .map(|(height, _)| height)
            .collect())
    }

    /// Heights with a summary, lowest first.
    pub fn summarized(&self) -> Result<Vec<u64>> {
        Ok(self
            .list()?
            .into_iter()
            .filter(|(_, summarized)| *summarized)
            .map(|(height, _)| height)
            .collect())
    }

    fn list(&self) -> Result<Vec<(u64, bool)>> {
        let mut heights = Vec::new();
        for entry in fs::read_dir(&self.dir).map_err(|err| io_error(&self.dir, err))? {
            let entry = entry.map_err(|err| io_error(&self.dir, err))?;
            let name = entry.file_name();
            let Some(height) = name.to_str().and_then(|name| name.parse::<u64>().ok()) else {
                continue;
            };
            heights.push((height, self.summary_file(height).exists()));
        }
        heights.sort_unstable();
        Ok(heights)
    }

    /// Computes the summary of the checkpoint at `height` (a full scan of it) and stores it.
    pub fn summarize(&self, height: u64) -> Result<StateSummary> {
        let db = open_read_only(&self.checkpoint_dir(height))?;
        let summary = summarize_state(&db)?;
        if summary.height != height {
            return Err(StorageError::Corrupt {
                what: "state snapshot",
                reason: format!(
                    "the checkpoint named {height} holds height {}",
                    summary.height
                ),
            });
        }
        write_atomically(&self.summary_file(height), &summary.to_bytes())?;
        info!(
            height,
            buckets = summary.buckets.len(),
            records = summary.records(),
            "state summary written"
        );
        Ok(summary)
    }

    /// The stored summary at `height`, if one is kept.
    pub fn summary(&self, height: u64) -> Result<Option<StateSummary>> {
        let path = self.summary_file(height);
        match fs::read(&path) {
            Ok(bytes) => StateSummary::from_bytes(&bytes).map(Some),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(io_error(&path, err)),
        }
    }

    /// Deletes every snapshot but the newest `keep` summarized ones (checkpoints below the oldest
    /// kept, summarized or not, go too). Returns the deleted heights.
    pub fn retain_newest(&self, keep: usize) -> Result<Vec<u64>> {
        let summarized = self.summarized()?;
        let keep_from = summarized.len().saturating_sub(keep.max(1));
        let Some(&oldest_kept) = summarized.get(keep_from) else {
            return Ok(Vec::new());
        };
        let mut deleted = Vec::new();
        for (height, _) in self.list()? {
            if height < oldest_kept {
                remove_path(&self.summary_file(height))?;
                remove_path(&self.checkpoint_dir(height))?;
                deleted.push(height);
            }
        }
        Ok(deleted)
    }

    /// A reader serving the snapshot at `height`, if it is kept and summarized.
    pub fn reader(&self, height: u64) -> Result<Option<SnapshotReader>> {
        let Some(summary) = self.summary(height)? else {
            return Ok(None);
        };
        let db = open_read_only(&self.checkpoint_dir(height))?;
        Ok(Some(SnapshotReader { db, summary }))
    }
}

/// One answer to a request for a bucket's records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub records: Vec<SyncRecord>,
    /// Whether the bucket ends with the last of `records`.
    pub complete: bool,
}

/// An open snapshot, for answering peers.
pub struct SnapshotReader {
    db: DB,
    summary: StateSummary,
}

impl SnapshotReader {
    pub fn summary(&self) -> &StateSummary {
        &self.summary
    }

    /// Records of bucket `bucket` after the sync key `after` (from its start if `None`), in order,
    /// up to `max_bytes` of them (at least one, whatever its size). The work is bounded by the answer.
    pub fn chunk(&self, bucket: usize, after: Option<&[u8]>, max_bytes: usize) -> Result<Chunk> {
        let (first, end) =
            self.summary
                .bucket_range(bucket)
                .ok_or_else(|| StorageError::BadSyncRequest {
                    reason: format!(
                        "bucket {bucket} of {} at height {}",
                        self.summary.buckets.len(),
                        self.summary.height
                    ),
                })?;
        if let Some(after) = after {
            let inside = is_sync_key(after) && after >= first && end.is_none_or(|end| after < end);
            if !inside {
                return Err(StorageError::BadSyncRequest {
                    reason: format!("the resume key is outside bucket {bucket}"),
                });
            }
        }
        let mut records = Vec::new();
        let mut bytes = 0usize;
        let mut complete = true;
        scan_records(&self.db, after.unwrap_or(first), |record| {
            let key = record.sync_key();
            if after.is_some_and(|after| key.as_slice() <= after) {
                return Ok(ControlFlow::Continue(()));
            }
            if end.is_some_and(|end| key.as_slice() >= end) {
                return Ok(ControlFlow::Break(()));
            }
            if !records.is_empty() && bytes + record.encoded_len() > max_bytes {
                complete = false;
                return Ok(ControlFlow::Break(()));
            }
            bytes += record.encoded_len();
            records.push(record);
            Ok(ControlFlow::Continue(()))
        })?;
        Ok(Chunk { records, complete })
    }

    /// The bytes of the summary's block, as accepted.
    pub fn block(&self) -> Result<Vec<u8>> {
        self.db
            .get_cf(handle(&self.db, cf::BLOCKS)?, self.summary.block_id)?
            .ok_or_else(|| StorageError::Corrupt {
                what: "state snapshot",
                reason: format!("no block body at height {}", self.summary.height),
            })
    }
}

fn open_read_only(path: &Path) -> Result<DB> {
    Ok(DB::open_cf_for_read_only(
        &Options::default(),
        path,
        cf::ALL,
        false,
    )?)
}

/// Two passes over the state: one counts the records, the other cuts them into buckets.
fn summarize_state(db: &DB) -> Result<StateSummary> {
    let meta_cf = handle(db, cf::META)?;
    let read_meta = |key: &[u8], what: &'static str| {
        db.get_cf(meta_cf, key)?.ok_or(StorageError::Corrupt {
            what,
            reason: "missing from the snapshot".into(),
        })
    };
    let block_id = decode_id(
        &read_meta(meta::LAST_ACCEPTED_ID, "last accepted ID")?,
        "last accepted ID",
    )?;
    let height = decode_u64_le(
        &read_meta(meta::LAST_ACCEPTED_HEIGHT, "last accepted height")?,
        "last accepted height",
    )?;
    let state = LtHash::from_bytes(&read_meta(meta::LATTICE, "lattice")?)?;

    let mut total = 0u64;
    scan_records(db, &[], |_| {
        total += 1;
        Ok(ControlFlow::Continue(()))
    })?;
    let mut cut = BucketCut::new(total);
    scan_records(db, &[], |record| {
        cut.push(&record)?;
        Ok(ControlFlow::Continue(()))
    })?;
    let (buckets, sum) = cut.finish()?;
    if sum != state {
        return Err(StorageError::Corrupt {
            what: "state snapshot",
            reason: format!("its records do not add up to its state root at height {height}"),
        });
    }
    Ok(StateSummary {
        height,
        block_id,
        state_root: state.checksum(),
        buckets,
    })
}

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("summary-part");
    let mut file = fs::File::create(&tmp).map_err(|err| io_error(&tmp, err))?;
    file.write_all(bytes).map_err(|err| io_error(&tmp, err))?;
    file.sync_all().map_err(|err| io_error(&tmp, err))?;
    fs::rename(&tmp, path).map_err(|err| io_error(path, err))?;
    if let Some(parent) = path.parent() {
        fs::File::open(parent)
            .and_then(|dir| dir.sync_all())
            .map_err(|err| io_error(parent, err))?;
    }
    Ok(())
}

fn remove_path(path: &Path) -> Result<()> {
    let removed = if path.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    };
    match removed {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => Err(io_error(path, err)),
        _ => Ok(()),
    }
}

fn io_error(path: &Path, err: std::io::Error) -> StorageError {
    StorageError::Io {
        path: path.display().to_string(),
        reason: err.to_string(),
    }
}
