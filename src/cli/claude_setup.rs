//! How Claude Code is set up for intercomm in a project, read from its
//! settings files (layout of Claude Code 2.1.332, as `claude plugin install`
//! and `claude mcp add` write them):
//!
//! | file | what counts |
//! |---|---|
//! | `~/.claude/settings.json`, `<root>/.claude/settings.json`, `<root>/.claude/settings.local.json` | `enabledPlugins["intercomm@…"]: true`; `permissions.allow` |
//! | `<root>/.mcp.json` (`--scope project`) | `mcpServers` |
//! | `~/.claude.json` (`--scope user`; `--scope local` under `projects[<root>]`) | `mcpServers` |
//!
//! An MCP server counts as intercomm when it is named `intercomm` or its
//! command is `intercomm` or the plugin's `intercomm-launcher`.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The server name Claude Code gives the plugin's MCP server in tool
/// names (`mcp__plugin_intercomm_intercomm__intercomm_status`).
pub const PLUGIN_ALLOW: &str = "mcp__plugin_intercomm_intercomm";

/// One settings file, parsed (a missing or unreadable file is `Null`).
#[derive(Debug, Clone)]
pub struct SettingsFile {
    pub path: PathBuf,
    pub json: Value,
}

impl SettingsFile {
    /// Reads `path`; a missing or invalid file reads as `Null`.
    pub fn read(path: PathBuf) -> Self {
        let json = std::fs::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or(Value::Null);
        Self { path, json }
    }
}

/// What was found for one project.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// Settings files that enable the intercomm plugin.
    pub plugin: Vec<PathBuf>,
    /// `(where, server name)` of each intercomm MCP server configured.
    pub servers: Vec<(String, String)>,
    /// Settings files whose `permissions.allow` has an entry for the
    /// plugin's or a configured server's tools, with that entry.
    pub allowed: Vec<(PathBuf, String)>,
    /// Whether a configured server is only in the local scope, which the
    /// workers' worktrees (other folders) do not see.
    pub local_only: bool,
}

impl Setup {
    /// Reads the files of the table above for `root`, with `home` as `~`.
    pub fn read(root: &Path, home: Option<&Path>) -> Self {
        let mut settings = Vec::new();
        if let Some(home) = home {
            settings.push(SettingsFile::read(home.join(".claude/settings.json")));
        }
        settings.push(SettingsFile::read(root.join(".claude/settings.json")));
        settings.push(SettingsFile::read(root.join(".claude/settings.local.json")));
        let project = SettingsFile::read(root.join(".mcp.json"));
        let user = home.map(|h| SettingsFile::read(h.join(".claude.json")));
        Self::from_files(root, &settings, &project, user.as_ref())
    }

    /// The pure part of [`Setup::read`].
    pub fn from_files(
        root: &Path,
        settings: &[SettingsFile],
        project_mcp: &SettingsFile,
        user_config: Option<&SettingsFile>,
    ) -> Self {
        let mut setup = Self::default();
        for s in settings {
            if plugin_enabled(&s.json) {
                setup.plugin.push(s.path.clone());
            }
        }
        for name in intercomm_servers(&project_mcp.json["mcpServers"]) {
            setup
                .servers
                .push((project_mcp.path.display().to_string(), name));
        }
        if let Some(user) = user_config {
            for name in intercomm_servers(&user.json["mcpServers"]) {
                setup
                    .servers
                    .push((format!("{} (user scope)", user.path.display()), name));
            }
            let local = &user.json["projects"][root.display().to_string()]["mcpServers"];
            let local = intercomm_servers(local);
            setup.local_only = !local.is_empty() && setup.servers.is_empty();
            for name in local {
                setup.servers.push((
                    format!(
                        "{} (local scope of {})",
                        user.path.display(),
                        root.display()
                    ),
                    name,
                ));
            }
        }
        let mut wanted: Vec<String> = setup
            .servers
            .iter()
            .map(|(_, name)| format!("mcp__{name}"))
            .collect();
        if !setup.plugin.is_empty() {
            wanted.push(PLUGIN_ALLOW.to_owned());
        }
        for s in settings {
            for entry in &wanted {
                if allows(&s.json, entry) {
                    setup.allowed.push((s.path.clone(), entry.clone()));
                }
            }
        }
        setup
    }

    /// How many times intercomm's tools would be offered to Claude.
    pub fn registrations(&self) -> usize {
        usize::from(!self.plugin.is_empty()) + self.servers.len()
    }

