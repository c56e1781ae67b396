//! The private tmux server and its panes: starting the server, running tmux
//! commands, reading panes, typing and choosing as a person would, and
//! waiting for a condition.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::host::run;
use super::screen::{below_last_rule, is_idle, menu, prompt_box};
use super::{World, fail};

// The session command line tests/it starts its sessions with too.
#[path = "../../support/tmux_session.rs"]
mod tmux_session;
use tmux_session::new_session_args;

impl World {
    pub(super) fn start_tmux(&mut self) {
        let conf = self.dir.join("tmux.conf");
        let text = "set -g status off\nset -g history-limit 5000\nset -g escape-time 10\n\
                    set -g default-terminal xterm-256color\nset -s exit-empty off\n";
        if let Err(e) = std::fs::write(&conf, text) {
            fail(format!("tmux.conf: {e}"));
        }
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns, "env", "-i"]);
        for (k, v) in self.base_env() {
            cmd.arg(format!("{k}={v}"));
        }
        cmd.arg("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("-f")
            .arg(&conf)
            .args([
                "new-session",
                "-d",
                "-s",
                "e2e-home",
                "-x",
                "200",
                "-y",
                "50",
                "-c",
            ])
            .arg(&self.dir)
            .args(["--", "sleep", "2147483647"]);
        if let Err(e) = run(&mut cmd) {
            fail(format!("cannot start the private tmux server: {e}"));
        }
        self.tmux_started = true;
    }

    /// Runs a tmux command on the private server, as a client with the
    /// world's environment ([`World::base_env`]): tmux (3.3a) gives a session
    /// made by `new-session` the PATH of the client that made it, not the
    /// server's global one, so a client with the test runner's environment
    /// started the master with the runner's PATH (without target/debug): the
    /// plugin's launcher found no `intercomm` and served only its install
    /// status tool (issue #13's hooks_master).
    pub fn tmux(&self, args: &[&str]) -> Result<String, String> {
        run(Command::new("tmux")
            .env_clear()
            .envs(self.base_env())
            .arg("-S")
            .arg(&self.socket)
            .args(args))
    }

    /// The visible text of a pane (`target`: a session name or pane id).
    pub fn capture(&self, target: &str) -> String {
        let t = if target.starts_with('%') {
            target.to_owned()
        } else {
            format!("={target}:")
        };
        self.tmux(&["capture-pane", "-p", "-t", &t])
            .unwrap_or_default()
    }

    /// Session names on the private server.
    pub fn sessions(&self) -> Vec<String> {
        self.tmux(&["list-sessions", "-F", "#{session_name}"])
            .map(|o| o.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// Starts a session in `dir` running `argv` with extra environment;
    /// returns its pane id.
    pub fn new_session(
        &self,
        name: &str,
        dir: &Path,
        env: &[(&str, &str)],
        argv: &[&str],
    ) -> String {
        let args = new_session_args(name, dir, (200, 50), env, argv);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match self.tmux(&args) {
            Ok(out) => out.trim().to_owned(),
            Err(e) => fail(format!("cannot start session {name}: {e}")),
        }
    }

    /// Types `text` into a pane as a person would submit a prompt: the text,
    /// a pause, Enter (the guide's rule), then one more Enter if the box
    /// still holds it.
    pub async fn submit(&self, target: &str, text: &str) {
        let t = if target.starts_with('%') {
            target.to_owned()
        } else {
            format!("={target}:")
        };
        if let Err(e) = self.tmux(&["send-keys", "-t", &t, "-l", text]) {
            fail(format!("typing into {target}: {e}"));
        }
        let probe: String = text.chars().take(20).collect();
        self.until(10, &format!("{text:?} to show in {target}"), || {
            prompt_box(&self.capture(target))
                .filter(|b| b.contains(&probe))
                .map(|_| ())
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        for _ in 0..2 {
            let _ = self.tmux(&["send-keys", "-t", &t, "Enter"]);
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                let screen = self.capture(target);
                // Submitted: the box no longer holds the text, or Claude
                // exited (its last frame, box included, stays above the shell).
                if !prompt_box(&screen).is_some_and(|b| b.contains(&probe))
                    || below_last_rule(&screen).contains("Resume this session with:")
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        fail(format!("{text:?} was not submitted in {target}"));
    }

    /// Answers a dialog the way a person does: waits for the screen to
    /// settle (2.1.330 re-mounts its start-up dialogs right after the first
    /// paint, resetting the cursor and dropping keys), moves the `❯` cursor
    /// onto the option whose label starts with `label` (checking each step
    /// on screen), presses Enter, and checks that the option is gone; if not
    /// (the Enter was lost), it tries again.
    pub async fn choose(&self, target: &str, label: &str) {
        let t = if target.starts_with('%') {
            target.to_owned()
        } else {
            format!("={target}:")
        };
        let offered = |s: &str| menu(s).iter().any(|(l, _)| l.starts_with(label));
        for _attempt in 0..3 {
            let mut screen = self.settled(target).await;
            for _ in 0..12 {
                let opts = menu(&screen);
                let sel = opts.iter().position(|(_, s)| *s);
                let want = opts.iter().position(|(l, _)| l.starts_with(label));
                let (Some(sel), Some(want)) = (sel, want) else {
                    fail(format!(
                        "no option {label:?} in {target}'s menu {opts:?}:\n{screen}"
                    ));
                };
                if sel == want {
                    break;
                }
                let key = if want > sel { "Down" } else { "Up" };
                let _ = self.tmux(&["send-keys", "-t", &t, key]);
                let before = screen.clone();
                screen = self
                    .until(3, "the menu cursor to move", || {
                        let now = self.capture(target);
                        (now != before).then_some(now)
                    })
                    .await;
            }
            let _ = self.tmux(&["send-keys", "-t", &t, "Enter"]);
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
                if !offered(&self.capture(target)) {
                    return;
                }
            }
            eprintln!("e2e: {target}: {label:?} still offered after Enter; trying again");
        }
        fail(format!(
            "could not choose {label:?} in {target}:\n{}",
            self.capture(target)
        ));
    }

    /// Waits until the pane's text has not changed for 400 ms (at most 5 s).
    pub async fn settled(&self, target: &str) -> String {
        let mut last = self.capture(target);
        let mut since = Instant::now();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.capture(target);
            if now != last {
                last = now;
                since = Instant::now();
            } else if since.elapsed() >= Duration::from_millis(400) {
                break;
            }
        }
        last
    }

    /// Polls `f` every 100 ms until it yields, for at most `secs` seconds;
    /// fails the test naming `what` otherwise.
    pub async fn until<T>(&self, secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(v) = f() {
                return v;
            }
            if Instant::now() >= deadline {
                fail(format!("timed out after {secs} s waiting for {what}"));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `target`'s Claude is idle at an empty prompt.
    pub async fn idle(&self, target: &str, secs: u64) -> String {
        self.until(secs, &format!("{target} to be idle at its prompt"), || {
            let s = self.capture(target);
            is_idle(&s).then_some(s)
        })
        .await
    }

    /// Starts a Claude master in the main checkout with `argv` and answers
    /// its boot the way the user would: trusts the folder, approves the
    /// project's MCP server when `mcp_dialog` (a `.mcp.json` server; the
    /// plugin's needs no approval), and waits for the idle prompt.
    pub async fn start_master(&self, argv: &[&str], mcp_dialog: bool) {
        self.new_session("master", &self.repo, &[], argv);
        self.until(60, "the master's trust dialog", || {
            menu(&self.capture("master"))
                .iter()
                .any(|(l, _)| l.starts_with("Yes, I trust"))
                .then_some(())
        })
        .await;
        self.choose("master", "Yes, I trust").await;
        if mcp_dialog {
            let asked = self
                .until(60, "the master's MCP approval or prompt", || {
                    let s = self.capture("master");
                    if menu(&s)
                        .iter()
                        .any(|(l, _)| l.starts_with("Use this MCP server"))
                    {
                        Some(true)
                    } else {
                        is_idle(&s).then_some(false)
                    }
                })
                .await;
            if asked {
                self.choose("master", "Use this MCP server").await;
            }
        }
        self.idle("master", 60).await;
    }
}
