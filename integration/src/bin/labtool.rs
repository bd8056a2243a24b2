//! `labtool`: a tiny std-only TCP helper that tests run inside lab namespaces.
//!
//! - `labtool tcp-echo PORT`: listens on 0.0.0.0:PORT, prints
//!   `listening on 0.0.0.0:PORT`, and echoes every received line back on
//!   every connection (one thread per connection).
//! - `labtool tcp-check IP PORT [--timeout-ms N]`: connects, sends `ping\n`,
//!   expects `ping\n` back; exit 0 on success, 1 on failure (default 2000 ms).
//! - `labtool tcp-hold IP PORT (--seconds N | --until-file PATH) [--timeout-ms N]`:
//!   keeps one connection open, printing `connected LOCAL -> PEER` once it is
//!   established, and exchanges a numbered line every 100 ms (printing
//!   `exchange <n> ok` after each) for N seconds or until PATH exists (checked
//!   after every exchange); prints `exchanges: <count>` and exits 0 only if
//!   every exchange succeeded (each may take up to the timeout, default 5000 ms).
//! - `labtool tcp-bulk IP PORT --bytes N [--timeout-ms N]`: sends N bytes of
//!   numbered lines to a `tcp-echo` server on one connection, closes its
//!   sending side and reads the echo to the end; prints
//!   `bytes: <received> seconds: <elapsed>` and exits 0 only if exactly the
//!   bytes sent came back, in order (each read may wait up to the timeout,
//!   default 10000 ms).
//! - `labtool tcp-connect IP PORT [--timeout-ms N]`: one connection attempt;
//!   prints `<outcome> <elapsed ms>` with outcome `ok`, `refused`, `timeout`,
//!   `unreachable` (ICMP host/network unreachable) or `error:<kind>`; exits 0
//!   whatever the outcome (default timeout 2000 ms).
//! - `labtool http-name PORT NAME [--echo-peer]`: HTTP/1.1 server on
//!   0.0.0.0:PORT answering every request with the body `NAME` (with
//!   `--echo-peer`: `NAME <peer ip>`), `Connection: close`, one thread per
//!   connection; prints `listening on 0.0.0.0:PORT`.
//! - `labtool http-get IP PORT [--count N] [--timeout-ms N]`: N sequential
//!   GETs, each on a fresh connection; prints each body on its own line and
//!   exits 1 on the first failure (default 1 request, 2000 ms timeout).
//! - `labtool udp-name PORT NAME [--echo-peer]`: answers every datagram on
//!   0.0.0.0:PORT with `NAME` (or `NAME <peer ip>`); prints
//!   `listening on udp 0.0.0.0:PORT`.
//! - `labtool udp-ask IP PORT [--count N] [--interval-ms N] [--local-port P]
//!   [--timeout-ms N] [--stamp]`: from one socket bound to local port P (so
//!   every datagram has the same 5-tuple and reuses its conntrack entry),
//!   sends N datagrams, one every interval, and prints each answer, or
//!   `timeout` / `refused`; with `--stamp` every line starts with the Unix
//!   time in milliseconds. Exits 0 once all N were sent (defaults: 1 ask,
//!   200 ms interval, local port chosen by the kernel, timeout = interval).
//!
//! Exit status 2 means a usage error.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const USAGE: &str = "usage: labtool tcp-echo PORT
       labtool tcp-check IP PORT [--timeout-ms N]
       labtool tcp-hold IP PORT (--seconds N | --until-file PATH) [--timeout-ms N]
       labtool tcp-bulk IP PORT --bytes N [--timeout-ms N]
       labtool tcp-connect IP PORT [--timeout-ms N]
       labtool http-name PORT NAME [--echo-peer]
       labtool http-get IP PORT [--count N] [--timeout-ms N]
       labtool udp-name PORT NAME [--echo-peer]
       labtool udp-ask IP PORT [--count N] [--interval-ms N] [--local-port P] [--timeout-ms N] [--stamp]";

/// Options that take no value.
const FLAGS: &[&str] = &["echo-peer", "stamp"];
/// Largest request head `http-name` reads before answering.
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// Largest response `http-get` accepts.
const MAX_RESPONSE: usize = 64 * 1024;

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

/// Positional arguments, `--name value` options and value-less flags.
struct Args {
    positional: Vec<String>,
    options: Vec<(String, String)>,
    flags: Vec<String>,
}

