//! kvvm: an Avalanche VM keeping a key-value store on its own chain.
//!
//! A transaction's path: [`tx`] (format, signing) → [`mempool`] (pending) → [`chain::Chain::build`]
//! (what goes into the next block, executed by [`execute`]) → [`block`] (encoding) →
//! [`chain::Chain::verify`] (on every node, over a [`execute::StateView`]) →
//! [`chain::Chain::accept`] (one RocksDB batch through `kvvm_storage`). [`vm::KvVm`] holds these
//! together as the node drives them, and [`plugin`] speaks gRPC to the node.

pub mod block;
pub mod chain;
pub mod chain_config;
pub mod cli;
pub mod error;
pub mod execute;
pub mod gossip;
pub mod ids;
pub mod logging;
pub mod mempool;
pub mod metrics;
pub mod plugin;
pub mod plugin_settings;
pub mod rpc_server;
pub mod status;
pub mod tx;
pub mod vm;

/// The version the node reports for this VM.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
