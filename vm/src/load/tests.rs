use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use clap::Parser;

use super::ledger::{Ledger, Refusal, Tally};
use super::pace::Pacer;
use super::plan::{batches, batches_of, BatchLimits, Keys, Shape};
use super::procstat::{self, parse_cpu_ticks, parse_resident, ProcessGroup};
use super::report::{Medians, RunFigures};
use super::roots::{all_equal, NodeRoot};
use super::run::{record_answers, RunOutcome};
use super::stats::{median, percentile};
use super::traffic::{
    metrics_url, parse_sent_bytes, parse_signature_checks, signature_checks_per_tx, Carries,
    LinkTraffic, NodeCounters, TrafficReader,
};
use super::watch::Watched;
use super::LoadCommand;
use crate::tx::Transaction;
use kvvm_rpc::Hex32;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn percentiles_are_nearest_rank() {
    let values: Vec<Duration> = (1..=100).map(ms).collect();
    assert_eq!(percentile(&values, 50.0), Some(ms(50)));
    assert_eq!(percentile(&values, 95.0), Some(ms(95)));
    assert_eq!(percentile(&values, 99.0), Some(ms(99)));
    assert_eq!(percentile(&values, 100.0), Some(ms(100)));
    let few = [ms(10), ms(20), ms(30)];
    assert_eq!(percentile(&few, 50.0), Some(ms(20)));
    assert_eq!(percentile(&few, 99.0), Some(ms(30)));
    assert_eq!(percentile(&[ms(7)], 1.0), Some(ms(7)));
    assert_eq!(percentile(&[], 50.0), None);
}

#[test]
fn medians_take_the_middle_and_skip_nan() {
    assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    assert_eq!(median(&[f64::NAN, 5.0]), Some(5.0));
    assert_eq!(median(&[]), None);
}

#[test]
fn an_offered_rate_spaces_batches_from_the_start() {
    let paced = Pacer {
        rate: Some(1_000.0),
    };
    assert_eq!(paced.due(0), Duration::ZERO);
    assert_eq!(paced.due(500), ms(500));
    assert_eq!(paced.due(2_000), ms(2_000));
    let unpaced = Pacer { rate: None };
    assert_eq!(unpaced.due(1_000_000), Duration::ZERO);
}

fn id(n: u8) -> [u8; 32] {
    [n; 32]
}

#[test]
fn the_window_bounds_what_an_account_has_in_flight() {
    // Transactions 0–2 of account 0, 3 of account 1; window 2.
    let mut ledger = Ledger::new([(id(0), 0), (id(1), 0), (id(2), 0), (id(3), 1)], 2, 100);
    assert!(ledger.has_room(&[0, 1, 3]));
    assert!(!ledger.has_room(&[0, 1, 2]), "three of account 0 exceed 2");
    let t0 = Instant::now();
    ledger.sent(&[0, 1], t0);
    assert!(!ledger.has_room(&[2]));
    assert!(ledger.has_room(&[3]), "another account's window is its own");
    ledger.answered(0, Ok(()));
    assert!(!ledger.has_room(&[2]), "taken is still in flight");
    ledger.answered(1, Err(Refusal::Code(1009)));
    assert!(ledger.has_room(&[2]), "a refusal frees room");
    ledger.sent(&[2], t0);
    assert_eq!(ledger.accepted_block(5, &[id(0)], t0 + ms(10)), 1);
    assert_eq!(ledger.decided(), 2, "one refused, one accepted");
    assert!(!ledger.all_sent_resolved());
    ledger.answered(2, Ok(()));
    ledger.accepted_block(6, &[id(2), [9; 32]], t0 + ms(30));
    assert!(ledger.all_sent_resolved());
    assert!(ledger.has_room(&[3]));
}

#[test]
fn the_tally_counts_acceptance_refusal_loss_and_duplicates() {
    let t0 = Instant::now();
    let mut ledger = Ledger::new((0..5).map(|n| (id(n), n as usize)), 8, 100);
    ledger.sent(&[0, 1, 2, 3], t0);
    ledger.answered(0, Ok(()));
    ledger.answered(1, Ok(()));
    ledger.answered(2, Err(Refusal::Code(1006)));
    ledger.answered(3, Err(Refusal::Transport));
    // 0 accepted twice, 1 never (lost), 3 accepted though its call failed; 4 never sent.
    ledger.accepted_block(10, &[id(0), [0xee; 32]], t0 + ms(100));
    ledger.accepted_block(11, &[id(0), id(3)], t0 + ms(400));
    let tally: Tally = ledger.tally();
    assert_eq!((tally.planned, tally.sent, tally.taken), (5, 4, 2));
    assert_eq!(
        tally.refused,
        BTreeMap::from([(Refusal::Code(1006), 1), (Refusal::Transport, 1)])
    );
    assert_eq!(tally.accepted, 2);
    assert_eq!(tally.lost, 1);
    assert_eq!(tally.duplicates, 1);
    assert_eq!(tally.accepted_though_refused, 1);
    assert_eq!(tally.latencies, vec![ms(100), ms(400)]);
    assert_eq!(tally.span, Some(ms(400)));
    let blocks: Vec<(u64, usize, usize)> = tally
        .blocks
        .iter()
        .map(|b| (b.height, b.txs, b.ours))
        .collect();
    assert_eq!(blocks, vec![(10, 2, 1), (11, 2, 2)]);
}

