//! The merge radar: which workers change the same paths, which paths the
//! base changed under a worker since its branch point, and an order to
//! merge in (workers that overlap nobody first). Pure: [`analyse`] takes
//! what each worker changed (from git, [`crate::git::worktree_changes`], and
//! from the paths its hooks recorded) and returns the picture.
//!
//! Paths AIMFP merges itself are left out of overlaps: every worker commits
//! `.aimfp-project/project.db`, and `merge_worker_branch` never git-merges
//! it (it keeps main's and applies the branch's changeset; aimfp 1.69.0).
//! Claude Code's per-checkout `.claude/settings.local.json` is never merged.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// Path prefixes that never count as an overlap (see the module doc).
pub const MANAGED_PREFIXES: [&str; 2] = [".aimfp-project/", ".claude/settings.local.json"];

/// Whether `path` is one the radar leaves out of overlaps.
pub fn is_managed(path: &str) -> bool {
    MANAGED_PREFIXES.iter().any(|p| path.starts_with(p))
}

/// What one worker changed: the input of [`analyse`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkerChanges {
    pub worker: String,
    /// Commits on its branch that the base does not have.
    pub commits_ahead: usize,
    /// Paths it changed: committed, uncommitted, or written by its tools.
    pub files: BTreeSet<String>,
    /// Paths the base changed since the worker's branch point.
    pub base_changed: BTreeSet<String>,
}

/// One worker's line on the radar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerRadar {
    pub worker: String,
    pub commits_ahead: usize,
    /// Every path it changed, sorted.
    pub files: Vec<String>,
    /// Other workers that changed one of its paths, sorted.
    pub overlaps_with: Vec<String>,
    /// Its paths that another worker changed too, sorted.
    pub shared_paths: Vec<String>,
    /// Its paths that the base changed since its branch point, sorted.
    pub base_overlaps: Vec<String>,
}

/// A path changed by two or more workers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Overlap {
    pub path: String,
    /// The workers that changed it, sorted.
    pub workers: Vec<String>,
}

/// The whole picture.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Radar {
    /// One entry per worker, in the order given.
    pub workers: Vec<WorkerRadar>,
    /// Paths shared between workers, sorted by path.
    pub overlaps: Vec<Overlap>,
    /// Suggested merge order: workers that overlap nobody (neither another
    /// worker nor the base) first, then by how many overlapping paths they
    /// have, fewest first; ties by id. Workers with nothing to merge (no
    /// commit ahead and no changed file) are left out.
    pub merge_order: Vec<String>,
}

impl Radar {
    /// Lines for people: one per worker with changes, one per overlap, then
    /// the order. Empty when no worker changed anything.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for w in self.workers.iter().filter(|w| !w.files.is_empty()) {
            let mut line = format!(
                "{}: {} file(s) changed, {} commit(s) ahead",
                w.worker,
                w.files.len(),
                w.commits_ahead
            );
            if !w.overlaps_with.is_empty() {
                line.push_str(&format!(
                    "; overlaps {} on {}",
                    w.overlaps_with.join(", "),
                    w.shared_paths.join(", ")
                ));
            }
            if !w.base_overlaps.is_empty() {
                line.push_str(&format!(
                    "; base changed {} since its branch point",
                    w.base_overlaps.join(", ")
                ));
            }
            out.push(line);
        }
        if !self.merge_order.is_empty() {
            out.push(format!("merge order: {}", self.merge_order.join(" → ")));
        }
        out
    }
}

