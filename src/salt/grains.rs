//! What targeting needs from the master besides keys: each minion's
//! grains from the master's minion data cache (`<cachedir>/minions/<id>/data.p`,
//! msgpack written by Salt's `localfs` cache), and the config's nodegroups
//! in [`crate::target`]'s form. Reads files; never logs their contents.

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
        let path = cachedir.join("minions").join(id).join("data.p");
        match read(&path) {
            Ok(Some(value)) => {
                grains.insert(id.clone(), value);
            }
            Ok(None) => log::debug!("{} holds no grains", path.display()),
            Err(reason) => log::debug!("no grains for {id}: {}: {reason}", path.display()),
        }
    }
    grains
}

fn read(path: &Path) -> Result<Option<Json>, String> {
    let size = std::fs::metadata(path).map_err(|e| e.kind().to_string())?.len();
    if size > MAX_DATA_FILE {
        return Err(format!("{size} bytes, over {MAX_DATA_FILE}"));
    }
    let bytes = std::fs::read(path).map_err(|e| e.kind().to_string())?;
    let data = rmpv::decode::read_value(&mut bytes.as_slice()).map_err(|_| "not msgpack".to_owned())?;
    let rmpv::Value::Map(entries) = data else {
        return Err("not a msgpack map".into());
    };
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
