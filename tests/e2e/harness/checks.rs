//! Checks and waits that several scenarios share: the spawn result, the
//! wake prompt, the common model rule, polling intercomm_scan, teardown.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Client, World, call, fail, short, text};

/// The spawn result of worker `id`.
pub fn spawned<'a>(out: &'a Value, id: &str) -> &'a Value {
    out["workers"]
        .as_array()
        .and_then(|ws| ws.iter().find(|w| w["id"] == id))
        .unwrap_or_else(|| fail(format!("spawn did not report {id}: {out}")))
}

/// The wake prompt intercomm_spawn types into a new worker's pane.
pub fn wake_prompt(id: &str) -> String {
    format!(
        "[intercomm] You are worker {id}. Call intercomm_register, then intercomm_read, and follow your task contract. Report to the master through intercomm; never ask the user."
    )
}

/// The model-script rule most scenarios start with: a woken worker registers
/// through MCP and ends its turn with "E2E <id>: registered.".
pub fn register_rule() -> Value {
    serde_json::json!({
        "name": "wake",
        "when": "You are worker (?P<id>worker-\\d+)\\.",
        "steps": [{"tool": "mcp__intercomm__intercomm_register", "input": {}}],
        "final": "E2E {{id}}: registered."
    })
}

/// Checks the spawn-time facts every scenario shares for worker `id`:
/// started, state `ready`, woken, each boot dialog answered at most once
/// (a dialog answered twice means a key went astray), and its wake prompt
/// reached the model exactly once, byte for byte, as user text.
pub async fn check_spawned(world: &World, out: &Value, id: &str, cwd: &Path) {
    let w = spawned(out, id);
    world.check(
        w["error"].is_null(),
        format!("{id}: spawn reported error {}", w["error"]),
    );
    world.check(
        w["state"] == "ready",
        format!("{id}: spawn left it in state {}", w["state"]),
    );
    world.check(
        w["woken"] == true,
        format!("{id}: spawn did not wake it: {w}"),
    );
    let cleared: Vec<String> = w["dialogs_cleared"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d.as_str().map(str::to_owned))
        .collect();
    let mut unique = cleared.clone();
    unique.sort();
    unique.dedup();
    world.check(
        unique.len() == cleared.len(),
        format!("{id}: a boot dialog was answered more than once: dialogs_cleared={cleared:?}"),
    );
    let wake = wake_prompt(id);
    let starts = world.turn_starts(cwd, &format!("You are worker {id}."));
    world.check(
        starts.len() == 1,
        format!(
            "{id}: the wake prompt started {} turns (want exactly 1)",
            starts.len()
        ),
    );
    for s in &starts {
        let typed: Vec<&str> = s["typed"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let copies = typed
            .iter()
            .filter(|t| t.contains(&format!("You are worker {id}.")))
            .count();
        world.check(
            copies == 1,
            format!("{id}: the wake prompt is in the conversation {copies} times"),
        );
        world.check(
            s["prompt"] == wake.as_str(),
            format!(
                "{id}: the model received the wake prompt altered: {:?} (want {wake:?})",
                s["prompt"]
            ),
        );
    }
}

/// Polls intercomm_scan until `id`'s pane is in `state`; returns its view.
pub async fn scan_until(client: &Client, id: &str, state: &str, secs: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let result = call(client, "intercomm_scan", json!({})).await;
        let scan = result.structured_content.clone().unwrap_or(Value::Null);
        let pane = scan["panes"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["id"] == id).cloned())
            .unwrap_or(Value::Null);
        if pane["state"] == state {
            eprintln!("e2e: intercomm_scan -> {}", short(&text(&result), 400));
            return pane;
        }
        if Instant::now() >= deadline {
            fail(format!(
                "timed out after {secs} s waiting for intercomm_scan to show {id} {state}; last: {}",
                text(&result)
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

impl World {
    /// After a teardown: no tmux session but `keep` remains (besides the
    /// harness's own), and within 15 s no worker process (a Claude Code or
    /// MCP server with INTERCOMM_WORKER_ID) is left in the namespace.
    pub async fn check_torn_down(&self, keep: &[&str]) {
        let mut want: Vec<String> = keep.iter().map(|s| (*s).to_owned()).collect();
        want.push("e2e-home".to_owned());
        want.sort();
        let mut sessions = self.sessions();
        sessions.sort();
        self.check(
            sessions == want,
            format!("tmux sessions left after teardown: {sessions:?} (want {want:?})"),
        );
        let mut left = Vec::new();
        for _ in 0..150 {
            left = self
                .processes()
                .into_iter()
                .filter(|p| p.worker_id.is_some())
                .collect();
            if left.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.check(
            left.is_empty(),
            format!("worker processes alive 15 s after teardown: {left:?}"),
        );
    }
}
