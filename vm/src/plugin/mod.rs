//! The plugin process: serve `vm.VM` on loopback, shake hands with the node, stop when told.

pub mod convert;
mod rpc_runtime;
mod vm_service;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use kvvm_proto::vm::runtime::{runtime_client::RuntimeClient, InitializeRequest};
use kvvm_proto::vm::vm_server::VmServer;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio_stream::wrappers::TcpListenerStream;

use crate::node::KvVm;
use crate::plugin_settings::PluginSettings;

/// The environment variable through which the node passes its Runtime address.
pub const ENGINE_ADDR_ENV: &str = "AVALANCHE_VM_RUNTIME_ENGINE_ADDR";

/// The node waits 5 s for the handshake; give up slightly earlier so our error reaches its log.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(4500);

#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    #[error("binding the VM server on 127.0.0.1: {0}")]
    Bind(std::io::Error),
    #[error("connecting to the node's runtime at {addr}: {reason}")]
    Connect { addr: String, reason: String },
    #[error("the node refused the handshake: {0}")]
    Handshake(String),
    #[error("the handshake timed out after {0:?}")]
    HandshakeTimeout(Duration),
    #[error("installing signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("the VM server failed: {0}")]
    Serve(String),
    #[error("starting the JSON-RPC runtime: {0}")]
    RpcRuntime(std::io::Error),
}

/// Runs the plugin until the node shuts it down. Returns once the database is closed.
pub async fn run(settings: PluginSettings, engine_addr: String) -> Result<(), PluginError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(PluginError::Bind)?;
    let addr = listener.local_addr().map_err(PluginError::Bind)?;
    let vm = Arc::new(KvVm::new());
    let rpc_runtime = rpc_runtime::start().map_err(PluginError::RpcRuntime)?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let service = VmServer::new(vm_service::VmService::new(
        vm.clone(),
        settings.protocol,
        rpc_runtime,
    ))
    .max_decoding_message_size(usize::MAX)
    .max_encoding_message_size(usize::MAX);
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async {
                let _ = stop_rx.await;
            }),
    );

    // Signals first: a SIGINT meant for the node's process group must not kill us mid-handshake.
    let mut sigint = signal(SignalKind::interrupt()).map_err(PluginError::Signals)?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(PluginError::Signals)?;

    tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        handshake(&engine_addr, settings.protocol, addr),
    )
    .await
    .map_err(|_| PluginError::HandshakeTimeout(HANDSHAKE_TIMEOUT))??;
    tracing::info!(%addr, protocol = settings.protocol, protocol_source = %settings.source, version = crate::VERSION, "kvvm plugin serving");

    let parent = std::os::unix::process::parent_id();
    let mut shut_down = vm.shutdown_signal();
    loop {
        tokio::select! {
            _ = sigint.recv() => tracing::info!("ignoring SIGINT: the node decides when this plugin stops"),
            _ = sigterm.recv() => {
                let orphaned = std::os::unix::process::parent_id() != parent;
                if *shut_down.borrow() || orphaned {
                    tracing::info!(orphaned, "SIGTERM: stopping");
                    break;
                }
                tracing::info!("ignoring SIGTERM before the Shutdown call");
            }
            _ = shut_down.changed() => {
                // Shutdown has closed the database; the node sends SIGTERM next. Keep serving
                // until then so late calls get answers rather than connection errors.
            }
        }
    }
    vm.shutdown().await;
    let _ = stop_tx.send(());
    match tokio::time::timeout(Duration::from_secs(2), server).await {
        Ok(Ok(Ok(()))) | Err(_) => Ok(()),
        Ok(Ok(Err(e))) => Err(PluginError::Serve(e.to_string())),
        Ok(Err(e)) => Err(PluginError::Serve(e.to_string())),
    }
}

async fn handshake(engine_addr: &str, protocol: u32, addr: SocketAddr) -> Result<(), PluginError> {
    let connect_err = |reason: String| PluginError::Connect {
        addr: engine_addr.to_string(),
        reason,
    };
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{engine_addr}"))
        .map_err(|e| connect_err(e.to_string()))?
        .connect_timeout(HANDSHAKE_TIMEOUT);
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| connect_err(e.to_string()))?;
    RuntimeClient::new(channel)
        .initialize(InitializeRequest {
            protocol_version: protocol,
            addr: addr.to_string(),
        })
        .await
        .map_err(|s| PluginError::Handshake(s.message().to_string()))?;
    Ok(())
}
