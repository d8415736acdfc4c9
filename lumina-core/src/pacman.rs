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
