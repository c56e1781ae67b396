//! The plugin's first start on a machine without intercomm (issue #15),
//! with the real Claude Code: the plugin's MCP entry runs
//! scripts/intercomm-launcher, which finds no `intercomm` on PATH and none
//! built, starts the build and meanwhile answers Claude Code itself with one
//! tool, `intercomm_install_status`. Once the build is done it starts the
//! real `intercomm mcp`, hands it the session and sends
//! `notifications/tools/list_changed`. This checks that the same Claude Code
//! session then offers intercomm's own tools to its model and that they
//! work, with no restart and no `/mcp`.
//!
//! The build itself is not what is tested (scripts/test-launcher covers
//! `cargo install`): a stand-in `cargo` first on the master's PATH waits
//! until the test opens a gate, then installs the already-built
//! target/debug/intercomm at the `--root` the launcher asked for.

use std::path::Path;

use serde_json::{Value, json};

use crate::harness::*;

fn rules() -> Value {
    json!({"rules": [
        {
            "name": "before",
            "when": "FIRST-START-BEFORE",
            "steps": [{"tool": tool("intercomm_install_status"), "input": {}}],
            "final": "E2E: intercomm is being installed."
        },
        {
            "name": "after",
            "when": "FIRST-START-AFTER",
            "steps": [{"tool": tool("intercomm_register"), "input": {"role": "master"}}],
            "final": "E2E: registered."
        }
    ]})
}

/// Writes the stand-in `cargo` into `dir`: `cargo install … --root PREFIX`
/// waits for `gate`, then copies target/debug/intercomm to PREFIX/bin.
fn fake_cargo(dir: &Path, gate: &Path) {
    let script = format!(
        "#!/bin/sh\n\
         # e2e stand-in for `cargo install --path … --root PREFIX` (see plugin_first_start.rs)\n\
         root=''\n\
         while [ $# -gt 0 ]; do [ \"$1\" = --root ] && root=$2; shift; done\n\
         [ -n \"$root\" ] || exit 2\n\
         while [ ! -e '{gate}' ]; do sleep 0.2; done\n\
         mkdir -p \"$root/bin\" && cp '{bin}' \"$root/bin/intercomm\"\n",
        gate = gate.display(),
        bin = intercomm_bin().display(),
    );
    let path = dir.join("cargo");
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(&path, script))
        .and_then(|()| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        });
    if let Err(e) = written {
        fail(format!("cannot write the stand-in cargo: {e}"));
    }
}

/// The intercomm tools offered in a request, without the plugin's prefix.
fn offered(request: &Value) -> Vec<String> {
    request["mcp_tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str()?.strip_prefix(TOOLS).map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugin_first_start_tools_arrive_after_the_build() {
    let claude = claude_bin().display().to_string();
    let world = World::new("plugin_first_start", rules());
    install_plugin(&world);
    let fake_bin = world.dir.join("fake-bin");
    let gate = world.dir.join("build-gate");
    let cache = world.dir.join("intercomm-cache");
    fake_cargo(&fake_bin, &gate);
    // The master's PATH: Claude Code and the stand-in cargo, no intercomm.
    let claude_dir = world
        .claude
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let path = format!(
        "{claude_dir}:{}:/usr/local/bin:/usr/bin:/bin",
        fake_bin.display()
    );
    // Through env(1): tmux (3.3a) gives a new session its client's PATH
    // over a `-e PATH=…`.
    let path = format!("PATH={path}");
    let cache_s = format!("INTERCOMM_CACHE={}", cache.display());
    world
        .start_master(
            &[
                "/usr/bin/env",
                &path,
                &cache_s,
                &claude,
                "--permission-mode",
                "acceptEdits",
            ],
            false,
        )
        .await;

    // While the build runs: only the launcher's status tool.
    world
        .submit("master", "FIRST-START-BEFORE: is intercomm there?")
        .await;
    let before = world.turn_done(&world.repo, "FIRST-START-BEFORE", 60).await;
    world.check(
        offered(&before) == ["intercomm_install_status"],
        format!(
            "during the build the session should offer only intercomm_install_status: {:?}",
            before["mcp_tools"]
        ),
    );
    let status = before["result_texts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["tool"] == tool("intercomm_install_status").as_str())
        .and_then(|r| r["text"].as_str())
        .unwrap_or_default()
        .to_owned();
    world.check(
        status.contains("is being built"),
        format!("the status tool should say the build runs: {status}"),
    );

    // The build finishes; the launcher hands over and says the list changed.
    if let Err(e) = std::fs::write(&gate, "") {
        fail(format!("cannot open the build gate: {e}"));
    }
    let state = cache.join(format!("build-{}.state", env!("CARGO_PKG_VERSION")));
    world
        .until(60, "the launcher's build to be done", || {
            (std::fs::read_to_string(&state).ok()?.trim() == "done").then_some(())
        })
        .await;
    // The launcher looks at the build once a second between messages.
    let mut after = Value::Null;
    for attempt in 0..10 {
        world.idle("master", 30).await;
        let prompt = format!("FIRST-START-AFTER {attempt}: register as the master.");
        world.submit("master", &prompt).await;
        after = world
            .turn_done(&world.repo, &format!("FIRST-START-AFTER {attempt}"), 60)
            .await;
        if offered(&after).iter().any(|t| t == "intercomm_register") {
            break;
        }
        world.note(format!(
            "attempt {attempt}: the session still offered {:?}",
            after["mcp_tools"]
        ));
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    // (2.1.332 lists deferred tools by name in the conversation, so the
    // status tool's name from before the build stays in the request.)
    let tools = offered(&after);
    world.check(
        ["intercomm_register", "intercomm_spawn", "intercomm_status"]
            .iter()
            .all(|t| tools.iter().any(|o| o == t)),
        format!("after the build the same session should offer intercomm's tools: {tools:?}"),
    );
    let registered = after["result_texts"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["tool"] == tool("intercomm_register").as_str())
        .cloned()
        .unwrap_or(Value::Null);
    world.check(
        registered["is_error"] == false
            && registered["text"]
                .as_str()
                .is_some_and(|t| t.contains("master")),
        format!("intercomm_register should work in that session: {registered}"),
    );
    world.finish();
}
