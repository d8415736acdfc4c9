//! Package relations (`depends`, `provides`, `conflicts`, `replaces`) and when one is
//! satisfied, following libalpm's `alpm_dep_from_string` and `_alpm_depcmp`.
//!
//! A relation is a name, optionally followed by a comparison and a version: `name`,
//! `name>=1.2-3`, `name<2`, `name=1.0`, `name>1`, `name<=1`. Sonames are ordinary relations
//! whose name is a shared object: `libfoo.so=3-64` (alpm-sonamev1: the version is the soname
//! version and the ELF class) or `lib:libfoo.so.3` (alpm-sonamev2, unversioned).
//!
//! Parsing splits where pacman splits: at the first `<`, else the first `>`, else the first
//! `=`. It is stricter than pacman in one respect, because the input comes from a database the
//! tool does not trust: an empty name or version, whitespace, control characters, or a second
//! comparison operator are rejected instead of producing a relation nothing can satisfy.
//! [`Depend`]'s `Display` writes back exactly what `FromStr` accepted.
//!
//! Satisfaction follows `_alpm_depcmp`: a package satisfies a dependency by its own name and
//! version, or by a provision. An unversioned provision (`provides=(foo)`) satisfies only
//! unversioned dependencies; a provision with `=` satisfies versioned ones through
//! [`vercmp`], which ignores the pkgrel when one side has none, so a provision `foo=1.0`
//! satisfies `foo>=1.0-1` and `foo=1.0-3` satisfies `foo=1.0`. A provision with any other
//! operator satisfies only unversioned dependencies, as in pacman.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use crate::error::{Error, RelationProblem};
use crate::vercmp::vercmp;

/// The comparison of a versioned relation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Comparison {
    /// `<`
    Less,
    /// `<=`
    LessOrEqual,
    /// `=`
    Equal,
    /// `>=`
    GreaterOrEqual,
    /// `>`
    Greater,
}

impl Comparison {
    /// The operator as written in a relation.
    #[must_use]
    pub const fn symbol(self) -> &'static str {
        match self {
            Self::Less => "<",
            Self::LessOrEqual => "<=",
            Self::Equal => "=",
            Self::GreaterOrEqual => ">=",
            Self::Greater => ">",
        }
    }

    /// Whether a provider whose version compares as `ordering` to the required version
    /// passes (`ordering` is `vercmp(provider, required)`).
    #[must_use]
    pub fn accepts(self, ordering: Ordering) -> bool {
        match self {
            Self::Less => ordering.is_lt(),
            Self::LessOrEqual => ordering.is_le(),
            Self::Equal => ordering.is_eq(),
            Self::GreaterOrEqual => ordering.is_ge(),
            Self::Greater => ordering.is_gt(),
        }
    }
}

/// A comparison and a version: the `>=1.2-3` of `name>=1.2-3`, or a module constraint
/// such as `<0.50`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VersionRequirement {
    /// How the provider's version must compare to [`Self::version`].
    pub comparison: Comparison,
    /// The version compared against (`[epoch:]pkgver[-pkgrel]`).
    pub version: String,
}

impl VersionRequirement {
    /// Whether a provider of version `version` meets this requirement (pacman's `dep_vercmp`).
    #[must_use]
    pub fn is_satisfied_by(&self, version: &str) -> bool {
        self.comparison.accepts(vercmp(version, &self.version))
    }

    /// Parses the part of a relation that starts at its comparison operator.
    fn parse_tail(tail: &str) -> Result<Self, RelationProblem> {
        let (comparison, rest) = if let Some(rest) = tail.strip_prefix("<=") {
            (Comparison::LessOrEqual, rest)
        } else if let Some(rest) = tail.strip_prefix(">=") {
            (Comparison::GreaterOrEqual, rest)
        } else if let Some(rest) = tail.strip_prefix('<') {
            (Comparison::Less, rest)
        } else if let Some(rest) = tail.strip_prefix('>') {
            (Comparison::Greater, rest)
        } else if let Some(rest) = tail.strip_prefix('=') {
            (Comparison::Equal, rest)
        } else {
            return Err(RelationProblem::MissingComparison);
        };
        if rest.is_empty() {
            return Err(RelationProblem::EmptyVersion);
        }
        check_characters(rest)?;
        Ok(Self {
            comparison,
            version: rest.to_owned(),
        })
    }
}

