//! Version comparison exactly as pacman does it (`alpm_pkg_vercmp` in libalpm's `version.c`).
//!
//! Lumina compares versions with its own implementation instead of `alpm_types::FullVersion`:
//! alpm-types 0.13 orders an explicit `0:` epoch, a pkgrel present on one side only and some
//! provision versions differently from pacman, and it panics on a numeric segment longer than
//! a `u64`. The promotion planner compares versions taken from an upstream database it does not
//! trust, so the comparison here
//!
//! - never panics and never allocates: every input string, however hostile, has an answer;
//! - compares numeric segments of any length (leading zeros dropped, then longer wins, then
//!   bytewise), never converting them to integers;
//! - agrees with `/usr/bin/vercmp` on every input (the differential test below runs it on a
//!   few thousand generated pairs).
//!
//! A full version is `[epoch:]pkgver[-pkgrel]`. The epoch is the run of ASCII digits before a
//! `:` (missing or empty means `0`); the pkgrel is whatever follows the *last* `-`. Each part is
//! compared with rpm's segment algorithm as pacman patched it: runs of non-alphanumeric
//! characters separate segments, and a longer separator run wins; a numeric segment is newer than
//! an alphabetic one; `1.0a` is older than `1.0`, `1.0.a` newer. The pkgrels are compared only
//! when *both* sides have one, so `1.5` equals both `1.5-1` and `1.5-2` while those two differ:
//! the relation is not transitive, which is why versions here are strings compared with
//! [`vercmp`] rather than a type implementing [`Ord`]. There is no special `~` handling (pacman
//! has none; `~` is a separator like `.`), and non-ASCII bytes are separators too, as they are
//! for the C library's `isalnum` in the C locale.

use std::cmp::Ordering;

/// Compares two full versions (`[epoch:]pkgver[-pkgrel]`) the way `alpm_pkg_vercmp` does.
///
/// Returns [`Ordering::Greater`] when `a` is newer than `b`. A pkgrel is compared only when both
/// versions carry one.
///
/// ```
/// use std::cmp::Ordering;
/// use lumina_repo::vercmp::vercmp;
///
/// assert_eq!(vercmp("1.0rc", "1.0"), Ordering::Less);
/// assert_eq!(vercmp("1:1.0", "2.0"), Ordering::Greater);
/// assert_eq!(vercmp("1.5", "1.5-1"), Ordering::Equal);
/// assert_eq!(vercmp("99999999999999999999999", "1"), Ordering::Greater);
/// ```
#[must_use]
pub fn vercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let a = Evr::parse(a.as_bytes());
    let b = Evr::parse(b.as_bytes());
    rpmvercmp(a.epoch, b.epoch)
        .then_with(|| rpmvercmp(a.version, b.version))
        .then_with(|| match (a.release, b.release) {
            (Some(x), Some(y)) => rpmvercmp(x, y),
            _ => Ordering::Equal,
        })
}

/// A full version split into its parts, borrowing from the input.
struct Evr<'a> {
    epoch: &'a [u8],
    version: &'a [u8],
    release: Option<&'a [u8]>,
}

impl<'a> Evr<'a> {
    /// Splits like libalpm's `parseEVR`: the epoch is a leading digit run ended by `:`, the
    /// release follows the last `-` after that digit run.
    fn parse(s: &'a [u8]) -> Self {
        let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
        let (epoch, version_start): (&[u8], usize) = if s.get(digits) == Some(&b':') {
            let epoch = if digits == 0 { b"0" } else { &s[..digits] };
            (epoch, digits + 1)
        } else {
            (b"0", 0)
        };
        // The last `-` at or after the digit run; when an epoch exists it is after the `:`.
        let dash = s[digits..]
            .iter()
            .rposition(|&c| c == b'-')
            .map(|pos| pos + digits);
        match dash {
            Some(dash) if dash >= version_start => Self {
                epoch,
                version: &s[version_start..dash],
                release: Some(&s[dash + 1..]),
            },
            _ => Self {
                epoch,
                version: &s[version_start..],
                release: None,
            },
        }
    }
}