fn shape(accounts: usize, keys: Keys) -> Shape {
    Shape {
        seed: 7,
        accounts,
        ops_per_tx: 2,
        value_bytes: 8,
        keys,
    }
}

#[test]
fn the_plan_takes_accounts_in_turn_from_their_next_nonces() {
    let shape = shape(3, Keys::Distinct);
    let signers = shape.accounts();
    let plan = shape.sign([4; 32], &signers, &[0, 5, 9], 7);
    let decoded: Vec<Transaction> = plan
        .iter()
        .map(|s| Transaction::decode(&s.bytes.0, usize::MAX).unwrap())
        .collect();
    let order: Vec<(usize, u64)> = plan
        .iter()
        .zip(&decoded)
        .map(|(s, tx)| (s.account, tx.nonce()))
        .collect();
    assert_eq!(
        order,
        vec![(0, 0), (1, 5), (2, 9), (0, 1), (1, 6), (2, 10), (0, 2)]
    );
    for (signed, tx) in plan.iter().zip(&decoded) {
        assert_eq!(signed.id, tx.id.0);
        assert_eq!(
            tx.sender(),
            &signers[signed.account].verifying_key().to_bytes()
        );
        tx.verify_signature().unwrap();
        assert_eq!(tx.ops().len(), 2);
    }
    let keys = keys_written(&decoded);
    assert_eq!(keys.len(), 14, "every put writes a key of its own");
}

/// The distinct keys `txs` put or delete.
fn keys_written(txs: &[Transaction]) -> std::collections::HashSet<Vec<u8>> {
    txs.iter()
        .flat_map(|tx| {
            tx.ops()
                .iter()
                .filter_map(|op| op.key().map(<[u8]>::to_vec))
        })
        .collect()
}

#[test]
fn a_single_writer_rewrites_one_key_with_changing_values() {
    let shape = shape(1, Keys::Shared);
    let plan = shape.sign([4; 32], &shape.accounts(), &[0], 3);
    let decoded: Vec<Transaction> = plan
        .iter()
        .map(|s| Transaction::decode(&s.bytes.0, usize::MAX).unwrap())
        .collect();
    let keys = keys_written(&decoded);
    assert_eq!(keys.len(), 1);
    let values: std::collections::HashSet<Vec<u8>> = decoded
        .iter()
        .map(|tx| match &tx.ops()[0] {
            crate::tx::Operation::Put { value, .. } => value.clone(),
            other => panic!("not a put: {other:?}"),
        })
        .collect();
    assert_eq!(values.len(), 3);
    let other_seed = Shape { seed: 8, ..shape };
    assert_ne!(
        other_seed.accounts()[0].verifying_key(),
        plan_signer(&decoded[0]),
        "another seed, another account"
    );
}

fn plan_signer(tx: &Transaction) -> ed25519_dalek::VerifyingKey {
    ed25519_dalek::VerifyingKey::from_bytes(tx.sender()).unwrap()
}

#[test]
fn batches_keep_each_account_on_one_node_in_order_and_nodes_take_turns() {
    let shape = shape(4, Keys::Distinct);
    let plan = shape.sign([4; 32], &shape.accounts(), &[0; 4], 10);
    // Accounts 0 and 2 go to node 0 (plan indexes 0,2,4,6,8), 1 and 3 to node 1.
    let by_count = |txs| BatchLimits {
        txs,
        hex_bytes: usize::MAX,
    };
    let cut = batches(&plan, 2, by_count(2));
    assert_eq!(
        cut,
        vec![
            (0, vec![0, 2]),
            (1, vec![1, 3]),
            (0, vec![4, 6]),
            (1, vec![5, 7]),
            (0, vec![8]),
            (1, vec![9]),
        ]
    );
    let one_node = batches(&plan, 1, by_count(4));
    assert_eq!(one_node.len(), 3);
    assert!(one_node.iter().all(|(node, _)| *node == 0));
    assert_eq!(
        one_node
            .iter()
            .flat_map(|(_, b)| b.clone())
            .collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );
}

