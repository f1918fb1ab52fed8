//! The crate's error type.

/// Failures of this crate outside a JSON-RPC call (JSON-RPC calls fail with
/// [`ClientError`](crate::ClientError) on the client and an
/// [`ErrorObjectOwned`](jsonrpsee::types::ErrorObjectOwned) on the server).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A socket operation of the bridge failed.
    #[error("bridge socket: {0}")]
    Io(#[from] std::io::Error),
    /// The bridge's gRPC server failed.
    #[error("bridge gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The bridge's server task panicked or was cancelled.
    #[error("bridge server task: {0}")]
    Task(tokio::task::JoinError),
}
