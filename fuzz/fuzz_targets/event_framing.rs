//! The master event bus stream: framing detection, both framings (bare
//! msgpack, 4-byte big-endian length prefix), reassembly from arbitrary
//! read sizes, then the frame's tag and data.
//!
//! Input: one byte choosing the read size, then the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use projetyd::fuzzing;
use projetyd::salt::wire::{self, Framing};
use rmpv::Value;

fuzz_target!(|data: &[u8]| {
    let Some((&size, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(size % 64) + 1;
    let whole = read(stream, stream.len().max(1));
    let pieces = read(stream, chunk);
    // Reassembly must not depend on how the socket reads split the stream.
    assert_eq!(whole, pieces, "read size {chunk}");
});

/// What the reader sees: the frames taken and how the stream ended.
#[derive(Debug, PartialEq)]
struct Seen {
    frames: Vec<Vec<u8>>,
    end: Result<usize, String>,
}

/// The event bus reader's loop, in memory, `chunk` bytes per read.
fn read(stream: &[u8], chunk: usize) -> Seen {
    let mut buf = Vec::new();
    let mut framing = None;
    let mut frames = Vec::new();
    for piece in stream.chunks(chunk) {
        buf.extend_from_slice(piece);
        let framing = match framing {
            Some(f) => f,
            None => match Framing::detect(buf[0]) {
                Ok(f) => *framing.insert(f),
                Err(err) => {
                    return Seen {
                        frames,
                        end: Err(err.to_string()),
                    }
                }
            },
        };
        loop {
            match framing.take(&mut buf) {
                Ok(Some(frame)) => frames.push(dispatch(&frame)),
                Ok(None) => break,
                Err(err) => {
                    return Seen {
                        frames,
                        end: Err(err.to_string()),
                    }
                }
            }
        }
    }
    Seen {
        frames,
        end: Ok(buf.len()),
    }
}

/// What `EventBus::dispatch` does with a frame; returns the frame
/// re-encoded, for comparison.
fn dispatch(frame: &Value) -> Vec<u8> {
    if let Ok((tag, raw)) = wire::split_frame(frame) {
        let jid = tag
            .strip_prefix("salt/job/")
            .and_then(|rest| rest.split('/').next());
        if jid.is_some() {
            if let Ok(data) = wire::decode(raw) {
                let _ = fuzzing::return_from_data(&data);
            }
        }
    }
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, frame).expect("encoding into a Vec");
    out
}
