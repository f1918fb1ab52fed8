//! The crash loop: the built `kvvm` binary is driven the way the node drives it (Initialize, then
//! verify and accept of a stream of blocks with transactions) and SIGKILLed at random instants —
//! during Initialize, during verify, during accept's synced write, during Shutdown — then restarted
//! on the same data directory and driven on.
//!
//! After every restart: no acknowledged accept is lost, the last accepted block never goes
//! backwards, it is the uninterrupted twin's block at that height (the `Producer`, which built the
//! stream on its own database without kills), and Initialize succeeds at once (the chain config
//! sets `dbLockWaitMs` to 0, so a lock left on the database would fail it). At the end: every height
//! holds the twin's block, and the state (entries, nonces, lattice) equals the twin's.
//!
//! `KVVM_CRASH_KILLS` sets the number of kills (default 50, the CI sample; the full run is 1,000),
//! `KVVM_CRASH_SEED` the seed of every random choice (printed on failure). The seed fixes the
//! transactions, each cycle's mode and its kill delay; where in the plugin's code a delay lands
//! still depends on the machine's speed, so a failure reproduces by running its seed again, most
//! often at once, sometimes after a few tries.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kvvm::block::Block;
use kvvm::tx::{Operation, Transaction};
use kvvm_proto::vm as pb;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::*;
use tokio::sync::watch;
use tonic::transport::Channel;
use tonic::Status;

const DEFAULT_KILLS: u64 = 50;
/// Accounts sending the stream's transactions (key seeds that no genesis entry uses).
const ACCOUNTS: std::ops::Range<u8> = 40..48;
/// Keys each account writes, so entries are overwritten and deleted, not only added.
const KEYS_PER_ACCOUNT: u32 = 24;
/// Blocks built ahead of the plugin: more than a cycle can accept before its kill.
const BLOCKS_AHEAD: usize = 400;
/// How long a streaming cycle may run before its kill, at most.
const STREAM_KILL_WINDOW: Duration = Duration::from_millis(700);
/// Bound on anything the driver waits for; a hang is a failure, not a slow test.
const STEP_TIMEOUT: Duration = Duration::from_secs(30);
/// The chain config of every start: a lock left on the database fails Initialize at once.
const NO_LOCK_WAIT: &[u8] = br#"{"dbLockWaitMs":0}"#;

/// Where in the node's sequence a cycle aims its kill.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Mode {
    /// Kill within Initialize (opening RocksDB, writing genesis on the first cycle, checking the tip).
    Initialize,
    /// Kill at a random instant of a stream of verify and accept calls.
    Stream,
    /// Kill within one accept, whose synced write is in flight.
    AcceptWrite,
    /// Kill within Shutdown (closing gossip, flushing the WAL and memtables).
    Shutdown,
}

/// What the driver is doing; read at the kill instant to count where kills landed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Initializing,
    Starting,
    Verifying,
    Accepting,
    /// Between calls, or out of blocks to send.
    Idle,
    ShuttingDown,
    /// The driver finished its sequence (a Shutdown that completed before the kill).
    Done,
}

/// A stream of valid blocks, built by an uninterrupted twin on its own database.
struct Stream {
    producer: Producer,
    /// `blocks[h]` is the block at height h (index 0 holds genesis).
    blocks: Vec<Block>,
    nonces: BTreeMap<u8, u64>,
    /// Keys each account currently holds, so deletes only name existing keys.
    held: BTreeMap<u8, BTreeSet<u32>>,
}

impl Stream {
    fn new(genesis: &[u8]) -> Self {
        let producer = Producer::new(genesis);
        let genesis_block = Block::clone(producer.chain.last_accepted());
        Self {
            producer,
            blocks: vec![genesis_block],
            nonces: ACCOUNTS.map(|a| (a, 0)).collect(),
            held: ACCOUNTS.map(|a| (a, BTreeSet::new())).collect(),
        }
    }

    /// Builds blocks until the stream reaches `height`.
    fn extend_to(&mut self, height: usize, rng: &mut StdRng) {
        while self.blocks.len() <= height {
            let txs = self.random_txs(rng);
            let block = self.producer.extend(txs);
            assert_eq!(block.height as usize, self.blocks.len());
            self.blocks.push(block);
        }
    }

