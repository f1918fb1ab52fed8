//! What can go wrong in a user command, worded for the person who typed it.

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error(
        "no JSON-RPC URL: pass --rpc URL or set KVVM_RPC, or start a local network with \
         scripts/run-network.sh, which lists its nodes' URLs in {summary}"
    )]
    NoRpc { summary: String },
    #[error("network summary {path}: {reason}")]
    Summary { path: String, reason: String },
    #[error("calling {url} (from {origin}): {reason}")]
    Rpc {
        url: String,
        origin: String,
        reason: String,
    },
    #[error("transaction {tx} was {status}: {reason}")]
    NotAccepted {
        tx: String,
        status: String,
        reason: String,
    },
    #[error("transaction {tx} is still pending after {secs} s (--timeout)")]
    Timeout { tx: String, secs: u64 },
}
