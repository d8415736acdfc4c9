//! The linker against a real temporary filesystem: every behaviour a user relies on, and
//! crash safety with a failure injected after every single filesystem step.

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use lumina_core::fs::Fs;
use lumina_core::link::plan::Adopt;
use lumina_core::link::{self, Action, Conflict, OnConflict, Plan, Record};
use lumina_core::paths::Context;
use lumina_core::registry;

const STAMP: &str = "20260101T000000Z";

/// A throwaway home with a virtual root inside it.
struct Sandbox {
    _dir: tempfile::TempDir,
    ctx: Context,
}

impl Sandbox {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().canonicalize().unwrap().join("home");
        let root = home.join(".lumina");
        std::fs::create_dir_all(&root).unwrap();
        Self {
            _dir: dir,
            ctx: Context {
                user_home: home,
                lumina_home: root,
            },
        }
    }

    fn home(&self, rel: &str) -> PathBuf {
        self.ctx.user_home.join(rel)
    }

    fn root(&self, rel: &str) -> PathBuf {
        self.ctx.lumina_home.join(rel)
    }

    fn registry(&self, links: &str) {
        let text = format!("version: 1\nlinks:\n{links}");
        std::fs::write(self.root("lumina.yaml"), text).unwrap();
    }

    fn source(&self, rel: &str, content: &str) {
        write(&self.root(rel), content);
    }

    fn prepare(&self, on: OnConflict) -> link::Prepared {
        let reg = registry::load(&self.root("lumina.yaml"), &self.ctx).unwrap();
        link::prepare(&reg, &self.ctx, on, STAMP).unwrap()
    }

    /// Plan and apply; panics on conflicts.
    fn link(&self, on: OnConflict) -> Plan {
        self.link_with(on, &Fs::new()).unwrap()
    }

    fn link_with(&self, on: OnConflict, fs: &Fs) -> lumina_core::error::Result<Plan> {
        let p = self.prepare(on);
        let conflicts: Vec<_> = p.plan.conflicts().collect();
        assert!(conflicts.is_empty(), "unexpected conflicts: {conflicts:?}");
        link::apply::apply(&p.plan, &p.record, &self.ctx.lumina_home, fs)?;
        Ok(p.plan)
    }

    fn actions(&self, on: OnConflict) -> BTreeMap<String, Action> {
        self.prepare(on)
            .plan
            .items
            .into_iter()
            .map(|i| (self.ctx.display(&i.target), i.action))
            .collect()
    }
}

fn write(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

fn link_text(p: &Path) -> Option<PathBuf> {
    std::fs::read_link(p).ok()
}

fn all_keep(plan: &Plan) -> bool {
    plan.items.iter().all(|i| i.action == Action::Keep)
}

/// Every file below `dir` whose name contains `needle`.
fn find(dir: &Path, needle: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if e.file_name().to_string_lossy().contains(needle) {
            out.push(p.clone());
        }
        if e.file_type().unwrap().is_dir() {
            out.extend(find(&p, needle));
        }
    }
    out
}

#[test]
fn links_files_and_trees_with_plain_absolute_symlinks() {
    let s = Sandbox::new();
    s.source("shell/bashrc", "export A=1\n");
    s.source("nvim/init.lua", "init\n");
    s.source("nvim/lua/plugins.lua", "plugins\n");
    s.registry("  ~/.bashrc: shell/bashrc\n  ~/.config/nvim: { source: nvim, mode: tree }\n");
    s.link(OnConflict::Refuse);
    assert_eq!(link_text(&s.home(".bashrc")), Some(s.root("shell/bashrc")));
    assert_eq!(
        link_text(&s.home(".config/nvim/lua/plugins.lua")),
        Some(s.root("nvim/lua/plugins.lua"))
    );
    // Tree mode makes real directories, not a link to the whole directory.
    let m = std::fs::symlink_metadata(s.home(".config/nvim")).unwrap();
    assert!(m.is_dir() && !m.file_type().is_symlink());
    assert_eq!(
        std::fs::read_to_string(s.home(".config/nvim/init.lua")).unwrap(),
        "init\n"
    );
}

