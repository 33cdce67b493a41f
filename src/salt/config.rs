//! What projetyd needs from the Salt master's configuration
//! (`/etc/salt/master` plus `master.d/*.conf`), resolved the way the master
//! itself resolves it: defaults, then the files in order, then `root_dir`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use yaml_rust2::{Yaml, YamlLoader};

use super::Error;

/// Where a stock master keeps its configuration.
pub const DEFAULT_MASTER_CONFIG: &str = crate::config::DEFAULT_SALT_CONFIG;

/// The master settings projetyd uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterConfig {
    /// Host to reach the request server on (`interface`, with `0.0.0.0`
    /// meaning loopback).
    pub host: String,
    pub ret_port: u16,
    pub sock_dir: PathBuf,
    pub cachedir: PathBuf,
    pub pki_dir: PathBuf,
    /// The user the master runs as; picks the key file.
    pub user: String,
    pub transport: String,
    /// Seconds before a silent minion is checked with `saltutil.find_job`.
    pub timeout: Duration,
    /// Seconds a `find_job` check may take.
    pub gather_job_timeout: Duration,
    /// `nodegroups`, merged by name over the files (a later file's group
    /// replaces an earlier one of the same name, as Salt's include merge).
    pub nodegroups: BTreeMap<String, NodegroupSpec>,
    /// `netapi_enable_clients`: the salt-api clients the master's owner
    /// enabled (none by default since Salt 3006). A later file's list
    /// replaces an earlier one, as the master's include merge does.
    pub netapi_enable_clients: Vec<String>,
}

/// A nodegroup as the master config writes it: a compound string, or a
/// list (of ids in practice; Salt reads the words of both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodegroupSpec {
    Compound(String),
    List(Vec<String>),
}

impl MasterConfig {
    /// Salt's own defaults (root_dir `/`).
    pub fn defaults() -> MasterConfig {
        MasterConfig {
            host: "127.0.0.1".into(),
            ret_port: 4506,
            sock_dir: "/var/run/salt/master".into(),
            cachedir: "/var/cache/salt/master".into(),
            pki_dir: "/etc/salt/pki/master".into(),
            user: "root".into(),
            transport: "zeromq".into(),
            timeout: Duration::from_secs(5),
            gather_job_timeout: Duration::from_secs(10),
            nodegroups: BTreeMap::new(),
            netapi_enable_clients: Vec::new(),
        }
    }

    /// Reads `path` and the `master.d/*.conf` files beside it. A missing
    /// main file is an error: projetyd must run against a real master.
    pub fn load(path: &Path) -> Result<MasterConfig, Error> {
        let mut docs = vec![read_yaml(path)?];
        let dir = path.parent().unwrap_or(Path::new("/")).join("master.d");
        if let Ok(entries) = std::fs::read_dir(&dir) {
            let mut includes: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect();
            includes.sort();
            for include in includes {
                docs.push(read_yaml(&include)?);
            }
        }
        let mut config = MasterConfig::defaults();
        let mut root_dir = PathBuf::from("/");
        for doc in &docs {
            config.apply(doc, &mut root_dir, path)?;
        }
        config.sock_dir = under_root(&root_dir, &config.sock_dir);
        config.cachedir = under_root(&root_dir, &config.cachedir);
        config.pki_dir = under_root(&root_dir, &config.pki_dir);
        Ok(config)
    }

