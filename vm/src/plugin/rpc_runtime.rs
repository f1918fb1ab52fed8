//! The JSON-RPC bridge's own tokio runtime. The node's consensus calls (and the gRPC keepalive
//! pings that keep the chain alive) are served on the main runtime; a flood of JSON-RPC requests
//! then occupies only this runtime's threads and its blocking pool, never the threads that must
//! answer the node. Those threads also run at a lower CPU priority ([`RPC_THREAD_NICE`]), so a
//! flood that keeps them busy yields the cores to the node's calls and to AvalancheGo itself.

use tokio::runtime::{Builder, Handle};

/// Async worker threads of the JSON-RPC runtime: they only parse, route and await; the CPU and
/// disk work of each call runs on the runtime's blocking threads (`rpc_server::work`).
const RPC_ASYNC_WORKERS: usize = 2;

/// How much less CPU priority (nice) the runtime's threads take than the plugin's others. Linux
/// schedules a nice-10 thread at about a tenth of the weight of a nice-0 one when both want a
/// core, yet an idle machine still gives it a whole core: JSON-RPC loses speed only to
/// consensus work (or AvalancheGo's), never to nothing.
pub(crate) const RPC_THREAD_NICE: i32 = 10;

/// Nice values above this do not exist.
const MAX_NICE: i32 = 19;

/// Starts the runtime on a thread of its own and returns a handle to spawn on it. The runtime
/// lives until the process exits: the plugin exits when the node is done with it.
pub(crate) fn start() -> std::io::Result<Handle> {
    let runtime = Builder::new_multi_thread()
        .worker_threads(RPC_ASYNC_WORKERS)
        .thread_name("kvvm-rpc")
        .on_thread_start(lower_this_thread_s_priority)
        .enable_all()
        .build()?;
    let handle = runtime.handle().clone();
    std::thread::Builder::new()
        .name("kvvm-rpc-runtime".into())
        .spawn(move || runtime.block_on(std::future::pending::<()>()))?;
    Ok(handle)
}

/// Sets the calling thread's nice value to the process's (its main thread's) plus
/// [`RPC_THREAD_NICE`]. Linux keeps one per thread and a new thread starts with its creator's,
/// so counting from the thread's own would lower the blocking threads the workers start twice.
/// Failing only costs the priority, so it is logged.
fn lower_this_thread_s_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getpriority and setpriority read a scheduling value of the main thread (`who`:
        // the process ID) and set that of the calling thread (`who` 0); they touch no memory of
        // the process.
        let result = unsafe {
            let process = libc::getpriority(libc::PRIO_PROCESS, std::process::id());
            libc::setpriority(
                libc::PRIO_PROCESS,
                0,
                process.saturating_add(RPC_THREAD_NICE).min(MAX_NICE),
            )
        };
        if result != 0 {
            tracing::warn!(
                error = %std::io::Error::last_os_error(),
                "could not lower a JSON-RPC thread's CPU priority"
            );
        }
    }
}
