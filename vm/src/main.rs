//! The `kvvm` binary: the plugin AvalancheGo starts, and the tools around it.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kvvm::ids::{cb58_encode, vm_id, VM_NAME};
use kvvm::plugin::ENGINE_ADDR_ENV;
use kvvm::plugin_settings::{write_settings, PluginSettings, SUPPORTED_PROTOCOLS};

#[derive(Parser)]
#[command(
    name = "kvvm",
    version = kvvm::VERSION,
    about = "An Avalanche VM keeping a key-value store on its own chain",
    long_about = "kvvm is an AvalancheGo rpcchainvm plugin. Install the binary into the node's plugin \
directory under its VMID (see `kvvm vm-id`); the node starts it with AVALANCHE_VM_RUNTIME_ENGINE_ADDR set. \
Run with a subcommand for the tools around it."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print {"name","vmid","version","rpcchainvm"} as AvalancheGo's tmpnet expects.
    VersionJson,
    /// Print the VMID (cb58) under which the node must find this binary.
    VmId,
    /// Write a default genesis document (timestamp: now).
    Genesis {
        /// Output file; standard output if omitted.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Select the rpcchainvm protocol for the node version in use, by writing `.kvvm-plugin` into
    /// the plugin directory (42 = AvalancheGo v1.13.3 … 45 = v1.14.2, 46 = v1.15.0).
    SetProtocol {
        protocol: u32,
        /// The directory holding the installed plugin.
        #[arg(long)]
        plugin_dir: PathBuf,
    },
    /// Measure one node's pipeline (admission, build, verify, accept) in process on a temporary
    /// RocksDB, per stage and state size. Build with --release for figures that mean anything.
    Bench(kvvm::bench::BenchArgs),
    /// Drive a running network through its JSON-RPC API with pre-signed transactions and report
    /// finalized tx/s, submit→accept latency, refusals, losses and whether the nodes agree
    /// (scripts/bench.sh starts a network and runs it).
    #[command(subcommand)]
    Load(kvvm::load::LoadCommand),
    #[command(flatten)]
    User(kvvm::cli::UserCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        None => run_plugin(),
        Some(Command::VersionJson) => version_json(),
        Some(Command::VmId) => {
            println!("{}", cb58_encode(&vm_id()));
            ExitCode::SUCCESS
        }
        Some(Command::Genesis { out }) => write_genesis(out),
        Some(Command::User(command)) => run_user(command),
        Some(Command::Bench(args)) => run_bench(&args),
        Some(Command::Load(command)) => run_load(&command),
        Some(Command::SetProtocol {
            protocol,
            plugin_dir,
        }) => match write_settings(&plugin_dir, protocol) {
            Ok(path) => {
                println!("wrote {} (rpcchainvm protocol {protocol})", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kvvm: {e}");
                ExitCode::from(2)
            }
        },
    }
}

fn run_plugin() -> ExitCode {
    let Some(engine_addr) = std::env::var(ENGINE_ADDR_ENV)
        .ok()
        .filter(|a| !a.is_empty())
    else {
        eprintln!(
            "kvvm is an AvalancheGo VM plugin; the node starts it with {ENGINE_ADDR_ENV} set.\n\
             To install it: copy this binary into the node's plugin directory (--plugin-dir) named\n\
             {vmid}\n\
             (`kvvm vm-id` prints that name). For AvalancheGo other than v1.14.2, also run\n\
             `kvvm set-protocol N --plugin-dir DIR` (N in {lo}..={hi}).\n\
             Run `kvvm --help` for the other commands.",
            vmid = cb58_encode(&vm_id()),
            lo = SUPPORTED_PROTOCOLS.start(),
            hi = SUPPORTED_PROTOCOLS.end(),
        );
        return ExitCode::from(2);
    };
    kvvm::logging::init("info");
    let settings = match PluginSettings::load() {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "refusing to start: bad plugin setting");
            eprintln!("kvvm: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kvvm: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(kvvm::plugin::run(settings, engine_addr)) {
        Ok(()) => {
            tracing::info!("kvvm plugin stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(error = %e, "kvvm plugin failed");
            ExitCode::FAILURE
        }
    }
}

fn run_user(command: kvvm::cli::UserCommand) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kvvm: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(kvvm::cli::run(command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kvvm: {e}");
            ExitCode::FAILURE
        }
    }
}

fn version_json() -> ExitCode {
    let settings = match PluginSettings::load() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("kvvm: {e}");
            return ExitCode::from(2);
        }
    };
    let json = serde_json::json!({
        "name": VM_NAME,
        "vmid": cb58_encode(&vm_id()),
        "version": kvvm::VERSION,
        "rpcchainvm": settings.protocol,
    });
    println!("{json}");
    ExitCode::SUCCESS
}

fn run_bench(args: &kvvm::bench::BenchArgs) -> ExitCode {
    match kvvm::bench::run(args) {
        Ok(report) if args.json => {
            println!("{}", report.to_json());
            ExitCode::SUCCESS
        }
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("kvvm bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_load(command: &kvvm::load::LoadCommand) -> ExitCode {
    // Two workers: the submitting calls and the block watcher run side by side, and the client
    // leaves the rest of a small machine to the nodes it measures.
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("kvvm load: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let env = kvvm::cli::CliEnv::from_process();
    match runtime.block_on(kvvm::load::run(command, &env)) {
        Ok(report) => {
            let json = serde_json::to_string_pretty(&report).expect("the report serializes");
            if command.json() {
                println!("{json}");
            } else {
                println!("{report}");
            }
            match command.out() {
                Some(path) => match std::fs::write(path, json + "\n") {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        eprintln!("kvvm load: writing {}: {e}", path.display());
                        ExitCode::FAILURE
                    }
                },
                None => ExitCode::SUCCESS,
            }
        }
        Err(e) => {
            eprintln!("kvvm load: {e}");
            ExitCode::FAILURE
        }
    }
}

fn write_genesis(out: Option<PathBuf>) -> ExitCode {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let text = kvvm_genesis::Genesis::default_at(now).to_json_pretty();
    let written = match &out {
        Some(path) => std::fs::write(path, text.as_bytes()),
        None => std::io::stdout().write_all(text.as_bytes()),
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "kvvm: writing genesis to {}: {e}",
                out.map(|p| p.display().to_string())
                    .unwrap_or_else(|| "stdout".into())
            );
            ExitCode::FAILURE
        }
    }
}
