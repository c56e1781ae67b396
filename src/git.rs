//! Git worktrees through libgit2 (git2): the only place intercomm touches a
//! repository. Nothing here runs a shell, so no path or branch name is ever
//! parsed by one. The `git` binary is run (argv only) for one thing git2
//! lacks, bundles ([`bundle_create`], [`bundle_fetch`]): how commits move
//! between the master's repository and a host's over the host's link.
//!
//! libgit2 quirks handled here (source: libgit2 `worktree.c`, `branch.c`):
//! - `git_worktree_add` checks out a *branch*: with no reference it creates
//!   one named after the worktree at HEAD. A detached worktree at `base` is
//!   made by adding it on a throwaway branch at `base`, detaching its HEAD,
//!   then deleting the throwaway branch.
//! - There is no `worktree remove`: `prune` with `valid` and `working_tree`
//!   deletes the folder and the admin data, without checking for changes, so
//!   [`Repo::remove_worktree`] checks the status first.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use git2::{
    BranchType, Diff, Oid, Repository, StatusOptions, WorktreeAddOptions, WorktreePruneOptions,
};

/// Failures of git operations, each naming what git refused.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("{path} is not inside a git repository")]
    NotARepo { path: PathBuf },
    #[error("invalid reference {rev:?}: {message}")]
    BadRevision { rev: String, message: String },
    #[error("branch {name:?} does not exist in the repository")]
    NoBranch { name: String },
    #[error("branch {name:?} already exists")]
    BranchExists { name: String },
    #[error("{path} already exists and is not empty")]
    PathExists { path: PathBuf },
    #[error("{path} is inside a git folder ({git_dir}); a worktree there would be git's own data")]
    InsideGitDir { path: PathBuf, git_dir: PathBuf },
    #[error("a git worktree named {name:?} is already registered at {path}")]
    WorktreeExists { name: String, path: PathBuf },
    #[error("worktree {path} has {count} uncommitted change(s), e.g. {sample}")]
    Dirty {
        path: PathBuf,
        count: usize,
        sample: String,
    },
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("git {op} failed: {source}")]
    Git {
        op: &'static str,
        #[source]
        source: git2::Error,
    },
    #[error("git {op} failed: {message}")]
    Command { op: &'static str, message: String },
}

