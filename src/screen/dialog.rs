//! Which dialog a region shows, and what a permission prompt asks about.
//!
//! Markers are matched at the start of a trimmed line, so a Bash command
//! such as `echo "Do you trust the files in this folder?"` quoted inside a
//! permission prompt does not turn it into a trust dialog; a permission
//! prompt is recognised first by its heading.
//!
//! Permission prompt shapes (2.1.197 / 2.1.330; ≤ 2.0.77 the same inside a
//! box):
//!
//! ```text
//!  Bash command                 Bash command                Tool use
//!                               Tip: auto mode handles …
//!    echo hi > /tmp/x           Write a marker file           probe - echo(text: "hello") (MCP)
//!    Write a marker file        ╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌              Echo the given text back.
//!                               echo hi > /tmp/x
//!  Do you want to proceed?      ╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌╌            Do you want to proceed?
//!
//!  Tool use (2.1.330)
//!  probe — Echo Tool: (MCP)
//!  ╌╌╌╌ text: "hello" ╌╌╌╌
//!
//!  Create file / Edit file      Read file (2.1.330)
//!  notes.txt                    ╌╌╌╌ Read(/abs/path) ╌╌╌╌
//!  ╌╌╌╌ content or diff ╌╌╌╌    Do you want to proceed?
//!  Do you want to create notes.txt? / Do you want to make this edit to X?
//! ```

use super::layout::unbox;
use super::menu::parse_lines;
use super::{PaneState, Screen};

/// Headings of tool permission prompts → the tool they ask about (`None`:
/// read the tool from a `name(args)` line).
const TOOL_HEADINGS: &[(&str, Option<&str>)] = &[
    ("Bash command", Some("Bash")),
    ("Create file", Some("Write")),
    ("Edit file", Some("Edit")),
    ("Read file", Some("Read")),
    ("Edit notebook", Some("NotebookEdit")),
    ("Fetch", Some("WebFetch")),
    ("Web Search", Some("WebSearch")),
    ("Tool use", None),
];

const TRUST: &[&str] = &[
    "Do you trust the files in this folder?",
    "Quick safety check:",
    "Is this a project you created or one you trust?",
    "Accessing workspace:",
];
const MCP: &[&str] = &["New MCP server found", "New MCP servers found"];
const API_KEY: &[&str] = &["Detected a custom API key"];
const BYPASS: &[&str] = &["WARNING: Claude Code running in Bypass Permissions mode"];
const ONBOARDING: &[&str] = &[
    "Choose the text style",
    "Security notes:",
    "Press Enter to continue",
];

/// A dashed separator inside a dialog: `╌╌╌╌` (2.1.x) or `┄┄┄┄`.
fn is_dashed(line: &str) -> bool {
    let t = line.trim();
    t.chars().count() >= 3 && t.chars().all(|c| c == '╌' || c == '┄')
}

/// The first trimmed line starting with one of `markers`.
fn find<'a>(region: &'a [String], markers: &[&str]) -> Option<&'a str> {
    region
        .iter()
        .map(|l| l.trim())
        .find(|l| markers.iter().any(|m| l.starts_with(m)))
}

/// Index and text of the first non-empty line.
fn heading(region: &[String]) -> Option<(usize, &str)> {
    region
        .iter()
        .enumerate()
        .map(|(i, l)| (i, l.trim()))
        .find(|(_, l)| !l.is_empty())
}

/// The permission question: "Do you want to proceed?", "Do you want to
/// create notes.txt?", "Do you want to make this edit to README.md?".
fn question(region: &[String]) -> Option<(usize, &str)> {
    region
        .iter()
        .enumerate()
        .map(|(i, l)| (i, l.trim()))
        .find(|(_, l)| l.starts_with("Do you want to "))
}

fn dialog(state: PaneState, region: &[String], title: Option<&str>) -> Screen {
    Screen {
        options: parse_lines(region),
        title: title.map(str::to_string),
        ..Screen::bare(state)
    }
}

