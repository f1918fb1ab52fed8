//! Which JSON-RPC URL a command calls, and the client that calls it.
//!
//! The URL is `--rpc`, else `KVVM_RPC`, else node 1 of the network scripts/run-network.sh started,
//! read from the summary it writes, so that after the Quick start `kvvm put hello world` needs no
//! flags at all.

use std::fmt;
use std::path::{Path, PathBuf};

use kvvm_rpc::client::{ClientError, HttpClient};
use serde::Deserialize;

use super::{CliEnv, CliError, Connection};

/// Where the URL came from, for error messages: a stale summary needs another fix than a typo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    Flag,
    Env,
    Summary(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag => f.write_str("--rpc"),
            Origin::Env => f.write_str("KVVM_RPC"),
            Origin::Summary(path) => write!(f, "network summary {}", path.display()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub url: String,
    pub origin: Origin,
}

/// The URL to call: the flag, the environment, or the network summary, in that order.
pub fn resolve(flag: Option<&str>, env: &CliEnv) -> Result<Endpoint, CliError> {
    let found = |url: &str, origin| Endpoint {
        url: url.to_string(),
        origin,
    };
    if let Some(url) = flag {
        return Ok(found(url, Origin::Flag));
    }
    if let Some(url) = &env.rpc {
        return Ok(found(url, Origin::Env));
    }
    let no_rpc = |summary: String| CliError::NoRpc { summary };
    let Some(summary) = env.network_summary() else {
        return Err(no_rpc("$KVVM_CACHE/network.json".into()));
    };
    match node_urls(&summary)?.and_then(|urls| urls.into_iter().next()) {
        Some(url) => Ok(found(&url, Origin::Summary(summary))),
        None => Err(no_rpc(summary.display().to_string())),
    }
}

/// The URLs a command that talks to several nodes calls: those given, else `KVVM_RPC`, else every
/// node of the network summary, in its order.
pub fn resolve_all(given: &[String], env: &CliEnv) -> Result<Vec<String>, CliError> {
    if !given.is_empty() {
        return Ok(given.to_vec());
    }
    if let Some(url) = &env.rpc {
        return Ok(vec![url.clone()]);
    }
    let no_rpc = |summary: String| CliError::NoRpc { summary };
    let Some(summary) = env.network_summary() else {
        return Err(no_rpc("$KVVM_CACHE/network.json".into()));
    };
    node_urls(&summary)?.ok_or_else(|| no_rpc(summary.display().to_string()))
}

/// The part of kvvm-network's summary (tests/network/main.go) the CLI needs; other fields may
/// come and go.
#[derive(Deserialize)]
struct NetworkSummary {
    nodes: Vec<NodeSummary>,
}

#[derive(Deserialize)]
struct NodeSummary {
    #[serde(rename = "rpcURL")]
    rpc_url: String,
}

/// The nodes' URLs in the summary at `path`, or `None` if there is no summary (no network
/// started). A summary that is there but unreadable, or lists no node, is an error: skipping it
/// would hide why.
fn node_urls(path: &Path) -> Result<Option<Vec<String>>, CliError> {
    let err = |reason: String| CliError::Summary {
        path: path.display().to_string(),
        reason,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(err(e.to_string())),
    };
    let summary: NetworkSummary = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    if summary.nodes.is_empty() {
        return Err(err("lists no node".into()));
    }
    Ok(Some(summary.nodes.into_iter().map(|n| n.rpc_url).collect()))
}

/// A client together with where it points, so every error can say which URL failed and why that
/// one was used.
pub struct Rpc {
    pub client: HttpClient,
    endpoint: Endpoint,
}

impl Rpc {
    pub fn connect(conn: &Connection, env: &CliEnv) -> Result<Self, CliError> {
        let endpoint = resolve(conn.rpc.as_deref(), env)?;
        match kvvm_rpc::http_client(&endpoint.url) {
            Ok(client) => Ok(Self { client, endpoint }),
            Err(e) => Err(rpc_error(&endpoint, e.to_string())),
        }
    }

    /// Turns a failed call into an error naming the URL, with a hint when nothing answered.
    pub fn fail(&self) -> impl Fn(ClientError) -> CliError + '_ {
        move |e| {
            let reason = match (&e, &self.endpoint.origin) {
                (ClientError::Transport(t), Origin::Summary(_)) => format!(
                    "{t} (is the network still running? scripts/run-network.sh starts one; \
                     --rpc picks another node)"
                ),
                (ClientError::Transport(t), _) => {
                    format!("{t} (is the node running and the URL right?)")
                }
                _ => e.to_string(),
            };
            rpc_error(&self.endpoint, reason)
        }
    }
}

