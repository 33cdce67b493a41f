//! A Server-Sent Events client for the tests: curl, a real client, reads
//! the stream (`-N`: nothing buffered), a thread parses its output into
//! messages as the SSE specification frames them.

use std::io::BufReader;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use super::Daemon;

/// How long a test waits for a message it expects; it fails then, it
/// never hangs.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// One SSE message: an event, a `retry:` line, or a comment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    pub id: Option<String>,
    /// `event:`, or `message` when the server gave none.
    pub event: String,
    pub data: String,
    pub retry: Option<u64>,
    /// A comment line's text (a heartbeat).
    pub comment: Option<String>,
}

impl Message {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|err| panic!("{err}: {self:?}"))
    }
}

/// An open stream; curl is killed when it drops.
pub struct Sse {
    curl: Child,
    messages: mpsc::Receiver<Message>,
}

impl Sse {
    /// `GET path` (with its query) on `server`, with these headers.
    pub fn open(server: &Daemon, path: &str, headers: &[(&str, &str)]) -> Sse {
        let mut command = Command::new("curl");
        command.args(["-sN", "--max-time", "600"]);
        for (name, value) in headers {
            command.arg("-H").arg(format!("{name}: {value}"));
        }
        command.arg(format!("http://{}{path}", server.addr()));
        let mut curl = command
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("curl runs");
        let out = curl.stdout.take().expect("curl's output");
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || parse(BufReader::new(out), tx));
        Sse { curl, messages }
    }

    /// With a Bearer token.
    pub fn with_token(server: &Daemon, path: &str, token: &str) -> Sse {
        let auth = format!("Bearer {token}");
        Sse::open(server, path, &[("Authorization", &auth)])
    }

    /// The next message, `None` once the stream has ended.
    pub fn next(&self) -> Option<Message> {
        match self.messages.recv_timeout(PATIENCE) {
            Ok(message) => Some(message),
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("no message came in {PATIENCE:?}"),
        }
    }

    /// The next event (not a comment or `retry:`), `None` at the end.
    pub fn next_event(&self) -> Option<Message> {
        loop {
            let message = self.next()?;
            if message.comment.is_none() && message.retry.is_none() {
                return Some(message);
            }
        }
    }

    /// The next event of kind `event`, passing over others.
    pub fn next_of(&self, event: &str) -> Option<Message> {
        loop {
            let message = self.next_event()?;
            if message.event == event {
                return Some(message);
            }
        }
    }

    /// Every message until the stream ends.
    pub fn rest(&self) -> Vec<Message> {
        std::iter::from_fn(|| self.next()).collect()
    }
}

impl Drop for Sse {
    fn drop(&mut self) {
        let _ = self.curl.kill();
        let _ = self.curl.wait();
    }
}

/// Lines to messages: a blank line ends one; `field: value` lines fill it.
fn parse(out: impl std::io::BufRead, tx: mpsc::Sender<Message>) {
    let mut message = Message::default();
    let mut any = false;
    for line in out.lines() {
        let Ok(line) = line else { return };
        if line.is_empty() {
            if any {
                if message.event.is_empty() {
                    message.event = "message".into();
                }
                if tx.send(std::mem::take(&mut message)).is_err() {
                    return;
                }
            }
            any = false;
            continue;
        }
        any = true;
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        match field {
            "" => message.comment = Some(value.to_owned()),
            "id" => message.id = Some(value.to_owned()),
            "event" => message.event = value.to_owned(),
            "retry" => message.retry = value.parse().ok(),
            "data" => {
                if !message.data.is_empty() {
                    message.data.push('\n');
                }
                message.data.push_str(value);
            }
            _ => {}
        }
    }
}
