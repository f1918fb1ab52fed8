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

/// What an account may do. Borsh encodes it as one byte (0 none, 1 enabled, 2 manager, 3 admin),
/// the same byte in a stored [`Account`], in a transaction that sets a role, and in the lattice.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    BorshSerialize,
    BorshDeserialize,
)]
pub enum Role {
    /// No role: may write only on an open chain.
    #[default]
    None,
    /// May write on a restricted chain.
    Enabled,
    /// May write, and grant or revoke `Enabled`.
    Manager,
    /// May write, grant or revoke any role but its own, and set quotas.
    Admin,
}

impl Role {
    /// The byte borsh writes for this role.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The role's name as the API and the docs write it.
    pub fn name(self) -> &'static str {
        match self {
            Role::None => "none",
            Role::Enabled => "enabled",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// How much one account may store: keys it owns, and the bytes of those keys and their values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct Quota {
    pub max_keys: u64,
    pub max_bytes: u64,
}

/// What one account stores: the keys it owns, and the sum of their key and value lengths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Usage {
    pub keys: u64,
    pub bytes: u64,
}

impl Usage {
    /// What one entry counts against its owner.
    pub fn of_entry(key: &[u8], value: &[u8]) -> Self {
        Usage {
            keys: 1,
            bytes: (key.len() + value.len()) as u64,
        }
    }

    /// Adds `other`; saturating, though real usage is bounded far below `u64::MAX` by the chain's limits.
    pub fn plus(self, other: Usage) -> Usage {
        Usage {
            keys: self.keys.saturating_add(other.keys),
            bytes: self.bytes.saturating_add(other.bytes),
        }
    }

    /// Removes `other`, which must be part of `self`; saturating so a bug cannot wrap into a huge usage.
    pub fn minus(self, other: Usage) -> Usage {
        Usage {
            keys: self.keys.saturating_sub(other.keys),
            bytes: self.bytes.saturating_sub(other.bytes),
        }
    }
}

/// An account's access record: its role, its quota override (`None`: the chain's default), and its
/// usage. The role and the override are state of their own, committed to by the lattice; the usage is
/// a function of the entries the account owns (which the lattice commits to), kept so execution need
/// not count them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Account {
    pub role: Role,
    pub quota: Option<Quota>,
    pub usage: Usage,
}

impl Account {
    /// Whether the record holds a role or a quota override, the parts the lattice commits to.
    pub fn has_access_rules(&self) -> bool {
        self.role != Role::None || self.quota.is_some()
    }
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
    /// Each changed account's record after the block; a default record deletes it.
    pub account_writes: Vec<(AccountId, Account)>,
    /// IDs of the block's transactions, indexed so a transaction's status can name its block.
    pub tx_ids: Vec<[u8; 32]>,
    pub lattice: LtHash,
    /// Older accepted blocks whose bodies (and transaction index entries) the same batch deletes,
    /// lowest first, continuing from [`crate::ChainStore::oldest_block_height`].
    pub pruned: Vec<PrunedBlock>,
}

/// An accepted block to prune: its body goes, its height and status records stay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrunedBlock {
    pub height: u64,
    pub block_id: BlockId,
    pub tx_ids: Vec<[u8; 32]>,
}

/// The state at height 0, written once by [`ChainStore::write_genesis`].
#[derive(Clone, Debug)]
pub struct GenesisState {
    /// Hash of the genesis document, kept so a restart with a different genesis can be refused.
    pub genesis_hash: [u8; 32],
    pub block_id: BlockId,
    pub block_bytes: Vec<u8>,
    pub entries: Vec<(Vec<u8>, Entry)>,
    /// The first admins' roles and every owner's usage of `entries`.
    pub accounts: Vec<(AccountId, Account)>,
    pub lattice: LtHash,
}
