//! The request channel to the master's ret port: a small pool of threads,
//! each owning one ZeroMQ REQ socket with at most one request in flight.
//! zmq blocks, so none of this runs on the async workers; callers await a
//! oneshot. A socket whose request timed out is closed and reopened (a REQ
//! socket cannot send again before it has received).

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;

use super::Error;
use crate::sync::LockAnyway as _;

/// One request: bytes out, bytes back within `timeout`.
struct Job {
    payload: Vec<u8>,
    timeout: Duration,
    reply: oneshot::Sender<Result<Vec<u8>, Error>>,
}

/// Handle on the pool; cheap to clone. Dropping every handle stops the
/// threads.
#[derive(Clone)]
pub struct ReqPool {
    jobs: SyncSender<Job>,
}

/// Requests waiting for a free socket before callers are told "busy".
const QUEUE: usize = 1024;

impl ReqPool {
    /// Starts `size` socket threads connecting to `endpoint`.
    pub fn new(endpoint: &str, size: usize) -> Result<ReqPool, Error> {
        let context = zmq::Context::new();
        let (jobs, queue) = mpsc::sync_channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..size.max(1) {
            let worker = Worker {
                context: context.clone(),
                endpoint: endpoint.to_owned(),
                socket: None,
            };
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("salt-req-{n}"))
                .spawn(move || worker.run(&queue))
                .map_err(|err| Error::Io(format!("cannot start a socket thread: {err}")))?;
        }
        Ok(ReqPool { jobs })
    }

    /// Sends `payload` and waits for the master's reply.
    pub async fn request(&self, payload: Vec<u8>, timeout: Duration) -> Result<Vec<u8>, Error> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            payload,
            timeout,
            reply,
        };
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(Error::Busy),
            Err(TrySendError::Disconnected(_)) => {
                return Err(Error::Io("the socket threads are gone".into()))
            }
        }
        answer
            .await
            .map_err(|_| Error::Io("a socket thread dropped a request".into()))?
    }
}

struct Worker {
    context: zmq::Context,
    endpoint: String,
    socket: Option<zmq::Socket>,
}

impl Worker {
    fn run(mut self, queue: &Mutex<Receiver<Job>>) {
        loop {
            let job = {
                let queue = queue.lock_anyway();
                match queue.recv() {
                    Ok(job) => job,
                    Err(_) => return,
                }
            };
            if job.reply.is_closed() {
                continue; // the caller gave up while the job was queued
            }
            let result = self.exchange(&job.payload, job.timeout);
            if result.is_err() {
                // Timed out or broken: this socket may hold a reply for a
                // request nobody waits for any more. Start afresh.
                self.socket = None;
            }
            let _ = job.reply.send(result);
        }
    }

    fn exchange(&mut self, payload: &[u8], timeout: Duration) -> Result<Vec<u8>, Error> {
        if self.socket.is_none() {
            self.socket = Some(self.open()?);
        }
        let socket = self.socket.as_ref().expect("opened just above");
        let millis = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        socket.set_rcvtimeo(millis).map_err(zmq_error)?;
        socket.set_sndtimeo(millis).map_err(zmq_error)?;
        socket.send(payload, 0).map_err(|err| match err {
            zmq::Error::EAGAIN => Error::Timeout,
            other => zmq_error(other),
        })?;
        socket.recv_bytes(0).map_err(|err| match err {
            zmq::Error::EAGAIN => Error::Timeout,
            other => zmq_error(other),
        })
    }

    fn open(&self) -> Result<zmq::Socket, Error> {
        let socket = self.context.socket(zmq::REQ).map_err(zmq_error)?;
        socket.set_linger(0).map_err(zmq_error)?;
        socket.set_reconnect_ivl_max(5000).map_err(zmq_error)?;
        // Do not queue requests for a master that is not connected: fail
        // the send at once (with the send timeout) instead.
        socket.set_immediate(true).map_err(zmq_error)?;
        socket.connect(&self.endpoint).map_err(zmq_error)?;
        Ok(socket)
    }
}

fn zmq_error(err: zmq::Error) -> Error {
    Error::Io(format!("zeromq: {err}"))
}
