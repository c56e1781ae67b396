//! The e2e harness: one isolated world per test, with the real Claude Code.
//!
//! [`World::new`] builds, in a fresh temporary folder:
//! - a network namespace with only `lo` (`ip netns add`), so no packet can
//!   leave the machine; the stand-in model (tests/e2e/model.py), a private
//!   tmux server (`tmux -S <tmp>/tmux.sock`, never the default server) and
//!   the master's `intercomm mcp` are started inside it, so every Claude Code
//!   and every MCP server they launch lives there too;
//! - a throwaway HOME whose `~/.claude.json` skips onboarding and approves
//!   the dummy API key, but pre-accepts neither folder trust nor the project's
//!   MCP server (intercomm_spawn must clear those dialogs for real);
//! - a git repository on `main` with a committed `.mcp.json` naming
//!   target/debug/intercomm, so every worktree has it, and a committed
//!   `.claude/settings.json` that allows the intercomm tools and `git`/`echo`
//!   commands (a worker's other commands still ask).
//!
//! Claude Code's environment is the tmux server's global environment (spawned
//! sessions inherit it): HOME, TERM, the dummy key, ANTHROPIC_BASE_URL, the
//! DISABLE_* switches, PATH with the pinned claude and target/debug; the
//! server starts under `env -i`, so CLAUDECODE, CLAUDE_CODE_ENTRYPOINT,
//! ANTHROPIC_AUTH_TOKEN and CLAUDE_CODE_OAUTH_TOKEN are never inherited.
//!
//! Everything is undone in `Drop`, also when the test fails: the tmux server
//! is killed, every process left in the namespace is killed by pid, the
//! namespace is deleted, the folder removed. A failing test first prints
//! every pane and the model's request log. Missing privileges or tools make
//! the test fail with the reason; nothing is skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};
use tempfile::TempDir;

pub type Client = RunningService<RoleClient, ()>;

/// The Claude Code version the tests pin (INTERCOMM_E2E_CLAUDE_VERSION overrides).
pub const PINNED_CLAUDE: &str = "2.1.197";
/// The dummy key Claude Code sees; never a real one.
pub const API_KEY: &str = "sk-ant-api03-intercomm-e2e-dummy-key-not-real-0000000000AAAA";
/// Prefix of everything the harness names (namespaces, temp folders).
const PREFIX: &str = "icm-e2e";

/// One test at a time: several real Claude Codes per test already fill two
/// cores (nextest runs each test in its own process; its test group
/// serialises them, see .config/nextest.toml; this lock covers `cargo test`).
static SERIAL: Mutex<()> = Mutex::new(());
static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Aborts the test with `msg` (the world's Drop still cleans up).
pub fn fail(msg: impl std::fmt::Display) -> ! {
    panic!("e2e: {msg}")
}

/// The repository root (this crate).
pub fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The binary under test.
pub fn intercomm_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_intercomm"))
}

/// The pinned Claude Code version.
pub fn claude_version() -> String {
    std::env::var("INTERCOMM_E2E_CLAUDE_VERSION")
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| PINNED_CLAUDE.to_owned())
}

/// `~/.cache/intercomm/claude-code/<version>/node_modules/.bin/claude`,
/// installed by scripts/e2e-setup when missing.
fn claude_path(version: &str) -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".to_owned());
    PathBuf::from(home)
        .join(".cache/intercomm/claude-code")
        .join(version)
        .join("node_modules/.bin/claude")
}

/// The pinned Claude Code's `claude`, installed first when missing.
pub fn claude_bin() -> PathBuf {
    ensure_claude(&claude_version())
}

fn ensure_claude(version: &str) -> PathBuf {
    let path = claude_path(version);
    if path.exists() {
        return path;
    }
    let setup = crate_root().join("scripts/e2e-setup");
    eprintln!(
        "e2e: Claude Code {version} is not installed; running {}",
        setup.display()
    );
    let status = Command::new(&setup)
        .env("INTERCOMM_E2E_CLAUDE_VERSION", version)
        .status();
    match status {
        Ok(s) if s.success() && path.exists() => path,
        Ok(s) => fail(format!(
            "{} failed ({s}); {} is missing",
            setup.display(),
            path.display()
        )),
        Err(e) => fail(format!("cannot run {}: {e}", setup.display())),
    }
}

