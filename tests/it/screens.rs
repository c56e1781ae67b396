//! Golden screens: every real capture in `tests/fixtures/screens/<state>/`
//! (made by `scripts/capture-screens`, plus the shared starter screens) must
//! classify as the state in its header, with the details a driver needs;
//! and hand-written adversarial screens pin the region rules.
//!
//! Fixture file: first line `# claude-code <version> <cols>x<rows>
//! state=<state>[ source=…]`, then the raw `tmux capture-pane -p` text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use intercomm::screen::{AUTO_CHECK_TITLE, PLAN_TOOL, PaneState, Screen, classify, parse_options};
use proptest::prelude::*;

use crate::support::TestResult;

struct Fixture {
    /// `<state>/<file>.txt`, relative to the fixture root.
    name: String,
    state: PaneState,
    body: String,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/screens")
}

fn fixtures() -> TestResult<Vec<Fixture>> {
    let mut out = Vec::new();
    for dir in std::fs::read_dir(root())? {
        let dir = dir?.path();
        if !dir.is_dir() {
            continue;
        }
        let folder = dir
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or("bad folder name")?
            .to_string();
        for file in std::fs::read_dir(&dir)? {
            let file = file?.path();
            if file.extension().and_then(|e| e.to_str()) != Some("txt") {
                continue;
            }
            let text = std::fs::read_to_string(&file)?;
            let name = format!(
                "{folder}/{}",
                file.file_name()
                    .and_then(|n| n.to_str())
                    .ok_or("bad name")?
            );
            let (header, body) = text.split_once('\n').ok_or("no header line")?;
            let state = header
                .split_whitespace()
                .find_map(|w| w.strip_prefix("state="))
                .ok_or_else(|| format!("{name}: header without state="))?;
            if !header.starts_with("# claude-code ") {
                return Err(format!("{name}: header {header:?}").into());
            }
            if state != folder {
                return Err(format!("{name}: header state {state} in folder {folder}").into());
            }
            let state: PaneState = serde_json::from_value(serde_json::json!(state))?;
            out.push(Fixture {
                name,
                state,
                body: body.to_string(),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    if out.len() < 20 {
        return Err(format!("only {} fixtures under {}", out.len(), root().display()).into());
    }
    Ok(out)
}

/// What must hold for a fixture beyond its state.
fn check(f: &Fixture, s: &Screen) -> Vec<String> {
    let mut bad = Vec::new();
    let variant = f.name.rsplit('/').next().unwrap_or("");
    let selected = s.options.iter().filter(|o| o.selected).count();
    let needs_menu = f.state.is_dialog() && f.state != PaneState::Onboarding;
    if needs_menu && (s.options.len() < 2 || selected != 1) {
        bad.push(format!("menu {:?}", s.options));
    }
    if f.state == PaneState::Onboarding && !s.options.is_empty() && selected != 1 {
        bad.push(format!("onboarding menu {:?}", s.options));
    }
    if f.state.is_dialog() && s.title.as_deref().is_none_or(str::is_empty) {
        bad.push("no title".into());
    }
    if f.state == PaneState::Blocked {
        let tool = s.tool.as_deref().unwrap_or("");
        let detail = s.detail.as_deref().unwrap_or("");
        type DetailCheck = fn(&str) -> bool;
        let want: Option<(&str, DetailCheck)> = if variant.contains("-plan") {
            Some((PLAN_TOOL, |d| d.contains("Write notes.txt")))
        } else if variant.contains("-auto.") {
            // Auto mode's offer asks about no tool.
            if s.tool.is_some() || s.detail.as_deref().is_none_or(str::is_empty) {
                bad.push(format!(
                    "auto offer: tool {:?} detail {:?}",
                    s.tool, s.detail
                ));
            }
            if s.title.as_deref() != Some(AUTO_CHECK_TITLE) {
                bad.push(format!("auto offer: title {:?}", s.title));
            }
            return bad;
        } else if variant.contains("bash") {
            Some(("Bash", |d| d.starts_with("echo ")))
        } else if variant.contains("write") {
            Some(("Write", |d| d.ends_with("notes.txt")))
        } else if variant.contains("edit") {
            Some(("Edit", |d| d.ends_with("README.md")))
        } else if variant.contains("mcp") {
            // 2.1.330 prints "probe — Echo Tool: (MCP)", older "probe - echo(…) (MCP)".
            let t = if tool.starts_with("probe ") {
                tool
            } else {
                "probe - echo"
            };
            Some((t, |d| d == "text: \"hello\""))
        } else {
            None
        };
        match want {
            Some((t, ok)) if tool != t || !ok(detail) => {
                bad.push(format!("tool {tool:?} detail {detail:?}"));
            }
            None if tool.is_empty() || detail.is_empty() => {
                bad.push(format!("tool {tool:?} detail {detail:?}"));
            }
            _ => {}
        }
    }
    if f.state.is_booted() {
        if variant.contains("-overflow") {
            // The visible tail of what was typed (its start scrolled away).
            if !s
                .input
                .as_deref()
                .is_some_and(|i| i.contains("of a prompt too long for the box"))
            {
                bad.push(format!("overflow input {:?}", s.input));
            }
            return bad;
        }
        let want = if variant.contains("-input") {
            match f.state {
                PaneState::Running => Some("queued while busy"),
                _ => Some("hello there, typed but not sent"),
            }
        } else {
            Some("")
        };
        if s.input.as_deref() != want {
            bad.push(format!("input {:?}, want {want:?}", s.input));
        }
    }
    bad
}

#[test]
fn every_fixture_classifies_as_its_header_says() -> TestResult {
    let mut failures = Vec::new();
    for f in fixtures()? {
        let s = classify(&f.body);
        if s.state != f.state {
            failures.push(format!("{}: got {} want {}", f.name, s.state, f.state));
            continue;
        }
        for b in check(&f, &s) {
            failures.push(format!("{}: {b}", f.name));
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!("{} failures:\n{}", failures.len(), failures.join("\n")).into())
    }
}

/// The dialogs and boxes added for Claude Code 2.1.330+ (captured by
/// `scripts/capture-screens --scenarios plan_exit,auto_check,overflow`),
/// per version and width where the version shows them: the plan approval
/// (2.1.197, 2.1.332), auto mode's offer and the permission prompt it
/// leaves (2.1.332; 2.1.197 denies instead), the overflowing input box
/// (2.1.332; 2.1.197 grows the box past the pane's top instead).
#[test]
fn new_states_at_80_and_200_columns() -> TestResult {
    let all = fixtures()?;
    let get = |name: &str| -> TestResult<Screen> {
        let f = all
            .iter()
            .find(|f| f.name == name)
            .ok_or_else(|| format!("missing fixture {name}"))?;
        Ok(classify(&f.body))
    };
    for size in ["80x24", "200x50"] {
        for version in ["2.1.197", "2.1.332"] {
            let plan = get(&format!("blocked/{version}-{size}-plan.txt"))?;
            assert_eq!(plan.state, PaneState::Blocked, "{version} {size}");
            assert_eq!(plan.tool.as_deref(), Some(PLAN_TOOL));
            assert_eq!(
                plan.detail.as_deref(),
                Some("Plan\n1. Write notes.txt\n2. Report back"),
                "{version} {size}"
            );
            assert!(
                plan.title
                    .as_deref()
                    .is_some_and(|t| t.ends_with("Would you like to proceed?")),
                "{version} {size}: {:?}",
                plan.title
            );
        }
        let auto = get(&format!("blocked/2.1.332-{size}-auto.txt"))?;
        assert_eq!(auto.state, PaneState::Blocked, "{size}");
        let keys: Vec<(&str, Option<&str>)> = auto
            .options
            .iter()
            .map(|o| (o.label.as_str(), o.key))
            .collect();
        assert_eq!(
            keys,
            [
                ("Stay in auto mode", Some("Enter")),
                ("Leave for accept edits mode and stop", Some("BTab")),
                ("Cancel", Some("Escape")),
            ],
            "{size}"
        );
        let ask = get(&format!("blocked/2.1.332-{size}-auto-bash.txt"))?;
        assert_eq!(ask.tool.as_deref(), Some("Bash"), "{size}");
        assert_eq!(ask.detail.as_deref(), Some("echo hi > /tmp/x"), "{size}");
        let long = get(&format!("ready/2.1.332-{size}-overflow.txt"))?;
        assert_eq!(long.state, PaneState::Ready, "{size}");
        assert!(
            long.input.as_deref().is_some_and(|i| i
                .replace('\n', " ")
                .ends_with("of a prompt too long for the box")),
            "{size}: {:?}",
            long.input
        );
    }
    Ok(())
}

#[test]
fn fixture_snapshot() -> TestResult {
    let all: BTreeMap<String, Screen> = fixtures()?
        .into_iter()
        .map(|f| {
            let s = classify(&f.body);
            (f.name, s)
        })
        .collect();
    insta::assert_json_snapshot!("screens", all);
    Ok(())
}

#[test]
fn every_prefix_and_suffix_of_a_fixture_classifies_without_panic() -> TestResult {
    for f in fixtures()? {
        let lines: Vec<&str> = f.body.lines().collect();
        for n in 0..=lines.len() {
            let _ = classify(&lines[..n].join("\n"));
            let _ = classify(&lines[n..].join("\n"));
        }
    }
    Ok(())
}

fn rule(width: usize) -> String {
    "─".repeat(width)
}

/// A 2.1.197-style screen: `chat`, then the prompt box holding `input`, then
/// `footer`.
fn prompt_screen(chat: &str, input: &str, footer: &str) -> String {
    format!(
        "{chat}\n\n{r}\n❯\u{a0}{input}\n{r}\n  {footer}\n\n\n",
        r = rule(80)
    )
}

#[test]
fn dialog_words_in_the_transcript_do_not_count() -> TestResult {
    let chat = "❯ what does the trust dialog say?\n\n● It asks \"Do you trust the files in this folder?\" and\n  \"Quick safety check: Is this a project you created or one you trust?\"\n  then \"Do you want to proceed?\" with ❯ 1. Yes / 2. No.\n  WARNING: Claude Code running in Bypass Permissions mode\n  New MCP server found in this project: probe\n  Detected a custom API key in your environment\n  Security notes:\n  Press Enter to continue…\n\n✻ Brewed for 2s";
    let s = classify(&prompt_screen(chat, "", "? for shortcuts"));
    assert_eq!(s.state, PaneState::Ready);
    assert_eq!(s.input.as_deref(), Some(""));
    assert!(s.options.is_empty());
    // A rule drawn inside the chat (markdown) does not make the chat a region.
    let chat2 = format!("{chat}\n{}\nDo you want to proceed?\n ❯ 1. Yes", rule(80));
    assert_eq!(
        classify(&prompt_screen(&chat2, "", "? for shortcuts")).state,
        PaneState::Ready
    );
    Ok(())
}

#[test]
fn typed_dialog_words_are_input_not_a_dialog() -> TestResult {
    let s = classify(&prompt_screen(
        "",
        "Do you trust the files in this folder?",
        "",
    ));
    assert_eq!(s.state, PaneState::Ready);
    assert_eq!(
        s.input.as_deref(),
        Some("Do you trust the files in this folder?")
    );
    Ok(())
}

#[test]
fn empty_and_booting_panes_are_unknown() -> TestResult {
    assert_eq!(classify("").state, PaneState::Unknown);
    assert_eq!(classify("\n\n\n").state, PaneState::Unknown);
    assert_eq!(
        classify("dev@box:~/project$ claude\n\n\n").state,
        PaneState::Unknown
    );
    Ok(())
}

#[test]
fn a_shell_is_exited() -> TestResult {
    assert_eq!(classify("$ ").state, PaneState::Exited);
    assert_eq!(classify("root@c0ffee:/work# \n\n").state, PaneState::Exited);
    let farewell = format!(
        "{}\n\n{r}\n❯ /exit\n{r}\n/exit   Exit the CLI\n\nResume this session with:\nclaude --resume 0a1b2c3d-0000-4000-8000-000000000000\n",
        prompt_screen("chat", "", ""),
        r = rule(80)
    );
    assert_eq!(classify(&farewell).state, PaneState::Exited);
    Ok(())
}

#[test]
fn spinner_decides_when_the_footer_is_hidden() -> TestResult {
    let busy = classify(&prompt_screen(
        "❯ SLOW please\n\n✢ Pondering…\n  ⎿  Tip: use /theme",
        "queued",
        "",
    ));
    assert_eq!(busy.state, PaneState::Running);
    assert_eq!(busy.input.as_deref(), Some("queued"));
    // Old versions keep "? for shortcuts" while busy.
    let old = classify(&prompt_screen(
        "✶ Crunching… (3s · ↑ 10 tokens · esc to interrupt)",
        "",
        "? for shortcuts",
    ));
    assert_eq!(old.state, PaneState::Running);
    let done = classify(&prompt_screen("✻ Crunched for 3s", "", "? for shortcuts"));
    assert_eq!(done.state, PaneState::Ready);
    Ok(())
}

#[test]
fn mode_footers_and_multiline_input_are_ready() -> TestResult {
    for footer in [
        "⏵⏵ accept edits on (shift+tab to cycle)",
        "⏸ plan mode on (shift+tab to cycle)",
        "⏵⏵ bypass permissions on (shift+tab to cycle)",
        "Press Ctrl-C again to exit",
    ] {
        assert_eq!(
            classify(&prompt_screen("", "", footer)).state,
            PaneState::Ready,
            "{footer}"
        );
    }
    let s = classify(&prompt_screen("", "first line\n  second line", ""));
    assert_eq!(s.input.as_deref(), Some("first line\nsecond line"));
    Ok(())
}

#[test]
fn old_boxed_dialogs() -> TestResult {
    let w = 60;
    let top = format!("╭{}╮", "─".repeat(w));
    let bot = format!("╰{}╯", "─".repeat(w));
    let line = |t: &str| format!("│ {t:<width$}│", width = w - 1);
    let screen = [
        "● chat above".to_string(),
        top.clone(),
        line("Do you trust the files in this folder?"),
        line(""),
        line("❯ 1. Yes, proceed"),
        line("  2. No, exit"),
        bot.clone(),
        "   Enter to confirm · Esc to exit".to_string(),
    ]
    .join("\n");
    let s = classify(&screen);
    assert_eq!(s.state, PaneState::Trust);
    assert_eq!(
        s.title.as_deref(),
        Some("Do you trust the files in this folder?")
    );
    let labels: Vec<&str> = s.options.iter().map(|o| o.label.as_str()).collect();
    assert_eq!(labels, ["Yes, proceed", "No, exit"]);
    let prompt = [top, line("> typed"), bot, "  ? for shortcuts".into()].join("\n");
    let p = classify(&prompt);
    assert_eq!(p.state, PaneState::Ready);
    assert_eq!(p.input.as_deref(), Some("typed"));
    Ok(())
}

#[test]
fn parse_options_reads_a_raw_region() -> TestResult {
    let opts = parse_options(" Do you want to proceed?\n ❯ 1. Yes\n   2. No\n");
    assert_eq!(opts.len(), 2);
    assert_eq!(opts[0].number, Some(1));
    assert!(opts[0].selected);
    Ok(())
}

proptest! {
    #[test]
    fn classify_is_total(s in "[ a-z0-9.$#❯>─│╭╮╰╯✢…\n]{0,300}") {
        let _ = classify(&s);
    }
}
