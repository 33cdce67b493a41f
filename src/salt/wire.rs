//! Salt's bytes: the clear request envelope (msgpack maps, `version: 3`),
//! the replies, event-bus frames (bare msgpack or 4-byte length prefixed)
//! and job ids. No sockets here.

use std::sync::atomic::{AtomicU64, Ordering};

use rmpv::Value;
use serde::Serialize;

use super::Error;

/// The clear envelope around every request.
#[derive(Serialize)]
struct Envelope<L> {
    enc: &'static str,
    load: L,
    version: u32,
}

/// Encodes `load` in the clear envelope, as maps with string keys.
pub fn envelope<L: Serialize>(load: &L) -> Result<Vec<u8>, Error> {
    let env = Envelope {
        enc: "clear",
        load,
        version: 3,
    };
    rmp_serde::to_vec_named(&env).map_err(|err| Error::Protocol(format!("cannot encode a request: {err}")))
}

/// A `publish` load: always `tgt_type: list` so an id can never widen the
/// target, always a client-made jid.
#[derive(Serialize)]
pub struct Publish<'a> {
    pub cmd: &'static str,
    pub tgt: &'a [String],
    pub tgt_type: &'static str,
    pub fun: &'a str,
    pub arg: &'a [Value],
    pub key: &'a str,
    pub user: &'static str,
    pub ret: &'static str,
    pub jid: &'a str,
}

impl<'a> Publish<'a> {
    pub fn new(tgt: &'a [String], fun: &'a str, arg: &'a [Value], key: &'a str, jid: &'a str) -> Publish<'a> {
        Publish {
            cmd: "publish",
            tgt,
            tgt_type: "list",
            fun,
            arg,
            key,
            user: "root",
            ret: "",
            jid,
        }
    }
}

/// A `wheel` load with both `arg` and `kwarg`: the master then calls the
/// function with exactly those, so the other keys (`user`, `key`) are safe.
/// Without them it would pass the whole load as keyword arguments.
#[derive(Serialize)]
pub struct Wheel<'a> {
    pub cmd: &'static str,
    pub fun: &'a str,
    pub arg: &'a [Value],
    /// A map (keyword → value), in the caller's order.
    pub kwarg: &'a Value,
    pub key: &'a str,
    pub user: &'static str,
}

impl<'a> Wheel<'a> {
    pub fn new(fun: &'a str, arg: &'a [Value], kwarg: &'a Value, key: &'a str) -> Wheel<'a> {
        Wheel {
            cmd: "wheel",
            fun,
            arg,
            kwarg,
            key,
            user: "root",
        }
    }
}

/// A `runner` load. The master hands only its `kwarg` to the runner (as
/// the "low" data), so the function's own `arg` and `kwarg` both go inside
/// it; a top-level `arg` is ignored. The master picks the jid (a `jid` in
/// the load is ignored too).
#[derive(Serialize)]
pub struct Runner<'a> {
    pub cmd: &'static str,
    pub fun: &'a str,
    pub kwarg: RunnerLow<'a>,
    pub key: &'a str,
    pub user: &'static str,
}

/// The runner's own arguments, inside the load's `kwarg`.
#[derive(Serialize)]
pub struct RunnerLow<'a> {
    pub arg: &'a [Value],
    pub kwarg: &'a Value,
}

impl<'a> Runner<'a> {
    pub fn new(fun: &'a str, arg: &'a [Value], kwarg: &'a Value, key: &'a str) -> Runner<'a> {
        Runner {
            cmd: "runner",
            fun,
            kwarg: RunnerLow { arg, kwarg },
            key,
            user: "root",
        }
    }
}

/// The clear `ping`: no key needed, the master echoes the load.
#[derive(Serialize)]
pub struct Ping {
    pub cmd: &'static str,
}

/// Decodes the msgpack value at the start of `bytes` (Salt sends one value
/// per message; anything after it is ignored).
pub fn decode(bytes: &[u8]) -> Result<Value, Error> {
    let mut cursor = bytes;
    let value = rmpv::decode::read_value(&mut cursor)
        .map_err(|err| Error::Protocol(format!("undecodable reply: {err}")))?;
    Ok(value)
}

