//! `vm.VM` over gRPC: a thin adapter converting protobuf messages to [`KvVm`] calls and back
//! (conversions in [`convert`]).
//!
//! Error conventions (HOST-SPEC §2.7): "not found" and "state sync not implemented" travel in-band
//! with an OK status; calls whose error would stop the chain (App*, Connected, Disconnected,
//! SetPreference) log and answer OK.

use std::sync::Arc;
use std::time::Duration;

use kvvm_proto::io::prometheus::client as prom;
use kvvm_proto::vm::{self as pb, vm_server::Vm};
use tonic::{Request, Response, Status};

use crate::engine_state::EngineState;
use crate::ids::BlockId;
use crate::node::open::InitParams;
use crate::node::{KvVm, SummaryMode, VmEvent};
use crate::plugin::convert::{self, block_id, id32, status, timestamp};
use crate::state_sync::fetch::is_state_sync_request_id;
use crate::state_sync::wire::is_state_sync_request;
use kvvm_storage::StateSummary;

pub(crate) struct VmService {
    vm: Arc<KvVm>,
    protocol: u32,
    /// The JSON-RPC bridge server, started by the first CreateHandlers or NewHTTPHandler call. A
    /// tokio `Mutex` because starting it awaits the bind; nothing else waits on it.
    http: tokio::sync::Mutex<Option<std::net::SocketAddr>>,
    /// Where the JSON-RPC bridge runs: a runtime apart from the one serving this service.
    rpc_runtime: tokio::runtime::Handle,
}

/// The path under `/ext/bc/<chainID>` where the JSON-RPC API is mounted.
pub(crate) const RPC_PREFIX: &str = "/rpc";

impl VmService {
    pub(crate) fn new(vm: Arc<KvVm>, protocol: u32, rpc_runtime: tokio::runtime::Handle) -> Self {
        Self {
            vm,
            protocol,
            http: tokio::sync::Mutex::new(None),
            rpc_runtime,
        }
    }

    /// The address of the gRPC `http.HTTP` server answering JSON-RPC, started on first use and
    /// stopped at Shutdown.
    async fn http_server(&self) -> Result<std::net::SocketAddr, Status> {
        let mut http = self.http.lock().await;
        if let Some(addr) = *http {
            return Ok(addr);
        }
        let (methods, limits) =
            crate::rpc_server::served_api(self.vm.clone(), self.protocol).map_err(status)?;
        let mut shut_down = self.vm.shutdown_signal();
        // Bound and served inside the JSON-RPC runtime, so its socket, its tasks and its
        // handlers' blocking work all belong to that runtime.
        let started = self.rpc_runtime.spawn(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| Status::internal(format!("binding the JSON-RPC server: {e}")))?;
            let server = kvvm_rpc::serve_http_bridge(methods, limits, listener, async move {
                let _ = shut_down.wait_for(|down| *down).await;
            })
            .await
            .map_err(|e| Status::internal(format!("starting the JSON-RPC server: {e}")))?;
            let addr = server.local_addr();
            tokio::spawn(async move {
                if let Err(e) = server.stopped().await {
                    tracing::warn!(error = %e, "JSON-RPC bridge stopped with an error");
                }
            });
            Ok::<_, Status>(addr)
        });
        let addr = started
            .await
            .map_err(|e| Status::internal(format!("starting the JSON-RPC server: {e}")))??;
        tracing::info!(%addr, "JSON-RPC bridge serving");
        *http = Some(addr);
        Ok(addr)
    }
}

