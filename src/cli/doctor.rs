//! `intercomm doctor`: checks what intercomm needs and says what to fix.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use serde::Serialize;

use super::claude_setup::Setup;
use crate::bus::{self, SCHEMA_VERSION};
use crate::git::{DEFAULT_BASE, Repo};
use crate::location::{self, BusPaths};
use crate::ops::Outcome;

mod claude_range;
mod hosts;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Ok,
    /// Works, but something is missing or off.
    Warn,
    /// intercomm cannot work until this is fixed.
    Fail,
}

/// One check.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub verdict: Verdict,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// All checks.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub checks: Vec<Check>,
}

impl Report {
    /// Whether any check failed.
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.verdict == Verdict::Fail)
    }
}

impl Outcome for Report {
    fn text(&self) -> String {
        let mut out = String::new();
        for c in &self.checks {
            let mark = match c.verdict {
                Verdict::Ok => "ok  ",
                Verdict::Warn => "warn",
                Verdict::Fail => "FAIL",
            };
            out.push_str(&format!("[{mark}] {}: {}\n", c.name, c.detail));
            if let Some(fix) = &c.fix {
                out.push_str(&format!("       fix: {fix}\n"));
            }
        }
        out.push_str(if self.failed() {
            "Some checks failed."
        } else {
            "intercomm is ready."
        });
        out
    }
}

fn check(name: &'static str, verdict: Verdict, detail: String, fix: Option<&str>) -> Check {
    Check {
        name,
        verdict,
        detail,
        fix: fix.map(str::to_owned),
    }
}

/// First line of `<program> <arg>`, if the program runs.
fn version(program: &str, arg: &str) -> Option<String> {
    let out = Command::new(program).arg(arg).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    Some(text.lines().next().unwrap_or("").trim().to_owned()).filter(|_| out.status.success())
}

fn tool(name: &'static str, arg: &str, missing: Verdict, fix: &str) -> Check {
    match version(name, arg) {
        Some(v) => check(name, Verdict::Ok, v, None),
        None => check(
            name,
            missing,
            format!("{name} not found on PATH"),
            Some(fix),
        ),
    }
}

/// Which hook features the installed Claude Code has (src/hook/features.rs).
fn hook_features(version: &str) -> Check {
    let Some(v) = crate::hook::features::parse_version(version) else {
        return check(
            "hook features",
            Verdict::Warn,
            format!("cannot read a version from {version:?}"),
            None,
        );
    };
    let all = crate::hook::features::of(v);
    let has: Vec<&str> = all
        .iter()
        .filter(|(_, h)| *h)
        .map(|(f, _)| f.name)
        .collect();
    let missing: Vec<String> = all
        .iter()
        .filter(|(_, h)| !*h)
        .map(|(f, _)| format!("{} (so {})", f.name, f.fallback))
        .collect();
    if missing.is_empty() {
        check("hook features", Verdict::Ok, has.join(", "), None)
    } else {
        check(
            "hook features",
            Verdict::Warn,
            format!("has {}; missing {}", has.join(", "), missing.join("; ")),
            Some("update Claude Code (npm install -g @anthropic-ai/claude-code)"),
        )
    }
}

