//! What the commands print: one line or a few for people, or pretty JSON with `--json`.
//!
//! Keys and values print through [`KvBytes`]'s `Display`, the same text-or-`0x`-hex the API and the
//! command line use, so anything printed can be typed back.

use std::path::Path;

use ed25519_dalek::SigningKey;
use kvvm_rpc::{AccountView, BlockRef, ChainInfo, EntryView, KvBytes, ListPage, TxStatusView};
use serde::Serialize;

pub(crate) fn print_json(value: &impl Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("views serialize")
    );
}

pub(crate) fn show_key(path: &Path, key: &SigningKey, json: bool) {
    let account = hex::encode(key.verifying_key().to_bytes());
    if json {
        print_json(&serde_json::json!({ "account": account, "keyFile": path }));
    } else {
        println!("account {account}\nkey file {}", path.display());
    }
}

pub(crate) fn print_entry(key: &KvBytes, entry: &Option<EntryView>, json: bool) {
    if json {
        return print_json(entry);
    }
    match entry {
        Some(e) => println!("{}\n  owner  {}\n  height {}", e.value, e.owner, e.height),
        None => println!("(not found: {key})"),
    }
}

pub(crate) fn print_page(page: &ListPage, json: bool) {
    if json {
        return print_json(page);
    }
    for e in &page.entries {
        println!("{} = {}", e.key, e.value);
    }
    if let Some(next) = &page.next_cursor {
        println!("(more: --after {next})");
    }
}

pub(crate) fn print_status(tx: &str, status: &TxStatusView, json: bool) {
    if json {
        return print_json(status);
    }
    let word = format!("{:?}", status.status).to_lowercase();
    match (&status.block_height, &status.block_id, &status.reason) {
        (Some(h), Some(b), _) => println!("{tx} {word} at height {h} in block {b}"),
        (_, _, Some(r)) => println!("{tx} {word}: {r}"),
        _ => println!("{tx} {word}"),
    }
}

pub(crate) fn print_info(info: &ChainInfo, tip: &BlockRef, json: bool) {
    if json {
        return print_json(&serde_json::json!({ "chain": info, "lastAccepted": tip }));
    }
    let limits = &info.limits;
    println!(
        "chain        {} (network {})",
        info.chain_id, info.network_id
    );
    println!("genesis      {}", info.genesis_hash);
    println!("last block   {} at height {}", tip.id, tip.height);
    println!(
        "limits       key {} B, value {} B, {} ops/tx, tx {} B, {} txs/block",
        limits.max_key_bytes,
        limits.max_value_bytes,
        limits.max_ops_per_tx,
        limits.max_tx_bytes,
        limits.max_txs_per_block
    );
    let quota = match &info.access.default_quota {
        Some(q) => format!("{} keys, {} B per account", q.max_keys, q.max_bytes),
        None => "no quota".into(),
    };
    println!("writing      {}, {quota}", info.access.mode);
    println!(
        "vm           kvvm {} (rpcchainvm {})",
        info.vm_version, info.rpcchainvm_protocol
    );
}

pub(crate) fn print_account(view: &AccountView, json: bool) {
    if json {
        return print_json(view);
    }
    let role = serde_json::to_value(view.role).expect("roles serialize");
    let quota = match &view.quota {
        Some(q) => format!(
            "{} keys, {} B{}",
            q.max_keys,
            q.max_bytes,
            if view.quota_override {
                " (override)"
            } else {
                ""
            }
        ),
        None => "no limit".into(),
    };
    println!("account {}", view.account);
    println!("  nonce  {}", view.nonce);
    println!("  role   {}", role.as_str().unwrap_or("?"));
    println!("  stores {} keys, {} B", view.keys_used, view.bytes_used);
    println!("  quota  {quota}");
}
