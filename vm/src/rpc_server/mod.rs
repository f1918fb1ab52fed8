//! The JSON-RPC API over the chain: thin handlers that take typed parameters, call into the layer
//! that owns the state, and map errors to the stable codes of `kvvm_rpc::codes`.
//!
//! Reads come from the last accepted state in RocksDB and from the tip snapshot; nothing here takes
//! the consensus lock, so a slow accept never stalls a read. Handlers that check signatures or read
//! the disk do so through [`work::RpcWork`], off the async workers; answers that grow with what
//! is stored are built within the response budget and stop as soon as it is spent.

mod views;
mod work;

use std::sync::Arc;

use jsonrpsee::core::{async_trait, RpcResult};
use jsonrpsee::types::ErrorObjectOwned;
use kvvm_rpc::types::{codes, rpc_error, Hex32, HexBytes, KvBytes};
use kvvm_rpc::KvvmApiServer;
use kvvm_rpc::{
    AccountView, BlockHistoryView, BlockRef, BlockStatus, BlockView, ChainInfo, EntryView,
    ErrorView, LimitsView, ListPage, NonceView, SigningBytesView, SubmitItem, SubmitResult,
    TxStatus, TxStatusView, UnsignedTxRequest,
};
use kvvm_storage::Entry;

use crate::block::Block;
use crate::error::TxError;
use crate::ids::{cb58_encode, BlockId, TxId};
use crate::mempool::{AddError, AdmitError, TxState};
use crate::node::{KvVm, OpenChain};
use crate::tx::{SignedTx, Transaction, UnsignedTx};

/// Most keys one `getMany` may ask for.
pub(crate) const MAX_KEYS_PER_CALL: usize = 1_000;
/// Most transactions one `submitTxs` may carry.
pub(crate) const MAX_TXS_PER_CALL: usize = 1_000;
/// Default and largest page of `list`.
pub(crate) const DEFAULT_LIST_LIMIT: u32 = 100;
pub(crate) const MAX_LIST_LIMIT: u32 = 1_000;

/// What bounds the work of JSON-RPC calls (chain config `rpc*` fields).
pub(crate) struct RpcSettings {
    pub(crate) workers: usize,
    pub(crate) queue: usize,
    pub(crate) max_response_bytes: usize,
}

pub(crate) struct Api {
    vm: Arc<KvVm>,
    protocol: u32,
    work: work::RpcWork,
    max_response_bytes: usize,
}

/// The JSON-RPC methods over `vm` and the bridge limits, both from the open chain's config: what
/// the plugin serves at CreateHandlers (and the fuzz targets drive).
pub(crate) fn served_api(
    vm: Arc<KvVm>,
    protocol: u32,
) -> Result<(jsonrpsee::RpcModule<Api>, kvvm_rpc::BridgeLimits), crate::node::VmError> {
    let chain = vm.open_chain()?;
    let config = chain.config();
    let limits = kvvm_rpc::BridgeLimits {
        max_request_body_bytes: config.rpc_max_request_bytes,
        max_response_body_bytes: config.rpc_max_response_bytes,
        max_batch_len: config.rpc_max_batch_len,
    };
    let settings = RpcSettings {
        workers: config.rpc_workers,
        queue: config.rpc_work_queue,
        max_response_bytes: config.rpc_max_response_bytes as usize,
    };
    let methods = Api::new(vm.clone(), protocol, settings).into_rpc();
    Ok((methods, limits))
}

impl Api {
    pub(crate) fn new(vm: Arc<KvVm>, protocol: u32, settings: RpcSettings) -> Self {
        Self {
            vm,
            protocol,
            work: work::RpcWork::new(settings.workers, settings.queue),
            max_response_bytes: settings.max_response_bytes,
        }
    }

    fn chain(&self) -> RpcResult<Arc<OpenChain>> {
        self.vm
            .open_chain()
            .map_err(|e| rpc_error(codes::NOT_READY, e.to_string()))
    }
}

fn internal(e: impl std::fmt::Display) -> ErrorObjectOwned {
    rpc_error(codes::INTERNAL, e.to_string())
}

