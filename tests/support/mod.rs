//! The node's side of the plugin protocol, for tests: a Runtime server that takes the handshake, a
//! running `kvvm` process with a gRPC client to it, and a block producer built from kvvm's own crates
//! (blocks reach the plugin through ParseBlock/BlockVerify, as a peer's block does).

#![allow(dead_code)]

pub mod network;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ed25519_dalek::SigningKey;
use kvvm::block::Block;
use kvvm::builder::assemble;
use kvvm::chain::{system_clock_ms, Chain, ChainParams};
use kvvm::node::open::open_chain;
use kvvm::tx::{Operation, Transaction, UnsignedTx, VerifiedSignatures};
use kvvm_genesis::{genesis_hash, Genesis, GenesisEntry};
use kvvm_proto::vm::runtime::runtime_server::{Runtime, RuntimeServer};
use kvvm_proto::vm::runtime::InitializeRequest as HandshakeRequest;
use kvvm_proto::vm::vm_client::VmClient;
use kvvm_proto::vm::{self as pb};
use kvvm_storage::{ChainStore, StoreOptions};
use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

pub const KVVM: &str = env!("CARGO_BIN_EXE_kvvm");
pub const CHAIN_ID: [u8; 32] = [0xc4; 32];

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

pub fn account(seed: u8) -> [u8; 32] {
    key(seed).verifying_key().to_bytes()
}

/// A genesis created a minute ago, with one pair owned by account 1.
pub fn genesis_bytes() -> Vec<u8> {
    let mut genesis = Genesis::default_at(now_unix() - 60);
    genesis.entries.push(GenesisEntry {
        key: b"motd".to_vec(),
        value: b"hello".to_vec(),
        owner: account(1),
    });
    genesis.to_json_pretty().into_bytes()
}

pub fn put(k: &str, v: &str) -> Operation {
    Operation::Put {
        key: k.as_bytes().to_vec(),
        value: v.as_bytes().to_vec(),
    }
}

pub fn signed(seed: u8, nonce: u64, ops: Vec<Operation>) -> Transaction {
    signed_for(CHAIN_ID, seed, nonce, ops)
}

pub fn signed_for(chain_id: [u8; 32], seed: u8, nonce: u64, ops: Vec<Operation>) -> Transaction {
    signed_with(chain_id, &key(seed), nonce, ops)
}

/// A key of one of many accounts (`key` has only 256), as an attacker with free accounts has.
pub fn many_key(account: u32) -> SigningKey {
    let mut seed = [0xa5; 32];
    seed[..4].copy_from_slice(&account.to_le_bytes());
    SigningKey::from_bytes(&seed)
}

pub fn signed_with(
    chain_id: [u8; 32],
    k: &SigningKey,
    nonce: u64,
    ops: Vec<Operation>,
) -> Transaction {
    Transaction::new(
        UnsignedTx {
            chain_id,
            sender: k.verifying_key().to_bytes(),
            nonce,
            ops,
        }
        .sign(k),
    )
}

struct HandshakeService {
    expected_protocol: u32,
    reply: Mutex<Option<oneshot::Sender<Result<String, String>>>>,
}

#[tonic::async_trait]
impl Runtime for HandshakeService {
    async fn initialize(&self, request: Request<HandshakeRequest>) -> Result<Response<()>, Status> {
        let r = request.into_inner();
        let outcome = if r.protocol_version == self.expected_protocol {
            Ok(r.addr)
        } else {
            Err(format!(
                "RPCChainVM protocol version mismatch between AvalancheGo and Virtual Machine plugin: AvalancheGo protocol {} , plugin protocol {}",
                self.expected_protocol, r.protocol_version
            ))
        };
        if let Some(tx) = self.reply.lock().unwrap().take() {
            let _ = tx.send(outcome.clone());
        }
        outcome.map(|_| Response::new(())).map_err(Status::unknown)
    }
}

pub struct SpawnOptions {
    /// The protocol the imitated node speaks.
    pub node_protocol: u32,
    /// `KVVM_RPCCHAINVM_PROTOCOL` for the plugin, if any.
    pub plugin_protocol_env: Option<String>,
}