    pub(crate) fn apply(&mut self, doc: &Yaml, root_dir: &mut PathBuf, file: &Path) -> Result<(), Error> {
        let bad = |key: &str| Error::Config(format!("{}: {key} has an unexpected value", file.display()));
        let text = |key: &str| match &doc[key] {
            Yaml::String(s) => Some(Ok(s.clone())),
            Yaml::Integer(i) => Some(Ok(i.to_string())),
            Yaml::BadValue | Yaml::Null => None,
            _ => Some(Err(bad(key))),
        };
        if let Some(v) = text("interface").transpose()? {
            self.host = match v.as_str() {
                "0.0.0.0" => "127.0.0.1".into(),
                "::" => "::1".into(),
                other => other.into(),
            };
        }
        if let Some(v) = text("ret_port").transpose()? {
            self.ret_port = v.parse().map_err(|_| bad("ret_port"))?;
        }
        for (key, slot) in [
            ("sock_dir", &mut self.sock_dir),
            ("cachedir", &mut self.cachedir),
            ("pki_dir", &mut self.pki_dir),
            ("root_dir", root_dir),
        ] {
            if let Some(v) = text(key).transpose()? {
                *slot = v.into();
            }
        }
        if let Some(v) = text("user").transpose()? {
            self.user = v;
        }
        if let Some(v) = text("transport").transpose()? {
            self.transport = v;
        }
        for (key, slot) in [
            ("timeout", &mut self.timeout),
            ("gather_job_timeout", &mut self.gather_job_timeout),
        ] {
            if let Some(v) = text(key).transpose()? {
                *slot = Duration::from_secs(v.parse().map_err(|_| bad(key))?);
            }
        }
        match &doc["nodegroups"] {
            Yaml::Hash(groups) => {
                for (name, value) in groups {
                    let (Some(name), Some(spec)) = (scalar(name), nodegroup(value)) else {
                        log::warn!(
                            "{}: a nodegroup that is neither a string nor a list is ignored",
                            file.display()
                        );
                        continue;
                    };
                    self.nodegroups.insert(name, spec);
                }
            }
            Yaml::BadValue | Yaml::Null => {}
            _ => return Err(bad("nodegroups")),
        }
        match &doc["netapi_enable_clients"] {
            Yaml::Array(items) => {
                self.netapi_enable_clients = items
                    .iter()
                    .map(|item| scalar(item).ok_or_else(|| bad("netapi_enable_clients")))
                    .collect::<Result<_, _>>()?;
            }
            Yaml::BadValue => {}
            Yaml::Null => self.netapi_enable_clients.clear(),
            _ => return Err(bad("netapi_enable_clients")),
        }
        Ok(())
    }

    /// The file holding the secret that lets root publish: `.<user>_key`
    /// for a non-root master user, else `.root_key` (as `salt` does).
    pub fn key_file(&self) -> PathBuf {
        let user = if self.user.is_empty() { "root" } else { &self.user };
        self.cachedir.join(format!(".{user}_key"))
    }

    /// Checks what projetyd cannot work without.
    pub fn validate(&self) -> Result<(), Error> {
        if self.transport != "zeromq" {
            return Err(Error::Config(format!(
                "the master uses transport {:?}; projetyd speaks only zeromq",
                self.transport
            )));
        }
        Ok(())
    }

    /// The request server's ZeroMQ endpoint.
    pub fn ret_endpoint(&self) -> String {
        if self.host.contains(':') {
            format!("tcp://[{}]:{}", self.host, self.ret_port)
        } else {
            format!("tcp://{}:{}", self.host, self.ret_port)
        }
    }

    /// The master event bus's publisher socket.
    pub fn event_socket(&self) -> PathBuf {
        self.sock_dir.join("master_event_pub.ipc")
    }

    /// Where events are fired: the master's pull socket, which republishes
    /// them on `event_socket`.
    pub fn event_pull_socket(&self) -> PathBuf {
        self.sock_dir.join("master_event_pull.ipc")
    }
}

/// A YAML scalar as Python's `str()` would write what Salt loaded.
fn scalar(value: &Yaml) -> Option<String> {
    match value {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(if *b { "True" } else { "False" }.to_owned()),
        _ => None,
    }
}

fn nodegroup(value: &Yaml) -> Option<NodegroupSpec> {
    match value {
        Yaml::String(s) => Some(NodegroupSpec::Compound(s.clone())),
        Yaml::Array(items) => items
            .iter()
            .map(scalar)
            .collect::<Option<_>>()
            .map(NodegroupSpec::List),
        _ => None,
    }
}

fn read_yaml(path: &Path) -> Result<Yaml, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| Error::Config(format!("cannot read {}: {err}", path.display())))?;
    let mut docs = YamlLoader::load_from_str(&text)
        .map_err(|err| Error::Config(format!("{} is not valid YAML: {err}", path.display())))?;
    // An empty file is a valid, empty configuration.
    Ok(if docs.is_empty() {
        Yaml::Null
    } else {
        docs.swap_remove(0)
    })
}