#[test]
fn a_second_run_touches_nothing_and_does_not_rewrite_the_record() {
    let s = Sandbox::new();
    for i in 0..20 {
        s.source(&format!("tree/d{}/f{i}", i % 4), "x");
    }
    s.source("a", "a");
    s.registry("  ~/.a: a\n  ~/.t: { source: tree, mode: tree }\n");
    s.link(OnConflict::Refuse);
    let snap = |p: &Path| {
        let m = std::fs::symlink_metadata(p).unwrap();
        (m.ino(), m.mtime(), m.mtime_nsec(), m.ctime_nsec())
    };
    let targets: Vec<PathBuf> = find(&s.home(".t"), "f")
        .into_iter()
        .chain([s.home(".a")])
        .collect();
    assert_eq!(targets.len(), 21);
    let before: Vec<_> = targets.iter().map(|t| snap(t)).collect();
    let record_before = snap(&s.root(".state/links.json"));
    std::thread::sleep(std::time::Duration::from_millis(20));
    let plan = s.link(OnConflict::Refuse);
    assert!(all_keep(&plan), "{plan:?}");
    assert!(plan.is_noop());
    let after: Vec<_> = targets.iter().map(|t| snap(t)).collect();
    assert_eq!(before, after, "a no-op run changed a link's inode or mtime");
    assert_eq!(
        record_before,
        snap(&s.root(".state/links.json")),
        "the record was rewritten"
    );
}

#[test]
fn a_stale_link_lumina_made_is_replaced_atomically() {
    let s = Sandbox::new();
    s.source("one", "1");
    s.source("two", "2");
    s.registry("  ~/.x: one\n");
    s.link(OnConflict::Refuse);
    s.registry("  ~/.x: two\n");
    let acts = s.actions(OnConflict::Refuse);
    assert_eq!(
        acts["~/.x"],
        Action::Replace {
            from: s.root("one")
        }
    );
    s.link(OnConflict::Refuse);
    assert_eq!(std::fs::read_to_string(s.home(".x")).unwrap(), "2");
    assert!(find(&s.ctx.user_home, ".lumina-new").is_empty());
}

