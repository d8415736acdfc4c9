//! `lumina init` without `--from` (pure parts): the first `lumina.yaml` of a machine, from its
//! explicitly installed packages and its hardware profile, and the enrolment of a user in
//! `/etc/lumina/config.yaml`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::capture::scalar;
use crate::hardware::Detected;
use crate::profile::Profile;
use crate::registry::check::Res;

/// The hook files `lumina init` checks for, under the system root.
pub const HOOKS: &[&str] = &[
    "/usr/share/libalpm/hooks/05-lumina-pre.hook",
    "/usr/share/libalpm/hooks/zz-lumina-post.hook",
];

/// A profile file placed in the virtual root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlacedFile {
    /// Where it goes on the machine (`/etc/...` or `~/...`).
    pub target: String,
    /// Its source, relative to the virtual root (`hardware/framework-16/50-x.rules`).
    pub source: String,
    /// Its content.
    #[serde(skip)]
    pub content: String,
    /// Why.
    pub why: String,
}

/// What `init` writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Draft {
    /// The text of `lumina.yaml`.
    pub registry: String,
    /// Explicitly installed packages declared (not counting the profile's).
    pub captured: Vec<String>,
    /// The profile's packages, in its order.
    pub profile_packages: Vec<String>,
    /// The profile's files, placed under `hardware/PROFILE/` in the virtual root. `~/`
    /// targets are declared as links; system targets are for the user to install as root.
    pub files: Vec<PlacedFile>,
}

/// Write the first registry: a comment header about the hardware, the explicitly installed
/// packages, then the profile's packages with their reasons.
pub fn draft(
    explicit: &BTreeSet<String>,
    detected: Option<&Detected>,
    profile: Option<&Profile>,
) -> Draft {
    let mut t = String::new();
    t.push_str(
        "# lumina.yaml: the declared state of this machine, first written by `lumina init`.\n\
         # Reference: docs/registry.md (or `lumina schema`). `lumina apply` makes a machine\n\
         # match it, `lumina status` shows drift, `lumina capture` adds packages installed\n\
         # outside Lumina.\n",
    );
    if let Some(d) = detected {
        t.push_str("#\n");
        let what = match &d.model {
            Some(m) => format!("{} ({})", m.name, m.generation),
            None => match (&d.vendor, &d.product) {
                (Some(v), Some(p)) => format!("{v} {p}"),
                _ => "unknown".into(),
            },
        };
        let _ = writeln!(t, "# Hardware: {what}; profile `{}`", d.profile);
        for r in &d.reasons {
            let _ = writeln!(t, "#   {r}");
        }
    }
    if let (None, Some(p)) = (detected, profile) {
        let _ = writeln!(
            t,
            "#\n# Hardware profile `{}` ({}), chosen with `--hardware`",
            p.name, p.description
        );
    }
    let mut files = Vec::new();
    if let Some(p) = profile {
        if !p.kernel_parameters.is_empty() {
            t.push_str(
                "#\n# Kernel parameters the profile recommends; add them to your boot loader's\n\
                 # kernel command line (Lumina does not edit boot loaders):\n",
            );
            for k in &p.kernel_parameters {
                let _ = writeln!(t, "#   {}\n#       {}", k.value, k.why);
            }
        }
        for f in &p.files {
            let name = f.target.rsplit('/').next().unwrap_or("file");
            files.push(PlacedFile {
                target: f.target.clone(),
                source: format!("hardware/{}/{name}", p.name),
                content: f.content.clone(),
                why: f.why.clone(),
            });
        }
        let system: Vec<&PlacedFile> = files.iter().filter(|f| f.target.starts_with('/')).collect();
        if !system.is_empty() {
            t.push_str("#\n# System files of the profile, kept here; install them as root:\n");
            for f in system {
                let _ = writeln!(
                    t,
                    "#   sudo install -Dm644 {} {}\n#       {}",
                    f.source, f.target, f.why
                );
            }
        }
    }
    t.push_str("version: 1\n\n");
    let profile_names: Vec<String> = profile
        .map(|p| p.packages.iter().map(|e| e.value.clone()).collect())
        .unwrap_or_default();
    let captured: Vec<String> = explicit
        .iter()
        .filter(|n| !profile_names.contains(n))
        .cloned()
        .collect();
    if captured.is_empty() && profile_names.is_empty() {
        t.push_str("packages: []\n");
    } else {
        t.push_str("packages:\n");
        if !captured.is_empty() {
            t.push_str("  # Explicitly installed when `lumina init` ran.\n");
            for n in &captured {
                let _ = writeln!(t, "  - {}", scalar(n));
            }
        }
        if let Some(p) = profile.filter(|p| !p.packages.is_empty()) {
            let _ = writeln!(t, "  # Hardware profile `{}`.", p.name);
            for e in &p.packages {
                let _ = writeln!(
                    t,
                    "  - name: {}\n    reason: {}",
                    scalar(&e.value),
                    scalar(&format!("{}: {}", p.name, e.why))
                );
            }
        }
    }
    let home_files: Vec<&PlacedFile> = files
        .iter()
        .filter(|f| f.target.starts_with("~/"))
        .collect();
    if !home_files.is_empty() {
        t.push_str("\nlinks:\n");
        for f in home_files {
            let _ = writeln!(
                t,
                "  {}: {}  # {}",
                scalar(&f.target),
                scalar(&f.source),
                f.why
            );
        }
    }
    Draft {
        registry: t,
        captured,
        profile_packages: profile_names,
        files,
    }
}

