//! The [`World`] itself and its lifecycle: building it (home, project
//! repository, model, tmux server, in that order) and undoing all of it in
//! `Drop`, also when the test fails.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use serde_json::{Value, json};
use tempfile::TempDir;

use super::fail;
use super::host::{claude_version, ensure_claude, euid, intercomm_bin, run, which};
use super::netns::{PREFIX, kill_netns_processes, sweep_stale};

/// The dummy key Claude Code sees; never a real one.
pub const API_KEY: &str = "sk-ant-api03-intercomm-e2e-dummy-key-not-real-0000000000AAAA";

/// One test at a time: several real Claude Codes per test already fill two
/// cores (nextest runs each test in its own process; its test group
/// serialises them, see .config/nextest.toml; this lock covers `cargo test`).
static SERIAL: Mutex<()> = Mutex::new(());
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// One isolated world (see the module doc). Fields are public for tests.
pub struct World {
    pub name: &'static str,
    started: Instant,
    pub version: String,
    pub claude: PathBuf,
    pub ns: String,
    pub(super) ns_created: bool,
    pub dir: PathBuf,
    pub home: PathBuf,
    pub repo: PathBuf,
    pub socket: PathBuf,
    pub port: u16,
    /// The model's compact request log.
    pub log: PathBuf,
    pub(super) model: Option<std::process::Child>,
    pub(super) tmux_started: bool,
    pub(super) findings: Mutex<Vec<String>>,
    pub(super) notes: Mutex<Vec<String>>,
    tmp: Option<TempDir>,
    _serial: MutexGuard<'static, ()>,
}

impl World {
    /// Builds the world for test `name` with the model script `rules`
    /// (see tests/e2e/model.py). Fails the test, loudly, when the machine
    /// cannot isolate it.
    pub fn new(name: &'static str, rules: Value) -> World {
        let serial = SERIAL
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let started = Instant::now();
        for tool in ["ip", "tmux", "git", "python3", "node"] {
            if !which(tool) {
                fail(format!(
                    "`{tool}` is not on PATH: the e2e tests need ip (iproute2), tmux, git, python3 and node"
                ));
            }
        }
        if euid() != Some(0) {
            fail(format!(
                "the e2e tests need root (CAP_SYS_ADMIN) to create a network namespace; running as uid {:?}",
                euid()
            ));
        }
        sweep_stale();
        let version = claude_version();
        let claude = ensure_claude(&version);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let ns = format!("{PREFIX}-{}-{n}", std::process::id());
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{PREFIX}-{}-", std::process::id()))
            .tempdir()
            .unwrap_or_else(|e| fail(format!("cannot create a temp folder: {e}")));
        let dir = tmp.path().to_path_buf();
        let mut world = World {
            name,
            started,
            version,
            claude,
            ns,
            ns_created: false,
            home: dir.join("home"),
            repo: dir.join("repo"),
            socket: dir.join("tmux.sock"),
            log: dir.join("model.jsonl"),
            port: 0,
            model: None,
            tmux_started: false,
            findings: Mutex::new(Vec::new()),
            notes: Mutex::new(Vec::new()),
            dir,
            tmp: Some(tmp),
            _serial: serial,
        };
        eprintln!(
            "e2e {name}: Claude Code {} ({}), namespace {}, folder {}",
            world.version,
            world.claude.display(),
            world.ns,
            world.dir.display()
        );
        world.make_netns();
        world.seed_home();
        world.make_repo();
        world.start_model(&rules);
        world.start_tmux();
        world
    }

    fn seed_home(&self) {
        let approved = &API_KEY[API_KEY.len() - 20..];
        let config = json!({
            "hasCompletedOnboarding": true,
            "theme": "dark",
            "customApiKeyResponses": {"approved": [approved], "rejected": []},
        });
        let written = std::fs::create_dir_all(self.home.join(".claude"))
            .and_then(|()| std::fs::create_dir_all(self.dir.join("tmp")))
            .and_then(|()| std::fs::write(self.home.join(".claude.json"), config.to_string()));
        if let Err(e) = written {
            fail(format!("cannot seed HOME: {e}"));
        }
    }

