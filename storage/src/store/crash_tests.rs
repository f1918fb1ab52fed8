//! Crash consistency: a child process accepts blocks as fast as it can and is killed with SIGKILL at a random
//! moment; whatever height survives must be a complete, self-consistent accepted state.

use std::collections::hash_map::RandomState;
use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::lattice::{entry_element, nonce_element};

/// Set in the child process to the store directory it should write to.
const CHILD_ENV: &str = "KVVM_STORAGE_CRASH_CHILD";
const TEST_NAME: &str = "store::crash_tests::state_after_sigkill_is_exactly_some_accepted_height";
const KEY_SLOTS: u64 = 7;
/// Printed by the child once genesis is durable. libtest writes "test <name> ... " on the same line first, so the
/// parent looks for it anywhere in a line.
const READY: &str = "kvvm-storage-crash-child-ready";

fn block_id(height: u64) -> BlockId {
    *blake3::hash(&height.to_be_bytes()).as_bytes()
}

fn block_bytes(height: u64) -> Vec<u8> {
    // Large enough that a batch spans more than one WAL write buffer.
    let mut bytes = format!("block {height} ").into_bytes();
    bytes.resize(4096, height as u8);
    bytes
}

fn key(slot: u64) -> Vec<u8> {
    format!("k{slot}").into_bytes()
}

fn account(n: u64) -> AccountId {
    [n as u8 + 1; 32]
}

/// The writes of one block, in the shape of [`AcceptBatch`].
struct BlockEffect {
    entry_writes: Vec<(Vec<u8>, Option<Entry>)>,
    nonce_writes: Vec<(AccountId, u64)>,
}

/// What block `height` does, deterministically, so the parent can replay it: set one key, sometimes delete
/// another, bump one account's nonce.
fn block_effect(height: u64) -> BlockEffect {
    let mut entry_writes = vec![(
        key(height % KEY_SLOTS),
        Some(Entry {
            value: format!("v{height}").into_bytes(),
            owner: account(height % 3),
            height,
        }),
    )];
    if height.is_multiple_of(4) {
        entry_writes.push((key((height + 3) % KEY_SLOTS), None));
    }
    BlockEffect {
        entry_writes,
        nonce_writes: vec![(account(height % 5), height)],
    }
}

fn genesis_entries() -> Vec<(Vec<u8>, Entry)> {
    (0..KEY_SLOTS)
        .map(|slot| {
            (
                key(slot),
                Entry {
                    value: b"genesis".to_vec(),
                    owner: account(0),
                    height: 0,
                },
            )
        })
        .collect()
}

fn lattice_of(entries: &BTreeMap<Vec<u8>, Entry>, nonces: &BTreeMap<AccountId, u64>) -> LtHash {
    let mut lattice = LtHash::identity();
    for (key, e) in entries {
        lattice.add(&entry_element(key, &e.value, &e.owner, e.height));
    }
    for (account, next) in nonces {
        lattice.add(&nonce_element(account, *next));
    }
    lattice
}

/// The child: open, write genesis if needed, then accept heights forever, updating the lattice incrementally the
/// way the vm does (subtract what a write replaces, add what it writes).
fn run_child(dir: &Path) {
    let store = ChainStore::open(dir, StoreOptions::default()).unwrap();
    if !store.is_initialized().unwrap() {
        let entries = genesis_entries();
        let lattice = lattice_of(&entries.iter().cloned().collect(), &BTreeMap::new());
        store
            .write_genesis(GenesisState {
                genesis_hash: [1; 32],
                block_id: block_id(0),
                block_bytes: block_bytes(0),
                entries,
                accounts: vec![],
                lattice,
            })
            .unwrap();
    }
    println!("{READY}");
    // A backstop so an orphaned child cannot run forever if the parent dies.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (_, mut height) = store.last_accepted().unwrap().unwrap();
    while Instant::now() < deadline {
        height += 1;
        let BlockEffect {
            entry_writes,
            nonce_writes,
        } = block_effect(height);
        let mut lattice = store.lattice().unwrap();
        for (key, write) in &entry_writes {
            if let Some(old) = store.entry(key).unwrap() {
                lattice.sub(&entry_element(key, &old.value, &old.owner, old.height));
            }
            if let Some(new) = write {
                lattice.add(&entry_element(key, &new.value, &new.owner, new.height));
            }
        }
        for (account, next) in &nonce_writes {
            let old = store.nonce(account).unwrap();
            if old != 0 {
                lattice.sub(&nonce_element(account, old));
            }
            lattice.add(&nonce_element(account, *next));
        }
        store
            .accept(AcceptBatch {
                block_id: block_id(height),
                height,
                block_bytes: block_bytes(height),
                entry_writes,
                nonce_writes,
                account_writes: vec![],
                tx_ids: vec![],
                lattice,
                pruned: vec![],
            })
            .unwrap();
    }
}