/// `path` with its longest existing ancestor resolved (links followed) and
/// the rest appended as given.
fn resolve_existing(path: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut head = path;
    loop {
        if let Ok(real) = std::fs::canonicalize(head) {
            return rest.iter().rev().fold(real, |p, part| p.join(part));
        }
        match (head.parent(), head.file_name()) {
            (Some(parent), Some(part)) => {
                rest.push(part.to_owned());
                head = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

fn git(op: &'static str) -> impl FnOnce(git2::Error) -> GitError {
    move |source| GitError::Git { op, source }
}

/// The base the tools and the command line default to (intercomm-aimfp
/// 1.0.2's); see [`Repo::worktree_base`] for a repository without it.
pub const DEFAULT_BASE: &str = "main";

/// A worktree that [`Repo::add_worktree`] created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedWorktree {
    pub path: PathBuf,
    /// Full hex id of the commit checked out.
    pub commit: String,
    /// The new branch, or `None` for a detached HEAD.
    pub branch: Option<String>,
}

/// The main repository of a project.
pub struct Repo {
    repo: Repository,
}

impl Repo {
    /// The repository's git folder (`.git`, or the bare repository itself).
    pub fn git_dir(&self) -> &Path {
        self.repo.path()
    }

    /// Opens the repository whose working tree is `root`.
    pub fn open(root: &Path) -> Result<Self, GitError> {
        let repo = Repository::open(root).map_err(|_| GitError::NotARepo {
            path: root.to_path_buf(),
        })?;
        Ok(Self { repo })
    }

    /// Whether `rev` names a commit in this repository.
    pub fn resolves(&self, rev: &str) -> bool {
        self.repo
            .revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .is_ok()
    }

    /// The commit-ish a worktree asked to start from `base` starts from:
    /// `base`, except [`DEFAULT_BASE`] in a repository that has no such
    /// revision: then the branch checked out in the main working tree (or
    /// `HEAD` when it is detached), so a repository whose branch is
    /// `master` or `trunk` works without naming it.
    pub fn worktree_base(&self, base: &str) -> String {
        if base != DEFAULT_BASE || self.repo.revparse_single(base).is_ok() {
            return base.to_owned();
        }
        match self.repo.head() {
            Ok(head) if head.is_branch() => head.shorthand().unwrap_or("HEAD").to_owned(),
            _ => "HEAD".to_owned(),
        }
    }

    /// Creates a linked worktree `name` at `path`, checked out at `base`:
    /// detached, or on a new branch `branch` when one is given.
    pub fn add_worktree(
        &self,
        name: &str,
        path: &Path,
        base: &str,
        branch: Option<&str>,
    ) -> Result<AddedWorktree, GitError> {
        let commit = self
            .repo
            .revparse_single(base)
            .and_then(|obj| obj.peel_to_commit())
            .map_err(|e| GitError::BadRevision {
                rev: base.to_owned(),
                message: e.message().to_owned(),
            })?;
        if path.exists() && !is_empty_dir(path) {
            return Err(GitError::PathExists {
                path: path.to_path_buf(),
            });
        }
        self.refuse_git_dir(path)?;
        self.clear_stale_admin(name)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| GitError::Io {
                what: "cannot create",
                path: parent.to_path_buf(),
                source,
            })?;
        }
        let branch_name = match branch {
            Some(b) => {
                if self.repo.find_branch(b, BranchType::Local).is_ok() {
                    return Err(GitError::BranchExists { name: b.to_owned() });
                }
                b.to_owned()
            }
            None => format!("intercomm-tmp/{name}-{}", uuid::Uuid::new_v4().simple()),
        };
        let new_branch = self
            .repo
            .branch(&branch_name, &commit, false)
            .map_err(git("branch"))?;
        let mut opts = WorktreeAddOptions::new();
        opts.reference(Some(new_branch.get()));
        let added = self.repo.worktree(name, path, Some(&opts));
        if let Err(err) = added {
            self.undo_add(name, &branch_name);
            return Err(git("worktree add")(err));
        }
        if branch.is_some() {
            return Ok(AddedWorktree {
                path: path.to_path_buf(),
                commit: commit.id().to_string(),
                branch: Some(branch_name),
            });
        }
        let detached = added.map_err(git("worktree add")).and_then(|_| {
            Repository::open(path)
                .and_then(|wt| wt.set_head_detached(commit.id()))
                .map_err(git("detach HEAD"))
        });
        // The throwaway branch goes whatever happened.
        if let Ok(mut tmp) = self.repo.find_branch(&branch_name, BranchType::Local)
            && let Err(err) = tmp.delete()
        {
            tracing::warn!(target: "git", %err, branch = %branch_name, "cannot delete throwaway branch");
        }
        detached?;
        Ok(AddedWorktree {
            path: path.to_path_buf(),
            commit: commit.id().to_string(),
            branch: None,
        })
    }

    /// Refuses a worktree folder inside a `.git` folder: this repository's
    /// (its own or its common git dir, links resolved) or any other.
    fn refuse_git_dir(&self, path: &Path) -> Result<(), GitError> {
        let resolved = resolve_existing(path);
        for git_dir in [self.repo.path(), self.repo.commondir()] {
            let git_dir = std::fs::canonicalize(git_dir).unwrap_or_else(|_| git_dir.to_path_buf());
            if resolved.starts_with(&git_dir) {
                return Err(GitError::InsideGitDir {
                    path: path.to_path_buf(),
                    git_dir,
                });
            }
        }
        let mut so_far = PathBuf::new();
        for part in resolved.components() {
            so_far.push(part);
            if part.as_os_str().eq_ignore_ascii_case(".git") {
                return Err(GitError::InsideGitDir {
                    path: path.to_path_buf(),
                    git_dir: so_far,
                });
            }
        }
        Ok(())
    }

    /// After libgit2 refused to add worktree `name` (e.g. a folder name too
    /// long for the filesystem), removes what it had made by then: the
    /// admin folder `<git dir>/worktrees/<name>` (none of that name was
    /// valid before: [`Self::clear_stale_admin`]) and the branch made for
    /// it, so nothing is left behind.
    fn undo_add(&self, name: &str, branch: &str) {
        let admin = self.repo.commondir().join("worktrees").join(name);
        if let Err(err) = std::fs::remove_dir_all(&admin)
            && err.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(target: "git", %err, admin = %admin.display(), "cannot remove a failed worktree's admin folder");
        }
        if let Ok(mut b) = self.repo.find_branch(branch, BranchType::Local)
            && let Err(err) = b.delete()
        {
            tracing::warn!(target: "git", %err, %branch, "cannot delete a failed worktree's branch");
        }
    }

    /// A registered worktree whose folder is gone is pruned; a live one is an error.
    fn clear_stale_admin(&self, name: &str) -> Result<(), GitError> {
        let Ok(wt) = self.repo.find_worktree(name) else {
            return Ok(());
        };
        if wt.validate().is_ok() {
            return Err(GitError::WorktreeExists {
                name: name.to_owned(),
                path: wt.path().to_path_buf(),
            });
        }
        wt.prune(Some(WorktreePruneOptions::new().valid(false)))
            .map_err(git("worktree prune"))
    }

    /// The commit a local branch points at (full hex id).
    pub fn branch_commit(&self, name: &str) -> Result<String, GitError> {
        let branch = self
            .repo
            .find_branch(name, BranchType::Local)
            .map_err(|_| GitError::NoBranch {
                name: name.to_owned(),
            })?;
        let commit = branch
            .get()
            .peel_to_commit()
            .map_err(git("resolve branch"))?;
        Ok(commit.id().to_string())
    }

    /// Removes worktree `name` (its folder and git's admin data; branches are
    /// kept). Refuses one with uncommitted or untracked changes unless `force`.
    /// A worktree whose folder and registration are both gone is a no-op.
    pub fn remove_worktree(&self, name: &str, path: &Path, force: bool) -> Result<(), GitError> {
        let Ok(wt) = self.repo.find_worktree(name) else {
            if path.exists() {
                return Err(GitError::Git {
                    op: "worktree remove",
                    source: git2::Error::from_str(&format!(
                        "{} is not a registered worktree of this repository",
                        path.display()
                    )),
                });
            }
            return Ok(());
        };
        if !force && wt.validate().is_ok() {
            let repo = Repository::open_from_worktree(&wt).map_err(git("open worktree"))?;
            let mut opts = StatusOptions::new();
            opts.include_untracked(true).include_ignored(false);
            let statuses = repo.statuses(Some(&mut opts)).map_err(git("status"))?;
            if !statuses.is_empty() {
                let sample = statuses
                    .iter()
                    .filter_map(|s| s.path().ok().map(str::to_owned))
                    .take(3)
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(GitError::Dirty {
                    path: wt.path().to_path_buf(),
                    count: statuses.len(),
                    sample,
                });
            }
        }
        wt.prune(Some(
            WorktreePruneOptions::new()
                .valid(true)
                .locked(force)
                .working_tree(true),
        ))
        .map_err(git("worktree prune"))
    }

    /// The full hex id of the commit `rev` names.
    pub fn commit_of(&self, rev: &str) -> Result<String, GitError> {
        self.repo
            .revparse_single(rev)
            .and_then(|o| o.peel_to_commit())
            .map(|c| c.id().to_string())
            .map_err(|e| GitError::BadRevision {
                rev: rev.to_owned(),
                message: e.message().to_owned(),
            })
    }

    /// Points reference `name` (a full `refs/…` name) at `commit`,
    /// replacing what it pointed at.
    pub fn set_ref(&self, name: &str, commit: &str) -> Result<(), GitError> {
        let oid = Oid::from_str(commit).map_err(|e| GitError::BadRevision {
            rev: commit.to_owned(),
            message: e.message().to_owned(),
        })?;
        self.repo
            .reference(name, oid, true, "intercomm")
            .map(drop)
            .map_err(git("update ref"))
    }

    /// Deletes reference `name`, if it exists.
    pub fn delete_ref(&self, name: &str) -> Result<(), GitError> {
        match self.repo.find_reference(name) {
            Ok(mut r) => r.delete().map_err(git("delete ref")),
            Err(_) => Ok(()),
        }
    }
}

