//! Who may write, and how much each account may store: the genesis document's optional `access`
//! section.
//!
//! ```json
//! "access": {
//!   "mode": "restricted",
//!   "admins": ["<ed25519 public key, 64 hex characters>"],
//!   "defaultQuota": {"maxKeys": 1000, "maxBytes": 1048576}
//! }
//! ```
//!
//! - `mode`: `"open"` (anyone may write) or `"restricted"` (only accounts holding a role may).
//! - `admins`: the first admins, at most [`MAX_GENESIS_ADMINS`], no repeats; at least one when
//!   restricted, or nobody could ever write or grant a role. Optional, default none.
//! - `defaultQuota`: every account's quota unless an admin sets another; optional, default no
//!   limit. Keys count one each; bytes count each owned key's length plus its value's.
//!
//! A document without the section means open writing and no quota, so genesis documents written
//! before it existed keep their meaning (and their bytes, hence their chain ID).

use serde::Serialize;

use crate::GenesisError;

/// Most admins a genesis may name.
pub const MAX_GENESIS_ADMINS: usize = 256;

/// Whether writing needs a role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessMode {
    /// Anyone may write: for development networks; it protects nothing.
    #[default]
    Open,
    /// Only accounts that hold a role (enabled, manager or admin) may send transactions.
    Restricted,
}

/// A storage quota: keys owned, and bytes of those keys and their values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaLimits {
    pub max_keys: u64,
    pub max_bytes: u64,
}

/// The `access` section, decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    pub mode: AccessMode,
    /// Accounts that hold the admin role from genesis on.
    pub admins: Vec<[u8; 32]>,
    /// The quota of every account without an override; `None`: no limit.
    pub default_quota: Option<QuotaLimits>,
}

impl Access {
    /// The rules on the decoded section: the admin count, no repeats, an admin when restricted.
    pub fn validate(&self) -> Result<(), GenesisError> {
        if self.admins.len() > MAX_GENESIS_ADMINS {
            return Err(GenesisError::invalid(
                "access.admins",
                format!(
                    "{} admins; at most {MAX_GENESIS_ADMINS} are allowed",
                    self.admins.len()
                ),
            ));
        }
        for (index, admin) in self.admins.iter().enumerate() {
            if let Some(first) = self.admins[..index].iter().position(|a| a == admin) {
                return Err(GenesisError::invalid(
                    format!("access.admins[{index}]"),
                    format!("same account as access.admins[{first}]"),
                ));
            }
        }
        if self.mode == AccessMode::Restricted && self.admins.is_empty() {
            return Err(GenesisError::invalid(
                "access.admins",
                "a restricted chain needs at least one admin, or nobody could ever write or grant a role",
            ));
        }
        Ok(())
    }
}
