//! The bytes the nodes send each other during a run, from AvalancheGo's own counters
//! (`avalanche_network_msgs_bytes{io="sent",op=…}` on each node's `/ext/metrics`): what a
//! transaction costs each link, as gossip and again inside blocks, against the peers' inbound
//! allowance. The same pages give kvvm's count of the signature checks each node ran.

use std::collections::BTreeMap;
use std::time::Duration;

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

use super::LoadError;

/// The counter AvalancheGo keeps per direction and message op, in bytes as sent on the wire
/// (after compression).
const SENT_BYTES_METRIC: &str = "avalanche_network_msgs_bytes";
/// How kvvm's counter of ed25519 checks run ends; the node names it
/// `avalanche_<VMID>_signature_checks_total`.
const SIGNATURE_CHECKS_SUFFIX: &str = "_signature_checks_total";
/// A node's metrics page is a few hundred KiB; more is not a node's metrics page.
const MAX_METRICS_BYTES: usize = 32 << 20;
/// How long one node may take to answer with its metrics.
const METRICS_TIMEOUT: Duration = Duration::from_secs(10);

/// What a message op carries, for the report: the network's work per transaction is its bytes as
/// gossip plus its bytes inside blocks, and consensus's own votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Carries {
    /// Blocks: `put`, `push_query` (a proposal with its block), `get`, `get_ancestors`,
    /// `ancestors`.
    Blocks,
    /// Application messages: kvvm's transaction gossip (pushes, pulls and their answers).
    Gossip,
    /// Votes without a block: `pull_query`, `chits`.
    Votes,
    /// Everything else: pings, peer lists, handshakes, bootstrapping.
    Other,
}

impl Carries {
    pub(crate) fn of(op: &str) -> Self {
        match op {
            "put" | "push_query" | "get" | "get_ancestors" | "ancestors" => Self::Blocks,
            "app_gossip" | "app_request" | "app_response" | "app_error" => Self::Gossip,
            "pull_query" | "chits" => Self::Votes,
            _ => Self::Other,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Blocks => "blocks",
            Self::Gossip => "gossip",
            Self::Votes => "votes",
            Self::Other => "other",
        }
    }
}

/// Bytes sent so far by one node or by several together, by what they carry.
pub(crate) type SentBytes = BTreeMap<Carries, f64>;

/// The sent bytes in a Prometheus text page, by what they carry; `None` if the page has no
/// sample of the counter (not an AvalancheGo node, or its network metrics are off).
pub(crate) fn parse_sent_bytes(page: &str) -> Option<SentBytes> {
    let mut sent = SentBytes::new();
    let mut found = false;
    for line in page.lines() {
        let Some(rest) = line.strip_prefix(SENT_BYTES_METRIC) else {
            continue;
        };
        let Some((labels, value)) = rest.strip_prefix('{').and_then(|r| r.split_once('}')) else {
            continue;
        };
        let Some(value) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        let labels = parse_labels(labels);
        if labels.get("io").map(String::as_str) != Some("sent") {
            continue;
        }
        let Some(op) = labels.get("op") else {
            continue;
        };
        found = true;
        *sent.entry(Carries::of(op)).or_insert(0.0) += value;
    }
    found.then_some(sent)
}

/// kvvm's signature checks on a Prometheus text page; `None` if no kvvm chain on it counts them.
pub(crate) fn parse_signature_checks(page: &str) -> Option<f64> {
    let mut total = None;
    for line in page.lines().filter(|line| line.starts_with("avalanche_")) {
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        if !line[..name_end].ends_with(SIGNATURE_CHECKS_SUFFIX) {
            continue;
        }
        let after_labels = match line[name_end..].strip_prefix('{') {
            Some(labelled) => labelled.split_once('}').map_or("", |(_, rest)| rest),
            None => &line[name_end..],
        };
        if let Some(value) = after_labels
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        {
            *total.get_or_insert(0.0) += value;
        }
    }
    total
}

/// `a="x",b="y\"z"` as a map; a pair it cannot read ends the list.
fn parse_labels(text: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    while let Some((name, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, escaped)) => value.push(escaped),
                    None => break,
                },
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                c => value.push(c),
            }
        }
        let Some(end) = end else { break };
        labels.insert(name.trim_start_matches(',').trim().to_string(), value);
        rest = &after[end..];
    }
    labels
}

/// A node's metrics page, next to its JSON-RPC URL: same scheme, host and port, path
/// `/ext/metrics`.
pub(crate) fn metrics_url(rpc_url: &str) -> Option<String> {
    let (scheme, rest) = rpc_url.split_once("://")?;
    let authority = rest.split('/').next().filter(|a| !a.is_empty())?;
    Some(format!("{scheme}://{authority}/ext/metrics"))
}

/// One reading of the counters the load client takes from the nodes' metrics, added up.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct NodeCounters {
    pub(crate) sent: SentBytes,
    /// `None` unless every node's kvvm counts its checks.
    pub(crate) signature_checks: Option<f64>,
}

/// Reads the nodes' sent-byte and signature-check counters.
pub(crate) struct TrafficReader {
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
    urls: Vec<String>,
}