fn tx_error_code(e: &TxError) -> i32 {
    match e {
        TxError::Malformed(_) | TxError::NoOperations | TxError::EmptyKey => codes::MALFORMED_TX,
        TxError::TooLarge { .. }
        | TxError::TooManyOperations { .. }
        | TxError::KeyTooLarge { .. }
        | TxError::ValueTooLarge { .. } => codes::LIMIT_EXCEEDED,
        TxError::WrongChain => codes::WRONG_CHAIN,
        TxError::InvalidPublicKey | TxError::WeakPublicKey | TxError::BadSignature => {
            codes::BAD_SIGNATURE
        }
        TxError::WrongNonce { expected, got } if got < expected => codes::NONCE_TOO_LOW,
        TxError::WrongNonce { .. } => codes::NONCE_TOO_HIGH,
        TxError::NotOwner { .. } => codes::NOT_OWNER,
        TxError::MissingKey { .. } => codes::MISSING_KEY,
        TxError::NotAllowed
        | TxError::OwnRoleChange
        | TxError::RoleChangeDenied { .. }
        | TxError::QuotaChangeDenied(_) => codes::NOT_ALLOWED,
        TxError::QuotaExceeded { .. } => codes::QUOTA_EXCEEDED,
    }
}

fn admit_error(e: AdmitError) -> ErrorObjectOwned {
    let code = match &e {
        AdmitError::Invalid(tx) => tx_error_code(tx),
        AdmitError::Pool(AddError::Duplicate | AddError::NonceTaken(_)) => codes::ALREADY_KNOWN,
        AdmitError::Pool(
            AddError::Full(_) | AddError::SenderFull(_) | AddError::WaitingFull { .. },
        ) => codes::MEMPOOL_FULL,
        AdmitError::Pool(AddError::NonceTooLow { .. }) => codes::NONCE_TOO_LOW,
        AdmitError::Pool(AddError::NonceTooHigh { .. }) => codes::NONCE_TOO_HIGH,
        AdmitError::AlreadyAccepted(_) => codes::ALREADY_KNOWN,
        AdmitError::Storage(_) => codes::INTERNAL,
    };
    rpc_error(code, e.to_string())
}

fn submit(chain: &OpenChain, bytes: &[u8]) -> RpcResult<TxId> {
    let max_tx_bytes = chain.identity().params.limits.max_tx_bytes as usize;
    let tx = Transaction::decode(bytes, max_tx_bytes)
        .map_err(|e| rpc_error(tx_error_code(&e), e.to_string()))?;
    chain.admission().admit(tx, None).map_err(admit_error)
}

/// An upper bound on an entry's size in a JSON answer: the key (text, or `0x` and hex), the value
/// as text or hex and again as hex, the owner, the height and the field names.
fn entry_json_bytes(key: &[u8], entry: &Entry) -> usize {
    2 * key.len() + 4 * entry.value.len() + 200
}

fn too_big(limit: usize) -> ErrorObjectOwned {
    rpc_error(
        codes::RESPONSE_TOO_BIG,
        format!("the answer would exceed rpcMaxResponseBytes ({limit} bytes); ask for less"),
    )
}

/// Keys read per RocksDB call while an answer is built, so a spent budget stops the reads early.
const READ_CHUNK: usize = 32;

fn entry_view(key: Vec<u8>, entry: Entry) -> EntryView {
    EntryView {
        key: KvBytes(key),
        value_hex: hex::encode(&entry.value),
        value: KvBytes(entry.value),
        owner: Hex32(entry.owner),
        height: entry.height,
    }
}

/// Submits each transaction on its own; one refusal does not stop the rest.
fn submit_each(chain: &OpenChain, txs: &[HexBytes]) -> Vec<SubmitItem> {
    txs.iter()
        .map(|tx| match submit(chain, &tx.0) {
            Ok(id) => SubmitItem {
                tx_id: Some(Hex32(id.0)),
                error: None,
            },
            Err(e) => SubmitItem {
                tx_id: None,
                error: Some(ErrorView {
                    code: e.code(),
                    message: e.message().to_string(),
                }),
            },
        })
        .collect()
}