impl fmt::Display for VersionRequirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.comparison.symbol(), self.version)
    }
}

impl FromStr for VersionRequirement {
    type Err = Error;

    /// Parses `<0.50`, `>=1.2-3`, `=1:2.0`, ...
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidRequirement`] if the text does not start with a comparison operator,
    ///   has no version after it, or contains whitespace, a control character or a second
    ///   operator.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        Self::parse_tail(input).map_err(|problem| Error::InvalidRequirement {
            input: input.to_owned(),
            problem,
        })
    }
}

/// A package relation: a name and an optional version requirement.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Depend {
    /// The package, provision or soname named.
    pub name: String,
    /// The version requirement; `None` for an unversioned relation.
    pub requirement: Option<VersionRequirement>,
}

impl Depend {
    /// An unversioned relation on `name`.
    #[must_use]
    pub fn unversioned(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            requirement: None,
        }
    }

    /// Whether this relation names a shared object: `libfoo.so` (alpm-sonamev1, versioned as
    /// `libfoo.so=3-64`) or `lib:libfoo.so.3` (alpm-sonamev2: a prefix, `:`, the soname).
    #[must_use]
    pub fn is_soname(&self) -> bool {
        let name = self.name.as_str();
        if name.ends_with(".so") {
            return true;
        }
        name.split_once(':')
            .is_some_and(|(prefix, soname)| !prefix.is_empty() && soname.contains(".so"))
    }

    /// Whether a provision (an entry of some package's `provides`) satisfies this relation.
    ///
    /// As in `_alpm_depcmp_provides`, only a provision with `=` carries a version; any other
    /// provision satisfies unversioned relations only.
    #[must_use]
    pub fn is_satisfied_by_provision(&self, provision: &Self) -> bool {
        let version = match &provision.requirement {
            Some(VersionRequirement {
                comparison: Comparison::Equal,
                version,
            }) => Some(version.as_str()),
            _ => None,
        };
        satisfies(&provision.name, version, self)
    }
}

/// Whether something named `provider_name` at `provider_version` satisfies `dep`.
///
/// The provider is a package (its name and full version) or a provision (its name and, for a
/// `name=version` provision, that version). Names must match exactly; an unversioned
/// dependency is then satisfied, and a versioned one needs a provider version that meets the
/// requirement under [`vercmp`] (so a missing pkgrel on either side is ignored).
#[must_use]
pub fn satisfies(provider_name: &str, provider_version: Option<&str>, dep: &Depend) -> bool {
    if provider_name != dep.name {
        return false;
    }
    match (&dep.requirement, provider_version) {
        (None, _) => true,
        (Some(requirement), Some(version)) => requirement.is_satisfied_by(version),
        (Some(_), None) => false,
    }
}

impl fmt::Display for Depend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        match &self.requirement {
            Some(requirement) => write!(f, "{requirement}"),
            None => Ok(()),
        }
    }
}

impl FromStr for Depend {
    type Err = Error;

    /// Parses `name`, `name>=1.2-3`, `libfoo.so=3-64`, ...
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidRelation`] if the name or the version after an operator is empty, or
    ///   either contains whitespace, a control character or another comparison operator.
    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let invalid = |problem| Error::InvalidRelation {
            input: input.to_owned(),
            problem,
        };
        let (name, requirement) = match split_position(input) {
            Some(at) => {
                let (name, tail) = input.split_at(at);
                let requirement = VersionRequirement::parse_tail(tail).map_err(invalid)?;
                (name, Some(requirement))
            }
            None => (input, None),
        };
        if name.is_empty() {
            return Err(invalid(RelationProblem::EmptyName));
        }
        check_characters(name).map_err(invalid)?;
        Ok(Self {
            name: name.to_owned(),
            requirement,
        })
    }
}

