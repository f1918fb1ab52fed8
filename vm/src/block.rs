//! Blocks: their canonical encoding and ID, and the parse step that needs no chain state.
//!
//! ParseBlock must be stateless and deterministic (the node parses children before parents while
//! bootstrapping, and re-parses stored bytes after restarts), so `Block::decode` looks at nothing but
//! the bytes: no signature work, no state.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::error::ChainError;
use crate::ids::BlockId;
use crate::tx::{SignedTx, Transaction};

/// The whole block as encoded on the wire and on disk: its header fields and its transactions.
#[derive(BorshSerialize, BorshDeserialize, Clone, Debug, PartialEq, Eq)]
struct EncodedBlock {
    pub parent: BlockId,
    pub height: u64,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: u64,
    pub txs: Vec<SignedTx>,
    /// blake3 of the state lattice after this block's transactions (`kvvm_storage::lattice`).
    pub state_root: [u8; 32],
}

/// A decoded block with its ID, bytes and transaction IDs computed once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub id: BlockId,
    pub bytes: Vec<u8>,
    pub parent: BlockId,
    pub height: u64,
    pub timestamp_ms: u64,
    pub txs: Vec<Transaction>,
    pub state_root: [u8; 32],
}

impl Block {
    pub fn new(
        parent: BlockId,
        height: u64,
        timestamp_ms: u64,
        txs: Vec<Transaction>,
        state_root: [u8; 32],
    ) -> Self {
        let encoded = EncodedBlock {
            parent,
            height,
            timestamp_ms,
            txs: txs.iter().map(|t| t.signed.clone()).collect(),
            state_root,
        };
        let bytes = borsh::to_vec(&encoded).expect("writing borsh into a Vec cannot fail");
        Self {
            id: BlockId(*blake3::hash(&bytes).as_bytes()),
            bytes,
            parent,
            height,
            timestamp_ms,
            txs,
            state_root,
        }
    }

    /// Decodes canonical block bytes. `max_block_bytes` bounds the work an attacker can cause.
    pub fn decode(bytes: &[u8], max_block_bytes: usize) -> Result<Self, ChainError> {
        if bytes.len() > max_block_bytes {
            return Err(ChainError::BlockTooLarge {
                size: bytes.len(),
                limit: max_block_bytes,
            });
        }
        let encoded: EncodedBlock =
            borsh::from_slice(bytes).map_err(|e| ChainError::MalformedBlock(e.to_string()))?;
        let txs = encoded.txs.into_iter().map(Transaction::new).collect();
        Ok(Self {
            id: BlockId(*blake3::hash(bytes).as_bytes()),
            bytes: bytes.to_vec(),
            parent: encoded.parent,
            height: encoded.height,
            timestamp_ms: encoded.timestamp_ms,
            txs,
            state_root: encoded.state_root,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tx::{Operation, UnsignedTx};
    use ed25519_dalek::SigningKey;

    fn sample() -> Block {
        let key = SigningKey::from_bytes(&[4; 32]);
        let tx = Transaction::new(
            UnsignedTx {
                chain_id: [1; 32],
                sender: key.verifying_key().to_bytes(),
                nonce: 0,
                ops: vec![Operation::Put {
                    key: b"k".to_vec(),
                    value: b"v".to_vec(),
                }],
            }
            .sign(&key),
        );
        Block::new(BlockId([9; 32]), 5, 1_700_000_000_000, vec![tx], [3; 32])
    }

    #[test]
    fn decode_is_inverse_of_new_and_id_is_hash_of_bytes() {
        let block = sample();
        let decoded = Block::decode(&block.bytes, 1 << 21).unwrap();
        assert_eq!(decoded, block);
        assert_eq!(block.id, BlockId(*blake3::hash(&block.bytes).as_bytes()));
    }

    #[test]
    fn garbage_and_trailing_bytes_are_malformed() {
        assert!(matches!(
            Block::decode(b"not a block", 1 << 21),
            Err(ChainError::MalformedBlock(_))
        ));
        let mut bytes = sample().bytes;
        bytes.push(1);
        assert!(matches!(
            Block::decode(&bytes, 1 << 21),
            Err(ChainError::MalformedBlock(_))
        ));
    }

    #[test]
    fn oversized_bytes_are_refused_before_decoding() {
        let block = sample();
        assert!(Block::decode(&block.bytes, block.bytes.len()).is_ok());
        assert!(matches!(
            Block::decode(&block.bytes, block.bytes.len() - 1),
            Err(ChainError::BlockTooLarge { .. })
        ));
    }

    #[test]
    fn a_huge_declared_length_does_not_allocate_or_panic() {
        // parent, height, timestamp, then a transaction count of u32::MAX with nothing after it.
        let mut bytes = vec![0u8; 32 + 8 + 8];
        bytes.extend(u32::MAX.to_le_bytes());
        assert!(Block::decode(&bytes, 1 << 21).is_err());
    }
}
