//! Transaction gossip between kvvm nodes, carried by the node's app messages (HOST-SPEC §6).
//!
//! **Push.** Every transaction admitted to the mempool (`Admission::subscribe`) is collected for up to
//! `gossipPushIntervalMs` or until `gossipPushBudgetBytes` of it are waiting, then sent with
//! `SendAppGossip` to every connected peer except this node and except the peer the transaction
//! came from (a batch mixing sources becomes one message per source, so nothing is echoed back).
//! Every `gossipRegossipIntervalMs`, pending transactions not sent for that long are pushed again,
//! least recently sent first, within the same budget: lost messages and late peers are covered.
//!
//! **Pull.** Every `gossipPullIntervalMs` one random connected peer is sent an `AppRequest` holding
//! a bloom filter of this node's pool ([`bloom`]); it answers with pool transactions the filter
//! does not contain, within `gossipPullResponseBudgetBytes`. Only responses to outstanding requests
//! are read. A peer is asked again only once its last request ended, and a peer whose request
//! failed or timed out backs off ([`backoff`]).
//!
//! **Outbound budget** ([`budget`]). Everything gossip sends one peer (pushes, regossip, pull
//! answers) is paid from one token bucket per peer, `gossipPeerOutBytesPerSec`, a quarter of
//! AvalancheGo's default per-peer inbound allowance, so block `Put`s, `PushQuery`s and polls never
//! wait behind gossip. A push the budget cannot pay for is not sent to that peer (regossip or its
//! pull brings the transactions later); a pull answer holds only what the budget can pay for.
//!
//! **Wire format** ([`wire`]). AppGossip and AppRequest payloads follow the `network/p2p` SDK
//! framing; responses are not prefixed (HOST-SPEC §6.3):
//!
//! ```text
//! AppGossip   = uvarint(0) ‖ 0x01 ‖ borsh(PushTxs     { txs: Vec<Vec<u8>> })
//! AppRequest  = uvarint(0) ‖ 0x01 ‖ borsh(PullRequest { filter: { salt: [u8; 32], hash_count: u8,
//!                                                                 bit_count: u32, bits: Vec<u8> } })
//! AppResponse =              0x01 ‖ borsh(PullResponse { txs: Vec<Vec<u8>> })
//! ```
//!
//! `0` is the SDK's transaction-gossip handler ID and `0x01` the body version; each entry of `txs`
//! is one signed transaction in its canonical encoding (`tx::Transaction::encode`). A payload with
//! another handler ID or version is someone else's traffic: ignored, logged at debug.
//!
//! **Inbound.** Every message the node delivers is, in order: refused if it is 2 MiB or more
//! (before a byte is parsed); charged to the sending peer's token buckets ([`throttle`]; pull
//! requests also to a bucket of their own, `gossipPeerPullsPerSec`) and dropped if they are empty; parsed, with each transaction capped at the chain's `max_tx_bytes`;
//! then each transaction is decoded (blake3 gives its ID) and skipped if its ID is in the seen
//! cache or the pool — before any signature work — and otherwise admitted with
//! `Admission::admit`, which verifies it. The four App* handlers never return an error: any
//! error from them stops the chain (HOST-SPEC §6.2), so problems are logged at debug and counted
//! in the `gossip_*` metrics.
//!
//! **Lifetime.** [`Gossip::start`] spawns the push, regossip and pull tasks (only when the node
//! gave a `server_addr` to send through). The [`Gossip`] handle holds the only guard of their
//! cancellation token and the tasks do not, so they end when the handle drops — when the open
//! chain is dropped at Shutdown — whoever else still runs. Nothing here takes the chain lock, so
//! gossip never waits on consensus or blocks it.
//!
//! Files by job: [`inbound`] (the App* handlers), [`push`] (push and regossip), [`pull`] (asking
//! and answering), [`backoff`] (when a failing peer is asked again), [`wire`] and [`bloom`]
//! (formats), [`throttle`] (per-peer inbound limits), [`budget`] (per-peer outbound limit),
//! [`bucket`] (the token buckets behind both), `outbound` (the node's AppSender), [`config`].

pub mod backoff;
pub mod bloom;
pub mod bucket;
pub mod budget;
pub mod config;
pub mod inbound;
pub(crate) mod outbound;
pub mod pull;
pub mod push;
pub mod throttle;
pub mod wire;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::cache::BoundedSet;
use crate::gossip::budget::OutBudget;
use crate::gossip::config::GossipConfig;
use crate::gossip::outbound::Outbound;
use crate::gossip::pull::Pulls;
use crate::gossip::push::SentTx;
use crate::gossip::throttle::{RequestThrottle, Throttle};
use crate::ids::TxId;
use crate::mempool::{Admission, Mempool};
use crate::metrics::Metrics;
use crate::peers::Peers;
use crate::tip::Tip;

