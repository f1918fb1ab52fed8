//! State sync: a node joining a long-lived chain downloads the state at a recent summary height
//! instead of replaying every block from genesis (docs/state-sync.md).
//!
//! **Serving** ([`serve`]). Every `stateSummaryInterval`-th accepted block, the accept takes a
//! RocksDB checkpoint of the state (`kvvm_storage::Snapshots`); a background task then summarizes
//! it: the block, its state root, and the state cut into up to 256 buckets of equal record count,
//! each with the checksum of its own lattice. The lattices of the buckets add up to the state's, so
//! each bucket can be checked alone. Every validator computes the same bytes from the same state,
//! which is what lets the engine's vote on summary IDs stand for the chain.
//!
//! **Syncing** ([`fetch`]). When the engine accepts a summary, the store starts a sync to it (it
//! drops what it had), and [`fetch::SyncClient::run`] fetches the block and every bucket from
//! connected peers over AppRequest ([`wire`]), one bucket per peer at a time, checking each
//! before the store keeps it. At the end the store switches to the summary's block in one synced
//! write, the open chain reloads from it, and `WaitForEvent` answers `STATE_SYNC_FINISHED`.
//!
//! Request IDs: state sync's are even, gossip's odd, so each AppResponse finds its asker.

pub mod config;
pub mod fetch;
pub mod serve;
pub mod wire;

pub use config::StateSyncConfig;