/// Nested boxes (1.0.128 shows the file inside a box within the dialog
/// box) read like the dashed blocks of 2.1.x: edges become `╌╌╌`, content
/// loses its `│` borders.
fn flatten_boxes(region: &[String]) -> Vec<String> {
    region
        .iter()
        .map(|l| {
            let t = l.trim();
            let edge = (t.starts_with('╭') && t.ends_with('╮'))
                || (t.starts_with('╰') && t.ends_with('╯'));
            if edge && t.chars().count() >= 3 {
                "╌╌╌".to_string()
            } else if t.starts_with('│') && t.ends_with('│') && t.chars().count() >= 2 {
                unbox(l)
            } else {
                l.clone()
            }
        })
        .collect()
}

/// Classify a dialog region (see the module docs for the marker rules).
pub(crate) fn classify_region(region: &[String]) -> Screen {
    let flat = flatten_boxes(region);
    let region = flat.as_slice();
    let head = heading(region);
    let head_text = head.map(|(_, t)| t);

    if let (Some((h, title)), Some((q, _))) = (head, question(region)) {
        let known = TOOL_HEADINGS.iter().find(|(t, _)| {
            title
                .strip_prefix(t)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
        });
        if let Some((_, tool)) = known {
            return blocked(region, h, q, title, *tool);
        }
    }
    if let Some(screen) = super::mode::classify(region) {
        return screen;
    }
    if let Some(line) = find(region, BYPASS) {
        return dialog(PaneState::Bypass, region, Some(line));
    }
    if find(region, TRUST).is_some() {
        return dialog(PaneState::Trust, region, head_text);
    }
    if let Some(line) = find(region, MCP) {
        return dialog(PaneState::McpApproval, region, Some(line));
    }
    if let Some(line) = find(region, API_KEY) {
        return dialog(PaneState::ApiKey, region, Some(line));
    }
    if let Some(line) = find(region, ONBOARDING) {
        return dialog(PaneState::Onboarding, region, Some(line));
    }
    if let (Some((h, title)), Some((q, _))) = (head, question(region)) {
        let screen = blocked(region, h, q, title, None);
        if screen.options.iter().any(|o| o.label.starts_with("Yes")) {
            return screen;
        }
    }
    // An unrecognised dialog still reports its menu and heading, so the
    // caller can show what blocks the pane.
    let options = parse_lines(region);
    if options.is_empty() {
        return Screen::bare(PaneState::Unknown);
    }
    Screen {
        options,
        title: head_text.map(str::to_string),
        ..Screen::bare(PaneState::Unknown)
    }
}

/// A permission prompt with its heading at `h` and question at `q`.
fn blocked(region: &[String], h: usize, q: usize, title: &str, tool: Option<&str>) -> Screen {
    let body = if h < q { &region[h + 1..q] } else { &[][..] };
    let question_text = region.get(q).map(|l| l.trim()).unwrap_or("");
    let (tool, detail) = match tool {
        Some("Bash") => (Some("Bash".to_string()), bash_command(body)),
        Some(name @ ("Write" | "Edit" | "NotebookEdit")) => {
            // 2.0.77 puts the path in the heading ("Create file notes.txt"),
            // 2.1.x on the line below it.
            let in_heading = title
                .split_once(' ')
                .and_then(|(_, rest)| rest.split_once(' '))
                .map(|(_, path)| path.trim().to_string())
                .filter(|p| !p.is_empty());
            let detail = in_heading
                .or_else(|| first_text_line(body))
                .or_else(|| path_in_question(question_text));
            (Some(name.to_string()), detail)
        }
        Some(name) => {
            let detail = call_line(body)
                .map(|(_, args)| args)
                .or_else(|| first_text_line(body));
            (Some(name.to_string()), detail)
        }
        None => match (call_line(body), first_text_line(body)) {
            (Some((name, args)), _) => (Some(name), Some(args)),
            // 2.1.330: "probe — Echo Tool: (MCP)", arguments in a dashed block.
            (None, Some(line)) if line.ends_with("(MCP)") => {
                let name = line.trim_end_matches("(MCP)").trim_end();
                let name = name.strip_suffix(':').unwrap_or(name);
                (Some(name.to_string()), dashed_block(body))
            }
            (None, line) => (Some(title.to_string()), line),
        },
    };
    Screen {
        options: parse_lines(region),
        title: Some(title.to_string()),
        tool,
        detail,
        ..Screen::bare(PaneState::Blocked)
    }
}