/// What gossip reads and calls of the rest of the node.
pub struct GossipContext {
    pub config: GossipConfig,
    /// The chain's `max_tx_bytes`: no transaction from a peer is decoded past it.
    pub max_tx_bytes: usize,
    pub admission: Admission,
    pub mempool: Arc<Mempool>,
    /// The preferred state, which decides what regossip pushes.
    pub tip: Tip,
    pub peers: Peers,
    pub metrics: Arc<Metrics>,
    /// This node, never a gossip target.
    pub node_id: Vec<u8>,
    /// The node's AppSender; empty when the node gave none.
    pub server_addr: String,
}

/// The gossip layer of one open chain. The App* handlers call into it; dropping it stops its tasks.
pub struct Gossip {
    shared: Arc<Shared>,
    _stop_tasks: DropGuard,
}

/// State the handlers and the tasks share.
struct Shared {
    ctx: GossipContext,
    /// Transaction IDs already handled (admitted, or refused for good), so a transaction gossiped
    /// again costs a hash and a lookup, never a second signature check. Refusals that may clear
    /// later are not remembered, so regossip can deliver them again.
    seen: BoundedSet<TxId>,
    throttle: Throttle,
    /// Pull requests each peer may have answered, apart from `throttle`: an answer costs more
    /// than the request.
    pull_requests: RequestThrottle,
    /// What gossip may still send each peer (pushes, regossip and pull answers together).
    out_budget: OutBudget,
    /// `None` when the node gave no usable `server_addr`: then this node receives but never sends.
    outbound: Option<Outbound>,
    /// Where each pending transaction came from and when it was last pushed, for regossip. A
    /// `parking_lot::Mutex`: map operations only, never held across an `.await`.
    sent: Mutex<HashMap<TxId, SentTx>>,
    /// Outstanding pull requests and each peer's pull back-off; same kind of lock, same reason.
    pulls: Mutex<Pulls>,
}

impl Gossip {
    /// Creates the gossip layer and, if the node gave a `server_addr`, starts its tasks on
    /// `runtime`.
    pub fn start(ctx: GossipContext, runtime: &tokio::runtime::Handle) -> Self {
        let outbound = outbound_for(&ctx.server_addr);
        let config = &ctx.config;
        let largest_batch = config
            .push_budget_bytes
            .max(config.pull_response_budget_bytes);
        let shared = Arc::new(Shared {
            seen: BoundedSet::new(config.seen_cache_size),
            throttle: Throttle::new(config.peer_msgs_per_sec, config.peer_bytes_per_sec),
            pull_requests: RequestThrottle::new(config.peer_pulls_per_sec),
            out_budget: OutBudget::new(
                config.peer_out_bytes_per_sec,
                largest_batch,
                ctx.max_tx_bytes,
            ),
            outbound,
            sent: Mutex::new(HashMap::new()),
            pulls: Mutex::new(Pulls::new(
                Duration::from_millis(config.pull_interval_ms),
                Duration::from_millis(config.pull_backoff_max_ms),
            )),
            ctx,
        });
        let stop = CancellationToken::new();
        if shared.outbound.is_some() {
            // Subscribe now, not inside the task, so no admission after `start` returns is missed.
            let admitted = shared.ctx.admission.subscribe();
            runtime.spawn(shared.clone().push_loop(admitted, stop.child_token()));
            runtime.spawn(shared.clone().regossip_loop(stop.child_token()));
            runtime.spawn(shared.clone().pull_loop(stop.child_token()));
        }
        Self {
            shared,
            _stop_tasks: stop.drop_guard(),
        }
    }
}

/// The pull paths a node without an outbound channel never takes by itself, for the gossip fuzz
/// target: the answer to a pull, and an outstanding pull so a response is read.
#[cfg(feature = "fuzzing")]
impl Gossip {
    /// What `on_request` sends for `filter` when `budget` bytes are granted, without sending it.
    pub fn pull_answer(&self, filter: &bloom::BloomFilter, budget: usize) -> Vec<Vec<u8>> {
        self.shared.missing_from(filter, budget)
    }

    /// Records a pull to `peer` as the pull loop does; its ID, or `None` while `peer` may not be
    /// asked.
    pub fn start_pull(&self, peer: &[u8]) -> Option<u32> {
        self.shared
            .pulls
            .lock()
            .start(peer, std::time::Instant::now())
    }
}

impl Shared {
    /// Connected peers a message may go to: never this node, never `except`.
    fn targets(&self, except: Option<&[u8]>) -> Vec<Vec<u8>> {
        self.ctx
            .peers
            .list()
            .into_iter()
            .filter(|p| *p != self.ctx.node_id && Some(p.as_slice()) != except)
            .collect()
    }

    fn send_failed(&self, kind: &'static str, e: &tonic::Status) {
        self.ctx.metrics.gossip_send_errors.inc();
        tracing::debug!(kind, error = %e, "the node did not take an app message");
    }
}

pub(crate) fn outbound_for(server_addr: &str) -> Option<Outbound> {
    if server_addr.is_empty() {
        tracing::info!("the node gave no server address: gossip receives but does not send");
        return None;
    }
    match Outbound::new(server_addr) {
        Ok(o) => Some(o),
        Err(e) => {
            tracing::warn!(addr = %server_addr, error = %e, "unusable server address: gossip does not send");
            None
        }
    }
}