#[tonic::async_trait]
impl Vm for VmService {
    async fn initialize(
        &self,
        request: Request<pb::InitializeRequest>,
    ) -> Result<Response<pb::InitializeResponse>, Status> {
        let r = request.into_inner();
        let params = InitParams {
            network_id: r.network_id,
            chain_id: id32(&r.chain_id, "chain_id")?,
            node_id: r.node_id,
            chain_data_dir: r.chain_data_dir.into(),
            genesis_bytes: r.genesis_bytes,
            config_bytes: r.config_bytes,
            server_addr: r.server_addr,
        };
        let tip = self.vm.initialize(params).await.map_err(|e| {
            tracing::error!(error = %e, "initialize failed");
            Status::internal(e.to_string())
        })?;
        if let Ok(chain) = self.vm.open_chain() {
            crate::logging::apply_level(&chain.config().log_level);
        }
        Ok(Response::new(convert::initialize_response(&tip)))
    }

    async fn set_state(
        &self,
        request: Request<pb::SetStateRequest>,
    ) -> Result<Response<pb::SetStateResponse>, Status> {
        let state = match pb::State::try_from(request.into_inner().state) {
            Ok(pb::State::StateSyncing) => EngineState::StateSyncing,
            Ok(pb::State::Bootstrapping) => EngineState::Bootstrapping,
            Ok(pb::State::NormalOp) => EngineState::NormalOp,
            _ => return Err(Status::invalid_argument("unknown engine state")),
        };
        let tip = self.vm.set_state(state).map_err(status)?;
        Ok(Response::new(convert::set_state_response(&tip)))
    }

    async fn shutdown(&self, _: Request<()>) -> Result<Response<()>, Status> {
        self.vm.shutdown().await;
        Ok(Response::new(()))
    }

    async fn create_handlers(
        &self,
        _: Request<()>,
    ) -> Result<Response<pb::CreateHandlersResponse>, Status> {
        let addr = self.http_server().await?;
        Ok(Response::new(pb::CreateHandlersResponse {
            handlers: vec![pb::Handler {
                prefix: RPC_PREFIX.to_string(),
                server_addr: addr.to_string(),
            }],
        }))
    }

    async fn new_http_handler(
        &self,
        _: Request<()>,
    ) -> Result<Response<pb::NewHttpHandlerResponse>, Status> {
        // Header-routed requests (`Avalanche-Api-Route: <chainID>`) reach the same JSON-RPC API.
        let addr = self.http_server().await?;
        Ok(Response::new(pb::NewHttpHandlerResponse {
            server_addr: addr.to_string(),
        }))
    }

    async fn wait_for_event(
        &self,
        _: Request<()>,
    ) -> Result<Response<pb::WaitForEventResponse>, Status> {
        // The node cancels this call by resetting the stream; tonic then drops this future.
        let message = match self.vm.wait_for_event().await.map_err(status)? {
            VmEvent::BuildBlock => pb::Message::BuildBlock,
            VmEvent::StateSyncFinished => pb::Message::StateSyncFinished,
        };
        Ok(Response::new(pb::WaitForEventResponse {
            message: message as i32,
        }))
    }

    async fn connected(
        &self,
        request: Request<pb::ConnectedRequest>,
    ) -> Result<Response<()>, Status> {
        let r = request.into_inner();
        tracing::debug!(node = %hex::encode(&r.node_id), version = %format!("{}/{}.{}.{}", r.name, r.major, r.minor, r.patch), "peer connected");
        self.vm.connected(r.node_id);
        Ok(Response::new(()))
    }

    async fn disconnected(
        &self,
        request: Request<pb::DisconnectedRequest>,
    ) -> Result<Response<()>, Status> {
        self.vm.disconnected(&request.into_inner().node_id);
        Ok(Response::new(()))
    }

    async fn build_block(
        &self,
        _: Request<pb::BuildBlockRequest>,
    ) -> Result<Response<pb::BuildBlockResponse>, Status> {
        let block = self.vm.build_block().await.map_err(status)?;
        Ok(Response::new(convert::build_block_response(&block)))
    }

    async fn parse_block(
        &self,
        request: Request<pb::ParseBlockRequest>,
    ) -> Result<Response<pb::ParseBlockResponse>, Status> {
        let block = self
            .vm
            .parse_block(&request.into_inner().bytes)
            .map_err(status)?;
        Ok(Response::new(convert::parse_block_response(&block)))
    }