/// rpm's segment comparison as found in libalpm (with pacman's separator-length rule).
fn rpmvercmp(a: &[u8], b: &[u8]) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    // `one`/`two` walk the strings; `end1`/`end2` mark the end of the previous segment, so
    // `one - end1` is the length of the separator run just skipped.
    let (mut one, mut two) = (0, 0);
    let (mut end1, mut end2) = (0, 0);
    while one < a.len() && two < b.len() {
        while one < a.len() && !a[one].is_ascii_alphanumeric() {
            one += 1;
        }
        while two < b.len() && !b[two].is_ascii_alphanumeric() {
            two += 1;
        }
        if one >= a.len() || two >= b.len() {
            break;
        }
        let (sep1, sep2) = (one - end1, two - end2);
        if sep1 != sep2 {
            return sep1.cmp(&sep2);
        }
        let numeric = a[one].is_ascii_digit();
        let class: fn(&u8) -> bool = if numeric {
            u8::is_ascii_digit
        } else {
            u8::is_ascii_alphabetic
        };
        end1 = one + a[one..].iter().take_while(|c| class(c)).count();
        end2 = two + b[two..].iter().take_while(|c| class(c)).count();
        if end2 == two {
            // Segments of different kinds: numeric is newer than alphabetic.
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let (mut seg1, mut seg2) = (&a[one..end1], &b[two..end2]);
        if numeric {
            seg1 = strip_leading_zeros(seg1);
            seg2 = strip_leading_zeros(seg2);
            let by_length = seg1.len().cmp(&seg2.len());
            if by_length != Ordering::Equal {
                return by_length;
            }
        }
        let by_bytes = seg1.cmp(seg2);
        if by_bytes != Ordering::Equal {
            return by_bytes;
        }
        one = end1;
        two = end2;
    }
    let (rest1, rest2) = (&a[one..], &b[two..]);
    if rest1.is_empty() && rest2.is_empty() {
        return Ordering::Equal;
    }
    // What is left on one side decides: a remaining alphabetic segment never beats the end
    // of the other string (`1.0a` < `1.0`); anything else left over does (`1.0.1` > `1.0`).
    let alpha_first = |rest: &[u8]| rest.first().is_some_and(u8::is_ascii_alphabetic);
    if (rest1.is_empty() && !alpha_first(rest2)) || alpha_first(rest1) {
        Ordering::Less
    } else {
        Ordering::Greater
    }
}

