use thiserror::Error;

/// Everything that can go wrong reading or writing the chain state.
#[derive(Debug, Error)]
pub enum StorageError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),

    /// Another process kept the database's lock for longer than the store waited.
    #[error("the chain database {path} is still locked by another process after {waited_ms} ms: {reason}")]
    Locked {
        path: String,
        waited_ms: u64,
        reason: String,
    },

    /// A stored value does not decode. The store never panics on bad bytes; it names what it was reading so an
    /// operator can tell a damaged database from a bug.
    #[error("corrupt {what} in the chain store: {reason}")]
    Corrupt { what: &'static str, reason: String },

    /// An operation needs the genesis block to have been written first.
    #[error("the chain store has no genesis yet")]
    NotInitialized,

    #[error("the chain store already holds a chain; genesis can only be written once")]
    AlreadyInitialized,

    /// The database was written by a different layout of this crate. Refusing to open it beats misreading it.
    #[error("chain store schema version {found} is not the supported version {expected}")]
    SchemaMismatch { found: u32, expected: u32 },

    /// A write failed (a full disk, an I/O error). Nothing of it was applied; the store stays at its
    /// last complete write and refuses to report healthy until it is reopened.
    #[error("a write to the chain database failed, so the chain cannot go on until the node restarts with the cause fixed: {reason}")]
    WriteFailed { reason: String },

    /// A file of the store's other than RocksDB's (a state snapshot, a summary) could not be read or written.
    #[error("{path}: {reason}")]
    Io { path: String, reason: String },

    /// Bytes offered as a state summary are not one.
    #[error("not a state summary: {reason}")]
    BadSummary { reason: String },

    /// A state sync request or answer breaks the protocol's rules.
    #[error("bad state sync request: {reason}")]
    BadSyncRequest { reason: String },

    /// A state sync step was asked for while no sync is under way.
    #[error("no state sync is under way")]
    NoStateSync,

    /// The sync cannot finish before every bucket is in and they add up to the summary's root.
    #[error("the state sync is not complete: {buckets_left} buckets left, or their sum is not the summary's root")]
    SyncIncomplete { buckets_left: usize },

    /// Blocks are accepted strictly one height after another.
    #[error("accepted block height {got} does not follow the last accepted height (expected {expected})")]
    HeightGap { expected: u64, got: u64 },

    /// Blocks are pruned oldest first, one height after another, and never the one being accepted.
    #[error("pruning block height {got} out of order (expected {expected}, below the block being accepted)")]
    PruneOrder { expected: u64, got: u64 },
}

impl StorageError {
    /// Whether this error says the database's files are damaged (a RocksDB corruption report, or a
    /// stored value that does not decode), as opposed to a failing disk or a misuse.
    pub fn is_damage(&self) -> bool {
        match self {
            Self::Rocks(err) => err.kind() == rocksdb::ErrorKind::Corruption,
            Self::Corrupt { .. } => true,
            _ => false,
        }
    }
}

pub(crate) type Result<T, E = StorageError> = std::result::Result<T, E>;
