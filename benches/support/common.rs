//! Small helpers every bench shares: where results go, the lab's settings,
//! numeric environment settings, the machine's load. Included by each bench
//! with `#[path]` (benches are separate crates); each uses a subset.
#![allow(dead_code)]

use std::collections::HashMap;
use std::error::Error;
use std::path::{Path, PathBuf};

pub type BoxError = Box<dyn Error + Send + Sync>;
pub type Result<T, E = BoxError> = std::result::Result<T, E>;

/// The cargo target directory (results go to `<target>/bench-results`).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        .filter(|dir| dir.join("CACHEDIR.TAG").exists() || dir.ends_with("target"))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` gives them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The `KEY=VALUE` lines of a lab's `lab.env` (scripts/salt-lab.sh).
pub fn read_lab(path: &Path) -> Result<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}

pub fn lab_var<'a>(lab: &'a HashMap<String, String>, key: &str) -> Result<&'a str> {
    lab.get(key)
        .map(String::as_str)
        .ok_or_else(|| format!("lab.env has no {key}").into())
}

/// A positive integer from the environment, or `default` when unset.
pub fn env_number(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Err(_) => Ok(default),
        Ok(text) => match text.parse::<usize>() {
            Ok(v) if v > 0 => Ok(v),
            _ => Err(format!("{name}={text:?} is not a positive integer").into()),
        },
    }
}
