//! The key file: an ed25519 secret seed and its public key, as JSON readable only by its owner.

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use super::CliError;

pub(super) fn default_key_path() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".kvvm")
        .join("key.json")
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KeyDocument {
    /// The 32-byte ed25519 secret seed, hex.
    secret_key: String,
    /// The account: the public key, hex.
    public_key: String,
}

fn key_error(path: &Path) -> impl Fn(String) -> CliError + '_ {
    move |reason| CliError::KeyFile {
        path: path.display().to_string(),
        reason,
    }
}

pub fn read_key(path: &Path) -> Result<SigningKey, CliError> {
    let err = key_error(path);
    let text = std::fs::read_to_string(path).map_err(|e| {
        err(format!(
            "{e} (create one with `kvvm key new --key {}`)",
            path.display()
        ))
    })?;
    let doc: KeyDocument = serde_json::from_str(&text).map_err(|e| err(e.to_string()))?;
    let seed: [u8; 32] = hex::decode(&doc.secret_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| err("secretKey must be 64 hex characters".into()))?;
    let key = SigningKey::from_bytes(&seed);
    if hex::encode(key.verifying_key().to_bytes()) != doc.public_key.to_lowercase() {
        return Err(err("publicKey does not match secretKey".into()));
    }
    Ok(key)
}

/// Writes a new key file readable only by its owner.
pub fn write_new_key(path: &Path) -> Result<SigningKey, CliError> {
    use std::os::unix::fs::OpenOptionsExt;
    let err = key_error(path);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
    }
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let doc = KeyDocument {
        secret_key: hex::encode(key.to_bytes()),
        public_key: hex::encode(key.verifying_key().to_bytes()),
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                err("already exists; choose another path with --key".into())
            }
            _ => err(e.to_string()),
        })?;
    let text = serde_json::to_string_pretty(&doc).expect("a key document serializes");
    file.write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .map_err(|e| err(e.to_string()))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_is_private_round_trips_and_is_never_overwritten() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("key.json");
        let key = write_new_key(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read_key(&path).unwrap().to_bytes(), key.to_bytes());
        let again = write_new_key(&path).unwrap_err();
        assert!(again.to_string().contains("already exists"), "{again}");
    }

    #[test]
    fn tampered_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key.json");
        write_new_key(&path).unwrap();
        let mut doc: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        doc["publicKey"] = serde_json::Value::String("00".repeat(32));
        std::fs::write(&path, doc.to_string()).unwrap();
        assert!(read_key(&path)
            .unwrap_err()
            .to_string()
            .contains("does not match"));
    }
}
