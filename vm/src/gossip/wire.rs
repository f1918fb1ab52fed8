//! The gossip wire format: framing, bodies and the size checks that run before any parsing.
//!
//! See the module docs of [`crate::gossip`] for the layout. Everything here is pure: bytes in,
//! typed messages out, no I/O and no chain state.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::gossip::bloom::{BloomFilter, FilterError, FilterWire};

/// The `network/p2p` SDK's handler ID for transaction gossip (HOST-SPEC §6.3).
pub const TX_GOSSIP_HANDLER: u64 = 0;

/// The only body version this node speaks. A peer running a later format is ignored, not refused.
pub const VERSION: u8 = 1;

/// Every p2p message (payload and envelope) must fit in the node's 2 MiB limit; an app payload at
/// or above it cannot have come through an honest node, so it is dropped unread.
pub const MAX_PAYLOAD_BYTES: usize = 2 << 20;

/// Bytes of framing around the transactions in a `PushTxs`/`PullResponse` body: the prefix, the
/// version, borsh's vector length. Each transaction adds [`PER_TX_OVERHEAD`] more.
pub const BATCH_OVERHEAD: usize = 10 + 1 + 4;
/// borsh's length prefix in front of each transaction's bytes.
pub const PER_TX_OVERHEAD: usize = 4;

/// New transactions pushed to peers (AppGossip).
#[derive(BorshSerialize, BorshDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct PushTxs {
    /// Signed transactions, each in its canonical encoding.
    pub txs: Vec<Vec<u8>>,
}

/// "Send me what I lack": the requester's pool as a bloom filter (AppRequest).
#[derive(BorshSerialize, BorshDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct PullRequest {
    pub filter: FilterWire,
}

/// Transactions the responder holds that the requester's filter did not contain (AppResponse).
#[derive(BorshSerialize, BorshDeserialize, Clone, Debug, PartialEq, Eq)]
pub struct PullResponse {
    pub txs: Vec<Vec<u8>>,
}

/// Why an inbound payload was not read. None of these is an error for the node: the message is
/// dropped and counted.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum WireError {
    #[error("payload is {0} bytes, at or over the 2 MiB message limit")]
    Oversized(usize),
    #[error("payload is empty or its handler prefix is cut short")]
    Truncated,
    #[error("handler {0} is not transaction gossip")]
    UnknownHandler(u64),
    #[error("body version {0} is not spoken here")]
    UnknownVersion(u8),
    #[error("body is malformed: {0}")]
    Malformed(String),
    #[error("a transaction is {size} bytes, over the limit of {limit}")]
    TxTooLarge { size: usize, limit: usize },
    #[error("bloom filter parameters are invalid: {0}")]
    BadFilter(#[from] FilterError),
}

impl WireError {
    /// Unknown handlers and versions are someone else's traffic, not misbehaviour.
    pub fn is_foreign(&self) -> bool {
        matches!(
            self,
            WireError::UnknownHandler(_) | WireError::UnknownVersion(_)
        )
    }
}

/// Appends `value` as an unsigned LEB128 varint (Go's `binary.AppendUvarint`).
pub fn put_uvarint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Reads an unsigned varint; `None` when cut short or longer than 10 bytes (Go's overflow rule).
pub fn get_uvarint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        if i == 9 && b > 1 {
            return None;
        }
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some((value, i + 1));
        }
    }
    None
}

fn borsh_bytes(body: &impl BorshSerialize) -> Vec<u8> {
    borsh::to_vec(body).expect("writing borsh into a Vec cannot fail")
}

/// `uvarint(handler 0) ‖ version ‖ borsh(body)`: the payload of an AppGossip or AppRequest.
pub fn encode_prefixed(body: &impl BorshSerialize) -> Vec<u8> {
    let mut out = Vec::new();
    put_uvarint(&mut out, TX_GOSSIP_HANDLER);
    out.push(VERSION);
    out.extend(borsh_bytes(body));
    out
}

/// `version ‖ borsh(body)`: the payload of an AppResponse (responses carry no handler prefix).
pub fn encode_response(body: &PullResponse) -> Vec<u8> {
    let mut out = vec![VERSION];
    out.extend(borsh_bytes(body));
    out
}

