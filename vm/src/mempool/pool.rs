//! Pending transactions waiting for a block.
//!
//! Bounded by count, bytes and per sender; deduplicated by ID; nonces at most `max_future_nonces`
//! ahead of the sender's next one are held until the gap closes. A transaction included in a
//! processing block stays in the pool (its block may still be rejected) but is no longer a build
//! candidate; accepting the block removes it, rejecting it makes it a candidate again.
//!
//! Waiting transactions: one whose nonce leaves a gap after its sender's next nonce cannot
//! execute until the gap closes, and a stranger with free accounts can send any number of them.
//! So they are never build candidates (only each sender's unbroken run from its next nonce is),
//! they share a small global budget (`max_waiting_txs`), and they expire after `waiting_ttl`.
//! Whether a transaction waits is decided when its sender's transactions change (an admission, an
//! accepted block using the sender's nonces); a gap closing makes its successors ready at once.
//!
//! Eviction: when the pool is full, a ready newcomer first displaces the oldest waiting
//! transaction. Otherwise the newcomer may displace the highest-nonce transaction of the sender
//! holding the most transactions, provided that sender holds more than the newcomer's sender
//! would after admission. So one busy sender cannot crowd out the others, and nothing an honest
//! sender needs next (lowest nonces) is evicted first.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use parking_lot::{Mutex, MutexGuard};
use tokio::sync::watch;

use crate::ids::TxId;
use crate::tx::{AccountId, Transaction};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MempoolLimits {
    pub max_txs: usize,
    pub max_bytes: usize,
    pub max_txs_per_sender: usize,
    /// How far ahead of the sender's next nonce a transaction may be and still be held.
    pub max_future_nonces: u64,
    /// Transactions held with a nonce gap before them, over all senders.
    pub max_waiting_txs: usize,
    /// How long a transaction may wait for its nonce gap to close before it is dropped.
    pub waiting_ttl_ms: u64,
}