/// The entries of `keys` in order, read a chunk at a time within `budget` bytes of answer.
fn entries_within(
    chain: &OpenChain,
    keys: Vec<KvBytes>,
    budget: usize,
) -> RpcResult<Vec<Option<EntryView>>> {
    let mut out = Vec::with_capacity(keys.len());
    let mut spent = 0usize;
    for chunk in keys.chunks(READ_CHUNK) {
        let refs: Vec<&[u8]> = chunk.iter().map(|k| k.0.as_slice()).collect();
        let found = chain.store().entries(&refs).map_err(internal)?;
        for (key, entry) in chunk.iter().zip(found) {
            spent += entry.as_ref().map_or(8, |e| entry_json_bytes(&key.0, e));
            if spent > budget {
                return Err(too_big(budget));
            }
            out.push(entry.map(|e| entry_view(key.0.clone(), e)));
        }
    }
    Ok(out)
}

/// A page of `list`: up to `limit` entries after `cursor`, fewer when the response budget is
/// spent first (the cursor then continues from the last entry given).
fn page_within(
    chain: &OpenChain,
    prefix: &[u8],
    mut cursor: Option<Vec<u8>>,
    limit: usize,
    budget: usize,
) -> RpcResult<ListPage> {
    let mut entries = Vec::new();
    let mut spent = 0usize;
    while entries.len() < limit {
        let want = READ_CHUNK.min(limit - entries.len());
        let chunk = chain
            .store()
            .entries_with_prefix(prefix, cursor.as_deref(), want)
            .map_err(internal)?;
        let exhausted = chunk.len() < want;
        for (key, entry) in chunk {
            spent += entry_json_bytes(&key, &entry);
            if spent > budget {
                if entries.is_empty() {
                    return Err(too_big(budget));
                }
                return Ok(ListPage {
                    next_cursor: cursor.map(KvBytes),
                    entries,
                });
            }
            cursor = Some(key.clone());
            entries.push(entry_view(key, entry));
        }
        if exhausted {
            return Ok(ListPage {
                entries,
                next_cursor: None,
            });
        }
    }
    Ok(ListPage {
        entries,
        next_cursor: cursor.map(KvBytes),
    })
}

fn block_view(block: &Block, status: BlockStatus) -> BlockView {
    BlockView {
        id: Hex32(block.id.0),
        parent: Hex32(block.parent.0),
        height: block.height,
        timestamp_ms: block.timestamp_ms,
        state_root: Hex32(block.state_root),
        tx_ids: block.txs.iter().map(|t| Hex32(t.id.0)).collect(),
        status,
    }
}

fn accepted_block(chain: &OpenChain, id: &BlockId) -> RpcResult<Option<BlockView>> {
    let store = chain.store();
    match store.block(id.as_bytes()).map_err(internal)? {
        Some(bytes) => {
            let block = Block::decode(&bytes, usize::MAX).map_err(internal)?;
            Ok(Some(block_view(&block, BlockStatus::Accepted)))
        }
        None => match store.block_status(id.as_bytes()).map_err(internal)? {
            // Accepted, yet no body: pruned.
            Some(kvvm_storage::BlockStatus::Accepted { height }) => Err(pruned(chain, height)),
            _ => Ok(None),
        },
    }
}

/// 1015 for the accepted block at `height`, whose body this node no longer keeps.
fn pruned(chain: &OpenChain, height: u64) -> ErrorObjectOwned {
    let oldest = chain.store().oldest_block_height().unwrap_or(0);
    rpc_error(
        codes::PRUNED,
        format!(
            "the block at height {height} was accepted, but this node pruned it: it keeps blocks \
             from height {oldest} on (keepBlocks = {}); ask a node that keeps them all",
            chain.config().keep_blocks
        ),
    )
}

#[async_trait]
impl KvvmApiServer for Api {
    async fn submit_tx(&self, tx: HexBytes) -> RpcResult<SubmitResult> {
        let chain = self.chain()?;
        let id = self.work.run(move || submit(&chain, &tx.0)).await?;
        Ok(SubmitResult { tx_id: Hex32(id.0) })
    }

