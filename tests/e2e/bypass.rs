//! Scenario 4, bypass: a worker spawned with perm_mode bypassPermissions (the
//! master has IS_SANDBOX=1, which spawn passes on; Claude Code refuses the
//! mode as root without it) meets the bypass warning, whose default is "No,
//! exit"; spawn must choose "Yes, I accept", once, and type nothing else.

use serde_json::{Value, json};

use crate::harness::*;

fn rules() -> Value {
    json!({"rules": [
        register_rule()
    ]})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bypass_warning_is_accepted_not_defaulted() {
    let world = World::new("bypass", rules());
    let master = world.master(&[("IS_SANDBOX", "1")]).await;
    let global = world.tmux(&["show-environment", "-g"]).unwrap_or_default();
    world.check(
        !global.contains("IS_SANDBOX"),
        "the tmux server's environment has IS_SANDBOX",
    );
    let out = ok(
        &master,
        "intercomm_spawn",
        json!({"count": 1, "perm_mode": "bypassPermissions",
               "claude_cmd": world.claude.display().to_string(), "ready_timeout": 90}),
    )
    .await;
    let w = spawned(&out, "worker-1");
    let bypasses = w["dialogs_cleared"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| *d == "bypass")
        .count();
    world.check(
        bypasses == 1,
        format!("the bypass warning was answered {bypasses} times: {w}"),
    );
    world
        .turn_done(&world.repo, "You are worker worker-1.", 90)
        .await;
    check_spawned(&world, &out, "worker-1", &world.repo).await;

    // "Yes, I accept" (not the default "No, exit"): Claude runs on, in
    // bypass mode, and remembered the acceptance.
    let screen = world.idle("worker-1", 30).await;
    world.check(
        screen.contains("bypass permissions on"),
        format!("the footer does not show bypass mode:\n{screen}"),
    );
    let settings =
        std::fs::read_to_string(world.home.join(".claude/settings.json")).unwrap_or_default();
    world.check(
        settings.contains("\"skipDangerousModePermissionPrompt\": true"),
        format!("Claude Code did not record the accepted warning: {settings:?}"),
    );
    let claude = world.processes().into_iter().find(|p| {
        p.worker_id.as_deref() == Some("worker-1") && p.cmdline.contains("bypassPermissions")
    });
    world.check(
        claude
            .as_ref()
            .is_some_and(|p| environ(p.pid).iter().any(|kv| kv == "IS_SANDBOX=1")),
        format!("the worker's Claude does not run with IS_SANDBOX=1: {claude:?}"),
    );

    ok(&master, "intercomm_teardown", json!({})).await;
    world.check_torn_down(&[]).await;
    let _ = master.cancel().await;
    world.finish();
}
