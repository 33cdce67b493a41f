//! Server-Sent Events in salt-api's (rest_cherrypy) shape, and a response
//! body fed from a channel.
//!
//! The stream's writer is a task of its own (it waits on the bus, on a
//! heartbeat timer, on token checks and on shutdown at once); the body
//! only hands on what it writes. When hyper drops the body (the client
//! went away) the channel closes and the task sees it.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

use super::body::BodyError;

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
