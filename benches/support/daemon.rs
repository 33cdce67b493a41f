//! The `projetyd` daemon as the benches drive it: a `serve` child on a
//! throwaway database with a user and a token, a minimal keep-alive HTTP/1.1
//! client, and readings of the child's resident memory and CPU time.
//! Included by each bench with `#[path]`; each uses a subset.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;

use super::common::Result;

pub const BIN: &str = env!("CARGO_BIN_EXE_projetyd");
/// How long the daemon may take to start, a request may take, and so on:
/// bounds on hangs, not measurements.
pub const PATIENCE: Duration = Duration::from_secs(60);
/// RSS sampling period.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);

// ---------------------------------------------------------------------------
// The daemon
// ---------------------------------------------------------------------------

/// A `projetyd serve` child in a private temporary directory.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub child: Option<Child>,
    pub pid: u32,
    pub addr: SocketAddr,
    /// `Bearer <token>`.
    pub bearer: String,
    /// The password of the user `bench`.
    pub password: String,
}

impl Daemon {
    pub fn start(master_config: &Path, extra: &[String]) -> Result<Daemon> {
        let dir = tempfile::Builder::new().prefix("projetyd-load-").tempdir()?;
        let notify_path = dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path)?;
        notify.set_read_timeout(Some(Duration::from_millis(200)))?;
        let log = std::fs::File::create(dir.path().join("daemon.log"))?;
        let child = Command::new(BIN)
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--db")
            .arg(dir.path().join("db"))
            .arg("--admin-socket")
            .arg(dir.path().join("admin.sock"))
            .arg("--salt-config")
            .arg(master_config)
            .args(extra)
            .env("NOTIFY_SOCKET", &notify_path)
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut daemon = Daemon {
            dir,
            pid: child.id(),
            child: Some(child),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            bearer: String::new(),
            password: String::new(),
        };
        match daemon.ready(&notify).and_then(|()| daemon.login()) {
            Ok(()) => Ok(daemon),
            Err(err) => {
                let log = daemon.log_tail(40);
                daemon.stop();
                Err(format!("the daemon did not start: {err}; its log:\n{log}").into())
            }
        }
    }

    /// Waits for `READY=1` and reads the bound address from `STATUS=`.
    fn ready(&mut self, notify: &UnixDatagram) -> Result<()> {
        let deadline = Instant::now() + PATIENCE;
        let mut buf = [0u8; 4096];
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    self.child = None;
                    return Err(format!("exited with {status}").into());
                }
            }
            let Ok(len) = notify.recv(&mut buf) else { continue };
            let message = String::from_utf8_lossy(&buf[..len]);
            if !message.lines().any(|l| l == "READY=1") {
                continue;
            }
            let addr = message
                .lines()
                .find_map(|l| l.strip_prefix("STATUS=listening on "))
                .ok_or_else(|| format!("READY=1 without an address: {message:?}"))?;
            self.addr = addr.trim().parse()?;
            return Ok(());
        }
        Err(format!("not ready within {PATIENCE:?}").into())
    }

    /// `adduser bench`, then a token for it.
    fn login(&mut self) -> Result<()> {
        let out = Command::new(BIN)
            .arg("adduser")
            .arg("--db")
            .arg(self.dir.path().join("db"))
            .arg("--admin-socket")
            .arg(self.dir.path().join("admin.sock"))
            .arg("bench")
            .output()?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let password = stdout
            .lines()
            .find_map(|l| l.strip_prefix("User bench created with password "))
            .ok_or_else(|| {
                format!(
                    "adduser said {stdout:?}, {:?}",
                    String::from_utf8_lossy(&out.stderr)
                )
            })?
            .trim()
            .to_owned();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("bench:{password}"));
        let mut conn = Conn::new(self.addr);
        let reply = conn.request(
            "POST",
            "/api/v1.0/tokens?expiration=3600",
            &format!("Basic {basic}"),
            b"",
        )?;
        if reply.status != 200 {
            return Err(format!(
                "POST /tokens: {} {}",
                reply.status,
                String::from_utf8_lossy(&reply.body)
            )
            .into());
        }
        let body: serde_json::Value = serde_json::from_slice(&reply.body)?;
        let token = body["token"].as_str().ok_or("POST /tokens answered no token")?;
        self.bearer = format!("Bearer {token}");
        self.password = password;
        Ok(())
    }

    /// Waits until `/healthz` says the master and its event bus are
    /// connected, and the pki directory's times are old enough for the
    /// daemon to cache the key listing.
    pub fn wait_for_salt(&self) -> Result<()> {
        let deadline = Instant::now() + PATIENCE;
        let mut conn = Conn::new(self.addr);
        loop {
            match conn.request("GET", "/healthz", "", b"") {
                Ok(reply) if reply.status == 200 => break,
                Ok(reply) if Instant::now() >= deadline => {
                    return Err(format!(
                        "/healthz still {} {}",
                        reply.status,
                        String::from_utf8_lossy(&reply.body)
                    )
                    .into())
                }
                Err(err) if Instant::now() >= deadline => return Err(err.into()),
                _ => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        // The daemon fetches the minions' functions once at start; let
        // that job end, and the key directories' times settle.
        std::thread::sleep(Duration::from_millis(1500));
        Ok(())
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("daemon.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Kills the daemon (by its pid) and reaps it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------
// A minimal HTTP/1.1 client: keep-alive, Content-Length framing
// ---------------------------------------------------------------------------

pub struct Reply {
    pub status: u16,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

pub struct Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            stream: None,
            buf: Vec::with_capacity(4096),
        }
    }

    /// One request (`auth` empty: no `Authorization`). Reconnects when the
    /// daemon closed the connection; a failed exchange drops it.
    pub fn request(&mut self, method: &str, path: &str, auth: &str, body: &[u8]) -> std::io::Result<Reply> {
        let result = self.exchange(method, path, auth, body);
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    fn exchange(&mut self, method: &str, path: &str, auth: &str, body: &[u8]) -> std::io::Result<Reply> {
        if self.stream.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, PATIENCE)?;
            stream.set_nodelay(true)?;
            stream.set_read_timeout(Some(PATIENCE))?;
            stream.set_write_timeout(Some(PATIENCE))?;
            self.stream = Some(stream);
            self.buf.clear();
        }
        let Some(stream) = self.stream.as_mut() else {
            unreachable!("connected just above")
        };
        let auth_line = if auth.is_empty() {
            String::new()
        } else {
            format!("Authorization: {auth}\r\n")
        };
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\n{auth_line}Content-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        stream.write_all(&request)?;

        let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_owned());
        let mut chunk = [0u8; 8192];
        let head_end = loop {
            if let Some(pos) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
            let got = stream.read(&mut chunk)?;
            if got == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..got]);
        };
        let head = std::str::from_utf8(&self.buf[..head_end]).map_err(|_| bad("head is not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("bad status line"))?;
        let mut length = 0;
        let mut close = false;
        let mut location = None;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().map_err(|_| bad("bad Content-Length"))?;
            } else if name.eq_ignore_ascii_case("connection") && value.eq_ignore_ascii_case("close") {
                close = true;
            } else if name.eq_ignore_ascii_case("location") {
                location = Some(value.to_owned());
            }
        }
        while self.buf.len() < head_end + length {
            let got = stream.read(&mut chunk)?;
            if got == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..got]);
        }
        let body = self.buf[head_end..head_end + length].to_vec();
        self.buf.drain(..head_end + length);
        if close {
            self.stream = None;
        }
        Ok(Reply {
            status,
            location,
            body,
        })
    }
}

