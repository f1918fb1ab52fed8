//! What the store keeps of past blocks: rejected statuses within a window of heights, and accepted
//! block bodies, all of them or the last `keepBlocks`.

use rocksdb::{IteratorMode, WriteBatch};

use super::codec::decode_u64_le;
use super::records::PrunedBlock;
use super::{cf, meta, ChainStore};
use crate::error::{Result, StorageError};

impl ChainStore {
    /// Adds to `batch` the deletion of `pruned`'s bodies and transaction index entries, and the new
    /// oldest kept height. The blocks must continue from the oldest kept one, in order, below
    /// `accepting` ([`StorageError::PruneOrder`] otherwise, with nothing written).
    pub(super) fn prune_blocks(
        &self,
        batch: &mut WriteBatch,
        accepting: u64,
        pruned: &[PrunedBlock],
    ) -> Result<()> {
        let Some(last) = pruned.last() else {
            return Ok(());
        };
        let oldest = self.oldest_block_height()?;
        for (expected, block) in (oldest..).zip(pruned) {
            if block.height != expected || block.height >= accepting {
                return Err(StorageError::PruneOrder {
                    expected,
                    got: block.height,
                });
            }
        }
        let blocks_cf = self.cf(cf::BLOCKS);
        let txs_cf = self.cf(cf::TXS);
        for block in pruned {
            batch.delete_cf(blocks_cf, block.block_id);
            for tx_id in &block.tx_ids {
                batch.delete_cf(txs_cf, tx_id);
            }
        }
        batch.put_cf(
            self.cf(cf::META),
            meta::OLDEST_BLOCK_HEIGHT,
            (last.height + 1).to_le_bytes(),
        );
        Ok(())
    }

    /// The lowest height above genesis whose block body this store keeps: 1 until blocks are
    /// pruned. Heights below it (genesis aside) keep their ID and status, not their body.
    pub fn oldest_block_height(&self) -> Result<u64> {
        match self.get(cf::META, meta::OLDEST_BLOCK_HEIGHT)? {
            Some(bytes) => decode_u64_le(&bytes, "oldest block height"),
            None => Ok(1),
        }
    }

    /// Adds to `batch` the deletion of every rejected-status record below `below_height`; returns how many.
    pub(super) fn prune_rejected(
        &self,
        batch: &mut WriteBatch,
        below_height: u64,
    ) -> Result<usize> {
        let index_cf = self.cf(cf::REJECTED_BY_HEIGHT);
        let status_cf = self.cf(cf::STATUS);
        let bound = below_height.to_be_bytes();
        let mut pruned = 0;
        for item in self.inner.db.iterator_cf(index_cf, IteratorMode::Start) {
            let (key, _) = item?;
            if key.len() != 8 + 32 {
                return Err(StorageError::Corrupt {
                    what: "rejected-by-height index key",
                    reason: format!("{} bytes, expected 40", key.len()),
                });
            }
            if key[..8] >= bound[..] {
                break;
            }
            batch.delete_cf(status_cf, &key[8..]);
            batch.delete_cf(index_cf, &key);
            pruned += 1;
        }
        Ok(pruned)
    }
}