fn rpc_error(endpoint: &Endpoint, reason: String) -> CliError {
    CliError::Rpc {
        url: endpoint.url.clone(),
        origin: endpoint.origin.to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An environment whose cache is `dir`, holding a summary naming `url` as node 1.
    fn env_with_summary(dir: &Path, url: &str) -> CliEnv {
        let summary = serde_json::json!({
            "networkDir": "/n",
            "chainID": "c",
            "nodes": [
                { "nodeID": "NodeID-1", "rpcURL": url },
                { "nodeID": "NodeID-2", "rpcURL": "http://node-2" }
            ]
        });
        std::fs::write(dir.join("network.json"), summary.to_string()).unwrap();
        CliEnv {
            cache: Some(dir.to_path_buf()),
            ..CliEnv::default()
        }
    }

    #[test]
    fn the_flag_wins_then_the_environment_then_the_summary() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = env_with_summary(dir.path(), "http://node-1");
        env.rpc = Some("http://from-env".into());

        let flag = resolve(Some("http://from-flag"), &env).unwrap();
        assert_eq!(
            (flag.url.as_str(), flag.origin),
            ("http://from-flag", Origin::Flag)
        );
        let from_env = resolve(None, &env).unwrap();
        assert_eq!(
            (from_env.url.as_str(), from_env.origin),
            ("http://from-env", Origin::Env)
        );
        env.rpc = None;
        let from_summary = resolve(None, &env).unwrap();
        assert_eq!(from_summary.url, "http://node-1");
        assert_eq!(
            from_summary.origin,
            Origin::Summary(dir.path().join("network.json"))
        );
    }

    #[test]
    fn several_nodes_come_from_the_flags_then_the_environment_then_every_summary_node() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = env_with_summary(dir.path(), "http://node-1");
        assert_eq!(
            resolve_all(&[], &env).unwrap(),
            vec!["http://node-1", "http://node-2"]
        );
        env.rpc = Some("http://from-env".into());
        assert_eq!(resolve_all(&[], &env).unwrap(), vec!["http://from-env"]);
        let given = vec!["http://a".to_string(), "http://b".to_string()];
        assert_eq!(resolve_all(&given, &env).unwrap(), given);
        let nowhere = resolve_all(&[], &CliEnv::default()).unwrap_err();
        assert!(nowhere.to_string().contains("--rpc"), "{nowhere}");
    }

    #[test]
    fn the_summary_is_found_under_home_without_kvvm_cache() {
        let home = tempfile::tempdir().unwrap();
        let cache = home.path().join(".cache").join("kvvm");
        std::fs::create_dir_all(&cache).unwrap();
        let mut env = env_with_summary(&cache, "http://node-1");
        env.cache = None;
        env.home = Some(home.path().to_path_buf());
        assert_eq!(resolve(None, &env).unwrap().url, "http://node-1");
    }

    #[test]
    fn without_any_url_the_error_says_how_to_get_one() {
        let dir = tempfile::tempdir().unwrap();
        let env = CliEnv {
            cache: Some(dir.path().to_path_buf()),
            ..CliEnv::default()
        };
        let err = resolve(None, &env).unwrap_err().to_string();
        assert!(err.contains("--rpc"), "{err}");
        assert!(err.contains("KVVM_RPC"), "{err}");
        assert!(err.contains("scripts/run-network.sh"), "{err}");
        assert!(err.contains("network.json"), "{err}");
        let nowhere = resolve(None, &CliEnv::default()).unwrap_err().to_string();
        assert!(nowhere.contains("scripts/run-network.sh"), "{nowhere}");
    }

    #[test]
    fn a_broken_summary_is_reported_not_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let env = CliEnv {
            cache: Some(dir.path().to_path_buf()),
            ..CliEnv::default()
        };
        let path = dir.path().join("network.json");
        std::fs::write(&path, "{ not json").unwrap();
        let err = resolve(None, &env).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        std::fs::write(&path, r#"{"nodes": []}"#).unwrap();
        let err = resolve(None, &env).unwrap_err().to_string();
        assert!(err.contains("lists no node"), "{err}");
    }
}
