//! The tmux output parsers on arbitrary text: `list-panes -F` lines and
//! batched captures.
//!
//! Input: the first byte is the batch's pane count (0–15), the text up to the
//! first newline the batch token, the rest tmux's output; split on NUL it
//! also gives the captures for a round trip.
//!
//! Checks: no panic; every parsed pane has a `$` session id and a `%N` pane
//! id, and no field holds a separator; `split_batch` yields exactly `count`
//! entries, none after the first missing one; and captures joined with their
//! markers, as tmux prints them, split back into the same texts.
#![no_main]

use intercomm::tmux::parse::{FIELD_SEP, batch_marker, is_pane_id, parse_panes, split_batch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&count, rest)) = data.split_first() else {
        return;
    };
    let count = usize::from(count % 16);
    let text = String::from_utf8_lossy(rest);
    let (token, out) = text.split_once('\n').unwrap_or((&text, ""));

    for pane in parse_panes(out) {
        assert!(
            pane.session_id.starts_with('$') && is_pane_id(&pane.pane),
            "{pane:?}"
        );
        for field in [
            &pane.session_id,
            &pane.session_name,
            &pane.command,
            &pane.socket,
        ] {
            assert!(
                !field.contains(FIELD_SEP) && !field.contains('\n'),
                "{pane:?}"
            );
        }
    }

    let parts = split_batch(out, token, count);
    assert_eq!(parts.len(), count);
    if let Some(gap) = parts.iter().position(Option::is_none) {
        assert!(parts[gap..].iter().all(Option::is_none), "{parts:?}");
    }

    // Captures printed with their markers, as tmux does, come back intact
    // (a capture that itself prints a marker line is out of scope).
    if out.contains("@@intercomm-capture") {
        return;
    }
    let captures: Vec<&str> = out.split('\0').take(count).collect();
    let printed: String = captures
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{c}\n{}\n", batch_marker(token, i)))
        .collect();
    let expected: Vec<Option<String>> = (0..count)
        .map(|i| captures.get(i).map(|c| (*c).to_owned()))
        .collect();
    assert_eq!(split_batch(&printed, token, count), expected);
});
