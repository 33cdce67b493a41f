//! The minions' grains as the master caches them (`minion_data_cache`,
//! on by default): `<cachedir>/minions/<id>/data.p`, msgpack
//! `{"grains": {...}, "pillar": {...}}`. Grain targets are matched on
//! these, as the master's own `CkMinions` matches them. Only grains are
//! read; the pillar (which may hold secrets) is never kept or logged.

use std::collections::HashMap;
use std::path::Path;

use super::{json, wire, Salt};

impl Salt {
    /// The cached grains of those of `ids` the master has data for; a
    /// minion with none (never connected, or the cache disabled) is left
    /// out, and so never matches a grain target.
    pub async fn grains(&self, ids: &[String]) -> HashMap<String, serde_json::Value> {
        let dir = self.master().cachedir.join("minions");
        let ids = ids.to_vec();
        tokio::task::spawn_blocking(move || read_all(&dir, &ids))
            .await
            .unwrap_or_default()
    }
}

fn read_all(dir: &Path, ids: &[String]) -> HashMap<String, serde_json::Value> {
    ids.iter()
        .filter_map(|id| read_one(dir, id).map(|grains| (id.clone(), grains)))
        .collect()
}

fn read_one(dir: &Path, id: &str) -> Option<serde_json::Value> {
    let path = dir.join(id).join("data.p");
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return None,
        Err(err) => {
            log::debug!("no cached grains for {id}: {}: {err}", path.display());
            return None;
        }
    };
    match wire::decode(&bytes) {
        Ok(data) => wire::get(&data, "grains").map(json::to_json),
        Err(err) => {
            log::debug!(
                "no cached grains for {id}: {} does not decode: {err}",
                path.display()
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmpv::Value;

    fn write(dir: &Path, id: &str, data: &Value) {
        std::fs::create_dir_all(dir.join(id)).unwrap();
        let mut bytes = Vec::new();
        rmpv::encode::write_value(&mut bytes, data).unwrap();
        std::fs::write(dir.join(id).join("data.p"), bytes).unwrap();
    }

    #[test]
    fn grains_come_from_the_data_cache_and_the_pillar_stays_there() {
        let dir = std::env::temp_dir().join(format!("projetyd-grains-{}", std::process::id()));
        let grains = Value::Map(vec![(Value::from("role"), Value::from("web"))]);
        let data = Value::Map(vec![
            (Value::from("grains"), grains),
            (
                Value::from("pillar"),
                Value::Map(vec![(Value::from("secret"), Value::from("x"))]),
            ),
        ]);
        write(&dir, "m1", &data);
        std::fs::create_dir_all(dir.join("broken")).unwrap();
        std::fs::write(dir.join("broken").join("data.p"), b"\xc1not msgpack").unwrap();
        let ids = ["m1", "broken", "absent"].map(String::from);
        let found = read_all(&dir, &ids);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found["m1"], serde_json::json!({"role": "web"}));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
