//! kvvm's JSON-RPC API: the trait, its wire types, the bridge that serves it
//! to AvalancheGo over gRPC, and the typed client.
//!
//! The API is declared once, as the `KvvmApi` trait; jsonrpsee generates
//! [`KvvmApiServer`] (implemented by the VM) and [`KvvmApiClient`] (used by the
//! CLI and tests). Wire names are `kvvm_<method>`:
//!
//! | method          | params                                   | result                      |
//! |-----------------|------------------------------------------|-----------------------------|
//! | `submitTx`      | `tx`: [`HexBytes`]                        | [`SubmitResult`]            |
//! | `submitTxs`     | `txs`: [`HexBytes`]`[]`                    | [`SubmitItem`]`[]`          |
//! | `txStatus`      | `txId`: [`Hex32`]                         | [`TxStatusView`]            |
//! | `get`           | `key`: [`KvBytes`]                        | [`EntryView`] or `null`     |
//! | `getMany`       | `keys`: [`KvBytes`]`[]`                    | ([`EntryView`] or `null`)`[]` |
//! | `list`          | `prefix`, `cursor?`: [`KvBytes`], `limit?`: u32 | [`ListPage`]          |
//! | `nonce`         | `account`: [`Hex32`]                      | [`NonceView`]               |
//! | `account`       | `account`: [`Hex32`]                      | [`AccountView`]             |
//! | `lastAccepted`  | —                                        | [`BlockRef`]                |
//! | `blockById`     | `id`: [`Hex32`]                           | [`BlockView`] or `null`     |
//! | `blockByHeight` | `height`: u64                            | [`BlockView`] or `null`     |
//! | `chainInfo`     | —                                        | [`ChainInfo`]               |
//! | `signingBytes`  | `req`: [`UnsignedTxRequest`]              | [`SigningBytesView`]        |
//!
//! Byte encodings are described in [`types`]; error codes in [`codes`].
//!
//! Serving: build an `RpcModule` with `KvvmApiServer::into_rpc`, then hand it to
//! [`serve_http_bridge`] (or wrap it in an [`HttpBridge`]) and report the
//! address to the node from `CreateHandlers`.
//!
//! This crate knows nothing of the chain: no storage, no VM.

mod api;
pub mod bridge;
pub mod client;
mod error;
pub mod types;
mod views;

pub use api::{KvvmApiClient, KvvmApiServer};
pub use bridge::{serve_http_bridge, BridgeLimits, BridgeServer, HttpBridge};
pub use client::{http_client, ClientError};
pub use error::Error;
pub use types::{codes, rpc_error, DecodeError, Hex32, HexBytes, KvBytes};
pub use views::{
    AccessView, AccountView, BlockHistoryView, BlockRef, BlockStatus, BlockView, ChainInfo,
    EntryView, ErrorView, LimitsView, ListPage, MempoolLimitsView, NonceView, OpArg, QuotaView,
    RoleView, RpcLimitsView, SigningBytesView, StateSyncView, SubmitItem, SubmitResult,
    SyncingView, TxStatus, TxStatusView, UnsignedTxRequest,
};
