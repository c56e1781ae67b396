//! Error text on the command line names command-line commands: the
//! operations' messages and hints name MCP tools (`intercomm_scan`), which
//! is what a model calls; here each tool that has a command becomes that
//! command (`intercomm scan`). A tool without one keeps its name.

use std::sync::LazyLock;

use regex::{Captures, Regex};

/// MCP tool name (without `intercomm_`) → its command, for every tool that
/// has one. A test checks that every value is a subcommand.
pub const COMMANDS: &[(&str, &str)] = &[
    ("register", "register"),
    ("send", "send"),
    ("broadcast", "broadcast"),
    ("read", "read"),
    ("status", "status"),
    ("clear", "clear"),
    ("spawn", "spawn"),
    ("scan", "scan"),
    ("approve", "approve"),
    ("wake", "wake"),
    ("teardown", "teardown"),
    ("reply", "reply"),
    ("ask", "ask"),
    ("set_summary", "summary"),
    ("respawn", "respawn"),
];

static TOOL: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"\bintercomm_([a-z_]+)\b").ok());

/// `text` with each tool name that has a command replaced by
/// `` `intercomm <command>` ``.
pub fn for_cli(text: &str) -> String {
    let Some(re) = TOOL.as_ref() else {
        return text.to_owned();
    };
    re.replace_all(text, |c: &Captures<'_>| {
        match COMMANDS.iter().find(|(tool, _)| *tool == &c[1]) {
            Some((_, command)) => format!("`intercomm {command}`"),
            None => c[0].to_owned(),
        }
    })
    .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_with_a_command_are_named_as_commands() {
        assert_eq!(
            for_cli("check it with intercomm_scan or intercomm_status"),
            "check it with `intercomm scan` or `intercomm status`"
        );
        assert_eq!(
            for_cli("intercomm_set_summary, intercomm_signoff"),
            "`intercomm summary`, intercomm_signoff"
        );
        assert_eq!(for_cli("intercomm_scanner"), "intercomm_scanner");
    }

    #[test]
    fn every_command_is_a_subcommand() {
        use clap::CommandFactory;
        let cli = crate::cli::Cli::command();
        for (_, command) in COMMANDS {
            assert!(
                cli.find_subcommand(command).is_some(),
                "no subcommand {command}"
            );
        }
    }
}
