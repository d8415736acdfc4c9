//! The one order every list of targets is kept in: the desired links, the observations, the
//! record and the plan are each sorted once and then walked together in a single merge pass.
//!
//! [`cmp`] compares the raw bytes of two paths with `/` sorting before every other byte. For
//! normalized paths (no empty, `.` or trailing components, which is what the registry and the
//! record hold) that is exactly [`Path`]'s own component-wise order, so the plan comes out
//! in the order it always had (parents before children), at the cost of a `memcmp` instead
//! of a component parse per comparison. It is also what keeps a directory's descendants
//! together: every path below `a/b` sorts right after `a/b`, before `a/b` + any other byte.

use std::cmp::Ordering;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Compare two targets: byte-wise, with `/` lowest (see the module documentation).
pub fn cmp(a: &Path, b: &Path) -> Ordering {
    cmp_bytes(a.as_os_str().as_bytes(), b.as_os_str().as_bytes())
}

/// [`cmp`] on raw bytes.
pub fn cmp_bytes(a: &[u8], b: &[u8]) -> Ordering {
    let n = a.len().min(b.len());
    // Skip the common prefix eight bytes at a time (targets share long prefixes).
    let mut i = 0;
    while i + 8 <= n && a[i..i + 8] == b[i..i + 8] {
        i += 8;
    }
    while i < n && a[i] == b[i] {
        i += 1;
    }
    if i == n {
        a.len().cmp(&b.len())
    } else {
        rank(a[i]).cmp(&rank(b[i]))
    }
}

fn rank(c: u8) -> u16 {
    if c == b'/' { 0 } else { u16::from(c) + 1 }
}

/// Is `ancestor` a proper ancestor of `path` (lexically, both normalized)?
pub fn is_ancestor(ancestor: &Path, path: &Path) -> bool {
    let (a, p) = (ancestor.as_os_str().as_bytes(), path.as_os_str().as_bytes());
    if a == b"/" {
        return p.len() > 1 && p[0] == b'/';
    }
    p.len() > a.len() && p.starts_with(a) && p[a.len()] == b'/'
}

/// Does `path` need [`crate::paths::normalize`] (a repeated, trailing or `.` component)?
pub fn needs_normalizing(path: &Path) -> bool {
    let b = path.as_os_str().as_bytes();
    if b.starts_with(b"./") || (b.len() > 1 && b.ends_with(b"/")) || b.ends_with(b"/.") {
        return true;
    }
    // After each `/`: another `/`, or `./`.
    let mut rest = b;
    while let Some(i) = rest.iter().position(|&c| c == b'/') {
        rest = &rest[i + 1..];
        if rest.starts_with(b"/") || rest.starts_with(b"./") {
            return true;
        }
    }
    false
}

/// [`Path::parent`] and [`Path::file_name`] of a normalized path, by finding its last `/`
/// (rather than parsing components). Falls back to those for anything else.
pub fn split(path: &Path) -> Option<(&Path, &std::ffi::OsStr)> {
    use std::ffi::OsStr;
    let b = path.as_os_str().as_bytes();
    match b.iter().rposition(|&c| c == b'/') {
        Some(i) if i + 1 < b.len() && !matches!(&b[i + 1..], b"." | b"..") && i > 0 => {
            let parent = &b[..i];
            let plain = !parent.ends_with(b"/") && !parent.ends_with(b"/.") && parent != b".";
            plain.then(|| {
                (
                    Path::new(OsStr::from_bytes(parent)),
                    OsStr::from_bytes(&b[i + 1..]),
                )
            })
        }
        _ => None,
    }
    .or_else(|| Some((path.parent()?, path.file_name()?)))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    /// Every pair of a set of tricky normalized paths orders as `Path::cmp` does.
    #[test]
    fn agrees_with_path_order_on_normalized_paths() {
        let names = [
            "a", "a-b", "a.b", "ab", "a b", "b", "A", "é", "a\u{1}", "0", "~",
        ];
        let mut paths: Vec<PathBuf> = vec![PathBuf::from("/")];
        for x in names {
            paths.push(PathBuf::from(format!("/{x}")));
            for y in names {
                paths.push(PathBuf::from(format!("/{x}/{y}")));
                for z in ["a", "a-b", "ab"] {
                    paths.push(PathBuf::from(format!("/{x}/{y}/{z}")));
                }
            }
        }
        for a in &paths {
            for b in &paths {
                assert_eq!(cmp(a, b), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
        let mut sorted = paths.clone();
        sorted.sort_by(|a, b| cmp(a, b));
        let mut by_path = paths;
        by_path.sort();
        assert_eq!(sorted, by_path);
    }

    #[test]
    fn ancestors_are_components_not_prefixes() {
        let p = |s: &str| PathBuf::from(s);
        assert!(is_ancestor(&p("/a/b"), &p("/a/b/c")));
        assert!(is_ancestor(&p("/a"), &p("/a/b/c")));
        assert!(is_ancestor(&p("/"), &p("/a")));
        assert!(!is_ancestor(&p("/a/b"), &p("/a/bc")));
        assert!(!is_ancestor(&p("/a/b"), &p("/a/b")));
        assert!(!is_ancestor(&p("/a/b/c"), &p("/a/b")));
        for (a, b) in [("/a/b", "/a/b/c"), ("/a", "/a/b/c"), ("/a/b", "/a/bc")] {
            assert_eq!(
                is_ancestor(&p(a), &p(b)),
                p(b).ancestors().skip(1).any(|x| x == p(a))
            );
        }
    }

    #[test]
    fn descendants_sort_right_after_their_ancestor() {
        let mut v: Vec<PathBuf> = ["/a/b", "/a/b-c", "/a/b/x", "/a/b.d", "/a/b/y/z", "/a/ba"]
            .iter()
            .map(PathBuf::from)
            .collect();
        v.sort_by(|a, b| cmp(a, b));
        let names: Vec<_> = v.iter().map(|p| p.to_str().unwrap()).collect();
        assert_eq!(
            names,
            ["/a/b", "/a/b/x", "/a/b/y/z", "/a/b-c", "/a/b.d", "/a/ba"]
        );
    }

    #[test]
    fn split_is_parent_and_file_name() {
        for s in [
            "/a/b", "/a", "/a/b/", "/a//b", "a/b", "a", "/", "", "/a/.", "/a/..", "/a/./b", "//a",
            "/é/ü",
        ] {
            let p = Path::new(s);
            let want = p.parent().zip(p.file_name());
            assert_eq!(split(p), want, "{s}");
        }
    }

    #[test]
    fn finds_paths_that_need_normalizing() {
        for s in ["/a//b", "/a/./b", "/a/", "/a/.", "./a"] {
            assert!(needs_normalizing(Path::new(s)), "{s}");
        }
        for s in ["/", "/a/b", "/a/.b", "/a/b.", "a/b"] {
            assert!(!needs_normalizing(Path::new(s)), "{s}");
        }
    }
}
