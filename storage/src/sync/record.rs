//! The records state sync moves: one per element of the state lattice, in one order all nodes share.
//!
//! A record's sync key is a kind byte followed by its key in its column family, so the order is every
//! entry (by key), then every nonce (by account), then every access rule (by account): the order in
//! which RocksDB already keeps each column family, with no index of its own.

use std::ops::ControlFlow;

use borsh::{BorshDeserialize, BorshSerialize};
use rocksdb::{ColumnFamily, Direction, IteratorMode, DB};

use crate::error::{Result, StorageError};
use crate::lattice::{entry_element, nonce_element, LtHash};
use crate::store::codec::{decode_borsh, decode_id, decode_u64_le};
use crate::store::{account_access_element, cf, Account, AccountId, Entry, Quota, Role};

pub(crate) const KIND_ENTRY: u8 = 0;
pub(crate) const KIND_NONCE: u8 = 1;
pub(crate) const KIND_ACCESS: u8 = 2;

/// One element of the state.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SyncRecord {
    Entry {
        key: Vec<u8>,
        entry: Entry,
    },
    Nonce {
        account: AccountId,
        next_nonce: u64,
    },
    /// An account's role and quota override. Its usage is not state (the entries it owns are) and
    /// does not travel: the syncing node counts it once every entry is in.
    Access {
        account: AccountId,
        role: Role,
        quota: Option<Quota>,
    },
}

impl SyncRecord {
    /// Where the record sits in the shared order.
    pub fn sync_key(&self) -> Vec<u8> {
        let (kind, key): (u8, &[u8]) = match self {
            SyncRecord::Entry { key, .. } => (KIND_ENTRY, key),
            SyncRecord::Nonce { account, .. } => (KIND_NONCE, account),
            SyncRecord::Access { account, .. } => (KIND_ACCESS, account),
        };
        let mut sync_key = Vec::with_capacity(1 + key.len());
        sync_key.push(kind);
        sync_key.extend_from_slice(key);
        sync_key
    }

    /// The record's lattice element, or `None` for an access record with no rule: that is no
    /// element of the state, and a peer sending one is sending junk.
    pub fn element(&self) -> Option<LtHash> {
        match self {
            SyncRecord::Entry { key, entry } => {
                Some(entry_element(key, &entry.value, &entry.owner, entry.height))
            }
            SyncRecord::Nonce {
                account,
                next_nonce,
            } => Some(nonce_element(account, *next_nonce)),
            SyncRecord::Access {
                account,
                role,
                quota,
            } => account_access_element(
                account,
                &Account {
                    role: *role,
                    quota: *quota,
                    usage: Default::default(),
                },
            ),
        }
    }

    /// Borsh-encoded size, what a chunk's byte budget counts.
    pub fn encoded_len(&self) -> usize {
        match self {
            SyncRecord::Entry { key, entry } => 1 + 4 + key.len() + 4 + entry.value.len() + 32 + 8,
            SyncRecord::Nonce { .. } => 1 + 32 + 8,
            SyncRecord::Access { .. } => 1 + 32 + 1 + 1 + 16,
        }
    }
}

/// Whether `key` is a well-formed sync key: a known kind, and a 32-byte account for nonces and
/// access rules.
pub(crate) fn is_sync_key(key: &[u8]) -> bool {
    match key.split_first() {
        Some((&KIND_ENTRY, _)) => true,
        Some((&KIND_NONCE | &KIND_ACCESS, account)) => account.len() == 32,
        _ => false,
    }
}

fn column_family_of(kind: u8) -> &'static str {
    match kind {
        KIND_ENTRY => cf::ENTRIES,
        KIND_NONCE => cf::NONCES,
        _ => cf::ACCOUNTS,
    }
}

pub(crate) fn handle<'a>(db: &'a DB, name: &'static str) -> Result<&'a ColumnFamily> {
    db.cf_handle(name).ok_or_else(|| StorageError::Corrupt {
        what: "column family",
        reason: format!("{name} is missing"),
    })
}

/// Visits the records of `db` in sync-key order from `from` (inclusive; empty: from the first) until
/// `visit` breaks or the records run out.
pub(crate) fn scan_records(
    db: &DB,
    from: &[u8],
    mut visit: impl FnMut(SyncRecord) -> Result<ControlFlow<()>>,
) -> Result<()> {
    let (first_kind, first_key) = match from.split_first() {
        Some((kind, key)) => (*kind, key),
        None => (KIND_ENTRY, &[][..]),
    };
    for kind in first_kind..=KIND_ACCESS {
        let mode = if kind == first_kind {
            IteratorMode::From(first_key, Direction::Forward)
        } else {
            IteratorMode::Start
        };
        for item in db.iterator_cf(handle(db, column_family_of(kind))?, mode) {
            let (key, value) = item?;
            if let Some(record) = decode_record(kind, &key, &value)? {
                if visit(record)?.is_break() {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

fn decode_record(kind: u8, key: &[u8], value: &[u8]) -> Result<Option<SyncRecord>> {
    Ok(match kind {
        KIND_ENTRY => Some(SyncRecord::Entry {
            key: key.to_vec(),
            entry: decode_borsh(value, "entry")?,
        }),
        KIND_NONCE => Some(SyncRecord::Nonce {
            account: decode_id(key, "nonce account")?,
            next_nonce: decode_u64_le(value, "nonce")?,
        }),
        _ => {
            let account = decode_id(key, "account record key")?;
            let record: Account = decode_borsh(value, "account record")?;
            record.has_access_rules().then_some(SyncRecord::Access {
                account,
                role: record.role,
                quota: record.quota,
            })
        }
    })
}

/// The keys of `db` whose sync keys lie in `[from, to)` (`to` `None`: to the end), by column family:
/// what a half-written bucket leaves behind.
pub(crate) fn keys_in_range(
    db: &DB,
    from: &[u8],
    to: Option<&[u8]>,
) -> Result<Vec<(&'static str, Vec<u8>)>> {
    let mut keys = Vec::new();
    let (first_kind, first_key) = match from.split_first() {
        Some((kind, key)) => (*kind, key),
        None => (KIND_ENTRY, &[][..]),
    };
    for kind in first_kind..=KIND_ACCESS {
        let name = column_family_of(kind);
        let mode = if kind == first_kind {
            IteratorMode::From(first_key, Direction::Forward)
        } else {
            IteratorMode::Start
        };
        for item in db.iterator_cf(handle(db, name)?, mode) {
            let (key, _) = item?;
            let mut sync_key = vec![kind];
            sync_key.extend_from_slice(&key);
            if to.is_some_and(|to| sync_key.as_slice() >= to) {
                return Ok(keys);
            }
            keys.push((name, key.into_vec()));
        }
    }
    Ok(keys)
}
