//! Faults of the disk under the built `kvvm` binary: a disk that fills up while blocks are
//! accepted, and damaged files in the data directory at Initialize.
//!
//! The full disk is a real one: a tmpfs of a few MiB mounted for the test (root only; CI runs as
//! root, and with `CI=true` a refused mount fails the test instead of skipping it).

mod support;

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use kvvm::block::Block;
use kvvm_proto::vm as pb;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::*;

/// A tmpfs of a fixed size, unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    /// Mounts the tmpfs, or says why it could not (not root, no mount permission).
    fn mount(bytes: u64) -> Result<Self, String> {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Self { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a filler file until the filesystem has no byte left; returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.path().join("filler");
        let mut file = OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(&path)
            .unwrap();
        for chunk in [1 << 20, 4 << 10, 1] {
            let bytes = vec![0x5a; chunk];
            loop {
                match file.write_all(&bytes) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(28) => break,
                    Err(e) => panic!("filling the disk: {e}"),
                }
            }
        }
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// The small disk, or `None` when this machine does not let the test mount one outside CI.
fn small_disk(bytes: u64) -> Option<SmallDisk> {
    match SmallDisk::mount(bytes) {
        Ok(disk) => Some(disk),
        Err(reason) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI must be able to mount a tmpfs for the full-disk test: {reason}")
        }
        Err(reason) => {
            eprintln!("skipped: mounting a tmpfs needs root ({reason})");
            None
        }
    }
}

