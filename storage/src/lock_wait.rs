//! Opening RocksDB when another process may still hold its LOCK file: a node that restarts its
//! plugin can start the new process while the old one is still exiting.

use std::path::Path;
use std::time::{Duration, Instant};

use rocksdb::DB;
use tracing::warn;

use crate::error::{Result, StorageError};

/// How often `open` tries the lock again while it waits.
const LOCK_RETRY: Duration = Duration::from_millis(200);

/// Whether RocksDB refused to open because another holder has the database's LOCK file.
fn is_lock_held(e: &rocksdb::Error) -> bool {
    e.kind() == rocksdb::ErrorKind::IOError && e.to_string().to_ascii_lowercase().contains("lock")
}

/// Runs `open` until it succeeds, fails for another reason than a held lock, or `wait` passes.
pub(crate) fn open_waiting_for_lock(
    path: &Path,
    wait: Duration,
    mut open: impl FnMut() -> std::result::Result<DB, rocksdb::Error>,
) -> Result<DB> {
    let started = Instant::now();
    let mut said = false;
    loop {
        match open() {
            Ok(db) => return Ok(db),
            Err(e) if is_lock_held(&e) => {
                let waited = started.elapsed();
                if waited >= wait {
                    return Err(StorageError::Locked {
                        path: path.display().to_string(),
                        waited_ms: waited.as_millis() as u64,
                        reason: e.to_string(),
                    });
                }
                if !said {
                    warn!(path = %path.display(), wait_ms = wait.as_millis() as u64,
                        "another process holds the chain database; waiting for it to exit");
                    said = true;
                }
                std::thread::sleep(LOCK_RETRY.min(wait - waited));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_database_is_waited_for_within_the_bound_and_refused_past_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let holder = DB::open_default(&path).unwrap();
        let refused = open_waiting_for_lock(&path, Duration::from_millis(300), || {
            DB::open_default(&path)
        })
        .unwrap_err();
        assert!(
            matches!(refused, StorageError::Locked { waited_ms, .. } if waited_ms >= 300),
            "{refused}"
        );
        let released = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(400));
            drop(holder);
        });
        let started = Instant::now();
        open_waiting_for_lock(&path, Duration::from_secs(20), || DB::open_default(&path))
            .expect("opens once released");
        assert!(started.elapsed() >= Duration::from_millis(300));
        released.join().unwrap();
    }

    #[test]
    fn another_open_error_fails_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-directory");
        std::fs::write(&file, b"x").unwrap();
        let started = Instant::now();
        let err = open_waiting_for_lock(&file, Duration::from_secs(20), || {
            DB::open_default(file.join("db"))
        })
        .unwrap_err();
        assert!(matches!(err, StorageError::Rocks(_)), "{err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no waiting for a lock that is not the cause"
        );
    }
}
