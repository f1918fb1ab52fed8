//! The JSON-RPC bridge's own tokio runtime. The node's consensus calls (and the gRPC keepalive
//! pings that keep the chain alive) are served on the main runtime; a flood of JSON-RPC requests
//! then occupies only this runtime's threads and its blocking pool, never the threads that must
//! answer the node.

use tokio::runtime::{Builder, Handle};

/// Async worker threads of the JSON-RPC runtime: they only parse, route and await; the CPU and
/// disk work of each call runs on the runtime's blocking threads (`rpc_server::work`).
const RPC_ASYNC_WORKERS: usize = 2;

/// Starts the runtime on a thread of its own and returns a handle to spawn on it. The runtime
/// lives until the process exits: the plugin exits when the node is done with it.
pub(crate) fn start() -> std::io::Result<Handle> {
    let runtime = Builder::new_multi_thread()
        .worker_threads(RPC_ASYNC_WORKERS)
        .thread_name("kvvm-rpc")
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("kvvm-rpc-runtime".into())
        .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
    Ok(handle)
}