// ---------------------------------------------------------------------------
// Readings of the child
// ---------------------------------------------------------------------------

/// Samples the daemon's VmRSS and thread count every 100 ms.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<(u64, u64)>,
}

impl Sampler {
    pub fn start(pid: u32) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let (mut rss, mut threads) = (0, 0);
            loop {
                rss = rss.max(proc_status(pid, "VmRSS").unwrap_or(0));
                threads = threads.max(proc_status(pid, "Threads").unwrap_or(0));
                if flag.load(Ordering::Relaxed) {
                    return (rss, threads);
                }
                std::thread::sleep(SAMPLE_EVERY);
            }
        });
        Sampler { stop, thread }
    }

    /// Peak (VmRSS kB, threads).
    pub fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap_or((0, 0))
    }
}

/// A number field of `/proc/<pid>/status` (`VmRSS` in kB, `Threads`).
pub fn proc_status(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The process's user and system CPU time, in seconds.
pub fn cpu_seconds(pid: u32) -> (f64, f64) {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return (0.0, 0.0);
    };
    // Fields after the command name (which may hold spaces): state is the
    // 3rd field, utime and stime the 14th and 15th.
    let Some(rest) = text.rsplit_once(')').map(|(_, r)| r) else {
        return (0.0, 0.0);
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    // CLK_TCK is 100 on Linux.
    (ticks(11) / 100.0, ticks(12) / 100.0)
}

/// Percentiles in milliseconds (nearest rank).
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Stats {
    pub fn of(samples: &[Duration]) -> Stats {
        if samples.is_empty() {
            return Stats::default();
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let rank = |p: f64| ms[((p / 100.0 * ms.len() as f64).ceil() as usize).clamp(1, ms.len()) - 1];
        Stats {
            count: ms.len(),
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: ms[ms.len() - 1],
            mean: ms.iter().sum::<f64>() / ms.len() as f64,
        }
    }

    pub fn json(&self) -> serde_json::Value {
        json!({
            "count": self.count, "p50_ms": round(self.p50), "p90_ms": round(self.p90),
            "p99_ms": round(self.p99), "max_ms": round(self.max), "mean_ms": round(self.mean),
        })
    }
}

pub fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