fn which(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

fn euid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Runs a command to completion; `Err` carries its stderr.
fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes namespaces and folders of earlier runs whose test process died
/// without cleaning up (e.g. killed by a timeout). Only our own names.
fn sweep_stale() {
    if let Ok(list) = run(Command::new("ip").args(["netns", "list"])) {
        for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
            let Some(pid) = name
                .strip_prefix(&format!("{PREFIX}-"))
                .and_then(|rest| rest.split('-').next())
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if !pid_alive(pid) {
                kill_netns_processes(name);
                let _ = run(Command::new("ip").args(["netns", "del", name]));
            }
        }
    }
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix(&format!("{PREFIX}-"))
                .and_then(|rest| rest.split('-').next())
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if !pid_alive(pid) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
}

/// Kills (SIGKILL, by pid) every process in namespace `ns`; returns their
/// command lines.
fn kill_netns_processes(ns: &str) -> Vec<String> {
    let mut killed = Vec::new();
    for _ in 0..5 {
        let pids: Vec<String> = run(Command::new("ip").args(["netns", "pids", ns]))
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        if pids.is_empty() {
            break;
        }
        for pid in &pids {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|b| {
                    String::from_utf8_lossy(&b)
                        .replace('\0', " ")
                        .trim()
                        .to_owned()
                })
                .unwrap_or_default();
            if run(Command::new("kill").args(["-KILL", pid])).is_ok() {
                killed.push(format!("{pid} {cmdline}"));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    killed
}

/// A process seen in the namespace.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: u32,
    pub cmdline: String,
    /// Its INTERCOMM_WORKER_ID, if set (a worker's Claude or MCP server).
    pub worker_id: Option<String>,
}

/// One isolated world (see the module doc). Fields are public for tests.
pub struct World {
    pub name: &'static str,
    started: Instant,
    pub version: String,
    pub claude: PathBuf,
    pub ns: String,
    ns_created: bool,
    pub dir: PathBuf,
    pub home: PathBuf,
    pub repo: PathBuf,
    pub socket: PathBuf,
    pub port: u16,
    /// The model's compact request log.
    pub log: PathBuf,
    model: Option<std::process::Child>,
    tmux_started: bool,
    findings: Mutex<Vec<String>>,
    notes: Mutex<Vec<String>>,
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

    fn make_netns(&mut self) {
        if let Err(e) = run(Command::new("ip").args(["netns", "add", &self.ns])) {
            fail(format!(
                "cannot create network namespace {} (needs root and iproute2): {e}",
                self.ns
            ));
        }
        self.ns_created = true;
        if let Err(e) = self.in_ns(&["ip", "link", "set", "lo", "up"]) {
            fail(format!("cannot bring up lo in {}: {e}", self.ns));
        }
        let links = self
            .in_ns(&["ip", "-o", "link"])
            .unwrap_or_else(|e| fail(format!("ip link in {}: {e}", self.ns)));
        let names: Vec<&str> = links
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(str::trim)
            .collect();
        if names != ["lo"] {
            fail(format!("namespace {} has more than lo: {names:?}", self.ns));
        }
    }

    fn in_ns(&self, argv: &[&str]) -> Result<String, String> {
        run(Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(argv))
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
        for args in [
            vec!["init", "-q", "-b", "main"],
            vec!["add", "-A"],
            vec![
                "-c",
                "user.name=e2e",
                "-c",
                "user.email=e2e@example.com",
                "commit",
                "-q",
                "-m",
                "initial",
            ],
        ] {
            if let Err(e) = self.git(&args) {
                fail(format!("cannot make the project repository: {e}"));
            }
        }
    }

    /// Runs git in the project repository.
    pub fn git(&self, args: &[&str]) -> Result<String, String> {
        run(Command::new("git").arg("-C").arg(&self.repo).args(args))
    }

    /// Runs git in `dir`.
    pub fn git_in(&self, dir: &Path, args: &[&str]) -> Result<String, String> {
        run(Command::new("git").arg("-C").arg(dir).args(args))
    }

    fn start_model(&mut self, rules: &Value) {
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

    fn start_tmux(&mut self) {
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

    // ------------------------------------------------------------ tmux

    /// Runs a tmux command on the private server.
    pub fn tmux(&self, args: &[&str]) -> Result<String, String> {
        run(Command::new("tmux")
            .env_remove("TMUX")
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
        let dir = dir.display().to_string();
        let mut args = vec![
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "200",
            "-y",
            "50",
            "-c",
            &dir,
        ];
        let pairs: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for p in &pairs {
            args.extend(["-e", p.as_str()]);
        }
        args.extend(["-P", "-F", "#{pane_id}", "--"]);
        args.extend_from_slice(argv);
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

    // ------------------------------------------------------------ waiting

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

    // ------------------------------------------------------------ the model log

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

    // ------------------------------------------------------------ processes

    /// The processes living in the namespace now.
    pub fn processes(&self) -> Vec<Proc> {
        run(Command::new("ip").args(["netns", "pids", &self.ns]))
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
            .map(|pid| {
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|b| {
                        String::from_utf8_lossy(&b)
                            .replace('\0', " ")
                            .trim()
                            .to_owned()
                    })
                    .unwrap_or_default();
                let worker_id = std::fs::read(format!("/proc/{pid}/environ"))
                    .ok()
                    .and_then(|b| {
                        b.split(|c| *c == 0)
                            .filter_map(|kv| std::str::from_utf8(kv).ok())
                            .find_map(|kv| {
                                kv.strip_prefix("INTERCOMM_WORKER_ID=").map(str::to_owned)
                            })
                    });
                Proc {
                    pid,
                    cmdline,
                    worker_id,
                }
            })
            .collect()
    }

    // ------------------------------------------------------------ the master

    /// Starts `intercomm mcp` in the namespace as a child of the test, with
    /// INTERCOMM_DB_ROOT=<repo> and INTERCOMM_TMUX_SOCKET=<private socket>
    /// (plus `extra` environment), and connects an rmcp client to it.
    pub async fn master_client(&self, extra: &[(&str, &str)]) -> Client {
        let err = std::fs::File::create(self.dir.join("master.err"))
            .unwrap_or_else(|e| fail(format!("master.err: {e}")));
        let mut cmd = tokio::process::Command::new("ip");
        cmd.args(["netns", "exec", &self.ns])
            .arg(intercomm_bin())
            .arg("mcp")
            .current_dir(&self.repo)
            .env_clear()
            .envs(self.base_env())
            .env("INTERCOMM_DB_ROOT", &self.repo)
            .env("INTERCOMM_TMUX_SOCKET", &self.socket)
            .env("INTERCOMM_LOG", "debug,rmcp=info");
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let transport = TokioChildProcess::builder(cmd)
            .stderr(err)
            .spawn()
            .map(|(t, _)| t)
            .unwrap_or_else(|e| fail(format!("cannot start `intercomm mcp`: {e}")));
        match ().serve(transport).await {
            Ok(client) => client,
            Err(e) => fail(format!("cannot connect to `intercomm mcp`: {e}")),
        }
    }

    /// A master client, registered as master.
    pub async fn master(&self, extra: &[(&str, &str)]) -> Client {
        let client = self.master_client(extra).await;
        let reg = ok(&client, "intercomm_register", json!({"role": "master"})).await;
        if reg["id"] != "master" {
            fail(format!("registered as {reg}, not master"));
        }
        client
    }

    // ------------------------------------------------------------ findings

    /// Records a failed expectation without stopping the test (so one run
    /// reports every defect it meets); [`World::finish`] fails on any.
    pub fn check(&self, ok: bool, what: impl Into<String>) {
        if !ok {
            let what = what.into();
            eprintln!("e2e {}: CHECK FAILED: {what}", self.name);
            self.findings
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(what);
        }
    }

    /// Records an observation for the report. With INTERCOMM_E2E_STRICT=1
    /// it counts as a failed check.
    pub fn note(&self, what: impl Into<String>) {
        let what = what.into();
        if std::env::var("INTERCOMM_E2E_STRICT").is_ok_and(|v| v == "1") {
            self.check(false, what);
        } else {
            eprintln!("e2e {}: NOTE: {what}", self.name);
            self.notes
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(what);
        }
    }

    /// Ends the test: fails it if any check failed.
    pub fn finish(&self) {
        let findings = self
            .findings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if !findings.is_empty() {
            fail(format!(
                "{} check(s) failed:\n  - {}",
                findings.len(),
                findings.join("\n  - ")
            ));
        }
    }

    fn dump(&self) {
        eprintln!("\n======== e2e {}: diagnostics ========", self.name);
        let panes = self
            .tmux(&[
                "list-panes",
                "-a",
                "-F",
                "#{session_name} #{pane_id} #{pane_current_command}",
            ])
            .unwrap_or_default();
        for line in panes.lines() {
            let pane = line.split_whitespace().nth(1).unwrap_or_default();
            let text = self.capture(pane);
            let rows: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let tail = rows[rows.len().saturating_sub(30)..].join("\n");
            eprintln!("---- pane {line}\n{tail}");
        }
        eprintln!("---- model requests (cwd | prompt | results | rule | reply)");
        let reqs = self.requests();
        for r in &reqs[reqs.len().saturating_sub(60)..] {
            if r["tools"] != true {
                continue;
            }
            let reply: Vec<String> = r["reply"]["content"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|b| match b["type"].as_str() {
                    Some("tool_use") => format!(
                        "tool_use {} {}",
                        b["name"].as_str().unwrap_or(""),
                        b["input"]
                    ),
                    _ => format!("text {:?}", b["text"].as_str().unwrap_or("")),
                })
                .collect();
            let last = r["result_texts"]
                .as_array()
                .and_then(|a| a.last())
                .map(|x| {
                    format!(
                        " last_result={:?}",
                        short(x["text"].as_str().unwrap_or(""), 160)
                    )
                })
                .unwrap_or_default();
            eprintln!(
                "{} | {:?} | {} | {} | {}{last}",
                Path::new(r["cwd"].as_str().unwrap_or(""))
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                short(r["prompt"].as_str().unwrap_or(""), 70),
                r["results"],
                r["rule"],
                reply.join("; ")
            );
        }
        for file in ["master.err", "model.err"] {
            let text = std::fs::read_to_string(self.dir.join(file)).unwrap_or_default();
            let rows: Vec<&str> = text.lines().collect();
            eprintln!(
                "---- {file} (last 25 lines)\n{}",
                rows[rows.len().saturating_sub(25)..].join("\n")
            );
        }
        eprintln!("======== end of diagnostics ========\n");
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

pub fn short(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

// ---------------------------------------------------------------- tools

/// Calls a tool with JSON arguments.
pub async fn call(client: &Client, tool: &str, args: Value) -> CallToolResult {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Value::Object(map) = args {
        params = params.with_arguments(map);
    }
    match client.call_tool(params).await {
        Ok(r) => r,
        Err(e) => fail(format!("{tool}: the MCP call failed: {e}")),
    }
}

/// The text of a result's first content block.
pub fn text(result: &CallToolResult) -> String {
    result
        .content
        .first()
        .and_then(|c| c.as_text())
        .map(|t| t.text.clone())
        .unwrap_or_default()
}

/// Calls a tool that must succeed; returns its structured content.
pub async fn ok(client: &Client, tool: &str, args: Value) -> Value {
    let result = call(client, tool, args.clone()).await;
    if result.is_error == Some(true) {
        fail(format!("{tool}({args}) failed: {}", text(&result)));
    }
    eprintln!("e2e: {tool} -> {}", short(&text(&result), 600));
    result.structured_content.unwrap_or(Value::Null)
}

/// Calls a tool that must fail; returns (error object, text).
pub async fn err(client: &Client, tool: &str, args: Value) -> (Value, String) {
    let result = call(client, tool, args.clone()).await;
    if result.is_error != Some(true) {
        fail(format!(
            "{tool}({args}) unexpectedly succeeded: {}",
            text(&result)
        ));
    }
    let error = result
        .structured_content
        .as_ref()
        .and_then(|v| v.get("error").cloned())
        .unwrap_or(Value::Null);
    (error, text(&result))
}

// ---------------------------------------------------------------- screens
//
// The harness's own minimal reading of Claude Code 2.1.x screens, kept
// independent of intercomm's classifier (which is under test).

fn is_rule(line: &str) -> bool {
    let s = line.trim();
    s.chars().count() >= 20 && s.chars().all(|c| c == '─')
}

/// The text in the prompt box (between the last two rules, after `❯`), if
/// the bottom of the screen is a prompt box.
pub fn prompt_box(screen: &str) -> Option<String> {
    let rows: Vec<&str> = screen.lines().collect();
    let rules: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, l)| is_rule(l))
        .map(|(i, _)| i)
        .collect();
    let [.., top, bottom] = rules.as_slice() else {
        return None;
    };
    if bottom - top < 2 {
        return None;
    }
    let inner = &rows[top + 1..*bottom];
    let first = inner.first()?.trim_start();
    let first = first.strip_prefix('❯')?;
    let mut text = vec![first.trim().to_owned()];
    text.extend(inner[1..].iter().map(|l| l.trim().to_owned()));
    Some(text.join("\n").trim().to_owned())
}

/// Idle: an empty prompt box, no busy footer, no spinner line above it.
pub fn is_idle(screen: &str) -> bool {
    let rows: Vec<&str> = screen.lines().collect();
    let rules: Vec<usize> = rows
        .iter()
        .enumerate()
        .filter(|(_, l)| is_rule(l))
        .map(|(i, _)| i)
        .collect();
    let [.., top, bottom] = rules.as_slice() else {
        return false;
    };
    let footer = rows[bottom + 1..].join("\n");
    let spinner = rows[..*top]
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim_end().ends_with('…') || l.contains("esc to interrupt"));
    prompt_box(screen).is_some_and(|b| b.is_empty())
        && !footer.contains("esc to interrupt")
        && !spinner
}

/// The menu under the last rule: (label, selected) of each numbered option.
pub fn menu(screen: &str) -> Vec<(String, bool)> {
    let rows: Vec<&str> = screen.lines().collect();
    let start = rows.iter().rposition(|l| is_rule(l)).map_or(0, |i| i + 1);
    let region = &rows[start..];
    let numbered: Vec<(String, bool)> = region
        .iter()
        .filter_map(|l| {
            let t = l.trim_start();
            let (selected, rest) = match t.strip_prefix('❯') {
                Some(r) => (true, r.trim_start()),
                None => (false, t),
            };
            let dot = rest.find(". ")?;
            rest[..dot].parse::<u32>().ok()?;
            Some((rest[dot + 2..].trim().to_owned(), selected))
        })
        .collect();
    if !numbered.is_empty() {
        return numbered;
    }
    // Unnumbered menus (2.1.330): the cursor line and the lines whose text
    // starts in the same column.
    let Some(cur) = region.iter().position(|l| l.trim_start().starts_with('❯')) else {
        return Vec::new();
    };
    let line: Vec<char> = region[cur].chars().collect();
    let Some(mut col) = line.iter().position(|c| *c == '❯').map(|i| i + 1) else {
        return Vec::new();
    };
    while line.get(col) == Some(&' ') {
        col += 1;
    }
    region
        .iter()
        .enumerate()
        .filter_map(|(i, l)| {
            let chars: Vec<char> = l.trim_end().chars().collect();
            let head_blank = chars.iter().take(col).all(|c| *c == ' ' || *c == '❯');
            let starts = chars.get(col).is_some_and(|c| *c != ' ');
            (head_blank && starts && (i == cur || !chars.contains(&'❯'))).then(|| {
                (
                    chars[col..].iter().collect::<String>().trim().to_owned(),
                    i == cur,
                )
            })
        })
        .collect()
}

/// The lines under the last full-width rule.
pub fn below_last_rule(screen: &str) -> String {
    let rows: Vec<&str> = screen.lines().collect();
    let start = rows.iter().rposition(|l| is_rule(l)).map_or(0, |i| i + 1);
    rows[start..].join("\n")
}

/// The screen ends with a shell prompt (`#` or `$`).
pub fn is_shell_prompt(screen: &str) -> bool {
    let last = last_line(screen);
    last == "#"
        || last.ends_with('$')
        || last.ends_with("# ")
        || last.ends_with('#') && !last.contains('│')
}

/// The last non-blank line of a screen.
pub fn last_line(screen: &str) -> String {
    screen
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim_end()
        .to_owned()
}

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

/// The environment of a process, as `KEY=VALUE` strings.
pub fn environ(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter_map(|kv| std::str::from_utf8(kv).ok().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
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

/// The harness's own screen reading, against the captured fixtures (no
/// Claude Code needed).
#[test]
fn harness_reads_menus_prompts_and_idle_footers() {
    let fixture = |rel: &str| {
        let text = std::fs::read_to_string(crate_root().join("tests/fixtures/screens").join(rel))
            .unwrap_or_else(|e| fail(format!("{rel}: {e}")));
        // Drop the `# claude-code …` header line.
        text.split_once('\n')
            .map(|(_, s)| s.to_owned())
            .unwrap_or_default()
    };
    let trust = menu(&fixture("trust/2.1.197-200x50.txt"));
    assert_eq!(
        trust.first().map(|(l, s)| (l.as_str(), *s)),
        Some(("Yes, I trust this folder", true))
    );
    let trust = menu(&fixture("trust/2.1.330-200x50.txt"));
    assert!(
        trust.iter().any(|(l, _)| l.starts_with("Yes, I trust")),
        "{trust:?}"
    );
    assert_eq!(trust.iter().filter(|(_, s)| *s).count(), 1, "{trust:?}");
    let mcp = menu(&fixture("mcp_approval/2.1.197-200x50.txt"));
    assert!(
        mcp.iter().any(|(l, _)| l == "Use this MCP server"),
        "{mcp:?}"
    );
    let ready = fixture("ready/2.1.197-200x50.txt");
    assert!(is_idle(&ready));
    assert_eq!(prompt_box(&ready).as_deref(), Some(""));
    let typed = fixture("ready/2.1.197-200x50-input.txt");
    assert!(prompt_box(&typed).is_some_and(|b| b.contains("typed but not sent")));
    assert!(!is_idle(&typed));
    assert!(!is_idle(&fixture("running/2.1.197-200x50.txt")));
    assert!(is_shell_prompt(&fixture("exited/2.1.197-200x50.txt")));
}
