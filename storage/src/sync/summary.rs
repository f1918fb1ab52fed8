//! A state summary: the accepted block at a height, its state root, and the state split into buckets
//! that can each be downloaded and checked on their own.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::error::{Result, StorageError};
use crate::store::BlockId;
use crate::sync::record::is_sync_key;

/// At most this many buckets; fewer when the state has fewer records.
pub const MAX_BUCKETS: usize = 256;
/// Encoding version, the summary's first byte.
const SUMMARY_VERSION: u8 = 1;
/// A summary a peer sends is parsed before anything checks it; this bounds what parsing costs.
pub const MAX_SUMMARY_BYTES: usize = 1 << 20;

/// One bucket: the records from `first` (a sync key) up to the next bucket's `first`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Bucket {
    pub first: Vec<u8>,
    pub records: u64,
    /// Checksum of the lattice of the bucket's records: their sum over all buckets is the state.
    pub checksum: [u8; 32],
}

/// What a validator offers at a summary height. Every field is a function of the accepted state at
/// that height, so every validator encodes the same bytes, and the summary's ID is their hash.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct StateSummary {
    pub height: u64,
    pub block_id: BlockId,
    /// The checksum of the state lattice, as the block at `height` carries it.
    pub state_root: [u8; 32],
    pub buckets: Vec<Bucket>,
}

impl StateSummary {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = vec![SUMMARY_VERSION];
        borsh::to_writer(&mut bytes, self).expect(crate::store::codec::BORSH_TO_VEC);
        bytes
    }

    /// Parses and checks [`StateSummary::to_bytes`] output; anything else is [`StorageError::BadSummary`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bad = |reason: String| StorageError::BadSummary { reason };
        if bytes.len() > MAX_SUMMARY_BYTES {
            return Err(bad(format!(
                "{} bytes, over the limit of {MAX_SUMMARY_BYTES}",
                bytes.len()
            )));
        }
        let Some((&version, body)) = bytes.split_first() else {
            return Err(bad("empty".into()));
        };
        if version != SUMMARY_VERSION {
            return Err(bad(format!(
                "version {version}, this node reads {SUMMARY_VERSION}"
            )));
        }
        let summary: StateSummary = borsh::from_slice(body).map_err(|err| bad(err.to_string()))?;
        summary.check_buckets().map_err(bad)?;
        Ok(summary)
    }

    fn check_buckets(&self) -> std::result::Result<(), String> {
        if self.buckets.len() > MAX_BUCKETS {
            return Err(format!(
                "{} buckets, more than {MAX_BUCKETS}",
                self.buckets.len()
            ));
        }
        for (index, bucket) in self.buckets.iter().enumerate() {
            if !is_sync_key(&bucket.first) {
                return Err(format!("bucket {index} starts at a malformed key"));
            }
            if bucket.records == 0 {
                return Err(format!("bucket {index} is empty"));
            }
        }
        if self
            .buckets
            .windows(2)
            .any(|pair| pair[0].first >= pair[1].first)
        {
            return Err("bucket start keys are not in strictly increasing order".into());
        }
        Ok(())
    }

    /// The summary's ID: blake3 of its bytes.
    pub fn id(&self) -> [u8; 32] {
        *blake3::hash(&self.to_bytes()).as_bytes()
    }

    /// Total records over all buckets.
    pub fn records(&self) -> u64 {
        self.buckets.iter().map(|bucket| bucket.records).sum()
    }

    /// Bucket `index`'s key range: its first key, and the next bucket's (`None`: to the end).
    pub fn bucket_range(&self, index: usize) -> Option<(&[u8], Option<&[u8]>)> {
        let bucket = self.buckets.get(index)?;
        let end = self
            .buckets
            .get(index + 1)
            .map(|next| next.first.as_slice());
        Some((&bucket.first, end))
    }
}