/// A block of three transactions, each putting `value_bytes` of incompressible data under a new key.
fn heavy_block(producer: &mut Producer, rng: &mut StdRng, n: u64, value_bytes: usize) -> Block {
    let txs = (0..3u8)
        .map(|sender| {
            let value: Vec<u8> = (0..value_bytes).map(|_| rng.gen()).collect();
            signed(
                60 + sender,
                n,
                vec![kvvm::tx::Operation::Put {
                    key: format!("heavy/{sender}/{n}").into_bytes(),
                    value,
                }],
            )
        })
        .collect();
    producer.extend(txs)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_fails_accept_loudly_turns_health_unhealthy_and_a_restart_resumes() {
    let Some(disk) = small_disk(8 << 20) else {
        return;
    };
    let data = disk.path().join("chain");
    let genesis = genesis_bytes();
    let mut producer = Producer::new(&genesis);
    let mut rng = StdRng::seed_from_u64(7);
    let mut plugin = spawn_plugin().await;
    plugin.start(&data, &genesis).await;
    let mut blocks: Vec<Block> = vec![Block::clone(producer.chain.last_accepted())];
    for n in 0..3 {
        let block = heavy_block(&mut producer, &mut rng, n, 2_000);
        plugin.verify(&block).await.unwrap();
        plugin.accept(&block).await.unwrap();
        blocks.push(block);
    }
    assert_eq!(plugin.health().await["database"], "ok");

    let filler = disk.fill();
    // The WAL's last page may still hold a block or two; the disk refuses soon after.
    let mut refused = None;
    for n in 3..40 {
        let block = heavy_block(&mut producer, &mut rng, n, 4_000);
        plugin.verify(&block).await.unwrap();
        match plugin.accept(&block).await {
            Ok(()) => blocks.push(block),
            Err(status) => {
                refused = Some((block, status));
                break;
            }
        }
    }
    let (failed, status) = refused.expect("accepts on a full disk must fail");
    let last_ok = blocks.last().unwrap().clone();
    assert!(
        status.message().contains("No space left on device"),
        "{status:?}"
    );
    assert_eq!(
        plugin.block_id_at(last_ok.height).await,
        Some(last_ok.id.to_vec())
    );
    assert_eq!(plugin.block_id_at(failed.height).await, None);
    let health = plugin.vm.health(()).await.unwrap_err();
    assert!(
        health
            .message()
            .contains("a write to the chain database failed")
            && health.message().contains("No space left on device"),
        "{health:?}"
    );
    let log = plugin.log_text();
    assert!(
        log.contains("ERROR") && log.contains("accepting a block failed to write"),
        "{log}"
    );
    // The node stops the chain on a failed accept; the operator frees space and restarts it.
    plugin.stop().await;
    std::fs::remove_file(filler).unwrap();

    // Nothing of the refused block stayed: no height, no transaction, no write to the state.
    {
        let store = open_plugin_store(&data);
        assert_eq!(
            store.last_accepted().unwrap(),
            Some((last_ok.id.0, last_ok.height))
        );
        assert_eq!(store.block_id_at_height(failed.height).unwrap(), None);
        for tx in &failed.txs {
            assert_eq!(store.tx_location(tx.id.as_bytes()).unwrap(), None);
        }
        assert_eq!(store.lattice().unwrap().checksum(), last_ok.state_root);
        assert_eq!(
            store.recompute_lattice().unwrap().checksum(),
            last_ok.state_root
        );
    }

    let mut plugin = spawn_plugin().await;
    let init = plugin.start(&data, &genesis).await;
    assert_eq!(init.height, last_ok.height);
    assert_eq!(init.bytes, last_ok.bytes);
    assert_eq!(plugin.health().await["database"], "ok");
    plugin.verify(&failed).await.unwrap();
    plugin.accept(&failed).await.unwrap();
    assert_eq!(plugin.stop().await.code(), Some(0));
    let store = open_plugin_store(&data);
    assert_eq!(all_entries(&store), all_entries(&producer.store));
    assert_eq!(store.lattice().unwrap().checksum(), failed.state_root);
}

// ---------------------------------------------------------------------------------------------
// Damaged files.

/// A data directory holding a chain of `BLOCKS` blocks, each with a marked incompressible value,
/// left by a clean shutdown (state in SST files) or by SIGKILL (recent state only in the WAL).
struct Populated {
    dir: tempfile::TempDir,
    genesis: Vec<u8>,
    /// The value written at each height, found verbatim in the files that hold it.
    markers: Vec<Vec<u8>>,
    last: Block,
}

const BLOCKS: u64 = 12;

async fn populated(killed: bool) -> Populated {
    let dir = tempfile::tempdir().unwrap();
    let genesis = genesis_bytes();
    let mut producer = Producer::new(&genesis);
    let mut rng = StdRng::seed_from_u64(11);
    let mut plugin = spawn_plugin().await;
    plugin.start(dir.path(), &genesis).await;
    let mut markers = Vec::new();
    let mut last = None;
    for n in 0..BLOCKS {
        let marker: Vec<u8> = (0..3_000).map(|_| rng.gen()).collect();
        let block = producer.extend(vec![signed(
            70,
            n,
            vec![kvvm::tx::Operation::Put {
                key: format!("marked/{n}").into_bytes(),
                value: marker.clone(),
            }],
        )]);
        plugin.verify(&block).await.unwrap();
        plugin.accept(&block).await.unwrap();
        markers.push(marker);
        last = Some(block);
    }
    if killed {
        plugin.kill();
    } else {
        assert_eq!(plugin.stop().await.code(), Some(0));
    }
    Populated {
        dir,
        genesis,
        markers,
        last: last.unwrap(),
    }
}

impl Populated {
    /// A copy of the data directory to damage.
    fn copy(&self) -> tempfile::TempDir {
        let copy = tempfile::tempdir().unwrap();
        // The whole data directory: the database and the chain marker beside it.
        let status = Command::new("cp")
            .arg("-a")
            .arg(self.dir.path().join("."))
            .arg(copy.path())
            .status()
            .unwrap();
        assert!(status.success());
        copy
    }
}

/// The files of the database in `data` whose name ends with `suffix`, largest first.
fn files(data: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<(u64, PathBuf)> = std::fs::read_dir(data.join("kvvm-db"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().ends_with(suffix))
        .map(|p| (std::fs::metadata(&p).unwrap().len(), p))
        .collect();
    found.sort_by_key(|(len, _)| std::cmp::Reverse(*len));
    found.into_iter().map(|(_, p)| p).collect()
}

fn truncate_to_half(path: &Path) {
    let len = std::fs::metadata(path).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
}

/// Overwrites every occurrence of `needle` in the files of `data`'s database; returns how many.
/// The table files of the `entries` column family, as RocksDB lists them: a marked value also
/// lies in its block's bytes (in `blocks`), and a data block there may hold the last accepted
/// block too, which every start reads.
fn entry_files(data: &Path) -> Vec<PathBuf> {
    let db_path = data.join("kvvm-db");
    let options = rocksdb::Options::default();
    let names = rocksdb::DB::list_cf(&options, &db_path).unwrap();
    let db = rocksdb::DB::open_cf_for_read_only(&options, &db_path, &names, false).unwrap();
    db.live_files()
        .unwrap()
        .into_iter()
        .filter(|file| file.column_family_name == "entries")
        .map(|file| db_path.join(file.name.trim_start_matches('/')))
        .collect()
}

/// Garbage in the data blocks of the entries' largest table file (a third of the way in, before
/// its index and footer): entries only the start-up scan reads.
fn entries_damaged() -> Box<dyn Fn(&Path)> {
    Box::new(|data| {
        let path = entry_files(data)
            .into_iter()
            .max_by_key(|path| std::fs::metadata(path).unwrap().len())
            .expect("the entries have a table file");
        let mut bytes = std::fs::read(&path).unwrap();
        let at = bytes.len() / 3;
        for b in &mut bytes[at..at + 64] {
            *b = !*b;
        }
        std::fs::write(&path, bytes).unwrap();
    })
}

fn scribble_over(data: &Path, needle: &[u8]) -> usize {
    let mut count = 0;
    for path in files(data, "") {
        let mut bytes = std::fs::read(&path).unwrap();
        let mut changed = false;
        let mut at = 0;
        while let Some(found) = bytes[at..].windows(needle.len()).position(|w| w == needle) {
            let start = at + found;
            // Garbage in the middle of the record, its length and framing left intact.
            for b in &mut bytes[start + 100..start + 164] {
                *b = !*b;
            }
            at = start + needle.len();
            changed = true;
            count += 1;
        }
        if changed {
            std::fs::write(&path, bytes).unwrap();
        }
    }
    count
}

/// Initialize on `data` must fail with an error naming `expected`, and the plugin then serve
/// nothing; what went otherwise is added to `wrong`, so one run reports every case.
async fn refused_at_initialize(
    wrong: &mut Vec<String>,
    case: &str,
    data: &Path,
    genesis: &[u8],
    expected: &[&str],
) {
    let mut plugin = spawn_plugin().await;
    let message = match plugin.initialize(data, genesis).await {
        Ok(init) => {
            wrong.push(format!("{case}: opened at height {}", init.height));
            return;
        }
        Err(status) => status.message().to_string(),
    };
    eprintln!("{case}: {message}");
    if !(message.contains("opening the chain") && expected.iter().all(|e| message.contains(e))) {
        wrong.push(format!("{case}: expected {expected:?} in {message:?}"));
    }
    let served = plugin
        .vm
        .get_block_id_at_height(pb::GetBlockIdAtHeightRequest { height: 1 })
        .await;
    if served.is_ok() {
        wrong.push(format!(
            "{case}: a plugin whose Initialize failed answered {served:?}"
        ));
    }
}

/// One way to damage a data directory, and the words Initialize must then say.
struct Damage {
    case: &'static str,
    apply: Box<dyn Fn(&Path)>,
    expected: &'static [&'static str],
}

impl Populated {
    /// The undamaged copy opens at the last block: the refusals are the damage's doing.
    async fn opens_undamaged(&self) {
        let copy = self.copy();
        let mut plugin = spawn_plugin().await;
        let init = plugin.start(copy.path(), &self.genesis).await;
        assert_eq!(init.bytes, self.last.bytes);
        assert_eq!(plugin.stop().await.code(), Some(0));
    }

    /// Applies each damage to its own copy and checks the refusal; what went otherwise is added to
    /// `wrong`, so one run reports every case.
    async fn refuses(&self, wrong: &mut Vec<String>, damages: Vec<Damage>) {
        for damage in damages {
            let copy = self.copy();
            (damage.apply)(copy.path());
            refused_at_initialize(
                wrong,
                damage.case,
                copy.path(),
                &self.genesis,
                damage.expected,
            )
            .await;
        }
    }

    /// The marked value written `BLOCKS / 2` blocks in, found in the WAL of a killed plugin.
    fn middle_marker(&self) -> Vec<u8> {
        self.markers[BLOCKS as usize / 2][..64].to_vec()
    }
}

fn scribbled(marker: Vec<u8>) -> Box<dyn Fn(&Path)> {
    Box::new(move |data| assert!(scribble_over(data, &marker) > 0, "the marker is on disk"))
}

#[tokio::test(flavor = "multi_thread")]
async fn damaged_database_files_are_refused_at_initialize_with_a_clear_error() {
    let mut wrong = Vec::new();
    let clean = populated(false).await;
    clean.opens_undamaged().await;
    let damages = vec![
        Damage {
            case: "CURRENT emptied",
            apply: Box::new(|d| std::fs::write(d.join("kvvm-db/CURRENT"), b"").unwrap()),
            expected: &["is damaged", "CURRENT"],
        },
        Damage {
            case: "CURRENT naming a missing manifest",
            apply: Box::new(|d| {
                std::fs::write(d.join("kvvm-db/CURRENT"), b"MANIFEST-999999\n").unwrap()
            }),
            expected: &["MANIFEST-999999"],
        },
        Damage {
            // RocksDB opens it as an empty database; the chain marker says it held a chain.
            case: "MANIFEST truncated",
            apply: Box::new(|d| {
                let manifest = files(d, "")
                    .into_iter()
                    .find(|p| {
                        p.file_name()
                            .unwrap()
                            .to_string_lossy()
                            .starts_with("MANIFEST")
                    })
                    .unwrap();
                truncate_to_half(&manifest)
            }),
            expected: &["is damaged", "kvvm-chain"],
        },
        Damage {
            case: "SST truncated",
            apply: Box::new(|d| truncate_to_half(&files(d, ".sst")[0])),
            expected: &["is damaged", "size mismatch"],
        },
        Damage {
            case: "SST deleted",
            apply: Box::new(|d| std::fs::remove_file(&files(d, ".sst")[0]).unwrap()),
            expected: &["is damaged", ".sst"],
        },
        Damage {
            // Only the start-up scan of the state reads it.
            case: "garbage in an SST record",
            apply: entries_damaged(),
            expected: &["is damaged", "checksum mismatch"],
        },
    ];
    clean.refuses(&mut wrong, damages).await;
    // With the start-up scan switched off, the same garbage is not found at Initialize: what
    // `verifyStateOnStart: false` trades for a faster start.
    {
        let copy = clean.copy();
        entries_damaged()(copy.path());
        let mut plugin = spawn_plugin().await;
        let unchecked = br#"{"verifyStateOnStart":false}"#;
        let init = plugin
            .vm
            .initialize(init_request(copy.path(), &clean.genesis, unchecked))
            .await;
        assert!(
            init.is_ok(),
            "the damage lies outside what Initialize reads without the scan: {init:?}"
        );
    }

    // A record in the middle of the WAL (the killed plugin's accepts were never flushed). RocksDB's
    // default recovery would stop there and open without the later, synced, accepted blocks.
    let killed = populated(true).await;
    killed.opens_undamaged().await;
    let damages = vec![Damage {
        case: "garbage in a WAL record",
        apply: scribbled(killed.middle_marker()),
        expected: &["is damaged", "checksum mismatch"],
    }];
    killed.refuses(&mut wrong, damages).await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