/// Opens the bare repository at `path`, creating it first if needed.
pub fn open_or_init_bare(path: &Path) -> Result<Repo, GitError> {
    let repo = match Repository::open_bare(path) {
        Ok(r) => r,
        Err(_) => {
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|source| GitError::Io {
                    what: "cannot create",
                    path: parent.to_path_buf(),
                    source,
                })?;
            }
            Repository::init_bare(path).map_err(git("init --bare"))?
        }
    };
    Ok(Repo { repo })
}

/// Runs `git -C dir args…` (argv, no shell); its stdout.
fn git_cli(op: &'static str, dir: &Path, args: &[&std::ffi::OsStr]) -> Result<Vec<u8>, GitError> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| GitError::Command {
            op,
            message: format!("cannot run git: {e}"),
        })?;
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(GitError::Command {
            op,
            message: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// A scratch file for a bundle inside `dir`'s git folder, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(git_dir: &Path) -> Self {
        Self(git_dir.join(format!("intercomm-{}.bundle", uuid::Uuid::new_v4())))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A bundle (`git bundle create`) of the repository at `dir` holding the
/// full references `refs` and every commit they reach except those of
/// `exclude` (revisions the receiver already has); its bytes. `git_dir` is
/// where the scratch file goes (the repository's git folder).
pub fn bundle_create(
    dir: &Path,
    git_dir: &Path,
    refs: &[&str],
    exclude: &[&str],
) -> Result<Vec<u8>, GitError> {
    let scratch = Scratch::new(git_dir);
    let mut args: Vec<std::ffi::OsString> = vec!["bundle".into(), "create".into(), "-q".into()];
    args.push(scratch.0.clone().into_os_string());
    args.extend(refs.iter().map(|r| std::ffi::OsString::from(*r)));
    args.extend(
        exclude
            .iter()
            .map(|r| std::ffi::OsString::from(format!("^{r}"))),
    );
    let argv: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    git_cli("bundle create", dir, &argv)?;
    std::fs::read(&scratch.0).map_err(|source| GitError::Io {
        what: "cannot read",
        path: scratch.0.clone(),
        source,
    })
}

/// Fetches `refspec` (e.g. `refs/heads/b:refs/heads/b`) from the bundle
/// `bytes` into the repository at `dir` (git folder `git_dir`). Without a
/// leading `+` an update must fast-forward.
pub fn bundle_fetch(
    dir: &Path,
    git_dir: &Path,
    bytes: &[u8],
    refspec: &str,
) -> Result<(), GitError> {
    let scratch = Scratch::new(git_dir);
    std::fs::write(&scratch.0, bytes).map_err(|source| GitError::Io {
        what: "cannot write",
        path: scratch.0.clone(),
        source,
    })?;
    let args: [&std::ffi::OsStr; 5] = [
        "fetch".as_ref(),
        "-q".as_ref(),
        "--no-tags".as_ref(),
        scratch.0.as_os_str(),
        refspec.as_ref(),
    ];
    git_cli("fetch from bundle", dir, &args).map(drop)
}

/// How far a worker's work is from its base: commits on its HEAD not in
/// `base`, and the diff stat of its working tree (index and unstaged
/// changes included) against the merge base.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Progress {
    pub ahead: usize,
    pub files: usize,
    pub insertions: usize,
    pub deletions: usize,
}

/// A worker's checkout: a linked worktree (or any working tree) opened at
/// its path, compared with a base revision of the same repository.
pub struct Checkout {
    repo: Repository,
}

impl Checkout {
    /// Opens the working tree at `path`.
    pub fn open(path: &Path) -> Result<Self, GitError> {
        let repo = Repository::open(path).map_err(|_| GitError::NotARepo {
            path: path.to_path_buf(),
        })?;
        Ok(Self { repo })
    }

    fn head_and_base(&self, base: &str) -> Result<(git2::Oid, git2::Oid), GitError> {
        let head = self
            .repo
            .head()
            .and_then(|h| h.peel_to_commit())
            .map_err(git("resolve HEAD"))?
            .id();
        let base_commit = self
            .repo
            .revparse_single(base)
            .and_then(|obj| obj.peel_to_commit())
            .map_err(|e| GitError::BadRevision {
                rev: base.to_owned(),
                message: e.message().to_owned(),
            })?
            .id();
        let fork = self
            .repo
            .merge_base(head, base_commit)
            .map_err(git("merge-base"))?;
        Ok((head, fork))
    }

    fn diff(&self, fork: git2::Oid) -> Result<git2::Diff<'_>, GitError> {
        let tree = self
            .repo
            .find_commit(fork)
            .and_then(|c| c.tree())
            .map_err(git("read base tree"))?;
        let mut opts = git2::DiffOptions::new();
        opts.include_untracked(true)
            .recurse_untracked_dirs(true)
            .show_untracked_content(true);
        self.repo
            .diff_tree_to_workdir_with_index(Some(&tree), Some(&mut opts))
            .map_err(git("diff"))
    }

    /// Commits ahead of `base` and the diff stat against where it forked.
    pub fn progress(&self, base: &str) -> Result<Progress, GitError> {
        let (head, fork) = self.head_and_base(base)?;
        let mut walk = self.repo.revwalk().map_err(git("revwalk"))?;
        walk.push(head).map_err(git("revwalk"))?;
        walk.hide(fork).map_err(git("revwalk"))?;
        let ahead = walk.count();
        let stats = self.diff(fork)?.stats().map_err(git("diff stat"))?;
        Ok(Progress {
            ahead,
            files: stats.files_changed(),
            insertions: stats.insertions(),
            deletions: stats.deletions(),
        })
    }

    /// The patch of the working tree (committed, staged, unstaged and
    /// untracked changes) against where it forked from `base`, as `git diff`
    /// prints it.
    pub fn patch(&self, base: &str) -> Result<String, GitError> {
        let (_, fork) = self.head_and_base(base)?;
        let diff = self.diff(fork)?;
        let mut out = Vec::new();
        diff.print(git2::DiffFormat::Patch, |_, _, line| {
            if matches!(line.origin(), '+' | '-' | ' ') {
                out.push(line.origin() as u8);
            }
            out.extend_from_slice(line.content());
            true
        })
        .map_err(git("diff"))?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// What a worktree changed relative to its base, for the merge radar.
/// Paths are relative to the repository root, `/`-separated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorktreeChanges {
    /// Commits on the worktree's HEAD that the base does not have.
    pub commits_ahead: usize,
    /// Paths changed by those commits, plus the worktree's uncommitted and
    /// untracked changes (ignored files excluded).
    pub files: BTreeSet<String>,
    /// Paths the base changed since the branch point (the merge base of
    /// HEAD and the base).
    pub base_changed: BTreeSet<String>,
}

/// Reads what the worktree at `path` changed relative to `base` (a
/// commit-ish resolved in that worktree, e.g. `main`): commits ahead of the
/// merge base, the paths they and the uncommitted changes touch, and the
/// paths the base changed since that merge base.
pub fn worktree_changes(path: &Path, base: &str) -> Result<WorktreeChanges, GitError> {
    let repo = Repository::open(path).map_err(|_| GitError::NotARepo {
        path: path.to_path_buf(),
    })?;
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(git("resolve HEAD"))?;
    let base_commit = repo
        .revparse_single(base)
        .and_then(|o| o.peel_to_commit())
        .map_err(|e| GitError::BadRevision {
            rev: base.to_owned(),
            message: e.message().to_owned(),
        })?;
    let fork = repo
        .merge_base(head.id(), base_commit.id())
        .map_err(git("merge-base"))?;
    let mut changes = WorktreeChanges {
        commits_ahead: commits_between(&repo, fork, head.id())?,
        files: tree_diff(&repo, fork, head.id())?,
        base_changed: tree_diff(&repo, fork, base_commit.id())?,
    };
    let mut opts = StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false);
    let statuses = repo.statuses(Some(&mut opts)).map_err(git("status"))?;
    changes.files.extend(
        statuses
            .iter()
            .filter_map(|s| s.path().ok().map(str::to_owned)),
    );
    Ok(changes)
}