    /// The `permissions.allow` entry workers need, for the registration
    /// found (the plugin's when it is enabled).
    pub fn wanted_allow(&self) -> Option<String> {
        if !self.plugin.is_empty() {
            return Some(PLUGIN_ALLOW.to_owned());
        }
        self.servers.first().map(|(_, name)| format!("mcp__{name}"))
    }
}

/// Whether settings enable a plugin named `intercomm` (any marketplace).
pub fn plugin_enabled(settings: &Value) -> bool {
    settings["enabledPlugins"].as_object().is_some_and(|m| {
        m.iter()
            .any(|(k, v)| k.starts_with("intercomm@") && v.as_bool() == Some(true))
    })
}

/// Names of the intercomm servers in an `mcpServers` object.
pub fn intercomm_servers(servers: &Value) -> Vec<String> {
    let Some(map) = servers.as_object() else {
        return Vec::new();
    };
    map.iter()
        .filter(|(name, server)| {
            let program = server["command"]
                .as_str()
                .and_then(|c| Path::new(c).file_name())
                .and_then(|n| n.to_str())
                .unwrap_or("");
            *name == "intercomm" || program == "intercomm" || program == "intercomm-launcher"
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Whether `permissions.allow` allows every tool of the server whose tools
/// are named `<entry>__…` (`entry` itself, or `entry__*`).
pub fn allows(settings: &Value, entry: &str) -> bool {
    settings["permissions"]["allow"]
        .as_array()
        .is_some_and(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .any(|a| a == entry || a.strip_suffix("__*") == Some(entry))
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn file(path: &str, json: Value) -> SettingsFile {
        SettingsFile {
            path: PathBuf::from(path),
            json,
        }
    }

    /// What `claude plugin install intercomm@intercomm` wrote (2.1.332).
    fn plugin_settings() -> Value {
        json!({
            "extraKnownMarketplaces": {"intercomm": {"source": {"source": "directory", "path": "/src/intercomm"}}},
            "enabledPlugins": {"intercomm@intercomm": true}
        })
    }

    #[test]
    fn the_plugin_and_a_project_server_are_two_registrations() {
        let root = Path::new("/p");
        let settings = [
            file("/h/.claude/settings.json", plugin_settings()),
            file(
                "/p/.claude/settings.json",
                json!({"permissions": {"allow": ["mcp__intercomm", "Bash(ls)"]}}),
            ),
        ];
        let mcp = file(
            "/p/.mcp.json",
            json!({"mcpServers": {"bus": {"type": "stdio", "command": "intercomm", "args": ["mcp"]}}}),
        );
        let setup = Setup::from_files(root, &settings, &mcp, None);
        assert_eq!(setup.registrations(), 2);
        assert_eq!(
            setup.servers,
            [("/p/.mcp.json".to_owned(), "bus".to_owned())]
        );
        assert_eq!(setup.wanted_allow().as_deref(), Some(PLUGIN_ALLOW));
        assert!(setup.allowed.is_empty(), "mcp__intercomm is not mcp__bus");
    }

    #[test]
    fn the_plugin_alone_with_its_allow_entry() {
        let root = Path::new("/p");
        let settings = [
            file("/h/.claude/settings.json", plugin_settings()),
            file(
                "/p/.claude/settings.json",
                json!({"permissions": {"allow": ["mcp__plugin_intercomm_intercomm__*"]}}),
            ),
        ];
        let setup = Setup::from_files(root, &settings, &file("/p/.mcp.json", Value::Null), None);
        assert_eq!(setup.registrations(), 1);
        assert_eq!(setup.allowed.len(), 1);
        assert!(!setup.local_only);
    }

    #[test]
    fn a_local_scope_server_is_seen_as_local_only() {
        let root = Path::new("/p");
        let user = file(
            "/h/.claude.json",
            json!({"projects": {"/p": {"mcpServers": {"intercomm": {"command": "/x/intercomm", "args": ["mcp"]}}}}}),
        );
        let setup = Setup::from_files(root, &[], &file("/p/.mcp.json", Value::Null), Some(&user));
        assert_eq!(setup.registrations(), 1);
        assert!(setup.local_only);
        assert_eq!(setup.wanted_allow().as_deref(), Some("mcp__intercomm"));
    }

    #[test]
    fn other_servers_and_disabled_plugins_do_not_count() {
        assert!(intercomm_servers(&json!({"aimfp": {"command": "python3"}})).is_empty());
        assert!(!plugin_enabled(
            &json!({"enabledPlugins": {"intercomm@x": false}})
        ));
        assert!(!allows(
            &json!({"permissions": {"allow": ["mcp__intercomm__intercomm_read"]}}),
            "mcp__intercomm"
        ));
    }
}