    /// One to four transactions from distinct accounts, each putting or deleting its own keys.
    fn random_txs(&mut self, rng: &mut StdRng) -> Vec<Transaction> {
        let count = rng.gen_range(1..=4);
        let mut senders: Vec<u8> = ACCOUNTS.collect();
        let mut txs = Vec::with_capacity(count);
        for _ in 0..count {
            let sender = senders.swap_remove(rng.gen_range(0..senders.len()));
            let held = self.held.get_mut(&sender).expect("every account has a set");
            let mut touched = BTreeSet::new();
            let mut ops = Vec::new();
            for _ in 0..rng.gen_range(1..=3) {
                let slot = rng.gen_range(0..KEYS_PER_ACCOUNT);
                if !touched.insert(slot) {
                    continue;
                }
                let key = format!("crash/{sender}/{slot}").into_bytes();
                if held.contains(&slot) && rng.gen_bool(0.3) {
                    held.remove(&slot);
                    ops.push(Operation::Delete { key });
                } else {
                    held.insert(slot);
                    let len = rng.gen_range(0..300);
                    let value = (0..len).map(|_| rng.gen::<u8>()).collect();
                    ops.push(Operation::Put { key, value });
                }
            }
            let nonce = self
                .nonces
                .get_mut(&sender)
                .expect("every account has a nonce");
            txs.push(signed(sender, *nonce, ops));
            *nonce += 1;
        }
        txs
    }
}

/// What a cycle's driver reports once its plugin is dead or its sequence is done.
#[derive(Default)]
struct Report {
    /// Height and bytes of the last accepted block Initialize returned.
    initialized: Option<(u64, Vec<u8>)>,
    /// A call that failed while the plugin had not been killed: always a bug.
    failure: Option<String>,
}

/// Shared between a cycle's driver and the killer.
struct Progress {
    phase: watch::Sender<Phase>,
    /// Highest height whose accept returned OK: it must survive.
    acked: AtomicU64,
    /// Highest height whose accept was sent: a restart may be at most here.
    sent: AtomicU64,
    killed: AtomicBool,
    /// Round-trip times of Initialize, of the last accept and of Shutdown, in microseconds, to aim
    /// the kills.
    initialize_us: AtomicU64,
    accept_us: AtomicU64,
    shutdown_us: AtomicU64,
}

impl Progress {
    fn new() -> Self {
        Self {
            phase: watch::channel(Phase::Initializing).0,
            acked: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            killed: AtomicBool::new(false),
            initialize_us: AtomicU64::new(0),
            accept_us: AtomicU64::new(0),
            shutdown_us: AtomicU64::new(0),
        }
    }
}

/// The blocks a cycle may send: `blocks[i]` is at height `base + i`.
struct Window {
    base: u64,
    blocks: Vec<Block>,
}

impl Window {
    fn at(&self, height: u64) -> Option<&Block> {
        let index = height.checked_sub(self.base)?;
        self.blocks.get(usize::try_from(index).ok()?)
    }
}

/// Runs the node's sequence against one plugin until its calls fail (the kill) or it is done.
async fn drive(
    mut vm: kvvm_proto::vm::vm_client::VmClient<Channel>,
    data_dir: std::path::PathBuf,
    genesis: Vec<u8>,
    window: Window,
    mode: Mode,
    blocks_before_shutdown: usize,
    progress: Arc<Progress>,
) -> Report {
    let mut report = Report::default();
    let outcome: Result<(), (&str, Status)> = async {
        progress.phase.send_replace(Phase::Initializing);
        let started = Instant::now();
        let init = vm
            .initialize(init_request(&data_dir, &genesis, NO_LOCK_WAIT))
            .await
            .map_err(|s| ("Initialize", s))?
            .into_inner();
        progress
            .initialize_us
            .store(started.elapsed().as_micros() as u64, Ordering::SeqCst);
        report.initialized = Some((init.height, init.bytes.clone()));
        progress.phase.send_replace(Phase::Starting);
        for state in [pb::State::Bootstrapping, pb::State::NormalOp] {
            vm.set_state(pb::SetStateRequest {
                state: state as i32,
            })
            .await
            .map_err(|s| ("SetState", s))?;
        }
        let mut height = init.height;
        let mut streamed = 0;
        loop {
            if mode == Mode::Shutdown && streamed == blocks_before_shutdown {
                progress.phase.send_replace(Phase::ShuttingDown);
                let started = Instant::now();
                vm.shutdown(()).await.map_err(|s| ("Shutdown", s))?;
                progress
                    .shutdown_us
                    .store(started.elapsed().as_micros() as u64, Ordering::SeqCst);
                progress.phase.send_replace(Phase::Done);
                return Ok(());
            }
            let Some(block) = window.at(height + 1) else {
                progress.phase.send_replace(Phase::Idle);
                std::future::pending::<()>().await;
                unreachable!("pending never resolves");
            };
            progress.phase.send_replace(Phase::Verifying);
            vm.block_verify(pb::BlockVerifyRequest {
                bytes: block.bytes.clone(),
                p_chain_height: None,
            })
            .await
            .map_err(|s| ("BlockVerify", s))?;
            vm.set_preference(pb::SetPreferenceRequest {
                id: block.id.to_vec(),
            })
            .await
            .map_err(|s| ("SetPreference", s))?;
            progress.sent.fetch_max(block.height, Ordering::SeqCst);
            progress.phase.send_replace(Phase::Accepting);
            let started = Instant::now();
            vm.block_accept(pb::BlockAcceptRequest {
                id: block.id.to_vec(),
            })
            .await
            .map_err(|s| ("BlockAccept", s))?;
            progress
                .accept_us
                .store(started.elapsed().as_micros() as u64, Ordering::SeqCst);
            progress.acked.fetch_max(block.height, Ordering::SeqCst);
            progress.phase.send_replace(Phase::Idle);
            height += 1;
            streamed += 1;
        }
    }
    .await;
    if let Err((call, status)) = outcome {
        if !progress.killed.load(Ordering::SeqCst) {
            report.failure = Some(format!("{call} failed before any kill: {status:?}"));
        }
    }
    report
}

