//! `lumina-repo add` against `repo-add`, read by real pacman.
//!
//! For the same packages (200 realistic ones from `gen-dataset`, then its day-2 delta of
//! updated and new packages added on top), both tools build a repository, and:
//! - `db-diff` finds no difference in any `desc` or `files` entry of `$repo.db` and
//!   `$repo.files`, with no field ignored: `%FILENAME%` is the base name, the package files
//!   are the same (hard links), so even the sizes, checksums and `%PGPSIG%`-less entries are
//!   byte for byte repo-add's. What does differ is the archive around the entries (member
//!   order, owners, mtimes: `db-diff --archive`), which pacman does not read;
//! - `pacman-oracle` (real pacman in a throwaway root) syncs each repository, installs from
//!   it, checks the installed files and lists files (`-Fl`), and the dumps of what it printed
//!   for `-Sl`, `-Si` of every package and `-Fl` are identical.
//!
//! Needs root (pacman installs), the shared scripts (`../shared/bench`, or
//! `LUMINA_SHARED_BENCH`), `repo-add`, and apt's package lists for `gen-dataset`. Without root
//! or the scripts, the test fails under `CI=true` and is reported as not run elsewhere.

use std::path::{Path, PathBuf};
use std::process::Command;

use lumina_e2e::mounts::{run, run_ok};
use lumina_e2e::{bin, require_root};

/// The shared benchmark and oracle scripts.
fn shared_bench() -> Option<PathBuf> {
    let dir = std::env::var_os("LUMINA_SHARED_BENCH").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/bench"),
        PathBuf::from,
    );
    dir.join("pacman-oracle").is_file().then_some(dir)
}

/// Hard links of every `*.pkg.tar.zst` of `from` in `to`.
fn link_packages(from: &Path, to: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(to).unwrap();
    let mut linked = Vec::new();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".pkg.tar.zst") {
            let dst = to.join(path.file_name().unwrap());
            std::fs::hard_link(&path, &dst).unwrap();
            linked.push(dst);
        }
    }
    linked.sort();
    linked
}

/// Both repositories after one step, compared: `db-diff` on both databases, and the
/// oracle's dumps of each.
fn assert_pacman_lists_both_alike(bench: &Path, repo_add: &Path, lumina: &Path, step: &str) {
    for db in ["e2e.db", "e2e.files"] {
        let r = run(Command::new(bench.join("db-diff"))
            .arg(repo_add.join(db))
            .arg(lumina.join(db)));
        assert_eq!(r.code, 0, "{step}: db-diff {db}:\n{}{}", r.stdout, r.stderr);
    }
    let dumps = repo_add.parent().unwrap();
    let mut texts = Vec::new();
    for (name, dir) in [("repo-add", repo_add), ("lumina", lumina)] {
        let dump = dumps.join(format!("{step}-{name}.dump"));
        let r = run(Command::new(bench.join("pacman-oracle"))
            .arg("--dump")
            .arg(&dump)
            .arg(dir));
        assert_eq!(
            r.code, 0,
            "{step}: pacman-oracle on {name}'s repository:\n{}",
            r.stderr
        );
        texts.push(std::fs::read_to_string(&dump).unwrap());
    }
    assert!(
        texts[0].contains("## pacman -Si") && texts[0].contains("## pacman -Fl"),
        "{step}: the dump lacks -Si or -Fl"
    );
    if texts[0] != texts[1] {
        let first = texts[0]
            .lines()
            .zip(texts[1].lines())
            .position(|(a, b)| a != b)
            .unwrap_or(0);
        panic!(
            "{step}: pacman lists the repositories differently, from line {}:\nrepo-add: {:?}\nlumina:   {:?}",
            first + 1,
            texts[0].lines().nth(first),
            texts[1].lines().nth(first)
        );
    }
}

#[test]
fn add_builds_and_updates_databases_that_pacman_lists_like_repo_adds() {
    let test = "add_builds_and_updates_databases_that_pacman_lists_like_repo_adds";
    if !require_root(test) {
        return;
    }
    let Some(bench) = shared_bench() else {
        let message = format!(
            "{test}: the shared scripts (gen-dataset, pacman-oracle, db-diff) are not in \
             `../shared/bench`; set LUMINA_SHARED_BENCH"
        );
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("{message}; this test did not run");
        return;
    };
    let scratch = tempfile::Builder::new()
        .prefix("lumina-e2e-repo-")
        .tempdir()
        .unwrap();
    let ds = scratch.path().join("ds");
    run_ok(
        Command::new(bench.join("gen-dataset"))
            .args(["-n", "200", "-s", "7", "-o"])
            .arg(&ds),
    );
    let repo_add = scratch.path().join("repo-add");
    let lumina = scratch.path().join("lumina");

    // Day 1: a new repository.
    let pkgs = link_packages(&ds.join("day1"), &repo_add);
    let ours = link_packages(&ds.join("day1"), &lumina);
    assert_eq!(pkgs.len(), 200);
    run_ok(
        Command::new("repo-add")
            .arg("-q")
            .arg(repo_add.join("e2e.db.tar.zst"))
            .args(&pkgs),
    );
    let r = run_ok(
        Command::new(bin("lumina-repo"))
            .args(["add", "--repo", "e2e", "--repo-dir"])
            .arg(&lumina)
            .args(&ours),
    );
    assert!(
        r.stderr
            .ends_with("e2e.db.tar.zst`: 200 packages (200 added, 0 replaced)\n"),
        "{}",
        r.stderr
    );
    assert_pacman_lists_both_alike(&bench, &repo_add, &lumina, "day1");

    // Day 2: updated and new packages added to the existing databases.
    let delta = link_packages(&ds.join("delta"), &repo_add);
    let delta_ours = link_packages(&ds.join("delta"), &lumina);
    assert!(!delta.is_empty());
    run_ok(
        Command::new("repo-add")
            .arg("-q")
            .arg(repo_add.join("e2e.db.tar.zst"))
            .args(&delta),
    );
    let r = run_ok(
        Command::new(bin("lumina-repo"))
            .args(["add", "--repo", "e2e", "--repo-dir"])
            .arg(&lumina)
            .args(&delta_ours),
    );
    // "`…/e2e.db.tar.zst`: N packages (A added, R replaced)": updates replace, new ones add.
    let counts: Vec<usize> = r
        .stderr
        .rsplit_once(": ")
        .map(|(_, tail)| {
            tail.split(|c: char| !c.is_ascii_digit())
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        counts.len() == 3 && counts[2] > 0 && counts[1] + counts[2] == delta.len(),
        "{}",
        r.stderr
    );
    assert_pacman_lists_both_alike(&bench, &repo_add, &lumina, "day2");
}
