//! Structured logs to stderr, which the node copies into its chain log.
//!
//! The node passes no environment (no `RUST_LOG`), so the level starts at `info` and the chain
//! config's `logLevel` replaces it once Initialize has read it.

use std::sync::OnceLock;

use tracing_subscriber::filter::ParseError;
use tracing_subscriber::{prelude::*, reload, EnvFilter, Registry};

static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Why a log filter was refused.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("span field filters (`{{field=value}}`) are not accepted; filter by target, span name and level")]
    FieldFilter,
    #[error("the character {0:?} is not accepted: a filter holds ASCII letters, digits and `{FILTER_PUNCTUATION}`, no spaces")]
    Character(char),
    #[error("{0}")]
    Syntax(#[from] ParseError),
}

/// What a filter may hold besides ASCII letters and digits: enough for targets (`kvvm::node`), span
/// names (`[accept]`), levels and lists of them.
const FILTER_PUNCTUATION: &str = "_:,=-[].";

/// Reads a filter such as `info`, `kvvm=debug,tonic=warn` or `[accept]=debug`. Only targets, span
/// names and levels are accepted, in the characters above; the chain_config_parse fuzz target found
/// three ways past that to stall or panic tracing-subscriber's parser, and Initialize must do
/// neither on its config. A span field pattern compiled as a regular expression took over 30 s to
/// build; read literally, the same field directive given twice breaks an invariant of the
/// directive ordering (a panic in debug builds); and a directive with leading whitespace is sliced
/// at offsets of its trimmed form (a panic inside a multi-byte character, wrong targets in ASCII).
pub fn parse_filter(text: &str) -> Result<EnvFilter, FilterError> {
    if text.contains('{') {
        return Err(FilterError::FieldFilter);
    }
    if let Some(c) = text
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !FILTER_PUNCTUATION.contains(*c))
    {
        return Err(FilterError::Character(c));
    }
    Ok(EnvFilter::builder().with_regex(false).parse(text)?)
}

/// Installs the subscriber once; later calls do nothing.
pub fn init(default_filter: &str) {
    let filter = std::env::var("KVVM_LOG")
        .ok()
        .and_then(|f| parse_filter(&f).ok())
        .unwrap_or_else(|| parse_filter(default_filter).unwrap_or_else(|_| EnvFilter::new("info")));
    let (filter, handle) = reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(true);
    if tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init()
        .is_ok()
    {
        let _ = FILTER.set(handle);
    }
}

/// Applies the chain config's log level (already validated by `ChainConfig::parse`), unless
/// `KVVM_LOG` chose one for a run by hand.
pub fn apply_level(level: &str) {
    let Some(handle) = FILTER.get() else {
        return;
    };
    if std::env::var_os("KVVM_LOG").is_some() {
        return;
    }
    if let Ok(filter) = parse_filter(level) {
        let _ = handle.reload(filter);
    }
}
