//! The records a caller hands the store and gets back from it.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::lattice::LtHash;
use crate::store::{AccountId, BlockId};

/// The current value of a key, who owns it and the height of the block that last wrote it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Entry {
    pub value: Vec<u8>,
    pub owner: AccountId,
    pub height: u64,
}

/// Everything the acceptance of one block changes, applied atomically by [`ChainStore::accept`].
///
/// The caller (the vm, which executed the block) computes `lattice` as the previous lattice minus the elements of
/// overwritten or deleted entries and replaced nonces, plus the new ones; the store persists it as given.
#[derive(Clone, Debug)]
pub struct AcceptBatch {
    pub block_id: BlockId,
    pub height: u64,
    pub block_bytes: Vec<u8>,
    /// `None` deletes the key.
    pub entry_writes: Vec<(Vec<u8>, Option<Entry>)>,
    /// Each account's next nonce after the block.
    pub nonce_writes: Vec<(AccountId, u64)>,
    /// IDs of the block's transactions, indexed so a transaction's status can name its block.
    pub tx_ids: Vec<[u8; 32]>,
    pub lattice: LtHash,
}

/// The state at height 0, written once by [`ChainStore::write_genesis`].
#[derive(Clone, Debug)]
pub struct GenesisState {
    /// Hash of the genesis document, kept so a restart with a different genesis can be refused.
    pub genesis_hash: [u8; 32],
    pub block_id: BlockId,
    pub block_bytes: Vec<u8>,
    pub entries: Vec<(Vec<u8>, Entry)>,
    pub lattice: LtHash,
}