#[test]
fn proc_stat_cpu_is_read_past_a_command_name_with_spaces_and_parentheses() {
    let mut fields = vec!["S"; 50];
    fields[11] = "250"; // utime, field 14
    fields[12] = "50"; // stime, field 15
    let stat = format!("4242 (a (weird) name) {}", fields.join(" "));
    assert_eq!(parse_cpu_ticks(&stat), Some(300));
    assert_eq!(parse_cpu_ticks("4242 (short) S 1 2"), None);
    assert_eq!(parse_cpu_ticks("no parenthesis"), None);
    let own = procstat::cpu_seconds(std::process::id()).unwrap();
    assert!(own >= 0.0);
    let gone = procstat::cpu_seconds(u32::MAX).unwrap_err().to_string();
    assert!(gone.contains(&u32::MAX.to_string()), "{gone}");
}

#[test]
fn proc_status_resident_memory_is_read_in_bytes() {
    let status = "Name:\tkvvm\nVmPeak:\t  900000 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nThreads:\t9\n";
    let memory = parse_resident(status).unwrap();
    assert_eq!(memory.now_bytes, 10 << 20);
    assert_eq!(memory.peak_bytes, 20 << 20);
    assert_eq!(parse_resident("Name:\tkvvm\nVmRSS:\t10240 kB\n"), None);
    assert_eq!(parse_resident("VmHWM:\t1 MB\nVmRSS:\t1 kB\n"), None);
    let own = procstat::resident(std::process::id()).unwrap();
    assert!(
        own.peak_bytes >= own.now_bytes && own.now_bytes > 0,
        "{own:?}"
    );
    let groups = [ProcessGroup {
        kind: "self".into(),
        pids: vec![std::process::id(), u32::MAX],
    }];
    // The process that is not there is left out; this one is measured.
    let peaks = procstat::largest_peaks(&groups);
    assert!(peaks["self"] >= own.peak_bytes, "{peaks:?}");
}

#[test]
fn process_groups_parse_kind_and_pids() {
    let group: ProcessGroup = "avalanchego=1,22,333".parse().unwrap();
    assert_eq!(group.kind, "avalanchego");
    assert_eq!(group.pids, vec![1, 22, 333]);
    for bad in ["kvvm", "=1", "kvvm=", "kvvm=x"] {
        assert!(bad.parse::<ProcessGroup>().is_err(), "{bad} accepted");
    }
}

fn root(url: &str, block: u8, error: Option<&str>) -> NodeRoot {
    NodeRoot {
        url: url.into(),
        block_id: error.is_none().then_some(Hex32([block; 32])),
        state_root: error.is_none().then_some(Hex32([block ^ 0xff; 32])),
        error: error.map(str::to_string),
    }
}

#[test]
fn roots_are_equal_only_if_every_node_gave_the_same_block() {
    assert!(all_equal(&[root("a", 1, None), root("b", 1, None)]));
    assert!(!all_equal(&[root("a", 1, None), root("b", 2, None)]));
    assert!(!all_equal(&[
        root("a", 1, None),
        root("b", 1, Some("late"))
    ]));
    assert!(!all_equal(&[]));
}

fn outcome(latency_ms: &[u64], span_ms: u64, lost: usize, kvvm_cpu: f64) -> RunOutcome {
    let mut latencies: Vec<Duration> = latency_ms.iter().copied().map(ms).collect();
    latencies.sort();
    RunOutcome {
        tally: Tally {
            planned: latency_ms.len() + lost,
            sent: latency_ms.len() + lost,
            taken: latency_ms.len() + lost,
            accepted: latency_ms.len(),
            lost,
            latencies,
            span: Some(ms(span_ms)),
            ..Tally::default()
        },
        watched: Watched {
            height: 9,
            errors: 0,
            last_ours: None,
        },
        roots: vec![root("a", 1, None), root("b", 1, None)],
        cpu: BTreeMap::from([("kvvm".to_string(), kvvm_cpu)]),
        peak_resident: BTreeMap::from([("kvvm".to_string(), ((kvvm_cpu * 100.0) as u64) << 20)]),
        timed_out: lost > 0,
        traffic: None,
        signature_checks_per_tx: None,
    }
}

