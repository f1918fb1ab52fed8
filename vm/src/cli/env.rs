//! The environment the commands read, captured once at start.
//!
//! Passing it around instead of calling `std::env::var` where needed keeps the order of precedence
//! (flag, then environment, then files) in plain functions that tests can call with any environment.

use std::ffi::OsString;
use std::path::PathBuf;

/// The variables the commands consult; an empty variable counts as unset.
#[derive(Clone, Debug, Default)]
pub struct CliEnv {
    /// `KVVM_RPC`: the JSON-RPC URL when `--rpc` is not given.
    pub rpc: Option<String>,
    /// `KVVM_KEY`: the key file when `--key` is not given.
    pub key: Option<PathBuf>,
    /// `KVVM_CACHE`: where scripts/run-network.sh keeps what it builds and runs.
    pub cache: Option<PathBuf>,
    /// `HOME`.
    pub home: Option<PathBuf>,
}

impl CliEnv {
    pub fn from_process() -> Self {
        let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        Self {
            // A URL that is not UTF-8 could not be a URL at all; treat it as unset.
            rpc: var("KVVM_RPC").and_then(|v| OsString::into_string(v).ok()),
            key: var("KVVM_KEY").map(PathBuf::from),
            cache: var("KVVM_CACHE").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
        }
    }

    /// The key file used when none is named: `$HOME/.kvvm/key.json` (without a HOME, in the
    /// current directory).
    pub fn default_key_file(&self) -> PathBuf {
        let home = self.home.clone().unwrap_or_else(|| PathBuf::from("."));
        home.join(".kvvm").join("key.json")
    }

    /// Where scripts/run-network.sh writes the summary of the network it started:
    /// `$KVVM_CACHE/network.json`, the cache defaulting to `$HOME/.cache/kvvm` as in the script.
    pub fn network_summary(&self) -> Option<PathBuf> {
        let cache = self
            .cache
            .clone()
            .or_else(|| Some(self.home.as_ref()?.join(".cache").join("kvvm")))?;
        Some(cache.join("network.json"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_where_run_network_writes_it() {
        let env = |cache: Option<&str>, home: Option<&str>| CliEnv {
            cache: cache.map(PathBuf::from),
            home: home.map(PathBuf::from),
            ..CliEnv::default()
        };
        assert_eq!(
            env(None, Some("/h")).network_summary(),
            Some(PathBuf::from("/h/.cache/kvvm/network.json"))
        );
        assert_eq!(
            env(Some("/c"), Some("/h")).network_summary(),
            Some(PathBuf::from("/c/network.json"))
        );
        assert_eq!(env(None, None).network_summary(), None);
    }
}
