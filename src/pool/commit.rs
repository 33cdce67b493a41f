//! Group commit: many tasks ask for their writes to be durable at once;
//! one `flush` (an fsync) serves every request that arrived while the
//! previous one ran. Without it each submit paid a whole fsync of its own
//! and the submit rate was bounded by the disk's sync latency.

use tokio::sync::{mpsc, oneshot};

use crate::background::Background;
use crate::store::{self, Store};

type Waiter = oneshot::Sender<Result<(), String>>;

/// Handle on the committer task; cheap to clone.
#[derive(Clone)]
pub struct GroupCommit {
    requests: mpsc::UnboundedSender<Waiter>,
}

impl GroupCommit {
    /// Starts the committer for `store`, in `background`.
    pub fn start(store: Store, background: &Background) -> GroupCommit {
        let (requests, receiver) = mpsc::unbounded_channel();
        background.spawn("group commit", run(store, receiver));
        GroupCommit { requests }
    }

    /// Returns once everything written before this call is on disk.
    pub async fn flush(&self) -> Result<(), store::Error> {
        let (done, wait) = oneshot::channel();
        let gone = || store::Error::Flush("the commit task has stopped".into());
        self.requests.send(done).map_err(|_| gone())?;
        wait.await.map_err(|_| gone())?.map_err(store::Error::Flush)
    }
}

async fn run(store: Store, mut receiver: mpsc::UnboundedReceiver<Waiter>) {
    while let Some(first) = receiver.recv().await {
        // Everyone who asked before this flush starts is covered by it.
        let mut batch = vec![first];
        while let Ok(more) = receiver.try_recv() {
            batch.push(more);
        }
        let store = store.clone();
        let result = match tokio::task::spawn_blocking(move || store.flush()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(err) => Err(format!("the flush task failed: {err}")),
        };
        for waiter in batch {
            let _ = waiter.send(result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_flushes_all_complete() {
        let store = Store::temporary().unwrap();
        let commit = GroupCommit::start(store, &Background::new());
        let handles: Vec<_> = (0..100)
            .map(|_| {
                let commit = commit.clone();
                tokio::spawn(async move { commit.flush().await })
            })
            .collect();
        for handle in handles {
            handle.await.unwrap().unwrap();
        }
    }
}