    fn make_repo(&self) {
        let mcp = json!({"mcpServers": {"intercomm": {
            "command": intercomm_bin().display().to_string(),
            "args": ["mcp"],
        }}});
        let settings = json!({"permissions": {"allow": [
            "mcp__intercomm", "Bash(git:*)", "Bash(echo:*)"
        ]}});
        let files = [
            (
                "README.md",
                "# e2e project\n\nA throwaway repository for intercomm's e2e tests.\n".to_owned(),
            ),
            (".mcp.json", format!("{mcp:#}\n")),
            (".claude/settings.json", format!("{settings:#}\n")),
            (".gitignore", ".intercomm-aimfp/\n".to_owned()),
        ];
        let made = std::fs::create_dir_all(self.repo.join(".claude")).and_then(|()| {
            files
                .iter()
                .try_for_each(|(p, text)| std::fs::write(self.repo.join(p), text))
        });
        if let Err(e) = made {
            fail(format!("cannot write the project: {e}"));
        }
        let made = self
            .git(&["init", "-q", "-b", "main"])
            .and_then(|_| self.commit_all("initial"));
        if let Err(e) = made {
            fail(format!("cannot make the project repository: {e}"));
        }
    }

    /// Stages everything in the project and commits it as the e2e user.
    pub fn commit_all(&self, message: &str) -> Result<String, String> {
        self.git(&["add", "-A"])?;
        self.git(&[
            "-c",
            "user.name=e2e",
            "-c",
            "user.email=e2e@example.com",
            "commit",
            "-q",
            "-m",
            message,
        ])
    }

    /// Runs git in the project repository.
    pub fn git(&self, args: &[&str]) -> Result<String, String> {
        run(Command::new("git").arg("-C").arg(&self.repo).args(args))
    }

    /// Runs git in `dir`.
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> Result<String, String> {
        run(Command::new("git").arg("-C").arg(dir).args(args))
    }

    /// PATH for Claude Code and the shells in panes.
    fn path_var(&self) -> String {
        let claude_dir = self
            .claude
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let bin_dir = intercomm_bin()
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        format!(
            "{}:{}:/usr/local/bin:/usr/bin:/bin",
            claude_dir.display(),
            bin_dir.display()
        )
    }

    /// The environment of every process the world starts (no inherited
    /// CLAUDECODE, tokens, TMUX…).
    pub fn base_env(&self) -> Vec<(String, String)> {
        [
            ("HOME", self.home.display().to_string()),
            ("USER", "root".to_owned()),
            ("SHELL", "/bin/sh".to_owned()),
            ("LANG", "C.UTF-8".to_owned()),
            ("TERM", "xterm-256color".to_owned()),
            ("TMPDIR", self.dir.join("tmp").display().to_string()),
            ("PATH", self.path_var()),
            ("ANTHROPIC_API_KEY", API_KEY.to_owned()),
            (
                "ANTHROPIC_BASE_URL",
                format!("http://127.0.0.1:{}", self.port),
            ),
            ("DISABLE_AUTOUPDATER", "1".to_owned()),
            ("DISABLE_TELEMETRY", "1".to_owned()),
            ("DISABLE_ERROR_REPORTING", "1".to_owned()),
            ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let failed = std::thread::panicking();
        if failed && self.tmux_started {
            self.dump();
        }
        if std::env::var("INTERCOMM_E2E_KEEP").is_ok_and(|v| v == "1")
            && let Some(tmp) = self.tmp.take()
        {
            let kept = tmp.keep();
            eprintln!("e2e {}: kept {}", self.name, kept.display());
        }
        if self.tmux_started {
            let _ = self.tmux(&["kill-server"]);
        }
        if let Some(mut child) = self.model.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if self.ns_created {
            let left = kill_netns_processes(&self.ns);
            if !left.is_empty() {
                eprintln!(
                    "e2e {}: killed what was left in {}: {left:?}",
                    self.name, self.ns
                );
            }
            if let Err(e) = run(Command::new("ip").args(["netns", "del", &self.ns])) {
                eprintln!("e2e {}: {e}", self.name);
            }
        }
        drop(self.tmp.take());
        eprintln!(
            "e2e {}: {} in {:.1} s (Claude Code {})",
            self.name,
            if failed { "FAILED" } else { "passed" },
            self.started.elapsed().as_secs_f64(),
            self.version
        );
    }
}