#[test]
fn undeclared_links_are_removed_only_while_they_are_still_lumina_s() {
    let s = Sandbox::new();
    for f in ["a", "b", "c", "d"] {
        s.source(f, f);
    }
    s.registry("  ~/.a: a\n  ~/.b: b\n  ~/.c: c\n  ~/.d: d\n");
    s.link(OnConflict::Refuse);
    // The user replaces ~/.c with their own file and repoints ~/.d elsewhere.
    std::fs::remove_file(s.home(".c")).unwrap();
    std::fs::write(s.home(".c"), "mine").unwrap();
    std::fs::remove_file(s.home(".d")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", s.home(".d")).unwrap();
    s.registry("  ~/.a: a\n");
    let acts = s.actions(OnConflict::Refuse);
    assert_eq!(acts["~/.b"], Action::Remove);
    assert_eq!(acts["~/.c"], Action::Forget);
    assert_eq!(acts["~/.d"], Action::Forget);
    s.link(OnConflict::Refuse);
    assert!(std::fs::symlink_metadata(s.home(".b")).is_err());
    assert_eq!(std::fs::read_to_string(s.home(".c")).unwrap(), "mine");
    assert_eq!(
        link_text(&s.home(".d")),
        Some(PathBuf::from("/etc/hostname"))
    );
    assert_eq!(Record::load(&s.ctx.lumina_home).unwrap().links.len(), 1);
    // Forgotten targets are never touched again.
    assert!(all_keep(&s.link(OnConflict::Refuse)));
}

#[test]
fn anything_else_in_the_way_is_a_conflict() {
    let s = Sandbox::new();
    for f in ["f", "d", "l", "ok"] {
        s.source(f, f);
    }
    std::fs::create_dir_all(&s.ctx.user_home).unwrap();
    std::fs::write(s.home(".f"), "user file").unwrap();
    std::fs::create_dir(s.home(".d")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", s.home(".l")).unwrap();
    s.registry("  ~/.f: f\n  ~/.d: d\n  ~/.l: l\n  ~/.ok: ok\n  ~/.missing: nosuch\n");
    let acts = s.actions(OnConflict::Refuse);
    assert_eq!(
        acts["~/.f"],
        Action::Conflict {
            conflict: Conflict::File
        }
    );
    assert_eq!(
        acts["~/.d"],
        Action::Conflict {
            conflict: Conflict::Dir
        }
    );
    assert_eq!(
        acts["~/.l"],
        Action::Conflict {
            conflict: Conflict::ForeignLink {
                points_to: "/etc/hostname".into()
            }
        }
    );
    assert_eq!(
        acts["~/.missing"],
        Action::Conflict {
            conflict: Conflict::SourceMissing
        }
    );
    assert_eq!(acts["~/.ok"], Action::Create);
}

#[test]
fn backup_moves_what_is_in_the_way_aside_then_links() {
    let s = Sandbox::new();
    s.source("f", "new");
    s.source("d", "new dir source");
    write(&s.home(".f"), "old file");
    write(&s.home(".d/inner"), "old dir");
    s.registry("  ~/.f: f\n  ~/.d: d\n");
    s.link(OnConflict::Backup);
    let bf = s.home(&format!(".f.lumina-backup-{STAMP}"));
    let bd = s.home(&format!(".d.lumina-backup-{STAMP}"));
    assert_eq!(std::fs::read_to_string(bf).unwrap(), "old file");
    assert_eq!(
        std::fs::read_to_string(bd.join("inner")).unwrap(),
        "old dir"
    );
    assert_eq!(std::fs::read_to_string(s.home(".f")).unwrap(), "new");
}

#[test]
fn adopt_moves_a_file_into_the_virtual_root_and_refuses_other_content() {
    let s = Sandbox::new();
    write(&s.home(".gitconfig"), "[user]\n");
    write(&s.home(".config/app"), "same");
    s.source("app", "same");
    write(&s.home(".vimrc"), "theirs");
    s.source("vimrc", "ours");
    write(&s.home(".config/dir/x"), "x");
    s.registry(
        "  ~/.gitconfig: git/config\n  ~/.config/app: app\n  ~/.vimrc: vimrc\n  ~/.config/dir: dir\n",
    );
    let acts = s.actions(OnConflict::Adopt);
    assert_eq!(acts["~/.gitconfig"], Action::Adopt { how: Adopt::File });
    assert_eq!(acts["~/.config/app"], Action::Adopt { how: Adopt::Same });
    assert_eq!(
        acts["~/.vimrc"],
        Action::Conflict {
            conflict: Conflict::SourceDiffers
        }
    );
    assert_eq!(acts["~/.config/dir"], Action::Adopt { how: Adopt::Dir });
    s.registry("  ~/.gitconfig: git/config\n  ~/.config/app: app\n  ~/.config/dir: dir\n");
    s.link(OnConflict::Adopt);
    assert_eq!(
        std::fs::read_to_string(s.root("git/config")).unwrap(),
        "[user]\n"
    );
    assert_eq!(link_text(&s.home(".gitconfig")), Some(s.root("git/config")));
    assert_eq!(link_text(&s.home(".config/app")), Some(s.root("app")));
    assert_eq!(std::fs::read_to_string(s.root("dir/x")).unwrap(), "x");
    assert_eq!(link_text(&s.home(".config/dir")), Some(s.root("dir")));
    assert_eq!(std::fs::read_to_string(s.home(".vimrc")).unwrap(), "theirs");
}

#[test]
fn a_target_that_is_its_own_source_is_refused_in_every_mode() {
    let s = Sandbox::new();
    s.source("nvim/init.lua", "init");
    s.source("hard", "h");
    std::fs::create_dir_all(s.home(".config")).unwrap();
    // The user linked the whole directory by hand: tree targets resolve into the sources.
    std::os::unix::fs::symlink(s.root("nvim"), s.home(".config/nvim")).unwrap();
    // A hard link of the source at the target is the same inode.
    std::fs::hard_link(s.root("hard"), s.home(".hard")).unwrap();
    s.registry("  ~/.config/nvim: { source: nvim, mode: tree }\n  ~/.hard: hard\n");
    for on in [OnConflict::Refuse, OnConflict::Backup, OnConflict::Adopt] {
        let acts = s.actions(on);
        assert_eq!(
            acts["~/.config/nvim/init.lua"],
            Action::Conflict {
                conflict: Conflict::ParentInRoot
            }
        );
        assert_eq!(
            acts["~/.hard"],
            Action::Conflict {
                conflict: Conflict::SelfSource
            }
        );
    }
    assert_eq!(
        std::fs::read_to_string(s.root("nvim/init.lua")).unwrap(),
        "init"
    );
}

#[test]
fn switching_a_directory_link_to_tree_mode_replaces_it_with_real_directories() {
    let s = Sandbox::new();
    s.source("nvim/init.lua", "init");
    s.registry("  ~/.config/nvim: nvim\n");
    s.link(OnConflict::Refuse);
    assert_eq!(link_text(&s.home(".config/nvim")), Some(s.root("nvim")));
    s.registry("  ~/.config/nvim: { source: nvim, mode: tree }\n");
    s.link(OnConflict::Refuse);
    assert!(
        std::fs::symlink_metadata(s.home(".config/nvim"))
            .unwrap()
            .is_dir()
    );
    assert_eq!(
        link_text(&s.home(".config/nvim/init.lua")),
        Some(s.root("nvim/init.lua"))
    );
    // Nothing was created inside the virtual root by following the old link.
    assert!(
        std::fs::symlink_metadata(s.root("nvim/init.lua"))
            .unwrap()
            .is_file()
    );
}

#[test]
fn two_entries_that_produce_the_same_target_are_a_conflict() {
    let s = Sandbox::new();
    s.source("tree/x", "x");
    s.source("other", "o");
    s.registry("  ~/.t: { source: tree, mode: tree }\n  ~/.t/x: other\n");
    let acts = s.actions(OnConflict::Refuse);
    assert_eq!(
        acts["~/.t/x"],
        Action::Conflict {
            conflict: Conflict::Collision {
                with: "~/.t".into()
            }
        }
    );
}

#[test]
fn detach_replaces_links_with_copies_and_forgets_them() {
    let s = Sandbox::new();
    s.source("f", "file");
    s.source("d/inner", "dir");
    s.registry("  ~/.f: f\n  ~/.d: d\n");
    s.link(OnConflict::Refuse);
    link::detach::detach(&s.ctx.lumina_home, &Fs::new()).unwrap();
    // The virtual root can go: the copies stand alone.
    std::fs::remove_dir_all(&s.ctx.lumina_home).unwrap();
    assert_eq!(std::fs::read_to_string(s.home(".f")).unwrap(), "file");
    assert!(
        !std::fs::symlink_metadata(s.home(".d"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(s.home(".d/inner")).unwrap(), "dir");
    assert!(find(&s.ctx.user_home, ".lumina-").is_empty());
}

#[test]
fn a_corrupt_record_is_an_error_not_a_reset() {
    let s = Sandbox::new();
    s.source("f", "f");
    s.registry("  ~/.f: f\n");
    s.link(OnConflict::Refuse);
    std::fs::write(s.root(".state/links.json"), "{ not json").unwrap();
    let reg = registry::load(&s.root("lumina.yaml"), &s.ctx).unwrap();
    let err = link::prepare(&reg, &s.ctx, OnConflict::Refuse, STAMP).unwrap_err();
    assert!(matches!(err, lumina_core::Error::Record { .. }), "{err}");
}

#[test]
fn a_virtual_root_or_registry_others_can_write_is_refused() {
    let s = Sandbox::new();
    s.registry("");
    lumina_core::perm::check_home(&s.ctx.lumina_home).unwrap();
    let set = |p: &Path, mode| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap()
    };
    set(&s.root("lumina.yaml"), 0o664);
    let err = lumina_core::perm::check_home(&s.ctx.lumina_home)
        .unwrap_err()
        .to_string();
    assert!(err.contains("its group can write it"), "{err}");
    set(&s.root("lumina.yaml"), 0o644);
    set(&s.ctx.lumina_home, 0o777);
    let err = lumina_core::perm::check_home(&s.ctx.lumina_home)
        .unwrap_err()
        .to_string();
    assert!(err.contains("everyone can write it"), "{err}");
}

// ---- crash safety -------------------------------------------------------------------------

/// The state before the interrupted run: a first run made `~/.stale` and `~/.gone`; then the
/// registry changed so that the next run must create, replace, remove, back up a file and
/// a directory, and adopt a file.
fn crash_scenario() -> Sandbox {
    let s = Sandbox::new();
    for f in ["old", "new", "gone", "bk", "bkdir/inner", "t/a", "t/b/c"] {
        s.source(f, &format!("source {f}"));
    }
    s.registry("  ~/.stale: old\n  ~/.gone: gone\n");
    s.link(OnConflict::Refuse);
    write(&s.home(".bk"), "user file");
    write(&s.home(".bkdir/inner"), "user dir");
    write(&s.home(".adopt"), "adopt me");
    s.registry(
        "  ~/.stale: new\n  ~/.fresh: new\n  ~/.bk: bk\n  ~/.bkdir: bkdir\n  ~/.t: { source: t, mode: tree }\n",
    );
    s
}

fn crash_scenario_adopt(s: &Sandbox) {
    s.registry(
        "  ~/.stale: new\n  ~/.fresh: new\n  ~/.bk: bk\n  ~/.bkdir: bkdir\n  ~/.t: { source: t, mode: tree }\n  ~/.adopt: adopted\n",
    );
}

/// User data that must exist somewhere at every moment: (content, places it may be).
fn user_data_is_somewhere(s: &Sandbox) {
    let somewhere = |content: &str, places: &[PathBuf]| {
        let hits = places
            .iter()
            .filter(|p| std::fs::read_to_string(p).is_ok_and(|c| c == content))
            .count();
        assert!(hits >= 1, "`{content}` is lost; looked in {places:?}");
    };
    let bk = |name: &str| {
        let mut v = vec![s.home(name), s.home(&format!("{name}.lumina-new"))];
        v.extend(find(&s.ctx.user_home, &format!("{name}.lumina-backup")));
        v
    };
    somewhere("user file", &bk(".bk"));
    let dirs: Vec<PathBuf> = bk(".bkdir").into_iter().map(|p| p.join("inner")).collect();
    somewhere("user dir", &dirs);
    somewhere("adopt me", &[s.home(".adopt"), s.root("adopted")]);
}

/// Targets that existed before the run must exist at every moment (old or new).
fn no_target_missing(s: &Sandbox) {
    for t in [".stale", ".bk", ".bkdir", ".adopt"] {
        assert!(
            std::fs::symlink_metadata(s.home(t)).is_ok(),
            "`~/{t}` is missing mid-run"
        );
    }
}

fn converged(s: &Sandbox) {
    let plan = s.prepare(OnConflict::Refuse).plan;
    assert!(all_keep(&plan), "did not converge: {plan:#?}");
    assert_eq!(
        std::fs::read_to_string(s.home(".stale")).unwrap(),
        "source new"
    );
    assert_eq!(
        std::fs::read_to_string(s.home(".t/b/c")).unwrap(),
        "source t/b/c"
    );
    assert!(std::fs::symlink_metadata(s.home(".gone")).is_err());
    let backups = find(&s.ctx.user_home, ".bk.lumina-backup");
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(std::fs::read_to_string(&backups[0]).unwrap(), "user file");
    let dir_backups = find(&s.ctx.user_home, ".bkdir.lumina-backup");
    assert_eq!(dir_backups.len(), 1, "{dir_backups:?}");
    assert_eq!(
        std::fs::read_to_string(dir_backups[0].join("inner")).unwrap(),
        "user dir"
    );
    assert!(
        find(&s.ctx.user_home, ".lumina-new").is_empty(),
        "temporary links left behind"
    );
    assert!(
        find(&s.ctx.user_home, ".lumina-tmp").is_empty(),
        "temporary files left behind"
    );
}

#[test]
fn a_crash_after_any_step_of_a_backup_run_converges_on_the_next_run() {
    let mut n = 1;
    loop {
        let s = crash_scenario();
        match s.link_with(OnConflict::Backup, &Fs::failing_after(n)) {
            Ok(_) => break,
            Err(lumina_core::Error::Injected { .. }) => {}
            Err(e) => panic!("step {n}: real error {e}"),
        }
        no_target_missing(&s);
        user_data_is_somewhere(&s);
        // The user runs the same command again: it must finish what the crash interrupted.
        s.link(OnConflict::Backup);
        user_data_is_somewhere(&s);
        converged(&s);
        n += 1;
    }
    assert!(
        n > 20,
        "the scenario has too few steps to mean anything ({n})"
    );
}

#[test]
fn a_crash_after_any_step_of_an_adopt_run_converges_on_the_next_run() {
    let mut n = 1;
    loop {
        let s = crash_scenario();
        // The backups are made first by a normal run; the crash hits the adoption run.
        s.link(OnConflict::Backup);
        crash_scenario_adopt(&s);
        match s.link_with(OnConflict::Adopt, &Fs::failing_after(n)) {
            Ok(_) => break,
            Err(lumina_core::Error::Injected { .. }) => {}
            Err(e) => panic!("step {n}: real error {e}"),
        }
        no_target_missing(&s);
        user_data_is_somewhere(&s);
        s.link(OnConflict::Adopt);
        converged(&s);
        assert_eq!(
            std::fs::read_to_string(s.home(".adopt")).unwrap(),
            "adopt me"
        );
        assert_eq!(link_text(&s.home(".adopt")), Some(s.root("adopted")));
        n += 1;
    }
    assert!(n > 5, "too few steps ({n})");
}

#[test]
fn a_crash_after_any_step_of_detach_loses_nothing_and_a_rerun_finishes() {
    let mut n = 1;
    loop {
        let s = Sandbox::new();
        s.source("f", "file");
        s.source("d/inner", "dir");
        s.registry("  ~/.f: f\n  ~/.d: d\n");
        s.link(OnConflict::Refuse);
        match link::detach::detach(&s.ctx.lumina_home, &Fs::failing_after(n)) {
            Ok(_) => break,
            Err(lumina_core::Error::Injected { .. }) => {}
            Err(e) => panic!("step {n}: real error {e}"),
        }
        assert_eq!(std::fs::read_to_string(s.home(".f")).unwrap(), "file");
        assert_eq!(std::fs::read_to_string(s.home(".d/inner")).unwrap(), "dir");
        link::detach::detach(&s.ctx.lumina_home, &Fs::new()).unwrap();
        std::fs::remove_dir_all(&s.ctx.lumina_home).unwrap();
        assert_eq!(std::fs::read_to_string(s.home(".f")).unwrap(), "file");
        assert_eq!(std::fs::read_to_string(s.home(".d/inner")).unwrap(), "dir");
        assert!(
            find(&s.ctx.user_home, ".lumina-").is_empty(),
            "leftovers at step {n}"
        );
        n += 1;
    }
    assert!(n > 4, "too few steps ({n})");
}
