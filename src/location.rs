//! Where a project's bus lives.
//!
//! ```text
//! <parent>/
//! ├── <root>/                     the bus root: main working tree of the repo
//! │   └── .intercomm-aimfp/       0700
//! │       ├── intercomm.db        0600 (AIMFP checks for exactly this path)
//! │       ├── intercomm.db-wal    0600
//! │       └── intercomm.db-shm    0600
//! └── .intercomm-worktrees/       linked worktrees, a sibling of root
//!     └── <root's folder name>/   one folder per project (the project key)
//!         └── worker-1/           one worktree per worker
//! ```
//!
//! The project key keeps the worktrees of projects that share a parent
//! folder apart (intercomm-aimfp 1.0.2 put every project's `worker-2` at
//! `.intercomm-worktrees/worker-2`, so one project's blocked another's).
//! Two projects with the same parent have different folder names, so the
//! name is enough. Worktrees made before this layout keep their recorded
//! paths; nothing is moved.
//!
//! The root is, in order (reference §1.2, with B12 fixed):
//! 1. `INTERCOMM_DB_ROOT` (as given: a folder name may end in a space, and spawn
//!    passes the root on verbatim; blank means unset), made absolute against
//!    the current directory;
//! 2. the main working tree of the git repository around the current directory:
//!    a linked worktree resolves to its main checkout (so every worker shares the
//!    master's bus), a submodule to its own working tree (not `.git/modules`);
//! 3. the current directory.

use std::path::{Component, Path, PathBuf};

/// Name of the folder under the root that holds the bus.
pub const BUS_DIR: &str = ".intercomm-aimfp";
/// File name of the bus database.
pub const BUS_FILE: &str = "intercomm.db";
/// Folder, beside the root, that holds workers' worktrees.
pub const WORKTREES_DIR: &str = ".intercomm-worktrees";

/// The resolved paths of one project's bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusPaths {
    /// The project root (absolute).
    pub root: PathBuf,
    /// A PostgreSQL bus (`INTERCOMM_BUS`, `--bus`) in place of the file
    /// under the root; the root still places worktrees.
    pub url: Option<crate::bus::BusUrl>,
}

impl BusPaths {
    /// Paths for an explicit root (made absolute against `cwd` if relative).
    pub fn new(root: &Path, cwd: &Path) -> Self {
        Self {
            root: absolute(root, cwd),
            url: None,
        }
    }

    /// The same paths with the bus at `url` (PostgreSQL).
    pub fn with_bus(mut self, url: Option<crate::bus::BusUrl>) -> Self {
        self.url = url;
        self
    }

    /// `<root>/.intercomm-aimfp`
    pub fn dir(&self) -> PathBuf {
        self.root.join(BUS_DIR)
    }

    /// `<root>/.intercomm-aimfp/intercomm.db`
    pub fn db(&self) -> PathBuf {
        self.dir().join(BUS_FILE)
    }

    /// `<root>/../.intercomm-worktrees/<project key>`: the key is the
    /// root's folder name (`root` for the root `/`), see the module doc.
    pub fn worktrees_dir(&self) -> PathBuf {
        let key = self
            .root
            .file_name()
            .map_or_else(|| "root".into(), |n| n.to_owned());
        self.root
            .parent()
            .unwrap_or(&self.root)
            .join(WORKTREES_DIR)
            .join(key)
    }

    /// The default worktree path of a worker: `<worktrees_dir>/<id>`.
    pub fn worktree_path(&self, id: &str) -> PathBuf {
        self.worktrees_dir().join(id)
    }
}

/// Resolves the bus root from the current directory and the environment.
pub fn discover(cwd: &Path) -> BusPaths {
    let env_root = std::env::var(crate::env::DB_ROOT).ok();
    let root = resolve_root(cwd, env_root.as_deref(), || git_main_workdir(cwd));
    BusPaths { root, url: None }
}

/// The pure rule: `env_root` (as given, unless blank) wins, then the git main
/// working tree (asked lazily), then `cwd`. The result is absolute and
/// normalised (no `.`/`..`).
pub fn resolve_root(
    cwd: &Path,
    env_root: Option<&str>,
    git_workdir: impl FnOnce() -> Option<PathBuf>,
) -> PathBuf {
    if let Some(env) = env_root.filter(|s| !s.trim().is_empty()) {
        return absolute(Path::new(env), cwd);
    }
    match git_workdir() {
        Some(dir) => absolute(&dir, cwd),
        None => absolute(cwd, cwd),
    }
}

/// The main working tree of the repository containing `cwd`, if any.
pub fn git_main_workdir(cwd: &Path) -> Option<PathBuf> {
    let repo = git2::Repository::discover(cwd).ok()?;
    if repo.is_worktree() {
        // A linked worktree: its common dir is the main repository's .git.
        let main = git2::Repository::open(repo.commondir()).ok()?;
        return main.workdir().map(Path::to_path_buf);
    }
    repo.workdir().map(Path::to_path_buf)
}

/// `path` made absolute against `cwd`, with `.` and `..` resolved lexically.
pub fn absolute(path: &Path, cwd: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        cwd.join(path)
    };
    let mut out = PathBuf::new();
    for part in joined.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_root_wins_and_is_made_absolute() {
        let cwd = Path::new("/s");
        assert_eq!(
            resolve_root(cwd, Some("rel/dir"), || None),
            PathBuf::from("/s/rel/dir")
        );
        // Verbatim: the same folder as `--root "/proj "` and spawn's value.
        assert_eq!(
            resolve_root(cwd, Some("/proj "), || None),
            PathBuf::from("/proj ")
        );
        assert_eq!(
            resolve_root(cwd, Some("/pinned"), || Some("/repo".into())),
            PathBuf::from("/pinned")
        );
    }

    #[test]
    fn blank_env_falls_through_to_git_then_cwd() {
        let cwd = Path::new("/a/b");
        assert_eq!(
            resolve_root(cwd, Some("   "), || Some("/repo/".into())),
            PathBuf::from("/repo")
        );
        assert_eq!(resolve_root(cwd, None, || None), PathBuf::from("/a/b"));
    }

    #[test]
    fn derived_paths_match_the_original_but_worktrees_have_a_project_key() {
        let p = BusPaths::new(Path::new("/home/u/repo"), Path::new("/"));
        assert_eq!(
            p.db(),
            PathBuf::from("/home/u/repo/.intercomm-aimfp/intercomm.db")
        );
        assert_eq!(
            p.worktrees_dir(),
            PathBuf::from("/home/u/.intercomm-worktrees/repo")
        );
        assert_eq!(
            p.worktree_path("worker-1"),
            PathBuf::from("/home/u/.intercomm-worktrees/repo/worker-1")
        );
        let other = BusPaths::new(Path::new("/home/u/other"), Path::new("/"));
        assert_ne!(other.worktree_path("worker-1"), p.worktree_path("worker-1"));
        let top = BusPaths::new(Path::new("/"), Path::new("/"));
        assert_eq!(
            top.worktrees_dir(),
            PathBuf::from("/.intercomm-worktrees/root")
        );
    }

    #[test]
    fn absolute_resolves_dots() {
        assert_eq!(
            absolute(Path::new("../x/./y"), Path::new("/a/b")),
            PathBuf::from("/a/x/y")
        );
    }
}
