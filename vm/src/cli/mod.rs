//! The `kvvm` user commands: keys, writes and reads against a node's JSON-RPC URL.
//!
//! Keys and values on the command line follow the API's convention: text as given, or bytes as
//! `0x`-prefixed hex. Output is for people by default and JSON with `--json`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand};
use ed25519_dalek::SigningKey;
use kvvm_rpc::client::HttpClient;
use kvvm_rpc::types::{Hex32, HexBytes, KvBytes};
use kvvm_rpc::KvvmApiClient;
use kvvm_rpc::{TxStatus, TxStatusView};
use serde::{Deserialize, Serialize};

use crate::tx::{Operation, UnsignedTx};

#[derive(Args, Clone)]
pub struct Connection {
    /// The chain's JSON-RPC URL, e.g. http://127.0.0.1:9650/ext/bc/<chainID>/rpc
    #[arg(long, env = "KVVM_RPC")]
    pub rpc: String,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Clone)]
pub struct KeyFile {
    /// The key file (created by `kvvm key new`).
    #[arg(long = "key", env = "KVVM_KEY", default_value_os_t = default_key_path())]
    pub path: PathBuf,
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Create a new ed25519 key file (mode 0600); refuses to overwrite one.
    New {
        #[command(flatten)]
        key: KeyFile,
        #[arg(long)]
        json: bool,
    },
    /// Print the account (public key) of a key file.
    Show {
        #[command(flatten)]
        key: KeyFile,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Manage the signing key.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Write VALUE under KEY (text, or 0x-prefixed hex).
    Put {
        // Every KvBytes argument names its parser: left to choose, clap would take
        // `From<&str>`, which keeps `0x00ff` as six characters of text.
        #[arg(value_name = "KEY", value_parser = KvBytes::from_str)]
        key_name: KvBytes,
        #[arg(value_parser = KvBytes::from_str)]
        value: KvBytes,
        #[command(flatten)]
        key: KeyFile,
        #[command(flatten)]
        conn: Connection,
        /// Wait until the transaction is accepted.
        #[arg(long)]
        wait: bool,
    },
    /// Delete KEY (only its owner may).
    Delete {
        #[arg(value_name = "KEY", value_parser = KvBytes::from_str)]
        key_name: KvBytes,
        #[command(flatten)]
        key: KeyFile,
        #[command(flatten)]
        conn: Connection,
        #[arg(long)]
        wait: bool,
    },
    /// Read KEY from the last accepted state.
    Get {
        #[arg(value_name = "KEY", value_parser = KvBytes::from_str)]
        key_name: KvBytes,
        #[command(flatten)]
        conn: Connection,
    },
    /// List keys starting with PREFIX.
    Ls {
        #[arg(default_value = "", value_parser = KvBytes::from_str)]
        prefix: KvBytes,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Continue after this key (the `next` of a previous page).
        #[arg(long, value_parser = KvBytes::from_str)]
        after: Option<KvBytes>,
        #[command(flatten)]
        conn: Connection,
    },
    /// Show a transaction's status.
    Status {
        #[arg(value_name = "TX_ID")]
        tx_id: Hex32,
        #[command(flatten)]
        conn: Connection,
    },
    /// Wait until a transaction is accepted (or dropped).
    Wait {
        #[arg(value_name = "TX_ID")]
        tx_id: Hex32,
        /// Give up after this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        #[command(flatten)]
        conn: Connection,
    },
    /// Show the chain's identity, limits and last accepted block.
    Info {
        #[command(flatten)]
        conn: Connection,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
    #[error("calling {url}: {reason}")]
    Rpc { url: String, reason: String },
    #[error("transaction {tx} was {status}: {reason}")]
    NotAccepted {
        tx: String,
        status: String,
        reason: String,
    },
    #[error("transaction {0} is still pending after the timeout")]
    Timeout(String),
}

fn default_key_path() -> PathBuf {
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

pub fn read_key(path: &Path) -> Result<SigningKey, CliError> {
    let err = |reason: String| CliError::KeyFile {
        path: path.display().to_string(),
        reason,
    };
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
    let err = |reason: String| CliError::KeyFile {
        path: path.display().to_string(),
        reason,
    };
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

fn client(url: &str) -> Result<HttpClient, CliError> {
    kvvm_rpc::http_client(url).map_err(|e| CliError::Rpc {
        url: url.to_string(),
        reason: e.to_string(),
    })
}

fn rpc_err(url: &str) -> impl Fn(jsonrpsee::core::client::Error) -> CliError + '_ {
    move |e| CliError::Rpc {
        url: url.to_string(),
        reason: match &e {
            jsonrpsee::core::client::Error::Transport(t) => {
                format!("{t} (is the node running and the URL right?)")
            }
            _ => e.to_string(),
        },
    }
}

fn print_json(value: &impl Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("views serialize")
    );
}

pub async fn run(command: UserCommand) -> Result<(), CliError> {
    match command {
        UserCommand::Key(KeyCommand::New { key, json }) => {
            let k = write_new_key(&key.path)?;
            show_key(&key.path, &k, json);
            Ok(())
        }
        UserCommand::Key(KeyCommand::Show { key, json }) => {
            let k = read_key(&key.path)?;
            show_key(&key.path, &k, json);
            Ok(())
        }
        UserCommand::Put {
            key_name,
            value,
            key,
            conn,
            wait,
        } => {
            let op = Operation::Put {
                key: key_name.0,
                value: value.0,
            };
            write(op, &key, &conn, wait).await
        }
        UserCommand::Delete {
            key_name,
            key,
            conn,
            wait,
        } => {
            let op = Operation::Delete { key: key_name.0 };
            write(op, &key, &conn, wait).await
        }
        UserCommand::Get { key_name, conn } => {
            let c = client(&conn.rpc)?;
            let entry = c.get(key_name.clone()).await.map_err(rpc_err(&conn.rpc))?;
            if conn.json {
                print_json(&entry);
            } else {
                match entry {
                    Some(e) => println!("{}\n  owner  {}\n  height {}", e.value, e.owner, e.height),
                    None => println!("(not found: {key_name})"),
                }
            }
            Ok(())
        }
        UserCommand::Ls {
            prefix,
            limit,
            after,
            conn,
        } => {
            let c = client(&conn.rpc)?;
            let page = c
                .list(prefix, after, Some(limit))
                .await
                .map_err(rpc_err(&conn.rpc))?;
            if conn.json {
                print_json(&page);
            } else {
                for e in &page.entries {
                    println!("{} = {}", e.key, e.value);
                }
                if let Some(next) = &page.next_cursor {
                    println!("(more: --after {next})");
                }
            }
            Ok(())
        }
        UserCommand::Status { tx_id, conn } => {
            let c = client(&conn.rpc)?;
            let status = c.tx_status(tx_id).await.map_err(rpc_err(&conn.rpc))?;
            print_status(&tx_id.to_string(), &status, conn.json);
            Ok(())
        }
        UserCommand::Wait {
            tx_id,
            timeout,
            conn,
        } => {
            let c = client(&conn.rpc)?;
            let status = wait_for(&c, &conn.rpc, tx_id, timeout).await?;
            print_status(&tx_id.to_string(), &status, conn.json);
            Ok(())
        }
        UserCommand::Info { conn } => {
            let c = client(&conn.rpc)?;
            let info = c.chain_info().await.map_err(rpc_err(&conn.rpc))?;
            let tip = c.last_accepted().await.map_err(rpc_err(&conn.rpc))?;
            if conn.json {
                print_json(&serde_json::json!({ "chain": info, "lastAccepted": tip }));
            } else {
                println!(
                    "chain        {} (network {})",
                    info.chain_id, info.network_id
                );
                println!("genesis      {}", info.genesis_hash);
                println!("last block   {} at height {}", tip.id, tip.height);
                println!(
                    "limits       key {} B, value {} B, {} ops/tx, tx {} B, {} txs/block",
                    info.limits.max_key_bytes,
                    info.limits.max_value_bytes,
                    info.limits.max_ops_per_tx,
                    info.limits.max_tx_bytes,
                    info.limits.max_txs_per_block
                );
                println!(
                    "vm           kvvm {} (rpcchainvm {})",
                    info.vm_version, info.rpcchainvm_protocol
                );
            }
            Ok(())
        }
    }
}

fn show_key(path: &Path, key: &SigningKey, json: bool) {
    let account = hex::encode(key.verifying_key().to_bytes());
    if json {
        print_json(&serde_json::json!({ "account": account, "keyFile": path }));
    } else {
        println!("account {account}\nkey file {}", path.display());
    }
}

async fn write(
    op: Operation,
    key: &KeyFile,
    conn: &Connection,
    wait: bool,
) -> Result<(), CliError> {
    let signer = read_key(&key.path)?;
    let c = client(&conn.rpc)?;
    let sender = signer.verifying_key().to_bytes();
    let info = c.chain_info().await.map_err(rpc_err(&conn.rpc))?;
    let nonce = c
        .nonce(Hex32(sender))
        .await
        .map_err(rpc_err(&conn.rpc))?
        .next;
    let signed = UnsignedTx {
        chain_id: info.chain_id_hex.0,
        sender,
        nonce,
        ops: vec![op],
    }
    .sign(&signer);
    let bytes = borsh::to_vec(&signed).expect("a transaction serializes");
    let submitted = c
        .submit_tx(HexBytes(bytes))
        .await
        .map_err(rpc_err(&conn.rpc))?;
    let id = submitted.tx_id;
    if !wait {
        if conn.json {
            print_json(&submitted);
        } else {
            println!("submitted {id} (nonce {nonce})");
        }
        return Ok(());
    }
    let status = wait_for(&c, &conn.rpc, id, 60).await?;
    print_status(&id.to_string(), &status, conn.json);
    Ok(())
}

async fn wait_for(
    c: &HttpClient,
    url: &str,
    id: Hex32,
    timeout_secs: u64,
) -> Result<TxStatusView, CliError> {
    let deadline = Instant::now() + Duration::from_secs(timeout_secs);
    loop {
        let status = c.tx_status(id).await.map_err(rpc_err(url))?;
        match status.status {
            TxStatus::Accepted => return Ok(status),
            TxStatus::Rejected | TxStatus::Dropped => {
                return Err(CliError::NotAccepted {
                    tx: id.to_string(),
                    status: format!("{:?}", status.status).to_lowercase(),
                    reason: status.reason.unwrap_or_default(),
                })
            }
            TxStatus::Pending | TxStatus::Unknown => {}
        }
        if Instant::now() >= deadline {
            return Err(CliError::Timeout(id.to_string()));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn print_status(tx: &str, status: &TxStatusView, json: bool) {
    if json {
        print_json(status);
        return;
    }
    let word = format!("{:?}", status.status).to_lowercase();
    match (&status.block_height, &status.block_id, &status.reason) {
        (Some(h), Some(b), _) => println!("{tx} {word} at height {h} in block {b}"),
        (_, _, Some(r)) => println!("{tx} {word}: {r}"),
        _ => println!("{tx} {word}"),
    }
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

    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: UserCommand,
    }

    #[test]
    fn command_line_keys_follow_the_api_convention() {
        use clap::Parser;
        let parsed = Cli::try_parse_from(["kvvm", "put", "hello", "0x00ff", "--rpc", "u"]).unwrap();
        let UserCommand::Put {
            key_name, value, ..
        } = parsed.command
        else {
            panic!("not a put");
        };
        assert_eq!(key_name.0, b"hello");
        assert_eq!(value.0, vec![0, 255]);
        let odd = Cli::try_parse_from(["kvvm", "get", "0xabc", "--rpc", "u"])
            .err()
            .expect("odd hex is refused");
        assert!(
            odd.to_string().contains("odd number of hex digits"),
            "{odd}"
        );
    }
}
