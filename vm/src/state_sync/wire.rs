//! State sync's app messages, framed like gossip's (`gossip::wire`) under their own handler ID:
//!
//! ```text
//! AppRequest  = uvarint(1) ‖ 0x01 ‖ borsh(SyncRequest)
//! AppResponse =              0x01 ‖ borsh(SyncResponse)
//! ```
//!
//! A request names the summary height it is about; a node that no longer keeps that summary answers
//! `Unavailable`, and the asker tries another peer. A node that the asker asks too often answers
//! `Busy`, and the asker slows down.

use borsh::{BorshDeserialize, BorshSerialize};
use kvvm_storage::SyncRecord;

use crate::gossip::wire::{get_uvarint, put_uvarint, MAX_PAYLOAD_BYTES};

/// The handler ID of state sync requests (transaction gossip is 0).
pub const STATE_SYNC_HANDLER: u64 = 1;
const VERSION: u8 = 1;

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SyncRequest {
    /// Records of one bucket of the summary at `height`, after `after` (from the bucket's start if
    /// `None`), up to `max_bytes` of them.
    Chunk {
        height: u64,
        bucket: u16,
        after: Option<Vec<u8>>,
        max_bytes: u32,
    },
    /// The bytes of the summary's block.
    Block { height: u64 },
}

#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SyncResponse {
    Chunk {
        records: Vec<SyncRecord>,
        complete: bool,
    },
    Block {
        bytes: Vec<u8>,
    },
    /// The peer keeps no summary at that height, or the request was malformed.
    Unavailable,
    /// The asker is over its request rate at this peer: ask again a little later.
    Busy,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SyncWireError {
    #[error("{0} bytes, at or over the 2 MiB message limit")]
    Oversized(usize),
    #[error("not a state sync message")]
    Foreign,
    #[error("unknown state sync message version {0}")]
    UnknownVersion(u8),
    #[error("malformed state sync message: {0}")]
    Malformed(String),
}

/// Whether an AppRequest payload is addressed to state sync (rather than to gossip).
pub fn is_state_sync_request(payload: &[u8]) -> bool {
    get_uvarint(payload).is_some_and(|(handler, _)| handler == STATE_SYNC_HANDLER)
}

pub fn encode_request(request: &SyncRequest) -> Vec<u8> {
    let mut out = Vec::new();
    put_uvarint(&mut out, STATE_SYNC_HANDLER);
    out.push(VERSION);
    borsh::to_writer(&mut out, request).expect("writing borsh into a Vec cannot fail");
    out
}

pub fn encode_response(response: &SyncResponse) -> Vec<u8> {
    let mut out = vec![VERSION];
    borsh::to_writer(&mut out, response).expect("writing borsh into a Vec cannot fail");
    out
}

pub fn decode_request(payload: &[u8]) -> Result<SyncRequest, SyncWireError> {
    check_size(payload)?;
    let (handler, used) = get_uvarint(payload).ok_or(SyncWireError::Foreign)?;
    if handler != STATE_SYNC_HANDLER {
        return Err(SyncWireError::Foreign);
    }
    decode_versioned(&payload[used..])
}

pub fn decode_response(payload: &[u8]) -> Result<SyncResponse, SyncWireError> {
    check_size(payload)?;
    decode_versioned(payload)
}

fn check_size(payload: &[u8]) -> Result<(), SyncWireError> {
    if payload.len() >= MAX_PAYLOAD_BYTES {
        return Err(SyncWireError::Oversized(payload.len()));
    }
    Ok(())
}

fn decode_versioned<T: BorshDeserialize>(payload: &[u8]) -> Result<T, SyncWireError> {
    match payload.split_first() {
        Some((&VERSION, body)) => {
            borsh::from_slice(body).map_err(|e| SyncWireError::Malformed(e.to_string()))
        }
        Some((&version, _)) => Err(SyncWireError::UnknownVersion(version)),
        None => Err(SyncWireError::Malformed("empty".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gossip::wire;

    #[test]
    fn requests_and_responses_round_trip() {
        let request = SyncRequest::Chunk {
            height: 4096,
            bucket: 255,
            after: Some(vec![0, 1, 2]),
            max_bytes: 1 << 18,
        };
        let bytes = encode_request(&request);
        assert!(is_state_sync_request(&bytes));
        assert_eq!(decode_request(&bytes).unwrap(), request);
        let response = SyncResponse::Chunk {
            records: vec![SyncRecord::Nonce {
                account: [3; 32],
                next_nonce: 9,
            }],
            complete: true,
        };
        assert_eq!(
            decode_response(&encode_response(&response)).unwrap(),
            response
        );
    }

    #[test]
    fn gossip_requests_are_not_state_sync_and_junk_is_refused() {
        let pull = wire::encode_prefixed(&wire::PushTxs { txs: vec![] });
        assert!(!is_state_sync_request(&pull));
        assert_eq!(decode_request(&pull), Err(SyncWireError::Foreign));
        let mut wrong_version = encode_request(&SyncRequest::Block { height: 1 });
        wrong_version[1] = 7;
        assert_eq!(
            decode_request(&wrong_version),
            Err(SyncWireError::UnknownVersion(7))
        );
        assert!(matches!(
            decode_response(&[VERSION, 9, 9]),
            Err(SyncWireError::Malformed(_))
        ));
        assert!(matches!(
            decode_response(&vec![VERSION; MAX_PAYLOAD_BYTES]),
            Err(SyncWireError::Oversized(_))
        ));
    }
}