/// Runs every check for the bus at `paths`.
pub fn run(paths: &BusPaths) -> Report {
    let mut checks = vec![
        tool(
            "tmux",
            "-V",
            Verdict::Warn,
            "install tmux (e.g. apt-get install tmux): spawn, wake and scan need it",
        ),
        tool(
            "git",
            "--version",
            Verdict::Warn,
            "install git: workers and AIMFP commit with it",
        ),
        tool(
            "claude",
            "--version",
            Verdict::Fail,
            "install Claude Code: npm install -g @anthropic-ai/claude-code (workers are Claude Code)",
        ),
    ];
    checks.push(claude_range::run());
    if let Some(v) = version("claude", "--version") {
        checks.push(hook_features(&v));
    }
    let root = &paths.root;
    checks.push(if !root.is_dir() {
        check(
            "bus root",
            Verdict::Fail,
            format!("{} is not a directory", root.display()),
            Some("set INTERCOMM_DB_ROOT (or --root) to the project directory"),
        )
    } else if location::git_main_workdir(root).is_none() {
        check(
            "bus root",
            Verdict::Warn,
            format!("{} is not in a git repository", root.display()),
            Some("worktrees need git: run `git init` or start from a checkout"),
        )
    } else {
        check("bus root", Verdict::Ok, root.display().to_string(), None)
    });
    if root.is_dir() {
        checks.extend(worktree_base(root));
        let home = crate::env::get(crate::env::HOME).map(std::path::PathBuf::from);
        checks.extend(claude_setup(&Setup::read(root, home.as_deref())));
    }
    if let Some(url) = &paths.url {
        checks.push(postgres_bus(url));
        checks.extend(hosts::run(paths));
        return Report { checks };
    }
    let db = paths.db();
    checks.push(if !db.exists() {
        check(
            "bus",
            Verdict::Ok,
            format!(
                "{} does not exist yet; the first registration creates it",
                db.display()
            ),
            None,
        )
    } else {
        match bus::schema_version(&db) {
            Ok(v) if v > SCHEMA_VERSION => check(
                "bus",
                Verdict::Fail,
                format!("schema version {v} is newer than this intercomm ({SCHEMA_VERSION})"),
                Some("upgrade intercomm"),
            ),
            Ok(v) => {
                let mode = std::fs::metadata(&db).map(|m| m.permissions().mode() & 0o777);
                let note = if v < SCHEMA_VERSION {
                    format!(", migrates to {SCHEMA_VERSION} on next open")
                } else {
                    String::new()
                };
                match mode {
                    Ok(0o600) => check(
                        "bus",
                        Verdict::Ok,
                        format!("{} (schema {v}{note})", db.display()),
                        None,
                    ),
                    Ok(m) => check(
                        "bus",
                        Verdict::Warn,
                        format!("{} has mode {m:o} (schema {v}{note})", db.display()),
                        Some("chmod 600 the bus files and 700 its folder (intercomm does this on write)"),
                    ),
                    Err(e) => check("bus", Verdict::Fail, format!("{}: {e}", db.display()), None),
                }
            }
            Err(e) => check(
                "bus",
                Verdict::Fail,
                e.to_string(),
                Some("move the damaged bus aside; intercomm creates a new one"),
            ),
        }
    });
    checks.extend(hosts::run(paths));
    Report { checks }
}

/// The base worktrees start from by default: `main`, else the current
/// branch; a repository with no commit has neither.
fn worktree_base(root: &std::path::Path) -> Option<Check> {
    let repo = Repo::open(root).ok()?;
    let base = repo.worktree_base(DEFAULT_BASE);
    Some(if !repo.resolves(&base) {
        check(
            "worktree base",
            Verdict::Fail,
            format!("{base} does not name a commit: the repository has no commit yet"),
            Some("make a first commit: worktrees start from one"),
        )
    } else if base == DEFAULT_BASE {
        check("worktree base", Verdict::Ok, base, None)
    } else {
        check(
            "worktree base",
            Verdict::Ok,
            format!(
                "{DEFAULT_BASE} does not exist; worktrees start from the current branch, {base}"
            ),
            None,
        )
    })
}

/// Registration with Claude Code (once, in a scope the workers see) and
/// the `permissions.allow` entry workers need.
fn claude_setup(setup: &Setup) -> Vec<Check> {
    let mut places: Vec<String> = setup
        .plugin
        .iter()
        .map(|p| format!("the plugin ({})", p.display()))
        .collect();
    places.extend(
        setup
            .servers
            .iter()
            .map(|(file, name)| format!("MCP server {name:?} in {file}")),
    );
    let registration = match setup.registrations() {
        0 => check(
            "registration",
            Verdict::Warn,
            "intercomm is not registered with Claude Code for this project".to_owned(),
            Some(
                "claude plugin install intercomm@intercomm, or claude mcp add --scope project intercomm -- intercomm mcp (one of the two)",
            ),
        ),
        1 if setup.local_only => check(
            "registration",
            Verdict::Warn,
            format!(
                "{} only: the workers' worktrees are other folders and will not have it",
                places.join(", ")
            ),
            Some(
                "claude mcp remove intercomm, then claude mcp add --scope project intercomm -- intercomm mcp",
            ),
        ),
        1 => check("registration", Verdict::Ok, places.join(", "), None),
        _ => check(
            "registration",
            Verdict::Fail,
            format!(
                "intercomm is registered {} times, so Claude Code offers every tool that many times: {}",
                setup.registrations(),
                places.join("; ")
            ),
            Some(
                "keep one: claude mcp remove --scope project intercomm (keeping the plugin), or claude plugin uninstall intercomm@intercomm",
            ),
        ),
    };
    let mut checks = vec![registration];
    if let Some(entry) = setup.wanted_allow() {
        checks.push(match setup.allowed.iter().find(|(_, e)| *e == entry) {
            Some((file, _)) => check(
                "permissions",
                Verdict::Ok,
                format!("{entry} allowed in {}", file.display()),
                None,
            ),
            None => Check {
                name: "permissions",
                verdict: Verdict::Warn,
                detail: format!(
                    "{entry} is not in permissions.allow: workers stop at a prompt for every intercomm tool (unless in bypassPermissions mode)"
                ),
                fix: Some(format!(
                    "add \"{entry}\" to permissions.allow in .claude/settings.json and commit it"
                )),
            },
        });
    }
    checks
}

