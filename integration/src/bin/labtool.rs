//! `labtool`: a tiny std-only TCP helper that tests run inside lab namespaces.
//!
//! - `labtool tcp-echo PORT`: listens on 0.0.0.0:PORT, prints
//!   `listening on 0.0.0.0:PORT`, and echoes every received line back on
//!   every connection (one thread per connection).
//! - `labtool tcp-check IP PORT [--timeout-ms N]`: connects, sends `ping\n`,
//!   expects `ping\n` back; exit 0 on success, 1 on failure (default 2000 ms).
//! - `labtool tcp-hold IP PORT --seconds N [--timeout-ms N]`: keeps one
//!   connection open and exchanges a numbered line every 100 ms for N
//!   seconds; prints `exchanges: <count>` and exits 0 only if every exchange
//!   succeeded (each may take up to the timeout, default 5000 ms).
//!
//! Exit status 2 means a usage error.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: labtool tcp-echo PORT
       labtool tcp-check IP PORT [--timeout-ms N]
       labtool tcp-hold IP PORT --seconds N [--timeout-ms N]";

enum Failure {
    Usage(String),
    Failed(String),
}

type Outcome = Result<(), Failure>;

fn usage(msg: impl Into<String>) -> Failure {
    Failure::Usage(msg.into())
}

fn failed(msg: impl Into<String>) -> Failure {
    Failure::Failed(msg.into())
}

/// Positional arguments and `--name value` options.
struct Args {
    positional: Vec<String>,
    options: Vec<(String, String)>,
}

impl Args {
    fn parse(raw: &[String]) -> Result<Args, Failure> {
        let mut positional = Vec::new();
        let mut options = Vec::new();
        let mut it = raw.iter();
        while let Some(a) = it.next() {
            if let Some(name) = a.strip_prefix("--") {
                let value = it
                    .next()
                    .ok_or_else(|| usage(format!("option --{name} needs a value")))?;
                options.push((name.to_string(), value.clone()));
            } else {
                positional.push(a.clone());
            }
        }
        Ok(Args {
            positional,
            options,
        })
    }

    fn option_u64(&self, name: &str, allowed: &[&str]) -> Result<Option<u64>, Failure> {
        if let Some((bad, _)) = self
            .options
            .iter()
            .find(|(n, _)| !allowed.contains(&n.as_str()))
        {
            return Err(usage(format!("unknown option --{bad}")));
        }
        match self.options.iter().rev().find(|(n, _)| n == name) {
            None => Ok(None),
            Some((_, v)) => v
                .parse()
                .map(Some)
                .map_err(|_| usage(format!("--{name}: not a number: {v}"))),
        }
    }

    fn target(&self) -> Result<SocketAddr, Failure> {
        let [ip, port] = self.positional.as_slice() else {
            return Err(usage("expected IP PORT"));
        };
        let ip: Ipv4Addr = ip
            .parse()
            .map_err(|_| usage(format!("bad IPv4 address: {ip}")))?;
        let port: u16 = port
            .parse()
            .map_err(|_| usage(format!("bad port: {port}")))?;
        Ok(SocketAddr::from((ip, port)))
    }
}

fn tcp_echo(args: &Args) -> Outcome {
    args.option_u64("none", &[])?;
    let [port] = args.positional.as_slice() else {
        return Err(usage("expected PORT"));
    };
    let port: u16 = port
        .parse()
        .map_err(|_| usage(format!("bad port: {port}")))?;
    let listener = TcpListener::bind(("0.0.0.0", port))
        .map_err(|e| failed(format!("bind 0.0.0.0:{port}: {e}")))?;
    println!("listening on 0.0.0.0:{port}");
    let _ = std::io::stdout().flush();
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                std::thread::spawn(move || echo_conn(stream));
            }
            Err(e) => eprintln!("accept: {e}"),
        }
    }
    Ok(())
}

fn echo_conn(mut stream: TcpStream) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    let _ = stream.set_nodelay(true);
    let reader = match stream.try_clone() {
        Ok(s) => BufReader::new(s),
        Err(e) => {
            eprintln!("{peer}: {e}");
            return;
        }
    };
    for line in reader.lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{peer}: read: {e}");
                return;
            }
        };
        if let Err(e) = stream.write_all(format!("{line}\n").as_bytes()) {
            eprintln!("{peer}: write: {e}");
            return;
        }
    }
}

/// Connected stream plus a buffered reader on a clone of it.
struct Conn {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: SocketAddr, timeout: Duration) -> Result<Conn, Failure> {
        let stream = TcpStream::connect_timeout(&addr, timeout)
            .map_err(|e| failed(format!("connect {addr}: {e}")))?;
        let setup = |s: &TcpStream| -> std::io::Result<()> {
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(timeout))?;
            s.set_write_timeout(Some(timeout))
        };
        setup(&stream).map_err(|e| failed(format!("socket setup: {e}")))?;
        let reader = stream
            .try_clone()
            .map(BufReader::new)
            .map_err(|e| failed(format!("clone socket: {e}")))?;
        Ok(Conn { stream, reader })
    }

    /// Sends `msg` plus newline and checks the same line comes back.
    fn exchange(&mut self, msg: &str) -> Result<(), String> {
        self.stream
            .write_all(format!("{msg}\n").as_bytes())
            .map_err(|e| format!("write: {e}"))?;
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => Err("connection closed by peer".to_string()),
            Ok(_) if line.trim_end_matches('\n') == msg => Ok(()),
            Ok(_) => Err(format!("expected {msg:?}, got {:?}", line.trim_end())),
            Err(e) => Err(format!("read: {e}")),
        }
    }
}

fn tcp_check(args: &Args) -> Outcome {
    let timeout = args
        .option_u64("timeout-ms", &["timeout-ms"])?
        .unwrap_or(2000);
    let addr = args.target()?;
    let mut conn = Conn::open(addr, Duration::from_millis(timeout))?;
    conn.exchange("ping")
        .map_err(|e| failed(format!("{addr}: {e}")))
}

fn tcp_hold(args: &Args) -> Outcome {
    let allowed = ["seconds", "timeout-ms"];
    let seconds = args
        .option_u64("seconds", &allowed)?
        .ok_or_else(|| usage("--seconds N is required"))?;
    let timeout = args.option_u64("timeout-ms", &allowed)?.unwrap_or(5000);
    let addr = args.target()?;
    let mut conn = Conn::open(addr, Duration::from_millis(timeout))?;
    let start = Instant::now();
    let mut count: u64 = 0;
    loop {
        count += 1;
        if let Err(e) = conn.exchange(&format!("hold-{count}")) {
            println!("exchanges: {}", count - 1);
            return Err(failed(format!(
                "{addr}: exchange {count} failed after {:?}: {e}",
                start.elapsed()
            )));
        }
        if start.elapsed() >= Duration::from_secs(seconds) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("exchanges: {count}");
    Ok(())
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = raw.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let outcome = Args::parse(rest).and_then(|args| match cmd.as_str() {
        "tcp-echo" => tcp_echo(&args),
        "tcp-check" => tcp_check(&args),
        "tcp-hold" => tcp_hold(&args),
        other => Err(usage(format!("unknown command {other}"))),
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Failed(msg)) => {
            eprintln!("labtool {cmd}: {msg}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("labtool {cmd}: {msg}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}
