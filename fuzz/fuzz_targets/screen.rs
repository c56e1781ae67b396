//! The screen classifier on arbitrary pane text: ANSI and other control
//! bytes, wide and combining characters, box glyphs, invalid UTF-8 (made
//! lossy, as the capture reader does).
//!
//! Checks: `classify` is total (no panic, always a `Screen`); the fields keep
//! their documented shape (options numbered 1..n, tool and detail only when
//! blocked, input exactly when ready or running, no menu on a prompt or a
//! shell); and escape sequences and `\r` do not change the reading
//! (`capture-pane -e` output reads like `-p` output).
#![no_main]

use intercomm::screen::{PaneState, classify};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let screen = classify(&text);

    for (i, option) in screen.options.iter().enumerate() {
        assert_eq!(
            option.index,
            i + 1,
            "options out of order: {:?}",
            screen.options
        );
    }
    if screen.tool.is_some() || screen.detail.is_some() {
        assert_eq!(screen.state, PaneState::Blocked, "{screen:?}");
    }
    let prompt = matches!(screen.state, PaneState::Ready | PaneState::Running);
    assert_eq!(screen.input.is_some(), prompt, "{screen:?}");
    if prompt || screen.state == PaneState::Exited {
        assert!(screen.options.is_empty(), "{screen:?}");
    }

    if !text.contains('\u{1b}') {
        let coloured = format!(
            "\u{1b}[1;38;5;208m{}\u{1b}]0;title\u{7}",
            text.replace('\n', "\u{1b}[0m\r\n\u{1b}[2m")
        );
        assert_eq!(classify(&coloured), screen, "escapes changed the reading");
    }
});
