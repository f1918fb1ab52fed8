//! Whether every node ended in the same state: each node's accepted block at the final height,
//! compared by ID and state root.

use std::time::{Duration, Instant};

use kvvm_rpc::client::HttpClient;
use kvvm_rpc::{Hex32, KvvmApiClient};
use serde::Serialize;

/// One node's view of the final height.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeRoot {
    pub url: String,
    pub block_id: Option<Hex32>,
    pub state_root: Option<Hex32>,
    /// Why the node gave no block at the height.
    pub error: Option<String>,
}

/// Whether every node answered with the same block and root.
pub(crate) fn all_equal(roots: &[NodeRoot]) -> bool {
    let mut blocks = roots
        .iter()
        .map(|r| r.error.is_none().then_some((r.block_id, r.state_root)));
    match blocks.next() {
        Some(Some(first)) => blocks.all(|b| b == Some(first)),
        _ => false,
    }
}

/// Each node's block and state root at `height`, waiting up to `within` for a node that has not
/// accepted it yet.
pub(crate) async fn at_height(
    nodes: &[(String, HttpClient)],
    height: u64,
    within: Duration,
) -> Vec<NodeRoot> {
    let deadline = Instant::now() + within;
    let mut roots = Vec::new();
    for (url, client) in nodes {
        let block = loop {
            match client.block_by_height(height).await {
                Ok(Some(b)) => break Ok((b.id, b.state_root)),
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(None) => break Err(format!("height {height} not accepted within {within:?}")),
                Err(e) => break Err(e.to_string()),
            }
        };
        roots.push(match block {
            Ok((id, root)) => NodeRoot {
                url: url.clone(),
                block_id: Some(id),
                state_root: Some(root),
                error: None,
            },
            Err(error) => NodeRoot {
                url: url.clone(),
                block_id: None,
                state_root: None,
                error: Some(error),
            },
        });
    }
    roots
}
