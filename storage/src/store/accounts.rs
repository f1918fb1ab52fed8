//! Account records: reading one, writing a block's, committing their access rules to the lattice, and
//! deriving usage from the entries (for a schema-1 store, once, and to check the kept usage).

use std::collections::BTreeMap;

use rocksdb::{IteratorMode, SnapshotWithThreadMode, WriteBatch, DB};
use tracing::info;

use super::codec::{decode_borsh, decode_id, BORSH_TO_VEC};
use super::options::synced;
use super::{cf, meta, ChainStore, SCHEMA_VERSION};
use crate::error::Result;
use crate::lattice::{access_element, LtHash};
use crate::store::records::{Account, Entry, Usage};
use crate::store::AccountId;

/// The layout before account records: the same column families but `accounts`.
pub(super) const SCHEMA_V1: u32 = 1;

/// The lattice element of an account's role and quota override, if it has either.
pub fn account_access_element(account: &AccountId, record: &Account) -> Option<LtHash> {
    record.has_access_rules().then(|| {
        let quota = record.quota.map(|q| (q.max_keys, q.max_bytes));
        access_element(account, record.role.code(), quota)
    })
}

impl ChainStore {
    /// The account's record in the last accepted state; the default (no role, no override, nothing stored) if none.
    pub fn account(&self, account: &AccountId) -> Result<Account> {
        self.get(cf::ACCOUNTS, account)?
            .map_or(Ok(Account::default()), |bytes| {
                decode_borsh(&bytes, "account record")
            })
    }

    /// Adds each record to `batch`; a default record is deleted rather than stored, so the column family
    /// holds only accounts that have something.
    pub(crate) fn put_account_writes(
        &self,
        batch: &mut WriteBatch,
        writes: &[(AccountId, Account)],
    ) {
        let accounts_cf = self.cf(cf::ACCOUNTS);
        for (account, record) in writes {
            if *record == Account::default() {
                batch.delete_cf(accounts_cf, account);
            } else {
                batch.put_cf(
                    accounts_cf,
                    account,
                    borsh::to_vec(record).expect(BORSH_TO_VEC),
                );
            }
        }
    }

    /// Adds the access element of every stored account to `lattice`.
    pub(super) fn add_access_elements(
        &self,
        snapshot: &SnapshotWithThreadMode<'_, DB>,
        lattice: &mut LtHash,
    ) -> Result<()> {
        for item in snapshot.iterator_cf(self.cf(cf::ACCOUNTS), IteratorMode::Start) {
            let (account, value) = item?;
            let account = decode_id(&account, "account record key")?;
            let record: Account = decode_borsh(&value, "account record")?;
            if let Some(element) = account_access_element(&account, &record) {
                lattice.add(&element);
            }
        }
        Ok(())
    }

    /// Every owner's usage, counted from the stored entries: a full scan.
    pub fn usage_from_entries(&self) -> Result<BTreeMap<AccountId, Usage>> {
        let snapshot = self.inner.db.snapshot();
        let mut usage: BTreeMap<AccountId, Usage> = BTreeMap::new();
        for item in snapshot.iterator_cf(self.cf(cf::ENTRIES), IteratorMode::Start) {
            let (key, value) = item?;
            let entry: Entry = decode_borsh(&value, "entry")?;
            let owned = usage.entry(entry.owner).or_default();
            *owned = owned.plus(Usage::of_entry(&key, &entry.value));
        }
        Ok(usage)
    }

    /// Every stored account's usage as kept, to compare with [`ChainStore::usage_from_entries`].
    pub fn kept_usage(&self) -> Result<BTreeMap<AccountId, Usage>> {
        let mut usage = BTreeMap::new();
        for item in self
            .inner
            .db
            .iterator_cf(self.cf(cf::ACCOUNTS), IteratorMode::Start)
        {
            let (account, value) = item?;
            let record: Account = decode_borsh(&value, "account record")?;
            if record.usage != Usage::default() {
                usage.insert(decode_id(&account, "account record key")?, record.usage);
            }
        }
        Ok(usage)
    }

    /// Brings a schema-1 store to this schema: each owner's usage from its entries and the new version, in
    /// one synced batch, so a crash leaves either the old store (migrated again at the next open) or the new.
    pub(super) fn migrate_from_v1(&self) -> Result<()> {
        let _writer = self.inner.writer.lock();
        let usage = self.usage_from_entries()?;
        let writes: Vec<(AccountId, Account)> = usage
            .iter()
            .map(|(account, usage)| {
                let record = Account {
                    usage: *usage,
                    ..Account::default()
                };
                (*account, record)
            })
            .collect();
        let mut batch = WriteBatch::default();
        self.put_account_writes(&mut batch, &writes);
        batch.put_cf(
            self.cf(cf::META),
            meta::SCHEMA_VERSION,
            SCHEMA_VERSION.to_le_bytes(),
        );
        self.inner.db.write_opt(batch, &synced())?;
        info!(
            accounts = writes.len(),
            from = SCHEMA_V1,
            to = SCHEMA_VERSION,
            "chain store migrated: account usage derived from the entries"
        );
        Ok(())
    }
}