    async fn submit_txs(&self, txs: Vec<HexBytes>) -> RpcResult<Vec<SubmitItem>> {
        if txs.len() > MAX_TXS_PER_CALL {
            return Err(rpc_error(
                codes::LIMIT_EXCEEDED,
                format!(
                    "{} transactions, over the limit of {MAX_TXS_PER_CALL} per call",
                    txs.len()
                ),
            ));
        }
        let chain = self.chain()?;
        self.work.run(move || Ok(submit_each(&chain, &txs))).await
    }

    async fn tx_status(&self, tx_id: Hex32) -> RpcResult<TxStatusView> {
        let chain = self.chain()?;
        let (state, oldest_block_height) = self
            .work
            .run(move || {
                let state = chain.admission().tx_state(&TxId(tx_id.0));
                let oldest = chain.store().oldest_block_height();
                Ok((state.map_err(internal)?, oldest.map_err(internal)?))
            })
            .await?;
        let view = |status, block_height, block_id, reason| TxStatusView {
            status,
            block_height,
            block_id,
            reason,
        };
        Ok(match state {
            TxState::Pending => view(TxStatus::Pending, None, None, None),
            TxState::Accepted { height, block } => {
                view(TxStatus::Accepted, Some(height), Some(Hex32(block.0)), None)
            }
            TxState::Rejected { reason } => view(TxStatus::Rejected, None, None, Some(reason)),
            TxState::Dropped { reason } => view(TxStatus::Dropped, None, None, Some(reason)),
            // A pruned block's transactions leave the index with it: say so rather than nothing.
            TxState::Unknown if oldest_block_height > 1 => view(
                TxStatus::Unknown,
                None,
                None,
                Some(format!(
                    "not known to this node, which pruned the blocks below height \
                     {oldest_block_height} and their transactions; a node that keeps every block \
                     can tell whether it was accepted there"
                )),
            ),
            TxState::Unknown => view(TxStatus::Unknown, None, None, None),
        })
    }

    async fn get(&self, key: KvBytes) -> RpcResult<Option<EntryView>> {
        let chain = self.chain()?;
        self.work
            .run(move || {
                let entry = chain.store().entry(&key.0).map_err(internal)?;
                Ok(entry.map(|e| entry_view(key.0, e)))
            })
            .await
    }

    async fn get_many(&self, keys: Vec<KvBytes>) -> RpcResult<Vec<Option<EntryView>>> {
        if keys.len() > MAX_KEYS_PER_CALL {
            return Err(rpc_error(
                codes::LIMIT_EXCEEDED,
                format!(
                    "{} keys, over the limit of {MAX_KEYS_PER_CALL} per call",
                    keys.len()
                ),
            ));
        }
        let chain = self.chain()?;
        let budget = self.max_response_bytes;
        self.work
            .run(move || entries_within(&chain, keys, budget))
            .await
    }

    async fn list(
        &self,
        prefix: KvBytes,
        cursor: Option<KvBytes>,
        limit: Option<u32>,
    ) -> RpcResult<ListPage> {
        let limit = limit.unwrap_or(DEFAULT_LIST_LIMIT);
        if limit == 0 || limit > MAX_LIST_LIMIT {
            return Err(rpc_error(
                codes::LIMIT_EXCEEDED,
                format!("limit must be 1..={MAX_LIST_LIMIT}, got {limit}"),
            ));
        }
        let chain = self.chain()?;
        let budget = self.max_response_bytes;
        self.work
            .run(move || {
                let cursor = cursor.map(|c| c.0);
                page_within(&chain, &prefix.0, cursor, limit as usize, budget)
            })
            .await
    }

    async fn nonce(&self, account: Hex32) -> RpcResult<NonceView> {
        let chain = self.chain()?;
        let (accepted, next) = self
            .work
            .run(move || chain.admission().nonces(&account.0).map_err(internal))
            .await?;
        Ok(NonceView {
            account,
            accepted,
            next,
        })
    }

