//! kvvm: an Avalanche VM keeping a key-value store on its own chain.
//!
//! A transaction's path, one module per step: [`tx`] (format, signing) → `mempool` (admission,
//! then pending in the pool) → `builder` (candidates executed on the preferred state by
//! [`execute`] into a [`block`]) → [`chain`] (verify on every node over a state view; accept as
//! one RocksDB batch through `kvvm_storage`). `node` holds these together as the node drives
//! them, `tip` lets readers see the chain without waiting on it, `gossip` spreads transactions to
//! peers, `rpc_server` answers JSON-RPC, and [`plugin`] speaks gRPC to the node.
//!
//! What is `pub` here is what the `kvvm` binary and the integration tests use; everything else is
//! crate-private, so the compiler names what nothing uses. The `fuzzing` feature adds `fuzzing`
//! for the fuzz targets in `fuzz/`.

#![warn(unreachable_pub)]

pub mod access;
pub mod bench;
pub mod block;
pub mod builder;
mod cache;
pub mod chain;
mod chain_config;
pub mod cli;
mod engine_state;
pub mod error;
pub mod execute;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod gossip;
pub mod ids;
pub mod load;
pub mod logging;
mod mempool;
mod metrics;
pub mod node;
mod peers;
pub mod plugin;
pub mod plugin_settings;
mod rpc_server;
pub mod state_sync;
mod tip;
pub mod tx;

/// The version the node reports for this VM.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
