//! The key file: an ed25519 secret seed and its public key, as JSON readable only by its owner.
//!
//! Which file: `--key`, else `KVVM_KEY`, else `~/.kvvm/key.json`. Only that last, default file is
//! created by a `put` that finds it missing, so a newcomer's first write just works; a file named
//! by flag or environment is never created behind one's back, since a typo in its path would
//! otherwise sign with a new, empty account.

use std::io::Write;
use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use super::{CliEnv, CliError};

/// The key file a command uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyChoice {
    pub path: PathBuf,
    /// Neither `--key` nor `KVVM_KEY` named it.
    pub is_default: bool,
}

pub fn choose(flag: Option<&Path>, env: &CliEnv) -> KeyChoice {
    match flag.or(env.key.as_deref()) {
        Some(path) => KeyChoice {
            path: path.to_path_buf(),
            is_default: false,
        },
        None => KeyChoice {
            path: env.default_key_file(),
            is_default: true,
        },
    }
}

/// The key a `put` signs with: the chosen file's, or, for a default file that does not exist yet,
/// a new one written there, which is announced on `notice` (stderr) with the account it makes.
pub fn load_or_create(choice: &KeyChoice, notice: &mut dyn Write) -> Result<SigningKey, CliError> {
    if !choice.is_default || choice.path.exists() {
        return read_key(&choice.path);
    }
    match write_new_key(&choice.path) {
        Ok(key) => {
            // Nothing useful to do if stderr is gone: the key file is written either way.
            let _ = writeln!(
                notice,
                "kvvm: created key file {} (mode 0600) for account {}; keep it, it owns what you write",
                choice.path.display(),
                hex::encode(key.verifying_key().to_bytes())
            );
            Ok(key)
        }
        // Another command created it in the meantime.
        Err(_) if choice.path.exists() => read_key(&choice.path),
        Err(e) => Err(e),
    }
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

    fn home(dir: &Path) -> CliEnv {
        CliEnv {
            home: Some(dir.to_path_buf()),
            ..CliEnv::default()
        }
    }

    #[test]
    fn the_flag_wins_then_kvvm_key_then_the_default() {
        let mut env = home(Path::new("/h"));
        let default = choose(None, &env);
        assert_eq!(default.path, Path::new("/h/.kvvm/key.json"));
        assert!(default.is_default);
        env.key = Some("/from-env".into());
        assert_eq!(
            choose(None, &env),
            KeyChoice {
                path: "/from-env".into(),
                is_default: false
            }
        );
        let flag = choose(Some(Path::new("/from-flag")), &env);
        assert_eq!(flag.path, Path::new("/from-flag"));
        assert!(!flag.is_default);
    }

    #[test]
    fn a_missing_default_key_is_created_once_and_announced() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let choice = choose(None, &home(dir.path()));
        let mut notice = Vec::new();
        let created = load_or_create(&choice, &mut notice).unwrap();
        let notice = String::from_utf8(notice).unwrap();
        assert!(notice.contains("created key file"), "{notice}");
        assert!(
            notice.contains(&choice.path.display().to_string()),
            "{notice}"
        );
        let account = hex::encode(created.verifying_key().to_bytes());
        assert!(notice.contains(&account), "{notice}");
        let mode = std::fs::metadata(&choice.path)
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);

        let mut again = Vec::new();
        let reused = load_or_create(&choice, &mut again).unwrap();
        assert_eq!(reused.to_bytes(), created.to_bytes());
        assert!(again.is_empty(), "announced twice");
    }

    #[test]
    fn a_named_key_file_is_never_created() {
        let dir = tempfile::tempdir().unwrap();
        let mut env = home(dir.path());
        let named = dir.path().join("typo.json");
        let by_flag = choose(Some(&named), &env);
        env.key = Some(named.clone());
        let by_env = choose(None, &env);
        for choice in [by_flag, by_env] {
            let err = load_or_create(&choice, &mut Vec::new()).unwrap_err();
            assert!(err.to_string().contains("kvvm key new"), "{err}");
            assert!(!named.exists());
        }
        assert!(!env.default_key_file().exists());
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