fn strip_leading_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&c| c == b'0').count();
    &digits[zeros..]
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering::{self, Equal, Greater, Less};

    use proptest::prelude::*;
    use rstest::rstest;

    use super::vercmp;

    // The cases of pacman's own suite, `test/util/vercmptest.sh` (each also run mirrored).
    #[rstest]
    #[case::same_no_pkgrel("1.5.0", "1.5.0", Equal)]
    #[case::newer_patch("1.5.1", "1.5.0", Greater)]
    #[case::mixed_length("1.5.1", "1.5", Greater)]
    #[case::pkgrel_same("1.5.0-1", "1.5.0-1", Equal)]
    #[case::pkgrel_newer("1.5.0-1", "1.5.0-2", Less)]
    #[case::pkgver_wins_over_pkgrel("1.5.0-1", "1.5.1-1", Less)]
    #[case::pkgver_wins_over_higher_pkgrel("1.5.0-2", "1.5.1-1", Less)]
    #[case::mixed_length_pkgrel("1.5-1", "1.5.1-1", Less)]
    #[case::mixed_length_higher_pkgrel("1.5-2", "1.5.1-1", Less)]
    #[case::mixed_length_same_pkgrel("1.5-2", "1.5.1-2", Less)]
    #[case::pkgrel_right_only("1.5", "1.5-1", Equal)]
    #[case::pkgrel_left_only("1.5-1", "1.5", Equal)]
    #[case::pkgrel_left_only_again("1.1-1", "1.1", Equal)]
    #[case::pkgrel_left_older("1.0-1", "1.1", Less)]
    #[case::pkgrel_left_newer("1.1-1", "1.0", Greater)]
    #[case::alpha_suffix_pkgrel("1.5b-1", "1.5-1", Less)]
    #[case::alpha_suffix("1.5b", "1.5", Less)]
    #[case::alpha_suffix_mixed_pkgrel("1.5b-1", "1.5", Less)]
    #[case::alpha_suffix_vs_patch("1.5b", "1.5.1", Less)]
    #[case::manpage_a_alpha("1.0a", "1.0alpha", Less)]
    #[case::manpage_alpha_b("1.0alpha", "1.0b", Less)]
    #[case::manpage_b_beta("1.0b", "1.0beta", Less)]
    #[case::manpage_beta_rc("1.0beta", "1.0rc", Less)]
    #[case::manpage_rc_release("1.0rc", "1.0", Less)]
    #[case::dotted_alpha("1.5.a", "1.5", Greater)]
    #[case::dotted_alpha_b_a("1.5.b", "1.5.a", Greater)]
    #[case::dotted_number_alpha("1.5.1", "1.5.b", Greater)]
    #[case::dotted_alpha_pkgrel("1.5.b-1", "1.5.b", Equal)]
    #[case::pkgrel_vs_dotted_alpha("1.5-1", "1.5.b", Less)]
    #[case::separators_equal("2.0", "2_0", Equal)]
    #[case::separators_equal_alpha("2.0_a", "2_0.a", Equal)]
    #[case::separator_before_alpha("2.0a", "2.0.a", Less)]
    #[case::longer_separator_wins("2___a", "2_a", Greater)]
    #[case::epoch_both_zero("0:1.0", "0:1.0", Equal)]
    #[case::epoch_both_zero_older("0:1.0", "0:1.1", Less)]
    #[case::epoch_wins("1:1.0", "0:1.0", Greater)]
    #[case::epoch_wins_over_pkgver("1:1.0", "0:1.1", Greater)]
    #[case::epoch_lower("1:1.0", "2:1.1", Less)]
    #[case::epoch_pkgrel_one_side("1:1.0", "0:1.0-1", Greater)]
    #[case::epoch_pkgrel_both("1:1.0-1", "0:1.1-1", Greater)]
    #[case::explicit_zero_epoch("0:1.0", "1.0", Equal)]
    #[case::explicit_zero_epoch_older("0:1.0", "1.1", Less)]
    #[case::explicit_zero_epoch_newer("0:1.1", "1.0", Greater)]
    #[case::epoch_one_side("1:1.0", "1.0", Greater)]
    #[case::epoch_one_side_older_pkgver("1:1.0", "1.1", Greater)]
    #[case::epoch_one_side_same("1:1.1", "1.1", Greater)]
    fn pacman_suite(#[case] a: &str, #[case] b: &str, #[case] expected: Ordering) {
        assert_eq!(vercmp(a, b), expected, "vercmp {a} {b}");
        assert_eq!(vercmp(b, a), expected.reverse(), "vercmp {b} {a}");
    }

    // Inputs a hostile database may carry, and corners of the C code. Each answer was
    // checked against pacman 6.0.2's `/usr/bin/vercmp`.
    #[rstest]
    #[case::huge_numeric("99999999999999999999", "1", Greater)]
    #[case::huge_numerics_by_length(
        "123456789012345678901234567890",
        "99999999999999999999",
        Greater
    )]
    #[case::huge_numerics_by_bytes("99999999999999999998", "99999999999999999999", Less)]
    #[case::leading_zeros("1.0001", "1.1", Equal)]
    #[case::leading_zeros_long("000000000000000000000000001", "1", Equal)]
    #[case::zero_vs_zeros("0", "000", Equal)]
    #[case::empty_vs_number("", "1", Less)]
    #[case::empty_vs_alpha("", "a", Greater)]
    #[case::empty_both_epoch(":", "", Equal)]
    #[case::trailing_separator("1.0.", "1.0", Greater)]
    #[case::trailing_separators("1.0..", "1.0.", Equal)]
    #[case::tilde_is_a_separator("1.0~rc1", "1.0.rc1", Equal)]
    #[case::non_ascii_bytes_are_separators("1.0\u{e9}1", "1.0..1", Equal)]
    #[case::two_byte_separator_is_longer("1.0\u{e9}1", "1.0.1", Greater)]
    #[case::empty_epoch(":1.0", "1.0", Equal)]
    #[case::colon_after_dot("1.0:2", "1.0.2", Equal)]
    #[case::dash_only("-", "", Equal)]
    #[case::last_dash_is_pkgrel("1.0-rc1-2", "1.0-rc1-1", Greater)]
    #[case::pkgrel_dotted("1.0-1.1", "1.0-1", Greater)]
    #[case::big_epoch("100000000000000000000000:1", "99999999999999999999999:2", Greater)]
    fn corners(#[case] a: &str, #[case] b: &str, #[case] expected: Ordering) {
        assert_eq!(vercmp(a, b), expected, "vercmp {a} {b}");
        assert_eq!(vercmp(b, a), expected.reverse(), "vercmp {b} {a}");
    }

    /// Well-formed versions: optional epoch, dotted alphanumeric pkgver, optional pkgrel.
    fn version() -> impl Strategy<Value = String> {
        let segment = prop_oneof![
            3 => "[0-9]{1,3}",
            1 => "0[0-9]{0,2}",
            1 => "[a-z]{1,4}",
            1 => "[0-9]{1,2}[a-z]{1,3}",
            1 => "[0-9]{20,30}",
        ];
        (
            proptest::option::of("[0-9]{1,2}"),
            proptest::collection::vec(segment, 1..5),
            proptest::option::of("[0-9]{1,2}(\\.[0-9])?"),
        )
            .prop_map(|(epoch, segments, pkgrel)| {
                let mut version = String::new();
                if let Some(epoch) = epoch {
                    version.push_str(&epoch);
                    version.push(':');
                }
                version.push_str(&segments.join("."));
                if let Some(pkgrel) = pkgrel {
                    version.push('-');
                    version.push_str(&pkgrel);
                }
                version
            })
    }

    /// Versions with a mandatory pkgrel: on these, pacman's order is a total preorder.
    fn full_version() -> impl Strategy<Value = String> {
        (version(), "[0-9]{1,2}").prop_map(|(version, pkgrel)| {
            let pkgver = version.split('-').next().unwrap_or_default().to_owned();
            format!("{pkgver}-{pkgrel}")
        })
    }

    proptest! {
        #[test]
        fn never_panics_on_any_input(a in ".{0,40}", b in ".{0,40}") {
            let _ = vercmp(&a, &b);
        }

        #[test]
        fn antisymmetric(a in ".{0,24}", b in ".{0,24}") {
            prop_assert_eq!(vercmp(&a, &b), vercmp(&b, &a).reverse());
        }

        #[test]
        fn antisymmetric_on_versions(a in version(), b in version()) {
            prop_assert_eq!(vercmp(&a, &b), vercmp(&b, &a).reverse());
        }

        #[test]
        fn reflexive(a in ".{0,40}") {
            prop_assert_eq!(vercmp(&a, &a), Equal);
        }

        #[test]
        fn pkgrel_on_one_side_is_ignored(a in version(), pkgrel in "[0-9]{1,3}") {
            let pkgver = a.split('-').next().unwrap_or_default();
            prop_assert_eq!(vercmp(pkgver, &format!("{pkgver}-{pkgrel}")), Equal);
        }

        #[test]
        fn epoch_dominates(a in version(), b in version()) {
            let a = a.rsplit(':').next().unwrap_or_default();
            let b = b.rsplit(':').next().unwrap_or_default();
            prop_assert_eq!(vercmp(&format!("2:{a}"), &format!("1:{b}")), Greater);
        }

        #[test]
        fn appending_a_numeric_segment_is_newer(a in version(), n in "[0-9]{1,3}") {
            let pkgver = a.split('-').next().unwrap_or_default();
            prop_assert_eq!(vercmp(&format!("{pkgver}.{n}"), pkgver), Greater);
        }

        #[test]
        fn transitive_on_full_versions(a in full_version(), b in full_version(), c in full_version()) {
            let mut sorted = [a, b, c];
            sorted.sort_by(|x, y| vercmp(x, y));
            prop_assert_ne!(vercmp(&sorted[0], &sorted[1]), Greater);
            prop_assert_ne!(vercmp(&sorted[1], &sorted[2]), Greater);
            prop_assert_ne!(vercmp(&sorted[0], &sorted[2]), Greater, "{:?}", sorted);
        }

        #[test]
        fn numeric_segments_compare_as_numbers(x in any::<u64>(), y in any::<u64>()) {
            prop_assert_eq!(vercmp(&x.to_string(), &y.to_string()), x.cmp(&y));
        }
    }

    /// The oracle: pacman's `vercmp(8)` prints `-1`, `0` or `1` for two arguments.
    const ORACLE: &str = "/usr/bin/vercmp";

    /// A small deterministic generator (xorshift64*): the same pairs on every run, so a
    /// disagreement is reproducible, without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }

        fn below(&mut self, n: usize) -> usize {
            usize::try_from(self.next() % n as u64).unwrap_or(0)
        }

        fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
            items[self.below(items.len())]
        }

        /// A version-like string built from the pieces pacman's parser reacts to.
        fn version(&mut self) -> String {
            const PIECES: &[&str] = &[
                "0",
                "1",
                "2",
                "9",
                "10",
                "01",
                "007",
                "123",
                "a",
                "b",
                "z",
                "rc",
                "alpha",
                "beta",
                "pre",
                "git",
                ".",
                ".",
                ".",
                "..",
                "_",
                "+",
                "~",
                "-",
                ":",
                "é",
                "99999999999999999999",
                "18446744073709551616",
                "00000000000000000000001",
            ];
            let mut version = String::new();
            if self.below(4) == 0 {
                version.push_str(self.pick(&["0", "1", "2", "10", ""]));
                version.push(':');
            }
            for _ in 0..1 + self.below(6) {
                version.push_str(self.pick(PIECES));
            }
            if self.below(2) == 0 {
                version.push('-');
                version.push_str(self.pick(&["1", "2", "10", "1.1", "0", "1a"]));
            }
            version
        }

        /// A second version close to `base`: shared prefixes make the comparison interesting.
        fn neighbour(&mut self, base: &str) -> String {
            match self.below(5) {
                0 => self.version(),
                1 => format!("{base}{}", self.pick(&[".1", "a", "-1", ".", "0", "-2"])),
                2 => {
                    let cut = base
                        .char_indices()
                        .map(|(i, _)| i)
                        .nth(self.below(base.chars().count().max(1)))
                        .unwrap_or(0);
                    format!("{}{}", &base[..cut], self.pick(&["1", "b", ".", "_", "0"]))
                }
                3 => base.replace('.', self.pick(&["_", "..", "+"])),
                _ => base.to_owned(),
            }
        }
    }

    fn oracle_pairs(count: usize) -> Vec<(String, String)> {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        (0..count)
            .map(|_| {
                let a = rng.version();
                let b = rng.neighbour(&a);
                (a, b)
            })
            // `vercmp -h`/`--help` prints usage instead of comparing.
            .filter(|(a, _)| a != "-h" && a != "--help")
            .collect()
    }

    fn oracle_answer(a: &str, b: &str) -> std::io::Result<std::process::Child> {
        std::process::Command::new(ORACLE)
            .args([a, b])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
    }

    #[test]
    fn agrees_with_pacman_vercmp() {
        if !std::path::Path::new(ORACLE).exists() {
            let message = format!(
                "{ORACLE} is missing: install pacman (Debian: pacman-package-manager) to run the \
                 differential vercmp test"
            );
            assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
            eprintln!("skipped: {message}");
            return;
        }
        let pairs = oracle_pairs(2000);
        let mut disagreements = Vec::new();
        // One process per pair; run them in waves so the test stays around a second.
        for wave in pairs.chunks(64) {
            let children: Vec<_> = wave
                .iter()
                .map(|(a, b)| oracle_answer(a, b).expect("spawn vercmp"))
                .collect();
            for ((a, b), child) in wave.iter().zip(children) {
                let output = child.wait_with_output().expect("wait for vercmp");
                assert!(output.status.success(), "vercmp {a:?} {b:?}: {output:?}");
                let expected = match String::from_utf8_lossy(&output.stdout).trim() {
                    "-1" => Less,
                    "0" => Equal,
                    "1" => Greater,
                    other => panic!("vercmp {a:?} {b:?} printed {other:?}"),
                };
                if vercmp(a, b) != expected {
                    disagreements.push(format!("{a:?} {b:?}: pacman {expected:?}"));
                }
            }
        }
        assert!(
            disagreements.is_empty(),
            "{} of {} pairs disagree with pacman:\n{}",
            disagreements.len(),
            pairs.len(),
            disagreements.join("\n")
        );
    }
}