    async fn account(&self, account: Hex32) -> RpcResult<AccountView> {
        let chain = self.chain()?;
        self.work
            .run(move || {
                // Two reads of the last accepted state; an accept between them can make the nonce
                // one block newer than the record, both still accepted facts.
                let nonce = chain.store().nonce(&account.0).map_err(internal)?;
                let record = chain.store().account(&account.0).map_err(internal)?;
                let rules = &chain.identity().params.access;
                Ok(views::account_view(account.0, nonce, &record, rules))
            })
            .await
    }

    async fn last_accepted(&self) -> RpcResult<BlockRef> {
        let chain = self.chain()?;
        let tip = chain.tip().last_accepted();
        Ok(BlockRef {
            id: Hex32(tip.id.0),
            height: tip.height,
            timestamp_ms: tip.timestamp_ms,
        })
    }

    async fn block_by_id(&self, id: Hex32) -> RpcResult<Option<BlockView>> {
        let chain = self.chain()?;
        let id = BlockId(id.0);
        self.work
            .run(move || {
                if let Some(view) = accepted_block(&chain, &id)? {
                    return Ok(Some(view));
                }
                Ok(chain
                    .tip()
                    .processing_block(&id)
                    .map(|b| block_view(&b, BlockStatus::Processing)))
            })
            .await
    }

    async fn block_by_height(&self, height: u64) -> RpcResult<Option<BlockView>> {
        let chain = self.chain()?;
        self.work
            .run(
                move || match chain.store().block_id_at_height(height).map_err(internal)? {
                    Some(id) => accepted_block(&chain, &BlockId(id)),
                    None => Ok(None),
                },
            )
            .await
    }

    async fn chain_info(&self) -> RpcResult<ChainInfo> {
        let chain = self.chain()?;
        let identity = chain.identity();
        let l = identity.params.limits;
        Ok(ChainInfo {
            chain_id: cb58_encode(&identity.params.chain_id),
            chain_id_hex: Hex32(identity.params.chain_id),
            network_id: identity.network_id,
            genesis_hash: Hex32(identity.genesis_hash),
            limits: LimitsView {
                max_key_bytes: l.max_key_bytes,
                max_value_bytes: l.max_value_bytes,
                max_ops_per_tx: l.max_ops_per_tx,
                max_tx_bytes: l.max_tx_bytes,
                max_txs_per_block: l.max_txs_per_block,
                max_block_bytes: l.max_block_bytes,
            },
            access: views::access_view(&identity.params.access),
            rpc_limits: views::rpc_limits(chain.config()),
            mempool_limits: views::mempool_limits(chain.config()),
            block_history: BlockHistoryView {
                keep_blocks: chain.config().keep_blocks,
                oldest_block_height: chain.store().oldest_block_height().map_err(internal)?,
            },
            state_sync: chain.state_sync_view().map_err(internal)?,
            rpcchainvm_protocol: self.protocol,
            vm_version: crate::VERSION.to_string(),
        })
    }

    async fn signing_bytes(&self, req: UnsignedTxRequest) -> RpcResult<SigningBytesView> {
        let chain = self.chain()?;
        let params = &chain.identity().params;
        let nonce = match req.nonce {
            Some(n) => n,
            None => chain.admission().nonces(&req.sender.0).map_err(internal)?.1,
        };
        let unsigned = UnsignedTx {
            chain_id: params.chain_id,
            sender: req.sender.0,
            nonce,
            ops: req.ops.into_iter().map(views::operation).collect(),
        };
        // Check the format now, so a client learns of a limit before it signs.
        let probe = Transaction::new(SignedTx {
            unsigned: unsigned.clone(),
            signature: [0; 64],
        });
        probe
            .check_format(&params.chain_id, &params.limits)
            .map_err(|e| rpc_error(tx_error_code(&e), e.to_string()))?;
        Ok(SigningBytesView {
            signing_bytes: HexBytes(unsigned.signing_bytes()),
            unsigned_tx: HexBytes(borsh::to_vec(&unsigned).map_err(internal)?),
            nonce,
        })
    }
}
