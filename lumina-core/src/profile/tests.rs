//! The shipped profiles parse; every rejected profile names the file, line and column.

use std::path::Path;

use super::*;

#[test]
fn every_builtin_profile_parses_and_every_entry_says_why() {
    for (name, text) in BUILTIN {
        let p = parse(text, Path::new(&format!("{name}.yaml")))
            .unwrap_or_else(|d| panic!("{name}:\n{d}"));
        assert_eq!(p.name, *name);
        for e in p.packages.iter().chain(&p.kernel_parameters) {
            assert!(!e.why.is_empty(), "{name}: {e:?}");
        }
    }
}

#[test]
fn every_model_detection_can_name_has_a_profile() {
    let mut wanted: Vec<&str> = crate::hardware::identify::FRAMEWORK_MODELS
        .iter()
        .map(|(_, m)| m.profile)
        .collect();
    wanted.push(crate::hardware::identify::GENERIC);
    for w in wanted {
        assert!(names().contains(&w), "no profile `{w}`");
    }
}

#[test]
fn the_framework_profiles_hold_what_their_hardware_needs() {
    let root = Root::new("/nonexistent-lumina-root");
    let amd = load(&root, "framework-13-amd").unwrap();
    let pkgs: Vec<&str> = amd.packages.iter().map(|e| e.value.as_str()).collect();
    assert_eq!(
        pkgs,
        [
            "fwupd",
            "power-profiles-daemon",
            "iio-sensor-proxy",
            "fprintd"
        ]
    );
    assert_eq!(amd.kernel_parameters[0].value, "amdgpu.dcdebugmask=0x10");
    let twelve = load(&root, "framework-12").unwrap();
    assert!(
        twelve
            .packages
            .iter()
            .any(|e| e.value == "iio-sensor-proxy")
    );
    let sixteen = load(&root, "framework-16").unwrap();
    assert_eq!(
        sixteen.files[0].target,
        "/etc/udev/rules.d/50-framework-input-modules.rules"
    );
    assert!(load(&root, "generic").unwrap().packages.is_empty());
}

#[test]
fn an_installed_profile_overrides_the_builtin_one() {
    let dir = tempfile::tempdir().unwrap();
    let root = Root::new(dir.path());
    let file = root.join(DIR).join("generic.yaml");
    crate::fs::Fs::new()
        .create_dir_all(file.parent().unwrap())
        .unwrap();
    let text = "version: 1\nname: generic\ndescription: site\npackages:\n  - { name: htop, why: site tools }\n";
    crate::fs::Fs::new()
        .write_atomic(&file, text.as_bytes(), false)
        .unwrap();
    let p = load(&root, "generic").unwrap();
    assert_eq!(p.description, "site");
    assert_eq!(p.packages[0].value, "htop");
    // A broken installed profile is reported with its path, line and column.
    crate::fs::Fs::new()
        .write_atomic(
            &file,
            b"version: 1\nname: generic\npackages: [htop]\n",
            false,
        )
        .unwrap();
    let e = load(&root, "generic").unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "{}:3:12: a package must be a mapping",
            file.display()
        )),
        "{e}"
    );
}

#[test]
fn an_unknown_profile_lists_the_known_ones() {
    let e = load(&Root::new("/nonexistent-lumina-root"), "thinkpad")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("thinkpad.yaml: no hardware profile named `thinkpad`"),
        "{e}"
    );
}

/// Rejected profiles: the rendered diagnostic of each, snapshotted.
#[test]
fn bad_profiles_are_reported_with_file_line_and_column() {
    let cases: &[(&str, &str)] = &[
        (
            "no-why",
            "version: 1\nname: x\npackages:\n  - name: fwupd\n",
        ),
        (
            "package-as-string",
            "version: 1\nname: x\npackages: [fwupd]\n",
        ),
        (
            "bad-package-name",
            "version: 1\nname: x\npackages:\n  - { name: Fw upd, why: firmware }\n",
        ),
        (
            "duplicate-package",
            "version: 1\nname: x\npackages:\n  - { name: a, why: one }\n  - { name: a, why: two }\n",
        ),
        (
            "parameter-with-space",
            "version: 1\nname: x\nkernel_parameters:\n  - { value: \"a=1 b=2\", why: two }\n",
        ),
        (
            "relative-file-target",
            "version: 1\nname: x\nfiles:\n  - { target: etc/x, content: y, why: z }\n",
        ),
        (
            "file-without-content",
            "version: 1\nname: x\nfiles:\n  - target: /etc/x\n    why: z\n",
        ),
        ("unknown-key", "version: 1\nname: x\npakages: []\n"),
        ("wrong-name", "version: 1\nname: y\n"),
        ("no-version", "name: x\n"),
        ("newer-version", "version: 2\nname: x\n"),
        (
            "unknown-entry-key",
            "version: 1\nname: x\npackages:\n  - { name: a, why: b, reason: c }\n",
        ),
        (
            "tab",
            "version: 1\nname: x\npackages:\n\t- { name: a, why: b }\n",
        ),
    ];
    for (case, text) in cases {
        let d = parse(text, Path::new("x.yaml"))
            .map(|p| panic!("{case} should be rejected, parsed as {p:?}"))
            .unwrap_err();
        insta::with_settings!({ description => *text, omit_expression => true }, {
            insta::assert_snapshot!(*case, d.to_string());
        });
    }
}
