//! The task-contract parser on arbitrary text (the content of a `task`
//! message, which any instance can send).
//!
//! Checks: no panic; a rejection is one of the reference error strings of
//! intercomm-aimfp 1.0.2, each naming the field or the shape that failed; an
//! accepted contract has what `parse` promises and survives `build` → `parse`.
#![no_main]

use intercomm::contract::{self, js_trim};
use libfuzzer_sys::fuzz_target;

/// Every error `contract::parse` may return, as (prefix, exact?).
const ERRORS: &[(&str, bool)] = &[
    ("content is not valid JSON", true),
    ("content is not a task contract object", true),
    ("content is not a task contract", true),
    ("unsupported task contract version: ", false),
    ("role must be a non-empty string", true),
    ("role_instructions must be a non-empty string", true),
    ("reportBack must be an array of strings", true),
    ("aimfp_target must be an object", true),
    (
        "aimfp_target.type must be one of task, milestone, subtask, sidequest, item",
        true,
    ),
    (
        "aimfp_target must have an integer id or a non-empty slug",
        true,
    ),
];

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match contract::parse(&text) {
        Err(err) => assert!(
            ERRORS.iter().any(|(known, exact)| if *exact {
                err == *known
            } else {
                err.starts_with(known)
            }),
            "unexpected contract error: {err:?}"
        ),
        Ok(c) => {
            assert!(!js_trim(&c.role).is_empty(), "blank role accepted");
            assert!(!js_trim(&c.role_instructions).is_empty());
            let target = &c.aimfp_target;
            assert!(target.id.is_some() || target.slug.is_some());
            assert!(
                target
                    .slug
                    .as_deref()
                    .is_none_or(|s| !js_trim(s).is_empty())
            );
            assert_eq!(contract::parse(&contract::build(&c)), Ok(c));
        }
    }
});
