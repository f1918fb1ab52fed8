//! The JSON-RPC API over the chain: thin handlers that take typed parameters, call into the layer
//! that owns the state, and map errors to the stable codes of `kvvm_rpc::codes`.
//!
//! Reads come from the last accepted state in RocksDB and from the tip snapshot; nothing here takes
//! the consensus lock, so a slow accept never stalls a read.

use std::sync::Arc;

use jsonrpsee::core::{async_trait, RpcResult};
use jsonrpsee::types::ErrorObjectOwned;
use kvvm_rpc::types::{codes, rpc_error, Hex32, HexBytes, KvBytes};
use kvvm_rpc::KvvmApiServer;
use kvvm_rpc::{
    BlockRef, BlockStatus, BlockView, ChainInfo, EntryView, ErrorView, LimitsView, ListPage,
    NonceView, OpArg, SigningBytesView, SubmitItem, SubmitResult, TxStatus, TxStatusView,
    UnsignedTxRequest,
};
use kvvm_storage::Entry;

use crate::block::Block;
use crate::error::TxError;
use crate::ids::{cb58_encode, BlockId, TxId};
use crate::mempool::{AddError, AdmitError, TxState};
use crate::node::{KvVm, OpenChain};
use crate::tx::{Operation, SignedTx, Transaction, UnsignedTx};

/// Most keys one `getMany` may ask for.
pub(crate) const MAX_KEYS_PER_CALL: usize = 1_000;
/// Most transactions one `submitTxs` may carry.
pub(crate) const MAX_TXS_PER_CALL: usize = 1_000;
/// Default and largest page of `list`.
pub(crate) const DEFAULT_LIST_LIMIT: u32 = 100;
pub(crate) const MAX_LIST_LIMIT: u32 = 1_000;

pub(crate) struct Api {
    vm: Arc<KvVm>,
    protocol: u32,
}

impl Api {
    pub(crate) fn new(vm: Arc<KvVm>, protocol: u32) -> Self {
        Self { vm, protocol }
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

fn entry_view(key: Vec<u8>, entry: Entry) -> EntryView {
    EntryView {
        key: KvBytes(key),
        value_hex: hex::encode(&entry.value),
        value: KvBytes(entry.value),
        owner: Hex32(entry.owner),
        height: entry.height,
    }
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
    match chain.store().block(id.as_bytes()).map_err(internal)? {
        Some(bytes) => {
            let block = Block::decode(&bytes, usize::MAX).map_err(internal)?;
            Ok(Some(block_view(&block, BlockStatus::Accepted)))
        }
        None => Ok(None),
    }
}

#[async_trait]
impl KvvmApiServer for Api {
    async fn submit_tx(&self, tx: HexBytes) -> RpcResult<SubmitResult> {
        let chain = self.chain()?;
        let id = submit(&chain, &tx.0)?;
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
        Ok(txs
            .iter()
            .map(|tx| match submit(&chain, &tx.0) {
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
            .collect())
    }

    async fn tx_status(&self, tx_id: Hex32) -> RpcResult<TxStatusView> {
        let chain = self.chain()?;
        let state = chain
            .admission()
            .tx_state(&TxId(tx_id.0))
            .map_err(internal)?;
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
            TxState::Unknown => view(TxStatus::Unknown, None, None, None),
        })
    }

    async fn get(&self, key: KvBytes) -> RpcResult<Option<EntryView>> {
        let chain = self.chain()?;
        let entry = chain.store().entry(&key.0).map_err(internal)?;
        Ok(entry.map(|e| entry_view(key.0, e)))
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
        let refs: Vec<&[u8]> = keys.iter().map(|k| k.0.as_slice()).collect();
        let found = chain.store().entries(&refs).map_err(internal)?;
        Ok(keys
            .into_iter()
            .zip(found)
            .map(|(k, e)| e.map(|e| entry_view(k.0, e)))
            .collect())
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
        let page = chain
            .store()
            .entries_with_prefix(
                &prefix.0,
                cursor.as_ref().map(|c| c.0.as_slice()),
                limit as usize,
            )
            .map_err(internal)?;
        let next_cursor = (page.len() == limit as usize)
            .then(|| page.last().map(|(k, _)| KvBytes(k.clone())))
            .flatten();
        Ok(ListPage {
            entries: page.into_iter().map(|(k, e)| entry_view(k, e)).collect(),
            next_cursor,
        })
    }

    async fn nonce(&self, account: Hex32) -> RpcResult<NonceView> {
        let chain = self.chain()?;
        let (accepted, next) = chain.admission().nonces(&account.0).map_err(internal)?;
        Ok(NonceView {
            account,
            accepted,
            next,
        })
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
        if let Some(view) = accepted_block(&chain, &id)? {
            return Ok(Some(view));
        }
        Ok(chain
            .tip()
            .processing_block(&id)
            .map(|b| block_view(&b, BlockStatus::Processing)))
    }

    async fn block_by_height(&self, height: u64) -> RpcResult<Option<BlockView>> {
        let chain = self.chain()?;
        match chain.store().block_id_at_height(height).map_err(internal)? {
            Some(id) => accepted_block(&chain, &BlockId(id)),
            None => Ok(None),
        }
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
            ops: req
                .ops
                .into_iter()
                .map(|op| match op {
                    OpArg::Put { key, value } => Operation::Put {
                        key: key.0,
                        value: value.0,
                    },
                    OpArg::Delete { key } => Operation::Delete { key: key.0 },
                })
                .collect(),
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
