//! `GET /api/v1.0/events`: the v1.0 event stream (Server-Sent Events;
//! docs/api.md, "Events"). It carries, as the caller asks:
//!
//! - `task`: its tasks' events (queued, running, each minion's return,
//!   and the final state with the task record), each with an `id:`, so a
//!   client that reconnects with `Last-Event-ID` gets every event it
//!   missed from the store;
//! - `job`: the master's job, runner and wheel events the caller's ACLs
//!   let it see (as on salt-api's `/events`);
//! - `presence`: which accepted minions answer, among those it may ping;
//! - `salt` (admins): the master's raw events, by tag prefix.
//!
//! The writer is the one both surfaces share (`http::sse`): heartbeats,
//! the token checked while the stream is open, bounded buffers.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use hyper::header::{HeaderValue, AUTHORIZATION};
use serde_json::{json, Map, Value};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::history;
use crate::auth::Caller;
use crate::http::body::Reply;
use crate::http::sse::{self, End, Next};
use crate::http::{route, ApiError, AppState, Req};
use crate::pool::Recorded;
use crate::salt::events::AllEvents;
use crate::salt::wire::Event;
use crate::service::events::visible;
use crate::service::presence::Fleet;
use crate::service::Rights;
use crate::store::TaskEventKind;

/// How long a client waits before it reconnects, in milliseconds.
const RETRY: &[u8] = b"retry: 2000\n\n";

/// Events read from the store at once when a client resumes.
const REPLAY_PAGE: usize = 256;

/// What a stream carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Wanted {
    task: bool,
    job: bool,
    presence: bool,
    /// Raw events with these tag prefixes (admins).
    salt: Option<Vec<String>>,
    /// Every user's task events (admins).
    all: bool,
}

/// # `GET /api/v1.0/events[?events=task,job,presence,salt&all=true&tag=<prefix>&token=<token>]`
///
/// The token as `Authorization: Bearer`, or as `?token=` for a browser's
/// `EventSource`, which cannot set headers.
///
/// - `200 text/event-stream`
/// - `400` an unknown event kind, a bad `all`, `tag` or `Last-Event-ID`
/// - `401` no valid token · `403` `all` or `tag` for a non-admin
/// - `503` `job`, `presence` or `salt` without Salt; as many streams open
///   as `max-streams` allows
pub fn get(state: &AppState, req: &Req) -> Result<Reply, ApiError> {
    let caller = authenticate(state, req)?;
    let rights = state.service.rights(caller.user_id)?;
    let mut wanted = wanted(req, rights.is_admin())?;
    let salt = match state.service.salt() {
        Ok(salt) => Some(salt.clone()),
        // Without Salt there are tasks to show (their records), nothing else.
        Err(_) if query(req, "events").is_none() && query(req, "tag").is_none() => {
            wanted = Wanted {
                task: true,
                all: wanted.all,
                ..Wanted::default()
            };
            None
        }
        Err(err) => return Err(err.into()),
    };
    let resume = last_event_id(req)?;
    let permit = state.streams.open()?;
    let tasks = wanted.task.then(|| {
        let events = state.service.task_events();
        // Live first, then the store: nothing recorded in between is lost
        // (the live events already read are dropped by id).
        TaskFeed {
            live: events.subscribe(),
            last: resume.unwrap_or(0),
            replaying: resume.is_some(),
            loading: None,
        }
    });
    let bus = match &salt {
        Some(salt) if wanted.job || wanted.salt.is_some() => Some(salt.subscribe_all()),
        _ => None,
    };
    let presence = wanted.presence.then(|| {
        let mut now = state.service.presence().watch();
        // What is known already is shown at once.
        now.mark_changed();
        PresenceFeed {
            now,
            shown: BTreeMap::new(),
            started: false,
        }
    });
    let stream = Stream {
        state: state.clone(),
        caller,
        wanted,
        pending: VecDeque::new(),
        tasks,
        bus,
        presence,
    };
    Ok(sse::start(state, caller, "v1.0 event", RETRY, stream, permit))
}

