//! The fake master's event bus: one thread that owns the Unix listener
//! and its readers, and writes what the request server hands it, framed,
//! everything waiting in one write per reader. It must not touch the
//! request socket.

use std::io::Write as _;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use rmpv::Value;

use super::server::ToBus;
use super::wire::{events, map, pack, standard_value};
use super::{BoxError, Builder, Counts, Emit, Framing};

pub(super) struct Bus {
    path: PathBuf,
    /// `None` while restarting.
    listener: Option<UnixListener>,
    readers: Vec<UnixStream>,
    framing: Framing,
    torn: bool,
    master_events: bool,
    counts: Arc<Counts>,
}

/// Frames waiting to be written, and how many events they hold.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    events: u64,
}

impl Bus {
    /// Listens at `path` (taking the place of what is there).
    pub(super) fn listen_at(path: PathBuf, settings: &Builder, counts: Arc<Counts>) -> Result<Bus, BoxError> {
        let mut bus = Bus {
            path,
            listener: None,
            readers: Vec::new(),
            framing: settings.framing,
            torn: settings.torn,
            master_events: settings.master_events,
            counts,
        };
        bus.listen()?;
        Ok(bus)
    }

    pub(super) fn run(
        &mut self,
        from_server: &mpsc::Receiver<ToBus>,
        stop: &AtomicBool,
    ) -> Result<(), BoxError> {
        let mut batch = Batch::default();
        while !stop.load(Ordering::Relaxed) {
            self.accept()?;
            let mut next = match from_server.recv_timeout(Duration::from_millis(10)) {
                Ok(item) => Some(item),
                Err(mpsc::RecvTimeoutError::Timeout) => continue,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
            };
            // Whatever else is waiting goes in the same write.
            while let Some(item) = next {
                self.add(item, &mut batch)?;
                next = (batch.bytes.len() < 1 << 20)
                    .then(|| from_server.try_recv().ok())
                    .flatten();
            }
            self.write(&mut batch);
        }
        Ok(())
    }

    fn add(&mut self, item: ToBus, batch: &mut Batch) -> Result<(), BoxError> {
        let emit = match item {
            ToBus::Job { jid, fun, minions } => {
                events(&jid, &fun, &minions, self.master_events, &standard_value)
            }
            ToBus::Emit(emit) => emit,
        };
        for item in emit {
            match item {
                Emit::Event(tag, data) => {
                    self.frame(&mut batch.bytes, &tag, &data)?;
                    batch.events += 1;
                }
                Emit::Restart(pause) => {
                    self.write(batch);
                    self.restart(pause)?;
                }
            }
        }
        Ok(())
    }

    /// Appends `{"head": {}, "body": bin(tag "\n\n" msgpack(data))}`, framed.
    fn frame(&self, out: &mut Vec<u8>, tag: &str, data: &Value) -> Result<(), BoxError> {
        let mut body = format!("{tag}\n\n").into_bytes();
        body.extend_from_slice(&pack(data));
        let outer = pack(&map(vec![("head", map(vec![])), ("body", Value::Binary(body))]));
        if self.framing == Framing::Prefixed {
            out.extend_from_slice(&u32::try_from(outer.len())?.to_be_bytes());
        }
        out.extend_from_slice(&outer);
        Ok(())
    }

    /// Writes the batch to every reader and empties it; a reader that
    /// cannot take it is dropped.
    fn write(&mut self, batch: &mut Batch) {
        let torn = self.torn;
        let bytes = &batch.bytes;
        self.readers.retain_mut(|reader| {
            if !torn {
                return reader.write_all(bytes).is_ok();
            }
            bytes.iter().all(|b| {
                let ok = reader.write_all(std::slice::from_ref(b)).is_ok();
                std::thread::sleep(Duration::from_micros(300));
                ok
            })
        });
        let readers = self.readers.len() as u64;
        self.counts.connected.store(readers, Ordering::Relaxed);
        self.counts
            .events
            .fetch_add(batch.events * readers, Ordering::Relaxed);
        batch.bytes.clear();
        batch.events = 0;
    }

    fn accept(&mut self) -> Result<(), BoxError> {
        let Some(listener) = &self.listener else {
            return Ok(());
        };
        loop {
            let stream = match listener.accept() {
                Ok((stream, _)) => stream,
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return Ok(()),
                Err(err) => return Err(err.into()),
            };
            stream.set_nonblocking(false)?;
            stream.set_write_timeout(Some(Duration::from_secs(10)))?;
            self.readers.push(stream);
            self.counts.readers.fetch_add(1, Ordering::Relaxed);
            self.counts
                .connected
                .store(self.readers.len() as u64, Ordering::Relaxed);
        }
    }

    fn listen(&mut self) -> Result<(), BoxError> {
        match std::fs::remove_file(&self.path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => return Err(err.into()),
            _ => {}
        }
        let listener = UnixListener::bind(&self.path)?;
        listener.set_nonblocking(true)?;
        self.listener = Some(listener);
        Ok(())
    }

    fn restart(&mut self, pause: Duration) -> Result<(), BoxError> {
        self.listener = None;
        for reader in self.readers.drain(..) {
            // Already closed by the reader is as good.
            let _ = reader.shutdown(std::net::Shutdown::Both);
        }
        self.counts.connected.store(0, Ordering::Relaxed);
        std::fs::remove_file(&self.path)?;
        std::thread::sleep(pause);
        self.listen()
    }
}
