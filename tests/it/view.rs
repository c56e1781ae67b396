//! Seeing the fleet from the command line: `watch` streams the bus's
//! events as JSON lines, `diff` prints a worker's patch against its base.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::*;

/// A running `intercomm watch` whose lines arrive on a channel.
struct Watch {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Watch {
    fn start(project: &Project) -> TestResult<Self> {
        let mut child = project
            .command(&["watch"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let parsed = serde_json::from_str(&line).unwrap_or(json!({"unparsed": line}));
                if tx.send(parsed).is_err() {
                    return;
                }
            }
        });
        Ok(Self { child, lines })
    }

    /// The next event matching `want`, skipping others (at most 30 s).
    fn until(&self, want: impl Fn(&Value) -> bool) -> TestResult<Value> {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let event = self.lines.recv_timeout(left)?;
            assert!(
                event.get("event").is_some() && event.get("at_ms").is_some(),
                "{event}"
            );
            if want(&event) {
                return Ok(event);
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn watch_streams_states_messages_and_questions() -> TestResult {
    let project = Project::plain()?;
    let (master, worker) = master_and_worker(&project).await?;
    let watch = Watch::start(&project)?;
    let first = watch.until(|e| e["event"] == "state" && e["id"] == "worker-1")?;
    assert_eq!(first["role"], "worker");
    assert_eq!(first["kind"], "ready", "{first}");

    let sent = ok(
        &worker,
        "intercomm_send",
        json!({"to": "master", "type": "question", "message": "May I \u{1b}[2Jdelete build/?"}),
    )
    .await?;
    let m = watch.until(|e| e["event"] == "message")?;
    assert_eq!(m["from"], "worker-1");
    assert_eq!(m["type"], "question");
    assert_eq!(m["id"], sent["message_id"]);
    assert_eq!(
        m["text"], "May I \u{FFFD}[2Jdelete build/?",
        "no escape survives"
    );
    let q = watch.until(|e| e["event"] == "decision")?;
    assert_eq!(
        (q["kind"].clone(), q["open"].clone()),
        (json!("question"), json!(true))
    );
    assert_eq!(q["message_id"], sent["message_id"]);

    ok(
        &master,
        "intercomm_reply",
        json!({"message_id": sent["message_id"], "message": "yes"}),
    )
    .await?;
    let reply = watch.until(|e| e["event"] == "message")?;
    assert_eq!(reply["reply_to"], "worker-1");
    let settled = watch.until(|e| e["event"] == "decision")?;
    assert_eq!(settled["open"], false);

    ok(&worker, "intercomm_signoff", json!({})).await?;
    let exit = watch.until(|e| e["event"] == "exit")?;
    assert_eq!(
        (exit["id"].clone(), exit["state"].clone()),
        (json!("worker-1"), json!("signed off"))
    );
    Ok(())
}

#[tokio::test]
async fn diff_prints_a_workers_changes_against_its_base() -> TestResult {
    let project = Project::git()?;
    let master = project.client().await?;
    register(&master, "master").await?;
    let added = ok(
        &master,
        "intercomm_worktree_add",
        json!({"worker_id": "worker-1", "branch": "work-1"}),
    )
    .await?;
    let path = std::path::PathBuf::from(added["path"].as_str().ok_or("no path")?);
    let repo = git2::Repository::open(&path)?;
    std::fs::write(path.join("committed.txt"), "one\n")?;
    commit_all(&repo, "first")?;
    std::fs::write(path.join("README.md"), "test project\nedited\n")?;
    std::fs::write(path.join("untracked.txt"), "new\n")?;

    let out = project.cli().args(["diff", "worker-1"]).assert().success();
    let patch = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(
        patch.contains("+++ b/committed.txt\n@@ -0,0 +1 @@\n+one\n"),
        "{patch}"
    );
    assert!(patch.contains("+edited\n"), "{patch}");
    assert!(patch.contains("+++ b/untracked.txt"), "{patch}");

    let progress = intercomm::git::Checkout::open(&path)?.progress("main")?;
    assert_eq!(
        (
            progress.ahead,
            progress.files,
            progress.insertions,
            progress.deletions
        ),
        (1, 3, 3, 0)
    );

    let e = project.cli().args(["diff", "worker-9"]).assert().code(1);
    let stderr = String::from_utf8_lossy(&e.get_output().stderr).into_owned();
    assert!(stderr.contains("\"worker-9\" has no worktree"), "{stderr}");
    Ok(())
}