/// Where pacman splits a relation: at the first `<`, else the first `>`, else the first `=`
/// (one pass over the bytes; the operators are ASCII, so a byte index is a char boundary).
fn split_position(input: &str) -> Option<usize> {
    let mut greater = None;
    let mut equal = None;
    for (i, &b) in input.as_bytes().iter().enumerate() {
        match b {
            b'<' => return Some(i),
            b'>' if greater.is_none() => greater = Some(i),
            b'=' if equal.is_none() => equal = Some(i),
            _ => {}
        }
    }
    greater.or(equal)
}

/// Rejects whitespace, control characters and comparison operators.
///
/// ASCII is checked byte by byte (every ASCII whitespace and control character is at most
/// `' '`, or DEL); from the first non-ASCII byte on, [`check_characters_chars`] decides, so
/// the character reported is always the first offending one.
fn check_characters(text: &str) -> Result<(), RelationProblem> {
    for (i, &b) in text.as_bytes().iter().enumerate() {
        if !b.is_ascii() {
            // Everything before `i` is ASCII: `i` is a char boundary.
            return check_characters_chars(text.get(i..).unwrap_or_default());
        }
        if b <= b' ' || b == 0x7f || matches!(b, b'<' | b'>' | b'=') {
            return Err(RelationProblem::ForbiddenCharacter(char::from(b)));
        }
    }
    Ok(())
}

/// [`check_characters`] on any text, one char at a time.
fn check_characters_chars(text: &str) -> Result<(), RelationProblem> {
    match text
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '='))
    {
        Some(c) => Err(RelationProblem::ForbiddenCharacter(c)),
        None => Ok(()),
    }
}

impl serde::Serialize for Depend {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Depend {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for VersionRequirement {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for VersionRequirement {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use rstest::rstest;

    use super::*;

    fn dep(text: &str) -> Depend {
        text.parse().unwrap()
    }

    #[rstest]
    #[case::bare("glibc", "glibc", None)]
    #[case::greater_or_equal("glibc>=2.39-1", "glibc", Some((Comparison::GreaterOrEqual, "2.39-1")))]
    #[case::less("python<3.13", "python", Some((Comparison::Less, "3.13")))]
    #[case::equal("foo=1.0", "foo", Some((Comparison::Equal, "1.0")))]
    #[case::greater("foo>1", "foo", Some((Comparison::Greater, "1")))]
    #[case::less_or_equal("foo<=1", "foo", Some((Comparison::LessOrEqual, "1")))]
    #[case::epoch("foo>=1:2.0", "foo", Some((Comparison::GreaterOrEqual, "1:2.0")))]
    #[case::soname_v1("libfoo.so=3-64", "libfoo.so", Some((Comparison::Equal, "3-64")))]
    #[case::soname_v1_bare("libfoo.so", "libfoo.so", None)]
    #[case::soname_v2("lib:libfoo.so.3", "lib:libfoo.so.3", None)]
    #[case::plus_in_name("libc++>=17", "libc++", Some((Comparison::GreaterOrEqual, "17")))]
    fn parses(
        #[case] input: &str,
        #[case] name: &str,
        #[case] requirement: Option<(Comparison, &str)>,
    ) {
        let parsed = dep(input);
        assert_eq!(parsed.name, name);
        assert_eq!(
            parsed.requirement.map(|r| (r.comparison, r.version)),
            requirement.map(|(c, v)| (c, v.to_owned()))
        );
        assert_eq!(dep(input).to_string(), input, "round trip");
    }

