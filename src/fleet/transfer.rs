//! Worktrees on other hosts, from the master's repository, over the host's
//! link and nothing else (no shared filesystem, nothing connects back):
//!
//! - spawn with worktrees: the master bundles its base commit (`git bundle`
//!   of `refs/intercomm/base/<worker>`), the agent fetches it into its bare
//!   copy of the repository (`~/.intercomm/hosts/<repo>.git`, made on first
//!   use) and adds the worker's worktree there, detached at that commit;
//! - `worktree_set_status` with a branch: the agent bundles the worker's
//!   branch without what the master already has, and the master fetches it
//!   into its own `refs/heads/<branch>` (fast-forward only) before it
//!   verifies the commit, so verify and merge run on the master's repository;
//! - teardown with worktrees: the agent removes the worktree (refusing
//!   changes unless forced).
//!
//! Bundles travel base64-encoded inside one request line, so one transfer is
//! bounded by [`protocol::MAX_LINE`] (64 MiB of base64, ~48 MiB of bundle).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use super::host::Host;
use super::{master, with_ctx};
use crate::bus::worktrees::{self, WorktreeRow, WorktreeStatus};
use crate::clock;
use crate::error::{Error, Result};
use crate::git::{self, Repo};
use crate::host::protocol::{self, BranchBundle, Request};
use crate::ops::worktree::StatusSet;
use crate::ops::{Ctx, db};

/// Longest wait for a transfer request (a bundle's fetch and a checkout).
pub const TRANSFER_TIMEOUT: Duration = Duration::from_secs(120);

/// The name under which hosts keep their copy of the repository at `root`:
/// its folder name (letters, digits, `-` and `_` kept, 40 at most) and a
/// hash of its path, so two projects of the same name stay apart.
pub fn repo_key(root: &Path) -> String {
    let name: String = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(40)
        .collect();
    // FNV-1a, 32 bits: stable across builds, unlike the std hasher.
    let mut hash: u32 = 0x811c_9dc5;
    for b in root.as_os_str().as_encoded_bytes() {
        hash = (hash ^ u32::from(*b)).wrapping_mul(0x0100_0193);
    }
    let name = if name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        name
    } else {
        format!("p{name}")
    };
    format!("{name}-{hash:08x}")
}

fn check_commit(commit: &str) -> Result<()> {
    if commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Error::invalid(
            "commit",
            format!("{commit:?} is not a full commit id"),
        ))
    }
}

/// A branch name git accepts and no git argument parser can take for an
/// option (it is always passed as `refs/heads/<branch>`).
fn check_branch(branch: &str) -> Result<()> {
    if !branch.starts_with('-') && git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
        Ok(())
    } else {
        Err(Error::invalid(
            "branch",
            format!("{branch:?} is not a valid branch name"),
        ))
    }
}

fn too_big(what: &str, len: usize) -> Result<()> {
    if len + 4096 > protocol::MAX_LINE {
        return Err(Error::user(
            "transfer_too_large",
            format!(
                "{what} is {} MiB as base64; one transfer carries at most {} MiB",
                len >> 20,
                protocol::MAX_LINE >> 20
            ),
        ));
    }
    Ok(())
}

// ---- on the host (the agent) ---------------------------------------------

/// Where the host keeps its copy `repo` of a master's repository and that
/// copy's worktrees: `~/.intercomm/hosts/<repo>.git`, `~/.intercomm/hosts/<repo>/`.
fn host_repo(repo: &str) -> Result<(PathBuf, PathBuf)> {
    crate::names::check_id("repo", repo)?;
    let home = crate::env::get(crate::env::HOME).ok_or_else(|| {
        Error::user(
            "no_home",
            "HOME is not set on the host: nowhere to keep worktrees",
        )
    })?;
    let base = Path::new(&home).join(".intercomm").join("hosts");
    Ok((base.join(format!("{repo}.git")), base.join(repo)))
}

/// [`Request::WorktreeAdd`] on this host: the worktree's path.
pub fn add_here(repo: &str, name: &str, commit: &str, bundle: &str) -> Result<String> {
    crate::names::check_id("name", name)?;
    check_commit(commit)?;
    let bytes = protocol::decode("bundle", bundle)?;
    let (bare, dir) = host_repo(repo)?;
    let copy = git::open_or_init_bare(&bare)?;
    let base_ref = format!("refs/intercomm/base/{name}");
    git::bundle_fetch(
        &bare,
        copy.git_dir(),
        &bytes,
        &format!("+{base_ref}:{base_ref}"),
    )?;
    let path = dir.join(name);
    copy.add_worktree(name, &path, commit, None)?;
    Ok(path.display().to_string())
}

/// [`Request::BranchBack`] on this host.
pub fn branch_here(repo: &str, branch: &str, base: &str) -> Result<BranchBundle> {
    check_branch(branch)?;
    check_commit(base)?;
    let (bare, _) = host_repo(repo)?;
    let copy = Repo::open(&bare)?;
    let commit = copy.branch_commit(branch)?;
    let head = format!("refs/heads/{branch}");
    let exclude: Vec<&str> = if commit == base {
        Vec::new()
    } else {
        vec![base]
    };
    let bytes = git::bundle_create(&bare, copy.git_dir(), &[&head], &exclude)?;
    Ok(BranchBundle {
        commit,
        bundle: protocol::encode(&bytes),
    })
}