#[test]
fn run_figures_and_their_medians() {
    let a = RunFigures::of(&outcome(&[100, 200, 300, 400], 2_000, 0, 1.0), 3);
    assert_eq!(a.finalized_tx_per_s, 2.0);
    assert_eq!(a.puts_per_s, 6.0);
    assert_eq!(a.latency.p50_ms, Some(200.0));
    assert_eq!(a.latency.p99_ms, Some(400.0));
    assert!(a.roots_equal);
    let b = RunFigures::of(&outcome(&[100; 10], 1_000, 1, 3.0), 3);
    let mut c = RunFigures::of(&outcome(&[50; 6], 1_000, 0, 2.0), 3);
    c.roots_equal = false;
    let m = Medians::of(&[a.clone(), b, c]);
    assert_eq!(m.finalized_tx_per_s, Some(6.0));
    assert_eq!(m.latency.p50_ms, Some(100.0));
    assert_eq!(m.cpu_seconds["kvvm"], 2.0);
    // µs per accepted transaction: 250,000 / 300,000 / 333,333 → the middle one.
    assert_eq!(m.cpu_micros_per_tx["kvvm"].round(), 300_000.0);
    // Peaks are not medians: the largest run's (300 MiB) is the figure.
    assert_eq!(m.peak_resident_bytes["kvvm"], 300 << 20);
    assert_eq!(m.lost_total, 1);
    assert!(!m.all_roots_equal, "one run's nodes differed");
    assert!(Medians::of(&[a]).all_roots_equal);
}

#[derive(clap::Parser)]
struct Cli {
    #[command(subcommand)]
    command: LoadCommand,
}

fn parse(args: &[&str]) -> Result<LoadCommand, clap::Error> {
    Cli::try_parse_from(["load"].iter().chain(args)).map(|c| c.command)
}

#[test]
fn command_line_limits_are_enforced() {
    use clap::CommandFactory;
    Cli::command().debug_assert();
    let Ok(LoadCommand::Throughput(t)) = parse(&["throughput", "--rpc", "http://a,http://b"])
    else {
        panic!("not a throughput load");
    };
    assert_eq!(t.target.rpc, vec!["http://a", "http://b"]);
    assert_eq!((t.txs, t.accounts, t.window), (60_000, 400, 64));
    for bad in [
        vec!["throughput", "--rate", "-1"],
        vec!["throughput", "--txs", "0"],
        vec!["throughput", "--txs", "1000001"],
        vec!["throughput", "--batch", "10001"],
        vec!["throughput", "--runs", "21"],
        vec!["idle", "--deadline", "0"],
        vec!["one-writer", "--cpu-of", "kvvm"],
    ] {
        assert!(parse(&bad).is_err(), "{bad:?} accepted");
    }
    assert!(parse(&["throughput", "--txs", "1000000", "--batch", "10000"]).is_ok());
    let Ok(LoadCommand::Throughput(t)) = parse(&["throughput", "--link-traffic"]) else {
        panic!("--link-traffic refused");
    };
    assert!(t.target.link_traffic);
}

#[test]
fn each_load_runs_with_its_own_flow() {
    let idle = parse(&["idle", "--count", "5"]).unwrap().load(1);
    assert_eq!((idle.txs, idle.shape.accounts), (5, 1));
    assert_eq!((idle.flow.window, idle.flow.batch.txs), (1, 1));
    let writer = parse(&["one-writer", "--window", "32"]).unwrap().load(1);
    assert_eq!(writer.shape.keys, Keys::Shared);
    assert_eq!((writer.flow.window, writer.flow.batch.txs), (32, 32));
    assert_eq!(writer.flow.batch.hex_bytes, 1 << 20);
    let many = parse(&[
        "throughput",
        "--txs",
        "10",
        "--accounts",
        "50",
        "--rate",
        "500",
    ])
    .unwrap()
    .load(1);
    assert_eq!(
        many.shape.accounts, 10,
        "no more accounts than transactions"
    );
    assert_eq!(many.flow.pacer.rate, Some(500.0));
}

#[test]
fn submit_answers_are_recorded_per_item_or_for_the_whole_call() {
    use kvvm_rpc::client::ClientError;
    use kvvm_rpc::{ErrorView, SubmitItem};
    let mut ledger = Ledger::new((0..6).map(|n| (id(n), 0)), 100, 100);
    let t0 = Instant::now();
    ledger.sent(&[0, 1, 2, 3, 4, 5], t0);
    let items = vec![
        SubmitItem {
            tx_id: Some(Hex32(id(0))),
            error: None,
        },
        SubmitItem {
            tx_id: None,
            error: Some(ErrorView {
                code: 1009,
                message: "mempool full".into(),
            }),
        },
    ];
    // Three transactions, two items: the third had no answer the API gives.
    record_answers(&mut ledger, &[0, 1, 2], Ok(items));
    let busy = jsonrpsee::types::ErrorObjectOwned::owned(1012, "busy", None::<()>);
    record_answers(&mut ledger, &[3, 4], Err(ClientError::Call(busy)));
    record_answers(&mut ledger, &[5], Err(ClientError::RequestTimeout));
    let tally = ledger.tally();
    assert_eq!(tally.taken, 1);
    assert_eq!(
        tally.refused,
        BTreeMap::from([
            (Refusal::Code(1009), 1),
            (Refusal::Code(1012), 2),
            (Refusal::Transport, 2),
        ])
    );
    // A code covers several limits: the first message of each says which was reached.
    ledger.refusal_said(Refusal::Code(1009), "a later limit");
    let tally = ledger.tally();
    assert_eq!(
        tally.first_refusal_messages,
        BTreeMap::from([
            (Refusal::Code(1009), "mempool full".to_string()),
            (Refusal::Code(1012), "busy".to_string()),
        ])
    );
    assert!(
        !ledger.all_sent_resolved(),
        "the taken one is still in flight"
    );
}