impl Args {
    fn parse(raw: &[String]) -> Result<Args, Failure> {
        let mut positional = Vec::new();
        let mut options = Vec::new();
        let mut flags = Vec::new();
        let mut it = raw.iter();
        while let Some(a) = it.next() {
            if let Some(name) = a.strip_prefix("--") {
                if FLAGS.contains(&name) {
                    flags.push(name.to_string());
                    continue;
                }
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
            flags,
        })
    }

    /// Errors on options or flags not in `allowed`.
    fn check_allowed(&self, allowed: &[&str]) -> Result<(), Failure> {
        let names = self.options.iter().map(|(n, _)| n).chain(self.flags.iter());
        for n in names {
            if !allowed.contains(&n.as_str()) {
                return Err(usage(format!("unknown option --{n}")));
            }
        }
        Ok(())
    }

    fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    /// `PORT NAME` positionals of the servers.
    fn port_and_name(&self) -> Result<(u16, String), Failure> {
        let [port, name] = self.positional.as_slice() else {
            return Err(usage("expected PORT NAME"));
        };
        let port: u16 = port
            .parse()
            .map_err(|_| usage(format!("bad port: {port}")))?;
        Ok((port, name.clone()))
    }

    fn option_u64(&self, name: &str, allowed: &[&str]) -> Result<Option<u64>, Failure> {
        self.check_allowed(allowed)?;
        match self.options.iter().rev().find(|(n, _)| n == name) {
            None => Ok(None),
            Some((_, v)) => v
                .parse()
                .map(Some)
                .map_err(|_| usage(format!("--{name}: not a number: {v}"))),
        }
    }

    /// The value of a string option (checked against the allowed names elsewhere).
    fn option_str(&self, name: &str) -> Option<String> {
        self.options
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
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
    let allowed = ["seconds", "until-file", "timeout-ms"];
    let seconds = args.option_u64("seconds", &allowed)?;
    let until_file = args.option_str("until-file");
    if seconds.is_some() == until_file.is_some() {
        return Err(usage(
            "give exactly one of --seconds N and --until-file PATH",
        ));
    }
    let timeout = args.option_u64("timeout-ms", &allowed)?.unwrap_or(5000);
    let addr = args.target()?;
    let mut conn = Conn::open(addr, Duration::from_millis(timeout))?;
    let local = conn
        .stream
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|e| format!("unknown ({e})"));
    say(&format!("connected {local} -> {addr}"));
    let start = Instant::now();
    let mut count: u64 = 0;
    loop {
        count += 1;
        if let Err(e) = conn.exchange(&format!("hold-{count}")) {
            say(&format!("exchanges: {}", count - 1));
            return Err(failed(format!(
                "{addr}: exchange {count} failed after {:?}: {e}",
                start.elapsed()
            )));
        }
        say(&format!("exchange {count} ok"));
        let done = match (seconds, &until_file) {
            (Some(s), _) => start.elapsed() >= Duration::from_secs(s),
            (None, Some(path)) => std::path::Path::new(path).exists(),
            (None, None) => true,
        };
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    say(&format!("exchanges: {count}"));
    Ok(())
}

/// Length of the lines `tcp-bulk` sends (newline included).
const BULK_LINE: usize = 1000;

/// Line `k` of a `tcp-bulk` stream, `len` (1..=BULK_LINE) bytes with its newline: the last
/// line may be short, but like every line it ends in a newline, as the echo server answers
/// whole lines.
fn bulk_line(k: u64, len: usize) -> Vec<u8> {
    let mut line = format!("{k:010} ").into_bytes();
    line.resize(BULK_LINE - 1, b'x');
    line.truncate(len.saturating_sub(1));
    line.push(b'\n');
    line
}

fn tcp_bulk(args: &Args) -> Outcome {
    let allowed = ["bytes", "timeout-ms"];
    let total = args
        .option_u64("bytes", &allowed)?
        .ok_or_else(|| usage("--bytes N is required"))?;
    let timeout = args.option_u64("timeout-ms", &allowed)?.unwrap_or(10000);
    let addr = args.target()?;
    let conn = Conn::open(addr, Duration::from_millis(timeout))?;
    let Conn { stream, mut reader } = conn;
    let start = Instant::now();
    let writer = std::thread::spawn(move || -> Result<(), String> {
        let mut stream = stream;
        let (mut sent, mut k) = (0u64, 0u64);
        while sent < total {
            let len = usize::try_from((total - sent).min(BULK_LINE as u64)).unwrap_or(BULK_LINE);
            stream
                .write_all(&bulk_line(k, len))
                .map_err(|e| format!("write after {sent} bytes: {e}"))?;
            sent += len as u64;
            k += 1;
        }
        stream
            .shutdown(std::net::Shutdown::Write)
            .map_err(|e| format!("shutdown: {e}"))
    });
    let (mut got, mut k) = (0u64, 0u64);
    let mut line = Vec::with_capacity(BULK_LINE);
    let read_result = loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                if line != bulk_line(k, n) {
                    break Err(format!("line {k} came back altered after {got} bytes"));
                }
                got += n as u64;
                k += 1;
            }
            Err(e) => break Err(format!("read after {got} bytes: {e}")),
        }
    };
    let secs = start.elapsed().as_secs_f64();
    let written = writer
        .join()
        .map_err(|_| failed("writer thread panicked"))?;
    say(&format!("bytes: {got} seconds: {secs:.3}"));
    written.map_err(|e| failed(format!("{addr}: {e}")))?;
    read_result.map_err(|e| failed(format!("{addr}: {e}")))?;
    if got != total {
        return Err(failed(format!(
            "{addr}: sent {total} bytes, {got} came back"
        )));
    }
    Ok(())
}

