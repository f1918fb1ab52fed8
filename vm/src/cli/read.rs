//! The commands that only read: get, ls, status, info and account.

use kvvm_rpc::{Hex32, KvBytes, KvvmApiClient};

use super::connection::Rpc;
use super::key::{self, read_key};
use super::output::{print_account, print_entry, print_info, print_page, print_status};
use super::{CliEnv, CliError, Connection, KeyFile};

pub(crate) async fn get(key: KvBytes, conn: &Connection, env: &CliEnv) -> Result<(), CliError> {
    let rpc = Rpc::connect(conn, env)?;
    let entry = rpc.client.get(key.clone()).await.map_err(rpc.fail())?;
    print_entry(&key, &entry, conn.json);
    Ok(())
}

pub(crate) async fn ls(
    prefix: KvBytes,
    after: Option<KvBytes>,
    limit: u32,
    conn: &Connection,
    env: &CliEnv,
) -> Result<(), CliError> {
    let rpc = Rpc::connect(conn, env)?;
    let page = rpc
        .client
        .list(prefix, after, Some(limit))
        .await
        .map_err(rpc.fail())?;
    print_page(&page, conn.json);
    Ok(())
}

pub(crate) async fn status(tx: Hex32, conn: &Connection, env: &CliEnv) -> Result<(), CliError> {
    let rpc = Rpc::connect(conn, env)?;
    let status = rpc.client.tx_status(tx).await.map_err(rpc.fail())?;
    print_status(&tx.to_string(), &status, conn.json);
    Ok(())
}

pub(crate) async fn info(conn: &Connection, env: &CliEnv) -> Result<(), CliError> {
    let rpc = Rpc::connect(conn, env)?;
    let info = rpc.client.chain_info().await.map_err(rpc.fail())?;
    let tip = rpc.client.last_accepted().await.map_err(rpc.fail())?;
    print_info(&info, &tip, conn.json);
    Ok(())
}

/// `account` shows `account`, or the key file's account when none is given.
pub(crate) async fn account(
    account: Option<Hex32>,
    key_file: &KeyFile,
    conn: &Connection,
    env: &CliEnv,
) -> Result<(), CliError> {
    let rpc = Rpc::connect(conn, env)?;
    let account = match account {
        Some(account) => account,
        None => {
            let signer = read_key(&key::choose(key_file.path.as_deref(), env).path)?;
            Hex32(signer.verifying_key().to_bytes())
        }
    };
    let view = rpc.client.account(account).await.map_err(rpc.fail())?;
    print_account(&view, conn.json);
    Ok(())
}
