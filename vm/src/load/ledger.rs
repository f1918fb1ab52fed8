//! What happened to each transaction of a run: when it was sent, how the node answered, when (and
//! how often) it was seen in an accepted block; and how many each account has in flight.
//!
//! Shared by the submitting tasks and the block watcher behind one mutex: every update is a few
//! map operations with no `.await` or I/O inside, so a plain lock is cheaper than a channel.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use kvvm_rpc::codes;

/// Why the node did not take a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Refusal {
    /// A JSON-RPC error code (for the item, or for the whole call).
    Code(i32),
    /// No JSON-RPC answer at all (connection, HTTP status, timeout): the node may still have
    /// taken the transactions.
    Transport,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Code(code) => write!(f, "{code}"),
            Refusal::Transport => f.write_str("transport"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Unanswered,
    Taken,
    Refused(Refusal),
}

#[derive(Clone, Debug)]
struct TxRecord {
    account: usize,
    sent: Option<Instant>,
    answer: Answer,
    accepted: Option<Instant>,
    times_accepted: u32,
    /// Refused, accepted or skipped: no longer counts against its account's window.
    resolved: bool,
    skipped: bool,
    /// "Try later" refusals so far: each doubles the wait before the next send.
    try_later_refusals: u32,
}

/// One accepted block the watcher saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlockSeen {
    pub(crate) height: u64,
    pub(crate) txs: usize,
    /// Of those, transactions of this run.
    pub(crate) ours: usize,
}

pub(crate) struct Ledger {
    index: HashMap<[u8; 32], usize>,
    txs: Vec<TxRecord>,
    in_flight: Vec<usize>,
    in_flight_total: usize,
    window: usize,
    max_in_flight: usize,
    /// Accounts with a refused transaction: their later nonces can never execute, so they are
    /// not sent (a client that does not retry gives up on the account).
    blocked: Vec<bool>,
    /// How long after a first "try later" refusal (1009, 1012) a transaction is sent again, each
    /// further refusal doubling it up to [`MAX_BACKOFF_DOUBLINGS`] times; `None`: such a refusal
    /// is final, as any other.
    resend_after: Option<Duration>,
    /// Transactions refused with "try later", each with when it may go again, in that order
    /// (refusals of one batch come in its order, so an account's nonces mostly stay in order).
    resends: VecDeque<(Instant, usize)>,
    /// Sends of a transaction beyond its first.
    resent: usize,
    /// Each account's plan indexes, in nonce order.
    by_account: Vec<Vec<usize>>,
    /// Per account, when one of its transactions was last seen accepted (or the account was last
    /// sent again, or first sent): what tells a stalled account.
    progress: Vec<Option<Instant>>,
    /// When stalled accounts were last looked for.
    stall_check: Option<Instant>,
    /// Taken transactions sent again because their account stalled.
    stalled_resent: usize,
    /// "Try later" refusals answered by a wait to send again, by code.
    refused_then_resent: BTreeMap<Refusal, usize>,
    blocks: Vec<BlockSeen>,
    first_transport_error: Option<String>,
    /// What the node said the first time it refused with each code: a code such as 1009 covers
    /// several limits, and the message names the one reached.
    first_refusal_messages: BTreeMap<Refusal, String>,
}

/// The counts and times of a run, taken from the ledger at its end.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Tally {
    pub(crate) planned: usize,
    pub(crate) sent: usize,
    pub(crate) taken: usize,
    /// Not sent because an earlier transaction of their account was refused.
    pub(crate) skipped: usize,
    /// Transactions whose last answer was a refusal, by its code.
    pub(crate) refused: BTreeMap<Refusal, usize>,
    /// Sends of a transaction beyond its first (after a "try later" refusal).
    pub(crate) resent: usize,
    /// "Try later" refusals that were answered by sending again, by code.
    pub(crate) refused_then_resent: BTreeMap<Refusal, usize>,
    /// Taken transactions sent again because their account stalled.
    pub(crate) stalled_resent: usize,
    pub(crate) accepted: usize,
    /// Taken by a node, never seen accepted before the deadline.
    pub(crate) lost: usize,
    /// Acceptances of a transaction beyond its first.
    pub(crate) duplicates: usize,
    /// Seen accepted although its submission was answered with an error.
    pub(crate) accepted_though_refused: usize,
    /// Submit→accept latency of every accepted transaction, ascending.
    pub(crate) latencies: Vec<Duration>,
    /// First submission to last acceptance.
    pub(crate) span: Option<Duration>,
    /// First submission to the last first submission (how long new transactions kept coming),
    /// and how many were accepted in that time: the rate the chain kept up under the offered
    /// load, without the tail of stragglers after it.
    pub(crate) while_sending: Option<(Duration, usize)>,
    pub(crate) blocks: Vec<BlockSeen>,
    pub(crate) first_transport_error: Option<String>,
    pub(crate) first_refusal_messages: BTreeMap<Refusal, String>,
}

