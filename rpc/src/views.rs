//! Request and response types of the kvvm API ([`KvvmApiServer`](crate::KvvmApiServer)).
//!
//! All JSON field names are camelCase. Request types reject unknown fields so
//! a misspelt field is an error rather than silently ignored; response types
//! accept unknown fields so older clients keep working when fields are added.
//! `Option` fields are written as `null` and may be omitted on input.

use serde::{Deserialize, Serialize};

use crate::types::{Hex32, HexBytes, KvBytes};

/// Result of `submitTx`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitResult {
    /// Id of the accepted-into-mempool transaction.
    pub tx_id: Hex32,
}

/// A JSON-RPC style error, embedded in a successful batch result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorView {
    /// One of [`codes`](crate::codes).
    pub code: i32,
    /// Human-readable reason.
    pub message: String,
}

/// One entry of the `submitTxs` result: exactly one of `txId` and `error` is set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubmitItem {
    /// Id of the transaction when it was taken into the mempool.
    #[serde(default)]
    pub tx_id: Option<Hex32>,
    /// Why it was refused otherwise.
    #[serde(default)]
    pub error: Option<ErrorView>,
}

/// Lifecycle state of a transaction as far as this node knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxStatus {
    /// In the mempool or in a processing block.
    Pending,
    /// In an accepted block.
    Accepted,
    /// Its block was rejected and it could not be re-queued.
    Rejected,
    /// Removed from the mempool without being included (see `reason`).
    Dropped,
    /// Never seen, or forgotten.
    Unknown,
}

/// Result of `txStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TxStatusView {
    /// Where the transaction is in its life.
    pub status: TxStatus,
    /// Height of the including block, once accepted.
    #[serde(default)]
    pub block_height: Option<u64>,
    /// Id of the including block, once accepted.
    #[serde(default)]
    pub block_id: Option<Hex32>,
    /// Why it was rejected or dropped; for an unknown one on a node that prunes blocks, that it
    /// may have been accepted in a pruned block.
    #[serde(default)]
    pub reason: Option<String>,
}

/// One key-value entry of the last accepted state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryView {
    /// The key.
    pub key: KvBytes,
    /// The value, as text when printable (see [`KvBytes`]).
    pub value: KvBytes,
    /// The value always as hex (lowercase, no `0x`), for clients that want no guessing.
    pub value_hex: String,
    /// Account that owns the key.
    pub owner: Hex32,
    /// Height of the block that last wrote the entry.
    pub height: u64,
}

/// One page of `list`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListPage {
    /// Entries in key order.
    pub entries: Vec<EntryView>,
    /// Pass as `cursor` to get the next page; `null` when this page was not full.
    #[serde(default)]
    pub next_cursor: Option<KvBytes>,
}

/// Result of `nonce`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NonceView {
    /// The account asked about.
    pub account: Hex32,
    /// Next nonce according to the last accepted state.
    pub accepted: u64,
    /// Nonce a new transaction should carry, counting pending ones.
    pub next: u64,
}

/// A block's identity: result of `lastAccepted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockRef {
    /// Block id.
    pub id: Hex32,
    /// Block height.
    pub height: u64,
    /// Block timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
}

/// Consensus state of a block this node serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockStatus {
    /// Part of the accepted chain.
    Accepted,
    /// Verified, waiting for consensus.
    Processing,
}

/// A block: result of `blockById` and `blockByHeight`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockView {
    /// Block id.
    pub id: Hex32,
    /// Parent block id.
    pub parent: Hex32,
    /// Block height.
    pub height: u64,
    /// Block timestamp, milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    /// State root after applying the block.
    pub state_root: Hex32,
    /// Ids of the block's transactions, in order.
    pub tx_ids: Vec<Hex32>,
    /// Accepted or still processing.
    pub status: BlockStatus,
}

/// Protocol limits of the chain, as set by its genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LimitsView {
    /// Longest key, in bytes.
    pub max_key_bytes: u32,
    /// Longest value, in bytes.
    pub max_value_bytes: u32,
    /// Most operations in one transaction.
    pub max_ops_per_tx: u32,
    /// Largest signed transaction, in bytes.
    pub max_tx_bytes: u32,
    /// Most transactions in one block.
    pub max_txs_per_block: u32,
    /// Largest block, in bytes.
    pub max_block_bytes: u32,
}

/// What an account may do (`"none"`, `"enabled"`, `"manager"`, `"admin"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleView {
    /// No role: may write only on an open chain.
    None,
    /// May write on a restricted chain.
    Enabled,
    /// May write, and grant or revoke `enabled`.
    Manager,
    /// May write, set any other account's role, and set quotas.
    Admin,
}

/// A storage quota: keys owned, and bytes of those keys plus their values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuotaView {
    /// Most keys the account may own.
    pub max_keys: u64,
    /// Most bytes (each owned key's length plus its value's) the account may store.
    pub max_bytes: u64,
}

