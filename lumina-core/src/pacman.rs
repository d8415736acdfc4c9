//! What pacman's local database says is installed, read directly (no libalpm).
//!
//! pacman names each entry directory `NAME-PKGVER-PKGREL` (`linux-6.17.1.arch1-1`,
//! `python-3:3.13.0-1` with an epoch), and a name may itself contain `-`; the version is
//! the last two `-`-separated fields. Reading the directory names, not every `desc`, keeps a
//! hook's cost at one `readdir` of `local/` however many packages are installed.

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::Result;

/// Split a local database entry name into `(name, version)`.
pub fn split_entry(entry: &str) -> Option<(&str, &str)> {
    let rel = entry.rfind('-')?;
    let ver = entry[..rel].rfind('-')?;
    let (name, version) = (&entry[..ver], &entry[ver + 1..]);
    (!name.is_empty() && !version.starts_with('-')).then_some((name, version))
}

/// Installed packages (`name -> version`) in the local database under `dbpath`
/// (`/var/lib/pacman`). An absent database is empty.
///
/// # Errors
/// [`crate::Error::Io`] when `local/` exists but cannot be read.
pub fn installed(dbpath: &Path) -> Result<BTreeMap<String, String>> {
    let local = dbpath.join("local");
    if crate::fs::stat(&local)?.is_none() {
        return Ok(BTreeMap::new());
    }
    let mut out = BTreeMap::new();
    for (name, is_dir) in crate::fs::read_dir(&local)? {
        let name = name.to_string_lossy();
        if !is_dir {
            continue; // ALPM_DB_VERSION
        }
        if let Some((n, v)) = split_entry(&name) {
            out.insert(n.to_owned(), v.to_owned());
        }
    }
    Ok(out)
}

/// Explicitly installed packages in the local database under `dbpath`, read from each entry's
/// `desc` (`%REASON%` absent or `0`: explicit; `1`: installed as a dependency). `None` when
/// there is no local database at all (not a pacman system, or nothing ever installed).
///
/// Only `%NAME%` and `%REASON%` are read, with `alpm-types` for their values: the strict
/// `alpm-db` 0.3 parser rejects entries pacman writes and reads without complaint (a packager
/// of `Unknown Packager`, makepkg's default for packages built locally; an entry without
/// `%URL%`), and one such package must not make `lumina init` fail on a whole machine.
///
/// # Errors
/// [`crate::Error::Io`] when `local/` or a `desc` cannot be read, or a `desc` has no valid
/// `%NAME%` or an unknown `%REASON%` (the error names the file).
pub fn explicit(dbpath: &Path) -> Result<Option<std::collections::BTreeSet<String>>> {
    let local = dbpath.join("local");
    if crate::fs::stat(&local)?.is_none() {
        return Ok(None);
    }
    let mut out = std::collections::BTreeSet::new();
    for (entry, is_dir) in crate::fs::read_dir(&local)? {
        if !is_dir {
            continue;
        }
        let path = local.join(&entry).join("desc");
        let text = String::from_utf8_lossy(&crate::fs::read(&path)?).into_owned();
        let (name, explicit) = desc_reason(&text).map_err(|m| {
            crate::Error::io(
                &path,
                "reading pacman's local database",
                std::io::Error::new(std::io::ErrorKind::InvalidData, m),
            )
        })?;
        if explicit {
            out.insert(name);
        }
    }
    Ok(Some(out))
}

/// The `%NAME%` of a local `desc` and whether `%REASON%` says explicit (absent or `0`).
///
/// # Errors
/// A message when `%NAME%` is missing or invalid, or `%REASON%` is neither `0` nor `1`.
pub fn desc_reason(text: &str) -> std::result::Result<(String, bool), String> {
    use std::str::FromStr as _;
    let mut lines = text.lines();
    let (mut name, mut reason) = (None, alpm_types::PackageInstallReason::Explicit);
    while let Some(line) = lines.next() {
        match line.trim_end() {
            "%NAME%" => name = lines.next().map(|l| l.trim().to_owned()),
            "%REASON%" => {
                let v = lines.next().unwrap_or("").trim();
                reason = alpm_types::PackageInstallReason::from_str(v)
                    .map_err(|_| format!("`%REASON%` is `{v}`, neither `0` nor `1`"))?;
            }
            _ => {}
        }
    }
    let name = name.ok_or("it has no `%NAME%`")?;
    alpm_types::Name::new(&name).map_err(|e| format!("`%NAME%` `{name}` is invalid: {e}"))?;
    Ok((name, reason == alpm_types::PackageInstallReason::Explicit))
}

/// Does `name` match a pattern with `*`, `?` and `[...]` (like a shell glob)?
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn go(p: &[char], n: &[char]) -> bool {
        match p.first() {
            None => n.is_empty(),
            Some('*') => (0..=n.len()).any(|i| go(&p[1..], &n[i..])),
            Some('?') => !n.is_empty() && go(&p[1..], &n[1..]),
            Some('[') => {
                let Some(close) = p.iter().position(|c| *c == ']') else {
                    return n.first() == Some(&'[') && go(&p[1..], &n[1..]);
                };
                let set = &p[1..close];
                let Some(c) = n.first() else { return false };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == '-' {
                        hit |= set[i] <= *c && *c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == *c;
                        i += 1;
                    }
                }
                hit && go(&p[close + 1..], &n[1..])
            }
            Some(c) => n.first() == Some(c) && go(&p[1..], &n[1..]),
        }
    }
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    go(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_local_entries_like_pacman_names_them() {
        assert_eq!(
            split_entry("linux-6.17.1.arch1-1"),
            Some(("linux", "6.17.1.arch1-1"))
        );
        assert_eq!(
            split_entry("python-3:3.13.0-1"),
            Some(("python", "3:3.13.0-1"))
        );
        assert_eq!(
            split_entry("lib32-gcc-libs-15.1.1+r7-1.1"),
            Some(("lib32-gcc-libs", "15.1.1+r7-1.1"))
        );
        assert_eq!(split_entry("nodash"), None);
        assert_eq!(split_entry("-1-1"), None);
    }

    #[test]
    fn the_install_reason_is_read_like_pacman_writes_it() {
        let desc = |extra: &str| {
            format!("%NAME%\nfoo\n\n%VERSION%\n1.0-1\n\n%PACKAGER%\nUnknown Packager\n\n{extra}")
        };
        assert_eq!(desc_reason(&desc("")), Ok(("foo".into(), true)));
        assert_eq!(
            desc_reason(&desc("%REASON%\n1\n\n")),
            Ok(("foo".into(), false))
        );
        assert_eq!(
            desc_reason(&desc("%REASON%\n0\n\n")),
            Ok(("foo".into(), true))
        );
        assert!(
            desc_reason(&desc("%REASON%\n7\n"))
                .unwrap_err()
                .contains("`7`")
        );
        assert_eq!(
            desc_reason("%VERSION%\n1-1\n"),
            Err("it has no `%NAME%`".into())
        );
    }

    #[test]
    fn globs_match_like_a_shell() {
        assert!(glob_match("linux*", "linux-lts"));
        assert!(glob_match("linux*", "linux"));
        assert!(!glob_match("linux*", "util-linux"));
        assert!(glob_match("systemd", "systemd"));
        assert!(!glob_match("systemd", "systemd-libs"));
        assert!(glob_match("nvidia-[0-9]*", "nvidia-550"));
        assert!(glob_match("gl?bc", "glibc"));
    }
}
