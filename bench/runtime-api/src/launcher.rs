//! `runtime-api launch`: starts function processes for the bench, from inside
//! a cgroup.
//!
//! The bench moves one launcher per memory size into that size's cgroup, once.
//! A process the launcher starts is born in the cgroup (a child inherits its
//! parent's), so a cold start pays neither a cgroup v1 migration (~20 ms of
//! waiting for an RCU grace period) nor the teardown of a forked Python
//! interpreter's address space at exec, neither of which a Lambda sandbox
//! pays. std's `Command` starts it with posix_spawn (vfork-like): little of
//! the quota goes to starting it.
//!
//! One JSON object per line on stdin, one answer per line on stdout:
//! - `{"spawn": [argv...], "env": {..}, "cwd": ".."}` → `{"pid": N, "stampNs": T}`,
//!   T the CLOCK_MONOTONIC time just before the spawn, where a cold start's clock starts;
//! - `{"stop": N}` → `{"stopped": N}` once it has exited (SIGKILL, then reaped);
//! - end of input: every child still running is stopped.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::os::fd::AsFd;
use std::process::{Child, Command, Stdio};

use serde::Deserialize;
use serde_json::json;

use crate::monotonic_ns;

#[derive(Debug, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
enum Request {
    Spawn {
        spawn: Vec<String>,
        #[serde(default)]
        env: HashMap<String, String>,
        cwd: Option<String>,
    },
    Stop {
        stop: u32,
    },
}

fn log() -> std::io::Result<Stdio> {
    Ok(Stdio::from(std::io::stderr().as_fd().try_clone_to_owned()?))
}

fn handle(line: &str, children: &mut HashMap<u32, Child>) -> serde_json::Value {
    match serde_json::from_str::<Request>(line) {
        Ok(Request::Spawn { spawn, env, cwd }) => {
            let Some((program, args)) = spawn.split_first() else {
                return json!({"error": "spawn needs a program"});
            };
            // The child's output goes to the launcher's stderr (the bench's
            // log): stdout is this protocol's.
            let (out, err) = match (log(), log()) {
                (Ok(out), Ok(err)) => (out, err),
                (Err(e), _) | (_, Err(e)) => {
                    return json!({"error": format!("no stderr to give: {e}")});
                }
            };
            let mut command = Command::new(program);
            command
                .args(args)
                .env_clear()
                .envs(env)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err);
            if let Some(cwd) = cwd {
                command.current_dir(cwd);
            }
            let stamp = monotonic_ns();
            match command.spawn() {
                Ok(child) => {
                    let pid = child.id();
                    children.insert(pid, child);
                    json!({"pid": pid, "stampNs": stamp.to_string()})
                }
                Err(e) => json!({"error": format!("cannot start {program}: {e}")}),
            }
        }
        Ok(Request::Stop { stop }) => match children.remove(&stop) {
            Some(mut child) => {
                let _ = child.kill();
                let _ = child.wait();
                json!({"stopped": stop})
            }
            None => json!({"error": format!("no child {stop}")}),
        },
        Err(e) => json!({"error": format!("not a request: {e}")}),
    }
}

/// Serves stdin until it ends; then stops every child it started.
pub fn run() -> std::io::Result<()> {
    let mut children = HashMap::new();
    let stdin = std::io::stdin();
    let mut stdout = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let answer = handle(&line?, &mut children);
        writeln!(stdout, "{answer}")?;
        stdout.flush()?;
    }
    for (_, mut child) in children {
        let _ = child.kill();
        let _ = child.wait();
    }
    Ok(())
}
