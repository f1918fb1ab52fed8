//! Executing transactions on a view of the state: the ownership and nonce rules, and the lattice
//! update that keeps the state root current in time proportional to the writes.

use std::collections::btree_map::Entry as Slot;
use std::collections::BTreeMap;
use std::sync::Arc;

use kvvm_storage::lattice::{entry_element, nonce_element, LtHash};
use kvvm_storage::{ChainStore, Entry, StorageError};

use crate::error::TxError;
use crate::tx::{AccountId, Operation, Transaction};

/// The writes of one block, and the lattice of the whole state after them.
#[derive(Clone, Debug, Default)]
pub struct StateDiff {
    /// `None` marks a deleted key.
    pub entries: BTreeMap<Vec<u8>, Option<Entry>>,
    pub nonces: BTreeMap<AccountId, u64>,
    pub lattice: LtHash,
}

/// The state as of some block: that block's diff and its processing ancestors' diffs (nearest
/// first), over the last accepted state on disk. Verify and build read through it and never write.
#[derive(Clone)]
pub struct StateView {
    layers: Vec<Arc<StateDiff>>,
    store: ChainStore,
    lattice: LtHash,
}

impl StateView {
    /// `layers` nearest first; `lattice` is the lattice of the state the view shows.
    pub fn new(layers: Vec<Arc<StateDiff>>, store: ChainStore, lattice: LtHash) -> Self {
        Self {
            layers,
            store,
            lattice,
        }
    }

    pub fn entry(&self, key: &[u8]) -> Result<Option<Entry>, StorageError> {
        for layer in &self.layers {
            if let Some(entry) = layer.entries.get(key) {
                return Ok(entry.clone());
            }
        }
        self.store.entry(key)
    }

    pub fn nonce(&self, account: &AccountId) -> Result<u64, StorageError> {
        for layer in &self.layers {
            if let Some(nonce) = layer.nonces.get(account) {
                return Ok(*nonce);
            }
        }
        self.store.nonce(account)
    }

    pub fn lattice(&self) -> &LtHash {
        &self.lattice
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Invalid(#[from] TxError),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Applies transactions one after another on top of a view, collecting the block's diff.
pub struct BlockExecutor {
    view: StateView,
    height: u64,
    diff: StateDiff,
}

impl BlockExecutor {
    pub fn new(view: StateView, height: u64) -> Self {
        let lattice = view.lattice().clone();
        Self {
            view,
            height,
            diff: StateDiff {
                lattice,
                ..StateDiff::default()
            },
        }
    }

    fn entry(&self, key: &[u8]) -> Result<Option<Entry>, StorageError> {
        match self.diff.entries.get(key) {
            Some(entry) => Ok(entry.clone()),
            None => self.view.entry(key),
        }
    }

    fn nonce(&self, account: &AccountId) -> Result<u64, StorageError> {
        match self.diff.nonces.get(account) {
            Some(nonce) => Ok(*nonce),
            None => self.view.nonce(account),
        }
    }

    /// Applies `tx` whole or not at all. Signature and format checks are the caller's.
    pub fn apply(&mut self, tx: &Transaction) -> Result<(), ApplyError> {
        let sender = *tx.sender();
        let expected = self.nonce(&sender)?;
        if tx.nonce() != expected {
            return Err(TxError::WrongNonce {
                expected,
                got: tx.nonce(),
            }
            .into());
        }

        // Stage the writes first so a failing operation leaves the diff untouched: per key, its
        // entry before this transaction (read once) and after the operations so far.
        let mut staged: BTreeMap<Vec<u8>, (Option<Entry>, Option<Entry>)> = BTreeMap::new();
        for op in tx.ops() {
            let key = op.key();
            let slot = match staged.entry(key.to_vec()) {
                Slot::Occupied(slot) => slot.into_mut(),
                Slot::Vacant(slot) => {
                    let before = self.entry(key)?;
                    slot.insert((before.clone(), before))
                }
            };
            let current = &slot.1;
            if let Some(existing) = current {
                if existing.owner != sender {
                    return Err(TxError::NotOwner { key: key.into() }.into());
                }
            }
            slot.1 = match op {
                Operation::Put { value, .. } => Some(Entry {
                    value: value.clone(),
                    owner: sender,
                    height: self.height,
                }),
                Operation::Delete { .. } => {
                    if current.is_none() {
                        return Err(TxError::MissingKey { key: key.into() }.into());
                    }
                    None
                }
            };
        }

        for (key, (before, after)) in staged {
            if let Some(old) = &before {
                self.diff
                    .lattice
                    .sub(&entry_element(&key, &old.value, &old.owner, old.height));
            }
            if let Some(new) = &after {
                self.diff
                    .lattice
                    .add(&entry_element(&key, &new.value, &new.owner, new.height));
            }
            self.diff.entries.insert(key, after);
        }
        if expected > 0 {
            self.diff.lattice.sub(&nonce_element(&sender, expected));
        }
        self.diff.lattice.add(&nonce_element(&sender, expected + 1));
        self.diff.nonces.insert(sender, expected + 1);
        Ok(())
    }

    pub fn state_root(&self) -> [u8; 32] {
        self.diff.lattice.checksum()
    }

    pub fn finish(self) -> StateDiff {
        self.diff
    }
}

/// The lattice of a whole state given as entries and nonces: what the incremental updates must equal.
pub fn lattice_of<'a>(
    entries: impl IntoIterator<Item = (&'a [u8], &'a Entry)>,
    nonces: impl IntoIterator<Item = (&'a AccountId, u64)>,
) -> LtHash {
    let mut lattice = LtHash::identity();
    for (key, entry) in entries {
        lattice.add(&entry_element(
            key,
            &entry.value,
            &entry.owner,
            entry.height,
        ));
    }
    for (account, nonce) in nonces {
        if nonce > 0 {
            lattice.add(&nonce_element(account, nonce));
        }
    }
    lattice
}

#[cfg(test)]
mod tests;