/// [`Request::WorktreeRemove`] on this host.
pub fn remove_here(repo: &str, name: &str, force: bool) -> Result<()> {
    crate::names::check_id("name", name)?;
    let (bare, dir) = host_repo(repo)?;
    Repo::open(&bare)?.remove_worktree(name, &dir.join(name), force)?;
    Ok(())
}

// ---- on the master --------------------------------------------------------

/// Makes worker `name`'s worktree on host `on` from the master's `base`
/// and records it on the bus; its path on the host.
pub async fn add_worktree(ctx: &Mutex<Ctx>, on: &Host, name: &str, base: &str) -> Result<String> {
    let (key, commit, base, bundle) = with_ctx(ctx, |c| {
        let root = c.paths.root.clone();
        let repo = Repo::open(&root)?;
        let base = repo.worktree_base(base);
        let commit = repo.commit_of(&base)?;
        let sent = format!("refs/intercomm/base/{name}");
        repo.set_ref(&sent, &commit)?;
        let bytes = git::bundle_create(&root, repo.git_dir(), &[&sent], &[]);
        repo.delete_ref(&sent)?;
        Ok((repo_key(&root), commit, base, protocol::encode(&bytes?)))
    })?;
    too_big("the base's bundle", bundle.len())?;
    let path: String = on
        .call(
            Request::WorktreeAdd {
                repo: key,
                name: name.to_owned(),
                commit: commit.clone(),
                bundle,
            },
            TRANSFER_TIMEOUT,
        )
        .await?;
    let now = clock::now_ms();
    with_ctx(ctx, |c| {
        worktrees::put_new(
            c.bus()?.conn(),
            &WorktreeRow {
                worker_id: name.to_owned(),
                branch: String::new(),
                head_commit: commit,
                path: path.clone(),
                base,
                status: WorktreeStatus::Active,
                created_at_ms: now,
                updated_at_ms: now,
            },
        )
        .map_err(db)
    })?;
    Ok(path)
}

/// Removes worker `id`'s worktree on host `on`.
pub async fn remove_worktree(ctx: &Mutex<Ctx>, on: &Host, id: &str, force: bool) -> Result<()> {
    let key = with_ctx(ctx, |c| Ok(repo_key(&c.paths.root)))?;
    on.call::<bool>(
        Request::WorktreeRemove {
            repo: key,
            name: id.to_owned(),
            force,
        },
        TRANSFER_TIMEOUT,
    )
    .await
    .map(drop)
}

/// `intercomm_worktree_set_status`, on whichever host the worker runs: for
/// a worker on another host, `branch` is first fetched from there into the
/// master's repository, so that the commit recorded (and later verified and
/// merged) is the master's own.
pub async fn set_status(
    ctx: &Mutex<Ctx>,
    worker_id: &str,
    status: WorktreeStatus,
    branch: Option<&str>,
) -> Result<StatusSet> {
    let wanted = branch.map(str::trim).filter(|b| !b.is_empty());
    if let Some(b) = wanted {
        crate::names::check_id("worker_id", worker_id)?;
        master(ctx)?;
        let found = with_ctx(ctx, |c| match c.existing_bus()? {
            Some(bus) => {
                let on = Host::of_session(bus.conn(), worker_id)?;
                let row = worktrees::get(bus.conn(), worker_id).map_err(db)?;
                Ok(row.map(|r| (on, r)))
            }
            None => Ok(None),
        })?;
        if let Some((on @ Host::Remote { .. }, row)) = found {
            check_branch(b)?;
            fetch_branch(ctx, &on, b, &row.head_commit).await?;
        }
    }
    with_ctx(ctx, |c| {
        crate::ops::worktree::set_status(c, worker_id, status, branch)
    })
}

/// Fetches `branch` from host `on` into the master's repository
/// (fast-forward only), sending only what `have` (a commit the master has)
/// does not reach.
async fn fetch_branch(ctx: &Mutex<Ctx>, on: &Host, branch: &str, have: &str) -> Result<()> {
    let key = with_ctx(ctx, |c| Ok(repo_key(&c.paths.root)))?;
    let got: BranchBundle = on
        .call(
            Request::BranchBack {
                repo: key,
                branch: branch.to_owned(),
                base: have.to_owned(),
            },
            TRANSFER_TIMEOUT,
        )
        .await?;
    let bytes = protocol::decode("bundle", &got.bundle)?;
    with_ctx(ctx, |c| {
        let root = c.paths.root.clone();
        let repo = Repo::open(&root)?;
        let head = format!("refs/heads/{branch}");
        git::bundle_fetch(&root, repo.git_dir(), &bytes, &format!("{head}:{head}"))?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_keys_are_ids_and_tell_paths_apart() {
        let a = repo_key(Path::new("/srv/one/proj"));
        let b = repo_key(Path::new("/srv/two/proj"));
        assert_ne!(a, b);
        assert!(a.starts_with("proj-"));
        for k in [
            a,
            b,
            repo_key(Path::new("/x/.hidden dir;rm")),
            repo_key(Path::new("/")),
        ] {
            assert!(crate::names::check_id("repo", &k).is_ok(), "{k}");
        }
    }

    #[test]
    fn branches_that_could_be_options_or_bad_refs_are_refused() {
        assert!(check_branch("feature/x-1").is_ok());
        for b in ["-x", "--upload-pack=sh", "a..b", "a b", "a~1", ""] {
            assert!(check_branch(b).is_err(), "{b}");
        }
        assert!(check_commit(&"a".repeat(40)).is_ok());
        assert!(check_commit("HEAD").is_err());
    }
}
