//! The `flanneld` binary: flag parsing, logging, and either the daemon or `flanneld routes`.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use flanneld::flags::{normalize_args, Cli, Command};
use flanneld::status;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(normalize_args(std::env::args())) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Some(Command::Routes { json }) => routes(&cli.status_socket, json),
        None => daemon(cli),
    }
}

fn routes(socket: &std::path::Path, json: bool) -> ExitCode {
    match status::fetch(socket) {
        Ok(report) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report.peers).unwrap_or_default()
                );
            } else {
                print!("{}", status::render_table(&report));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("flanneld routes: {e}");
            ExitCode::FAILURE
        }
    }
}

fn daemon(cli: Cli) -> ExitCode {
    let level = match cli.flags.verbosity {
        0 => "info",
        1..=4 => "debug",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env("FLANNELD_LOG").unwrap_or_else(|_| {
        EnvFilter::new(format!("{level},h2=info,tower=info,hyper=info,tonic=info"))
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("flanneld: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(flanneld::daemon::run(cli.flags, cli.status_socket));
    // Blocking tasks (the iptables keeper sleeps between checks) are not waited for.
    rt.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("flanneld: {e:#}");
            ExitCode::FAILURE
        }
    }
}