/// The caller: a Bearer token, or `?token=`.
fn authenticate(state: &AppState, req: &Req) -> Result<Caller, ApiError> {
    if let Some(header) = req.parts.headers.get(AUTHORIZATION) {
        return Ok(state.auth.authenticate(Some(header.as_bytes()))?);
    }
    match query(req, "token") {
        Some(token) => Ok(state.auth.authenticate_token(&token)?),
        None => Ok(state.auth.authenticate(None)?),
    }
}

/// Query parameter `name`, percent-decoded (`None` when absent or
/// undecodable).
fn query(req: &Req, name: &str) -> Option<String> {
    crate::http::query_param(req, name).and_then(route::decode_segment)
}

/// Every value of query parameter `name`, percent-decoded.
fn query_all(req: &Req, name: &str) -> Result<Vec<String>, ApiError> {
    let Some(text) = req.parts.uri.query() else {
        return Ok(Vec::new());
    };
    text.split('&')
        .filter_map(|pair| pair.split_once('=').filter(|(key, _)| *key == name))
        .map(|(_, value)| {
            route::decode_segment(value)
                .ok_or_else(|| ApiError::BadRequest(format!("{name} is not percent-encoded UTF-8")))
        })
        .collect()
}

fn wanted(req: &Req, admin: bool) -> Result<Wanted, ApiError> {
    let mut wanted = Wanted::default();
    match query(req, "events") {
        None => {
            wanted.task = true;
            wanted.job = true;
            wanted.presence = true;
        }
        Some(list) => {
            for kind in list.split(',').map(str::trim) {
                match kind {
                    "task" => wanted.task = true,
                    "job" => wanted.job = true,
                    "presence" => wanted.presence = true,
                    "salt" => wanted.salt = Some(Vec::new()),
                    other => {
                        return Err(ApiError::BadRequest(format!(
                            "unknown event kind {other:?}: events is a list of task, job, presence and salt"
                        )))
                    }
                }
            }
        }
    }
    let tags = query_all(req, "tag")?;
    if !tags.is_empty() {
        if tags.iter().any(|tag| tag.contains(['\n', '\r'])) {
            return Err(ApiError::BadRequest("a tag cannot hold a line break".into()));
        }
        wanted.salt = Some(tags);
    }
    wanted.all = match query(req, "all").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(ApiError::BadRequest("all must be true or false".into())),
    };
    if !admin && (wanted.all || wanted.salt.is_some()) {
        return Err(ApiError::Forbidden(
            "only admins may see every user's tasks (all) or the master's raw events (salt, tag)".into(),
        ));
    }
    // `salt` without a tag: every event.
    if let Some(tags) = &mut wanted.salt {
        if tags.is_empty() {
            tags.push(String::new());
        }
    }
    Ok(wanted)
}

/// The id after which to resume: `Last-Event-ID` (what `EventSource`
/// sends when it reconnects), or `?last_event_id=`.
fn last_event_id(req: &Req) -> Result<Option<u64>, ApiError> {
    let text = match req.parts.headers.get("last-event-id").map(HeaderValue::to_str) {
        Some(Ok(text)) => Some(text.trim().to_owned()),
        Some(Err(_)) => return Err(ApiError::BadRequest("Last-Event-ID is not an event id".into())),
        None => query(req, "last_event_id"),
    };
    match text.as_deref() {
        // An empty one is how a client says it has none.
        None | Some("") => Ok(None),
        Some(text) if text.bytes().all(|b| b.is_ascii_digit()) => text
            .parse()
            .map(Some)
            .map_err(|_| ApiError::BadRequest("Last-Event-ID is not an event id".into())),
        Some(_) => Err(ApiError::BadRequest("Last-Event-ID is not an event id".into())),
    }
}

/// One open stream.
struct Stream {
    state: AppState,
    caller: Caller,
    wanted: Wanted,
    /// Chunks made and not yet given to the writer (a replayed page).
    pending: VecDeque<Bytes>,
    tasks: Option<TaskFeed>,
    bus: Option<AllEvents>,
    presence: Option<PresenceFeed>,
}

