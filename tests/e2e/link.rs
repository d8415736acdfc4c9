//! `lumina link`, `status` and `detach` as a user runs them: exit codes, output, and what
//! is (and is not) on disk afterwards.

use lumina_e2e::{Home, bin, set_mode};

const REGISTRY: &str = "\
version: 1
packages: [git, neovim, { name: fwupd, reason: \"firmware updates\" }]
links:
  ~/.bashrc: shell/bashrc                      # target: source
  ~/.config/nvim: { source: nvim, mode: tree }  # every file under nvim/, linked one by one
themes: { gtk: Adwaita-dark, icons: Papirus, cursor: Bibata-Modern-Ice, font: \"Inter 11\" }
snapshots: { keep: 10 }
";

fn profile() -> Home {
    let h = Home::new();
    h.registry(REGISTRY);
    h.source("shell/bashrc", "export EDITOR=nvim\n");
    h.source("nvim/init.lua", "require('plugins')\n");
    h.source("nvim/lua/plugins.lua", "return {}\n");
    h
}

#[test]
fn link_makes_plain_symlinks_that_work_without_lumina() {
    let h = profile();
    // Run a copy of the binary, then delete it: the links must not need it.
    let exe = h.scratch().join("lumina-copy");
    std::fs::copy(bin("lumina"), &exe).unwrap();
    let r = h.run(&exe, ["link"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("linked: 3 created"), "{}", r.stderr);
    std::fs::remove_file(&exe).unwrap();
    assert_eq!(
        std::fs::read_to_string(h.at(".bashrc")).unwrap(),
        "export EDITOR=nvim\n"
    );
    assert_eq!(
        std::fs::read_to_string(h.at(".config/nvim/lua/plugins.lua")).unwrap(),
        "return {}\n"
    );
    assert_eq!(
        std::fs::read_link(h.at(".bashrc")).unwrap(),
        h.root.canonicalize().unwrap().join("shell/bashrc")
    );
}

#[test]
fn a_bad_registry_exits_2_with_file_line_column_and_changes_nothing() {
    let h = profile();
    h.registry("version: 1\nlinks:\n  ~/.bashrc: /etc/bashrc\n");
    let before = h.snapshot();
    let r = h.lumina(["link"]);
    assert_eq!(r.code, 2);
    let file = h.root.canonicalize().unwrap().join("lumina.yaml");
    assert_eq!(
        r.stderr,
        format!(
            "error: {}:3:14: link source `/etc/bashrc` is absolute\n  |\n3 |   ~/.bashrc: /etc/bashrc\n  |              ^\n  expected: a path relative to the virtual root, e.g. `shell/bashrc`\n\nhint: move the file into `{}` and name it relative to it\n",
            file.display(),
            h.root.canonicalize().unwrap().display()
        )
    );
    assert_eq!(before, h.snapshot(), "a bad registry changed the disk");
}

#[test]
fn conflicts_exit_3_list_every_one_and_touch_nothing() {
    let h = profile();
    lumina_e2e::write(&h.at(".bashrc"), "my own bashrc\n");
    lumina_e2e::write(&h.at(".config/nvim/init.lua"), "my own init\n");
    let before = h.snapshot();
    let r = h.lumina(["link"]);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(
        r.stdout
            .contains("conflict ~/.bashrc: a file Lumina did not create is in the way"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("conflict ~/.config/nvim/init.lua"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr
            .starts_with("error: 2 conflicts; nothing was changed"),
        "{}",
        r.stderr
    );
    assert_eq!(
        before,
        h.snapshot(),
        "a run with conflicts changed the disk"
    );
    // --backup resolves them and keeps the user's files.
    let r = h.lumina(["link", "--backup", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["counts"]["backup"], 2);
    let backups: Vec<_> = std::fs::read_dir(&h.home)
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".bashrc.lumina-backup-")
        })
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(
        std::fs::read_to_string(backups[0].path()).unwrap(),
        "my own bashrc\n"
    );
}

#[test]
fn dry_run_prints_every_target_with_its_action_and_changes_nothing() {
    let h = profile();
    let before = h.snapshot();
    let r = h.lumina(["link", "--dry-run"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout,
        "create   ~/.bashrc -> shell/bashrc\ncreate   ~/.config/nvim/init.lua -> nvim/init.lua\ncreate   ~/.config/nvim/lua/plugins.lua -> nvim/lua/plugins.lua\n"
    );
    assert_eq!(before, h.snapshot());
    let r = h.lumina(["link", "--dry-run", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["dry_run"], true);
    assert_eq!(v["items"].as_array().unwrap().len(), 3);
    assert_eq!(v["items"][0]["action"], "create");
    assert_eq!(before, h.snapshot());
    // After linking, the plan says keep for everything.
    assert_eq!(h.lumina(["link"]).code, 0);
    let r = h.lumina(["link", "--dry-run"]);
    assert!(
        r.stdout.lines().all(|l| l.starts_with("keep ")),
        "{}",
        r.stdout
    );
}

#[test]
fn status_reports_each_kind_of_drift_and_exits_4() {
    let h = profile();
    h.source("vim/one", "1");
    h.source("vim/two", "2");
    h.registry(&REGISTRY.replace("links:\n", "links:\n  ~/.vimrc: vim/one\n"));
    assert_eq!(h.lumina(["link"]).code, 0);
    let r = h.lumina(["status"]);
    assert_eq!((r.code, r.stdout.as_str()), (0, ""), "{r:?}");
    assert!(r.stderr.contains("in sync: 4 links"), "{}", r.stderr);
    // broken: source deleted; orphaned: a tree file gone from the profile; missing: link
    // deleted; foreign: a user's file at a new target; stale: the source changed.
    std::fs::remove_file(h.root.join("shell/bashrc")).unwrap();
    std::fs::remove_file(h.root.join("nvim/init.lua")).unwrap();
    std::fs::remove_file(h.at(".config/nvim/lua/plugins.lua")).unwrap();
    std::fs::write(h.at(".zshrc"), "mine").unwrap();
    h.source("zsh/zshrc", "zsh");
    h.registry(&REGISTRY.replace(
        "links:\n",
        "links:\n  ~/.vimrc: vim/two\n  ~/.zshrc: zsh/zshrc\n",
    ));
    let r = h.lumina(["status", "--json"]);
    assert_eq!(r.code, 4, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let states: Vec<(String, String)> = v["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let t = d["target"]
                .as_str()
                .unwrap()
                .replace(h.home.to_str().unwrap(), "~");
            (t, d["state"].as_str().unwrap().to_owned())
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("~/.bashrc", "broken"),
        ("~/.config/nvim/init.lua", "orphaned"),
        ("~/.config/nvim/lua/plugins.lua", "missing"),
        ("~/.vimrc", "stale"),
        ("~/.zshrc", "foreign"),
    ]
    .iter()
    .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
    .collect();
    assert_eq!(states, want, "{}", r.stdout);
    assert_eq!(v["in_sync"], false);
    let r = h.lumina(["status"]);
    assert!(
        r.stdout.contains("stale    ~/.vimrc -> vim/two"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("5 out of sync"), "{}", r.stderr);
}

#[test]
fn detach_leaves_copies_that_survive_removing_the_virtual_root() {
    let h = profile();
    assert_eq!(h.lumina(["link"]).code, 0);
    let r = h.lumina(["detach", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["results"].as_array().unwrap().len(), 3);
    std::fs::remove_dir_all(&h.root).unwrap();
    assert!(
        !std::fs::symlink_metadata(h.at(".bashrc"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        std::fs::read_to_string(h.at(".bashrc")).unwrap(),
        "export EDITOR=nvim\n"
    );
    assert_eq!(
        std::fs::read_to_string(h.at(".config/nvim/init.lua")).unwrap(),
        "require('plugins')\n"
    );
}

#[test]
fn a_registry_others_can_write_is_refused_with_exit_2() {
    let h = profile();
    set_mode(&h.root.join("lumina.yaml"), 0o666);
    let before = h.snapshot();
    let r = h.lumina(["link"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("everyone can write it (mode 666)"),
        "{}",
        r.stderr
    );
    assert_eq!(before, h.snapshot());
}

#[test]
fn a_missing_virtual_root_says_how_to_make_one() {
    let h = Home::new();
    std::fs::remove_dir_all(&h.root).unwrap();
    let r = h.lumina(["status"]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("the virtual root does not exist"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("hint: create it"), "{}", r.stderr);
}