/// Prints a line and flushes, so that a harness reading the log sees it at once.
fn say(line: &str) {
    println!("{line}");
    let _ = std::io::stdout().flush();
}

fn tcp_connect(args: &Args) -> Outcome {
    let timeout = args
        .option_u64("timeout-ms", &["timeout-ms"])?
        .unwrap_or(2000);
    let addr = args.target()?;
    let start = Instant::now();
    let res = TcpStream::connect_timeout(&addr, Duration::from_millis(timeout.max(1)));
    let ms = start.elapsed().as_millis();
    let outcome = match res {
        Ok(_) => "ok".to_string(),
        Err(e) => match e.kind() {
            ErrorKind::ConnectionRefused => "refused".to_string(),
            ErrorKind::TimedOut | ErrorKind::WouldBlock => "timeout".to_string(),
            ErrorKind::HostUnreachable | ErrorKind::NetworkUnreachable => "unreachable".to_string(),
            _ => format!("error:{}", format!("{:?}", e.kind()).to_lowercase()),
        },
    };
    println!("{outcome} {ms}");
    Ok(())
}

/// Prints `listening on ...` and flushes, so that a harness waiting for it sees it.
fn announce(what: &str) {
    say(&format!("listening on {what}"));
}

fn http_name(args: &Args) -> Outcome {
    args.check_allowed(&["echo-peer"])?;
    let (port, name) = args.port_and_name()?;
    let echo_peer = args.flag("echo-peer");
    let listener = TcpListener::bind(("0.0.0.0", port))
        .map_err(|e| failed(format!("bind 0.0.0.0:{port}: {e}")))?;
    announce(&format!("0.0.0.0:{port}"));
    for conn in listener.incoming() {
        match conn {
            Ok(stream) => {
                let name = name.clone();
                std::thread::spawn(move || http_conn(stream, &name, echo_peer));
            }
            Err(e) => eprintln!("accept: {e}"),
        }
    }
    Ok(())
}

/// Reads one request head and answers it with `name` (plus the peer address).
fn http_conn(mut stream: TcpStream, name: &str, echo_peer: bool) {
    let peer = match stream.peer_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("peer_addr: {e}");
            return;
        }
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) => {
                eprintln!("{peer}: closed before a complete request");
                return;
            }
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => {
                eprintln!("{peer}: read: {e}");
                return;
            }
        }
        if head.len() > MAX_REQUEST_HEAD {
            eprintln!("{peer}: request head too large");
            return;
        }
    }
    let body = if echo_peer {
        format!("{name} {}", peer.ip())
    } else {
        name.to_string()
    };
    let resp = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if let Err(e) = stream.write_all(resp.as_bytes()) {
        eprintln!("{peer}: write: {e}");
    }
    let _ = stream.shutdown(std::net::Shutdown::Write);
}

/// One GET on a fresh connection; returns the body.
fn http_get_once(addr: SocketAddr, timeout: Duration) -> Result<String, String> {
    let mut stream =
        TcpStream::connect_timeout(&addr, timeout).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|_| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("socket setup: {e}"))?;
    let req = format!(
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: labtool\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(req.as_bytes())
        .map_err(|e| format!("write: {e}"))?;
    let mut resp = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => resp.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("read: {e}")),
        }
        if resp.len() > MAX_RESPONSE {
            return Err("response too large".to_string());
        }
    }
    let text = String::from_utf8_lossy(&resp);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("incomplete response {text:?}"))?;
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("unexpected status line {status:?}"));
    }
    let len = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())
            .flatten()
    });
    match len {
        Some(n) if body.len() < n => Err(format!("short body {body:?}, expected {n} bytes")),
        Some(n) => Ok(body[..n].to_string()),
        None => Ok(body.to_string()),
    }
}