/// Result of `account`: an account as the last accepted state has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    /// The account asked about.
    pub account: Hex32,
    /// Next nonce according to the last accepted state (as `nonce`'s `accepted`).
    pub nonce: u64,
    /// The account's role.
    pub role: RoleView,
    /// Keys it owns.
    pub keys_used: u64,
    /// Bytes of the keys it owns and their values.
    pub bytes_used: u64,
    /// The quota that applies; `null`: no limit.
    #[serde(default)]
    pub quota: Option<QuotaView>,
    /// Whether `quota` is an admin's override for this account rather than the chain's default.
    pub quota_override: bool,
}

/// Who may write on the chain, fixed by its genesis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessView {
    /// `"open"`: anyone may write; `"restricted"`: only accounts with a role.
    pub mode: String,
    /// The quota of accounts without an override; `null`: no limit.
    #[serde(default)]
    pub default_quota: Option<QuotaView>,
}

/// What one node accepts in a JSON-RPC request: its chain config (`rpc*`) and fixed per-call caps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcLimitsView {
    /// Largest request body, in bytes (HTTP 413 above).
    pub max_request_bytes: u32,
    /// Largest response, in bytes (-32008 above).
    pub max_response_bytes: u32,
    /// Most calls in one batch (-32010 above).
    pub max_batch_len: u32,
    /// Most transactions in one `submitTxs` (1004 above).
    pub max_txs_per_submit: u32,
    /// Most keys in one `getMany` (1004 above).
    pub max_keys_per_get_many: u32,
    /// Largest `limit` of `list` (1004 above).
    pub max_list_limit: u32,
    /// Calls doing work at once.
    pub workers: u32,
    /// Calls waiting for a worker (1012 above).
    pub work_queue: u32,
}

/// Which accepted blocks one node serves: its chain config (`keepBlocks`) and what it pruned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockHistoryView {
    /// Block bodies kept behind the last accepted one; 0: every block is kept.
    pub keep_blocks: u64,
    /// The lowest height above genesis whose block this node serves; below it, blocks other than
    /// genesis are pruned (1015).
    pub oldest_block_height: u64,
}

/// One node's state sync: what it serves to joining nodes, and its own sync if one is under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateSyncView {
    /// Whether this node, at genesis, would join by state sync (`stateSyncEnabled`).
    pub enabled: bool,
    /// A summary is taken every this many blocks (`stateSummaryInterval`).
    pub summary_interval: u64,
    /// The newest summary this node serves; `null` before its first (genesis's is implied).
    pub last_summary_height: Option<u64>,
    /// The sync under way on this node, if any.
    pub syncing: Option<SyncingView>,
}

/// A state sync under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncingView {
    /// Height of the summary being synced to.
    pub height: u64,
    pub buckets: u64,
    pub buckets_left: u64,
}

/// What one node's mempool holds: its chain config (`mempool*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MempoolLimitsView {
    /// Pending transactions in all (1009 above).
    pub max_txs: u64,
    /// Bytes of pending transactions in all (1009 above).
    pub max_bytes: u64,
    /// Pending transactions per account (1009 above).
    pub max_txs_per_sender: u64,
    /// Nonces held per account, counted from its nonce in the preferred state: a nonce up to
    /// that plus `maxFutureNonces - 1` is taken (1006 above).
    pub max_future_nonces: u64,
    /// Transactions behind a nonce gap, over all accounts (1009 above).
    pub max_waiting_txs: u64,
    /// How long one waits behind a gap before it is dropped, in milliseconds.
    pub waiting_ttl_ms: u64,
}

/// Result of `chainInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainInfo {
    /// Chain id in cb58, as AvalancheGo prints it (and as it appears in URLs).
    pub chain_id: String,
    /// The same chain id as hex.
    pub chain_id_hex: Hex32,
    /// Avalanche network id (1 mainnet, 5 fuji, others local).
    pub network_id: u32,
    /// Hash of the genesis document.
    pub genesis_hash: Hex32,
    /// Protocol limits.
    pub limits: LimitsView,
    /// Who may write, and the default quota (the same on every node).
    pub access: AccessView,
    /// This node's JSON-RPC limits (each node's operator sets its own).
    pub rpc_limits: RpcLimitsView,
    /// This node's mempool limits (each node's operator sets its own).
    pub mempool_limits: MempoolLimitsView,
    /// Which accepted blocks this node still serves (each node's operator sets its own).
    pub block_history: BlockHistoryView,
    /// This node's state sync (each node's operator sets its own).
    pub state_sync: StateSyncView,
    /// rpcchainvm protocol version the plugin speaks.
    pub rpcchainvm_protocol: u32,
    /// Version of the kvvm plugin.
    pub vm_version: String,
}

