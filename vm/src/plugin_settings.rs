//! Plugin settings that must be known before the handshake: the rpcchainvm protocol version.
//!
//! The node starts the plugin with no arguments and an environment holding only its own address
//! (and `GRPC_*`/`GODEBUG*` variables), so the setting lives in a file beside the binary:
//! `.kvvm-plugin` (JSON, `{"rpcchainvmProtocol": 44}`). The name is hidden on purpose: AvalancheGo
//! strips a file's extension to read its VMID and skips files whose name is then empty, so
//! `.kvvm-plugin` in the plugin directory is ignored, while any other extra file there stops the node.
//! The file is looked up beside the path the node started (the plugin directory), then beside the
//! binary that path resolves to (when the plugin is a symlink). For runs by hand and tests,
//! `KVVM_RPCCHAINVM_PROTOCOL` overrides both.

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The protocol AvalancheGo v1.14.2 speaks.
pub const DEFAULT_PROTOCOL: u32 = 45;
/// v1.13.3 (42) to v1.15.0 (46) share every message kvvm uses; only the advertised number differs.
pub const SUPPORTED_PROTOCOLS: RangeInclusive<u32> = 42..=46;
pub const SETTINGS_FILE_NAME: &str = ".kvvm-plugin";
pub const PROTOCOL_ENV: &str = "KVVM_RPCCHAINVM_PROTOCOL";

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{source_name}: rpcchainvm protocol {value} is not supported; choose one of {}..={}", SUPPORTED_PROTOCOLS.start(), SUPPORTED_PROTOCOLS.end())]
    Unsupported { source_name: String, value: u32 },
    #[error("{source_name}: {reason}")]
    Invalid { source_name: String, reason: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSettings {
    pub protocol: u32,
    /// Where the protocol came from, for logs and `version-json`.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SettingsFile {
    rpcchainvm_protocol: u32,
}

impl PluginSettings {
    /// Reads the settings the way the plugin does at start.
    pub fn load() -> Result<Self, SettingsError> {
        let env = std::env::var(PROTOCOL_ENV).ok();
        let invoked = std::env::args_os().next().map(PathBuf::from);
        let resolved = std::env::current_exe().ok();
        Self::resolve(env.as_deref(), &candidate_files(invoked, resolved))
    }

    /// `env` first, then the first settings file that exists, else the default.
    pub fn resolve(env: Option<&str>, files: &[PathBuf]) -> Result<Self, SettingsError> {
        if let Some(value) = env {
            let source_name = PROTOCOL_ENV.to_string();
            let protocol = value
                .trim()
                .parse::<u32>()
                .map_err(|_| SettingsError::Invalid {
                    source_name: source_name.clone(),
                    reason: format!("{value:?} is not a protocol number"),
                })?;
            return checked(protocol, source_name);
        }
        for file in files {
            let Ok(text) = std::fs::read_to_string(file) else {
                continue;
            };
            let source_name = file.display().to_string();
            let parsed: SettingsFile =
                serde_json::from_str(&text).map_err(|e| SettingsError::Invalid {
                    source_name: source_name.clone(),
                    reason: format!("expected {{\"rpcchainvmProtocol\": N}}: {e}"),
                })?;
            return checked(parsed.rpcchainvm_protocol, source_name);
        }
        Ok(Self {
            protocol: DEFAULT_PROTOCOL,
            source: "default".into(),
        })
    }
}

fn checked(protocol: u32, source_name: String) -> Result<PluginSettings, SettingsError> {
    if !SUPPORTED_PROTOCOLS.contains(&protocol) {
        return Err(SettingsError::Unsupported {
            source_name,
            value: protocol,
        });
    }
    Ok(PluginSettings {
        protocol,
        source: source_name,
    })
}

fn candidate_files(invoked: Option<PathBuf>, resolved: Option<PathBuf>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for exe in [invoked, resolved].into_iter().flatten() {
        if let Some(dir) = exe.parent().filter(|d| !d.as_os_str().is_empty()) {
            let file = dir.join(SETTINGS_FILE_NAME);
            if !files.contains(&file) {
                files.push(file);
            }
        }
    }
    files
}

/// Writes a settings file selecting `protocol` into `dir` (used by `kvvm protocol set`).
pub fn write_settings(dir: &Path, protocol: u32) -> Result<PathBuf, SettingsError> {
    let path = dir.join(SETTINGS_FILE_NAME);
    checked(protocol, path.display().to_string())?;
    std::fs::write(&path, format!("{{\"rpcchainvmProtocol\": {protocol}}}\n")).map_err(|e| {
        SettingsError::Invalid {
            source_name: path.display().to_string(),
            reason: e.to_string(),
        }
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_45_when_nothing_is_set() {
        let s =
            PluginSettings::resolve(None, &[PathBuf::from("/nonexistent/.kvvm-plugin")]).unwrap();
        assert_eq!(s.protocol, 45);
    }

    #[test]
    fn env_overrides_file_and_is_range_checked() {
        let dir = tempfile::tempdir().unwrap();
        let file = write_settings(dir.path(), 44).unwrap();
        assert_eq!(
            PluginSettings::resolve(None, std::slice::from_ref(&file))
                .unwrap()
                .protocol,
            44
        );
        assert_eq!(
            PluginSettings::resolve(Some("46"), std::slice::from_ref(&file))
                .unwrap()
                .protocol,
            46
        );
        assert!(matches!(
            PluginSettings::resolve(Some("41"), std::slice::from_ref(&file)),
            Err(SettingsError::Unsupported { value: 41, .. })
        ));
        assert!(matches!(
            PluginSettings::resolve(Some("47"), std::slice::from_ref(&file)),
            Err(SettingsError::Unsupported { value: 47, .. })
        ));
        assert!(matches!(
            PluginSettings::resolve(Some("forty"), &[file]),
            Err(SettingsError::Invalid { .. })
        ));
    }

    #[test]
    fn malformed_or_unknown_settings_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(SETTINGS_FILE_NAME);
        std::fs::write(&file, "{\"rpcchainvmProtocol\": 44, \"extra\": 1}").unwrap();
        let err = PluginSettings::resolve(None, &[file]).unwrap_err();
        assert!(err.to_string().contains("extra"), "{err}");
    }

    #[test]
    fn file_name_is_hidden_from_avalanchego_plugin_scan() {
        // AvalancheGo strips filepath.Ext and skips empty names: the stem must be empty.
        let name = SETTINGS_FILE_NAME;
        let ext_start = name.rfind('.').unwrap();
        assert_eq!(ext_start, 0, "{name} must have no dot after the first");
    }

    #[test]
    fn candidates_cover_invoked_and_resolved_paths_once() {
        let files = candidate_files(
            Some(PathBuf::from("/plugins/vmid")),
            Some(PathBuf::from("/opt/kvvm/kvvm")),
        );
        assert_eq!(
            files,
            vec![
                PathBuf::from("/plugins/.kvvm-plugin"),
                PathBuf::from("/opt/kvvm/.kvvm-plugin")
            ]
        );
        let same = candidate_files(Some(PathBuf::from("/a/b")), Some(PathBuf::from("/a/c")));
        assert_eq!(same.len(), 1);
    }
}
