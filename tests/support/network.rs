//! A fake AvalancheGo network for several `kvvm` plugins: each plugin gets its own imitation node,
//! which serves `appsender.AppSender` at the `server_addr` handed over in Initialize and routes what
//! the plugin sends to the other plugins' `vm.VM` servers, as the real node's p2p layer would:
//!
//! * `SendAppGossip`   → `AppGossip{node_id: sender}` on every listed node that joined;
//! * `SendAppRequest`  → `AppRequest{node_id: sender, deadline: now + 10 s}` on the target, or
//!   `AppRequestFailed{code -1, "timed out"}` back to the sender if the target is not reachable;
//! * `SendAppResponse` → `AppResponse{node_id: responder}` on the requester;
//! * `SendAppError`    → `AppRequestFailed` on the requester.
//!
//! Deliveries are asynchronous (the node queues them), and every App* call the network makes is
//! checked: an error from any of them would stop the chain on a real node, so it is recorded in
//! [`Network::app_errors`] for the tests to assert on.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kvvm_proto::appsender::app_sender_server::{AppSender, AppSenderServer};
use kvvm_proto::appsender::{
    SendAppErrorMsg, SendAppGossipMsg, SendAppRequestMsg, SendAppResponseMsg,
};
use kvvm_proto::prost_types::Timestamp;
use kvvm_proto::vm::vm_client::VmClient;
use kvvm_proto::vm::{self as pb};
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use super::{init_request, spawn_plugin, Plugin};

/// What one imitation node was asked to send, as recorded by the network.
#[derive(Clone, Debug)]
pub struct Sent {
    pub kind: &'static str,
    pub from: Vec<u8>,
    pub to: Vec<Vec<u8>>,
    pub request_id: u32,
    pub payload: Vec<u8>,
}

/// A rewrite of a response payload in transit.
type Rewrite = fn(Vec<u8>) -> Vec<u8>;

#[derive(Default)]
struct Routes {
    /// Nodes that joined, by node ID: the `vm.VM` client of their plugin.
    clients: Mutex<HashMap<Vec<u8>, VmClient<Channel>>>,
    /// Every App* call that returned an error (each would have stopped a real chain).
    errors: Mutex<Vec<String>>,
    sent: Mutex<Vec<Sent>>,
    /// Responses from these nodes are rewritten in transit: a peer that serves bad data.
    tamper: Mutex<HashMap<Vec<u8>, Rewrite>>,
}

impl Routes {
    fn client(&self, node_id: &[u8]) -> Option<VmClient<Channel>> {
        self.clients.lock().unwrap().get(node_id).cloned()
    }

    fn record(&self, sent: Sent) {
        self.sent.lock().unwrap().push(sent);
    }

    /// Runs one App* delivery in the background and records an error if it returns one.
    fn deliver<F>(self: &Arc<Self>, what: String, call: F)
    where
        F: std::future::Future<Output = Result<Response<()>, Status>> + Send + 'static,
    {
        let routes = self.clone();
        tokio::spawn(async move {
            if let Err(status) = call.await {
                routes
                    .errors
                    .lock()
                    .unwrap()
                    .push(format!("{what}: {status:?}"));
            }
        });
    }
}

fn deadline_in(after: Duration) -> Timestamp {
    let at = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + after;
    Timestamp {
        seconds: at.as_secs() as i64,
        nanos: at.subsec_nanos() as i32,
    }
}

/// The `AppSender` one imitation node serves to its plugin.
struct FakeNode {
    me: Vec<u8>,
    routes: Arc<Routes>,
}

#[tonic::async_trait]
impl AppSender for FakeNode {
    async fn send_app_gossip(
        &self,
        request: Request<SendAppGossipMsg>,
    ) -> Result<Response<()>, Status> {
        let r = request.into_inner();
        self.routes.record(Sent {
            kind: "gossip",
            from: self.me.clone(),
            to: r.node_ids.clone(),
            request_id: 0,
            payload: r.msg.clone(),
        });
        for target in &r.node_ids {
            if target.len() != 20 {
                return Err(Status::invalid_argument("node IDs are 20 bytes"));
            }
            let Some(mut client) = self.routes.client(target) else {
                continue;
            };
            let msg = pb::AppGossipMsg {
                node_id: self.me.clone(),
                msg: r.msg.clone(),
            };
            self.routes.deliver(
                format!("AppGossip to {}", hex::encode(target)),
                async move { client.app_gossip(msg).await },
            );
        }
        Ok(Response::new(()))
    }