fn check_size(payload: &[u8]) -> Result<(), WireError> {
    if payload.len() >= MAX_PAYLOAD_BYTES {
        return Err(WireError::Oversized(payload.len()));
    }
    Ok(())
}

/// Strips and checks the handler prefix and version; returns the body bytes.
fn unframe_prefixed(payload: &[u8]) -> Result<&[u8], WireError> {
    check_size(payload)?;
    let (handler, used) = get_uvarint(payload).ok_or(WireError::Truncated)?;
    if handler != TX_GOSSIP_HANDLER {
        return Err(WireError::UnknownHandler(handler));
    }
    unframe_version(&payload[used..])
}

fn unframe_version(payload: &[u8]) -> Result<&[u8], WireError> {
    check_size(payload)?;
    match payload.split_first() {
        None => Err(WireError::Truncated),
        Some((&VERSION, body)) => Ok(body),
        Some((&v, _)) => Err(WireError::UnknownVersion(v)),
    }
}

fn decode_body<T: BorshDeserialize>(body: &[u8]) -> Result<T, WireError> {
    borsh::from_slice(body).map_err(|e| WireError::Malformed(e.to_string()))
}

fn check_txs(txs: &[Vec<u8>], max_tx_bytes: usize) -> Result<(), WireError> {
    match txs.iter().find(|t| t.len() > max_tx_bytes) {
        Some(t) => Err(WireError::TxTooLarge {
            size: t.len(),
            limit: max_tx_bytes,
        }),
        None => Ok(()),
    }
}

/// Reads an AppGossip payload. The size is checked before a byte of it is parsed.
pub fn decode_push(payload: &[u8], max_tx_bytes: usize) -> Result<PushTxs, WireError> {
    let push: PushTxs = decode_body(unframe_prefixed(payload)?)?;
    check_txs(&push.txs, max_tx_bytes)?;
    Ok(push)
}

/// Reads an AppRequest payload, including the filter's parameters.
pub fn decode_pull_request(payload: &[u8]) -> Result<BloomFilter, WireError> {
    let request: PullRequest = decode_body(unframe_prefixed(payload)?)?;
    Ok(BloomFilter::from_wire(request.filter)?)
}

/// Reads an AppResponse payload.
pub fn decode_pull_response(
    payload: &[u8],
    max_tx_bytes: usize,
) -> Result<PullResponse, WireError> {
    let response: PullResponse = decode_body(unframe_version(payload)?)?;
    check_txs(&response.txs, max_tx_bytes)?;
    Ok(response)
}

/// The encoded size of a batch being filled, against a byte budget: the one place where the size
/// of every batch this node sends (push, regossip, pull response) is counted.
pub struct BatchBudget {
    limit: usize,
    used: usize,
    count: usize,
    /// Whether a first transaction larger than the limit is counted in all the same.
    lone_oversized: bool,
}

impl BatchBudget {
    /// A budget in which a transaction larger than the limit travels alone (it is at most the
    /// chain's `max_tx_bytes`, which leaves room under the 2 MiB message limit).
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            used: BATCH_OVERHEAD,
            count: 0,
            lone_oversized: true,
        }
    }

    /// A budget nothing exceeds, not even a first transaction: for bytes already granted by a
    /// peer's outbound budget.
    pub fn strict(limit: usize) -> Self {
        Self {
            lone_oversized: false,
            ..Self::new(limit)
        }
    }

    /// Bytes counted so far, framing included.
    pub fn used(&self) -> usize {
        self.used
    }

    /// Counts in a transaction of `len` bytes if it fits (see [`BatchBudget::new`] for the first).
    pub fn try_add(&mut self, len: usize) -> bool {
        let cost = len + PER_TX_OVERHEAD;
        let alone = self.count == 0 && self.lone_oversized;
        if !alone && self.used + cost > self.limit {
            return false;
        }
        self.add(len);
        true
    }

    /// Counts in a transaction whether or not it fits (collection that splits later).
    pub fn add(&mut self, len: usize) {
        self.used += len + PER_TX_OVERHEAD;
        self.count += 1;
    }

    /// Whether what was counted reaches the budget.
    pub fn is_spent(&self) -> bool {
        self.used >= self.limit
    }
}

/// How many of `txs`, from the first, fit in a message of at most `allowance` bytes.
pub fn affordable_prefix(txs: &[Vec<u8>], allowance: usize) -> usize {
    let mut budget = BatchBudget::strict(allowance);
    txs.iter().take_while(|tx| budget.try_add(tx.len())).count()
}