    async fn get_block(
        &self,
        request: Request<pb::GetBlockRequest>,
    ) -> Result<Response<pb::GetBlockResponse>, Status> {
        // An ID of another length is not one this VM could have produced: not found.
        let found = match BlockId::try_from(request.into_inner().id.as_slice()) {
            Ok(id) => self.vm.get_block(&id).map_err(status)?,
            Err(_) => None,
        };
        Ok(Response::new(convert::get_block_response(found.as_deref())))
    }

    async fn set_preference(
        &self,
        request: Request<pb::SetPreferenceRequest>,
    ) -> Result<Response<()>, Status> {
        let preferred = block_id(&request.into_inner().id, "id")
            .and_then(|id| self.vm.set_preference(id).map_err(status));
        if let Err(e) = preferred {
            tracing::warn!(error = %e.message(), "ignoring preference");
        }
        Ok(Response::new(()))
    }

    async fn health(&self, _: Request<()>) -> Result<Response<pb::HealthResponse>, Status> {
        let details = self
            .vm
            .health()
            .map_err(|e| Status::unavailable(e.to_string()))?;
        Ok(Response::new(pb::HealthResponse {
            details: serde_json::to_vec(&details).unwrap_or_default(),
        }))
    }

    async fn version(&self, _: Request<()>) -> Result<Response<pb::VersionResponse>, Status> {
        Ok(Response::new(pb::VersionResponse {
            version: crate::VERSION.to_string(),
        }))
    }

    async fn app_request(
        &self,
        request: Request<pb::AppRequestMsg>,
    ) -> Result<Response<()>, Status> {
        let r = request.into_inner();
        // A deadline the node could not have sent (negative, out of range) is treated as none.
        let deadline = r.deadline.and_then(|t| {
            let nanos = u32::try_from(t.nanos).ok().filter(|n| *n < 1_000_000_000)?;
            let since_epoch = Duration::new(u64::try_from(t.seconds).ok()?, nanos);
            std::time::UNIX_EPOCH.checked_add(since_epoch)
        });
        if is_state_sync_request(&r.request) {
            self.vm
                .answer_state_sync(r.node_id, r.request_id, r.request)
                .await;
            return Ok(Response::new(()));
        }
        match self.vm.gossip() {
            Some(gossip) => {
                gossip
                    .on_request(r.node_id, r.request_id, deadline, r.request)
                    .await
            }
            None => {
                tracing::debug!(node = %hex::encode(&r.node_id), id = r.request_id, "app request before initialize or after shutdown: ignored")
            }
        }
        Ok(Response::new(()))
    }

    async fn app_request_failed(
        &self,
        request: Request<pb::AppRequestFailedMsg>,
    ) -> Result<Response<()>, Status> {
        let r = request.into_inner();
        tracing::trace!(node = %hex::encode(&r.node_id), id = r.request_id, code = r.error_code, "app request failed");
        if is_state_sync_request_id(r.request_id) {
            self.vm.state_sync_answered(&r.node_id, r.request_id, None);
        } else if let Some(gossip) = self.vm.gossip() {
            gossip.on_request_failed(&r.node_id, r.request_id);
        }
        Ok(Response::new(()))
    }

    async fn app_response(
        &self,
        request: Request<pb::AppResponseMsg>,
    ) -> Result<Response<()>, Status> {
        let r = request.into_inner();
        if is_state_sync_request_id(r.request_id) {
            self.vm
                .state_sync_answered(&r.node_id, r.request_id, Some(r.response));
            return Ok(Response::new(()));
        }
        match self.vm.gossip() {
            Some(gossip) => {
                gossip
                    .on_response(r.node_id, r.request_id, r.response)
                    .await
            }
            None => {
                tracing::debug!(node = %hex::encode(&r.node_id), id = r.request_id, "app response before initialize or after shutdown: ignored")
            }
        }
        Ok(Response::new(()))
    }