/// The non-empty, non-dashed lines of `body`, trimmed.
fn text_lines(body: &[String]) -> impl Iterator<Item = &str> {
    body.iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty() && !is_dashed(l))
}

fn first_text_line(body: &[String]) -> Option<String> {
    text_lines(body).next().map(str::to_string)
}

/// The lines between the first pair of dashed separators, trimmed, joined
/// with `\n`.
fn dashed_block(body: &[String]) -> Option<String> {
    let open = body.iter().position(|l| is_dashed(l))?;
    let close = body[open + 1..].iter().position(|l| is_dashed(l))? + open + 1;
    let inner: Vec<&str> = body[open + 1..close]
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect();
    (!inner.is_empty()).then(|| inner.join("\n"))
}

/// The Bash command: the dashed block (2.1.330), else the first indented
/// block without its last line, which is the command's description
/// (2.1.197 and older print the command, then the description).
fn bash_command(body: &[String]) -> Option<String> {
    if let Some(cmd) = dashed_block(body) {
        return Some(cmd);
    }
    let start = body.iter().position(|l| !l.trim().is_empty())?;
    let len = body[start..]
        .iter()
        .position(|l| l.trim().is_empty())
        .unwrap_or(body.len() - start);
    let block: Vec<&str> = body[start..start + len].iter().map(|l| l.trim()).collect();
    let keep = if block.len() >= 2 {
        block.len() - 1
    } else {
        block.len()
    };
    Some(block[..keep].join("\n"))
}

/// The first text line read as `name(args)` (an optional ` (MCP)` suffix
/// dropped): `probe - echo(text: "hello") (MCP)` → ("probe - echo",
/// `text: "hello"`).
fn call_line(body: &[String]) -> Option<(String, String)> {
    let line = text_lines(body).next()?;
    let line = line.strip_suffix("(MCP)").map_or(line, str::trim_end);
    let open = line.find('(')?;
    let inner = line[open + 1..].strip_suffix(')')?;
    let name = line[..open].trim();
    (!name.is_empty()).then(|| (name.to_string(), inner.to_string()))
}