impl Default for SpawnOptions {
    fn default() -> Self {
        Self {
            node_protocol: 45,
            plugin_protocol_env: None,
        }
    }
}

/// A running `kvvm` plugin process and a client to its `vm.VM` server.
pub struct Plugin {
    pub child: Child,
    pub vm: VmClient<Channel>,
    pub log: PathBuf,
    _log_dir: tempfile::TempDir,
}

pub enum SpawnOutcome {
    Serving(Plugin),
    /// The handshake failed; the process's exit status and log.
    Refused {
        reason: String,
        status: Option<ExitStatus>,
        log: String,
    },
}

pub async fn spawn_plugin() -> Plugin {
    match spawn_with(SpawnOptions::default()).await {
        SpawnOutcome::Serving(p) => p,
        SpawnOutcome::Refused { reason, log, .. } => panic!("plugin refused: {reason}\n{log}"),
    }
}

pub async fn spawn_with(options: SpawnOptions) -> SpawnOutcome {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let runtime_addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    let service = HandshakeService {
        expected_protocol: options.node_protocol,
        reply: Mutex::new(Some(tx)),
    };
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(RuntimeServer::new(service))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    let log_dir = tempfile::tempdir().unwrap();
    let log = log_dir.path().join("plugin.log");
    let log_file = std::fs::File::create(&log).unwrap();
    // A long run on a shared target directory starts a copy of the binary, which a later build
    // cannot replace under it.
    let binary =
        std::env::var_os("KVVM_TEST_PLUGIN").map_or_else(|| PathBuf::from(KVVM), PathBuf::from);
    let mut command = Command::new(binary);
    // The node gives the plugin no environment but its own address.
    command
        .env_clear()
        .env("AVALANCHE_VM_RUNTIME_ENGINE_ADDR", runtime_addr.to_string())
        .stdin(Stdio::null())
        .stdout(log_file.try_clone().unwrap())
        .stderr(log_file);
    if let Some(p) = &options.plugin_protocol_env {
        command.env("KVVM_RPCCHAINVM_PROTOCOL", p);
    }
    let started = Instant::now();
    let mut child = command.spawn().unwrap();
    let handshake = tokio::time::timeout(Duration::from_secs(5), rx).await;
    server.abort();
    let reason = match handshake {
        Ok(Ok(Ok(addr))) => {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "handshake took {:?}",
                started.elapsed()
            );
            let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect()
                .await
                .unwrap();
            let vm = VmClient::new(channel)
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX);
            return SpawnOutcome::Serving(Plugin {
                child,
                vm,
                log,
                _log_dir: log_dir,
            });
        }
        Ok(Ok(Err(reason))) => reason,
        Ok(Err(_)) => "handshake channel closed".to_string(),
        Err(_) => "no handshake within 5 s".to_string(),
    };
    let status = wait_exit(&mut child, Duration::from_secs(5));
    if status.is_none() {
        let _ = child.kill();
    }
    SpawnOutcome::Refused {
        reason,
        status,
        log: std::fs::read_to_string(&log).unwrap_or_default(),
    }
}

pub fn wait_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

