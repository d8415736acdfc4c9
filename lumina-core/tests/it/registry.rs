//! Registry fixtures: good files parse, bad files give their exact diagnostics.
//!
//! Adding a case means adding a file: `tests/fixtures/registry/bad/NAME.yaml` gets its rendered
//! diagnostic snapshotted as `snapshots/it__registry__bad@NAME.yaml.snap` (the input is the
//! snapshot's description); `good/NAME.yaml` must parse, and its parsed form is snapshotted as
//! JSON. Generate or review snapshots with `INSTA_UPDATE=always cargo test -p lumina-core --test
//! it registry`, then read every changed `.snap`.

use std::path::{Path, PathBuf};

use lumina_core::paths::Context;
use lumina_core::registry::{self, Diagnostic, LinkMode, MinFree, Registry};
use rstest::rstest;

const BAD_DIR: &str = "tests/fixtures/registry/bad";
const SNAPSHOT_DIR: &str = "tests/it/snapshots";

fn ctx() -> Context {
    Context {
        user_home: "/home/ana".into(),
        lumina_home: "/home/ana/.lumina".into(),
    }
}

/// The fixture's text and its file name (the name, not the path, so snapshots are stable).
fn read(path: &Path) -> (String, String) {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read fixture `{}`: {e}", path.display()));
    (text, name)
}

fn parse_ok(text: &str, name: &str) -> Registry {
    registry::parse(text, Path::new(name), &ctx())
        .unwrap_or_else(|d| panic!("`{name}` should parse, got:\n{d}"))
}

fn parse_fixture(name: &str) -> Registry {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/registry/good")
        .join(name);
    let (text, name) = read(&path);
    parse_ok(&text, &name)
}

/// Every bad fixture fails with a positioned diagnostic that says what was expected and how to
/// fix it; the rendered text is snapshotted.
#[rstest]
fn bad(#[files("tests/fixtures/registry/bad/*.yaml")] path: PathBuf) {
    let (text, name) = read(&path);
    let diag: Box<Diagnostic> = match registry::parse(&text, Path::new(&name), &ctx()) {
        Ok(reg) => panic!("`{name}` should be rejected, but parsed as {reg:#?}"),
        Err(d) => d,
    };
    let rendered = format!("{diag}");

    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_suffix(name.as_str());
    settings.set_description(text.as_str());
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(rendered));

    let pos = diag
        .pos
        .unwrap_or_else(|| panic!("`{name}`: the diagnostic has no position:\n{rendered}"));
    assert!(pos.line >= 1 && pos.column >= 1, "`{name}`: {pos:?}");
    let head = format!("{name}:{}:{}: ", pos.line, pos.column);
    assert!(
        rendered.starts_with(&head),
        "`{name}`: the diagnostic should start with `{head}`:\n{rendered}"
    );
    assert!(
        diag.line_text.is_some() || text.is_empty(),
        "`{name}`: the diagnostic shows no source line:\n{rendered}"
    );
    assert!(
        diag.hint.is_some(),
        "`{name}`: the diagnostic should give a hint:\n{rendered}"
    );
    // A YAML syntax error may not know what was expected there; every other error does.
    assert!(
        diag.expected.is_some() || diag.message.starts_with("invalid YAML: "),
        "`{name}`: the diagnostic should say what was expected:\n{rendered}"
    );
    // uv style: one lowercase sentence without a trailing period.
    assert!(
        !diag.message.ends_with('.') && !diag.message.starts_with(char::is_uppercase),
        "`{name}`: message style: {:?}",
        diag.message
    );
}

/// Every good fixture parses; its parsed form (JSON, as `lumina` would use it) is snapshotted.
#[rstest]
fn good(#[files("tests/fixtures/registry/good/*.yaml")] path: PathBuf) {
    let (text, name) = read(&path);
    let reg = parse_ok(&text, &name);
    assert_eq!(reg.version, registry::VERSION);
    for l in &reg.links {
        assert!(
            l.target.is_absolute() && l.source.is_relative(),
            "`{name}`: {l:?}"
        );
    }
    let json = serde_json::to_string_pretty(&reg).unwrap_or_default();

    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_suffix(name.as_str());
    settings.set_description(text.as_str());
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(json));
}

#[test]
fn example_from_the_docs() {
    let reg = parse_fixture("example.yaml");

    let names: Vec<&str> = reg.packages.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["git", "neovim", "fwupd"]);
    assert_eq!(reg.packages[0].reason, None);
    assert_eq!(reg.packages[2].reason.as_deref(), Some("firmware updates"));
    assert_eq!(reg.packages[2].pos.line, 2);

    assert_eq!(reg.links.len(), 2);
    let bashrc = &reg.links[0];
    assert_eq!(bashrc.target, Path::new("/home/ana/.bashrc"));
    assert_eq!(bashrc.written, "~/.bashrc");
    assert_eq!(bashrc.source, Path::new("shell/bashrc"));
    assert_eq!(bashrc.mode, LinkMode::File);
    assert_eq!((bashrc.pos.line, bashrc.pos.column), (4, 3));
    let nvim = &reg.links[1];
    assert_eq!(nvim.target, Path::new("/home/ana/.config/nvim"));
    assert_eq!(nvim.source, Path::new("nvim"));
    assert_eq!(nvim.mode, LinkMode::Tree);

    assert_eq!(reg.themes.gtk.as_deref(), Some("Adwaita-dark"));
    assert_eq!(reg.themes.icons.as_deref(), Some("Papirus"));
    assert_eq!(reg.themes.cursor.as_deref(), Some("Bibata-Modern-Ice"));
    assert_eq!(reg.themes.cursor_size, None);
    assert_eq!(reg.themes.font.as_deref(), Some("Inter 11"));

    assert_eq!(reg.snapshots.keep, Some(10));
    assert!(reg.snapshots.important.is_empty());
    assert_eq!(reg.snapshots.min_free, None);
}