    async fn app_gossip(&self, request: Request<pb::AppGossipMsg>) -> Result<Response<()>, Status> {
        let r = request.into_inner();
        match self.vm.gossip() {
            Some(gossip) => gossip.on_gossip(r.node_id, r.msg).await,
            None => {
                tracing::debug!(node = %hex::encode(&r.node_id), bytes = r.msg.len(), "app gossip before initialize or after shutdown: ignored")
            }
        }
        Ok(Response::new(()))
    }

    async fn gather(&self, _: Request<()>) -> Result<Response<pb::GatherResponse>, Status> {
        let metric_families: Vec<prom::MetricFamily> = self
            .vm
            .gather()
            .iter()
            .map(convert::metric_family)
            .collect();
        Ok(Response::new(pb::GatherResponse { metric_families }))
    }

    async fn get_ancestors(
        &self,
        request: Request<pb::GetAncestorsRequest>,
    ) -> Result<Response<pb::GetAncestorsResponse>, Status> {
        let r = request.into_inner();
        // An ID of another length names no block here: no ancestors.
        let Ok(id) = BlockId::try_from(r.blk_id.as_slice()) else {
            return Ok(Response::new(pb::GetAncestorsResponse::default()));
        };
        let blks_bytes = self
            .vm
            .ancestors(
                id,
                r.max_blocks_num.max(0) as usize,
                r.max_blocks_size.max(0) as usize,
                Duration::from_nanos(r.max_blocks_retrival_time.max(0) as u64),
            )
            .map_err(status)?;
        Ok(Response::new(pb::GetAncestorsResponse { blks_bytes }))
    }

    async fn batched_parse_block(
        &self,
        request: Request<pb::BatchedParseBlockRequest>,
    ) -> Result<Response<pb::BatchedParseBlockResponse>, Status> {
        let requests = request.into_inner().request;
        let mut response = Vec::with_capacity(requests.len());
        for bytes in &requests {
            // The node needs one answer per request, in order; one bad block fails the batch.
            let block = self.vm.parse_block(bytes).map_err(status)?;
            response.push(convert::parse_block_response(&block));
        }
        Ok(Response::new(pb::BatchedParseBlockResponse { response }))
    }

    async fn get_block_id_at_height(
        &self,
        request: Request<pb::GetBlockIdAtHeightRequest>,
    ) -> Result<Response<pb::GetBlockIdAtHeightResponse>, Status> {
        let found = self
            .vm
            .block_id_at_height(request.into_inner().height)
            .map_err(status)?;
        Ok(Response::new(match found {
            Some(id) => pb::GetBlockIdAtHeightResponse {
                blk_id: id.to_vec(),
                err: pb::Error::Unspecified as i32,
            },
            None => pb::GetBlockIdAtHeightResponse {
                blk_id: Vec::new(),
                err: pb::Error::NotFound as i32,
            },
        }))
    }