/// Commits reachable from `to` and not from `from`.
fn commits_between(repo: &Repository, from: Oid, to: Oid) -> Result<usize, GitError> {
    let mut walk = repo.revwalk().map_err(git("revwalk"))?;
    walk.push(to).map_err(git("revwalk"))?;
    walk.hide(from).map_err(git("revwalk"))?;
    Ok(walk.count())
}

/// Paths that differ between the trees of commits `a` and `b` (both sides
/// of a rename).
fn tree_diff(repo: &Repository, a: Oid, b: Oid) -> Result<BTreeSet<String>, GitError> {
    if a == b {
        return Ok(BTreeSet::new());
    }
    let tree = |id: Oid| {
        repo.find_commit(id)
            .and_then(|c| c.tree())
            .map_err(git("read tree"))
    };
    let diff = repo
        .diff_tree_to_tree(Some(&tree(a)?), Some(&tree(b)?), None)
        .map_err(git("diff"))?;
    Ok(diff_paths(&diff))
}

fn diff_paths(diff: &Diff<'_>) -> BTreeSet<String> {
    diff.deltas()
        .flat_map(|d| [d.old_file().path(), d.new_file().path()])
        .flatten()
        .map(|p| p.to_string_lossy().replace('\\', "/"))
        .collect()
}

fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none())
}
