//! Pure parsers for tmux `-F` output and batched captures.
//!
//! Fields are separated by U+001F (unit separator): tmux 3.3a prints it
//! unchanged, and unlike a tab or `|` it cannot appear in a session name a
//! user types. Verified with `list-panes -a -F` on tmux 3.3a.

use serde::{Deserialize, Serialize};

/// Separator between fields of one `-F` line.
pub const FIELD_SEP: char = '\u{1f}';

/// `list-panes -a -F` format: session id, session name, pane id, pane pid,
/// pane dead flag, current command, socket path.
pub const PANE_FORMAT: &str = "#{session_id}\u{1f}#{session_name}\u{1f}#{pane_id}\u{1f}#{pane_pid}\u{1f}#{pane_dead}\u{1f}#{pane_current_command}\u{1f}#{socket_path}";

/// `new-session -P -F` format: the same fields for the new session's pane.
pub const SPAWN_FORMAT: &str = PANE_FORMAT;

/// One pane as tmux lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaneInfo {
    /// `$N`, stable for the session's life.
    pub session_id: String,
    pub session_name: String,
    /// `%N`, stable for the pane's life.
    pub pane: String,
    pub pid: u32,
    /// The pane's program exited (with `remain-on-exit`).
    pub dead: bool,
    /// The foreground command, e.g. `claude`, `node`, `bash`.
    pub command: String,
    pub socket: String,
}

/// Parses one line of [`PANE_FORMAT`] output; `None` if it is malformed.
pub fn parse_pane(line: &str) -> Option<PaneInfo> {
    let f: Vec<&str> = line.split(FIELD_SEP).collect();
    let [session_id, session_name, pane, pid, dead, command, socket] = f.as_slice() else {
        return None;
    };
    if !session_id.starts_with('$') || !is_pane_id(pane) {
        return None;
    }
    Some(PaneInfo {
        session_id: (*session_id).to_owned(),
        session_name: (*session_name).to_owned(),
        pane: (*pane).to_owned(),
        pid: pid.parse().unwrap_or(0),
        dead: *dead == "1",
        command: (*command).to_owned(),
        socket: (*socket).to_owned(),
    })
}

/// Parses `list-panes -a -F PANE_FORMAT` output, skipping malformed lines.
pub fn parse_panes(out: &str) -> Vec<PaneInfo> {
    out.lines().filter_map(parse_pane).collect()
}

/// Whether `s` is a pane id: `%` followed by digits.
pub fn is_pane_id(s: &str) -> bool {
    s.strip_prefix('%')
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
}

/// The marker line printed between the captures of a batch.
pub fn batch_marker(token: &str, index: usize) -> String {
    format!("@@intercomm-capture {token} {index}@@")
}

/// Splits the stdout of a batched capture (`capture-pane ; display-message
/// MARKER ; capture-pane ; …`) into one text per requested pane. Each
/// capture is followed by its marker; a capture whose marker is missing (the
/// batch stopped at a pane that vanished) is `None`.
pub fn split_batch(out: &str, token: &str, count: usize) -> Vec<Option<String>> {
    let mut result = Vec::with_capacity(count);
    let mut rest = out;
    for index in 0..count {
        let marker = batch_marker(token, index);
        match rest.find(&marker) {
            Some(at) => {
                let text = rest[..at].strip_suffix('\n').unwrap_or(&rest[..at]);
                result.push(Some(text.to_owned()));
                rest = rest[at + marker.len()..]
                    .strip_prefix('\n')
                    .unwrap_or(&rest[at + marker.len()..]);
            }
            None => {
                result.extend(std::iter::repeat_n(None, count - index));
                break;
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_panes_with_spaces_and_separators() {
        let out = "$0\u{1f}a b\u{1f}%0\u{1f}31093\u{1f}0\u{1f}sh\u{1f}/tmp/s\n\
                   $1\u{1f}probe2\u{1f}%1\u{1f}31097\u{1f}1\u{1f}sleep\u{1f}/tmp/s\n\
                   garbage\n";
        let panes = parse_panes(out);
        assert_eq!(panes.len(), 2);
        assert_eq!(panes[0].session_name, "a b");
        assert_eq!(panes[0].pane, "%0");
        assert_eq!(panes[0].pid, 31093);
        assert!(!panes[0].dead);
        assert!(panes[1].dead);
        assert_eq!(panes[1].socket, "/tmp/s");
    }

    #[test]
    fn pane_ids_are_percent_digits() {
        assert!(is_pane_id("%12"));
        for bad in ["%", "12", "%1a", "worker-1", "=x", ""] {
            assert!(!is_pane_id(bad), "{bad}");
        }
    }

    #[test]
    fn splits_batches_and_marks_what_is_missing() {
        let out = format!(
            "hello\nworld\n{}\n\nsecond\n{}\n",
            batch_marker("t", 0),
            batch_marker("t", 1)
        );
        let parts = split_batch(&out, "t", 3);
        assert_eq!(
            parts,
            vec![
                Some("hello\nworld".to_owned()),
                Some("\nsecond".to_owned()),
                None
            ]
        );
    }
}
