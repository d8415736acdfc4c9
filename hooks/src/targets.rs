//! The targets pacman writes on a hook's standard input (`NeedsTargets`): one package name
//! per line. Pure.

/// Parse the target list: trimmed, non-empty, de-duplicated, sorted.
pub fn parse(input: &str) -> Vec<String> {
    let mut out: Vec<String> = input
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_name_per_line_sorted_and_unique() {
        assert_eq!(super::parse("zlib\n  bash \n\nzlib\n"), ["bash", "zlib"]);
        assert!(super::parse("").is_empty());
    }
}