    #[rstest]
    #[case::empty("", RelationProblem::EmptyName)]
    #[case::operator_only(">=1", RelationProblem::EmptyName)]
    #[case::no_version("foo>=", RelationProblem::EmptyVersion)]
    #[case::space("foo >= 1", RelationProblem::ForbiddenCharacter(' '))]
    #[case::description("foo: for bar", RelationProblem::ForbiddenCharacter(' '))]
    #[case::newline("foo\n", RelationProblem::ForbiddenCharacter('\n'))]
    #[case::two_operators("foo>=1<2", RelationProblem::ForbiddenCharacter('>'))]
    #[case::equal_then_less("foo=1<2", RelationProblem::ForbiddenCharacter('='))]
    #[case::double_equal("foo==1", RelationProblem::ForbiddenCharacter('='))]
    fn rejects(#[case] input: &str, #[case] expected: RelationProblem) {
        match input.parse::<Depend>() {
            Err(Error::InvalidRelation {
                input: got,
                problem,
            }) => {
                assert_eq!(got, input);
                assert_eq!(problem, expected);
            }
            other => panic!("{input:?} parsed as {other:?}"),
        }
    }

    #[test]
    fn error_message_names_input_and_problem() {
        let error = "foo>=".parse::<Depend>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid package relation `foo>=`: the version is empty"
        );
        let error = "0.50".parse::<VersionRequirement>().unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid version requirement `0.50`: it must start with `<`, `<=`, `=`, `>=` or `>`"
        );
    }

    #[rstest]
    #[case::module_constraint("<0.50", Comparison::Less, "0.50")]
    #[case::at_least(">=1.2-3", Comparison::GreaterOrEqual, "1.2-3")]
    #[case::exact("=1:2.0", Comparison::Equal, "1:2.0")]
    fn parses_requirements(
        #[case] input: &str,
        #[case] comparison: Comparison,
        #[case] version: &str,
    ) {
        let requirement: VersionRequirement = input.parse().unwrap();
        assert_eq!(requirement.comparison, comparison);
        assert_eq!(requirement.version, version);
        assert_eq!(requirement.to_string(), input);
    }

    #[rstest]
    #[case::unversioned_by_any("foo", "foo", Some("1.0-1"), true)]
    #[case::other_name("foo", "bar", Some("1.0-1"), false)]
    #[case::ge_met("foo>=1.2", "foo", Some("1.2-1"), true)]
    #[case::ge_unmet("foo>=1.2", "foo", Some("1.1-9"), false)]
    #[case::lt_met("foo<2", "foo", Some("1.9-1"), true)]
    #[case::lt_unmet("foo<2", "foo", Some("2.0-1"), false)]
    #[case::gt_unmet_equal("foo>1", "foo", Some("1-5"), false)]
    #[case::le_met("foo<=1", "foo", Some("1-5"), true)]
    // `=` without a pkgrel ignores the provider's pkgrel (alpm_pkg_vercmp).
    #[case::eq_ignores_pkgrel("foo=1.0", "foo", Some("1.0-3"), true)]
    #[case::eq_with_pkgrel("foo=1.0-2", "foo", Some("1.0-3"), false)]
    // The provider's missing pkgrel is ignored too: `libbar=1.0` satisfies `libbar>=1.0-1`.
    #[case::provider_without_pkgrel("libbar>=1.0-1", "libbar", Some("1.0"), true)]
    #[case::epoch_wins("foo>=2", "foo", Some("1:1.0"), true)]
    #[case::versioned_needs_version("foo>=1", "foo", None, false)]
    #[case::unversioned_needs_none("foo", "foo", None, true)]
    fn satisfaction(
        #[case] dependency: &str,
        #[case] name: &str,
        #[case] version: Option<&str>,
        #[case] expected: bool,
    ) {
        assert_eq!(satisfies(name, version, &dep(dependency)), expected);
    }