    async fn send_app_request(
        &self,
        request: Request<SendAppRequestMsg>,
    ) -> Result<Response<()>, Status> {
        let r = request.into_inner();
        self.routes.record(Sent {
            kind: "request",
            from: self.me.clone(),
            to: r.node_ids.clone(),
            request_id: r.request_id,
            payload: r.request.clone(),
        });
        for target in &r.node_ids {
            match self.routes.client(target) {
                Some(mut client) => {
                    let msg = pb::AppRequestMsg {
                        node_id: self.me.clone(),
                        request_id: r.request_id,
                        deadline: Some(deadline_in(Duration::from_secs(10))),
                        request: r.request.clone(),
                    };
                    self.routes.deliver(
                        format!("AppRequest to {}", hex::encode(target)),
                        async move { client.app_request(msg).await },
                    );
                }
                None => {
                    // Not connected: the node fails the request at once (HOST-SPEC §6.1).
                    let Some(mut me) = self.routes.client(&self.me) else {
                        continue;
                    };
                    let msg = pb::AppRequestFailedMsg {
                        node_id: target.clone(),
                        request_id: r.request_id,
                        error_code: -1,
                        error_message: "timed out".into(),
                    };
                    self.routes.deliver("AppRequestFailed".into(), async move {
                        me.app_request_failed(msg).await
                    });
                }
            }
        }
        Ok(Response::new(()))
    }

    async fn send_app_response(
        &self,
        request: Request<SendAppResponseMsg>,
    ) -> Result<Response<()>, Status> {
        let r = request.into_inner();
        self.routes.record(Sent {
            kind: "response",
            from: self.me.clone(),
            to: vec![r.node_id.clone()],
            request_id: r.request_id,
            payload: r.response.clone(),
        });
        let tamper = self.routes.tamper.lock().unwrap().get(&self.me).copied();
        let response = match tamper {
            Some(rewrite) => rewrite(r.response),
            None => r.response,
        };
        if let Some(mut client) = self.routes.client(&r.node_id) {
            let msg = pb::AppResponseMsg {
                node_id: self.me.clone(),
                request_id: r.request_id,
                response,
            };
            self.routes.deliver("AppResponse".into(), async move {
                client.app_response(msg).await
            });
        }
        Ok(Response::new(()))
    }

    async fn send_app_error(
        &self,
        request: Request<SendAppErrorMsg>,
    ) -> Result<Response<()>, Status> {
        let r = request.into_inner();
        if let Some(mut client) = self.routes.client(&r.node_id) {
            let msg = pb::AppRequestFailedMsg {
                node_id: self.me.clone(),
                request_id: r.request_id,
                error_code: r.error_code,
                error_message: r.error_message,
            };
            self.routes.deliver("AppRequestFailed".into(), async move {
                client.app_request_failed(msg).await
            });
        }
        Ok(Response::new(()))
    }
}

/// One plugin and its imitation node.
pub struct NetNode {
    pub plugin: Plugin,
    pub node_id: Vec<u8>,
    pub dir: tempfile::TempDir,
    pub server: ServerTask,
    /// Where its AppSender listens: the `server_addr` of its Initialize.
    pub server_addr: String,
}

