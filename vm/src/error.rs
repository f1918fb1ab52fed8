//! The chain's typed errors. Mapping them to gRPC statuses and in-band `Error` values happens only at
//! the gRPC edge (`plugin::status`), and to JSON-RPC codes only in `rpc_server`.

use kvvm_rpc::KvBytes;
use kvvm_storage::Role;
use thiserror::Error;

use crate::ids::{BlockId, TxId};

/// Why a transaction is not acceptable. The text is shown to users, so it says what is wrong.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum TxError {
    #[error("transaction is malformed: {0}")]
    Malformed(String),
    #[error("transaction is {size} bytes, over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("transaction is for another chain")]
    WrongChain,
    #[error("transaction has no operations")]
    NoOperations,
    #[error("transaction has {count} operations, over the limit of {limit}")]
    TooManyOperations { count: usize, limit: usize },
    #[error("a key is empty")]
    EmptyKey,
    #[error("key is {size} bytes, over the limit of {limit}")]
    KeyTooLarge { size: usize, limit: usize },
    #[error("value is {size} bytes, over the limit of {limit}")]
    ValueTooLarge { size: usize, limit: usize },
    #[error("sender is not a valid ed25519 public key")]
    InvalidPublicKey,
    #[error("sender is a weak (small-order) ed25519 public key")]
    WeakPublicKey,
    #[error("signature does not verify")]
    BadSignature,
    #[error("nonce {got} is not the account's next nonce {expected}")]
    WrongNonce { expected: u64, got: u64 },
    #[error("key \"{key}\" is owned by another account")]
    NotOwner { key: KvBytes },
    #[error("key \"{key}\" does not exist")]
    MissingKey { key: KvBytes },
    #[error("the sender has no role on this restricted chain; an admin or manager must enable it before it can write")]
    NotAllowed,
    #[error("an account may not change its own role")]
    OwnRoleChange,
    #[error("a sender with role {sender} may not change the role of {} from {from} to {to} (admins set any role; managers grant and revoke enabled)", hex::encode(.target))]
    RoleChangeDenied {
        sender: Role,
        target: [u8; 32],
        from: Role,
        to: Role,
    },
    #[error("only an admin may set a quota; the sender's role is {0}")]
    QuotaChangeDenied(Role),
    #[error("the transaction would leave the sender with {keys} keys and {bytes} bytes stored, over its quota of {max_keys} keys and {max_bytes} bytes")]
    QuotaExceeded {
        keys: u64,
        bytes: u64,
        max_keys: u64,
        max_bytes: u64,
    },
}

/// Why a block is not acceptable, or an operation on the chain failed.
#[derive(Debug, Error)]
pub enum ChainError {
    #[error("block is malformed: {0}")]
    MalformedBlock(String),
    #[error("block is {size} bytes, over the limit of {limit}")]
    BlockTooLarge { size: usize, limit: usize },
    #[error("block has {count} transactions, over the limit of {limit}")]
    TooManyTxs { count: usize, limit: usize },
    #[error("parent block {0} is not known")]
    UnknownParent(BlockId),
    #[error("block {0} is not known")]
    UnknownBlock(BlockId),
    #[error("block height {got} is not parent height + 1 = {expected}")]
    WrongHeight { expected: u64, got: u64 },
    #[error("block timestamp {got_ms} ms is before its parent's {parent_ms} ms")]
    TimestampBeforeParent { parent_ms: u64, got_ms: u64 },
    #[error(
        "block timestamp {got_ms} ms is more than 10 s ahead of this node's clock ({now_ms} ms)"
    )]
    TimestampInFuture { now_ms: u64, got_ms: u64 },
    #[error("transaction {index} ({id}) is invalid: {source}")]
    InvalidTx {
        index: usize,
        id: TxId,
        source: TxError,
    },
    #[error("transaction {0} appears twice in the block")]
    DuplicateTx(TxId),
    #[error("state root {} does not match the computed {}", hex::encode(.got), hex::encode(.expected))]
    StateRootMismatch { expected: [u8; 32], got: [u8; 32] },
    #[error("block {0} conflicts with the accepted chain")]
    ConflictsWithAccepted(BlockId),
    #[error("block {id} cannot be accepted: its parent {parent} is not the last accepted block")]
    ParentNotAccepted { id: BlockId, parent: BlockId },
    #[error("nothing to build: no executable transactions are pending")]
    NothingToBuild,
    #[error("cannot prune the accepted block at height {height}: {reason}")]
    Prune { height: u64, reason: String },
    #[error("storage: {0}")]
    Storage(#[from] kvvm_storage::StorageError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_messages_read_as_the_api_writes_them() {
        let text = TxError::NotOwner {
            key: b"hello".as_slice().into(),
        };
        assert_eq!(
            text.to_string(),
            r#"key "hello" is owned by another account"#
        );
        let binary = TxError::MissingKey {
            key: vec![0x00, 0xff].into(),
        };
        assert_eq!(binary.to_string(), r#"key "0x00ff" does not exist"#);
    }
}