    #[rstest]
    #[case::unversioned_provision_unversioned_dep("sh", "sh", true)]
    #[case::unversioned_provision_versioned_dep("sh>=1", "sh", false)]
    #[case::versioned_provision_unversioned_dep("sh", "sh=5.2", true)]
    #[case::versioned_provision_versioned_dep("sh>=5", "sh=5.2", true)]
    #[case::versioned_provision_too_old("sh>=6", "sh=5.2", false)]
    #[case::soname_same("libfoo.so=3-64", "libfoo.so=3-64", true)]
    #[case::soname_bumped("libfoo.so=3-64", "libfoo.so=4-64", false)]
    #[case::soname_other_class("libfoo.so=3-64", "libfoo.so=3-32", false)]
    #[case::soname_unversioned_dep("libfoo.so", "libfoo.so=4-64", true)]
    // pacman uses only `=` provisions for versioned dependencies.
    #[case::ge_provision_ignored("foo>=1", "foo>=2", false)]
    #[case::ge_provision_names_only("foo", "foo>=2", true)]
    fn provisions(#[case] dependency: &str, #[case] provision: &str, #[case] expected: bool) {
        assert_eq!(
            dep(dependency).is_satisfied_by_provision(&dep(provision)),
            expected
        );
    }

    #[rstest]
    #[case::v1("libfoo.so=3-64", true)]
    #[case::v1_bare("libalpm.so", true)]
    #[case::v2("lib:libfoo.so.3", true)]
    #[case::plain("glibc", false)]
    #[case::so_in_middle("libsoup", false)]
    #[case::colon_no_so("perl:foo", false)]
    fn sonames(#[case] input: &str, #[case] expected: bool) {
        assert_eq!(dep(input).is_soname(), expected);
    }