/// What [`Mempool::encode_picked`] does with the transaction it shows.
pub enum Pick {
    Take,
    Skip,
    Stop,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AddError {
    #[error("transaction is already pending")]
    Duplicate,
    #[error("mempool is full ({0})")]
    Full(&'static str),
    #[error("sender already has {0} pending transactions")]
    SenderFull(usize),
    #[error("sender already has a pending transaction with nonce {0}")]
    NonceTaken(u64),
    #[error("nonce {got} is below the account's next nonce {next}")]
    NonceTooLow { next: u64, got: u64 },
    /// `next` is the account's nonce in the preferred state (the last accepted state unless a
    /// processing block holds the account's transactions), not the `next` of `kvvm_nonce`.
    #[error("nonce {got} is {} ahead of the account's nonce {next} in the preferred state; at most {} ahead is held (mempoolMaxFutureNonces {window})", .got - .next, .window - 1)]
    NonceTooHigh { next: u64, got: u64, window: u64 },
    #[error("nonce {got} leaves a gap after the account's next nonce {next}, and {limit} transactions with a gap already wait")]
    WaitingFull { next: u64, got: u64, limit: usize },
}

struct PooledTx {
    tx: Transaction,
    /// How many processing blocks include this transaction.
    included: usize,
    /// Arrival order, for fair interleaving of senders.
    seq: u64,
    arrived: Instant,
    /// Whether a nonce gap separates it from its sender's next nonce (see the module doc).
    waiting: bool,
}

#[derive(Default)]
struct Pool {
    txs: HashMap<TxId, PooledTx>,
    by_sender: HashMap<AccountId, BTreeMap<u64, TxId>>,
    /// Every sender in `by_sender` with its transaction count, busiest last: a full pool finds the
    /// sender to evict from in O(log senders), however many accounts a flood spreads over.
    by_load: BTreeSet<(usize, AccountId)>,
    /// Per sender in `by_sender`, the end of its unbroken run when its transactions were last
    /// classified: exactly those with a higher nonce are marked waiting. Reclassifying then
    /// touches only the nonces between the old end and the new one, not every pending transaction
    /// of the sender on every admission.
    ready_ends: HashMap<AccountId, u64>,
    /// The waiting transactions by arrival order: the oldest expires and is evicted first.
    waiting: BTreeMap<u64, TxId>,
    bytes: usize,
    next_seq: u64,
}

/// The pool. A `parking_lot::Mutex` guards it: critical sections are map operations with no
/// `.await` and no I/O, and readers (status, size metrics) must never wait on consensus work.
/// Every update finishes before anything can panic, so there is no poisoned state to guard against.
pub struct Mempool {
    limits: MempoolLimits,
    pool: Mutex<Pool>,
    /// Bumped on every change that can create a build candidate; WaitForEvent watches it.
    version: watch::Sender<u64>,
}

impl Mempool {
    pub fn new(limits: MempoolLimits) -> Self {
        Self {
            limits,
            pool: Mutex::new(Pool::default()),
            version: watch::channel(0).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Pool> {
        self.pool.lock()
    }

    /// Admits `tx`, given its sender's next nonce on the preferred state. Returns what was evicted
    /// to make room.
    pub fn add(&self, tx: Transaction, next_nonce: u64) -> Result<Vec<Transaction>, AddError> {
        if tx.nonce() < next_nonce {
            return Err(AddError::NonceTooLow {
                next: next_nonce,
                got: tx.nonce(),
            });
        }
        if tx.nonce() - next_nonce >= self.limits.max_future_nonces {
            return Err(AddError::NonceTooHigh {
                next: next_nonce,
                got: tx.nonce(),
                window: self.limits.max_future_nonces,
            });
        }
        let evicted = self.insert(tx, next_nonce)?;
        self.bump();
        Ok(evicted)
    }

    fn insert(&self, tx: Transaction, next_nonce: u64) -> Result<Vec<Transaction>, AddError> {
        let mut pool = self.lock();
        let now = Instant::now();
        if pool.txs.contains_key(&tx.id) {
            return Err(AddError::Duplicate);
        }
        let sender = *tx.sender();
        let sender_count = pool.by_sender.get(&sender).map_or(0, BTreeMap::len);
        if let Some(nonces) = pool.by_sender.get(&sender) {
            if nonces.contains_key(&tx.nonce()) {
                return Err(AddError::NonceTaken(tx.nonce()));
            }
        }
        if sender_count >= self.limits.max_txs_per_sender {
            return Err(AddError::SenderFull(sender_count));
        }
        let waits = tx.nonce() > ready_end(&pool, &sender, next_nonce);
        if waits && pool.waiting.len() >= self.limits.max_waiting_txs {
            return Err(AddError::WaitingFull {
                next: next_nonce,
                got: tx.nonce(),
                limit: self.limits.max_waiting_txs,
            });
        }
        let mut evicted = Vec::new();
        loop {
            let count_full = pool.txs.len() >= self.limits.max_txs;
            let bytes_full = pool.bytes + tx.encoded_len > self.limits.max_bytes;
            if !count_full && !bytes_full {
                break;
            }
            let oldest_waiting = pool.waiting.values().next().copied().filter(|_| !waits);
            let victim =
                oldest_waiting.or_else(|| eviction_candidate(&pool, &sender, sender_count + 1));
            match victim {
                Some(id) => {
                    if let Some(gone) = take_one(&mut pool, &id) {
                        evicted.push(gone);
                    }
                }
                None => {
                    // Put back what was evicted for nothing, as it was (arrival, waiting): the
                    // newcomer does not fit anyway.
                    for gone in evicted {
                        put(&mut pool, gone);
                    }
                    return Err(AddError::Full(if count_full {
                        "transaction count"
                    } else {
                        "bytes"
                    }));
                }
            }
        }
        let id = tx.id;
        insert_unchecked(&mut pool, tx, now);
        if let Some(&end) = pool.ready_ends.get(&sender) {
            // The newcomer takes its place on the sender's current split before it moves.
            let waits = waits_after(&pool, &id, end);
            set_waiting(&mut pool, &id, waits);
        }
        classify_sender(&mut pool, &sender, next_nonce);
        Ok(evicted.into_iter().map(|gone| gone.tx).collect())
    }

    fn waiting_ttl(&self) -> Duration {
        Duration::from_millis(self.limits.waiting_ttl_ms)
    }

    /// Drops the waiting transactions older than the waiting time-to-live, as of `now`.
    pub fn expire_waiting(&self, now: Instant) -> Vec<TxId> {
        expire_waiting(&mut self.lock(), now, self.waiting_ttl())
    }

    /// How many transactions wait for a nonce gap to close.
    pub fn waiting_count(&self) -> usize {
        self.lock().waiting.len()
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    pub fn contains(&self, id: &TxId) -> bool {
        self.lock().txs.contains_key(id)
    }

    pub fn len(&self) -> usize {
        self.lock().txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// Whether any transaction could go into the next block: some sender's transaction at its next
    /// nonce on the preferred state, not yet included. Stops at the first one found, since the
    /// builder asks on every change to the pool and needs no count: a full count read every
    /// sender's nonce from the state each time.
    pub fn has_executable(&self, mut next_nonce: impl FnMut(&AccountId) -> u64) -> bool {
        let pool = self.lock();
        pool.by_sender.iter().any(|(sender, nonces)| {
            nonces
                .get(&next_nonce(sender))
                .and_then(|id| pool.txs.get(id))
                .is_some_and(|p| p.included == 0)
        })
    }

    /// The nonce a new transaction of `sender` should carry: past every pending one that directly
    /// follows `state_nonce`.
    pub fn next_nonce(&self, sender: &AccountId, state_nonce: u64) -> u64 {
        ready_end(&self.lock(), sender, state_nonce)
    }

    /// The pending transaction with this ID, if any.
    pub fn get(&self, id: &TxId) -> Option<Transaction> {
        self.lock().txs.get(id).map(|p| p.tx.clone())
    }

    /// How many transactions `sender` has pooled (its load: lighter senders go first in blocks
    /// and pushes).
    pub fn sender_load(&self, sender: &AccountId) -> usize {
        self.lock().by_sender.get(sender).map_or(0, BTreeMap::len)
    }

    /// Encodes pending transactions, in no particular order, as `pick` chooses: it sees each one
    /// and says take, skip, or stop. Nothing is cloned or encoded that is not taken, so the work
    /// of a caller that stops at a byte budget is bounded by the budget, not by the pool.
    pub fn encode_picked(&self, mut pick: impl FnMut(&Transaction) -> Pick) -> Vec<Vec<u8>> {
        let pool = self.lock();
        let mut out = Vec::new();
        for pooled in pool.txs.values() {
            match pick(&pooled.tx) {
                Pick::Take => out.push(pooled.tx.encode()),
                Pick::Skip => {}
                Pick::Stop => break,
            }
        }
        out
    }

    /// IDs of every pooled transaction (for gossip filters).
    pub fn ids(&self) -> Vec<TxId> {
        self.lock().txs.keys().copied().collect()
    }

    /// Build candidates: for each sender, the unbroken run of not-included transactions from its
    /// next nonce (given by `next_nonce`, on the state the block builds on), in nonce order;
    /// senders interleaved, one transaction each per round, so one busy sender cannot starve the
    /// others. Within a round, senders holding fewer pooled transactions go first (then the
    /// earlier arrival of their oldest candidate): when a block fills mid-round, a sender's only
    /// transaction goes before a flooding sender's next one. Transactions behind a nonce gap are
    /// never candidates: any number of them cannot crowd out one that can execute.
    pub fn candidates(
        &self,
        limit: usize,
        mut next_nonce: impl FnMut(&AccountId) -> u64,
    ) -> Vec<Transaction> {
        let pool = self.lock();
        let mut queues: Vec<((usize, u64), Vec<&Transaction>)> = pool
            .by_sender
            .iter()
            .filter_map(|(sender, nonces)| {
                let next = next_nonce(sender);
                let txs: Vec<&PooledTx> = nonces
                    .range(next..)
                    .zip(next..)
                    .take_while(|((nonce, _), expected)| *nonce == expected)
                    .filter_map(|((_, id), _)| pool.txs.get(id))
                    .take_while(|p| p.included == 0)
                    .collect();
                let first = txs.iter().map(|p| p.seq).min()?;
                let precedence = (nonces.len(), first);
                Some((precedence, txs.into_iter().map(|p| &p.tx).collect()))
            })
            .collect();
        queues.sort_by_key(|(precedence, _)| *precedence);
        let mut out = Vec::new();
        let mut round = 0;
        while out.len() < limit {
            let mut any = false;
            for (_, txs) in &queues {
                if let Some(tx) = txs.get(round) {
                    out.push((*tx).clone());
                    any = true;
                    if out.len() == limit {
                        break;
                    }
                }
            }
            if !any {
                break;
            }
            round += 1;
        }
        out
    }

    /// Marks the transactions of a newly processing block as taken.
    pub fn mark_included(&self, ids: impl IntoIterator<Item = TxId>) {
        let mut pool = self.lock();
        for id in ids {
            if let Some(p) = pool.txs.get_mut(&id) {
                p.included += 1;
            }
        }
    }

    /// Makes the transactions of a rejected block candidates again (if still pooled), or pools
    /// them anew if their nonce is still unused (`next_nonce`: on the last accepted state) and
    /// the pool takes them; returns how many came back. The caller leaves out transactions an
    /// accepted block already holds.
    pub fn return_rejected(
        &self,
        txs: impl IntoIterator<Item = Transaction>,
        mut next_nonce: impl FnMut(&AccountId) -> u64,
    ) -> usize {
        let mut returned = 0;
        for tx in txs {
            let mut pool = self.lock();
            if let Some(p) = pool.txs.get_mut(&tx.id) {
                p.included = p.included.saturating_sub(1);
                returned += usize::from(p.included == 0);
                continue;
            }
            drop(pool);
            let next = next_nonce(tx.sender());
            if tx.nonce() >= next && self.insert(tx, next).is_ok() {
                returned += 1;
            }
        }
        self.bump();
        returned
    }

    /// Removes transactions (accepted, or found invalid).
    pub fn remove(&self, ids: impl IntoIterator<Item = TxId>) {
        let mut pool = self.lock();
        for id in ids {
            remove_one(&mut pool, &id);
        }
    }

    /// Removes every transaction of `sender` with a nonce below `next_nonce`: an accepted block
    /// used those nonces, so they can never execute.
    pub fn remove_stale(&self, sender: &AccountId, next_nonce: u64) -> Vec<TxId> {
        let mut pool = self.lock();
        let stale: Vec<TxId> = pool
            .by_sender
            .get(sender)
            .map(|nonces| nonces.range(..next_nonce).map(|(_, id)| *id).collect())
            .unwrap_or_default();
        for id in &stale {
            remove_one(&mut pool, id);
        }
        classify_sender(&mut pool, sender, next_nonce);
        stale
    }

    /// A receiver that changes whenever a new build candidate may exist.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }
}

/// The nonce after the unbroken run of `sender`'s pooled transactions from `next_nonce`: a
/// transaction with a higher nonce waits.
fn ready_end(pool: &Pool, sender: &AccountId, next_nonce: u64) -> u64 {
    let Some(nonces) = pool.by_sender.get(sender) else {
        return next_nonce;
    };
    let mut end = next_nonce;
    for nonce in nonces.range(next_nonce..).map(|(nonce, _)| *nonce) {
        if nonce != end {
            break;
        }
        end += 1;
    }
    end
}

/// Marks `sender`'s transactions after its unbroken run from `next_nonce` as waiting, and the
/// run itself as ready. Only the nonces between the run's previous end and its new one can
/// change (`Pool::ready_ends`); a sender classified for the first time is gone through whole.
fn classify_sender(pool: &mut Pool, sender: &AccountId, next_nonce: u64) {
    let end = ready_end(pool, sender, next_nonce);
    let Some(nonces) = pool.by_sender.get(sender) else {
        pool.ready_ends.remove(sender);
        return;
    };
    let changed: Vec<TxId> = match pool.ready_ends.insert(*sender, end) {
        Some(previous) if previous == end => return,
        Some(previous) => nonces
            .range(previous.min(end).saturating_add(1)..=previous.max(end))
            .map(|(_, id)| *id)
            .collect(),
        None => nonces.values().copied().collect(),
    };
    for id in changed {
        let waits = waits_after(pool, &id, end);
        set_waiting(pool, &id, waits);
    }
}

fn waits_after(pool: &Pool, id: &TxId, end: u64) -> bool {
    pool.txs.get(id).is_some_and(|p| p.tx.nonce() > end)
}

fn set_waiting(pool: &mut Pool, id: &TxId, waits: bool) {
    let Some(p) = pool.txs.get_mut(id) else {
        return;
    };
    if waits == p.waiting {
        return;
    }
    p.waiting = waits;
    if waits {
        pool.waiting.insert(p.seq, *id);
    } else {
        pool.waiting.remove(&p.seq);
    }
}

/// Removes the waiting transactions that arrived `ttl` or more before `now`, oldest first.
fn expire_waiting(pool: &mut Pool, now: Instant, ttl: Duration) -> Vec<TxId> {
    let mut expired = Vec::new();
    while let Some((_, id)) = pool.waiting.first_key_value() {
        let id = *id;
        let due = pool
            .txs
            .get(&id)
            .is_none_or(|p| now.saturating_duration_since(p.arrived) >= ttl);
        if !due {
            break;
        }
        remove_one(pool, &id);
        expired.push(id);
    }
    expired
}

fn insert_unchecked(pool: &mut Pool, tx: Transaction, arrived: Instant) {
    let seq = pool.next_seq;
    pool.next_seq += 1;
    put(
        pool,
        PooledTx {
            tx,
            included: 0,
            seq,
            arrived,
            waiting: false,
        },
    );
}

/// Adds an entry with the place it holds (arrival order, waiting or not).
fn put(pool: &mut Pool, p: PooledTx) {
    pool.bytes += p.tx.encoded_len;
    let sender = *p.tx.sender();
    let nonces = pool.by_sender.entry(sender).or_default();
    let before = nonces.len();
    nonces.insert(p.tx.nonce(), p.tx.id);
    let after = nonces.len();
    set_load(pool, sender, before, after);
    if p.waiting {
        pool.waiting.insert(p.seq, p.tx.id);
    }
    pool.txs.insert(p.tx.id, p);
}

/// The highest-nonce, not-included transaction of the other sender holding the most transactions,
/// if that sender holds more than `newcomer_count` (what the newcomer's sender would hold).
fn eviction_candidate(pool: &Pool, newcomer: &AccountId, newcomer_count: usize) -> Option<TxId> {
    let (count, busiest) = pool
        .by_load
        .iter()
        .rev()
        .find(|(_, sender)| sender != newcomer)?;
    if *count <= newcomer_count {
        return None;
    }
    pool.by_sender
        .get(busiest)?
        .values()
        .rev()
        .find(|id| pool.txs.get(*id).is_some_and(|p| p.included == 0))
        .copied()
}

fn remove_one(pool: &mut Pool, id: &TxId) -> Option<Transaction> {
    take_one(pool, id).map(|p| p.tx)
}

/// Removes an entry and returns it whole, so [`put`] can restore it as it was.
fn take_one(pool: &mut Pool, id: &TxId) -> Option<PooledTx> {
    let p = pool.txs.remove(id)?;
    if p.waiting {
        pool.waiting.remove(&p.seq);
    }
    pool.bytes -= p.tx.encoded_len;
    let sender = *p.tx.sender();
    if let Some(nonces) = pool.by_sender.get_mut(&sender) {
        let before = nonces.len();
        nonces.remove(&p.tx.nonce());
        let after = nonces.len();
        if nonces.is_empty() {
            pool.by_sender.remove(&sender);
            pool.ready_ends.remove(&sender);
        }
        set_load(pool, sender, before, after);
    }
    Some(p)
}

/// Moves `sender` in `by_load` from `before` transactions to `after` (0: gone).
fn set_load(pool: &mut Pool, sender: AccountId, before: usize, after: usize) {
    if before == after {
        return;
    }
    if before > 0 {
        pool.by_load.remove(&(before, sender));
    }
    if after > 0 {
        pool.by_load.insert((after, sender));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::{Operation, UnsignedTx};
    use ed25519_dalek::SigningKey;

    /// The chain's default limits, declared with the other chain-config fields.
    fn default_limits() -> MempoolLimits {
        crate::chain_config::ChainConfig::default().mempool
    }

    fn signed_by(key: &SigningKey, nonce: u64, key_written: Vec<u8>) -> Transaction {
        Transaction::new(
            UnsignedTx {
                chain_id: [0; 32],
                sender: key.verifying_key().to_bytes(),
                nonce,
                ops: vec![Operation::Put {
                    key: key_written,
                    value: nonce.to_le_bytes().to_vec(),
                }],
            }
            .sign(key),
        )
    }

    fn tx(seed: u8, nonce: u64) -> Transaction {
        signed_by(&SigningKey::from_bytes(&[seed; 32]), nonce, vec![seed])
    }

    fn limits(max_txs: usize, max_bytes: usize, per_sender: usize) -> MempoolLimits {
        MempoolLimits {
            max_txs,
            max_bytes,
            max_txs_per_sender: per_sender,
            max_future_nonces: 64,
            max_waiting_txs: 1_024,
            waiting_ttl_ms: 60_000,
        }
    }

    #[test]
    fn duplicates_and_taken_nonces_are_refused() {
        let pool = Mempool::new(default_limits());
        pool.add(tx(1, 0), 0).unwrap();
        assert_eq!(pool.add(tx(1, 0), 0), Err(AddError::Duplicate));
        let mut other = tx(1, 0);
        other.signed.unsigned.ops.clear();
        let other = Transaction::new(other.signed);
        assert_eq!(pool.add(other, 0), Err(AddError::NonceTaken(0)));
        assert_eq!(pool.len(), 1);
    }

    #[test]
    fn nonce_window_holds_at_its_edges() {
        let pool = Mempool::new(MempoolLimits {
            max_future_nonces: 4,
            ..default_limits()
        });
        assert_eq!(
            pool.add(tx(1, 4), 5),
            Err(AddError::NonceTooLow { next: 5, got: 4 })
        );
        pool.add(tx(1, 8), 5).unwrap();
        let too_far = pool.add(tx(1, 9), 5);
        assert_eq!(
            too_far,
            Err(AddError::NonceTooHigh {
                next: 5,
                got: 9,
                window: 4
            })
        );
        // The message counts as the check does: 9 is 4 ahead of 5, and 3 ahead is the most held.
        assert_eq!(
            too_far.unwrap_err().to_string(),
            "nonce 9 is 4 ahead of the account's nonce 5 in the preferred state; at most 3 ahead \
             is held (mempoolMaxFutureNonces 4)"
        );
    }

    #[test]
    fn count_bytes_and_sender_limits_hold_at_their_edges() {
        let one = tx(1, 0).encoded_len;
        let pool = Mempool::new(limits(3, one * 3, 2));
        pool.add(tx(1, 0), 0).unwrap();
        pool.add(tx(1, 1), 0).unwrap();
        assert_eq!(pool.add(tx(1, 2), 0), Err(AddError::SenderFull(2)));
        pool.add(tx(2, 0), 0).unwrap();
        // Full; sender 3 would hold 1, sender 1 holds 2: sender 1's highest nonce makes room.
        let evicted = pool.add(tx(3, 0), 0).unwrap();
        assert_eq!(evicted.len(), 1);
        assert_eq!(
            (evicted[0].nonce(), evicted[0].sender()),
            (1, tx(1, 0).sender())
        );
        // Now every sender holds 1: nobody holds more than a newcomer would, so the pool is full.
        assert_eq!(
            pool.add(tx(4, 0), 0),
            Err(AddError::Full("transaction count"))
        );
        assert_eq!(pool.len(), 3);
        assert_eq!(pool.bytes(), one * 3);

        let by_bytes = Mempool::new(limits(10, one * 2 - 1, 10));
        by_bytes.add(tx(1, 0), 0).unwrap();
        assert_eq!(by_bytes.add(tx(2, 0), 0), Err(AddError::Full("bytes")));
    }

    #[test]
    fn executable_means_a_sender_s_next_nonce_is_pending_and_not_included() {
        let pool = Mempool::new(default_limits());
        assert!(!pool.has_executable(|_| 0));
        pool.add(tx(1, 0), 0).unwrap();
        pool.add(tx(1, 1), 0).unwrap();
        pool.add(tx(1, 3), 0).unwrap();
        pool.add(tx(2, 5), 5).unwrap();
        let sender2 = *tx(2, 0).sender();
        assert!(pool.has_executable(|s| if *s == sender2 { 5 } else { 7 }));
        assert!(pool.has_executable(|s| if *s == sender2 { 4 } else { 0 }));
        // Sender 2's transaction is not at its next nonce, and a gap holds back sender 1's third.
        assert!(!pool.has_executable(|s| if *s == sender2 { 4 } else { 2 }));
        assert!(pool.has_executable(|s| if *s == sender2 { 4 } else { 3 }));
        pool.mark_included([tx(1, 0).id]);
        assert!(!pool.has_executable(|s| if *s == sender2 { 4 } else { 0 }));
        assert_eq!(pool.next_nonce(tx(1, 0).sender(), 0), 2);
        pool.add(tx(1, 2), 0).unwrap();
        assert_eq!(pool.next_nonce(tx(1, 0).sender(), 0), 4);
    }

    #[test]
    fn candidates_interleave_senders_in_nonce_order_lighter_senders_first() {
        let pool = Mempool::new(default_limits());
        pool.add(tx(1, 1), 0).unwrap();
        pool.add(tx(1, 0), 0).unwrap();
        pool.add(tx(3, 0), 0).unwrap();
        pool.add(tx(3, 1), 0).unwrap();
        pool.add(tx(2, 0), 0).unwrap();
        let one = *tx(1, 0).sender();
        let order = |limit, next_of_one: u64| -> Vec<(u8, u64)> {
            pool.candidates(limit, |s| if *s == one { next_of_one } else { 0 })
                .iter()
                .map(|t| (t.ops()[0].key().unwrap()[0], t.nonce()))
                .collect()
        };
        // 2 holds one transaction and arrived last, yet leads each round; 1 and 3 hold two each
        // and keep their arrival order.
        assert_eq!(order(10, 0), vec![(2, 0), (1, 0), (3, 0), (1, 1), (3, 1)]);
        assert_eq!(
            order(1, 0),
            vec![(2, 0)],
            "a block with room for one takes 2's"
        );
        // 1's first transaction goes into a processing block (so its next nonce is 1 there) and
        // still counts as 1's load: 1 stays behind 4, a newcomer with one transaction.
        pool.mark_included([tx(1, 0).id]);
        pool.add(tx(4, 0), 0).unwrap();
        assert_eq!(order(10, 1), vec![(2, 0), (4, 0), (1, 1), (3, 0), (3, 1)]);
    }

    #[test]
    fn included_transactions_are_not_candidates_until_their_block_is_rejected() {
        let pool = Mempool::new(default_limits());
        let t = tx(1, 0);
        pool.add(t.clone(), 0).unwrap();
        pool.mark_included([t.id]);
        assert!(pool.candidates(10, |_| 0).is_empty());
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.return_rejected([t.clone()], |_| 0), 1);
        assert_eq!(pool.candidates(10, |_| 0), vec![t]);
    }

    #[test]
    fn rejected_block_returns_txs_that_were_not_pooled() {
        let pool = Mempool::new(default_limits());
        assert_eq!(pool.return_rejected([tx(5, 0)], |_| 0), 1);
        assert_eq!(pool.candidates(10, |_| 0).len(), 1);
    }

    #[test]
    fn stale_nonces_leave_after_accept() {
        let pool = Mempool::new(default_limits());
        for n in 0..3 {
            pool.add(tx(1, n), 0).unwrap();
        }
        let removed = pool.remove_stale(&tx(1, 0).signed.unsigned.sender, 2);
        assert_eq!(removed.len(), 2);
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.candidates(10, |_| 2)[0].nonce(), 2);
    }

    #[test]
    fn adding_wakes_subscribers() {
        let pool = Mempool::new(default_limits());
        let mut rx = pool.subscribe();
        rx.mark_unchanged();
        pool.add(tx(1, 0), 0).unwrap();
        assert!(rx.has_changed().unwrap());
    }

    /// A transaction from one of many accounts (more than `tx`'s 256 seeds).
    fn tx_of(account: u32, nonce: u64) -> Transaction {
        let mut seed = [7; 32];
        seed[..4].copy_from_slice(&account.to_le_bytes());
        signed_by(&SigningKey::from_bytes(&seed), nonce, b"k".to_vec())
    }

    fn waiting_limits(
        max_txs: usize,
        max_waiting_txs: usize,
        waiting_ttl_ms: u64,
    ) -> MempoolLimits {
        MempoolLimits {
            max_waiting_txs,
            waiting_ttl_ms,
            ..limits(max_txs, 64 << 20, 256)
        }
    }

    #[test]
    fn transactions_behind_a_nonce_gap_never_crowd_out_one_that_can_execute() {
        let pool = Mempool::new(waiting_limits(10_000, 10_000, 60_000));
        for account in 0..300 {
            pool.add(tx_of(account, 1), 0).unwrap();
        }
        let honest = tx_of(1_000_000, 0);
        pool.add(honest.clone(), 0).unwrap();
        assert_eq!(pool.waiting_count(), 300);
        assert_eq!(pool.candidates(10, |_| 0), vec![honest.clone()]);
        assert!(pool.has_executable(|_| 0));
        // A gap that closes makes the transactions behind it candidates at once.
        pool.add(tx_of(0, 0), 0).unwrap();
        assert_eq!(pool.waiting_count(), 299);
        assert_eq!(pool.candidates(10, |_| 0).len(), 3);
    }

    #[test]
    fn the_waiting_budget_holds_at_its_edge_and_frees_when_a_gap_closes() {
        let pool = Mempool::new(waiting_limits(100, 2, 60_000));
        pool.add(tx_of(1, 1), 0).unwrap();
        pool.add(tx_of(2, 5), 0).unwrap();
        assert!(matches!(
            pool.add(tx_of(3, 1), 0),
            Err(AddError::WaitingFull {
                next: 0,
                got: 1,
                limit: 2
            })
        ));
        pool.add(tx_of(3, 0), 0)
            .expect("a transaction that can execute is not waiting");
        pool.add(tx_of(1, 0), 0).unwrap();
        assert_eq!(pool.waiting_count(), 1, "account 1's gap closed");
        pool.add(tx_of(3, 2), 0).expect("the budget has room again");
    }

    #[test]
    fn waiting_transactions_expire_after_their_time_to_live_and_ready_ones_stay() {
        let pool = Mempool::new(waiting_limits(100, 100, 1_000));
        let start = Instant::now();
        let waiting = tx_of(1, 3);
        pool.add(waiting.clone(), 0).unwrap();
        pool.add(tx_of(2, 0), 0).unwrap();
        assert!(pool.expire_waiting(start).is_empty());
        let later = Instant::now() + Duration::from_millis(1_000);
        assert_eq!(pool.expire_waiting(later), vec![waiting.id]);
        assert_eq!(pool.len(), 1);
        assert_eq!(pool.waiting_count(), 0);
        assert!(pool
            .expire_waiting(later + Duration::from_secs(3_600))
            .is_empty());
    }

    #[test]
    fn an_eviction_undone_puts_its_victims_back_as_they_were() {
        let waiting = tx_of(1, 3);
        let ready = tx_of(2, 0);
        let small = waiting.encoded_len + ready.encoded_len;
        let pool = Mempool::new(MempoolLimits {
            max_bytes: small + 100,
            ..waiting_limits(100, 100, 1_000)
        });
        let start = Instant::now();
        pool.add(waiting.clone(), 0).unwrap();
        pool.add(ready.clone(), 0).unwrap();
        // Too large even with the waiting transaction evicted: the eviction is undone.
        let large = signed_by(&SigningKey::from_bytes(&[9; 32]), 0, vec![0; 400]);
        assert!(large.encoded_len > 100 + waiting.encoded_len);
        assert_eq!(pool.add(large, 0), Err(AddError::Full("bytes")));
        assert_eq!((pool.len(), pool.bytes()), (2, small));
        assert_eq!(
            pool.waiting_count(),
            1,
            "still counted against the waiting budget"
        );
        assert!(pool.expire_waiting(start).is_empty());
        let later = Instant::now() + Duration::from_millis(1_000);
        assert_eq!(
            pool.expire_waiting(later),
            vec![waiting.id],
            "and still expires"
        );
    }

    #[test]
    fn a_ready_newcomer_to_a_full_pool_evicts_the_oldest_waiting_transaction() {
        let pool = Mempool::new(waiting_limits(3, 100, 60_000));
        let oldest = tx_of(1, 1);
        pool.add(oldest.clone(), 0).unwrap();
        pool.add(tx_of(2, 1), 0).unwrap();
        pool.add(tx_of(3, 1), 0).unwrap();
        assert!(
            matches!(pool.add(tx_of(4, 1), 0), Err(AddError::Full(_))),
            "a waiting newcomer displaces nothing"
        );
        let evicted = pool.add(tx_of(5, 0), 0).unwrap();
        assert_eq!(evicted, vec![oldest]);
        assert_eq!(pool.waiting_count(), 2);
    }

    #[test]
    fn an_accepted_nonce_closes_the_gap_of_what_waited_behind_it() {
        let pool = Mempool::new(default_limits());
        pool.add(tx_of(1, 1), 0).unwrap();
        pool.add(tx_of(1, 2), 0).unwrap();
        assert_eq!(pool.waiting_count(), 2);
        pool.remove_stale(tx_of(1, 0).sender(), 1);
        assert_eq!(pool.waiting_count(), 0);
        assert_eq!(pool.candidates(10, |_| 1).len(), 2);
    }

    #[test]
    fn a_rejected_transaction_whose_nonce_was_used_does_not_return() {
        let pool = Mempool::new(default_limits());
        assert_eq!(pool.return_rejected([tx(5, 0)], |_| 1), 0);
        assert!(pool.is_empty());
    }

    #[test]
    fn encoding_for_a_budget_stops_when_told_and_encodes_only_what_is_taken() {
        let pool = Mempool::new(default_limits());
        for account in 0..50 {
            pool.add(tx_of(account, 0), 0).unwrap();
        }
        let mut shown = 0;
        let taken = pool.encode_picked(|_| {
            shown += 1;
            match shown {
                1..=3 => Pick::Take,
                4 => Pick::Skip,
                _ => Pick::Stop,
            }
        });
        assert_eq!(taken.len(), 3);
        assert_eq!(shown, 5, "the walk ends at the first stop");
        for bytes in &taken {
            let tx = Transaction::decode(bytes, 1 << 20).unwrap();
            assert!(pool.contains(&tx.id));
        }
    }

    /// Every sender's waiting flags as a full pass over its transactions would set them from
    /// `next_nonce`, and the waiting queue holding exactly the flagged transactions.
    fn assert_classified(pool: &Mempool, sender: &AccountId, next_nonce: u64) {
        let p = pool.lock();
        let end = ready_end(&p, sender, next_nonce);
        for (nonce, id) in p.by_sender.get(sender).into_iter().flatten() {
            assert_eq!(
                p.txs[id].waiting,
                *nonce > end,
                "nonce {nonce}, run ends at {end}"
            );
        }
        let flagged: BTreeMap<u64, TxId> = p
            .txs
            .iter()
            .filter(|(_, t)| t.waiting)
            .map(|(id, t)| (t.seq, *id))
            .collect();
        assert_eq!(p.waiting, flagged);
        // A sender with nothing pooled leaves no classification behind.
        assert!(p.ready_ends.keys().all(|s| p.by_sender.contains_key(s)));
        let loads: BTreeSet<(usize, AccountId)> =
            p.by_sender.iter().map(|(s, n)| (n.len(), *s)).collect();
        assert_eq!(p.by_load, loads, "the load index follows every change");
    }

    #[test]
    fn waiting_flags_match_a_full_classification_after_any_sequence_of_changes() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let txs: Vec<Vec<Transaction>> = (0..4)
            .map(|account| (0..16).map(|nonce| tx_of(account, nonce)).collect())
            .collect();
        // Small enough that admissions evict and refuse.
        let pool = Mempool::new(waiting_limits(24, 8, 60_000));
        for _ in 0..3_000 {
            let account = rng.gen_range(0..4);
            let sender = *txs[account][0].sender();
            let next = rng.gen_range(0..6);
            match rng.gen_range(0..10) {
                0 => {
                    pool.remove_stale(&sender, next);
                    assert_classified(&pool, &sender, next);
                }
                1 => {
                    let ids = pool.ids();
                    if !ids.is_empty() {
                        pool.remove([ids[rng.gen_range(0..ids.len())]]);
                    }
                }
                _ => {
                    let nonce = rng.gen_range(next..16);
                    if pool.add(txs[account][nonce as usize].clone(), next).is_ok() {
                        assert_classified(&pool, &sender, next);
                    }
                }
            }
        }
    }
}