/// The PostgreSQL bus: reachable, the server's version, the schema's,
/// whether the connection is encrypted and with which client certificate
/// (the server's word, `pg_stat_ssl`); a warning where the bus is on
/// another machine and its certificate's host is not checked
/// (`sslmode=verify-full`), or where the URL holds a password.
fn postgres_bus(url: &bus::BusUrl) -> Check {
    let probe = match bus::pg::probe(url) {
        Ok(p) => p,
        Err(e) => {
            return check(
                "bus",
                Verdict::Fail,
                format!("{url}: {e}"),
                Some(
                    "check INTERCOMM_BUS (or --bus), that the server runs and accepts this user \
                     (password in ~/.pgpass or PGPASSFILE), and the URL's sslmode, sslrootcert, \
                     sslcert and sslkey (docs/BEYOND.md, TLS)",
                ),
            );
        }
    };
    let mode = url.tls().mode();
    let client = match (&probe.client_dn, url.tls().client_cert()) {
        (Some(dn), _) => format!(", client certificate {dn}"),
        (None, Some(_)) => ", sslcert not asked for by the server".to_owned(),
        (None, None) => String::new(),
    };
    let server = match &probe.tls {
        Some(version) => format!(
            "PostgreSQL {}; TLS ({mode}, {version}{client})",
            probe.server_version
        ),
        None => format!(
            "PostgreSQL {}; not encrypted (sslmode={mode})",
            probe.server_version
        ),
    };
    if probe.server_major < bus::pg::MIN_SERVER_MAJOR {
        return check(
            "bus",
            Verdict::Fail,
            format!(
                "{url}: {server} is older than {}",
                bus::pg::MIN_SERVER_MAJOR
            ),
            Some("use PostgreSQL 13 or newer"),
        );
    }
    let supported = bus::pg_schema::PG_SCHEMA_VERSION;
    let (verdict, detail, fix) = match probe.schema_version {
        None => (
            Verdict::Ok,
            format!(
                "{url}: schema {} does not exist yet; the first registration creates it ({server})",
                url.schema()
            ),
            None,
        ),
        Some(v) if v > supported => (
            Verdict::Fail,
            format!("{url}: schema version {v} is newer than this intercomm ({supported})"),
            Some("upgrade intercomm"),
        ),
        Some(v) => {
            let note = if v < supported {
                format!(", migrates to {supported} on next open")
            } else {
                String::new()
            };
            (
                Verdict::Ok,
                format!("{url} (schema {v}{note}; {server})"),
                None,
            )
        }
    };
    if verdict != Verdict::Ok {
        return check("bus", verdict, detail, fix);
    }
    let mut detail = detail;
    let mut fixes = Vec::new();
    let remote = url.remote_hosts();
    if !remote.is_empty() && !url.tls().verifies_host() {
        detail.push_str(&format!(
            "; {} is another machine, and sslmode={mode} does not check that the server is the \
             one named{}",
            remote.join(", "),
            if probe.tls.is_none() {
                " nor encrypt the bus"
            } else {
                ""
            }
        ));
        fixes.push(
            "add sslmode=verify-full&sslrootcert=PATH_TO_THE_SERVER'S_CA.crt to the bus URL \
             (docs/BEYOND.md, TLS)",
        );
    }
    if url.has_password() {
        fixes.push(
            "keep the password out of the URL: spawn hands the URL to workers through tmux; use ~/.pgpass",
        );
    }
    if fixes.is_empty() {
        check("bus", Verdict::Ok, detail, None)
    } else {
        check("bus", Verdict::Warn, detail, Some(&fixes.join("; ")))
    }
}