struct TaskFeed {
    live: broadcast::Receiver<Arc<Recorded>>,
    /// The highest id shown or passed over.
    last: u64,
    /// Reading the store after `last` (a client resuming).
    replaying: bool,
    /// The page being read, kept across a cancelled `next`.
    loading: Option<JoinHandle<Result<Vec<Recorded>, crate::store::Error>>>,
}

struct PresenceFeed {
    now: watch::Receiver<Option<Arc<Fleet>>>,
    /// What this stream has shown (the minions its user may ping).
    shown: BTreeMap<String, bool>,
    started: bool,
}

/// What woke a stream.
enum Woke {
    Task(Result<Arc<Recorded>, broadcast::error::RecvError>),
    Bus(Option<Event>),
    Presence(Result<(), watch::error::RecvError>),
}

impl sse::Source for Stream {
    async fn next(&mut self) -> Next {
        loop {
            if let Some(chunk) = self.pending.pop_front() {
                return Next::Send(chunk);
            }
            if let Some(end) = self.replay().await {
                return Next::End(end);
            }
            if !self.pending.is_empty() {
                continue;
            }
            let woke = tokio::select! {
                got = recv_task(self.tasks.as_mut()) => Woke::Task(got),
                got = recv_bus(self.bus.as_mut()) => Woke::Bus(got),
                got = presence_changed(self.presence.as_mut()) => Woke::Presence(got),
            };
            let Ok(rights) = self.state.service.rights(self.caller.user_id) else {
                return Next::End(End::Failed);
            };
            let chunk = match woke {
                // Fell `LIVE_BUFFER` events behind: the client resumes
                // from the store with the last id it has.
                Woke::Task(Err(_)) => return Next::End(End::Cut),
                Woke::Task(Ok(recorded)) => self.live_task(&rights, &recorded),
                Woke::Bus(None) => return Next::End(End::Cut),
                Woke::Bus(Some(event)) => self.bus_event(&rights, &event),
                Woke::Presence(Err(_)) => return Next::End(End::Cut),
                Woke::Presence(Ok(())) => self.presence_update(&rights),
            };
            if let Some(chunk) = chunk {
                return Next::Send(chunk);
            }
        }
    }

    fn farewell(&self, end: End) -> Option<Bytes> {
        let reason = match end {
            End::ClientGone => return None,
            End::Cut => "too_slow",
            End::TokenInvalid => "token_invalid",
            End::Shutdown => "shutdown",
            End::Failed => "error",
        };
        Some(frame("end", None, &json!({ "reason": reason })))
    }
}

