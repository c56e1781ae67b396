//! The lab: this machine split into a master and N hosts.
//!
//! - a throwaway user (`icmh<pid>`, shell `/bin/sh`, password `*` so that
//!   sshd without PAM does not count it locked) who runs the master's
//!   `intercomm mcp` here and logs in on every host; its HOME is in the
//!   lab's folder;
//! - per host, a network namespace joined to the test's namespace by a veth
//!   pair (`172.30.<pid % 250>.<4n+1>` here, `…<4n+2>` there), running its
//!   own `/usr/sbin/sshd -f <private config> -D` on the veth address with an
//!   ed25519 host key, key login for the user only, and `SetEnv` giving the
//!   login its own tmux socket and a PATH with target/debug (where
//!   `intercomm host-agent` is found);
//! - the client side: an ed25519 key and a known_hosts file listing each
//!   host's key (host keys are checked, never skipped), named by an ssh
//!   config file that `INTERCOMM_SSH_CONFIG` hands to the master;
//! - a git project owned by the user, whose bus every host's workers use:
//!   the SQLite file (the namespaces share the filesystem), or with
//!   `INTERCOMM_HOSTS_BUS=postgres` (scripts/test's `hosts@postgres`) the
//!   lab's own PostgreSQL server on the test namespace's end of host 1's
//!   veth pair, which every host routes to: no file bus is made then, and
//!   the remote workers' `intercomm mcp` and the agents' boots reach the
//!   bus over the network as on real hosts;
//! - per host, a host name of its own (`h<n>-<pid>`, a UTS namespace around
//!   its sshd, so everything started over its ssh has it: tmux, the
//!   stand-in, the agent; a [`Lab::resident`] gets it too), and an
//!   /etc/hosts naming it (`/etc/netns/<namespace>/hosts`, see
//!   [`setup::write_hosts_file`]): no process on a host passes for one of
//!   this machine's.
//!
//! Everything is undone in `Drop`, also when the test fails: every process
//! of the user (by pid, from /proc), the sshds and everything else in the
//! namespaces, the namespaces (their veth pairs go with them) and their
//! /etc/netns files, the user, the folder. Names carry the test's pid, so a
//! run killed half-way is swept by the next one
//! ([`teardown::sweep_stale`]). Missing root or tools fail the test with
//! the reason; nothing is skipped.
//!
//! This file is the lab's API for the tests; [`setup`] builds it,
//! [`teardown`] undoes it, [`pg`] runs its PostgreSQL server. (They are
//! named by `#[path]` so that benches/hosts.rs, which includes this file by
//! its path, finds them too.)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};

#[path = "lab/pg.rs"]
mod pg;
#[path = "lab/setup.rs"]
mod setup;
#[path = "lab/teardown.rs"]
mod teardown;

pub use setup::Host;
use teardown::{kill_all, kill_user, remove_netns, sweep_stale};

pub type Client = RunningService<rmcp::RoleClient, ()>;
pub type TestResult<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The bus the workers and the master use, as environment for every
/// intercomm process of the lab: the SQLite file under the project root
/// (shared by the namespaces). For the PostgreSQL bus, add its URL here:
/// `("INTERCOMM_BUS", "postgres://…")`, with the server listening on an
/// address of the test's namespace that every host routes to (each host's
/// default route points there, e.g. host 1's peer `172.30.<pid % 250>.5`) and allowing
/// `172.30.0.0/16`; spawn hands the URL to every worker, and the boot
/// request to every host agent.
pub const BUS_ENV: &[(&str, &str)] = &[];

/// Prefix of every name the lab makes (users, namespaces, folders).
const PREFIX: &str = "icmh";

/// Runs a command; its stdout, or an error with its stderr.
pub fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{:?} {:?}: {}{}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stderr).trim(),
            String::from_utf8_lossy(&out.stdout).trim()
        ))
    }
}

fn sh(program: &str, args: &[&str]) -> Result<String, String> {
    run(Command::new(program).args(args))
}

/// The binary under test.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_intercomm"))
}

/// The lab (see the module doc).
pub struct Lab {
    pub dir: PathBuf,
    pub user: String,
    uid: u32,
    gid: u32,
    pub home: PathBuf,
    pub project: PathBuf,
    pub logs: PathBuf,
    pub hosts: Vec<Host>,
    user_made: bool,
    namespaces: Vec<String>,
    /// `INTERCOMM_BUS=…` when the lab runs its own PostgreSQL server.
    bus_env: Vec<(String, String)>,
    /// That server's folder.
    pg_dir: Option<PathBuf>,
    clients: Vec<Client>,
}

