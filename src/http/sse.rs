//! Server-Sent Events: the writer both surfaces' streams share (salt-api's
//! `GET /events`, the v1.0 API's `GET /api/v1.0/events`), salt-api's
//! event framing, and a response body fed from a channel.
//!
//! A stream's writer is a task of its own: it waits on its [`Source`], on
//! a heartbeat timer, on token checks and on shutdown at once; the body
//! only hands on what it writes. When hyper drops the body (the client
//! went away) the channel closes and the writer sees it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::Response;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

use super::body::{BodyError, Reply};
use super::{ApiError, AppState};
use crate::auth::Caller;

/// How often a stream checks that its token is still valid when nothing
/// is written (it checks before each write as well).
const CHECK_EVERY: Duration = Duration::from_secs(3);
/// Silence after which a stream sends a comment line.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// How long the last event waits for a client to take it.
const FAREWELL_WAIT: Duration = Duration::from_secs(10);
/// Chunks written but not yet taken by hyper; past it the writer waits,
/// and what feeds the source (bounded) fills instead.
const BODY_DEPTH: usize = 16;

/// Why a stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The client closed the connection.
    ClientGone,
    /// The token expired or was revoked.
    TokenInvalid,
    /// The daemon is stopping.
    Shutdown,
    /// The client fell too far behind (or what fed the stream stopped).
    Cut,
    /// The store could not be read (the caller's rights, or events).
    Failed,
}

/// The event streams open at once, both surfaces together: at most
/// `max-streams`, below `max-connections`, so that request/response
/// clients always find a connection.
pub struct Streams {
    permits: Arc<Semaphore>,
    limit: usize,
}

/// A stream's place among the open ones, given back when it drops.
pub type StreamPermit = OwnedSemaphorePermit;

impl Streams {
    pub fn new(limit: usize) -> Streams {
        Streams {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// A place for one more stream, or 503 when every one is taken.
    pub fn open(&self) -> Result<StreamPermit, ApiError> {
        self.permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| ApiError::Unavailable {
                message: format!(
                    "{} event streams are open, the most this server allows",
                    self.limit
                ),
                retry_after: Duration::from_secs(5),
            })
    }
}

/// What a source gives the writer next.
pub enum Next {
    /// A chunk to write.
    Send(Bytes),
    /// Nothing to write for what happened (an event this caller may not
    /// see); the writer waits again.
    Skip,
    /// The stream ends.
    End(End),
}

/// What a stream writes.
pub trait Source: Send {
    /// The next chunk. Must be cancel-safe: the writer races it against
    /// its timers and drops it when one fires first.
    fn next(&mut self) -> impl Future<Output = Next> + Send;

    /// The last chunk written when the stream ends for `end`, if any.
    fn farewell(&self, end: End) -> Option<Bytes> {
        let _ = end;
        None
    }
}

/// Starts a stream for `caller`: `first` (its `retry:` line), then what
/// `source` gives, with heartbeats, until the client goes, the token
/// stops being valid, shutdown begins or the source ends it. `name` is
/// the stream's kind for the log. The writer holds `guard` (a stream
/// permit, say) until it ends.
pub fn start<S: Source + 'static>(
    state: &AppState,
    caller: Caller,
    name: &'static str,
    first: &'static [u8],
    source: S,
    guard: impl Send + 'static,
) -> Reply {
    let (tx, body) = ChannelBody::new(BODY_DEPTH);
    let state = state.clone();
    log::info!("user {}: {name} stream opened", caller.user_id);
    tokio::spawn(async move {
        let mut source = source;
        let end = write(&state, &caller, first, &mut source, &tx).await;
        if let Some(last) = source.farewell(end) {
            // A slow client is cut while its body is full: the last event
            // waits for room, a while.
            let _ = tokio::time::timeout(FAREWELL_WAIT, tx.send(last)).await;
        }
        log::info!("user {}: {name} stream ended ({end:?})", caller.user_id);
        drop(guard);
    });
    let mut reply = Response::new(http_body_util::BodyExt::boxed_unsync(body));
    let headers = reply.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx buffers a proxied answer unless told not to.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    reply
}

