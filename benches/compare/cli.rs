//! The `salt` command of the lab: a sync `test.ping` of some minions, and
//! of the down minion. Runs the command and reads its JSON; nothing else.

use std::process::{Command, Stdio};

use serde_json::Value;

use crate::lab::Lab;
use crate::settings::DOWN;
use crate::stats::one_line;

/// `salt <targets> test.ping`; `Ok(true)` when every target said `true`.
pub fn ping(lab: &Lab, targets: &[&str]) -> Result<bool, String> {
    let mut cmd = Command::new(&lab.salt);
    cmd.arg("-c").arg(&lab.config_dir);
    if targets.len() == 1 {
        cmd.arg(targets[0]);
    } else {
        cmd.arg("-L").arg(targets.join(","));
    }
    let out = cmd
        .args(["test.ping", "--out=json", "--static"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run salt: {e}"))?;
    let reply: Value = serde_json::from_slice(&out.stdout).map_err(|_| {
        format!(
            "salt exit {}: {}",
            out.status.code().unwrap_or(-1),
            one_line(&String::from_utf8_lossy(&out.stdout))
        )
    })?;
    Ok(targets.iter().all(|m| reply[*m] == Value::Bool(true)))
}

/// What `salt minion-down test.ping` exits with and prints.
pub fn down(lab: &Lab) -> String {
    match Command::new(&lab.salt)
        .arg("-c")
        .arg(&lab.config_dir)
        .args([DOWN, "test.ping", "--out=json", "--static"])
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => format!(
            "exit {}: {}",
            out.status.code().unwrap_or(-1),
            one_line(&String::from_utf8_lossy(&out.stdout))
        ),
        Err(e) => format!("cannot run salt: {e}"),
    }
}