impl TrafficReader {
    pub(crate) fn new(rpc_urls: &[String]) -> Result<Self, LoadError> {
        let urls = rpc_urls
            .iter()
            .map(|rpc| {
                metrics_url(rpc).ok_or_else(|| LoadError::Rpc {
                    url: rpc.clone(),
                    reason: "no scheme and host to find the node's /ext/metrics by".into(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            urls,
        })
    }

    pub(crate) fn nodes(&self) -> usize {
        self.urls.len()
    }

    /// Every node's counters, added up.
    pub(crate) async fn read(&self) -> Result<NodeCounters, LoadError> {
        let mut total = SentBytes::new();
        let mut checks = Some(0.0);
        for url in &self.urls {
            let page = tokio::time::timeout(METRICS_TIMEOUT, self.page(url))
                .await
                .map_err(|_| traffic_error(url, format!("no answer in {METRICS_TIMEOUT:?}")))??;
            let sent = parse_sent_bytes(&page)
                .ok_or_else(|| traffic_error(url, format!("no {SENT_BYTES_METRIC} sample")))?;
            for (carries, bytes) in sent {
                *total.entry(carries).or_insert(0.0) += bytes;
            }
            checks = checks
                .zip(parse_signature_checks(&page))
                .map(|(a, b)| a + b);
        }
        Ok(NodeCounters {
            sent: total,
            signature_checks: checks,
        })
    }

    async fn page(&self, url: &str) -> Result<String, LoadError> {
        let uri: hyper::Uri = url.parse().map_err(|e| traffic_error(url, e))?;
        let response = self
            .client
            .get(uri)
            .await
            .map_err(|e| traffic_error(url, e))?;
        if !response.status().is_success() {
            return Err(traffic_error(url, response.status()));
        }
        let body = Limited::new(response.into_body(), MAX_METRICS_BYTES)
            .collect()
            .await
            .map_err(|e| traffic_error(url, e))?
            .to_bytes();
        String::from_utf8(body.to_vec()).map_err(|e| traffic_error(url, e))
    }
}

fn traffic_error(url: &str, reason: impl ToString) -> LoadError {
    LoadError::Rpc {
        url: url.to_string(),
        reason: reason.to_string(),
    }
}

/// What the links carried during one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkTraffic {
    /// Directed links between the nodes: n × (n − 1).
    pub links: usize,
    /// Bytes per link per second, by what they carried ("all" for the sum), over the time
    /// between the two readings (the run, and the moment its end took to notice).
    pub bytes_per_link_per_s: BTreeMap<String, f64>,
    /// Bytes per link per accepted transaction, by what they carried ("all" for the sum).
    pub bytes_per_link_per_tx: BTreeMap<String, f64>,
    /// The run's signed transactions' mean size, to compare a link's bytes per transaction with
    /// (what a link carries is compressed, and holds votes and the rest as well).
    pub tx_bytes_mean: f64,
}

/// The whole's key in the per-kind maps.
pub(crate) const ALL: &str = "all";

impl LinkTraffic {
    pub(crate) fn between(
        before: &SentBytes,
        after: &SentBytes,
        nodes: usize,
        elapsed: Duration,
        accepted: usize,
        tx_bytes_mean: f64,
    ) -> Self {
        let links = nodes * nodes.saturating_sub(1);
        let mut per_kind: BTreeMap<String, f64> = after
            .iter()
            .map(|(carries, end)| {
                let start = before.get(carries).copied().unwrap_or(0.0);
                (carries.name().to_string(), (end - start).max(0.0))
            })
            .collect();
        per_kind.insert(ALL.into(), per_kind.values().sum());
        let scale = |divisor: f64| -> BTreeMap<String, f64> {
            per_kind
                .iter()
                .map(|(kind, bytes)| {
                    let value = if divisor > 0.0 { bytes / divisor } else { 0.0 };
                    (kind.clone(), value)
                })
                .collect()
        };
        Self {
            links,
            bytes_per_link_per_s: scale(links as f64 * elapsed.as_secs_f64()),
            bytes_per_link_per_tx: scale(links as f64 * accepted as f64),
            tx_bytes_mean,
        }
    }

    /// A link's bytes per transaction (all of them: blocks, gossip, votes and the rest) as a share
    /// of a transaction's signed size. Each node must receive each transaction once, so over
    /// n × (n − 1) links an uncompressed copy to every node is 1/n; gossip and block both
    /// carrying it, 2/n.
    pub fn share_of_tx_size(&self) -> Option<f64> {
        let per_tx = self.bytes_per_link_per_tx.get(ALL)?;
        (self.tx_bytes_mean > 0.0).then(|| per_tx / self.tx_bytes_mean)
    }
}

/// Signature checks per accepted transaction per node between two readings: 1.0 when each node
/// checks each transaction once.
pub(crate) fn signature_checks_per_tx(
    before: &NodeCounters,
    after: &NodeCounters,
    nodes: usize,
    accepted: usize,
) -> Option<f64> {
    let checks = after.signature_checks? - before.signature_checks?;
    (nodes > 0 && accepted > 0).then(|| checks.max(0.0) / (nodes * accepted) as f64)
}
