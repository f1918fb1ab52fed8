//! What can go wrong in a user command, worded for the person who typed it.

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("calling {url}: {reason}")]
    Rpc { url: String, reason: String },
    #[error("transaction {tx} was {status}: {reason}")]
    NotAccepted {
        tx: String,
        status: String,
        reason: String,
    },
    #[error("transaction {tx} is still pending after {secs} s (--timeout)")]
    Timeout { tx: String, secs: u64 },
}
