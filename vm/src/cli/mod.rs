//! The `kvvm` user commands: keys, writes and reads against a node's JSON-RPC URL.
//!
//! Keys and values on the command line follow the API's convention ([`KvBytes`]'s `FromStr`): text
//! as given, or bytes as `0x`-prefixed hex. Output is for people by default and JSON with `--json`.
//!
//! One file per job: this one declares the commands and dispatches them; [`key`] keeps the key
//! file, [`connection`] finds the URL and makes the client, [`env`] holds the environment they
//! consult, `write` and `read` run the commands, `output` prints.

pub mod connection;
pub mod env;
mod error;
pub mod key;
mod output;
mod read;
mod write;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Subcommand};
use kvvm_rpc::types::{Hex32, KvBytes};

use crate::access::Role;

pub use env::CliEnv;
pub use error::CliError;
pub use key::{read_key, write_new_key};

#[derive(Args, Clone)]
pub struct Connection {
    /// The chain's JSON-RPC URL, e.g. http://127.0.0.1:9650/ext/bc/<chainID>/rpc. Default:
    /// $KVVM_RPC, else node 1 of the network scripts/run-network.sh started (from
    /// $KVVM_CACHE/network.json, the cache defaulting to ~/.cache/kvvm).
    #[arg(long, value_name = "URL")]
    pub rpc: Option<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Clone)]
pub struct KeyFile {
    /// The key file (`kvvm key new` makes one). Default: $KVVM_KEY, else ~/.kvvm/key.json, which
    /// the first `put` creates if it is missing.
    #[arg(long = "key", value_name = "FILE")]
    pub path: Option<PathBuf>,
}

// How long to wait for a transaction's fate: `wait` and `put`/`delete --wait` share it. (A doc
// comment here would become the about text of every command that flattens it.)
#[derive(Args, Clone, Copy, Debug)]
pub struct Timeout {
    /// Give up waiting after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    pub timeout: u64,
}

impl Timeout {
    pub fn duration(self) -> Duration {
        Duration::from_secs(self.timeout)
    }
}

// `--wait [--timeout SECONDS]` of the commands that submit a transaction; a timeout alone would
// silently do nothing, so it requires `--wait`.
#[derive(Args, Clone, Copy, Debug)]
#[command(mut_arg("timeout", |a| a.requires("wait")))]
pub struct Await {
    /// Wait until the transaction is accepted (or refused, or dropped).
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub timeout: Timeout,
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
        #[command(flatten)]
        wait: Await,
    },
    /// Delete KEY (only its owner may).
    Delete {
        #[arg(value_name = "KEY", value_parser = KvBytes::from_str)]
        key_name: KvBytes,
        #[command(flatten)]
        key: KeyFile,
        #[command(flatten)]
        conn: Connection,
        #[command(flatten)]
        wait: Await,
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
        #[command(flatten)]
        timeout: Timeout,
        #[command(flatten)]
        conn: Connection,
    },
    /// Show the chain's identity, limits and last accepted block.
    Info {
        #[command(flatten)]
        conn: Connection,
    },
    /// Show an account's nonce, role, storage used and quota (default: the key file's account).
    Account {
        #[arg(value_name = "ACCOUNT")]
        account: Option<Hex32>,
        #[command(flatten)]
        key: KeyFile,
        #[command(flatten)]
        conn: Connection,
    },
    /// Give ACCOUNT a ROLE: none (revokes), enabled, manager or admin. Admins set any role but
    /// their own; managers grant and revoke enabled.
    Role {
        #[arg(value_name = "ACCOUNT")]
        account: Hex32,
        #[arg(value_name = "ROLE", value_parser = parse_role)]
        role: Role,
        #[command(flatten)]
        key: KeyFile,
        #[command(flatten)]
        conn: Connection,
        #[command(flatten)]
        wait: Await,
    },
}

/// A role as the API names it.
fn parse_role(name: &str) -> Result<Role, String> {
    [Role::None, Role::Enabled, Role::Manager, Role::Admin]
        .into_iter()
        .find(|role| role.name() == name)
        .ok_or_else(|| format!("{name:?} is not a role: none, enabled, manager or admin"))
}