#[test]
fn every_key() {
    let reg = parse_fixture("every-key.yaml");

    let fwupd = reg.packages.iter().find(|p| p.name == "fwupd");
    assert_eq!(
        fwupd.and_then(|p| p.reason.as_deref()),
        Some("firmware updates")
    );
    assert!(reg.packages.iter().any(|p| p.name == "@scope+pkg_1.0"));

    let link = |target: &str| {
        reg.links
            .iter()
            .find(|l| l.target == Path::new(target))
            .unwrap_or_else(|| panic!("no link for `{target}`"))
    };
    assert_eq!(link("/home/ana/.config/git/config").mode, LinkMode::File);
    // A trailing slash on the source is dropped; `mode: tree` is kept.
    let nvim = link("/home/ana/.config/nvim");
    assert_eq!(nvim.source, Path::new("nvim"));
    assert_eq!(nvim.mode, LinkMode::Tree);
    // A link nested inside a `mode: tree` target is allowed.
    assert_eq!(
        link("/home/ana/.config/nvim/lua/local.lua").source,
        Path::new("nvim-local/local.lua")
    );
    // Absolute targets are kept as written; `~/` expands to the user's home.
    assert_eq!(
        link("/etc/pacman.d/hooks/50-notify.hook").written,
        "/etc/pacman.d/hooks/50-notify.hook"
    );
    assert_eq!(
        link("/home/ana/.config/Code/User/settings.json").written,
        "~/.config/Code/User/settings.json"
    );
    // `.gitignore` is not the reserved `.git`.
    assert_eq!(
        link("/home/ana/.local/share/.gitignore-global").source,
        Path::new("git/.gitignore")
    );

    assert_eq!(reg.themes.cursor_size, Some(24));
    assert_eq!(reg.themes.font.as_deref(), Some("JetBrains Mono 10.5"));
    assert_eq!(reg.themes.icons.as_deref(), Some("Papirus-Dark"));

    assert_eq!(reg.snapshots.keep, Some(20));
    assert_eq!(
        reg.snapshots.important,
        ["linux*", "systemd", "glibc", "lib32-[a-z]*", "nvidia-???"]
    );
    assert_eq!(reg.snapshots.min_free, Some(MinFree::Bytes(5 << 30)));
}

#[test]
fn empty_sections_and_percent() {
    let reg = parse_fixture("empty-sections.yaml");
    assert!(reg.packages.is_empty());
    assert!(reg.links.is_empty());
    assert!(reg.themes.gtk.is_none());
    assert_eq!(reg.snapshots.min_free, Some(MinFree::Percent(10)));
}

#[test]
fn aliases_and_trailing_slash() {
    let reg = parse_fixture("yaml-features.yaml");
    let sources: Vec<(&Path, &Path)> = reg
        .links
        .iter()
        .map(|l| (l.target.as_path(), l.source.as_path()))
        .collect();
    assert_eq!(
        sources,
        [
            (Path::new("/home/ana/.vimrc"), Path::new("vim/vimrc")),
            (
                Path::new("/home/ana/.config/vim/vimrc"),
                Path::new("vim/vimrc")
            ),
            (Path::new("/home/ana/.config/ghostty"), Path::new("ghostty")),
        ]
    );
    assert_eq!(reg.themes.font.as_deref(), Some("Noto Sans 12"));
}

/// Renaming or removing a fixture must not leave its snapshot behind.
#[test]
fn every_snapshot_has_a_fixture() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/registry");
    let snapshots = Path::new(env!("CARGO_MANIFEST_DIR")).join(SNAPSHOT_DIR);
    let entries = std::fs::read_dir(&snapshots)
        .unwrap_or_else(|e| panic!("cannot list `{SNAPSHOT_DIR}`: {e}"));
    let mut bad = 0;
    for entry in entries.flatten() {
        let file = entry.file_name().to_string_lossy().into_owned();
        for kind in ["bad", "good"] {
            let Some(rest) = file.strip_prefix(&format!("it__registry__{kind}@")) else {
                continue;
            };
            assert!(
                !rest.ends_with(".snap.new"),
                "unreviewed snapshot `{file}`: review it and rename it to `.snap`"
            );
            let fixture = rest.trim_end_matches(".snap");
            assert!(
                fixtures.join(kind).join(fixture).is_file(),
                "`{SNAPSHOT_DIR}/{file}` has no fixture `{kind}/{fixture}`: delete it"
            );
            bad += usize::from(kind == "bad");
        }
    }
    let fixtures_bad = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(BAD_DIR))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(
        bad, fixtures_bad,
        "every bad fixture has one snapshot; rstest reads the fixture list when the tests \
         compile, so after adding a fixture `touch lumina-core/tests/it/registry.rs`"
    );
}