/// The imitation node's AppSender server; stops when dropped.
pub struct ServerTask(JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub struct Network {
    routes: Arc<Routes>,
    pub nodes: Vec<NetNode>,
    joined: Vec<usize>,
}

/// The node ID of the `i`-th plugin: 20 bytes, distinct per plugin.
pub fn node_id(i: usize) -> Vec<u8> {
    let mut id = vec![0x4e; 20];
    id[19] = i as u8 + 1;
    id
}

impl Default for Network {
    fn default() -> Self {
        Self::new()
    }
}

impl Network {
    pub fn new() -> Self {
        Self {
            routes: Arc::new(Routes::default()),
            nodes: Vec::new(),
            joined: Vec::new(),
        }
    }

    /// Spawns a plugin with its own imitation node and starts it (Initialize with that node's
    /// `server_addr` and node ID, then BOOTSTRAPPING → SetPreference → NORMAL_OP). It is not
    /// connected to anyone until [`Network::join`].
    pub async fn spawn_node(&mut self, genesis: &[u8], config: &[u8]) -> usize {
        let i = self.spawn_uninitialized().await;
        let node = &mut self.nodes[i];
        let mut request = init_request(node.dir.path(), genesis, config);
        request.node_id = node.node_id.clone();
        request.server_addr = node.server_addr.clone();
        node.plugin.start_with(request).await;
        i
    }

    /// A plugin with its imitation node's AppSender running, not yet initialized.
    async fn spawn_uninitialized(&mut self) -> usize {
        let i = self.nodes.len();
        let me = node_id(i);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server_addr = listener.local_addr().unwrap().to_string();
        let service = AppSenderServer::new(FakeNode {
            me: me.clone(),
            routes: self.routes.clone(),
        })
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX);
        let server = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await;
        });
        self.nodes.push(NetNode {
            plugin: spawn_plugin().await,
            node_id: me,
            dir: tempfile::tempdir().unwrap(),
            server: ServerTask(server),
            server_addr,
        });
        i
    }

    /// Makes node `i` reachable, and tells it about itself and every joined node, and them about
    /// it (`Connected`, as the node does for peers tracking the subnet).
    pub async fn join(&mut self, i: usize) {
        let client = self.nodes[i].plugin.vm.clone();
        self.routes
            .clients
            .lock()
            .unwrap()
            .insert(self.nodes[i].node_id.clone(), client);
        self.joined.push(i);
        let others = self.joined.clone();
        for j in others {
            let j_id = self.nodes[j].node_id.clone();
            connect(&mut self.nodes[i].plugin, &j_id).await;
            if j != i {
                let i_id = self.nodes[i].node_id.clone();
                connect(&mut self.nodes[j].plugin, &i_id).await;
            }
        }
    }

    /// Rewrites every AppResponse node `i` sends with `rewrite` before delivering it.
    pub fn tamper_responses(&self, i: usize, rewrite: Rewrite) {
        self.routes
            .tamper
            .lock()
            .unwrap()
            .insert(self.nodes[i].node_id.clone(), rewrite);
    }

    /// Spawns a plugin with its own imitation node and initializes it at genesis, then leaves it
    /// in STATE_SYNCING, where AvalancheGo puts a node that state syncs.
    pub async fn spawn_syncing_node(&mut self, genesis: &[u8], config: &[u8]) -> usize {
        let i = self.spawn_uninitialized().await;
        self.initialize_syncing(i, genesis, config).await;
        i
    }

    /// Initialize for node `i`'s plugin, then STATE_SYNCING.
    async fn initialize_syncing(&mut self, i: usize, genesis: &[u8], config: &[u8]) {
        let node = &mut self.nodes[i];
        let mut request = init_request(node.dir.path(), genesis, config);
        request.node_id = node.node_id.clone();
        request.server_addr = node.server_addr.clone();
        node.plugin.vm.initialize(request).await.unwrap();
        node.plugin
            .vm
            .set_state(pb::SetStateRequest {
                state: pb::State::StateSyncing as i32,
            })
            .await
            .unwrap();
    }

    /// SIGKILLs node `i`'s plugin and starts a new one on the same data directory, node ID and
    /// AppSender, initialized and left in STATE_SYNCING: a node restarted mid-sync.
    pub async fn restart_syncing(&mut self, i: usize, genesis: &[u8], config: &[u8]) {
        let fresh = spawn_plugin().await;
        std::mem::replace(&mut self.nodes[i].plugin, fresh).kill();
        self.initialize_syncing(i, genesis, config).await;
        if !self.joined.contains(&i) {
            return;
        }
        let node = &self.nodes[i];
        self.routes
            .clients
            .lock()
            .unwrap()
            .insert(node.node_id.clone(), node.plugin.vm.clone());
        let peers: Vec<Vec<u8>> = self
            .joined
            .iter()
            .map(|j| self.nodes[*j].node_id.clone())
            .collect();
        for peer in peers {
            connect(&mut self.nodes[i].plugin, &peer).await;
        }
    }

    /// Errors returned by App* calls the network delivered.
    pub fn app_errors(&self) -> Vec<String> {
        self.routes.errors.lock().unwrap().clone()
    }

    /// Everything the plugins asked their nodes to send, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.routes.sent.lock().unwrap().clone()
    }

    pub fn data_dir(&self, i: usize) -> &Path {
        self.nodes[i].dir.path()
    }
}

/// `Connected(node_id)` on `plugin`, with the node's own version.
pub async fn connect(plugin: &mut Plugin, node_id: &[u8]) {
    plugin
        .vm
        .connected(pb::ConnectedRequest {
            node_id: node_id.to_vec(),
            name: "avalanchego".into(),
            major: 1,
            minor: 14,
            patch: 2,
        })
        .await
        .unwrap();
}

/// Health details as JSON (a client clone, for [`eventually`]).
pub async fn health(mut vm: VmClient<Channel>) -> serde_json::Value {
    let details = vm.health(()).await.unwrap().into_inner().details;
    serde_json::from_slice(&details).expect("health details are JSON")
}

/// Polls `check` until it holds, or panics with `what` after `within`.
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of a counter or gauge family from `Gather`, summed over its series (0 if absent).
/// Takes a client clone so it can be polled from [`eventually`].
pub async fn metric(mut vm: VmClient<Channel>, name: &str) -> f64 {
    let families = vm.gather(()).await.unwrap().into_inner().metric_families;
    families
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.metric.iter())
        .map(|m| {
            m.counter
                .as_ref()
                .and_then(|c| c.value)
                .or_else(|| m.gauge.as_ref().and_then(|g| g.value))
                .unwrap_or(0.0)
        })
        .sum()
}