/// Splits transactions into batches whose encoded body stays within `budget` bytes.
pub fn batches(txs: Vec<Vec<u8>>, budget: usize) -> Vec<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut current: Vec<Vec<u8>> = Vec::new();
    let mut size = BatchBudget::new(budget);
    for tx in txs {
        if !size.try_add(tx.len()) {
            out.push(std::mem::take(&mut current));
            size = BatchBudget::new(budget);
            size.add(tx.len());
        }
        current.push(tx);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_matches_go_encoding() {
        for (value, bytes) in [
            (0u64, vec![0x00]),
            (1, vec![0x01]),
            (127, vec![0x7f]),
            (128, vec![0x80, 0x01]),
            (300, vec![0xac, 0x02]),
            (
                u64::MAX,
                vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            ),
        ] {
            let mut out = Vec::new();
            put_uvarint(&mut out, value);
            assert_eq!(out, bytes, "{value}");
            assert_eq!(get_uvarint(&out), Some((value, bytes.len())));
        }
        assert_eq!(get_uvarint(&[]), None);
        assert_eq!(get_uvarint(&[0x80]), None);
        assert_eq!(get_uvarint(&[0xff; 10]), None, "overflows 64 bits");
    }

    #[test]
    fn push_round_trips_with_prefix_and_version() {
        let push = PushTxs {
            txs: vec![vec![1, 2, 3], vec![], vec![9; 100]],
        };
        let payload = encode_prefixed(&push);
        assert_eq!(&payload[..2], &[0x00, VERSION], "handler 0, then version 1");
        assert_eq!(decode_push(&payload, 1000).unwrap(), push);
    }

    #[test]
    fn pull_messages_round_trip() {
        let mut filter = BloomFilter::for_items(10, [7; 32]);
        filter.insert(&crate::ids::TxId([1; 32]));
        let payload = encode_prefixed(&PullRequest {
            filter: filter.to_wire(),
        });
        let back = decode_pull_request(&payload).unwrap();
        assert_eq!(back, filter);
        assert!(back.contains(&crate::ids::TxId([1; 32])));

        let response = PullResponse {
            txs: vec![vec![5; 40]],
        };
        let payload = encode_response(&response);
        assert_eq!(payload[0], VERSION, "responses carry no handler prefix");
        assert_eq!(decode_pull_response(&payload, 40).unwrap(), response);
    }

    #[test]
    fn unknown_handler_and_version_are_foreign() {
        let push = PushTxs { txs: vec![] };
        let mut payload = encode_prefixed(&push);
        payload[0] = 2; // the ACP-118 signature handler
        let err = decode_push(&payload, 10).unwrap_err();
        assert_eq!(err, WireError::UnknownHandler(2));
        assert!(err.is_foreign());

        let mut payload = encode_prefixed(&push);
        payload[1] = 2;
        let err = decode_push(&payload, 10).unwrap_err();
        assert_eq!(err, WireError::UnknownVersion(2));
        assert!(err.is_foreign());

        // A two-byte handler ID (128) is read as one ID, not as handler 0.
        let mut payload = Vec::new();
        put_uvarint(&mut payload, 128);
        payload.push(VERSION);
        assert_eq!(
            decode_push(&payload, 10).unwrap_err(),
            WireError::UnknownHandler(128)
        );
        assert_eq!(decode_push(&[], 10).unwrap_err(), WireError::Truncated);
        assert_eq!(decode_push(&[0], 10).unwrap_err(), WireError::Truncated);
    }

    #[test]
    fn oversized_payload_is_refused_before_parsing() {
        // A valid prefix and version followed by garbage: if the body were parsed, this would be
        // `Malformed`; the size check must answer first.
        let mut payload = vec![0x00, VERSION];
        payload.resize(MAX_PAYLOAD_BYTES, 0xff);
        assert_eq!(
            decode_push(&payload, usize::MAX).unwrap_err(),
            WireError::Oversized(MAX_PAYLOAD_BYTES)
        );
        assert!(matches!(
            decode_pull_request(&payload).unwrap_err(),
            WireError::Oversized(_)
        ));
        let mut response = vec![VERSION];
        response.resize(MAX_PAYLOAD_BYTES, 0xff);
        assert!(matches!(
            decode_pull_response(&response, usize::MAX).unwrap_err(),
            WireError::Oversized(_)
        ));
        // Just under the limit, the same garbage reaches the parser.
        payload.truncate(MAX_PAYLOAD_BYTES - 1);
        assert!(matches!(
            decode_push(&payload, usize::MAX).unwrap_err(),
            WireError::Malformed(_)
        ));
    }

    #[test]
    fn oversized_transaction_and_trailing_bytes_are_refused() {
        let payload = encode_prefixed(&PushTxs {
            txs: vec![vec![0; 11]],
        });
        assert_eq!(
            decode_push(&payload, 10).unwrap_err(),
            WireError::TxTooLarge {
                size: 11,
                limit: 10
            }
        );
        let mut payload = encode_prefixed(&PushTxs { txs: vec![] });
        payload.push(0);
        assert!(matches!(
            decode_push(&payload, 10).unwrap_err(),
            WireError::Malformed(_)
        ));
        // A length prefix claiming 4 billion transactions, with nothing behind it.
        let payload = [0x00, VERSION, 0xff, 0xff, 0xff, 0xff];
        assert!(matches!(
            decode_push(&payload, 10).unwrap_err(),
            WireError::Malformed(_)
        ));
    }

    #[test]
    fn batches_respect_the_budget_and_carry_oversized_transactions_alone() {
        let txs: Vec<Vec<u8>> = (0..10).map(|i| vec![i; 100]).collect();
        let budget = BATCH_OVERHEAD + 3 * (100 + PER_TX_OVERHEAD);
        let out = batches(txs.clone(), budget);
        assert_eq!(
            out.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![3, 3, 3, 1]
        );
        for batch in &out {
            let body = encode_prefixed(&PushTxs { txs: batch.clone() });
            assert!(body.len() <= budget, "{} > {budget}", body.len());
        }
        assert_eq!(out.concat(), txs, "order and content preserved");

        let out = batches(vec![vec![1; 10], vec![2; 1000], vec![3; 10]], 200);
        assert_eq!(out.iter().map(Vec::len).collect::<Vec<_>>(), vec![1, 1, 1]);
        assert!(batches(vec![], 200).is_empty());
    }

    #[test]
    fn the_affordable_prefix_is_the_longest_whose_message_fits() {
        let txs: Vec<Vec<u8>> = vec![vec![1; 50], vec![2; 100], vec![3; 10]];
        // The framing is counted at its largest (a 10-byte handler prefix).
        let framed = |n: usize| -> usize {
            BATCH_OVERHEAD
                + txs[..n]
                    .iter()
                    .map(|t| t.len() + PER_TX_OVERHEAD)
                    .sum::<usize>()
        };
        for n in 0..=txs.len() {
            if n > 0 {
                assert_eq!(affordable_prefix(&txs, framed(n)), n, "exactly {n}");
                let body = encode_prefixed(&PushTxs {
                    txs: txs[..n].to_vec(),
                });
                assert!(body.len() <= framed(n), "the message fits what was counted");
            }
            if n < txs.len() {
                assert_eq!(
                    affordable_prefix(&txs, framed(n + 1) - 1),
                    n,
                    "a byte short of {}",
                    n + 1
                );
            }
        }
        assert_eq!(affordable_prefix(&txs, usize::MAX), 3);
        assert_eq!(affordable_prefix(&txs, 0), 0);
    }

    #[test]
    fn a_strict_budget_refuses_even_a_first_transaction_that_does_not_fit() {
        let limit = BATCH_OVERHEAD + PER_TX_OVERHEAD + 100;
        let mut strict = BatchBudget::strict(limit);
        assert!(!strict.try_add(101));
        assert_eq!(
            strict.used(),
            BATCH_OVERHEAD,
            "the refused one counts nothing"
        );
        assert!(strict.try_add(100), "exactly the limit fits");
        assert_eq!(strict.used(), limit);
        assert!(!strict.try_add(0));
        let mut lenient = BatchBudget::new(limit);
        assert!(lenient.try_add(101), "travels alone");
        assert!(!lenient.try_add(0));
        // Framing alone does not fit a budget smaller than it.
        assert!(!BatchBudget::strict(BATCH_OVERHEAD).try_add(0));
    }
}
