//! A state summary: the accepted block at a height, its state root, and the state split into buckets
//! that can each be downloaded and checked on their own.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::error::{Result, StorageError};
use crate::lattice::LtHash;
use crate::store::BlockId;
use crate::sync::record::{is_sync_key, SyncRecord};

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

    /// The summary of a state given whole, in memory (a genesis state): the same cut and bytes as
    /// a snapshot of that state would give.
    pub fn of_records(
        height: u64,
        block_id: BlockId,
        mut records: Vec<SyncRecord>,
    ) -> Result<Self> {
        records.sort_by_cached_key(SyncRecord::sync_key);
        let mut cut = BucketCut::new(records.len() as u64);
        for record in &records {
            cut.push(record)?;
        }
        let (buckets, sum) = cut.finish()?;
        Ok(Self {
            height,
            block_id,
            state_root: sum.checksum(),
            buckets,
        })
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

/// Cuts `total` records, pushed in sync-key order, into at most [`MAX_BUCKETS`] buckets of equal
/// count (so the cut is the same on every node), summing each bucket's lattice.
pub(crate) struct BucketCut {
    total: u64,
    bucket_count: u64,
    pushed: u64,
    buckets: Vec<Bucket>,
    lattices: Vec<LtHash>,
}

impl BucketCut {
    pub(crate) fn new(total: u64) -> Self {
        Self {
            total,
            bucket_count: (MAX_BUCKETS as u64).min(total),
            pushed: 0,
            buckets: Vec::new(),
            lattices: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, record: &SyncRecord) -> Result<()> {
        let corrupt = |reason: &str| StorageError::Corrupt {
            what: "state to summarize",
            reason: reason.into(),
        };
        if self.pushed >= self.total {
            return Err(corrupt("more records than counted"));
        }
        let element = record
            .element()
            .ok_or_else(|| corrupt("a record with no lattice element"))?;
        if self.pushed * self.bucket_count / self.total == self.buckets.len() as u64 {
            self.buckets.push(Bucket {
                first: record.sync_key(),
                records: 0,
                checksum: [0; 32],
            });
            self.lattices.push(LtHash::identity());
        }
        if let (Some(bucket), Some(lattice)) = (self.buckets.last_mut(), self.lattices.last_mut()) {
            bucket.records += 1;
            lattice.add(&element);
        }
        self.pushed += 1;
        Ok(())
    }

    /// The buckets with their checksums, and the sum of their lattices.
    pub(crate) fn finish(mut self) -> Result<(Vec<Bucket>, LtHash)> {
        if self.pushed != self.total {
            return Err(StorageError::Corrupt {
                what: "state to summarize",
                reason: format!("{} records, {} counted", self.pushed, self.total),
            });
        }
        let mut sum = LtHash::identity();
        for (bucket, lattice) in self.buckets.iter_mut().zip(&self.lattices) {
            bucket.checksum = lattice.checksum();
            sum.add(lattice);
        }
        Ok((self.buckets, sum))
    }
}