#[test]
fn batches_stay_within_the_request_byte_limit() {
    let shape = shape(1, Keys::Distinct);
    let plan = shape.sign([4; 32], &shape.accounts(), &[0], 10);
    let hex = |i: &usize| 2 * plan[*i].bytes.0.len() + 5;
    let one = hex(&0);
    // Room for three transactions' hex, not four.
    let limits = BatchLimits {
        txs: 100,
        hex_bytes: 3 * one + one / 2,
    };
    let cut = batches(&plan, 1, limits);
    let sizes: Vec<usize> = cut.iter().map(|(_, b)| b.len()).collect();
    assert_eq!(sizes, vec![3, 3, 3, 1]);
    for (_, batch) in &cut {
        assert!(batch.iter().map(hex).sum::<usize>() <= limits.hex_bytes);
    }
    let tiny = BatchLimits {
        txs: 100,
        hex_bytes: 10,
    };
    assert!(
        batches(&plan, 1, tiny).iter().all(|(_, b)| b.len() == 1),
        "a transaction over the limit goes alone, so the node says why it is refused"
    );
}

#[test]
fn all_accounts_together_stay_within_the_in_flight_cap() {
    let mut ledger = Ledger::new((0..6).map(|n| (id(n), n as usize)), 10, 3);
    assert!(ledger.has_room(&[0, 1, 2]));
    ledger.sent(&[0, 1], Instant::now());
    assert!(ledger.has_room(&[2]));
    assert!(
        !ledger.has_room(&[2, 3]),
        "four accounts' transactions exceed 3 in all"
    );
    ledger.accepted_block(1, &[id(0)], Instant::now());
    assert!(ledger.has_room(&[2, 3]));
    let mut small = Ledger::new((0..6).map(|n| (id(n), n as usize)), 10, 2);
    assert!(
        small.has_room(&[0, 1, 2]),
        "a batch larger than the cap goes when nothing is in flight, or it would never go"
    );
    small.sent(&[0], Instant::now());
    assert!(!small.has_room(&[1, 2]));
}

#[test]
fn an_account_with_a_refused_transaction_sends_nothing_more() {
    let t0 = Instant::now();
    // Account 0: transactions 0, 1, 2; account 1: 3.
    let mut ledger = Ledger::new([(id(0), 0), (id(1), 0), (id(2), 0), (id(3), 1)], 10, 100);
    ledger.sent(&[0], t0);
    ledger.answered(0, Err(Refusal::Code(1009)));
    let mut batch = vec![1, 2, 3];
    ledger.skip_blocked(&mut batch);
    assert_eq!(
        batch,
        vec![3],
        "nonces after a refused one could never execute"
    );
    ledger.sent(&batch, t0);
    ledger.answered(3, Ok(()));
    ledger.accepted_block(1, &[id(3)], t0 + ms(5));
    assert!(ledger.all_sent_resolved());
    let tally = ledger.tally();
    assert_eq!(
        (tally.sent, tally.skipped, tally.accepted, tally.lost),
        (2, 2, 1, 0)
    );
}

#[test]
fn a_try_later_refusal_is_sent_again_once_its_time_has_come() {
    let t0 = Instant::now();
    // Account 0: transactions 0, 1, 2; account 1: 3, 4.
    let mut ledger = Ledger::new(
        [(id(0), 0), (id(1), 0), (id(2), 0), (id(3), 1), (id(4), 1)],
        2,
        100,
    )
    .resending_after(ms(200));
    ledger.sent(&[0, 1, 3], t0);
    ledger.answered(0, Err(Refusal::Code(1009)));
    ledger.answered(1, Ok(()));
    ledger.answered(3, Err(Refusal::Code(1006)));
    assert!(ledger.has_resends());
    assert_eq!(ledger.due_resends(Instant::now()), Vec::<usize>::new());
    assert!(
        !ledger.has_room(&[2]),
        "a transaction to send again keeps its place in its account's window"
    );
    let mut batch = vec![2, 4];
    ledger.skip_blocked(&mut batch);
    assert_eq!(
        batch,
        vec![2],
        "\"try later\" does not give up on the account; 1006 does"
    );
    assert_eq!(ledger.due_resends(Instant::now() + ms(250)), vec![0]);
    assert!(!ledger.has_resends());
    ledger.sent(&[0], t0 + ms(250));
    ledger.answered(0, Err(Refusal::Code(1009)));
    assert_eq!(
        ledger.due_resends(Instant::now() + ms(250)),
        Vec::<usize>::new(),
        "a second refusal waits twice as long"
    );
    assert_eq!(ledger.due_resends(Instant::now() + ms(450)), vec![0]);
    ledger.answered(0, Ok(()));
    ledger.accepted_block(1, &[id(0), id(1)], t0 + ms(400));
    let tally = ledger.tally();
    assert_eq!(tally.resent, 2);
    assert_eq!(
        tally.refused_then_resent,
        BTreeMap::from([(Refusal::Code(1009), 2)])
    );
    assert_eq!(
        tally.refused,
        BTreeMap::from([(Refusal::Code(1006), 1)]),
        "a refusal answered by a later acceptance is not counted as the transaction's fate"
    );
    assert_eq!(
        (tally.sent, tally.skipped, tally.accepted, tally.lost),
        (3, 1, 2, 0)
    );
    assert_eq!(
        tally.latencies,
        vec![ms(400), ms(400)],
        "latency counts from the first send"
    );
}