/// Map lookup by string key (Salt may send keys as str or bin).
pub fn get<'v>(map: &'v Value, key: &str) -> Option<&'v Value> {
    map.as_map()?
        .iter()
        .find(|(k, _)| text(k) == Some(key))
        .map(|(_, v)| v)
}

/// A str or UTF-8 bin value as text.
pub fn text(value: &Value) -> Option<&str> {
    match value {
        Value::String(s) => s.as_str(),
        Value::Binary(b) => std::str::from_utf8(b).ok(),
        _ => None,
    }
}

/// A list of strings (e.g. `minions`), skipping anything else.
pub fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|items| items.iter().filter_map(text).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Turns an `{"error": {...}}` or `"bad load"` reply into an error: an
/// authentication failure is `Error::Auth`, any other named error (an
/// exception the master raised, `SaltInvocationError`, ...) is
/// `Error::Refused` with Salt's name and message.
pub fn check_reply(reply: &Value) -> Result<(), Error> {
    if let Some(err) = get(reply, "error").filter(|e| e.is_map()) {
        let name = get(err, "name").and_then(text).unwrap_or("error");
        let message = get(err, "message").and_then(text).unwrap_or("");
        if name.contains("AuthenticationError") {
            return Err(Error::Auth);
        }
        return Err(Error::Refused {
            name: name.to_owned(),
            message: message.to_owned(),
        });
    }
    if let Some(s) = text(reply) {
        return Err(Error::Master(s.to_owned()));
    }
    if let Some(msg) = get(reply, "msg").and_then(text) {
        return Err(Error::Master(msg.to_owned()));
    }
    Ok(())
}

/// One master event: its tag and its data.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub tag: String,
    pub data: Value,
}

/// How the event stream is framed; decided from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// 3006.26 and later 3006: a 4-byte big-endian length before each frame.
    Prefixed,
    /// Everything else: msgpack maps back to back.
    Bare,
}

/// Largest frame accepted; Salt trims events at `max_event_size` (1 MiB by
/// default), so anything near this is a broken stream.
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

impl Framing {
    pub fn detect(first: u8) -> Result<Framing, Error> {
        match first {
            0x00 => Ok(Framing::Prefixed),
            0x80..=0x8f | 0xde | 0xdf => Ok(Framing::Bare),
            other => Err(Error::Protocol(format!(
                "unexpected first byte {other:#04x} on the event bus"
            ))),
        }
    }

    /// Takes one whole frame from the front of `buf`: `Ok(None)` when more
    /// bytes are needed, the frame's outer msgpack value otherwise.
    pub fn take(self, buf: &mut Vec<u8>) -> Result<Option<Value>, Error> {
        match self {
            Framing::Prefixed => {
                let Some(head) = buf.get(..4) else { return Ok(None) };
                let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
                if len > MAX_FRAME {
                    return Err(Error::Protocol(format!("event frame of {len} bytes")));
                }
                if buf.len() < 4 + len {
                    return Ok(None);
                }
                let value = decode(&buf[4..4 + len])?;
                buf.drain(..4 + len);
                Ok(Some(value))
            }
            Framing::Bare => {
                let mut cursor = buf.as_slice();
                match rmpv::decode::read_value(&mut cursor) {
                    Ok(value) => {
                        let used = buf.len() - cursor.len();
                        buf.drain(..used);
                        Ok(Some(value))
                    }
                    Err(err) if is_eof(&err) => {
                        if buf.len() > MAX_FRAME {
                            return Err(Error::Protocol("event frame too large".into()));
                        }
                        Ok(None)
                    }
                    Err(err) => Err(Error::Protocol(format!("bad event frame: {err}"))),
                }
            }
        }
    }
}

fn is_eof(err: &rmpv::decode::Error) -> bool {
    match err {
        rmpv::decode::Error::InvalidMarkerRead(io) | rmpv::decode::Error::InvalidDataRead(io) => {
            io.kind() == std::io::ErrorKind::UnexpectedEof
        }
        rmpv::decode::Error::DepthLimitExceeded => false,
    }
}