impl Lab {
    /// A lab with `n` hosts named `h1`…`hN`, their sshds answering.
    pub fn new(n: usize) -> TestResult<Self> {
        if sh("id", &["-u"])?.trim() != "0" {
            return Err(
                "the hosts suite needs root (ip netns, sshd, useradd): run it as root".into(),
            );
        }
        for tool in [
            "ip",
            "tmux",
            "git",
            "ssh",
            "ssh-keygen",
            "useradd",
            "python3",
        ] {
            if sh("sh", &["-c", &format!("command -v {tool}")]).is_err() {
                return Err(format!(
                    "{tool} is missing (scripts/test hosts installs what the suite needs)"
                )
                .into());
            }
        }
        if !Path::new("/usr/sbin/sshd").exists() {
            return Err("/usr/sbin/sshd is missing: apt-get install openssh-server".into());
        }
        sweep_stale();
        let pid = std::process::id();
        let user = format!("{PREFIX}{pid}");
        let dir = std::env::temp_dir().join(format!("{PREFIX}-{pid}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let home = dir.join("home");
        let mut lab = Self {
            project: dir.join("project"),
            logs: dir.join("logs"),
            home,
            dir,
            user,
            uid: 0,
            gid: 0,
            hosts: Vec::new(),
            user_made: false,
            namespaces: Vec::new(),
            bus_env: Vec::new(),
            pg_dir: None,
            clients: Vec::new(),
        };
        lab.make_user()?;
        lab.make_keys()?;
        for i in 1..=n {
            lab.make_host(i)?;
        }
        lab.write_client_config()?;
        lab.make_project()?;
        sh(
            "chown",
            &[
                "-R",
                &format!("{}:{}", lab.uid, lab.gid),
                &lab.dir.display().to_string(),
            ],
        )?;
        for f in ["id_ed25519", "ssh_config"] {
            sh(
                "chmod",
                &["600", &lab.dir.join("client").join(f).display().to_string()],
            )?;
        }
        if std::env::var("INTERCOMM_HOSTS_BUS").as_deref() == Ok("postgres") {
            lab.start_pg()?;
        }
        Ok(lab)
    }

    /// Runs `remote` on host `i` (from 0) over its ssh, as the lab's user;
    /// its stdout, or an error with its stderr.
    pub fn ssh(&self, i: usize, remote: &[&str]) -> TestResult<String> {
        Ok(run(&mut self.ssh_command(&self.hosts[i], remote))?)
    }

    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("client").join("ssh_config")
    }

    /// The PostgreSQL bus's URL when the lab runs one.
    pub fn bus_url(&self) -> Option<&str> {
        self.bus_env
            .iter()
            .find(|(k, _)| k == "INTERCOMM_BUS")
            .map(|(_, v)| v.as_str())
    }

    /// The `ssh://` URL of host `i` (from 0).
    pub fn url(&self, i: usize) -> String {
        format!("ssh://{}@{}", self.user, self.hosts[i].addr)
    }

    /// `cmd` prepared to run as the lab's user, with its environment.
    fn as_user<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        use std::os::unix::process::CommandExt;
        cmd.uid(self.uid)
            .gid(self.gid)
            .env_clear()
            .env("HOME", &self.home)
            .env("PATH", "/usr/bin:/bin")
            .env("INTERCOMM_SSH_CONFIG", self.ssh_config())
            .env("INTERCOMM_TMUX_SOCKET", self.dir.join("master-tmux.sock"))
            .envs(BUS_ENV.iter().copied())
            .envs(self.bus_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&self.project)
    }

    /// Runs the CLI as the lab's user on the project; (exit code, stdout, stderr).
    pub fn cli(&self, args: &[&str]) -> TestResult<(i32, String, String)> {
        let out = self
            .as_user(
                Command::new(bin())
                    .arg("--root")
                    .arg(&self.project)
                    .args(args),
            )
            .output()?;
        Ok((
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ))
    }

    /// The CLI, which must succeed; its stdout.
    pub fn cli_ok(&self, args: &[&str]) -> TestResult<String> {
        let (code, out, err) = self.cli(args)?;
        if code != 0 {
            return Err(format!("intercomm {args:?} exited {code}: {err}{out}").into());
        }
        Ok(out)
    }