/// Reads an optional numeric environment variable, refusing a value that does not parse.
fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not an unsigned integer")),
    )
}

/// Prints the seed when the loop fails, so the run can be repeated.
struct SeedOnFailure(u64);

impl Drop for SeedOnFailure {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "crash loop failed; reproduce with KVVM_CRASH_SEED={} (and the same KVVM_CRASH_KILLS)",
                self.0
            );
        }
    }
}

/// A duration in `[0, max)`, chosen by the seeded generator.
fn random_delay(rng: &mut StdRng, max: Duration) -> Duration {
    let max_us = max.as_micros().max(1) as u64;
    Duration::from_micros(rng.gen_range(0..max_us))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_instants_loses_no_accepted_block_and_matches_an_uninterrupted_twin() {
    let kills = env_u64("KVVM_CRASH_KILLS").unwrap_or(DEFAULT_KILLS);
    let seed = env_u64("KVVM_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("the clock is after 1970")
            .as_nanos() as u64
    });
    let _report_seed = SeedOnFailure(seed);
    eprintln!("crash loop: KVVM_CRASH_SEED={seed} KVVM_CRASH_KILLS={kills}");
    let mut rng = StdRng::seed_from_u64(seed);

    let genesis = genesis_bytes();
    let data = tempfile::tempdir().unwrap();
    let mut stream = Stream::new(&genesis);

    let began = Instant::now();
    // Where the durable height may be: at least `floor` (acknowledged), at most `ceiling` (sent).
    let mut floor = 0u64;
    let mut ceiling = 0u64;
    let mut restarts_checked = 0u64;
    let mut landed: BTreeMap<(Mode, Phase), u64> = BTreeMap::new();
    // Measured durations that aim the kills of the short phases; refined as the loop runs.
    let mut initialize_time = Duration::from_millis(100);
    let mut accept_time = Duration::from_millis(5);
    let mut shutdown_time = Duration::from_millis(50);

    for cycle in 0..kills {
        stream.extend_to(floor as usize + BLOCKS_AHEAD, &mut rng);
        let window = Window {
            base: floor,
            blocks: stream.blocks[floor as usize..].to_vec(),
        };
        let mode = match rng.gen_range(0..10) {
            0..=1 => Mode::Initialize,
            2..=5 => Mode::Stream,
            6..=7 => Mode::AcceptWrite,
            _ => Mode::Shutdown,
        };
        let blocks_before_shutdown = rng.gen_range(0..4);
        let mut plugin = spawn_plugin().await;
        let progress = Arc::new(Progress::new());
        let mut phase = progress.phase.subscribe();
        let driver = tokio::spawn(drive(
            plugin.vm.clone(),
            data.path().to_path_buf(),
            genesis.clone(),
            window,
            mode,
            blocks_before_shutdown,
            progress.clone(),
        ));

        // Wait for the instant this cycle aims at, then a random part of that phase's duration.
        let delay = match mode {
            Mode::Initialize => random_delay(&mut rng, initialize_time),
            Mode::Stream => {
                wait_for_phase(&mut phase, &driver, |p| p >= Phase::Verifying).await;
                random_delay(&mut rng, STREAM_KILL_WINDOW)
            }
            Mode::AcceptWrite => {
                wait_for_phase(&mut phase, &driver, |p| p == Phase::Accepting).await;
                random_delay(&mut rng, accept_time)
            }
            Mode::Shutdown => {
                wait_for_phase(&mut phase, &driver, |p| p >= Phase::ShuttingDown).await;
                random_delay(&mut rng, shutdown_time)
            }
        };
        tokio::time::sleep(delay).await;
        let at_kill = *phase.borrow();
        progress.killed.store(true, Ordering::SeqCst);
        plugin.child.kill().unwrap();
        plugin.child.wait().unwrap();
        *landed.entry((mode, at_kill)).or_default() += 1;

        let report = tokio::time::timeout(STEP_TIMEOUT, driver)
            .await
            .expect("the driver ends once its plugin is dead")
            .expect("the driver does not panic");
        let log = plugin.log_text();
        if let Some(failure) = &report.failure {
            panic!("cycle {cycle} ({mode:?}): {failure}\nplugin log:\n{log}");
        }
        if let Some((height, bytes)) = &report.initialized {
            assert!(
                floor <= *height && *height <= ceiling,
                "cycle {cycle}: restarted at height {height}, but accepts were acknowledged up to \
                 {floor} and sent up to {ceiling}\nplugin log:\n{log}"
            );
            assert_eq!(
                bytes, &stream.blocks[*height as usize].bytes,
                "cycle {cycle}: the last accepted block at height {height} is not the twin's"
            );
            restarts_checked += 1;
            floor = *height;
            ceiling = *height;
        }
        initialize_time = measured(initialize_time, &progress.initialize_us);
        accept_time = measured(accept_time, &progress.accept_us);
        shutdown_time = measured(shutdown_time, &progress.shutdown_us);
        floor = floor.max(progress.acked.load(Ordering::SeqCst));
        ceiling = ceiling.max(progress.sent.load(Ordering::SeqCst)).max(floor);
        if (cycle + 1) % 100 == 0 {
            eprintln!(
                "crash loop: {} kills, height {floor}, {} s",
                cycle + 1,
                began.elapsed().as_secs()
            );
        }
    }

    // One last, uninterrupted run: resume, catch up with the twin, shut down cleanly.
    let mut plugin = spawn_plugin().await;
    let init = plugin
        .vm
        .initialize(init_request(data.path(), &genesis, NO_LOCK_WAIT))
        .await
        .unwrap_or_else(|s| panic!("the final restart failed: {s:?}\n{}", plugin.log_text()))
        .into_inner();
    assert!(floor <= init.height && init.height <= ceiling);
    assert_eq!(init.bytes, stream.blocks[init.height as usize].bytes);
    for block in &stream.blocks[init.height as usize + 1..] {
        plugin.verify(block).await.unwrap();
        plugin.accept(block).await.unwrap();
    }
    let last = stream.blocks.last().unwrap().clone();
    assert_eq!(plugin.last_accepted_height().await, last.height);
    assert_eq!(plugin.stop().await.code(), Some(0));

    let store = open_plugin_store(data.path());
    for (height, block) in stream.blocks.iter().enumerate() {
        assert_eq!(
            store.block_id_at_height(height as u64).unwrap(),
            Some(block.id.0),
            "height {height} does not hold the twin's block"
        );
    }
    assert_eq!(all_entries(&store), all_entries(&stream.producer.store));
    assert_eq!(store.lattice().unwrap().checksum(), last.state_root);
    assert_eq!(
        store.recompute_lattice().unwrap().checksum(),
        last.state_root
    );
    for account in ACCOUNTS {
        assert_eq!(
            store.nonce(&support::account(account)).unwrap(),
            stream
                .producer
                .store
                .nonce(&support::account(account))
                .unwrap()
        );
    }

    eprintln!(
        "crash loop: {kills} kills, {restarts_checked} restarts checked, {} blocks, {} s, seed {seed}",
        last.height,
        began.elapsed().as_secs()
    );
    for ((mode, phase), count) in &landed {
        eprintln!("  aimed at {mode:?}, landed in {phase:?}: {count}");
    }
    // The kills reach every phase the loop aims at, in a sample large enough to expect it.
    if kills >= DEFAULT_KILLS {
        for phase in [Phase::Initializing, Phase::Verifying, Phase::Accepting] {
            assert!(
                landed.keys().any(|(_, p)| *p == phase),
                "no kill landed in {phase:?} in {kills} kills: {landed:?}"
            );
        }
    }
}

/// Waits until the driver's phase satisfies `reached`, or the driver ended (a failure it reports),
/// within [`STEP_TIMEOUT`].
async fn wait_for_phase(
    phase: &mut watch::Receiver<Phase>,
    driver: &tokio::task::JoinHandle<Report>,
    reached: impl Fn(Phase) -> bool,
) {
    let deadline = Instant::now() + STEP_TIMEOUT;
    while !driver.is_finished() {
        assert!(
            Instant::now() < deadline,
            "the driver did not reach the phase the kill aims at within {STEP_TIMEOUT:?}"
        );
        let slice =
            tokio::time::timeout(Duration::from_millis(20), phase.wait_for(|p| reached(*p)));
        if let Ok(changed) = slice.await {
            changed.expect("the progress holds the phase sender");
            return;
        }
    }
}

/// A phase duration refined by one new measurement (0: none this cycle), to aim later kills.
fn measured(previous: Duration, latest_us: &AtomicU64) -> Duration {
    match latest_us.load(Ordering::SeqCst) {
        0 => previous,
        us => (previous + Duration::from_micros(us)) / 2,
    }
}
