//! The hardening issue (#14): each test here failed on the behaviour it
//! names before the fix, whatever the wording of the fix.

use rusqlite::Connection;
use serde_json::json;

use crate::stand_in::Fleet;
use crate::support::*;

/// Finding 4: a spawned worker that has not registered yet keeps its name
/// (another registrant gets another id) and its contract (clear spares it).
#[tokio::test]
async fn a_spawned_workers_name_and_contract_wait_for_it() -> TestResult {
    let f = Fleet::new().await?;
    let cmd = f.fake("");
    f.spawn(json!({"count": 1, "wake": false, "claude_cmd": cmd}))
        .await?;
    ok(
        &f.master,
        "intercomm_assign",
        json!({"worker": "worker-1", "role_instructions": "x", "target_type": "task", "target_slug": "task-a", "wake": false}),
    )
    .await?;
    let other = f.project.client().await?;
    let id = register(&other, "worker").await?;
    assert_ne!(id, "worker-1", "a spawned worker's name went to another");
    ok(&f.master, "intercomm_clear", json!({"keep": 0})).await?;
    let conn = Connection::open(f.project.paths().db())?;
    let waiting: i64 = conn.query_row(
        "SELECT COUNT(*) FROM messages WHERE to_id = 'worker-1' AND type = 'task'",
        [],
        |r| r.get(0),
    )?;
    assert_eq!(waiting, 1, "clear deleted the contract of a spawned worker");
    Ok(())
}