/// Salt's `prepend_root_dir`: a path already under `root_dir` stays; any
/// other path is taken relative to `root_dir`.
pub(crate) fn under_root(root_dir: &Path, path: &Path) -> PathBuf {
    if path.starts_with(root_dir) {
        return path.into();
    }
    let relative = path.strip_prefix("/").unwrap_or(path);
    root_dir.join(relative)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_master_with_an_include() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("master");
        std::fs::write(&main, "interface: 0.0.0.0\nuser: salt\n# comment\n").unwrap();
        std::fs::create_dir(dir.path().join("master.d")).unwrap();
        std::fs::write(
            dir.path().join("master.d/10-ports.conf"),
            "ret_port: '14506'\ntimeout: 3\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("master.d/ignored.txt"), "ret_port: 1\n").unwrap();
        let config = MasterConfig::load(&main).unwrap();
        assert_eq!(config.ret_endpoint(), "tcp://127.0.0.1:14506");
        assert_eq!(config.timeout, Duration::from_secs(3));
        assert_eq!(
            config.key_file(),
            PathBuf::from("/var/cache/salt/master/.salt_key")
        );
        assert_eq!(
            config.event_socket(),
            PathBuf::from("/var/run/salt/master/master_event_pub.ipc")
        );
    }

    #[test]
    fn netapi_enable_clients_is_a_list_the_last_file_sets() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("master");
        std::fs::write(&main, "netapi_enable_clients: [local]\n").unwrap();
        assert_eq!(
            MasterConfig::load(&main).unwrap().netapi_enable_clients,
            ["local"]
        );
        std::fs::create_dir(dir.path().join("master.d")).unwrap();
        std::fs::write(
            dir.path().join("master.d/api.conf"),
            "netapi_enable_clients:\n  - local_async\n  - runner\n",
        )
        .unwrap();
        assert_eq!(
            MasterConfig::load(&main).unwrap().netapi_enable_clients,
            ["local_async", "runner"]
        );
        std::fs::write(&main, "netapi_enable_clients: local\n").unwrap();
        assert!(MasterConfig::load(&main).is_err());
        std::fs::write(&main, "interface: 127.0.0.1\n").unwrap();
        std::fs::remove_file(dir.path().join("master.d/api.conf")).unwrap();
        assert!(MasterConfig::load(&main)
            .unwrap()
            .netapi_enable_clients
            .is_empty());
    }

    #[test]
    fn root_dir_applies_like_salt() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("master");
        std::fs::write(
            &main,
            "root_dir: /srv/lab\npki_dir: /srv/lab/pki\ncachedir: /cache\n",
        )
        .unwrap();
        let config = MasterConfig::load(&main).unwrap();
        assert_eq!(config.pki_dir, PathBuf::from("/srv/lab/pki"));
        assert_eq!(config.cachedir, PathBuf::from("/srv/lab/cache"));
        assert_eq!(config.sock_dir, PathBuf::from("/srv/lab/var/run/salt/master"));
        assert_eq!(config.key_file(), PathBuf::from("/srv/lab/cache/.root_key"));
    }

    #[test]
    fn nodegroups_are_strings_or_lists_merged_over_the_includes() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("master");
        std::fs::write(
            &main,
            "nodegroups:\n  webs: 'web* and G@os:Debian'\n  pair: [db1, web2]\n  old: x\n  bad: {a: 1}\n",
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("master.d")).unwrap();
        std::fs::write(
            dir.path().join("master.d/groups.conf"),
            "nodegroups:\n  old:\n    - 7\n    - n1\n",
        )
        .unwrap();
        let config = MasterConfig::load(&main).unwrap();
        assert_eq!(
            config.nodegroups,
            BTreeMap::from([
                (
                    "webs".into(),
                    NodegroupSpec::Compound("web* and G@os:Debian".into())
                ),
                (
                    "pair".into(),
                    NodegroupSpec::List(vec!["db1".into(), "web2".into()])
                ),
                ("old".into(), NodegroupSpec::List(vec!["7".into(), "n1".into()])),
            ])
        );
        std::fs::write(&main, "nodegroups: [a]\n").unwrap();
        assert!(MasterConfig::load(&main).is_err());
    }

    #[test]
    fn other_transports_and_bad_values_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("master");
        std::fs::write(&main, "transport: tcp\n").unwrap();
        assert!(MasterConfig::load(&main).unwrap().validate().is_err());
        std::fs::write(&main, "ret_port: lots\n").unwrap();
        assert!(MasterConfig::load(&main).is_err());
        std::fs::write(&main, "").unwrap();
        assert_eq!(MasterConfig::load(&main).unwrap(), MasterConfig::defaults());
        assert!(MasterConfig::load(&dir.path().join("missing")).is_err());
    }
}
