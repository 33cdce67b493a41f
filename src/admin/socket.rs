//! The daemon's side of the admin channel: a Unix socket (mode 0600) that
//! accepts one JSON request line per connection from root or the daemon's
//! own user, runs it on the blocking pool and answers one JSON line.

use std::io;
use std::os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};

use super::{execute, FailKind, Reply, Request};
use crate::background::Background;
use crate::store::Store;

/// Longest request line accepted (requests are a few dozen bytes).
const MAX_LINE: u64 = 4096;
/// Time a client has to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(5);

/// The bound admin socket; the file is removed when this is dropped.
pub struct AdminSocket {
    listener: UnixListener,
    path: PathBuf,
    /// The daemon's effective uid; root and this uid may send requests.
    owner: u32,
}

/// Binds `path`. A stale socket file (nobody answering) is replaced; a live
/// one means another daemon uses it, which is refused.
pub fn bind(path: &Path) -> io::Result<AdminSocket> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a socket", path.display()),
            ));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("another daemon answers on {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    // The socket file was just made by this process: its owner is our uid.
    let owner = std::fs::metadata(path)?.uid();
    Ok(AdminSocket {
        listener,
        path: path.into(),
        owner,
    })
}

impl AdminSocket {
    /// Serves requests until the returned future is dropped. Each
    /// connection runs in `connections`, to its end: stopping it waits for
    /// the commands being answered.
    pub async fn serve(&self, store: Store, connections: Background) {
        loop {
            match self.listener.accept().await {
                Ok((stream, _)) => {
                    let store = store.clone();
                    let owner = self.owner;
                    connections.spawn_to_end("admin connection", async move {
                        if let Err(err) = connection(stream, store, owner).await {
                            log::warn!("admin connection failed: {err}");
                        }
                    });
                }
                Err(err) => {
                    log::warn!("admin socket accept failed: {err}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }
}

impl Drop for AdminSocket {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_file(&self.path) {
            log::warn!("cannot remove {}: {err}", self.path.display());
        }
    }
}

async fn connection(mut stream: UnixStream, store: Store, owner: u32) -> io::Result<()> {
    let peer = stream.peer_cred()?.uid();
    let (read, mut write) = stream.split();
    // The request is read before anything is answered, even for a peer that
    // will be refused, so that its client sees the refusal, not a broken pipe.
    let mut line = String::new();
    let read = tokio::time::timeout(
        READ_TIMEOUT,
        BufReader::new(read.take(MAX_LINE)).read_line(&mut line),
    )
    .await;
    // The file mode already keeps others out; the peer check also covers a
    // socket whose mode was loosened by hand.
    if peer != 0 && peer != owner {
        log::warn!("admin request from uid {peer} refused");
        return reply_to(
            &mut write,
            &refusal("only root or the daemon's user may administer projetyd"),
        )
        .await;
    }
    let request: Request = match read {
        Ok(Ok(_)) => match serde_json::from_str(&line) {
            Ok(request) => request,
            Err(err) => return reply_to(&mut write, &refusal(&format!("bad request: {err}"))).await,
        },
        Ok(Err(err)) => return Err(err),
        Err(_) => return reply_to(&mut write, &refusal("request not received in time")).await,
    };
    log::info!("admin request: {}", describe(&request));
    if request == Request::Backup {
        return stream_backup(&mut write, store).await;
    }
    let answer = tokio::task::spawn_blocking(move || execute(&store, &request))
        .await
        .unwrap_or_else(|err| refusal(&format!("the request failed: {err}")));
    reply_to(&mut write, &answer).await
}

/// The request without secrets (there are none in requests, but the log
/// line states only what was asked).
fn describe(request: &Request) -> String {
    match request {
        Request::AddUser { name } => format!("adduser {name}"),
        Request::Passwd { name } => format!("passwd {name}"),
        Request::DelUser { name } => format!("deluser {name}"),
        Request::Users => "users".into(),
        Request::CreateRole { name, role } => format!("createrole {name} {role:?}"),
        Request::DelRole { name, role } => format!("delrole {name} {role:?}"),
        Request::Roles { name } => format!("roles {name}"),
        Request::CreateAcl {
            name,
            minions,
            functions,
        } => format!("createacl {name} {minions:?} {functions:?}"),
        Request::Acls { name } => format!("acls {name}"),
        Request::DelAcl { name, id } => format!("delacl {name} {id}"),
        Request::Check => "db check".into(),
        Request::Backup => "db backup".into(),
    }
}

/// Chunks of a backup on their way from the blocking writer to the socket.
const CHUNK: usize = 64 * 1024;

/// Answers `BackupFollows`, then the backup itself. The backup is written
/// on the blocking pool into a small bounded channel, so memory stays at a
/// few chunks whatever the database's size, and a client that goes away
/// stops the backup.
async fn stream_backup(write: &mut tokio::net::unix::WriteHalf<'_>, store: Store) -> io::Result<()> {
    let mut line = serde_json::to_vec(&Reply::BackupFollows).map_err(io::Error::other)?;
    line.push(b'\n');
    write.write_all(&line).await?;
    let (chunks, mut receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let writer = tokio::task::spawn_blocking(move || {
        let out = ChannelWriter {
            chunks,
            buf: Vec::with_capacity(CHUNK),
        };
        store.backup(out)
    });
    while let Some(chunk) = receiver.recv().await {
        write.write_all(&chunk).await?;
    }
    match writer.await {
        Ok(Ok(summary)) => log::info!(
            "backup sent: {} user(s), {} token(s), {} task(s), {} bytes",
            summary.users,
            summary.tokens,
            summary.tasks,
            summary.bytes
        ),
        // The client sees a backup without its checksum and refuses it.
        Ok(Err(err)) => log::error!("backup failed: {err}"),
        Err(err) => log::error!("backup task failed: {err}"),
    }
    write.shutdown().await
}

struct ChannelWriter {
    chunks: tokio::sync::mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= CHUNK {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.chunks
            .blocking_send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the backup's reader went away"))
    }
}

fn refusal(message: &str) -> Reply {
    Reply::Failed {
        kind: FailKind::Internal,
        message: message.into(),
    }
}

async fn reply_to(write: &mut tokio::net::unix::WriteHalf<'_>, answer: &Reply) -> io::Result<()> {
    let mut line = serde_json::to_vec(answer).map_err(io::Error::other)?;
    line.push(b'\n');
    write.write_all(&line).await?;
    write.shutdown().await
}