impl Ledger {
    /// A ledger for transactions with these `(id, account)`, each account allowed `window`
    /// transactions sent and neither accepted nor refused, all accounts together `max_in_flight`.
    pub(crate) fn new(
        txs: impl IntoIterator<Item = ([u8; 32], usize)>,
        window: usize,
        max_in_flight: usize,
    ) -> Self {
        let mut index = HashMap::new();
        let mut records = Vec::new();
        let mut accounts = 0;
        let mut by_account: Vec<Vec<usize>> = Vec::new();
        for (id, account) in txs {
            index.insert(id, records.len());
            accounts = accounts.max(account + 1);
            if by_account.len() < accounts {
                by_account.resize(accounts, Vec::new());
            }
            by_account[account].push(records.len());
            records.push(TxRecord {
                account,
                sent: None,
                answer: Answer::Unanswered,
                accepted: None,
                times_accepted: 0,
                resolved: false,
                skipped: false,
                try_later_refusals: 0,
            });
        }
        Self {
            index,
            txs: records,
            in_flight: vec![0; accounts],
            in_flight_total: 0,
            window: window.max(1),
            max_in_flight: max_in_flight.max(1),
            blocked: vec![false; accounts],
            resend_after: None,
            resends: VecDeque::new(),
            resent: 0,
            by_account,
            progress: vec![None; accounts],
            stall_check: None,
            stalled_resent: 0,
            refused_then_resent: BTreeMap::new(),
            blocks: Vec::new(),
            first_transport_error: None,
            first_refusal_messages: BTreeMap::new(),
        }
    }

    /// Sends a transaction refused with "try later" (1009: a pool limit; 1012: the node is busy)
    /// again `after` it was refused, and twice as long after each further refusal, as a client
    /// facing back-pressure does, instead of giving up on its account.
    pub(crate) fn resending_after(mut self, after: Duration) -> Self {
        self.resend_after = Some(after);
        self
    }

    /// The transactions refused with "try later" whose time to go again has come by `now`, in
    /// the order they were refused; they already count against their accounts' windows.
    pub(crate) fn due_resends(&mut self, now: Instant) -> Vec<usize> {
        let mut due = Vec::new();
        while let Some(&(at, i)) = self.resends.front() {
            if at > now {
                break;
            }
            self.resends.pop_front();
            due.push(i);
        }
        self.resent += due.len();
        due
    }

    /// The taken, unaccepted transactions of every account none of whose transactions has been
    /// accepted for `stalled` although some are in flight, to send again (looked for at most once
    /// a second). A node may drop a transaction it took (evicted from a full pool, or waiting
    /// behind a nonce gap past its time): the account's later nonces then wait behind that gap
    /// until the client sends it again, as a client watching its account's nonce does.
    pub(crate) fn stalled(&mut self, now: Instant, stalled: Duration) -> Vec<usize> {
        if self.resend_after.is_none()
            || self
                .stall_check
                .is_some_and(|at| now.saturating_duration_since(at) < STALL_CHECK_EVERY)
        {
            return Vec::new();
        }
        self.stall_check = Some(now);
        let mut again = Vec::new();
        for (account, txs) in self.by_account.iter().enumerate() {
            let stalled_since = self.progress[account]
                .is_some_and(|at| now.saturating_duration_since(at) >= stalled);
            if self.in_flight[account] == 0 || !stalled_since {
                continue;
            }
            self.progress[account] = Some(now);
            again.extend(txs.iter().copied().filter(|&i| {
                let tx = &self.txs[i];
                tx.answer == Answer::Taken && tx.accepted.is_none()
            }));
        }
        self.stalled_resent += again.len();
        again
    }