/// One operation of an unsigned transaction (`"op"` selects the kind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "camelCase", deny_unknown_fields)]
pub enum OpArg {
    /// `{"op":"put","key":…,"value":…}`: set `key` to `value`.
    Put {
        /// Key to write.
        key: KvBytes,
        /// Value to store.
        value: KvBytes,
    },
    /// `{"op":"delete","key":…}`: remove `key`.
    Delete {
        /// Key to remove.
        key: KvBytes,
    },
    /// `{"op":"setRole","account":…,"role":"enabled"}`: give `account` a role (`"none"` revokes).
    SetRole {
        /// Account whose role changes.
        account: Hex32,
        /// Its new role.
        role: RoleView,
    },
    /// `{"op":"setQuota","account":…,"quota":{"maxKeys":…,"maxBytes":…}}`: set `account`'s
    /// quota override; `"quota":null` returns it to the chain's default.
    SetQuota {
        /// Account whose quota changes.
        account: Hex32,
        /// Its override, or `null`.
        quota: Option<QuotaView>,
    },
}

/// Parameter of `signingBytes`: the transaction to build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnsignedTxRequest {
    /// Account (ed25519 public key) that will sign.
    pub sender: Hex32,
    /// Nonce to use; the server fills the sender's next nonce when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<u64>,
    /// Operations, applied in order.
    pub ops: Vec<OpArg>,
}

/// Result of `signingBytes`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SigningBytesView {
    /// The exact bytes to sign with ed25519.
    pub signing_bytes: HexBytes,
    /// Borsh bytes of the unsigned transaction; the signed transaction for
    /// `submitTx` is these bytes followed by the 64-byte signature.
    pub unsigned_tx: HexBytes,
    /// The nonce that was used (the filled one when the request had none).
    pub nonce: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn op_arg_is_tagged_by_op() {
        let put: OpArg =
            serde_json::from_value(json!({"op":"put","key":"k","value":"0x00"})).unwrap();
        assert_eq!(
            put,
            OpArg::Put {
                key: "k".into(),
                value: KvBytes(vec![0])
            }
        );
        let del: OpArg = serde_json::from_value(json!({"op":"delete","key":"k"})).unwrap();
        assert_eq!(del, OpArg::Delete { key: "k".into() });
        assert_eq!(
            serde_json::to_value(&del).unwrap(),
            json!({"op":"delete","key":"k"})
        );
    }

    #[test]
    fn role_and_quota_operations_are_tagged_in_camel_case() {
        let account = "ab".repeat(32);
        let set: OpArg =
            serde_json::from_value(json!({"op":"setRole","account": account,"role":"manager"}))
                .unwrap();
        assert_eq!(
            set,
            OpArg::SetRole {
                account: Hex32([0xab; 32]),
                role: RoleView::Manager
            }
        );
        let quota: OpArg = serde_json::from_value(json!({"op":"setQuota","account": account,
            "quota":{"maxKeys":1,"maxBytes":2}}))
        .unwrap();
        assert_eq!(
            quota,
            OpArg::SetQuota {
                account: Hex32([0xab; 32]),
                quota: Some(QuotaView {
                    max_keys: 1,
                    max_bytes: 2
                })
            }
        );
        let clear: OpArg =
            serde_json::from_value(json!({"op":"setQuota","account": account,"quota":null}))
                .unwrap();
        assert!(matches!(clear, OpArg::SetQuota { quota: None, .. }));
        assert!(serde_json::from_value::<OpArg>(
            json!({"op":"setRole","account": account,"role":"owner"})
        )
        .is_err());
    }

    #[test]
    fn request_types_reject_unknown_fields() {
        let err = serde_json::from_value::<OpArg>(json!({"op":"delete","key":"k","value":"v"}))
            .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
        let sender = "00".repeat(32);
        let err = serde_json::from_value::<UnsignedTxRequest>(
            json!({"sender": sender, "ops": [], "nonse": 1}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn unsigned_tx_request_nonce_is_optional() {
        let sender = "11".repeat(32);
        let req: UnsignedTxRequest = serde_json::from_value(
            json!({"sender": sender, "ops": [{"op":"put","key":"a","value":"b"}]}),
        )
        .unwrap();
        assert_eq!(req.nonce, None);
        assert_eq!(req.ops.len(), 1);
    }

    #[test]
    fn field_names_are_camel_case() {
        let v = serde_json::to_value(BlockView {
            id: Hex32([1; 32]),
            parent: Hex32([0; 32]),
            height: 1,
            timestamp_ms: 2,
            state_root: Hex32([3; 32]),
            tx_ids: vec![],
            status: BlockStatus::Processing,
        })
        .unwrap();
        for field in ["timestampMs", "stateRoot", "txIds"] {
            assert!(v.get(field).is_some(), "{field} missing in {v}");
        }
        assert_eq!(v["status"], "processing");

        let s = serde_json::to_value(TxStatusView {
            status: TxStatus::Pending,
            block_height: None,
            block_id: None,
            reason: None,
        })
        .unwrap();
        assert_eq!(
            s,
            json!({"status":"pending","blockHeight":null,"blockId":null,"reason":null})
        );
    }

    #[test]
    fn response_options_may_be_omitted() {
        let s: TxStatusView = serde_json::from_value(json!({"status":"unknown"})).unwrap();
        assert_eq!(s.status, TxStatus::Unknown);
        let item: SubmitItem =
            serde_json::from_value(json!({"error":{"code":1009,"message":"full"}})).unwrap();
        assert_eq!(item.tx_id, None);
        assert_eq!(item.error.unwrap().code, 1009);
    }
}