    async fn state_sync_enabled(
        &self,
        _: Request<()>,
    ) -> Result<Response<pb::StateSyncEnabledResponse>, Status> {
        // A gRPC error here keeps the chain from starting; say "disabled" instead, and why.
        let enabled = self.vm.state_sync_enabled().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot tell whether to state sync: bootstrapping instead");
            false
        });
        Ok(Response::new(pb::StateSyncEnabledResponse {
            enabled,
            err: pb::Error::Unspecified as i32,
        }))
    }

    async fn get_ongoing_sync_state_summary(
        &self,
        _: Request<()>,
    ) -> Result<Response<pb::GetOngoingSyncStateSummaryResponse>, Status> {
        let summary = self.vm.ongoing_state_summary().map_err(status)?;
        Ok(Response::new(match summary {
            Some(s) => pb::GetOngoingSyncStateSummaryResponse {
                id: s.id().to_vec(),
                height: s.height,
                bytes: s.to_bytes(),
                err: pb::Error::Unspecified as i32,
            },
            None => pb::GetOngoingSyncStateSummaryResponse {
                err: pb::Error::NotFound as i32,
                ..Default::default()
            },
        }))
    }

    async fn get_last_state_summary(
        &self,
        _: Request<()>,
    ) -> Result<Response<pb::GetLastStateSummaryResponse>, Status> {
        let summary = self.vm.last_state_summary().map_err(status)?;
        Ok(Response::new(match summary {
            Some(s) => pb::GetLastStateSummaryResponse {
                id: s.id().to_vec(),
                height: s.height,
                bytes: s.to_bytes(),
                err: pb::Error::Unspecified as i32,
            },
            None => pb::GetLastStateSummaryResponse {
                err: pb::Error::NotFound as i32,
                ..Default::default()
            },
        }))
    }

    async fn parse_state_summary(
        &self,
        request: Request<pb::ParseStateSummaryRequest>,
    ) -> Result<Response<pb::ParseStateSummaryResponse>, Status> {
        // Works on an empty node: parsing needs nothing but the bytes.
        let summary = StateSummary::from_bytes(&request.into_inner().bytes)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        Ok(Response::new(pb::ParseStateSummaryResponse {
            id: summary.id().to_vec(),
            height: summary.height,
            err: pb::Error::Unspecified as i32,
        }))
    }

    async fn get_state_summary(
        &self,
        request: Request<pb::GetStateSummaryRequest>,
    ) -> Result<Response<pb::GetStateSummaryResponse>, Status> {
        let summary = self
            .vm
            .state_summary_at(request.into_inner().height)
            .map_err(status)?;
        Ok(Response::new(match summary {
            Some(s) => pb::GetStateSummaryResponse {
                id: s.id().to_vec(),
                bytes: s.to_bytes(),
                err: pb::Error::Unspecified as i32,
            },
            None => pb::GetStateSummaryResponse {
                err: pb::Error::NotFound as i32,
                ..Default::default()
            },
        }))
    }

    async fn block_verify(
        &self,
        request: Request<pb::BlockVerifyRequest>,
    ) -> Result<Response<pb::BlockVerifyResponse>, Status> {
        let block = self
            .vm
            .verify_block(request.into_inner().bytes)
            .await
            .map_err(status)?;
        Ok(Response::new(pb::BlockVerifyResponse {
            timestamp: Some(timestamp(block.timestamp_ms)),
        }))
    }

    async fn block_accept(
        &self,
        request: Request<pb::BlockAcceptRequest>,
    ) -> Result<Response<()>, Status> {
        let id = block_id(&request.into_inner().id, "id")?;
        self.vm.accept_block(id).await.map_err(|e| {
            tracing::error!(error = %e, "accept failed: the node will stop this chain");
            status(e)
        })?;
        Ok(Response::new(()))
    }

    async fn block_reject(
        &self,
        request: Request<pb::BlockRejectRequest>,
    ) -> Result<Response<()>, Status> {
        let id = block_id(&request.into_inner().id, "id")?;
        self.vm.reject_block(id).await.map_err(|e| {
            tracing::error!(error = %e, "reject failed: the node will stop this chain");
            status(e)
        })?;
        Ok(Response::new(()))
    }

    async fn state_summary_accept(
        &self,
        request: Request<pb::StateSummaryAcceptRequest>,
    ) -> Result<Response<pb::StateSummaryAcceptResponse>, Status> {
        use pb::state_summary_accept_response::Mode;
        let summary = StateSummary::from_bytes(&request.into_inner().bytes)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let mode = match self.vm.accept_state_summary(summary).map_err(|e| {
            tracing::error!(error = %e, "accepting a state summary failed");
            status(e)
        })? {
            SummaryMode::Skipped => Mode::Skipped,
            SummaryMode::Static => Mode::Static,
        };
        Ok(Response::new(pb::StateSummaryAcceptResponse {
            mode: mode as i32,
            err: pb::Error::Unspecified as i32,
        }))
    }
}