    /// Whether some refused transaction waits to be sent again.
    pub(crate) fn has_resends(&self) -> bool {
        !self.resends.is_empty()
    }

    /// Whether the client may still send something once the plan is sent: a refused transaction
    /// waits to go again, or, when it resends, an account with transactions in flight may stall.
    pub(crate) fn may_send_more(&self) -> bool {
        self.has_resends() || (self.resend_after.is_some() && !self.all_sent_resolved())
    }

    /// Whether the transactions at `batch` may be sent without any account exceeding its window.
    pub(crate) fn has_room(&self, batch: &[usize]) -> bool {
        let mut adding: HashMap<usize, usize> = HashMap::new();
        for &i in batch {
            *adding.entry(self.txs[i].account).or_default() += 1;
        }
        // A batch larger than the cap goes when nothing else is in flight, or it would never go.
        let total_fits =
            self.in_flight_total + batch.len() <= self.max_in_flight || self.in_flight_total == 0;
        total_fits
            && adding
                .iter()
                .all(|(&account, &n)| self.in_flight[account] + n <= self.window)
    }

    /// Drops from `batch` the transactions of accounts with a refused transaction, marking them
    /// skipped.
    pub(crate) fn skip_blocked(&mut self, batch: &mut Vec<usize>) {
        batch.retain(|&i| {
            let tx = &mut self.txs[i];
            if self.blocked[tx.account] && !tx.resolved {
                tx.resolved = true;
                tx.skipped = true;
                return false;
            }
            true
        });
    }

    pub(crate) fn sent(&mut self, batch: &[usize], at: Instant) {
        for &i in batch {
            let tx = &mut self.txs[i];
            if tx.sent.is_none() {
                tx.sent = Some(at);
                self.progress[tx.account].get_or_insert(at);
                if !tx.resolved {
                    self.in_flight[tx.account] += 1;
                    self.in_flight_total += 1;
                }
            }
        }
    }

    fn resolve(&mut self, i: usize) {
        let tx = &mut self.txs[i];
        if !tx.resolved {
            tx.resolved = true;
            if tx.sent.is_some() {
                self.in_flight[tx.account] -= 1;
                self.in_flight_total -= 1;
            }
        }
    }

    /// The node's answer for the transaction at `i`.
    pub(crate) fn answered(&mut self, i: usize, answer: Result<(), Refusal>) {
        // A client that sends again hears "already pending" or "nonce used" for a transaction
        // the node has, or that a block took (the watcher sees it): both mean taken. A freshly
        // signed transaction, sent for the first time, hears neither.
        let answer = match answer {
            Err(Refusal::Code(codes::ALREADY_KNOWN | codes::NONCE_TOO_LOW))
                if self.resend_after.is_some() =>
            {
                Ok(())
            }
            other => other,
        };
        match answer {
            Ok(()) => self.txs[i].answer = Answer::Taken,
            Err(refusal) => {
                self.txs[i].answer = Answer::Refused(refusal);
                match self.resend_after {
                    Some(after) if try_later(refusal) => {
                        *self.refused_then_resent.entry(refusal).or_default() += 1;
                        let tx = &mut self.txs[i];
                        let doublings = tx.try_later_refusals.min(MAX_BACKOFF_DOUBLINGS);
                        tx.try_later_refusals += 1;
                        let at = Instant::now() + after * (1 << doublings);
                        // Kept in time order: a later refusal may have a shorter wait.
                        let place = self.resends.partition_point(|&(due, _)| due <= at);
                        self.resends.insert(place, (at, i));
                    }
                    _ => {
                        self.blocked[self.txs[i].account] = true;
                        self.resolve(i);
                    }
                }
            }
        }
    }

    /// Keeps the node's first message for each kind of refusal, to say which limit in the report.
    pub(crate) fn refusal_said(&mut self, refusal: Refusal, message: &str) {
        self.first_refusal_messages
            .entry(refusal)
            .or_insert_with(|| message.to_string());
    }

