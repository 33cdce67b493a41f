//! The master's local job cache (`master_job_cache: local_cache`): where a
//! minion's return can still be found when its event was missed.
//! Layout: `<cachedir>/jobs/<h[0:2]>/<h[2:]>/<minion>/return.p`, where `h`
//! is the hex SHA-256 of the jid and `return.p` is msgpack
//! `{"return", "retcode", "success"}`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ring::digest;

use super::outcome::Return;
use super::wire;

/// The cache directory of `jid`.
pub fn job_dir(cachedir: &Path, jid: &str) -> PathBuf {
    let hash: String = digest::digest(&digest::SHA256, jid.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    cachedir.join("jobs").join(&hash[..2]).join(&hash[2..])
}

/// The returns of `minions` for `jid` that the cache holds. A minion with
/// no return file has not returned (absent from the answer); a file that
/// cannot be read or decoded is logged and absent too (the events are the
/// other source of returns).
pub async fn returns(cachedir: &Path, jid: &str, minions: &[String]) -> BTreeMap<String, Return> {
    let dir = job_dir(cachedir, jid);
    let minions = minions.to_vec();
    let read = tokio::task::spawn_blocking(move || {
        minions
            .into_iter()
            .filter_map(|minion| {
                // An id with a path separator cannot be a cache entry.
                if minion.contains('/') || minion == ".." || minion == "." {
                    return None;
                }
                let entry = dir.join(&minion);
                let data = read_cached(&entry.join("return.p"))?;
                let mut ret = Return::from_data(&data);
                // The outputter is written beside the return, when named.
                if ret.out.is_none() {
                    ret.out =
                        read_cached(&entry.join("out.p")).and_then(|v| wire::text(&v).map(str::to_owned));
                }
                Some((minion, ret))
            })
            .collect()
    })
    .await;
    read.unwrap_or_else(|err| {
        log::warn!("reading the job cache of {jid} failed: {err}");
        BTreeMap::new()
    })
}

/// The minions the master expected for `jid` (`.minions.p`), if the job
/// is in the cache: proof that it was published.
pub async fn expected(cachedir: &Path, jid: &str) -> Option<Vec<String>> {
    let path = job_dir(cachedir, jid).join(".minions.p");
    let value = tokio::task::spawn_blocking(move || read_cached(&path))
        .await
        .ok()??;
    Some(wire::strings(Some(&value)))
}

/// A job-cache file, decoded; `None` if it does not exist, and also (with
/// a warning) if it cannot be read or decoded.
fn read_cached(path: &Path) -> Option<rmpv::Value> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
        Err(err) => {
            log::warn!("cannot read the job cache file {}: {err}", path.display());
            return None;
        }
    };
    match wire::decode(&bytes) {
        Ok(value) => Some(value),
        Err(err) => {
            log::warn!("the job cache file {} does not decode: {err}", path.display());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmpv::Value;

    #[tokio::test]
    async fn reads_what_the_master_wrote() {
        let cache = tempfile::tempdir().unwrap();
        let jid = "20261126172949119529";
        let dir = job_dir(cache.path(), jid).join("m1");
        std::fs::create_dir_all(&dir).unwrap();
        let data = Value::Map(vec![
            ("return".into(), Value::Boolean(true)),
            ("retcode".into(), Value::from(0)),
            ("success".into(), Value::Boolean(true)),
        ]);
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, &data).unwrap();
        std::fs::write(dir.join("return.p"), bytes).unwrap();
        let got = returns(cache.path(), jid, &["m1".into(), "m2".into(), "../x".into()]).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got["m1"].value, Value::Boolean(true));
        assert_eq!(expected(cache.path(), jid).await, None);
        let mut list = Vec::new();
        rmpv::encode::write_value(&mut list, &Value::Array(vec!["m1".into(), "m2".into()])).unwrap();
        std::fs::write(job_dir(cache.path(), jid).join(".minions.p"), list).unwrap();
        assert_eq!(
            expected(cache.path(), jid).await,
            Some(vec!["m1".into(), "m2".into()])
        );
    }
}
