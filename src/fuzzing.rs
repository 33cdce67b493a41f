//! Entry points for the cargo-fuzz targets in `fuzz/` (see
//! `docs/fuzzing.md`): thin wrappers around parsers that are private to
//! their modules. Not part of the API; nothing in the daemon calls these.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use bytes::Bytes;
use rmpv::Value;
use yaml_rust2::{Yaml, YamlLoader};

use crate::http::{self, ApiError, Req};
use crate::salt::{self, MasterConfig, Return};
use crate::store::{self, codec, Task, Token, User};

/// A request path looked up in the v1.0 route table: the pattern it
/// matched with its parameters (`Debug` form) and the pattern's `Allow`
/// value, or `None` (a 404).
pub fn resolve(path: &str) -> Option<(String, String)> {
    let (pattern, params) = http::route::resource(http::v1::TABLE, path)?;
    Some((
        format!("{pattern} {params:?}"),
        http::route::allow(http::v1::TABLE, pattern),
    ))
}

/// The percent-decoding applied to path parameters.
pub fn decode_segment(segment: &str) -> Option<String> {
    http::route::decode_segment(segment)
}

/// The first value of query parameter `name` in `uri`, as the handlers
/// see it (undecoded).
pub fn query_param(uri: &hyper::Uri, name: &str) -> Option<String> {
    let (mut parts, ()) = hyper::Request::new(()).into_parts();
    parts.uri = uri.clone();
    let req = Req {
        parts,
        body: Bytes::new(),
        peer: SocketAddr::from(([127, 0, 0, 1], 0)),
        params: http::route::Params::default(),
        caller: None,
    };
    http::query_param(&req, name).map(str::to_owned)
}

/// Whether a `Host` value may be put into a `Location` URL.
pub fn valid_host(host: &str) -> bool {
    http::query::valid_host(host)
}

/// The strict seconds parser of `?timeout=`, `?wait=` and `?expiration=`.
pub fn seconds(text: &str, min: u64, max: u64) -> Result<u64, ApiError> {
    http::query::seconds("fuzz", text, min, max)
}

/// `?expiration=` as `POST /tokens` reads it.
pub fn parse_lifetime(text: &str, max: u64) -> Result<u64, ApiError> {
    http::v1::tokens::parse_lifetime(text, max)
}

/// A task or job id from a path or `?after=`.
pub fn parse_id(text: &str) -> Option<[u8; 16]> {
    http::v1::deferred::parse_id(text)
}

/// The body of `POST /api/v1.0/ping` (and of the async task variant).
pub fn parse_targets(body: &[u8]) -> Result<BTreeSet<String>, ApiError> {
    http::v1::ping::parse_targets(body)
}

/// One request line on the admin socket, parsed as the daemon parses it.
pub fn admin_request(line: &str) -> Result<crate::admin::Request, serde_json::Error> {
    serde_json::from_str(line)
}

/// One reply line from the admin socket, read as the admin client reads it.
pub fn admin_reply(mut bytes: &[u8]) -> Result<crate::admin::Reply, crate::admin::Error> {
    crate::admin::receive(&mut bytes, std::path::Path::new("(fuzz)"))
}

/// A minion's return from event or job-cache data.
pub fn return_from_data(data: &Value) -> Return {
    Return::from_data(data)
}

/// The master configuration from the texts of `/etc/salt/master` and its
/// `master.d/*.conf` files, in order, resolved as `MasterConfig::load`
/// resolves the files (without reading any).
pub fn master_config(texts: &[&str]) -> Result<MasterConfig, salt::Error> {
    let file = std::path::Path::new("(fuzz)");
    let mut config = MasterConfig::defaults();
    let mut root_dir = std::path::PathBuf::from("/");
    for text in texts {
        let mut docs = YamlLoader::load_from_str(text)
            .map_err(|err| salt::Error::Config(format!("not valid YAML: {err}")))?;
        let doc = if docs.is_empty() {
            Yaml::Null
        } else {
            docs.swap_remove(0)
        };
        config.apply(&doc, &mut root_dir, file)?;
    }
    config.sock_dir = salt::config::under_root(&root_dir, &config.sock_dir);
    config.cachedir = salt::config::under_root(&root_dir, &config.cachedir);
    config.pki_dir = salt::config::under_root(&root_dir, &config.pki_dir);
    Ok(config)
}

/// A `userid_user` record.
pub fn decode_user(bytes: &[u8]) -> Result<User, store::Error> {
    codec::decode("userid_user", b"fuzz", bytes)
}

/// A `tokenhash_token` record.
pub fn decode_token(bytes: &[u8]) -> Result<Token, store::Error> {
    codec::decode("tokenhash_token", b"fuzz", bytes)
}

/// A `taskid_task` record.
pub fn decode_task(bytes: &[u8]) -> Result<Task, store::Error> {
    codec::decode("taskid_task", b"fuzz", bytes)
}

/// Encodes a user record as the store writes it.
pub fn encode_user(user: &User) -> Result<Vec<u8>, store::Error> {
    codec::encode(user)
}

/// Encodes a token record as the store writes it.
pub fn encode_token(token: &Token) -> Result<Vec<u8>, store::Error> {
    codec::encode(token)
}

/// Encodes a task record as the store writes it.
pub fn encode_task(task: &Task) -> Result<Vec<u8>, store::Error> {
    codec::encode(task)
}