/// Computes overlaps and the merge order from what each worker changed.
pub fn analyse(changes: &[WorkerChanges]) -> Radar {
    let mut owners: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for c in changes {
        for f in c.files.iter().filter(|f| !is_managed(f)) {
            owners.entry(f).or_default().insert(&c.worker);
        }
    }
    let overlaps: Vec<Overlap> = owners
        .iter()
        .filter(|(_, ws)| ws.len() > 1)
        .map(|(path, ws)| Overlap {
            path: (*path).to_owned(),
            workers: ws.iter().map(|w| (*w).to_owned()).collect(),
        })
        .collect();
    let workers: Vec<WorkerRadar> = changes
        .iter()
        .map(|c| {
            let mut with = BTreeSet::new();
            let mut shared = Vec::new();
            for o in overlaps.iter().filter(|o| o.workers.contains(&c.worker)) {
                shared.push(o.path.clone());
                with.extend(o.workers.iter().filter(|w| **w != c.worker).cloned());
            }
            WorkerRadar {
                worker: c.worker.clone(),
                commits_ahead: c.commits_ahead,
                files: c.files.iter().cloned().collect(),
                overlaps_with: with.into_iter().collect(),
                shared_paths: shared,
                base_overlaps: c
                    .files
                    .intersection(&c.base_changed)
                    .filter(|f| !is_managed(f))
                    .cloned()
                    .collect(),
            }
        })
        .collect();
    let mut order: Vec<&WorkerRadar> = workers
        .iter()
        .filter(|w| w.commits_ahead > 0 || !w.files.is_empty())
        .collect();
    order.sort_by_key(|w| {
        let clashes = w.shared_paths.len() + w.base_overlaps.len();
        (clashes > 0, clashes, w.worker.clone())
    });
    Radar {
        merge_order: order.iter().map(|w| w.worker.clone()).collect(),
        workers,
        overlaps,
    }
}

#[cfg(test)]
mod tests {
    //! The logic on real repositories: a main checkout and linked worktrees
    //! made with git2, read back through [`crate::git::worktree_changes`].

    use std::path::Path;

    use git2::{Repository, Signature};

