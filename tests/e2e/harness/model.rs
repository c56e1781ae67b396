//! The stand-in model (tests/e2e/model.py): starting it in the namespace
//! and reading its compact request log.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::host::crate_root;
use super::{World, fail};

impl World {
    pub(super) fn start_model(&mut self, rules: &Value) {
        let rules_path = self.dir.join("rules.json");
        let port_file = self.dir.join("model.port");
        if let Err(e) = std::fs::write(&rules_path, format!("{rules:#}")) {
            fail(format!("cannot write the model script: {e}"));
        }
        let err = std::fs::File::create(self.dir.join("model.err"))
            .unwrap_or_else(|e| fail(format!("model.err: {e}")));
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns, "python3"])
            .arg(crate_root().join("tests/e2e/model.py"))
            .arg("--rules")
            .arg(&rules_path)
            .arg("--port-file")
            .arg(&port_file)
            .arg("--log")
            .arg(&self.log)
            .arg("--bodies")
            .arg(self.dir.join("bodies.jsonl"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| fail(format!("cannot start the stand-in model: {e}")));
        self.model = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|s| s.trim().parse::<u16>().ok())
            {
                self.port = port;
                return;
            }
            let exited = self
                .model
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                let err = std::fs::read_to_string(self.dir.join("model.err")).unwrap_or_default();
                fail(format!(
                    "the stand-in model did not start ({exited:?}): {err}"
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every request the model received so far (compact entries).
    pub fn requests(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Main-turn requests (with tools) from Claude Code running in `cwd`.
    pub fn turns(&self, cwd: &Path) -> Vec<Value> {
        let cwd = cwd.display().to_string();
        self.requests()
            .into_iter()
            .filter(|r| r["tools"] == true && r["cwd"] == cwd.as_str())
            .collect()
    }

    /// Requests of `cwd` that start a turn (no tool results yet) for a typed
    /// prompt containing `needle`.
    pub fn turn_starts(&self, cwd: &Path, needle: &str) -> Vec<Value> {
        self.turns(cwd)
            .into_iter()
            .filter(|r| {
                r["results"] == 0 && r["prompt"].as_str().is_some_and(|p| p.contains(needle))
            })
            .collect()
    }

    /// Waits until the model answered a turn of `cwd` whose prompt contains
    /// `needle` with its final text (the turn is over); returns that request.
    pub async fn turn_done(&self, cwd: &Path, needle: &str, secs: u64) -> Value {
        let what = format!(
            "the model to finish the turn {needle:?} in {}",
            cwd.display()
        );
        self.until(secs, &what, || {
            let turns = self.turns(cwd);
            let has = |r: &Value| r["prompt"].as_str().is_some_and(|p| p.contains(needle));
            let last = turns.iter().rposition(has)?;
            // Finished: its final text was sent, or the model moved on to a
            // prompt injected mid-turn (which it takes up once done).
            let finished = turns[last]["reply"]["stop_reason"] == "end_turn"
                || turns[last + 1..]
                    .iter()
                    .any(|r| r["injected"] == true && !has(r));
            finished.then(|| turns[last].clone())
        })
        .await
    }
}
