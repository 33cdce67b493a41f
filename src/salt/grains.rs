//! What targeting needs from the master besides keys: each minion's
//! grains from the master's minion data cache (msgpack written by Salt's
//! `localfs` cache), and the config's nodegroups in
//! [`crate::targeting`]'s form. Reads files; never logs their contents.
//!
//! The cache has two layouts: up to 3007, bank `minions/<id>`, key `data`:
//! `<cachedir>/minions/<id>/data.p` holding `{"grains", "pillar"}`; from
//! 3008, bank `grains`, key `<id>`: `<cachedir>/grains/<id>.p` holding the
//! grains themselves (the pillar in its own bank). Where both exist (a
//! master upgraded in place keeps the old files), the newer file wins.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value as Json;

use super::config::NodegroupSpec;
use super::json::to_json;
use crate::targeting::Nodegroup;

/// A cache file larger than this is not read (grains are kilobytes).
const MAX_DATA_FILE: u64 = 16 << 20;

/// The cached grains of each of `ids` that has them. A missing, unreadable
/// or undecodable file, or one without grains, is skipped with a debug
/// line: such a minion matches no grain target, as in Salt.
pub fn load(cachedir: &Path, ids: &[String]) -> HashMap<String, Json> {
    let mut grains = HashMap::with_capacity(ids.len());
    for id in ids {
        // An id is one path component (Salt refuses others at key accept).
        if id.is_empty() || id.starts_with('.') || id.contains(['/', '\0']) {
            log::debug!("minion id {id:?} is not a file name; no grains read");
            continue;
        }
        let split = cachedir.join("grains").join(format!("{id}.p"));
        let joint = cachedir.join("minions").join(id).join("data.p");
        let (path, layout) = match (modified(&split), modified(&joint)) {
            (Some(new), Some(old)) if old > new => (joint, Layout::Joint),
            (Some(_), _) => (split, Layout::Split),
            (None, _) => (joint, Layout::Joint),
        };
        match read(&path, layout) {
            Ok(Some(value)) => {
                grains.insert(id.clone(), value);
            }
            Ok(None) => log::debug!("{} holds no grains", path.display()),
            Err(reason) => log::debug!("no grains for {id}: {}: {reason}", path.display()),
        }
    }
    grains
}

/// Which of the two cache layouts a file is in (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `minions/<id>/data.p`: `{"grains": ..., "pillar": ...}`.
    Joint,
    /// `grains/<id>.p`: the grains.
    Split,
}

fn modified(path: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn read(path: &Path, layout: Layout) -> Result<Option<Json>, String> {
    let size = std::fs::metadata(path).map_err(|e| e.kind().to_string())?.len();
    if size > MAX_DATA_FILE {
        return Err(format!("{size} bytes, over {MAX_DATA_FILE}"));
    }
    let bytes = std::fs::read(path).map_err(|e| e.kind().to_string())?;
    let data = rmpv::decode::read_value(&mut bytes.as_slice()).map_err(|_| "not msgpack".to_owned())?;
    let rmpv::Value::Map(entries) = data else {
        return Err("not a msgpack map".into());
    };
    if layout == Layout::Split {
        return Ok(Some(to_json(&rmpv::Value::Map(entries))));
    }
    let grains = entries.iter().find(|(key, _)| match key {
        rmpv::Value::String(s) => s.as_str() == Some("grains"),
        rmpv::Value::Binary(b) => b == b"grains",
        _ => false,
    });
    Ok(grains.map(|(_, value)| to_json(value)).filter(|g| !g.is_null()))
}

/// The master's nodegroups as targeting takes them.
pub fn nodegroups<'a>(
    specs: impl IntoIterator<Item = (&'a String, &'a NodegroupSpec)>,
) -> HashMap<String, Nodegroup> {
    specs
        .into_iter()
        .map(|(name, spec)| {
            let group = match spec {
                NodegroupSpec::Compound(expr) => Nodegroup::Compound(expr.clone()),
                NodegroupSpec::List(words) => Nodegroup::List(words.clone()),
            };
            (name.clone(), group)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmpv::Value;
    use serde_json::json;

    fn write_data(cachedir: &Path, id: &str, data: &Value) {
        let dir = cachedir.join("minions").join(id);
        std::fs::create_dir_all(&dir).unwrap();
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, data).unwrap();
        std::fs::write(dir.join("data.p"), bytes).unwrap();
    }

    #[test]
    fn grains_come_from_the_data_cache_and_bad_files_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let grains = Value::Map(vec![
            (Value::from("os"), Value::from("Debian")),
            (Value::from("num_cpus"), Value::from(4)),
        ]);
        write_data(
            dir.path(),
            "web1",
            &Value::Map(vec![
                (Value::from("grains"), grains),
                (Value::from("pillar"), Value::Map(vec![])),
            ]),
        );
        write_data(
            dir.path(),
            "nograins",
            &Value::Map(vec![(Value::from("pillar"), Value::Nil)]),
        );
        write_data(dir.path(), "notamap", &Value::from(1));
        std::fs::create_dir_all(dir.path().join("minions/garbage")).unwrap();
        std::fs::write(dir.path().join("minions/garbage/data.p"), [0xc1]).unwrap();
        let ids: Vec<String> = [
            "web1", "nograins", "notamap", "garbage", "missing", "../web1", "..",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let got = load(dir.path(), &ids);
        assert_eq!(
            got,
            HashMap::from([("web1".to_owned(), json!({"os": "Debian", "num_cpus": 4}))])
        );
    }

    #[test]
    fn salt_3008_keeps_grains_in_a_bank_of_their_own_and_the_newer_file_wins() {
        let dir = tempfile::tempdir().unwrap();
        let grains = |role: &str| Value::Map(vec![(Value::from("role"), Value::from(role))]);
        let split = |id: &str, data: &Value| {
            std::fs::create_dir_all(dir.path().join("grains")).unwrap();
            let mut bytes = Vec::new();
            rmpv::encode::write_value(&mut bytes, data).unwrap();
            std::fs::write(dir.path().join("grains").join(format!("{id}.p")), bytes).unwrap();
        };
        split("new", &grains("web"));
        // Upgraded in place: the old layout's file is older and loses.
        write_data(
            dir.path(),
            "both",
            &Value::Map(vec![(Value::from("grains"), grains("old"))]),
        );
        let old = std::fs::File::options()
            .write(true)
            .open(dir.path().join("minions/both/data.p"))
            .unwrap();
        old.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
            .unwrap();
        split("both", &grains("db"));
        split("garbage", &Value::from(1));
        let ids: Vec<String> = ["new", "both", "garbage"].iter().map(|s| s.to_string()).collect();
        let got = load(dir.path(), &ids);
        assert_eq!(
            got,
            HashMap::from([
                ("new".to_owned(), json!({"role": "web"})),
                ("both".to_owned(), json!({"role": "db"})),
            ])
        );
    }

    #[test]
    fn nodegroups_convert_to_the_target_form() {
        let specs = std::collections::BTreeMap::from([
            ("a".to_owned(), NodegroupSpec::Compound("web*".into())),
            ("b".to_owned(), NodegroupSpec::List(vec!["x".into()])),
        ]);
        let got = nodegroups(&specs);
        assert_eq!(got["a"], Nodegroup::Compound("web*".into()));
        assert_eq!(got["b"], Nodegroup::List(vec!["x".into()]));
    }
}