    #[test]
    fn serde_uses_the_text_form() {
        let parsed: Vec<Depend> = serde_json::from_str(r#"["a>=1","libfoo.so=3-64"]"#).unwrap();
        assert_eq!(parsed, vec![dep("a>=1"), dep("libfoo.so=3-64")]);
        assert_eq!(
            serde_json::to_string(&parsed).unwrap(),
            r#"["a>=1","libfoo.so=3-64"]"#
        );
        assert!(serde_json::from_str::<Depend>(r#""a >= 1""#).is_err());
    }

    #[rstest]
    // The first `<` wins over any `>` or `=` before it.
    #[case::less_after_others("a=b>c<d", RelationProblem::ForbiddenCharacter('='))]
    #[case::less_after_greater("a>b<d", RelationProblem::ForbiddenCharacter('>'))]
    // Without `<`, the first `>` wins over an earlier `=`.
    #[case::greater_after_equal("a=1>2", RelationProblem::ForbiddenCharacter('='))]
    #[case::equal_in_version("a>1=2", RelationProblem::ForbiddenCharacter('='))]
    #[case::greater_in_version("a>=1>2", RelationProblem::ForbiddenCharacter('>'))]
    #[case::ge_then_le("a>=1<=2", RelationProblem::ForbiddenCharacter('>'))]
    #[case::only_operators("<>=", RelationProblem::ForbiddenCharacter('>'))]
    #[case::empty_after_less("a>=1<", RelationProblem::EmptyVersion)]
    fn several_operators_split_where_pacman_splits(
        #[case] input: &str,
        #[case] expected: RelationProblem,
    ) {
        match input.parse::<Depend>() {
            Err(Error::InvalidRelation { problem, .. }) => assert_eq!(problem, expected),
            other => panic!("{input:?} parsed as {other:?}"),
        }
    }

    #[rstest]
    // Non-ASCII whitespace and control characters, after ASCII and alone.
    #[case::nel("foo\u{85}1", '\u{85}')]
    #[case::nbsp("foo>=1\u{a0}", '\u{a0}')]
    #[case::c1_control("\u{80}", '\u{80}')]
    #[case::em_space("é\u{2003}x", '\u{2003}')]
    #[case::ascii_after_non_ascii("é x", ' ')]
    #[case::delete("foo\u{7f}", '\u{7f}')]
    #[case::vertical_tab("foo\u{b}", '\u{b}')]
    fn forbidden_characters_beyond_ascii_are_named(#[case] input: &str, #[case] c: char) {
        match input.parse::<Depend>() {
            Err(Error::InvalidRelation { problem, .. }) => {
                assert_eq!(problem, RelationProblem::ForbiddenCharacter(c));
            }
            other => panic!("{input:?} parsed as {other:?}"),
        }
    }

    /// The parser as it was before the one-pass split and the ASCII fast path.
    fn reference_parse(input: &str) -> Result<Depend, RelationProblem> {
        let split = input
            .find('<')
            .or_else(|| input.find('>'))
            .or_else(|| input.find('='));
        let (name, requirement) = match split {
            Some(at) => {
                let (name, tail) = input.split_at(at);
                let (comparison, rest) = if let Some(rest) = tail.strip_prefix("<=") {
                    (Comparison::LessOrEqual, rest)
                } else if let Some(rest) = tail.strip_prefix(">=") {
                    (Comparison::GreaterOrEqual, rest)
                } else if let Some(rest) = tail.strip_prefix('<') {
                    (Comparison::Less, rest)
                } else if let Some(rest) = tail.strip_prefix('>') {
                    (Comparison::Greater, rest)
                } else if let Some(rest) = tail.strip_prefix('=') {
                    (Comparison::Equal, rest)
                } else {
                    return Err(RelationProblem::MissingComparison);
                };
                if rest.is_empty() {
                    return Err(RelationProblem::EmptyVersion);
                }
                check_characters_chars(rest)?;
                let version = rest.to_owned();
                (
                    name,
                    Some(VersionRequirement {
                        comparison,
                        version,
                    }),
                )
            }
            None => (input, None),
        };
        if name.is_empty() {
            return Err(RelationProblem::EmptyName);
        }
        check_characters_chars(name)?;
        Ok(Depend {
            name: name.to_owned(),
            requirement,
        })
    }

    #[test]
    fn the_ascii_fast_path_agrees_with_the_char_path_on_every_character() {
        assert_eq!(dep("é>=1:ü").name, "é");
        let samples = (0..=0x3000u32)
            .chain([0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f, 0xfeff])
            .filter_map(char::from_u32);
        for c in samples {
            for text in [c.to_string(), format!("ab{c}"), format!("{c}=")] {
                assert_eq!(
                    check_characters(&text),
                    check_characters_chars(&text),
                    "{text:?}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn parsing_agrees_with_the_reference(
            text in "[a<>= \t\u{7f}\u{85}\u{a0}\u{80}é1.:-]{0,12}"
        ) {
            let ours = text.parse::<Depend>().map_err(|e| match e {
                Error::InvalidRelation { problem, .. } => problem,
                other => panic!("{other}"),
            });
            prop_assert_eq!(ours, reference_parse(&text));
        }

        #[test]
        fn display_round_trips(
            name in "[a-z0-9@._+-]{1,12}",
            op in proptest::option::of(prop_oneof![
                Just("<"), Just("<="), Just("="), Just(">="), Just(">")
            ]),
            version in "([0-9]:)?[0-9a-z.+_]{1,8}(-[0-9]{1,2})?",
        ) {
            let text = match op {
                Some(op) => format!("{name}{op}{version}"),
                None => name.clone(),
            };
            let parsed: Depend = text.parse().unwrap();
            prop_assert_eq!(parsed.to_string(), text);
        }

        #[test]
        fn parsing_never_panics(text in ".{0,30}") {
            let _ = text.parse::<Depend>();
            let _ = text.parse::<VersionRequirement>();
        }
    }
}