/// The tag of a frame `{"head": .., "body": tag "\n\n" msgpack(data)}`,
/// and the undecoded data. Cheap: callers decode only events they want.
pub fn split_frame(frame: &Value) -> Result<(&str, &[u8]), Error> {
    let body = match get(frame, "body") {
        Some(Value::Binary(b)) => b.as_slice(),
        Some(Value::String(s)) => s.as_bytes(),
        _ => return Err(Error::Protocol("event frame without a body".into())),
    };
    let split = body
        .windows(2)
        .position(|w| w == b"\n\n")
        .ok_or_else(|| Error::Protocol("event body without a tag".into()))?;
    let tag =
        std::str::from_utf8(&body[..split]).map_err(|_| Error::Protocol("event tag is not UTF-8".into()))?;
    Ok((tag, &body[split + 2..]))
}

/// One event as the master's pull socket (`master_event_pull.ipc`) takes
/// it, in every supported Salt (3006.29, 3007.16, 3008.4): a 4-byte
/// big-endian length, then msgpack `{"head": {}, "body": <bin>}` whose
/// body is `<tag>\n\n` + msgpack(data) (bin type for bytes, as Salt's
/// `use_bin_type=True`). The same frame [`Framing::Prefixed`] reads.
pub fn event_frame(tag: &str, data: &Value) -> Result<Vec<u8>, Error> {
    if tag.is_empty() || tag.contains("\n\n") {
        return Err(Error::Protocol(format!("{tag:?} cannot be an event tag")));
    }
    let mut body = Vec::with_capacity(tag.len() + 64);
    body.extend_from_slice(tag.as_bytes());
    body.extend_from_slice(b"\n\n");
    rmpv::encode::write_value(&mut body, data)
        .map_err(|err| Error::Protocol(format!("cannot encode an event: {err}")))?;
    let outer = Value::Map(vec![
        ("head".into(), Value::Map(Vec::new())),
        ("body".into(), Value::Binary(body)),
    ]);
    let mut payload = Vec::new();
    rmpv::encode::write_value(&mut payload, &outer)
        .map_err(|err| Error::Protocol(format!("cannot encode an event: {err}")))?;
    if payload.len() > MAX_FRAME {
        return Err(Error::Protocol(format!("an event of {} bytes", payload.len())));
    }
    let mut out = Vec::with_capacity(4 + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Last jid handed out, as microseconds since the epoch: jids stay unique
/// and increasing even when two are made in the same microsecond.
static LAST_JID_MICROS: AtomicU64 = AtomicU64::new(0);

/// A new job id in Salt's format: 20 digits of UTC `%Y%m%d%H%M%S%f`.
pub fn new_jid() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64);
    let mut last = LAST_JID_MICROS.load(Ordering::Relaxed);
    let micros = loop {
        let next = now.max(last + 1);
        match LAST_JID_MICROS.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(actual) => last = actual,
        }
    };
    let (secs, frac) = (micros / 1_000_000, micros % 1_000_000);
    let (date, time) = crate::civil::utc_parts(secs);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}{frac:06}",
        date.0, date.1, date.2, time.0, time.1, time.2
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wheel_request_matches_the_documented_bytes_shape() {
        let arg: [Value; 0] = [];
        let bytes = envelope(&Ping { cmd: "ping" }).unwrap();
        let value = decode(&bytes).unwrap();
        assert_eq!(get(&value, "enc").and_then(text), Some("clear"));
        assert_eq!(get(&value, "version").and_then(Value::as_u64), Some(3));
        let publish = Publish::new(&[], "test.ping", &arg, "K", "1");
        let value = decode(&envelope(&publish).unwrap()).unwrap();
        let load = get(&value, "load").unwrap();
        assert!(load.is_map(), "maps, not arrays");
        assert_eq!(get(load, "tgt_type").and_then(text), Some("list"));
        assert_eq!(get(load, "user").and_then(text), Some("root"));
    }

    #[test]
    fn replies_are_checked() {
        let auth = Value::Map(vec![(
            "error".into(),
            Value::Map(vec![("name".into(), "AuthenticationError".into())]),
        )]);
        assert!(matches!(check_reply(&auth), Err(Error::Auth)));
        assert!(matches!(
            check_reply(&Value::from("bad load")),
            Err(Error::Master(_))
        ));
        assert!(check_reply(&Value::Map(vec![])).is_ok());
        let raised = Value::Map(vec![(
            "error".into(),
            Value::Map(vec![
                ("name".into(), "SaltInvocationError".into()),
                ("message".into(), "bad".into()),
            ]),
        )]);
        match check_reply(&raised) {
            Err(Error::Refused { name, message }) => {
                assert_eq!((&*name, &*message), ("SaltInvocationError", "bad"))
            }
            other => panic!("{other:?}"),
        }
    }

    fn frame(tag: &str, data: &Value) -> Vec<u8> {
        let mut body = format!("{tag}\n\n").into_bytes();
        rmpv::encode::write_value(&mut body, data).unwrap();
        let outer = Value::Map(vec![
            ("head".into(), Value::Map(vec![])),
            ("body".into(), Value::Binary(body)),
        ]);
        let mut out = Vec::new();
        rmpv::encode::write_value(&mut out, &outer).unwrap();
        out
    }

    #[test]
    fn bare_frames_reassemble_from_pieces() {
        let data = Value::Map(vec![("return".into(), Value::from("x".repeat(300_000)))]);
        let one = frame("salt/job/1/ret/m1", &data);
        let two = frame("salt/key", &Value::Map(vec![]));
        let stream = [one.clone(), two].concat();
        let framing = Framing::detect(stream[0]).unwrap();
        assert_eq!(framing, Framing::Bare);
        let mut buf = Vec::new();
        let mut frames = Vec::new();
        for chunk in stream.chunks(7_000) {
            buf.extend_from_slice(chunk);
            while let Some(f) = framing.take(&mut buf).unwrap() {
                frames.push(f);
            }
        }
        assert_eq!(frames.len(), 2);
        let (tag, raw) = split_frame(&frames[0]).unwrap();
        assert_eq!(tag, "salt/job/1/ret/m1");
        assert_eq!(decode(raw).unwrap(), data);
        assert!(buf.is_empty());
    }

    #[test]
    fn prefixed_frames_and_torn_lengths() {
        let one = frame("a", &Value::Nil);
        let mut stream = (one.len() as u32).to_be_bytes().to_vec();
        stream.extend_from_slice(&one);
        assert_eq!(Framing::detect(stream[0]).unwrap(), Framing::Prefixed);
        let mut buf = stream[..2].to_vec();
        assert_eq!(Framing::Prefixed.take(&mut buf).unwrap(), None);
        buf.extend_from_slice(&stream[2..]);
        assert!(Framing::Prefixed.take(&mut buf).unwrap().is_some());
        let mut huge = u32::MAX.to_be_bytes().to_vec();
        assert!(Framing::Prefixed.take(&mut huge).is_err());
        assert!(Framing::detect(0x01).is_err());
    }

    #[test]
    fn fired_events_read_back_as_the_bus_reads_them() {
        let data = Value::Map(vec![
            ("_stamp".into(), "2026-12-03T14:00:00.123456".into()),
            ("post".into(), Value::Map(vec![("a".into(), Value::from(1))])),
        ]);
        let bytes = event_frame("salt/netapi/hook/e2e/ping", &data).unwrap();
        assert_eq!(Framing::detect(bytes[0]).unwrap(), Framing::Prefixed);
        let mut buf = bytes.clone();
        let outer = Framing::Prefixed.take(&mut buf).unwrap().unwrap();
        assert!(buf.is_empty());
        assert!(
            matches!(get(&outer, "body"), Some(Value::Binary(_))),
            "body is bin"
        );
        let (tag, raw) = split_frame(&outer).unwrap();
        assert_eq!(tag, "salt/netapi/hook/e2e/ping");
        assert_eq!(decode(raw).unwrap(), data);
        assert!(event_frame("", &data).is_err());
        assert!(event_frame("a\n\nb", &data).is_err());
    }

    #[test]
    fn unknown_ext_types_decode() {
        let data = Value::Map(vec![(
            "when".into(),
            Value::Ext(78, b"20261126T17:29:03.1".to_vec()),
        )]);
        let bytes = frame("t", &data);
        let outer = decode(&bytes).unwrap();
        assert_eq!(decode(split_frame(&outer).unwrap().1).unwrap(), data);
    }

    #[test]
    fn jids_are_twenty_digits_and_increasing() {
        let a = new_jid();
        let b = new_jid();
        assert_eq!(a.len(), 20);
        assert!(a.bytes().all(|c| c.is_ascii_digit()));
        assert!(b > a);
        assert!(a.starts_with("20"));
    }
}