pub fn send_signal(child: &Child, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

impl Plugin {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn initialize(
        &mut self,
        data_dir: &Path,
        genesis: &[u8],
    ) -> Result<pb::InitializeResponse, Status> {
        self.vm
            .initialize(init_request(data_dir, genesis, b""))
            .await
            .map(Response::into_inner)
    }

    /// Initialize, then the rest of the node's start-up sequence up to NORMAL_OP.
    pub async fn start(&mut self, data_dir: &Path, genesis: &[u8]) -> pb::InitializeResponse {
        let init = self.initialize(data_dir, genesis).await.unwrap();
        self.vm
            .set_state(pb::SetStateRequest {
                state: pb::State::Bootstrapping as i32,
            })
            .await
            .unwrap();
        self.vm
            .set_preference(pb::SetPreferenceRequest {
                id: init.last_accepted_id.clone(),
            })
            .await
            .unwrap();
        self.vm
            .set_state(pb::SetStateRequest {
                state: pb::State::NormalOp as i32,
            })
            .await
            .unwrap();
        init
    }

    /// [`Plugin::start`] with a caller-built Initialize request (node ID, config, `server_addr`).
    pub async fn start_with(&mut self, request: pb::InitializeRequest) -> pb::InitializeResponse {
        let init = self
            .vm
            .initialize(request)
            .await
            .map(Response::into_inner)
            .unwrap();
        self.vm
            .set_state(pb::SetStateRequest {
                state: pb::State::Bootstrapping as i32,
            })
            .await
            .unwrap();
        self.vm
            .set_preference(pb::SetPreferenceRequest {
                id: init.last_accepted_id.clone(),
            })
            .await
            .unwrap();
        self.vm
            .set_state(pb::SetStateRequest {
                state: pb::State::NormalOp as i32,
            })
            .await
            .unwrap();
        init
    }

    pub async fn verify(&mut self, block: &Block) -> Result<(), Status> {
        self.vm
            .block_verify(pb::BlockVerifyRequest {
                bytes: block.bytes.clone(),
                p_chain_height: None,
            })
            .await
            .map(drop)
    }

    pub async fn accept(&mut self, block: &Block) -> Result<(), Status> {
        self.vm
            .block_accept(pb::BlockAcceptRequest {
                id: block.id.to_vec(),
            })
            .await
            .map(drop)
    }

    pub async fn reject(&mut self, block: &Block) -> Result<(), Status> {
        self.vm
            .block_reject(pb::BlockRejectRequest {
                id: block.id.to_vec(),
            })
            .await
            .map(drop)
    }

    pub async fn health(&mut self) -> serde_json::Value {
        let details = self.vm.health(()).await.unwrap().into_inner().details;
        serde_json::from_slice(&details).expect("health details are JSON")
    }

    /// The chain's metrics, as the node gathers them.
    pub async fn metric_families(
        &mut self,
    ) -> Vec<kvvm_proto::io::prometheus::client::MetricFamily> {
        self.vm
            .gather(())
            .await
            .unwrap()
            .into_inner()
            .metric_families
    }

    pub async fn last_accepted_height(&mut self) -> u64 {
        self.health().await["lastAccepted"]["height"]
            .as_u64()
            .unwrap()
    }

    pub async fn block_id_at(&mut self, height: u64) -> Option<Vec<u8>> {
        let r = self
            .vm
            .get_block_id_at_height(pb::GetBlockIdAtHeightRequest { height })
            .await
            .unwrap()
            .into_inner();
        (r.err != pb::Error::NotFound as i32).then_some(r.blk_id)
    }

    /// Shutdown, then SIGTERM as the node does; returns the exit status.
    pub async fn stop(mut self) -> ExitStatus {
        self.vm.shutdown(()).await.unwrap();
        send_signal(&self.child, "TERM");
        let status = wait_exit(&mut self.child, Duration::from_secs(5));
        match status {
            Some(s) => s,
            None => {
                let _ = self.child.kill();
                panic!("plugin did not exit within 5 s\n{}", self.log_text());
            }
        }
    }

    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn init_request(data_dir: &Path, genesis: &[u8], config: &[u8]) -> pb::InitializeRequest {
    pb::InitializeRequest {
        network_id: 88_888,
        subnet_id: vec![0x5b; 32],
        chain_id: CHAIN_ID.to_vec(),
        node_id: vec![0x0d; 20],
        public_key: vec![0; 48],
        x_chain_id: vec![0x0a; 32],
        c_chain_id: vec![0x0c; 32],
        avax_asset_id: vec![0xaa; 32],
        chain_data_dir: data_dir.display().to_string(),
        genesis_bytes: genesis.to_vec(),
        upgrade_bytes: vec![],
        config_bytes: config.to_vec(),
        db_server_addr: String::new(),
        server_addr: String::new(),
        network_upgrades: None,
    }
}

/// Makes valid blocks with kvvm's own chain code over its own RocksDB, as another validator would.
pub struct Producer {
    pub chain: Chain,
    /// The producer's last accepted state.
    pub store: ChainStore,
    params: ChainParams,
    signatures: Arc<VerifiedSignatures>,
    pub dir: tempfile::TempDir,
}

impl Producer {
    pub fn new(genesis: &[u8]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = ChainStore::open(&dir.path().join("db"), StoreOptions::default()).unwrap();
        let parsed = Genesis::parse(genesis, u64::MAX).unwrap();
        let params = ChainParams::new(CHAIN_ID, &parsed);
        let signatures = Arc::new(VerifiedSignatures::new(10_000, 10_000));
        let chain = open_chain(
            store.clone(),
            &parsed,
            genesis_hash(genesis),
            params.clone(),
            signatures.clone(),
            Arc::new(system_clock_ms),
        )
        .unwrap();
        Self {
            chain,
            store,
            params,
            signatures,
            dir,
        }
    }

    /// Builds a block of `txs` on the preferred tip and verifies it locally (not accepted).
    pub fn build(&mut self, txs: Vec<Transaction>) -> Block {
        let count = txs.len();
        let parent = self.chain.preferred_base().unwrap();
        let built = assemble(
            &self.params,
            &self.signatures,
            system_clock_ms(),
            parent,
            txs,
        )
        .unwrap();
        let block = built.block.expect("the producer built no block");
        assert!(
            built.invalid.is_empty() && block.txs.len() == count,
            "producer dropped transactions: {:?}",
            built.invalid
        );
        let block = (*block).clone();
        self.chain.verify(block.clone()).unwrap();
        block
    }

    /// Builds, verifies and accepts a block on the last accepted tip.
    pub fn extend(&mut self, txs: Vec<Transaction>) -> Block {
        let block = self.build(txs);
        self.chain.accept(&block.id).unwrap();
        self.chain.set_preference(block.id);
        block
    }
}

/// Every entry of a store, for comparing states.
pub fn all_entries(store: &ChainStore) -> Vec<(Vec<u8>, kvvm_storage::Entry)> {
    store.entries_with_prefix(b"", None, usize::MAX).unwrap()
}

pub fn open_plugin_store(data_dir: &Path) -> ChainStore {
    ChainStore::open(&data_dir.join("kvvm-db"), StoreOptions::default()).unwrap()
}

impl Plugin {
    /// Plays one round of consensus as a lone validator: wait for BUILD_BLOCK, build, verify,
    /// prefer and accept. Returns the block's height, or None if nothing was signalled in `within`.
    pub async fn produce_block(&mut self, within: Duration) -> Option<u64> {
        let signalled = tokio::time::timeout(within, self.vm.wait_for_event(())).await;
        match signalled {
            Ok(Ok(r)) => assert_eq!(r.into_inner().message, pb::Message::BuildBlock as i32),
            Ok(Err(status)) => panic!("WaitForEvent failed: {status:?}"),
            Err(_) => return None,
        }
        let built = self
            .vm
            .build_block(pb::BuildBlockRequest {
                p_chain_height: Some(1),
            })
            .await
            .unwrap_or_else(|s| panic!("BuildBlock after BUILD_BLOCK failed: {s:?}"))
            .into_inner();
        self.vm
            .block_verify(pb::BlockVerifyRequest {
                bytes: built.bytes.clone(),
                p_chain_height: Some(1),
            })
            .await
            .unwrap();
        self.vm
            .set_preference(pb::SetPreferenceRequest {
                id: built.id.clone(),
            })
            .await
            .unwrap();
        self.vm
            .block_accept(pb::BlockAcceptRequest { id: built.id })
            .await
            .unwrap();
        Some(built.height)
    }

    /// The JSON-RPC handler the plugin registered (prefix, gRPC address).
    pub async fn rpc_handler(&mut self) -> (String, String) {
        let handlers = self
            .vm
            .create_handlers(())
            .await
            .unwrap()
            .into_inner()
            .handlers;
        assert_eq!(handlers.len(), 1, "one JSON-RPC handler: {handlers:?}");
        (handlers[0].prefix.clone(), handlers[0].server_addr.clone())
    }
}

/// The route the node mounts a chain handler at.
pub fn chain_route(prefix: &str) -> String {
    format!("/ext/bc/{}{prefix}", kvvm::ids::cb58_encode(&CHAIN_ID))
}
