//! The kvvm JSON-RPC API, declared once.
//!
//! jsonrpsee generates [`KvvmApiServer`] (implemented by the VM over its chain)
//! and [`KvvmApiClient`] (implemented for every jsonrpsee client) from this
//! trait, so the two ends cannot drift. Wire method names are
//! `kvvm_<name>`, e.g. `kvvm_submitTx`. Parameters may be positional or named
//! (by the camelCase names below); trailing `Option` parameters may be omitted.

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;

use crate::types::{Hex32, HexBytes, KvBytes};
use crate::views::{
    AccountView, BlockRef, BlockView, ChainInfo, EntryView, ListPage, NonceView, SigningBytesView,
    SubmitItem, SubmitResult, TxStatusView, UnsignedTxRequest,
};

/// The kvvm JSON-RPC API (namespace `kvvm`).
#[rpc(server, client, namespace = "kvvm")]
pub trait KvvmApi {
    /// Submits one signed transaction (`unsignedTx ‖ signature`) to the mempool.
    #[method(name = "submitTx")]
    async fn submit_tx(&self, tx: HexBytes) -> RpcResult<SubmitResult>;

    /// Submits several signed transactions; one result per input, in order.
    #[method(name = "submitTxs")]
    async fn submit_txs(&self, txs: Vec<HexBytes>) -> RpcResult<Vec<SubmitItem>>;

    /// Reports where a transaction is in its life.
    #[method(name = "txStatus")]
    async fn tx_status(&self, #[argument(rename = "txId")] tx_id: Hex32)
        -> RpcResult<TxStatusView>;

    /// Reads one key from the last accepted state (`null` if absent).
    #[method(name = "get")]
    async fn get(&self, key: KvBytes) -> RpcResult<Option<EntryView>>;

    /// Reads several keys from the last accepted state; one result per key, in order.
    #[method(name = "getMany")]
    async fn get_many(&self, keys: Vec<KvBytes>) -> RpcResult<Vec<Option<EntryView>>>;

    /// Lists entries under `prefix` with keys strictly after `cursor`, in key order.
    #[method(name = "list")]
    async fn list(
        &self,
        prefix: KvBytes,
        cursor: Option<KvBytes>,
        limit: Option<u32>,
    ) -> RpcResult<ListPage>;

    /// Returns an account's accepted nonce and the nonce a new transaction should carry.
    #[method(name = "nonce")]
    async fn nonce(&self, account: Hex32) -> RpcResult<NonceView>;

    /// Returns an account's nonce, role, storage used and quota, per the last accepted state.
    #[method(name = "account")]
    async fn account(&self, account: Hex32) -> RpcResult<AccountView>;

    /// Returns the last accepted block.
    #[method(name = "lastAccepted")]
    async fn last_accepted(&self) -> RpcResult<BlockRef>;

    /// Returns an accepted or processing block by id (`null` if unknown).
    #[method(name = "blockById")]
    async fn block_by_id(&self, id: Hex32) -> RpcResult<Option<BlockView>>;

    /// Returns the accepted block at a height (`null` if above the last accepted).
    #[method(name = "blockByHeight")]
    async fn block_by_height(&self, height: u64) -> RpcResult<Option<BlockView>>;

    /// Returns the chain's identity, versions, and every limit that can refuse a request.
    #[method(name = "chainInfo")]
    async fn chain_info(&self) -> RpcResult<ChainInfo>;

    /// Builds an unsigned transaction and the bytes its sender must sign.
    #[method(name = "signingBytes")]
    async fn signing_bytes(&self, req: UnsignedTxRequest) -> RpcResult<SigningBytesView>;
}