#[test]
fn a_try_later_refusal_not_yet_sent_again_ends_the_run_refused() {
    let t0 = Instant::now();
    let mut ledger = Ledger::new([(id(0), 0)], 2, 100).resending_after(ms(1));
    ledger.sent(&[0], t0);
    ledger.answered(0, Err(Refusal::Code(1012)));
    assert!(!ledger.all_sent_resolved(), "it waits to be sent again");
    assert!(ledger.may_send_more());
    let tally = ledger.tally();
    assert_eq!(tally.refused, BTreeMap::from([(Refusal::Code(1012), 1)]));
    assert_eq!(tally.resent, 0);
    let mut plain = Ledger::new([(id(0), 0)], 2, 100);
    plain.sent(&[0], t0);
    plain.answered(0, Err(Refusal::Code(1012)));
    assert!(
        !plain.has_resends(),
        "without resending, every refusal is final"
    );
    assert!(plain.all_sent_resolved());
    assert!(!plain.may_send_more());
}

#[test]
fn a_stalled_accounts_taken_transactions_are_sent_again() {
    let t0 = Instant::now();
    // Account 0: transactions 0, 1, 2; account 1: 3.
    let mut ledger = Ledger::new([(id(0), 0), (id(1), 0), (id(2), 0), (id(3), 1)], 8, 100)
        .resending_after(ms(100));
    ledger.sent(&[0, 1, 2, 3], t0);
    for i in 0..4 {
        ledger.answered(i, Ok(()));
    }
    ledger.accepted_block(1, &[id(0), id(3)], t0 + ms(1_000));
    assert_eq!(
        ledger.stalled(t0 + ms(5_000), ms(10_000)),
        Vec::<usize>::new()
    );
    assert_eq!(
        ledger.stalled(t0 + ms(12_000), ms(10_000)),
        vec![1, 2],
        "account 0 has had nothing accepted for 11 s; account 1 has nothing in flight"
    );
    assert_eq!(
        ledger.stalled(t0 + ms(25_000), ms(10_000)),
        vec![1, 2],
        "still stalled 13 s after it was sent again"
    );
    assert_eq!(
        ledger.stalled(t0 + ms(25_500), ms(10_000)),
        Vec::<usize>::new(),
        "looked for at most once a second"
    );
    // The node still had one; a block had used the other's nonce: both were taken.
    ledger.answered(1, Err(Refusal::Code(1010)));
    ledger.answered(2, Err(Refusal::Code(1005)));
    let tally = ledger.tally();
    assert_eq!(tally.stalled_resent, 4);
    assert_eq!(tally.refused, BTreeMap::new());
    assert_eq!(tally.taken, 4);
    let mut plain = Ledger::new([(id(0), 0)], 8, 100);
    plain.sent(&[0], t0);
    plain.answered(0, Ok(()));
    assert_eq!(
        plain.stalled(t0 + ms(60_000), ms(10_000)),
        Vec::<usize>::new(),
        "a client that does not resend does not look for stalls"
    );
}

#[test]
fn the_rate_while_sending_leaves_out_the_stragglers_after_the_last_send() {
    let t0 = Instant::now();
    let mut ledger = Ledger::new((0..4).map(|n| (id(n), n as usize)), 8, 100);
    for (i, at) in [(0, 0), (1, 1_000), (2, 2_000)] {
        ledger.sent(&[i], t0 + ms(at));
        ledger.answered(i, Ok(()));
    }
    ledger.accepted_block(1, &[id(0)], t0 + ms(500));
    ledger.accepted_block(2, &[id(1)], t0 + ms(2_000));
    ledger.accepted_block(3, &[id(2)], t0 + ms(9_000));
    let tally = ledger.tally();
    assert_eq!(
        tally.while_sending,
        Some((ms(2_000), 2)),
        "two accepted by the last send, 2 s after the first"
    );
    assert_eq!(tally.span, Some(ms(9_000)));
}

