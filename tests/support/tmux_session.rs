//! The `tmux new-session` command line the test harnesses (tests/it,
//! tests/e2e) start sessions with, as a user would, without intercomm's own
//! tmux layer, which is under test. Included with `#[path]`.

use std::path::Path;

/// Arguments (after `tmux -S SOCKET`) that start a detached session `name`
/// of `cols`×`rows` cells in `dir`, with `env` added to its environment,
/// running `argv` (after `--`, so no shell parses it), and print its pane id.
pub fn new_session_args(
    name: &str,
    dir: &Path,
    (cols, rows): (u16, u16),
    env: &[(&str, &str)],
    argv: &[&str],
) -> Vec<String> {
    let mut args: Vec<String> = ["new-session", "-d", "-s", name]
        .into_iter()
        .map(str::to_owned)
        .collect();
    args.extend([
        "-x".to_owned(),
        cols.to_string(),
        "-y".to_owned(),
        rows.to_string(),
        "-c".to_owned(),
        dir.display().to_string(),
    ]);
    for (k, v) in env {
        args.extend(["-e".to_owned(), format!("{k}={v}")]);
    }
    args.extend(["-P", "-F", "#{pane_id}", "--"].map(str::to_owned));
    args.extend(argv.iter().map(|a| (*a).to_owned()));
    args
}