/// `config` (the text of `/etc/lumina/config.yaml`, or `None` when absent) with `user` in
/// `users`; `None` when the user is already enrolled.
///
/// # Errors
/// A diagnostic when the configuration is invalid or its `users` cannot be edited in place.
pub fn enrol(config: Option<&str>, file: &Path, user: &str) -> Res<Option<String>> {
    let Some(text) = config else {
        return Ok(Some(format!(
            "# /etc/lumina/config.yaml: see the commented default in the lumina package.\n\
             version: 1\nusers: [{}]\n",
            scalar(user)
        )));
    };
    let c = crate::config::Config::parse(text, file)?;
    if c.users.iter().any(|u| u == user) {
        return Ok(None);
    }
    let out =
        crate::capture::append_to_list(text, file, "the configuration", "users", &[scalar(user)])?;
    let after = crate::config::Config::parse(&out, file)?;
    debug_assert!(after.users.iter().any(|u| u == user));
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paths::Context;

    #[test]
    fn the_draft_is_a_valid_registry_with_explicit_and_profile_packages() {
        let explicit: BTreeSet<String> = ["base", "linux", "fwupd", "@odd"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/sysroot/framework-16-amd-7040");
        let detected = crate::hardware::identify(&crate::hardware::read(&dir).unwrap());
        let profile =
            crate::profile::load(&crate::root::Root::new("/nonexistent"), detected.profile)
                .unwrap();
        let d = draft(&explicit, Some(&detected), Some(&profile));
        let ctx = Context {
            user_home: "/home/ana".into(),
            lumina_home: "/home/ana/.lumina".into(),
        };
        let reg = crate::registry::parse(&d.registry, Path::new("lumina.yaml"), &ctx)
            .unwrap_or_else(|e| panic!("{e}\n{}", d.registry));
        let names: Vec<&str> = reg.packages.iter().map(|p| p.name.as_str()).collect();
        // fwupd is explicit and in the profile: declared once, with the profile's reason.
        assert_eq!(
            names,
            [
                "@odd",
                "base",
                "linux",
                "fwupd",
                "power-profiles-daemon",
                "iio-sensor-proxy",
                "fprintd"
            ]
        );
        assert_eq!(d.captured, ["@odd", "base", "linux"]);
        assert!(
            reg.packages[3]
                .reason
                .as_deref()
                .unwrap()
                .starts_with("framework-16: ")
        );
        assert!(d.registry.contains(
            "# Hardware: Framework Laptop 16 (AMD Ryzen 7040 Series); profile `framework-16`\n"
        ));
        assert!(d.registry.contains("#   amdgpu.dcdebugmask=0x10\n"));
        assert!(d.registry.contains(
            "#   sudo install -Dm644 hardware/framework-16/50-framework-input-modules.rules /etc/udev/rules.d/50-framework-input-modules.rules\n"
        ));
        assert_eq!(
            d.files[0].source,
            "hardware/framework-16/50-framework-input-modules.rules"
        );
        // No packages at all is still a valid registry.
        let empty = draft(&BTreeSet::new(), None, None);
        assert!(crate::registry::parse(&empty.registry, Path::new("l.yaml"), &ctx).is_ok());
    }

    #[test]
    fn enrolment_adds_the_user_once() {
        let f = Path::new("config.yaml");
        let new = enrol(None, f, "ana").unwrap().unwrap();
        assert_eq!(
            crate::config::Config::parse(&new, f).unwrap().users,
            ["ana"]
        );
        assert_eq!(enrol(Some(&new), f, "ana").unwrap(), None);
        let two = enrol(Some(&new), f, "bob").unwrap().unwrap();
        assert_eq!(
            crate::config::Config::parse(&two, f).unwrap().users,
            ["ana", "bob"]
        );
        let e = enrol(Some("backend: lvm\n"), f, "ana")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("config.yaml:1:10: unknown backend `lvm`"),
            "{e}"
        );
    }
}