#[test]
fn resends_go_to_their_accounts_node_in_the_order_they_were_refused() {
    let shape = shape(4, Keys::Distinct);
    let plan = shape.sign([4; 32], &shape.accounts(), &[0; 4], 12);
    let limits = BatchLimits {
        txs: 2,
        hex_bytes: 1 << 20,
    };
    // Accounts 1 and 3 go to node 1 of 2, accounts 0 and 2 to node 0.
    let cut = batches_of(&plan, [9, 5, 4, 1, 8], 2, limits);
    assert_eq!(cut, vec![(0, vec![4, 8]), (1, vec![9, 5]), (1, vec![1])]);
}

/// A metrics page the way AvalancheGo writes it: help and type lines, both directions, a metric
/// whose name starts with the counter's, and values in exponent notation.
const METRICS_PAGE: &str = r#"# HELP avalanche_network_msgs_bytes number of message bytes
# TYPE avalanche_network_msgs_bytes counter
avalanche_network_msgs_bytes{io="received",op="put"} 5e+06
avalanche_network_msgs_bytes{io="sent",op="app_gossip"} 1.5e+06
avalanche_network_msgs_bytes{io="sent",op="app_request"} 1000
avalanche_network_msgs_bytes{io="sent",op="chits"} 300
avalanche_network_msgs_bytes{io="sent",op="ping"} 20
avalanche_network_msgs_bytes{io="sent",op="push_query"} 2.5e+06
avalanche_network_msgs_bytes{io="sent",op="put"} 500000
avalanche_network_msgs_bytes_saved{io="sent",op="put"} 7e+09
avalanche_network_msgs{compressed="true",io="sent",op="put"} 12
# TYPE avalanche_pKzWfw_signature_checks_total counter
avalanche_pKzWfw_signature_checks_total{chain="2xyz"} 4500
avalanche_pKzWfw_signature_checks_total_other{chain="2xyz"} 7
"#;

#[test]
fn sent_bytes_are_read_by_what_they_carry() {
    let sent = parse_sent_bytes(METRICS_PAGE).expect("the counter is there");
    assert_eq!(
        sent[&Carries::Blocks],
        3_000_000.0,
        "put and push_query, sent only"
    );
    assert_eq!(sent[&Carries::Gossip], 1_501_000.0);
    assert_eq!(sent[&Carries::Votes], 300.0);
    assert_eq!(sent[&Carries::Other], 20.0);
    assert_eq!(sent.len(), 4);
    // A page without the counter is not a node's: no figure rather than zero.
    assert_eq!(parse_sent_bytes("# nothing\nother_metric 3\n"), None);
    // Labels in another order, an escaped quote in a value.
    let odd = "avalanche_network_msgs_bytes{op=\"put\",note=\"a \\\"b\\\"\",io=\"sent\"} 7\n";
    assert_eq!(parse_sent_bytes(odd), Some([(Carries::Blocks, 7.0)].into()));
    assert_eq!(Carries::of("get_ancestors"), Carries::Blocks);
    assert_eq!(Carries::of("app_response"), Carries::Gossip);
    assert_eq!(Carries::of("pull_query"), Carries::Votes);
    assert_eq!(Carries::of("handshake"), Carries::Other);
}

#[test]
fn a_nodes_metrics_page_is_beside_its_rpc_url() {
    assert_eq!(
        metrics_url("http://127.0.0.1:9650/ext/bc/2bX/rpc").as_deref(),
        Some("http://127.0.0.1:9650/ext/metrics")
    );
    assert_eq!(
        metrics_url("https://node.example:443").as_deref(),
        Some("https://node.example:443/ext/metrics")
    );
    assert_eq!(metrics_url("127.0.0.1:9650/ext/bc/2bX/rpc"), None);
    assert_eq!(metrics_url("http:///ext/bc/2bX/rpc"), None);
}