/// Runs `command` in the process's environment.
pub async fn run(command: UserCommand) -> Result<(), CliError> {
    run_in(command, &CliEnv::from_process()).await
}

pub async fn run_in(command: UserCommand, env: &CliEnv) -> Result<(), CliError> {
    use UserCommand as C;
    match command {
        C::Key(command) => run_key(command, env),
        C::Put {
            key_name,
            value,
            key,
            conn,
            wait,
        } => write::put(key_name, value, &key, &conn, wait, env).await,
        C::Delete {
            key_name,
            key,
            conn,
            wait,
        } => write::delete(key_name, &key, &conn, wait, env).await,
        C::Get { key_name, conn } => read::get(key_name, &conn, env).await,
        C::Ls {
            prefix,
            limit,
            after,
            conn,
        } => read::ls(prefix, after, limit, &conn, env).await,
        C::Status { tx_id, conn } => read::status(tx_id, &conn, env).await,
        C::Wait {
            tx_id,
            timeout,
            conn,
        } => write::wait(tx_id, timeout.duration(), &conn, env).await,
        C::Info { conn } => read::info(&conn, env).await,
        C::Account { account, key, conn } => read::account(account, &key, &conn, env).await,
        C::Role {
            account,
            role,
            key,
            conn,
            wait,
        } => write::set_role(account, role, &key, &conn, wait, env).await,
    }
}

/// `key new` and `key show` both print the account and where its key file is.
fn run_key(command: KeyCommand, env: &CliEnv) -> Result<(), CliError> {
    let path_of = |key: KeyFile| key::choose(key.path.as_deref(), env).path;
    match command {
        KeyCommand::New { key, json } => {
            let path = path_of(key);
            output::show_key(&path, &write_new_key(&path)?, json);
        }
        KeyCommand::Show { key, json } => {
            let path = path_of(key);
            output::show_key(&path, &read_key(&path)?, json);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[derive(clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: UserCommand,
    }

    fn parse(args: &[&str]) -> Result<UserCommand, clap::Error> {
        let all = ["kvvm"].iter().chain(args).chain(&["--rpc", "u"]);
        Cli::try_parse_from(all).map(|c| c.command)
    }

    #[test]
    fn commands_are_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn command_line_keys_follow_the_api_convention() {
        let Ok(UserCommand::Put {
            key_name, value, ..
        }) = parse(&["put", "hello", "0x00ff"])
        else {
            panic!("not a put");
        };
        assert_eq!(key_name.0, b"hello");
        assert_eq!(value.0, vec![0, 255]);
        let odd = parse(&["get", "0xabc"]).err().expect("odd hex is refused");
        assert!(
            odd.to_string().contains("odd number of hex digits"),
            "{odd}"
        );
    }

    #[test]
    fn put_and_delete_wait_as_long_as_the_wait_command() {
        let Ok(UserCommand::Wait { timeout, .. }) = parse(&["wait", &"ab".repeat(32)]) else {
            panic!("not a wait");
        };
        let Ok(UserCommand::Put { wait, .. }) = parse(&["put", "k", "v", "--wait"]) else {
            panic!("not a put");
        };
        assert!(wait.wait);
        assert_eq!(wait.timeout.duration(), timeout.duration());
        let Ok(UserCommand::Delete { wait, .. }) =
            parse(&["delete", "k", "--wait", "--timeout", "5"])
        else {
            panic!("not a delete");
        };
        assert_eq!(wait.timeout.duration(), Duration::from_secs(5));
        let alone = parse(&["put", "k", "v", "--timeout", "5"]).err();
        assert!(alone.is_some_and(|e| e.to_string().contains("--wait")));
    }

    #[test]
    fn roles_are_named_as_the_api_names_them() {
        let account = "ab".repeat(32);
        let Ok(UserCommand::Role { role, .. }) = parse(&["role", &account, "manager"]) else {
            panic!("not a role command");
        };
        assert_eq!(role, Role::Manager);
        let bad = parse(&["role", &account, "owner"]).err().expect("refused");
        assert!(bad.to_string().contains("not a role"), "{bad}");
    }
}
