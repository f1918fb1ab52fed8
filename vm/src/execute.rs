//! Executing transactions on a view of the state: the ownership, nonce, role and quota rules, and
//! the lattice update that keeps the state root current in time proportional to the writes.

use std::collections::BTreeMap;
use std::sync::Arc;

use kvvm_storage::lattice::{entry_element, nonce_element, LtHash};
use kvvm_storage::store::account_access_element;
use kvvm_storage::{ChainStore, Entry, StorageError};

use crate::access::{
    check_quota_change, check_role_change, check_usage, AccessRules, Account, Usage,
};
use crate::error::TxError;
use crate::tx::{AccountId, Operation, Transaction};

/// The writes of one block, and the lattice of the whole state after them.
#[derive(Clone, Debug, Default)]
pub struct StateDiff {
    /// `None` marks a deleted key.
    pub entries: BTreeMap<Vec<u8>, Option<Entry>>,
    pub nonces: BTreeMap<AccountId, u64>,
    /// Account records (role, quota override, usage) the block changed.
    pub accounts: BTreeMap<AccountId, Account>,
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

    pub fn account(&self, account: &AccountId) -> Result<Account, StorageError> {
        for layer in &self.layers {
            if let Some(record) = layer.accounts.get(account) {
                return Ok(*record);
            }
        }
        self.store.account(account)
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
    rules: AccessRules,
    diff: StateDiff,
    unsettled: Unsettled,
}

/// What each nonce and account record the block changed held before the block changed it, while
/// the lattice is not yet settled ([`BlockExecutor::settle`]). The lattice is a sum, so trading
/// each one's first element for its final one's once gives the same lattice as trading at every
/// transaction, at one element pair per account instead of one per transaction: an account with
/// ten transactions in a block costs two nonce elements, not twenty. Entries are traded at once:
/// a block rarely writes a key twice, and remembering each key's first value cost more than it
/// saved.
#[derive(Default)]
struct Unsettled {
    nonces: BTreeMap<AccountId, u64>,
    accounts: BTreeMap<AccountId, Account>,
}

/// What a transaction would change, before and after: each key it touches, and each account
/// record (its own usage, and the roles and quotas it sets).
#[derive(Default)]
struct Staged {
    entries: BTreeMap<Vec<u8>, (Option<Entry>, Option<Entry>)>,
    accounts: BTreeMap<AccountId, (Account, Account)>,
}

/// Whether a delete of a key that is absent now fails the transaction. In a block it does; at
/// admission it cannot be judged yet, because the sender's pending transactions may write the key
/// first.
#[derive(Clone, Copy, PartialEq, Eq)]
enum AbsentDeletes {
    Fail,
    Pass,
}

impl BlockExecutor {
    pub fn new(view: StateView, height: u64, rules: AccessRules) -> Self {
        let lattice = view.lattice().clone();
        Self {
            view,
            height,
            rules,
            diff: StateDiff {
                lattice,
                ..StateDiff::default()
            },
            unsettled: Unsettled::default(),
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

    fn account(&self, account: &AccountId) -> Result<Account, StorageError> {
        match self.diff.accounts.get(account) {
            Some(record) => Ok(*record),
            None => self.view.account(account),
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
        let staged = self.stage(tx, AbsentDeletes::Fail)?;
        self.commit(staged);
        self.unsettled.nonces.entry(sender).or_insert(expected);
        self.diff.nonces.insert(sender, expected + 1);
        Ok(())
    }

    /// Admission's check of `tx` on this state: every rule `apply` applies (roles, ownership,
    /// quota) except the exact nonce and the existence of deleted keys, which the sender's pending
    /// transactions may still change. Changes nothing.
    pub fn check_admissible(&self, tx: &Transaction) -> Result<(), ApplyError> {
        self.stage(tx, AbsentDeletes::Pass).map(drop)
    }

    /// Works out `tx`'s changes without making them, so a failing operation leaves the diff
    /// untouched.
    fn stage(&self, tx: &Transaction, absent: AbsentDeletes) -> Result<Staged, ApplyError> {
        let sender = *tx.sender();
        let sender_role = self.account(&sender)?.role;
        self.rules.check_sender(sender_role)?;
        let mut staged = Staged::default();
        for op in tx.ops() {
            match op {
                Operation::Put { key, value } => {
                    let next = Entry {
                        value: value.clone(),
                        owner: sender,
                        height: self.height,
                    };
                    self.stage_write(&mut staged, &sender, key, Some(next))?;
                }
                Operation::Delete { key } => {
                    let exists = self.stage_write(&mut staged, &sender, key, None)?;
                    if !exists && absent == AbsentDeletes::Fail {
                        return Err(TxError::MissingKey {
                            key: key.as_slice().into(),
                        }
                        .into());
                    }
                }
                Operation::SetRole { account, role } => {
                    let record = self.staged_account(&mut staged, account)?;
                    check_role_change(&sender, sender_role, account, record.role, *role)?;
                    record.role = *role;
                }
                Operation::SetQuota { account, quota } => {
                    check_quota_change(sender_role)?;
                    self.staged_account(&mut staged, account)?.quota = *quota;
                }
            }
        }
        let (removed, added) = usage_change(&staged.entries);
        if removed != added {
            let record = self.staged_account(&mut staged, &sender)?;
            let before = record.usage;
            let after = before.minus(removed).plus(added);
            check_usage(before, after, self.rules.quota_of(record))?;
            record.usage = after;
        }
        Ok(staged)
    }

    /// Stages `next` (a put, or `None` for a delete) at `key` for `sender`; returns whether the key
    /// existed before this operation.
    fn stage_write(
        &self,
        staged: &mut Staged,
        sender: &AccountId,
        key: &[u8],
        next: Option<Entry>,
    ) -> Result<bool, ApplyError> {
        let current = match staged.entries.get(key) {
            Some((_, now)) => now.clone(),
            None => self.entry(key)?,
        };
        if let Some(existing) = &current {
            if existing.owner != *sender {
                return Err(TxError::NotOwner { key: key.into() }.into());
            }
        }
        match staged.entries.get_mut(key) {
            Some((_, now)) => *now = next,
            None => {
                staged.entries.insert(key.to_vec(), (current.clone(), next));
            }
        }
        Ok(current.is_some())
    }

    /// `account`'s record as the transaction has changed it so far, to change further.
    fn staged_account<'a>(
        &self,
        staged: &'a mut Staged,
        account: &AccountId,
    ) -> Result<&'a mut Account, StorageError> {
        if !staged.accounts.contains_key(account) {
            let record = self.account(account)?;
            staged.accounts.insert(*account, (record, record));
        }
        Ok(&mut staged.accounts.get_mut(account).expect("inserted above").1)
    }

    /// Makes the staged changes part of the block's diff, and the entries' part of its lattice;
    /// the account records' part follows when the lattice is settled.
    fn commit(&mut self, staged: Staged) {
        for (key, (before, after)) in staged.entries {
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
        for (account, (before, after)) in staged.accounts {
            if before == after {
                continue;
            }
            self.unsettled.accounts.entry(account).or_insert(before);
            self.diff.accounts.insert(account, after);
        }
    }

    /// Brings the lattice up to the diff: for each nonce and account record changed since the
    /// last settling, the element of what it held then goes out and that of what it holds now
    /// comes in.
    fn settle(&mut self) {
        let Unsettled { nonces, accounts } = std::mem::take(&mut self.unsettled);
        let lattice = &mut self.diff.lattice;
        for (account, before) in nonces {
            let after = self.diff.nonces.get(&account).copied().unwrap_or(before);
            if before == after {
                continue;
            }
            if before > 0 {
                lattice.sub(&nonce_element(&account, before));
            }
            lattice.add(&nonce_element(&account, after));
        }
        for (account, before) in accounts {
            let Some(after) = self.diff.accounts.get(&account) else {
                continue;
            };
            if before == *after {
                continue;
            }
            if let Some(old) = account_access_element(&account, &before) {
                lattice.sub(&old);
            }
            if let Some(new) = account_access_element(&account, after) {
                lattice.add(&new);
            }
        }
    }

    pub fn state_root(&mut self) -> [u8; 32] {
        self.settle();
        self.diff.lattice.checksum()
    }

    pub fn finish(mut self) -> StateDiff {
        self.settle();
        self.diff
    }
}

/// What a transaction's staged writes take from and give to its sender's usage. Every entry there
/// before is the sender's (ownership was checked), and every entry after is.
fn usage_change(entries: &BTreeMap<Vec<u8>, (Option<Entry>, Option<Entry>)>) -> (Usage, Usage) {
    let of = |key: &[u8], entry: &Option<Entry>| {
        entry
            .as_ref()
            .map_or(Usage::default(), |e| Usage::of_entry(key, &e.value))
    };
    entries.iter().fold(
        (Usage::default(), Usage::default()),
        |(removed, added), (key, (before, after))| {
            (removed.plus(of(key, before)), added.plus(of(key, after)))
        },
    )
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