    use super::*;
    use crate::git::{Repo, worktree_changes};

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn commit(repo: &Repository, files: &[(&str, &str)], message: &str) -> TestResult {
        let root = repo.workdir().ok_or("bare")?.to_path_buf();
        let mut index = repo.index()?;
        for (path, text) in files {
            let full = root.join(path);
            if let Some(dir) = full.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(&full, text)?;
            index.add_path(Path::new(path))?;
        }
        index.write()?;
        let tree = repo.find_tree(index.write_tree()?)?;
        let sig = Signature::now("t", "t@example.com")?;
        let parents: Vec<git2::Commit<'_>> = repo
            .head()
            .ok()
            .and_then(|h| h.peel_to_commit().ok())
            .into_iter()
            .collect();
        let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
        repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)?;
        Ok(())
    }

    /// A repo on `main` with src/a.py, src/b.py, src/c.py and a project.db,
    /// and worktrees `w1`, `w2`, `w3` detached at main.
    fn fleet(dir: &Path) -> Result<Repository, Box<dyn std::error::Error>> {
        let root = dir.join("repo");
        std::fs::create_dir_all(&root)?;
        let mut opts = git2::RepositoryInitOptions::new();
        opts.initial_head("main");
        let repo = Repository::init_opts(&root, &opts)?;
        commit(
            &repo,
            &[
                ("src/a.py", "a\n"),
                ("src/b.py", "b\n"),
                ("src/c.py", "c\n"),
                (".aimfp-project/project.db", "db0"),
            ],
            "base",
        )?;
        let main = Repo::open(&root)?;
        for w in ["w1", "w2", "w3"] {
            main.add_worktree(w, &dir.join(w), "main", None)?;
        }
        Ok(repo)
    }

    fn changes_of(dir: &Path, w: &str) -> Result<WorkerChanges, Box<dyn std::error::Error>> {
        let c = worktree_changes(&dir.join(w), "main")?;
        Ok(WorkerChanges {
            worker: w.to_owned(),
            commits_ahead: c.commits_ahead,
            files: c.files,
            base_changed: c.base_changed,
        })
    }

    #[test]
    fn two_workers_on_one_path_overlap_and_merge_last() -> TestResult {
        let dir = tempfile::tempdir()?;
        fleet(dir.path())?;
        // w1 commits src/a.py and the db; w2 commits src/b.py and the db and
        // then edits src/a.py without committing; w3 commits src/c.py.
        let w1 = Repository::open(dir.path().join("w1"))?;
        commit(
            &w1,
            &[("src/a.py", "a1\n"), (".aimfp-project/project.db", "db1")],
            "w1",
        )?;
        let w2 = Repository::open(dir.path().join("w2"))?;
        commit(
            &w2,
            &[("src/b.py", "b2\n"), (".aimfp-project/project.db", "db2")],
            "w2",
        )?;
        commit(&w2, &[("src/new.py", "n\n")], "w2 again")?;
        std::fs::write(dir.path().join("w2/src/a.py"), "a2\n")?;
        let w3 = Repository::open(dir.path().join("w3"))?;
        commit(&w3, &[("src/c.py", "c3\n")], "w3")?;

        let changes = ["w1", "w2", "w3"]
            .iter()
            .map(|w| changes_of(dir.path(), w))
            .collect::<Result<Vec<_>, _>>()?;
        assert_eq!(changes[1].commits_ahead, 2);
        assert_eq!(
            changes[1]
                .files
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            [
                ".aimfp-project/project.db",
                "src/a.py",
                "src/b.py",
                "src/new.py"
            ]
        );
        let radar = analyse(&changes);
        assert_eq!(
            radar.overlaps,
            [Overlap {
                path: "src/a.py".into(),
                workers: vec!["w1".into(), "w2".into()],
            }],
            "project.db, changed by both, is not an overlap"
        );
        assert_eq!(radar.workers[0].overlaps_with, ["w2"]);
        assert_eq!(radar.workers[1].shared_paths, ["src/a.py"]);
        assert!(radar.workers[2].overlaps_with.is_empty());
        assert_eq!(radar.merge_order, ["w3", "w1", "w2"]);
        Ok(())
    }

    #[test]
    fn a_path_the_base_changed_since_the_branch_point_is_reported() -> TestResult {
        let dir = tempfile::tempdir()?;
        let main = fleet(dir.path())?;
        let w1 = Repository::open(dir.path().join("w1"))?;
        commit(&w1, &[("src/a.py", "a1\n")], "w1")?;
        let w2 = Repository::open(dir.path().join("w2"))?;
        commit(&w2, &[("src/b.py", "b2\n")], "w2")?;
        // main moves on: src/a.py and src/c.py change after the branch point.
        commit(
            &main,
            &[("src/a.py", "main\n"), ("src/c.py", "main\n")],
            "main",
        )?;

        let changes = vec![changes_of(dir.path(), "w1")?, changes_of(dir.path(), "w2")?];
        assert_eq!(
            changes[0]
                .base_changed
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["src/a.py", "src/c.py"]
        );
        let radar = analyse(&changes);
        assert!(radar.overlaps.is_empty());
        assert_eq!(radar.workers[0].base_overlaps, ["src/a.py"]);
        assert!(radar.workers[1].base_overlaps.is_empty());
        assert_eq!(radar.merge_order, ["w2", "w1"]);
        assert!(radar.lines()[0].contains("base changed src/a.py"));
        Ok(())
    }

    #[test]
    fn an_untouched_worktree_has_nothing_to_merge() -> TestResult {
        let dir = tempfile::tempdir()?;
        fleet(dir.path())?;
        let c = changes_of(dir.path(), "w3")?;
        assert_eq!(c.commits_ahead, 0);
        assert!(c.files.is_empty() && c.base_changed.is_empty());
        let radar = analyse(&[c]);
        assert!(radar.merge_order.is_empty());
        assert!(radar.lines().is_empty());
        Ok(())
    }

    #[test]
    fn order_puts_fewer_clashes_first_and_breaks_ties_by_id() {
        let w = |id: &str, files: &[&str]| WorkerChanges {
            worker: id.into(),
            commits_ahead: 1,
            files: files.iter().map(|f| (*f).to_owned()).collect(),
            base_changed: BTreeSet::new(),
        };
        let radar = analyse(&[
            w("w4", &["x", "y"]),
            w("w2", &["x", "y", "z"]),
            w("w3", &["z"]),
            w("w1", &["q"]),
        ]);
        // w1 clashes with nobody; w3 shares z; w4 shares x, y; w2 x, y, z.
        assert_eq!(radar.merge_order, ["w1", "w3", "w4", "w2"]);
        assert_eq!(radar.workers[1].overlaps_with, ["w3", "w4"]);
    }
}
