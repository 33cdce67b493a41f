//! [`Daemon`]: the real `projetyd` binary run by `serve` on `127.0.0.1:0`
//! in a private temporary directory. It learns the bound address from the
//! systemd readiness datagram, runs the admin command on its database,
//! signals, restarts and kills it. Tests and benches alike start their
//! daemons here.
//!
//! Nothing is shared between two daemons: each has its own directory,
//! database, admin socket, log file and notify socket.

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::command::{admin, run, Output};
use crate::http::{request_bytes, Conn, Response};
use crate::{basic, bearer, binary, PATIENCE};

/// A `projetyd serve` child process and its private directory.
pub struct Daemon {
    dir: tempfile::TempDir,
    /// Database directory (`<dir>/db` unless a test shares another's).
    pub db: PathBuf,
    /// Admin socket path.
    pub socket: PathBuf,
    /// Extra `serve` flags, e.g. `--token-lifetime 5`.
    args: Vec<String>,
    /// `RUST_LOG` for the daemon.
    pub rust_log: String,
    /// Where the daemon's readiness and stopping messages arrive.
    notify: UnixDatagram,
    notify_path: PathBuf,
    /// The daemon's stderr, appended to across restarts.
    log_path: PathBuf,
    child: Option<Child>,
    addr: Option<SocketAddr>,
}

impl Daemon {
    /// A daemon with these extra `serve` flags, started and ready.
    pub fn start(args: &[&str]) -> Daemon {
        let mut server = Daemon::new(args);
        server.launch();
        server
    }

    /// A fresh directory and settings; no daemon yet (see [`launch`]).
    ///
    /// [`launch`]: Daemon::launch
    pub fn new(args: &[&str]) -> Daemon {
        let dir = tempfile::Builder::new().prefix("projetyd-").tempdir().unwrap();
        let notify_path = dir.path().join("notify.sock");
        let notify = UnixDatagram::bind(&notify_path).unwrap();
        Daemon {
            db: dir.path().join("db"),
            socket: dir.path().join("admin.sock"),
            log_path: dir.path().join("daemon.log"),
            args: args.iter().map(|s| s.to_string()).collect(),
            rust_log: "info".into(),
            notify,
            notify_path,
            child: None,
            addr: None,
            dir,
        }
    }

    /// The private directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts the daemon and waits until it is ready; panics with its log
    /// if it is not. (The daemon installs its SIGTERM/SIGINT handlers before
    /// it reports ready: `lifecycle::sigterm_right_after_ready_exits_zero`.)
    pub fn launch(&mut self) {
        if let Err(status) = self.try_launch() {
            panic!("the daemon did not start ({status}); its log:\n{}", self.log());
        }
    }