fn http_get(args: &Args) -> Outcome {
    let allowed = ["count", "timeout-ms"];
    let count = args.option_u64("count", &allowed)?.unwrap_or(1);
    let timeout = args.option_u64("timeout-ms", &allowed)?.unwrap_or(2000);
    let addr = args.target()?;
    let timeout = Duration::from_millis(timeout.max(1));
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for i in 1..=count {
        match http_get_once(addr, timeout) {
            Ok(body) => {
                let _ = writeln!(out, "{}", body.trim_end());
            }
            Err(e) => {
                let _ = out.flush();
                return Err(failed(format!("{addr}: request {i} of {count}: {e}")));
            }
        }
    }
    let _ = out.flush();
    Ok(())
}

fn udp_name(args: &Args) -> Outcome {
    args.check_allowed(&["echo-peer"])?;
    let (port, name) = args.port_and_name()?;
    let echo_peer = args.flag("echo-peer");
    let sock = UdpSocket::bind(("0.0.0.0", port))
        .map_err(|e| failed(format!("bind udp 0.0.0.0:{port}: {e}")))?;
    announce(&format!("udp 0.0.0.0:{port}"));
    let mut buf = [0u8; 2048];
    loop {
        let (_, peer) = match sock.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("recv: {e}");
                continue;
            }
        };
        let answer = if echo_peer {
            format!("{name} {}", peer.ip())
        } else {
            name.clone()
        };
        if let Err(e) = sock.send_to(answer.as_bytes(), peer) {
            eprintln!("{peer}: send: {e}");
        }
    }
}

fn unix_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

fn udp_ask(args: &Args) -> Outcome {
    let allowed = ["count", "interval-ms", "local-port", "timeout-ms", "stamp"];
    let count = args.option_u64("count", &allowed)?.unwrap_or(1);
    let interval = args.option_u64("interval-ms", &allowed)?.unwrap_or(200);
    let local_port = args.option_u64("local-port", &allowed)?.unwrap_or(0);
    let local_port =
        u16::try_from(local_port).map_err(|_| usage(format!("bad local port {local_port}")))?;
    let timeout = args
        .option_u64("timeout-ms", &allowed)?
        .unwrap_or(interval)
        .max(1);
    let stamp = args.flag("stamp");
    let addr = args.target()?;
    let sock = UdpSocket::bind(("0.0.0.0", local_port))
        .map_err(|e| failed(format!("bind udp 0.0.0.0:{local_port}: {e}")))?;
    // Connected: only answers from the target are read, ICMP errors surface as `refused`.
    sock.connect(addr)
        .map_err(|e| failed(format!("connect {addr}: {e}")))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut buf = [0u8; 2048];
    let start = Instant::now();
    for i in 0..count {
        let due = start + Duration::from_millis(interval.saturating_mul(i));
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        let line = match sock.send(format!("ask {i}").as_bytes()) {
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => "refused".to_string(),
            Err(e) => return Err(failed(format!("send to {addr}: {e}"))),
            Ok(_) => recv_answer(&sock, &mut buf, Duration::from_millis(timeout))?,
        };
        let _ = if stamp {
            writeln!(out, "{} {line}", unix_ms())
        } else {
            writeln!(out, "{line}")
        };
        let _ = out.flush();
    }
    Ok(())
}

/// Waits up to `timeout` for one datagram; `timeout`, `refused` or the answer.
fn recv_answer(sock: &UdpSocket, buf: &mut [u8], timeout: Duration) -> Result<String, Failure> {
    sock.set_read_timeout(Some(timeout))
        .map_err(|e| failed(format!("set timeout: {e}")))?;
    match sock.recv(buf) {
        Ok(n) => Ok(String::from_utf8_lossy(&buf[..n]).trim_end().to_string()),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
            Ok("timeout".to_string())
        }
        Err(e) if e.kind() == ErrorKind::ConnectionRefused => Ok("refused".to_string()),
        Err(e) => Err(failed(format!("recv: {e}"))),
    }
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
        "tcp-bulk" => tcp_bulk(&args),
        "tcp-connect" => tcp_connect(&args),
        "http-name" => http_name(&args),
        "http-get" => http_get(&args),
        "udp-name" => udp_name(&args),
        "udp-ask" => udp_ask(&args),
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
