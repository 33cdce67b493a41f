//! The settings of a real Salt lab, as `scripts/salt-lab.sh` writes them to
//! `<lab dir>/lab.env` (`KEY=VALUE` lines: the version, the ports, the
//! master config, salt-api's port when it runs).

use std::collections::HashMap;
use std::path::Path;

/// A lab's `lab.env`.
#[derive(Debug, Clone)]
pub struct LabEnv {
    vars: HashMap<String, String>,
}

impl LabEnv {
    pub fn read(path: &Path) -> Result<LabEnv, String> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Ok(LabEnv::parse(&text))
    }

    pub fn parse(text: &str) -> LabEnv {
        let vars = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        LabEnv { vars }
    }

    /// The value of `key`; an error naming it when the lab has none.
    pub fn var(&self, key: &str) -> Result<&str, String> {
        self.get(key).ok_or_else(|| format!("lab.env has no {key}"))
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars.get(key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_key_value_lines_and_names_a_missing_key() {
        let lab = LabEnv::parse("SALT_LAB_VERSION=3007.16\n# comment\nSALT_LAB_RET_PORT = 34606\n");
        assert_eq!(lab.var("SALT_LAB_VERSION"), Ok("3007.16"));
        assert_eq!(lab.get("SALT_LAB_RET_PORT"), Some("34606"));
        assert_eq!(
            lab.var("SALT_LAB_API_PORT"),
            Err("lab.env has no SALT_LAB_API_PORT".into())
        );
    }
}