    /// The master: `intercomm mcp` run as the lab's user on the project,
    /// registered as master. Kept by the lab (dropped before cleanup).
    pub async fn master(&mut self) -> TestResult<usize> {
        let mut std_cmd = Command::new(bin());
        std_cmd.arg("mcp");
        self.as_user(&mut std_cmd)
            .env("INTERCOMM_DB_ROOT", &self.project)
            .env("INTERCOMM_LOG", "debug");
        let log = std::fs::File::create(self.dir.join("master.log"))?;
        let (transport, _) = TokioChildProcess::builder(tokio::process::Command::from(std_cmd))
            .stderr(log)
            .spawn()?;
        let client = ().serve(transport).await?;
        let v = ok(&client, "intercomm_register", json!({"role": "master"})).await?;
        if v["id"] != "master" {
            return Err(format!("registered as {v}").into());
        }
        self.clients.push(client);
        Ok(self.clients.len() - 1)
    }

    /// An `intercomm mcp` living on host `i` (its network namespace, and a
    /// UTS namespace with the host's name, as on another machine),
    /// registered as a worker on the lab's PostgreSQL bus: only its
    /// connection's liveness lock can say it is alive. Its client index and
    /// its instance id.
    pub async fn resident(&mut self, i: usize) -> TestResult<(usize, String)> {
        let h = &self.hosts[i];
        let mut std_cmd = Command::new("ip");
        std_cmd
            .args(["netns", "exec", &h.ns, "unshare", "--uts", "/bin/sh", "-c"])
            .arg(r#"hostname "$0" && exec runuser -u "$1" -- "$2" mcp"#)
            .arg(&h.hostname)
            .arg(&self.user)
            .arg(bin())
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("INTERCOMM_DB_ROOT", &self.project)
            .env("INTERCOMM_TMUX_SOCKET", h.dir.join("resident-tmux.sock"))
            .envs(BUS_ENV.iter().copied())
            .envs(self.bus_env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(&self.project);
        let log = std::fs::File::create(h.dir.join("resident.log"))?;
        let (transport, _) = TokioChildProcess::builder(tokio::process::Command::from(std_cmd))
            .stderr(log)
            .spawn()?;
        let client = ().serve(transport).await?;
        let v = ok(&client, "intercomm_register", json!({"role": "worker"})).await?;
        let id = v["id"]
            .as_str()
            .ok_or(format!("registered as {v}"))?
            .to_owned();
        self.clients.push(client);
        Ok((self.clients.len() - 1, id))
    }

    /// The master ([`Lab::master`]) once every host's sshd answers, with
    /// every host added under its name (`intercomm host add hN ssh://…`).
    pub async fn master_with_hosts(&mut self) -> TestResult<usize> {
        self.wait_for_sshd()?;
        let m = self.master().await?;
        for (i, h) in self.hosts.iter().enumerate() {
            self.cli_ok(&["host", "add", &h.name, &self.url(i)])?;
        }
        Ok(m)
    }

    pub fn client(&self, i: usize) -> &Client {
        &self.clients[i]
    }

    /// A claude_cmd that runs the stand-in TUI, logging to
    /// `<logs>/<worker id>.jsonl`, with `intercomm mcp` as its MCP server.
    pub fn fake_cmd(&self) -> String {
        let server = format!("{} mcp", shell_words::quote(&bin().display().to_string()));
        self.fake_cmd_with(&format!("--mcp-server {}", shell_words::quote(&server)))
    }

    /// The stand-in with `extra` arguments (and no MCP server unless they
    /// name one).
    pub fn fake_cmd_with(&self, extra: &str) -> String {
        let fake = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/fake_claude.py");
        format!(
            "python3 {} --log {} --boot-delay 0.2 {extra}",
            shell_words::quote(&fake.display().to_string()),
            shell_words::quote(&self.logs.join("{id}.jsonl").display().to_string()),
        )
    }

    /// The stand-in log of worker `id`, as JSON events.
    pub fn events(&self, id: &str) -> Vec<Value> {
        std::fs::read_to_string(self.logs.join(format!("{id}.jsonl")))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Session names on host `i`'s tmux server.
    pub fn sessions_on(&self, i: usize) -> Vec<String> {
        self.as_user(
            Command::new("tmux")
                .arg("-S")
                .arg(self.hosts[i].tmux_socket())
                .args(["list-sessions", "-F", "#{session_name}"]),
        )
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
    }

    /// Kills (SIGKILL) the stand-in Claude of worker `id` on host `i`, as
    /// a crash would end it. Errors when none runs there.
    pub fn kill_claude(&self, i: usize, id: &str) -> TestResult {
        let pids: Vec<u32> = sh("ip", &["netns", "pids", &self.hosts[i].ns])?
            .split_whitespace()
            .filter_map(|p| p.parse().ok())
            .collect();
        let want = format!("INTERCOMM_WORKER_ID={id}");
        let mut killed = 0;
        for pid in pids {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let is_claude = String::from_utf8_lossy(&cmdline).contains("fake_claude.py");
            let is_ours = environ.split(|b| *b == 0).any(|kv| kv == want.as_bytes());
            if is_claude && is_ours {
                kill_all(&[pid]);
                killed += 1;
            }
        }
        if killed == 0 {
            return Err(format!("no stand-in of {id} runs on {}", self.hosts[i].name).into());
        }
        Ok(())
    }

    /// Puts an `intercomm` first on host `i`'s PATH that answers the hello
    /// as intercomm `version` would, then hangs up.
    pub fn fake_agent(&self, i: usize, version: &str) -> TestResult {
        use std::os::unix::fs::PermissionsExt;
        let path = self.hosts[i].dir.join("bin").join("intercomm");
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\nread line\necho '{{\"id\":0,\"ok\":{{\"protocol\":1,\"version\":\"{version}\"}}}}'\n"
            ),
        )?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
        Ok(())
    }

    /// Drops every packet host `i` sends (a `pfifo limit 0` root qdisc on
    /// its veth end): a silent cut, as a pulled cable looks from here.
    pub fn cut(&self, i: usize) -> TestResult {
        let h = &self.hosts[i];
        run(Command::new("ip").args([
            "netns", "exec", &h.ns, "tc", "qdisc", "add", "dev", &h.veth_in, "root", "pfifo",
            "limit", "0",
        ]))?;
        Ok(())
    }

    /// What went wrong, for a failing test: the master's and sshds' logs.
    pub fn diagnostics(&self) -> String {
        let mut out = String::new();
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        let tail = |s: String| {
            s.lines()
                .rev()
                .take(40)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        };
        out.push_str(&format!(
            "--- master.log\n{}\n",
            tail(read(self.dir.join("master.log")))
        ));
        for h in &self.hosts {
            out.push_str(&format!(
                "--- {} sshd.log\n{}\n",
                h.name,
                tail(read(h.dir.join("sshd.log")))
            ));
        }
        out
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // The master's server first (its ssh clients go with its pipes).
        self.clients.clear();
        if std::env::var_os("INTERCOMM_HOSTS_KEEP").is_some() {
            eprintln!("lab kept: {}", self.dir.display());
        }
        for h in &self.hosts {
            let _ = run(Command::new("tmux")
                .arg("-S")
                .arg(h.tmux_socket())
                .arg("kill-server"));
        }
        if self.user_made {
            kill_user(&self.user);
        }
        for ns in &self.namespaces {
            remove_netns(ns);
        }
        self.stop_pg();
        if self.user_made {
            kill_user(&self.user);
            if let Err(e) = sh("userdel", &[&self.user]) {
                eprintln!("lab: cannot remove user {}: {e}", self.user);
            }
        }
        if std::env::var_os("INTERCOMM_HOSTS_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Runs `test` on a new lab of `n` hosts; when it fails, prints the lab's
/// diagnostics (the master's and sshds' logs) before the lab is undone.
pub async fn with_lab(n: usize, test: impl AsyncFnOnce(&mut Lab) -> TestResult) -> TestResult {
    let mut lab = Lab::new(n)?;
    let outcome = test(&mut lab).await;
    if outcome.is_err() {
        eprintln!("{}", lab.diagnostics());
    }
    outcome
}

/// Calls a tool with JSON arguments (90 s at most).
pub async fn call(client: &Client, tool: &str, args: Value) -> TestResult<CallToolResult> {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Value::Object(map) = args {
        params = params.with_arguments(map);
    }
    match tokio::time::timeout(Duration::from_secs(90), client.call_tool(params)).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(format!("{tool}: no reply within 90 s").into()),
    }
}

/// Calls a tool that must succeed; its structured content.
pub async fn ok(client: &Client, tool: &str, args: Value) -> TestResult<Value> {
    let result = call(client, tool, args).await?;
    if result.is_error == Some(true) {
        let text = result
            .content
            .first()
            .and_then(|c| c.as_text())
            .map(|t| t.text.clone())
            .unwrap_or_default();
        return Err(format!("{tool} failed: {text}").into());
    }
    Ok(result.structured_content.unwrap_or(Value::Null))
}