async fn recv_task(feed: Option<&mut TaskFeed>) -> Result<Arc<Recorded>, broadcast::error::RecvError> {
    match feed {
        Some(feed) => feed.live.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_bus(bus: Option<&mut AllEvents>) -> Option<Event> {
    match bus {
        Some(bus) => bus.events.recv().await,
        None => std::future::pending().await,
    }
}

async fn presence_changed(feed: Option<&mut PresenceFeed>) -> Result<(), watch::error::RecvError> {
    match feed {
        Some(feed) => feed.now.changed().await,
        None => std::future::pending().await,
    }
}

impl Stream {
    /// Reads the next page of a resuming client's events into `pending`;
    /// an end when the store cannot be read.
    async fn replay(&mut self) -> Option<End> {
        let feed = self.tasks.as_mut().filter(|feed| feed.replaying)?;
        let after = feed.last;
        let events = self.state.service.task_events();
        let loading = feed
            .loading
            .get_or_insert_with(|| tokio::task::spawn_blocking(move || events.after(after, REPLAY_PAGE)));
        let page = loading.await;
        feed.loading = None;
        let page = match page
            .map_err(|err| err.to_string())
            .and_then(|read| read.map_err(|err| err.to_string()))
        {
            Ok(page) => page,
            Err(err) => {
                log::error!(
                    "user {}: task events could not be read: {err}",
                    self.caller.user_id
                );
                return Some(End::Failed);
            }
        };
        if page.len() < REPLAY_PAGE {
            feed.replaying = false;
        }
        feed.last = page.last()?.seq;
        let Ok(rights) = self.state.service.rights(self.caller.user_id) else {
            return Some(End::Failed);
        };
        for recorded in &page {
            if let Some(chunk) = self.task_event(&rights, recorded) {
                self.pending.push_back(chunk);
            }
        }
        None
    }

    /// A live task event, unless a replay already showed it.
    fn live_task(&mut self, rights: &Rights, recorded: &Recorded) -> Option<Bytes> {
        let feed = self.tasks.as_mut()?;
        if recorded.seq <= feed.last {
            return None;
        }
        feed.last = recorded.seq;
        self.task_event(rights, recorded)
    }

    /// A task event as the caller sees it, if it may.
    fn task_event(&self, rights: &Rights, recorded: &Recorded) -> Option<Bytes> {
        let event = &recorded.event;
        let mine = event.user_id == self.caller.user_id;
        if !(mine || self.wanted.all && rights.is_admin()) {
            return None;
        }
        let id = uuid::Uuid::from_bytes(event.task).to_string();
        let data = match &event.kind {
            TaskEventKind::State(state) => {
                // The record as it is now; a task gone (past retention,
                // or a restore) has nothing left to show.
                let task = self.state.store.task(&event.task).ok()??;
                json!({
                    "task": id,
                    "event": state.as_str(),
                    "job": history::view(event.task, task),
                })
            }
            TaskEventKind::Return {
                minion,
                value,
                retcode,
                success,
            } => json!({
                "task": id,
                "event": "return",
                "minion": minion,
                "return": serde_json::from_str::<Value>(value).unwrap_or(Value::Null),
                "retcode": retcode,
                "success": success,
            }),
        };
        Some(frame("task", Some(recorded.seq), &data))
    }

    /// A master event: `job` if the caller's ACLs let it see it, else
    /// `salt` for an admin who asked for its tag.
    fn bus_event(&self, rights: &Rights, event: &Event) -> Option<Bytes> {
        if event.tag.contains(['\n', '\r']) {
            return None;
        }
        let job_tag = ["salt/job/", "salt/run/", "salt/wheel/"]
            .iter()
            .any(|prefix| event.tag.starts_with(prefix));
        let kind = if self.wanted.job && job_tag && visible(rights, &event.tag, &event.data) {
            "job"
        } else if rights.is_admin()
            && self
                .wanted
                .salt
                .as_ref()
                .is_some_and(|tags| tags.iter().any(|tag| event.tag.starts_with(tag.as_str())))
        {
            "salt"
        } else {
            return None;
        };
        let data = json!({"tag": event.tag, "data": crate::salt::json::to_json(&event.data)});
        Some(frame(kind, None, &data))
    }

    /// What changed in the fleet among the minions the caller may ping:
    /// all of them the first time (`null` for one no longer a key).
    fn presence_update(&mut self, rights: &Rights) -> Option<Bytes> {
        let feed = self.presence.as_mut()?;
        let fleet = feed.now.borrow_and_update().clone()?;
        let mut changed = Map::new();
        for (id, &up) in fleet.iter() {
            if feed.shown.get(id) == Some(&up) || !rights.permits("test.ping", std::slice::from_ref(id)) {
                continue;
            }
            feed.shown.insert(id.clone(), up);
            changed.insert(id.clone(), Value::Bool(up));
        }
        feed.shown.retain(|id, _| {
            let kept = fleet.contains_key(id);
            if !kept {
                changed.insert(id.clone(), Value::Null);
            }
            kept
        });
        if changed.is_empty() && feed.started {
            return None;
        }
        feed.started = true;
        Some(frame("presence", None, &json!({ "minions": changed })))
    }
}

/// One event: its id (task events), its kind, its data as JSON on one line
/// (compact JSON escapes every line break inside strings).
fn frame(kind: &str, id: Option<u64>, data: &Value) -> Bytes {
    let mut out = String::new();
    if let Some(id) = id {
        out.push_str(&format!("id: {id}\n"));
    }
    out.push_str(&format!("event: {kind}\ndata: {data}\n\n"));
    Bytes::from(out)
}
