//! Where JSON-RPC handlers do their CPU and disk work (signature checks, RocksDB reads, building
//! answers): on tokio's blocking threads, at most `workers` calls at once and at most `queue`
//! more waiting. A call past that is refused at once with code 1012 (busy), so a flood of
//! requests queues or is refused instead of occupying the async workers that answer the node's
//! consensus calls and keepalive pings.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use jsonrpsee::core::RpcResult;
use kvvm_rpc::types::{codes, rpc_error};
use tokio::sync::Semaphore;

#[derive(Clone)]
pub(crate) struct RpcWork {
    running: Arc<Semaphore>,
    /// Calls running or waiting; never above `workers + queue`.
    admitted: Arc<AtomicUsize>,
    capacity: usize,
}

/// Gives back a call's place when it ends, however it ends (a client that disconnects drops the
/// future while it waits).
struct Admitted(Arc<AtomicUsize>);

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl RpcWork {
    pub(crate) fn new(workers: usize, queue: usize) -> Self {
        Self {
            running: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(AtomicUsize::new(0)),
            capacity: workers + queue,
        }
    }

    /// Runs `job` on a blocking thread once a worker is free; refuses it when the queue is full.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> RpcResult<T> + Send + 'static,
    ) -> RpcResult<T> {
        if self.admitted.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.admitted.fetch_sub(1, Ordering::AcqRel);
            return Err(rpc_error(
                codes::BUSY,
                format!(
                    "the node is busy: {} JSON-RPC calls are running or waiting (rpcWorkers + \
                     rpcWorkQueue); retry later",
                    self.capacity
                ),
            ));
        }
        let _place = Admitted(self.admitted.clone());
        let _permit = self
            .running
            .acquire()
            .await
            .map_err(|_| rpc_error(codes::NOT_READY, "the JSON-RPC workers are closed"))?;
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|e| rpc_error(codes::INTERNAL, format!("a JSON-RPC worker failed: {e}")))?
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_past_the_workers_wait_and_past_the_queue_are_refused() {
        let work = RpcWork::new(1, 1);
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let running = tokio::spawn({
            let work = work.clone();
            async move {
                work.run(move || {
                    hold.recv().ok();
                    Ok(1)
                })
                .await
            }
        });
        let queued = tokio::spawn({
            let work = work.clone();
            async move { work.run(|| Ok(2)).await }
        });
        // Both places are taken once the first call runs and the second waits.
        while work.admitted.load(Ordering::Acquire) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let refused = work.run(|| Ok(3)).await.unwrap_err();
        assert_eq!(refused.code(), codes::BUSY);
        release.send(()).unwrap();
        assert_eq!(running.await.unwrap().unwrap(), 1);
        assert_eq!(queued.await.unwrap().unwrap(), 2);
        assert_eq!(
            work.admitted.load(Ordering::Acquire),
            0,
            "every place given back"
        );
        assert_eq!(work.run(|| Ok(4)).await.unwrap(), 4);
    }
}