async fn write<S: Source>(
    state: &AppState,
    caller: &Caller,
    first: &'static [u8],
    source: &mut S,
    tx: &mpsc::Sender<Bytes>,
) -> End {
    let auth = &state.auth;
    if let Err(end) = send(state, tx, Bytes::from_static(first)).await {
        return end;
    }
    let mut check = tokio::time::interval(CHECK_EVERY);
    check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let heartbeat = tokio::time::sleep(HEARTBEAT);
    tokio::pin!(heartbeat);
    loop {
        let chunk = tokio::select! {
            biased;
            _ = state.shutdown.begun() => return End::Shutdown,
            _ = tx.closed() => return End::ClientGone,
            _ = check.tick() => {
                if !auth.still_valid(caller) {
                    return End::TokenInvalid;
                }
                continue;
            }
            next = source.next() => match next {
                Next::Send(bytes) => bytes,
                Next::Skip => continue,
                Next::End(end) => return end,
            },
            _ = &mut heartbeat => Bytes::from_static(PING),
        };
        // Nothing is written under a token that is no longer valid (one
        // store read per write, none for the events this user is not shown).
        if !auth.still_valid(caller) {
            return End::TokenInvalid;
        }
        if let Err(end) = send(state, tx, chunk).await {
            return end;
        }
        heartbeat.as_mut().reset(tokio::time::Instant::now() + HEARTBEAT);
    }
}

/// Hands one chunk to the body, unless shutdown begins while it waits.
async fn send(state: &AppState, tx: &mpsc::Sender<Bytes>, chunk: Bytes) -> Result<(), End> {
    tokio::select! {
        sent = tx.send(chunk) => sent.map_err(|_| End::ClientGone),
        _ = state.shutdown.begun() => Err(End::Shutdown),
    }
}

/// The first bytes of a stream: how long a client waits before it
/// reconnects (salt-api's value, in milliseconds).
pub const RETRY: &[u8] = b"retry: 400\n\n";

/// A comment line, sent after a while without events so that proxies do
/// not time the stream out.
pub const PING: &[u8] = b": ping\n\n";

/// One event as salt-api writes it: its tag, then the JSON of
/// `{"tag", "data"}` on one line. `None` for a tag that would break the
/// framing (a line break in it), which is then not sent at all.
pub fn event(tag: &str, data: &serde_json::Value) -> Option<Bytes> {
    if tag.contains(['\n', '\r']) {
        return None;
    }
    // Compact JSON escapes every line break inside strings: one line.
    let json = serde_json::to_string(&serde_json::json!({"tag": tag, "data": data})).ok()?;
    Some(Bytes::from(format!("tag: {tag}\ndata: {json}\n\n")))
}

/// A body made of the chunks a writer sends; it ends when the writer
/// drops its sender.
pub struct ChannelBody {
    chunks: mpsc::Receiver<Bytes>,
}

impl ChannelBody {
    /// A body and the sender that feeds it, at most `depth` chunks ahead
    /// of the client.
    pub fn new(depth: usize) -> (mpsc::Sender<Bytes>, ChannelBody) {
        let (tx, rx) = mpsc::channel(depth);
        (tx, ChannelBody { chunks: rx })
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        self.chunks
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    #[test]
    fn events_are_written_as_salt_api_writes_them() {
        let data = serde_json::json!({"_stamp": "2026-12-03T14:00:00.123456", "post": {"a": "x\ny"}});
        let bytes = event("salt/netapi/hook/e2e", &data).unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        let (tag_line, rest) = text.split_once('\n').unwrap();
        assert_eq!(tag_line, "tag: salt/netapi/hook/e2e");
        let json = rest.strip_prefix("data: ").unwrap().strip_suffix("\n\n").unwrap();
        assert!(!json.contains('\n'), "one line");
        let back: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(
            back,
            serde_json::json!({"tag": "salt/netapi/hook/e2e", "data": data})
        );
        assert_eq!(event("a\nb", &data), None);
        assert_eq!(event("a\rb", &data), None);
    }

    #[tokio::test]
    async fn the_body_ends_with_its_writer() {
        let (tx, body) = ChannelBody::new(4);
        tx.send(Bytes::from_static(RETRY)).await.unwrap();
        tx.send(Bytes::from_static(PING)).await.unwrap();
        drop(tx);
        let all = body.collect().await.unwrap().to_bytes();
        assert_eq!(&all[..], b"retry: 400\n\n: ping\n\n");
    }
}