#[test]
fn link_traffic_is_per_directed_link() {
    let before = [(Carries::Blocks, 100.0), (Carries::Gossip, 50.0)].into();
    let after = [
        (Carries::Blocks, 700.0),
        (Carries::Gossip, 350.0),
        (Carries::Votes, 60.0),
    ]
    .into();
    // 3 nodes: 6 directed links; 960 bytes over 2 s and 10 transactions.
    let t = LinkTraffic::between(&before, &after, 3, Duration::from_secs(2), 10, 100.0);
    assert_eq!(t.links, 6);
    assert_eq!(t.bytes_per_link_per_s["all"], 80.0);
    assert_eq!(t.bytes_per_link_per_s["blocks"], 50.0);
    assert_eq!(t.bytes_per_link_per_tx["all"], 16.0);
    assert_eq!(t.bytes_per_link_per_tx["gossip"], 5.0);
    assert_eq!(t.bytes_per_link_per_tx["votes"], 1.0);
    assert_eq!(t.share_of_tx_size(), Some(0.16));
    // One node has no links, and nothing accepted divides by nothing: zeros, not infinities.
    let alone = LinkTraffic::between(&before, &after, 1, Duration::from_secs(2), 0, 100.0);
    assert_eq!(alone.links, 0);
    assert_eq!(alone.bytes_per_link_per_s["all"], 0.0);
    assert_eq!(alone.bytes_per_link_per_tx["all"], 0.0);
}

#[test]
fn link_traffic_medians_are_per_kind() {
    let with = |all: f64| {
        let mut r = RunFigures::of(&outcome(&[100; 4], 1_000, 0, 1.0), 1);
        r.link_traffic = Some(LinkTraffic {
            links: 6,
            bytes_per_link_per_s: [("all".to_string(), all), ("blocks".to_string(), all / 2.0)]
                .into(),
            bytes_per_link_per_tx: [("all".to_string(), all / 100.0)].into(),
            tx_bytes_mean: 10.0,
        });
        r
    };
    let without = RunFigures::of(&outcome(&[100; 4], 1_000, 0, 1.0), 1);
    let m = Medians::of(&[with(1_000.0), with(3_000.0), with(2_000.0), without]);
    assert_eq!(
        m.link_bytes_per_s["all"], 2_000.0,
        "runs without a figure are left out"
    );
    assert_eq!(m.link_bytes_per_s["blocks"], 1_000.0);
    assert_eq!(m.link_bytes_per_tx["all"], 20.0);
    assert_eq!(m.link_share_of_tx_size, Some(2.0));
    assert!(Medians::of(&[RunFigures::of(&outcome(&[1], 1, 0, 1.0), 1)])
        .link_bytes_per_s
        .is_empty());
}

#[test]
fn signature_checks_are_read_per_node_and_divided_per_transaction() {
    assert_eq!(parse_signature_checks(METRICS_PAGE), Some(4_500.0));
    let unlabelled = "avalanche_vm_signature_checks_total 3e+03\n";
    assert_eq!(parse_signature_checks(unlabelled), Some(3_000.0));
    // A plugin that does not count them gives no figure, not zero.
    assert_eq!(
        parse_signature_checks("avalanche_network_msgs_bytes{} 1\n"),
        None
    );
    let reading = |checks| NodeCounters {
        signature_checks: checks,
        ..NodeCounters::default()
    };
    let per_tx = signature_checks_per_tx(&reading(Some(600.0)), &reading(Some(3_600.0)), 3, 500);
    assert_eq!(
        per_tx,
        Some(2.0),
        "3,000 checks over 3 nodes and 500 transactions"
    );
    assert_eq!(
        signature_checks_per_tx(&reading(None), &reading(Some(1.0)), 3, 500),
        None
    );
    assert_eq!(
        signature_checks_per_tx(&reading(Some(0.0)), &reading(Some(1.0)), 3, 0),
        None
    );
}

/// Serves `answers` in turn, one HTTP/1.1 response per connection, on a loopback port.
async fn serve_pages(answers: Vec<(u16, &'static str)>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        for (status, body) in answers {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut request = vec![0; 4096];
            let _ = socket.read(&mut request).await;
            let response = format!(
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
        }
    });
    format!("http://{address}/ext/bc/chain/rpc")
}

#[tokio::test]
async fn the_reader_adds_up_every_nodes_page_and_refuses_what_is_not_one() {
    let first = serve_pages(vec![(200, METRICS_PAGE)]).await;
    let second = serve_pages(vec![(200, METRICS_PAGE)]).await;
    let reader = TrafficReader::new(&[first, second]).unwrap();
    assert_eq!(reader.nodes(), 2);
    let total = reader.read().await.expect("two pages");
    assert_eq!(total.sent[&Carries::Blocks], 6_000_000.0);
    assert_eq!(total.sent[&Carries::Other], 40.0);
    assert_eq!(total.signature_checks, Some(9_000.0));

    let missing = serve_pages(vec![(404, "not found")]).await;
    let err = TrafficReader::new(&[missing])
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    let unrelated = serve_pages(vec![(200, "up 1\n")]).await;
    let err = TrafficReader::new(&[unrelated])
        .unwrap()
        .read()
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("avalanche_network_msgs_bytes"),
        "{err}"
    );
    assert!(TrafficReader::new(&["no-scheme".to_string()]).is_err());
}
