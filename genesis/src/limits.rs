//! Chain-wide size limits fixed at genesis, and the hard caps they must stay under.
//!
//! The caps are not tunables: they are what the rest of kvvm (and AvalancheGo around it) can carry.
//! A genesis may choose tighter limits, never looser ones.

use serde::{Deserialize, Serialize};

use crate::GenesisError;

/// Hard cap on [`ChainLimits::max_key_bytes`]: keys are stored and indexed as they are, and range
/// scans compare them byte by byte; 1 KiB is far more than any sensible key.
pub const MAX_KEY_BYTES_CAP: u32 = 1024;

/// Hard cap on [`ChainLimits::max_value_bytes`]: 1 MiB, so one value (plus a key and a transaction
/// envelope) still fits in a block under [`MAX_BLOCK_BYTES_CAP`].
pub const MAX_VALUE_BYTES_CAP: u32 = 1 << 20;

/// Hard cap on [`ChainLimits::max_ops_per_tx`]: bounds the work of verifying one transaction.
pub const MAX_OPS_PER_TX_CAP: u32 = 1024;

/// Hard cap on [`ChainLimits::max_tx_bytes`]: one value at [`MAX_VALUE_BYTES_CAP`] plus 64 KiB for
/// the key, the per-operation framing, the signer's public key, the signature and the nonce, so that
/// a transaction writing one maximum-size value is always expressible.
pub const MAX_TX_BYTES_CAP: u32 = MAX_VALUE_BYTES_CAP + (64 << 10);

/// Hard cap on [`ChainLimits::max_txs_per_block`]: bounds per-block verification and the number of
/// mempool entries a single accept has to remove.
pub const MAX_TXS_PER_BLOCK_CAP: u32 = 10_000;

/// Hard cap on [`ChainLimits::max_block_bytes`]: 1.5 MiB. Blocks travel between nodes inside
/// AvalancheGo p2p messages, which are limited to 2 MiB (`constants.DefaultMaxMessageSize`), and
/// the block is wrapped in the proposervm envelope (parent id, timestamps, P-chain height, the
/// proposer's certificate and signature) and the message framing; 0.5 MiB of headroom keeps a full
/// block clear of that limit.
pub const MAX_BLOCK_BYTES_CAP: u32 = 3 << 19;

/// Size limits every node enforces on transactions and blocks for the life of the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChainLimits {
    /// Longest key, in bytes.
    pub max_key_bytes: u32,
    /// Longest value, in bytes.
    pub max_value_bytes: u32,
    /// Most operations (puts and deletes) in one transaction.
    pub max_ops_per_tx: u32,
    /// Largest encoded transaction, in bytes.
    pub max_tx_bytes: u32,
    /// Most transactions in one block.
    pub max_txs_per_block: u32,
    /// Largest encoded block, in bytes.
    pub max_block_bytes: u32,
}

/// The default [`ChainLimits::max_block_bytes`]: 256 KiB. A block travels to each peer in one
/// message, and AvalancheGo reads a peer's messages at its inbound bandwidth allowance
/// (`throttler-inbound-bandwidth-refill-rate`, 512 KiB/s by default, after a 2 MiB burst). With
/// the burst spent and gossip using its quarter (`gossipPeerOutBytesPerSec`), a full block still
/// arrives in 256 / 384 ≈ 0.67 s, a third of the node's minimum message timeout (2 s), so polls
/// and `Put`s are answered in time. With three validators each proposes a third of the blocks: at
/// the default 250 ms block gap that is 1.33 blocks/s × 256 KiB ≈ 341 KiB/s to each peer, which
/// with gossip's 128 KiB/s stays under the allowance. 1.5 MiB blocks took 3 s at the refill rate,
/// and under a flood of large transactions they stopped acceptance (issue 8). A chain keeps the
/// limits its genesis names; this only changes what a new genesis gets.
pub const DEFAULT_MAX_BLOCK_BYTES: u32 = 256 << 10;

impl Default for ChainLimits {
    fn default() -> Self {
        ChainLimits {
            max_key_bytes: 256,
            max_value_bytes: 64 << 10,
            max_ops_per_tx: 64,
            max_tx_bytes: 128 << 10,
            max_txs_per_block: 2000,
            max_block_bytes: DEFAULT_MAX_BLOCK_BYTES,
        }
    }
}

impl ChainLimits {
    /// Checks each limit against `1..=cap` and the limits against each other.
    ///
    /// A zero limit would make every transaction (or block) invalid and the chain useless, so it is
    /// refused rather than read as "unlimited".
    pub fn validate(&self) -> Result<(), GenesisError> {
        for (name, value, cap) in self.named() {
            if value == 0 || value > cap {
                return Err(GenesisError::invalid(
                    format!("limits.{name}"),
                    format!("{value} is out of range; allowed 1..={cap}"),
                ));
            }
        }
        // A transaction must fit in a block, or it could be accepted into the mempool and never
        // included anywhere.
        if self.max_tx_bytes > self.max_block_bytes {
            return Err(GenesisError::invalid(
                "limits.maxTxBytes",
                format!(
                    "{} exceeds limits.maxBlockBytes ({}); a transaction must fit in a block",
                    self.max_tx_bytes, self.max_block_bytes
                ),
            ));
        }
        // A put of a maximum key with a maximum value must be expressible as a transaction, or the
        // advertised key and value limits would be unreachable.
        let largest_put = u64::from(self.max_key_bytes) + u64::from(self.max_value_bytes);
        if largest_put > u64::from(self.max_tx_bytes) {
            return Err(GenesisError::invalid(
                "limits.maxTxBytes",
                format!(
                    "{} cannot hold limits.maxKeyBytes + limits.maxValueBytes ({largest_put})",
                    self.max_tx_bytes
                ),
            ));
        }
        Ok(())
    }

