//! The binaries answer `--help` and `--version` truthfully, and generate schema, completions
//! and man pages.

use lumina_e2e::{Home, bin};

#[test]
fn every_binary_answers_version_with_its_own_name_and_the_workspace_version() {
    let h = Home::new();
    for name in ["lumina", "lumina-hook", "lumina-repo"] {
        let r = h.run(&bin(name), ["--version"]);
        assert_eq!(r.code, 0, "{name}: {r:?}");
        assert_eq!(
            r.stdout.trim(),
            format!("{name} {}", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn help_lists_only_commands_that_exist() {
    let h = Home::new();
    let r = h.lumina(["--help"]);
    assert_eq!(r.code, 0);
    for cmd in [
        "link",
        "status",
        "detach",
        "schema",
        "completions",
        "manpage",
    ] {
        assert!(
            r.stdout.contains(cmd),
            "`{cmd}` missing from help:\n{}",
            r.stdout
        );
    }
    assert!(
        r.stdout.contains("Exit status:"),
        "exit codes are documented in --help"
    );
    // The hook runner has exactly its two hooks. The repository tool lists `add`, and every
    // command it lists exists: each answers its own `--help`.
    let r = h.run(&bin("lumina-hook"), ["--help"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("pre ") && r.stdout.contains("post "),
        "{}",
        r.stdout
    );
    let r = h.run(&bin("lumina-repo"), ["--help"]);
    assert_eq!(r.code, 0);
    let commands: Vec<&str> = r
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .collect();
    assert!(
        commands.contains(&"add"),
        "lumina-repo does not list `add`:\n{}",
        r.stdout
    );
    for cmd in commands {
        let sub = h.run(&bin("lumina-repo"), [cmd, "--help"]);
        assert_eq!(sub.code, 0, "lumina-repo {cmd} --help: {sub:?}");
    }
    let r = h.run(&bin("lumina-repo"), Vec::<&str>::new());
    assert_eq!(
        r.code, 2,
        "lumina-repo without arguments must not claim success"
    );
}

#[test]
fn schema_is_json_schema_that_names_every_top_level_key() {
    let r = Home::new().lumina(["schema"]);
    assert_eq!(r.code, 0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("valid JSON");
    assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
    for k in ["version", "packages", "links", "themes", "snapshots"] {
        assert!(v["properties"].get(k).is_some(), "{k} missing");
    }
    assert_eq!(v["additionalProperties"], false);
}

#[test]
fn completions_and_man_pages_are_generated_from_the_parser() {
    let h = Home::new();
    let r = h.lumina(["completions", "bash"]);
    assert_eq!(r.code, 0);
    assert!(
        r.stdout.contains("--adopt") && r.stdout.contains("complete"),
        "{}",
        r.stdout
    );
    let r = h.lumina(["completions", "zsh"]);
    assert!(r.stdout.contains("#compdef lumina"));
    let dir = h.scratch().join("man");
    let r = h.lumina(["manpage", "--dir", dir.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{r:?}");
    let page = std::fs::read_to_string(dir.join("lumina-link.1")).unwrap();
    assert!(
        page.contains(".TH lumina-link") && page.contains("adopt"),
        "{page}"
    );
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    // `lumina schema | head -c0`: the reader is gone before lumina writes.
    let mut child = std::process::Command::new(bin("lumina"))
        .arg("schema")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