fn random_below(bound: u64) -> u64 {
    RandomState::new().hash_one(Instant::now()) % bound
}

/// Spawns the child on `dir`, lets it run for a random short while after it is ready, and SIGKILLs it.
fn run_and_kill_child(dir: &Path) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(|line| line.ok())
        .any(|line| line.contains(READY));
    assert!(
        ready,
        "child exited before it was ready: {:?}",
        child.wait()
    );

    std::thread::sleep(Duration::from_millis(10 + random_below(140)));
    if let Some(status) = child.try_wait().unwrap() {
        panic!("child stopped on its own before the kill: {status}");
    }
    // `Child::kill` sends SIGKILL on Unix: no destructors, no WAL flush, no chance to finish a batch.
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Checks that the store holds exactly the state of accepting heights 1..=H for its last accepted H.
fn assert_consistent(dir: &Path) -> u64 {
    let store = ChainStore::open(dir, StoreOptions::default()).unwrap();
    let (last_id, last_height) = store.last_accepted().unwrap().expect("genesis was written");
    assert_eq!(last_id, block_id(last_height));

    for height in 0..=last_height {
        assert_eq!(
            store.block_id_at_height(height).unwrap(),
            Some(block_id(height))
        );
        assert_eq!(
            store.block(&block_id(height)).unwrap(),
            Some(block_bytes(height))
        );
        assert_eq!(
            store.block_status(&block_id(height)).unwrap(),
            Some(BlockStatus::Accepted { height })
        );
    }
    assert_eq!(store.block_id_at_height(last_height + 1).unwrap(), None);
    assert_eq!(store.block(&block_id(last_height + 1)).unwrap(), None);

    let mut entries: BTreeMap<Vec<u8>, Entry> = genesis_entries().into_iter().collect();
    let mut nonces = BTreeMap::new();
    for height in 1..=last_height {
        let BlockEffect {
            entry_writes,
            nonce_writes,
        } = block_effect(height);
        for (key, write) in entry_writes {
            match write {
                Some(e) => entries.insert(key, e),
                None => entries.remove(&key),
            };
        }
        nonces.extend(nonce_writes);
    }
    let stored: BTreeMap<Vec<u8>, Entry> = store
        .entries_with_prefix(b"", None, usize::MAX)
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(stored, entries, "entries at height {last_height}");
    for n in 0..5 {
        let expected = nonces.get(&account(n)).copied().unwrap_or(0);
        assert_eq!(
            store.nonce(&account(n)).unwrap(),
            expected,
            "nonce of account {n}"
        );
    }

    let expected_root = lattice_of(&entries, &nonces).checksum();
    assert_eq!(store.lattice().unwrap().checksum(), expected_root);
    assert_eq!(store.recompute_lattice().unwrap().checksum(), expected_root);
    last_height
}

#[test]
fn state_after_sigkill_is_exactly_some_accepted_height() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        run_child(Path::new(&dir));
        return;
    }
    let dir = tempfile::TempDir::new().unwrap();
    let mut previous = 0;
    for round in 0..8 {
        run_and_kill_child(dir.path());
        let height = assert_consistent(dir.path());
        assert!(
            height >= previous,
            "round {round}: height went back from {previous} to {height}"
        );
        eprintln!("round {round}: last accepted height {height}");
        previous = height;
    }
    assert!(
        previous > 0,
        "the children never accepted a block; the test proved nothing"
    );
}