/// "Do you want to create X?" / "Do you want to make this edit to X?" → X.
fn path_in_question(question: &str) -> Option<String> {
    let rest = question
        .strip_prefix("Do you want to make this edit to ")
        .or_else(|| question.strip_prefix("Do you want to create "))?;
    let path = rest.strip_suffix('?').unwrap_or(rest).trim();
    (!path.is_empty()).then(|| path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn bash_prompt_2_1_197() {
        let s = classify_region(&region(
            " Bash command\n\n   echo hi > /tmp/x\n   Write a marker file\n\n Do you want to proceed?\n ❯ 1. Yes\n   2. Yes, and always allow access to tmp/ from this project\n   3. No\n\n Esc to cancel · Tab to amend · ctrl+e to explain",
        ));
        assert_eq!(s.state, PaneState::Blocked);
        assert_eq!(s.title.as_deref(), Some("Bash command"));
        assert_eq!(s.tool.as_deref(), Some("Bash"));
        assert_eq!(s.detail.as_deref(), Some("echo hi > /tmp/x"));
        assert_eq!(s.options.len(), 3);
    }

    #[test]
    fn bash_prompt_2_1_330_dashed_block() {
        let s = classify_region(&region(
            " Bash command\n\n Tip: auto mode handles these prompts\n Write a marker file\n╌╌╌╌╌╌╌╌\n echo hi > /tmp/x\n╌╌╌╌╌╌╌╌\n\n Do you want to proceed?\n ❯ 1. Yes\n   4. No",
        ));
        assert_eq!(s.detail.as_deref(), Some("echo hi > /tmp/x"));
    }

    #[test]
    fn mcp_and_file_prompts() {
        let mcp = classify_region(&region(
            " Tool use\n\n   probe - echo(text: \"hello\") (MCP)\n   Echo the given text back.\n\n Do you want to proceed?\n ❯ 1. Yes\n   3. No",
        ));
        assert_eq!(mcp.tool.as_deref(), Some("probe - echo"));
        assert_eq!(mcp.detail.as_deref(), Some("text: \"hello\""));
        let mcp330 = classify_region(&region(
            " Tool use\n probe — Echo Tool: (MCP)\n╌╌╌╌\n text: \"hello\"\n╌╌╌╌\n About the probe — Echo Tool:\n │ Echo (back).\n Do you want to proceed?\n ❯ 1. Yes\n   3. No",
        ));
        assert_eq!(mcp330.tool.as_deref(), Some("probe — Echo Tool"));
        assert_eq!(mcp330.detail.as_deref(), Some("text: \"hello\""));
        let write = classify_region(&region(
            " Create file\n notes.txt\n╌╌╌╌\n  1 hi\n╌╌╌╌\n Do you want to create notes.txt?\n ❯ 1. Yes\n   3. No",
        ));
        assert_eq!(write.tool.as_deref(), Some("Write"));
        assert_eq!(write.detail.as_deref(), Some("notes.txt"));
        let old_edit = classify_region(&region(
            " Edit file src/main.rs\n╌╌╌╌\n 1 -a\n 1 +b\n╌╌╌╌\n Do you want to make this edit to main.rs?\n ❯ 1. Yes\n   3. No",
        ));
        assert_eq!(old_edit.tool.as_deref(), Some("Edit"));
        assert_eq!(old_edit.detail.as_deref(), Some("src/main.rs"));
        let read = classify_region(&region(
            " Read file\n╌╌╌╌\n Read(/abs/README.md)\n╌╌╌╌\n Do you want to proceed?\n ❯ 1. Yes\n   3. No",
        ));
        assert_eq!(read.tool.as_deref(), Some("Read"));
        assert_eq!(read.detail.as_deref(), Some("/abs/README.md"));
    }

    #[test]
    fn nested_boxes_read_as_dashed_blocks() {
        let s = classify_region(&region(
            " Create file\n ╭──────────╮\n │ notes.txt │\n │           │\n │ hi        │\n ╰──────────╯\n Do you want to create notes.txt?\n ❯ 1. Yes\n   3. No",
        ));
        assert_eq!(s.tool.as_deref(), Some("Write"));
        assert_eq!(s.detail.as_deref(), Some("notes.txt"));
    }

    #[test]
    fn quoted_markers_inside_a_permission_prompt_stay_blocked() {
        let s = classify_region(&region(
            " Bash command\n\n   echo \"Do you trust the files in this folder?\"\n   Quick safety check: print it\n\n Do you want to proceed?\n ❯ 1. Yes\n   3. No",
        ));
        assert_eq!(s.state, PaneState::Blocked);
    }

    #[test]
    fn unrecognised_menus_are_unknown_with_options() {
        let s = classify_region(&region(" Pick a model\n ❯ 1. Opus\n   2. Sonnet"));
        assert_eq!(s.state, PaneState::Unknown);
        assert_eq!(s.options.len(), 2);
        assert_eq!(s.title.as_deref(), Some("Pick a model"));
        assert_eq!(
            classify_region(&region("just text")).state,
            PaneState::Unknown
        );
    }

    #[test]
    fn question_paths() {
        assert_eq!(
            path_in_question("Do you want to make this edit to src/a b.rs?").as_deref(),
            Some("src/a b.rs")
        );
        assert_eq!(path_in_question("Do you want to proceed?"), None);
    }
}
