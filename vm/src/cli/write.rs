//! The commands that write: put and delete sign and submit a transaction; wait follows one.

use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use kvvm_rpc::{Hex32, HexBytes, KvBytes, KvvmApiClient, SubmitResult, TxStatus, TxStatusView};

use super::connection::Rpc;
use super::key::{self, read_key};
use super::output::{print_json, print_status};
use super::{Await, CliEnv, CliError, Connection, KeyFile};
use crate::access::Role;
use crate::tx::{Operation, UnsignedTx};

pub(crate) async fn put(
    key: KvBytes,
    value: KvBytes,
    key_file: &KeyFile,
    conn: &Connection,
    wait: Await,
    env: &CliEnv,
) -> Result<(), CliError> {
    // The URL first: with no network to write to, a put should not leave a new key file behind.
    let rpc = Rpc::connect(conn, env)?;
    let choice = key::choose(key_file.path.as_deref(), env);
    let signer = key::load_or_create(&choice, &mut std::io::stderr())?;
    let op = Operation::Put {
        key: key.0,
        value: value.0,
    };
    write(&rpc, &signer, op, wait, conn.json).await
}

pub(crate) async fn delete(
    key: KvBytes,
    key_file: &KeyFile,
    conn: &Connection,
    wait: Await,
    env: &CliEnv,
) -> Result<(), CliError> {
    let op = Operation::Delete { key: key.0 };
    write_with_existing_key(op, key_file, conn, wait, env).await
}

pub(crate) async fn set_role(
    account: Hex32,
    role: Role,
    key_file: &KeyFile,
    conn: &Connection,
    wait: Await,
    env: &CliEnv,
) -> Result<(), CliError> {
    let op = Operation::SetRole {
        account: account.0,
        role,
    };
    write_with_existing_key(op, key_file, conn, wait, env).await
}

/// [`write`] signed by a key file that must exist: only `put` creates one, since any other write
/// by a brand-new account could only fail.
async fn write_with_existing_key(
    op: Operation,
    key_file: &KeyFile,
    conn: &Connection,
    wait: Await,
    env: &CliEnv,
) -> Result<(), CliError> {
    let rpc = Rpc::connect(conn, env)?;
    let signer = read_key(&key::choose(key_file.path.as_deref(), env).path)?;
    write(&rpc, &signer, op, wait, conn.json).await
}

/// Submits `op` signed by `signer`, and reports either the submission or, with `--wait`, the
/// transaction's fate.
async fn write(
    rpc: &Rpc,
    signer: &SigningKey,
    op: Operation,
    wait: Await,
    json: bool,
) -> Result<(), CliError> {
    let (submitted, nonce) = submit(rpc, signer, op).await?;
    let id = submitted.tx_id;
    if !wait.wait {
        if json {
            print_json(&submitted);
        } else {
            println!("submitted {id} (nonce {nonce})");
        }
        return Ok(());
    }
    let status = wait_for(rpc, id, wait.timeout.duration()).await?;
    print_status(&id.to_string(), &status, json);
    Ok(())
}

/// Builds the transaction at the sender's next nonce for this chain, and submits it.
async fn submit(
    rpc: &Rpc,
    signer: &SigningKey,
    op: Operation,
) -> Result<(SubmitResult, u64), CliError> {
    let sender = signer.verifying_key().to_bytes();
    let info = rpc.client.chain_info().await.map_err(rpc.fail())?;
    let nonce = rpc
        .client
        .nonce(Hex32(sender))
        .await
        .map_err(rpc.fail())?
        .next;
    let signed = UnsignedTx {
        chain_id: info.chain_id_hex.0,
        sender,
        nonce,
        ops: vec![op],
    }
    .sign(signer);
    let bytes = borsh::to_vec(&signed).expect("a transaction serializes");
    let submitted = rpc
        .client
        .submit_tx(HexBytes(bytes))
        .await
        .map_err(rpc.fail())?;
    Ok((submitted, nonce))
}

pub(crate) async fn wait(
    tx: Hex32,
    timeout: Duration,
    conn: &Connection,
    env: &CliEnv,
) -> Result<(), CliError> {
    let rpc = Rpc::connect(conn, env)?;
    let status = wait_for(&rpc, tx, timeout).await?;
    print_status(&tx.to_string(), &status, conn.json);
    Ok(())
}

/// Polls the transaction's status until it is decided or `timeout` has passed.
async fn wait_for(rpc: &Rpc, id: Hex32, timeout: Duration) -> Result<TxStatusView, CliError> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = rpc.client.tx_status(id).await.map_err(rpc.fail())?;
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
            return Err(CliError::Timeout {
                tx: id.to_string(),
                secs: timeout.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