    /// Keeps the first call that failed without a JSON-RPC answer, to say why in the report.
    pub(crate) fn transport_failed(&mut self, reason: String) {
        self.first_transport_error.get_or_insert(reason);
    }

    /// An accepted block at `height` holding `tx_ids`, seen at `at`.
    /// Returns how many of them are this run's.
    pub(crate) fn accepted_block(
        &mut self,
        height: u64,
        tx_ids: &[[u8; 32]],
        at: Instant,
    ) -> usize {
        let mut ours = 0;
        for id in tx_ids {
            let Some(&i) = self.index.get(id) else {
                continue;
            };
            ours += 1;
            let tx = &mut self.txs[i];
            tx.times_accepted += 1;
            if tx.accepted.is_none() {
                tx.accepted = Some(at);
                self.progress[tx.account] = Some(at);
                self.resolve(i);
            }
        }
        self.blocks.push(BlockSeen {
            height,
            txs: tx_ids.len(),
            ours,
        });
        ours
    }

    /// How many transactions have been refused, accepted or skipped.
    pub(crate) fn decided(&self) -> usize {
        self.txs.iter().filter(|tx| tx.resolved).count()
    }

    /// Whether every transaction sent so far has been refused or accepted.
    pub(crate) fn all_sent_resolved(&self) -> bool {
        self.in_flight_total == 0
    }

    pub(crate) fn tally(&self) -> Tally {
        let mut tally = Tally {
            planned: self.txs.len(),
            blocks: self.blocks.clone(),
            first_transport_error: self.first_transport_error.clone(),
            first_refusal_messages: self.first_refusal_messages.clone(),
            resent: self.resent,
            refused_then_resent: self.refused_then_resent.clone(),
            stalled_resent: self.stalled_resent,
            ..Tally::default()
        };
        let mut first_sent: Option<Instant> = None;
        let mut last_accepted: Option<Instant> = None;
        for tx in &self.txs {
            if tx.skipped {
                tally.skipped += 1;
            }
            if let Some(sent) = tx.sent {
                tally.sent += 1;
                first_sent = Some(first_sent.map_or(sent, |f| f.min(sent)));
            }
            match tx.answer {
                Answer::Taken => tally.taken += 1,
                Answer::Refused(r) => *tally.refused.entry(r).or_default() += 1,
                Answer::Unanswered => {}
            }
            tally.duplicates += tx.times_accepted.saturating_sub(1) as usize;
            match (tx.accepted, tx.sent) {
                (Some(accepted), Some(sent)) => {
                    tally.accepted += 1;
                    tally
                        .latencies
                        .push(accepted.saturating_duration_since(sent));
                    last_accepted = Some(last_accepted.map_or(accepted, |l| l.max(accepted)));
                    if matches!(tx.answer, Answer::Refused(_)) {
                        tally.accepted_though_refused += 1;
                    }
                }
                (None, _) if tx.answer == Answer::Taken => tally.lost += 1,
                _ => {}
            }
        }
        tally.latencies.sort();
        tally.span = match (first_sent, last_accepted) {
            (Some(first), Some(last)) => Some(last.saturating_duration_since(first)),
            _ => None,
        };
        let last_first_sent = self.txs.iter().filter_map(|tx| tx.sent).max();
        tally.while_sending = first_sent.zip(last_first_sent).map(|(first, last)| {
            let accepted = self
                .txs
                .iter()
                .filter(|tx| tx.accepted.is_some_and(|at| at <= last))
                .count();
            (last.saturating_duration_since(first), accepted)
        });
        tally
    }
}

/// How often [`Ledger::stalled`] looks over the accounts.
const STALL_CHECK_EVERY: Duration = Duration::from_secs(1);

/// How many times a transaction's wait before it is sent again doubles: 8 times the first wait
/// at most, so a refused transaction still goes again within seconds.
const MAX_BACKOFF_DOUBLINGS: u32 = 3;

/// Refusals that say "not now" rather than "never": the node's pool or its JSON-RPC workers are
/// full.
fn try_later(refusal: Refusal) -> bool {
    matches!(refusal, Refusal::Code(codes::MEMPOOL_FULL | codes::BUSY))
}
