//! The Salt lab the run is pointed at (`lab.env` from `scripts/salt-lab.sh`,
//! its pid files, salt-api's port) and the machine it runs on. Only reads
//! files; starts and stops nothing.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::procs::proc_field;
use projetyd_testkit::bench::Result;

pub struct ApiLab {
    pub addr: SocketAddr,
    pub user: String,
    pub eauth: String,
    /// salt-api's recorded pid, also its process group (it runs in its
    /// own session).
    pub pid: Option<u32>,
}

pub struct Lab {
    pub dir: PathBuf,
    pub version: String,
    pub master_config: PathBuf,
    pub config_dir: PathBuf,
    pub salt: PathBuf,
    /// Process groups of the master and of the minions.
    pub master_pid: Option<u32>,
    pub minion_pids: Vec<u32>,
    pub api: Option<ApiLab>,
}

impl Lab {
    pub fn read(path: &Path) -> Result<Lab> {
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let vars: HashMap<String, String> = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let var = |key: &str| {
            vars.get(key)
                .filter(|v| !v.is_empty())
                .cloned()
                .ok_or_else(|| format!("{} has no {key}", path.display()))
        };
        let dir = PathBuf::from(var("SALT_LAB_DIR")?);
        let pid_file = |name: &str| read_pid(&dir, name);
        let minion_pids = (1..100).map_while(|i| pid_file(&format!("minion-{i}"))).collect();
        let api_port = std::env::var("SALT_LAB_API_PORT")
            .ok()
            .filter(|p| !p.is_empty())
            .or_else(|| vars.get("SALT_LAB_API_PORT").filter(|p| !p.is_empty()).cloned());
        let api = match api_port {
            None => None,
            Some(port) => Some(ApiLab {
                addr: SocketAddr::from(([127, 0, 0, 1], port.parse::<u16>()?)),
                user: var("SALT_LAB_API_USER").unwrap_or_else(|_| "benchuser".into()),
                eauth: var("SALT_LAB_API_EAUTH").unwrap_or_else(|_| "auto".into()),
                pid: var("SALT_LAB_API_PID")
                    .ok()
                    .and_then(|p| p.parse().ok())
                    .or_else(|| pid_file("api")),
            }),
        };
        Ok(Lab {
            version: var("SALT_LAB_VERSION")?,
            master_config: PathBuf::from(var("SALT_LAB_MASTER_CONFIG")?),
            config_dir: PathBuf::from(var("SALT_LAB_CONFIG_DIR")?),
            salt: PathBuf::from(var("SALT_LAB_BIN")?).join("salt"),
            master_pid: pid_file("master"),
            minion_pids,
            api,
            dir,
        })
    }
}

/// The pid in `<lab>/pids/<name>.pid`, if there is one.
fn read_pid(dir: &Path, name: &str) -> Option<u32> {
    std::fs::read_to_string(dir.join("pids").join(format!("{name}.pid")))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
}

pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub mem_total_kib: u64,
}

impl Machine {
    pub fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_default();
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, |p| p.get()),
            cpu_model,
            mem_total_kib: proc_field("/proc/meminfo", "MemTotal:").unwrap_or(0),
        }
    }
}