    /// Starts the daemon; `Err` with its exit status if it exits before
    /// saying it is ready.
    pub fn try_launch(&mut self) -> Result<(), ExitStatus> {
        assert!(self.child.is_none(), "the daemon is already running");
        // Forget anything a previous run said.
        self.notify.set_nonblocking(true).unwrap();
        let mut scratch = [0u8; 1024];
        while self.notify.recv(&mut scratch).is_ok() {}
        self.notify.set_nonblocking(false).unwrap();

        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .unwrap();
        let mut command = Command::new(binary());
        command
            .arg("serve")
            // Without Salt flags a test covers users and tokens only; the
            // Salt end-to-end tests pass --salt-config for a real lab.
            .args(if self.args.iter().any(|a| a.starts_with("--salt-")) {
                None
            } else {
                Some("--no-salt")
            })
            // Port 0 (the address comes with READY) unless the caller
            // chose one.
            .args(
                match self.args.iter().any(|a| a == "--listen") {
                    true => None,
                    false => Some(["--listen", "127.0.0.1:0"]),
                }
                .into_iter()
                .flatten(),
            )
            .arg("--db")
            .arg(&self.db)
            .arg("--admin-socket")
            .arg(&self.socket)
            .args(&self.args)
            .env("NOTIFY_SOCKET", &self.notify_path)
            .env("RUST_LOG", &self.rust_log)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let mut child = command.spawn().unwrap();

        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Err(status);
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not become ready within {PATIENCE:?}; its log:\n{}",
                self.log()
            );
            // Short waits, so that a daemon that exits early is noticed.
            if let Some(message) = self.notification(Duration::from_millis(200)) {
                if let Some(addr) = ready_address(&message) {
                    self.addr = Some(addr);
                    self.child = Some(child);
                    return Ok(());
                }
            }
        }
    }

    /// The next message on the notify socket, if one comes within `wait`.
    pub fn notification(&self, wait: Duration) -> Option<String> {
        self.notify.set_read_timeout(Some(wait)).unwrap();
        let mut buf = [0u8; 4096];
        match self.notify.recv(&mut buf) {
            Ok(n) => Some(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => None,
        }
    }

    /// Waits (up to [`PATIENCE`]) for a notify message containing `what`.
    pub fn wait_notification(&self, what: &str) -> String {
        let deadline = Instant::now() + PATIENCE;
        while Instant::now() < deadline {
            if let Some(message) = self.notification(Duration::from_millis(200)) {
                if message.contains(what) {
                    return message;
                }
            }
        }
        panic!(
            "no {what:?} notification within {PATIENCE:?}; log:\n{}",
            self.log()
        );
    }

    /// The address the running daemon listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("the daemon has not been started")
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the daemon is not running").id()
    }

    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => child.try_wait().unwrap().is_none(),
            None => false,
        }
    }

    /// Everything the daemon wrote to stderr so far (all runs).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Sends `signal` (e.g. `"TERM"`) to the daemon.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits for the daemon to exit (panics after `within`) and returns its
    /// status.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("the daemon is not running");
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the daemon did not exit within {within:?}; its log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal("TERM");
        self.wait_exit(PATIENCE)
    }

    /// SIGTERM (asserting a clean exit), then start again on the same
    /// directory.
    pub fn restart(&mut self) {
        let status = self.stop();
        assert!(
            status.success(),
            "stop before restart: {status}; log:\n{}",
            self.log()
        );
        self.launch();
    }

    /// SIGKILL: no cleanup at all, as after a crash.
    pub fn kill(&mut self) {
        let mut child = self.child.take().expect("the daemon is not running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    // -- admin command ------------------------------------------------------

    /// `projetyd <command> --db .. --admin-socket .. <rest>` on this
    /// server's database and socket.
    pub fn admin(&self, command: &str, rest: &[&str]) -> Output {
        admin(command, &self.db, &self.socket, rest)
    }

    /// `projetyd db ACTION --db .. --admin-socket ..` on this server.
    pub fn admin_db(&self, action: &str) -> Output {
        self.admin_db_with(action, &[])
    }

    /// `projetyd db ACTION --db .. --admin-socket .. <rest>`.
    pub fn admin_db_with(&self, action: &str, rest: &[&str]) -> Output {
        let mut cmd = Command::new(binary());
        cmd.args(["db", action])
            .arg("--db")
            .arg(&self.db)
            .arg("--admin-socket")
            .arg(&self.socket)
            .args(rest);
        run(cmd)
    }

    /// `adduser NAME`; returns the generated password.
    pub fn adduser(&self, name: &str) -> String {
        let out = self.admin("adduser", &[name]);
        assert!(out.status.success(), "adduser {name}: {out:?}");
        let prefix = format!("User {name} created with password ");
        let password = out.stdout.trim().strip_prefix(&prefix).unwrap_or_else(|| {
            panic!("unexpected adduser output: {out:?}");
        });
        assert!(!password.is_empty() && !password.contains(char::is_whitespace));
        password.to_owned()
    }

    /// `passwd NAME`; returns the new password.
    pub fn passwd(&self, name: &str) -> String {
        let out = self.admin("passwd", &[name]);
        assert!(out.status.success(), "passwd {name}: {out:?}");
        let prefix = format!("User {name} has a new password ");
        let rest = out.stdout.trim().strip_prefix(&prefix).unwrap_or_else(|| {
            panic!("unexpected passwd output: {out:?}");
        });
        rest.split_whitespace().next().unwrap().to_owned()
    }

    // -- HTTP ---------------------------------------------------------------

    /// A new connection to the daemon.
    pub fn conn(&self) -> Conn {
        Conn::open(self.addr())
    }

    /// One request on its own connection, with `Connection: close`.
    pub fn call(&self, method: &str, path: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Response {
        let mut conn = self.conn();
        conn.send(&request_bytes(method, path, headers, body, true))
            .unwrap();
        conn.read_response().unwrap()
    }

    /// `GET path` with an optional Bearer token.
    pub fn get(&self, path: &str, token: Option<&str>) -> Response {
        match token {
            Some(token) => self.call("GET", path, &[("Authorization", bearer(token).as_bytes())], b""),
            None => self.call("GET", path, &[], b""),
        }
    }

    /// `POST /api/v1.0/tokens<query>` with Basic credentials.
    pub fn login(&self, user: &str, password: &str, query: &str) -> Response {
        let path = format!("/api/v1.0/tokens{query}");
        self.call(
            "POST",
            &path,
            &[("Authorization", basic(user, password).as_bytes())],
            b"",
        )
    }

    /// A token for `user` (asserts the login succeeds).
    pub fn token(&self, user: &str, password: &str) -> String {
        let response = self.login(user, password, "");
        assert_eq!(response.status, 200, "login as {user}: {response:?}");
        response.json()["token"].as_str().unwrap().to_owned()
    }

    /// `DELETE /api/v1.0/tokens` with this token.
    pub fn revoke(&self, token: &str) -> Response {
        self.call(
            "DELETE",
            "/api/v1.0/tokens",
            &[("Authorization", bearer(token).as_bytes())],
            b"",
        )
    }

    /// `GET /api/v1.0/users` with this token (asserts 200); the list.
    pub fn users(&self, token: &str) -> Vec<Value> {
        let response = self.get("/api/v1.0/users", Some(token));
        assert_eq!(response.status, 200, "{response:?}");
        response.json()["users"].as_array().unwrap().clone()
    }

    /// A new user `name` and a token of `expiration` seconds for it:
    /// `(password, token)`.
    pub fn user_with_token(&self, name: &str, expiration: u64) -> (String, String) {
        let password = self.adduser(name);
        let response = self.login(name, &password, &format!("?expiration={expiration}"));
        assert_eq!(response.status, 200, "login as {name}: {response:?}");
        let token = response.json()["token"].as_str().unwrap().to_owned();
        (password, token)
    }

    /// Polls `path` (no token) until it answers `status`; panics with the
    /// log after `within`.
    pub fn wait_for(&self, path: &str, status: u16, within: Duration) {
        let start = Instant::now();
        loop {
            let response = self.get(path, None);
            if response.status == status {
                return;
            }
            assert!(
                start.elapsed() < within,
                "{path} still answers {response:?} after {within:?}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last `lines` lines of the log.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The address in `READY=1\nSTATUS=listening on 127.0.0.1:PORT\n...`.
fn ready_address(message: &str) -> Option<SocketAddr> {
    if !message.lines().any(|line| line == "READY=1") {
        return None;
    }
    let status = message
        .lines()
        .find_map(|line| line.strip_prefix("STATUS=listening on "))?;
    status.trim().parse().ok()
}