    /// Each limit with its JSON name and hard cap, in document order.
    fn named(&self) -> [(&'static str, u32, u32); 6] {
        [
            ("maxKeyBytes", self.max_key_bytes, MAX_KEY_BYTES_CAP),
            ("maxValueBytes", self.max_value_bytes, MAX_VALUE_BYTES_CAP),
            ("maxOpsPerTx", self.max_ops_per_tx, MAX_OPS_PER_TX_CAP),
            ("maxTxBytes", self.max_tx_bytes, MAX_TX_BYTES_CAP),
            (
                "maxTxsPerBlock",
                self.max_txs_per_block,
                MAX_TXS_PER_BLOCK_CAP,
            ),
            ("maxBlockBytes", self.max_block_bytes, MAX_BLOCK_BYTES_CAP),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// All limits at their caps; consistent, so one field can be pushed past its cap at a time.
    fn at_caps() -> ChainLimits {
        ChainLimits {
            max_key_bytes: MAX_KEY_BYTES_CAP,
            max_value_bytes: MAX_VALUE_BYTES_CAP,
            max_ops_per_tx: MAX_OPS_PER_TX_CAP,
            max_tx_bytes: MAX_TX_BYTES_CAP,
            max_txs_per_block: MAX_TXS_PER_BLOCK_CAP,
            max_block_bytes: MAX_BLOCK_BYTES_CAP,
        }
    }

    fn field_mut<'a>(limits: &'a mut ChainLimits, name: &str) -> &'a mut u32 {
        match name {
            "maxKeyBytes" => &mut limits.max_key_bytes,
            "maxValueBytes" => &mut limits.max_value_bytes,
            "maxOpsPerTx" => &mut limits.max_ops_per_tx,
            "maxTxBytes" => &mut limits.max_tx_bytes,
            "maxTxsPerBlock" => &mut limits.max_txs_per_block,
            "maxBlockBytes" => &mut limits.max_block_bytes,
            other => panic!("no limit named {other}"),
        }
    }

    const NAMES: [&str; 6] = [
        "maxKeyBytes",
        "maxValueBytes",
        "maxOpsPerTx",
        "maxTxBytes",
        "maxTxsPerBlock",
        "maxBlockBytes",
    ];

    fn path_of(err: GenesisError) -> String {
        match err {
            GenesisError::Invalid { path, .. } => path,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn default_limits_are_the_documented_values_and_valid() {
        let limits = ChainLimits::default();
        assert_eq!(
            limits,
            ChainLimits {
                max_key_bytes: 256,
                max_value_bytes: 65536,
                max_ops_per_tx: 64,
                max_tx_bytes: 131072,
                max_txs_per_block: 2000,
                max_block_bytes: 262144,
            }
        );
        assert_eq!(limits.validate(), Ok(()));
    }

    #[test]
    fn caps_are_mutually_consistent_so_every_limit_can_sit_at_its_cap() {
        assert_eq!(at_caps().validate(), Ok(()));
    }

    #[test]
    fn block_cap_leaves_room_in_a_two_mib_p2p_message() {
        assert_eq!(MAX_BLOCK_BYTES_CAP, 1_572_864);
        assert!(u64::from(MAX_BLOCK_BYTES_CAP) + (512 << 10) <= 2 << 20);
    }

    #[test]
    fn each_limit_one_past_its_cap_is_rejected_naming_the_field() {
        for name in NAMES {
            let mut limits = at_caps();
            *field_mut(&mut limits, name) += 1;
            assert_eq!(
                path_of(limits.validate().unwrap_err()),
                format!("limits.{name}")
            );
        }
    }

    #[test]
    fn each_limit_at_zero_is_rejected_naming_the_field() {
        for name in NAMES {
            let mut limits = ChainLimits::default();
            *field_mut(&mut limits, name) = 0;
            assert_eq!(
                path_of(limits.validate().unwrap_err()),
                format!("limits.{name}")
            );
        }
    }

    #[test]
    fn each_limit_at_one_is_in_range() {
        // Only the range rule: 1-byte keys and values fit in a 2-byte transaction and block.
        let limits = ChainLimits {
            max_key_bytes: 1,
            max_value_bytes: 1,
            max_ops_per_tx: 1,
            max_tx_bytes: 2,
            max_txs_per_block: 1,
            max_block_bytes: 2,
        };
        assert_eq!(limits.validate(), Ok(()));
    }

    #[test]
    fn tx_larger_than_block_is_rejected_and_equal_is_accepted() {
        let mut limits = ChainLimits {
            max_block_bytes: 200_000,
            max_tx_bytes: 200_000,
            ..ChainLimits::default()
        };
        assert_eq!(limits.validate(), Ok(()));
        limits.max_tx_bytes = 200_001;
        let err = limits.validate().unwrap_err();
        assert!(err.to_string().contains("limits.maxBlockBytes"), "{err}");
        assert_eq!(path_of(err), "limits.maxTxBytes");
    }

    #[test]
    fn tx_that_cannot_hold_max_key_plus_max_value_is_rejected_and_exact_fit_is_accepted() {
        let mut limits = ChainLimits {
            max_key_bytes: 100,
            max_value_bytes: 900,
            max_tx_bytes: 1000,
            ..ChainLimits::default()
        };
        assert_eq!(limits.validate(), Ok(()));
        limits.max_value_bytes = 901;
        let err = limits.validate().unwrap_err();
        assert!(err.to_string().contains("limits.maxValueBytes"), "{err}");
        assert_eq!(path_of(err), "limits.maxTxBytes");
    }
}
