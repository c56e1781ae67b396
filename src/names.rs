//! Validation of instance ids (`master`, `worker-3`, a spawn prefix plus a
//! number), which double as tmux session names, worktree folder names and git
//! worktree admin names, so they must be safe in all three.
//!
//! Rules (B12 of the reference): 1–64 characters from `[A-Za-z0-9_-]`,
//! starting with a letter or digit. That excludes `/` and `..` (path
//! traversal), `:` and `.` (tmux rewrites them in session names), `%` and `=`
//! (tmux target syntax), `@` and `~` and spaces.

use crate::error::Error;

/// The literal id of the master, as in intercomm-aimfp 1.0.2.
pub const MASTER_ID: &str = "master";

/// The literal recipient of a broadcast.
pub const BROADCAST: &str = "all";

/// Ids no instance may hold: `all` addresses a broadcast, and a message
/// from `user` would read as the person's own words.
pub const RESERVED: [&str; 2] = [BROADCAST, "user"];

/// Whether `id` is one of the [`RESERVED`] ids (any letter case).
pub fn is_reserved(id: &str) -> bool {
    RESERVED.iter().any(|r| r.eq_ignore_ascii_case(id))
}

/// Longest accepted id, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// Checks an id supplied as parameter `field`. The error names the field and
/// the offending character.
pub fn check_id(field: &str, id: &str) -> Result<(), Error> {
    if id.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if id.len() > MAX_ID_LEN {
        return Err(Error::invalid(
            field,
            format!("is {} bytes long; the limit is {MAX_ID_LEN}", id.len()),
        ));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(Error::invalid(
            field,
            format!("{id:?} contains {bad:?}; ids use only letters, digits, '-' and '_'"),
        ));
    }
    if !id.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(Error::invalid(
            field,
            format!("{id:?} must start with a letter or digit"),
        ));
    }
    Ok(())
}

/// Checks a spawn prefix given as `field`: the prefix is an id, and so is
/// every id `<prefix>-<N>` spawn makes from it (N up to [`PREFIX_NUMBER_DIGITS`]
/// digits), so no other command refuses a spawned worker's id.
pub fn check_prefix(field: &str, prefix: &str) -> Result<(), Error> {
    check_id(field, prefix)?;
    let room = MAX_ID_LEN - 1 - PREFIX_NUMBER_DIGITS;
    if prefix.len() > room {
        return Err(Error::invalid(
            field,
            format!(
                "is {} bytes long; the ids made from it (`{prefix}-N`) must fit in {MAX_ID_LEN} bytes, so a prefix has at most {room}",
                prefix.len()
            ),
        ));
    }
    Ok(())
}

/// Digits of the largest worker number a spawn prefix leaves room for.
pub const PREFIX_NUMBER_DIGITS: usize = 4;

/// The number N of an id `worker-N` (N ≥ 1, as the original parses it:
/// `worker-01` is 1), if it has that form.
pub fn worker_number(id: &str) -> Option<u64> {
    let digits = id.strip_prefix("worker-")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<u64>().ok().filter(|n| *n >= 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_tmux_git_or_paths_would_mangle() {
        for bad in [
            "", "../x", "/abs", "a/b", "a:b", "a.b", "a b", "%1", "=x", "-x", "é", "a\nb",
        ] {
            assert!(check_id("worker_id", bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_id("worker_id", &"a".repeat(65)).is_err());
        for good in ["master", "worker-1", "w_2", "A9", "7"] {
            assert!(check_id("worker_id", good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn error_names_the_field() {
        let err = check_id("to", "a/b").err().map(|e| e.message);
        assert!(err.is_some_and(|m| m.contains("`to`")));
    }

    #[test]
    fn worker_numbers_parse_like_the_original() {
        assert_eq!(worker_number("worker-1"), Some(1));
        assert_eq!(worker_number("worker-01"), Some(1));
        assert_eq!(worker_number("worker-0"), None);
        assert_eq!(worker_number("worker-x"), None);
        assert_eq!(worker_number("worker-"), None);
        assert_eq!(worker_number("master"), None);
    }
}
