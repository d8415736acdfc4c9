//! `repo.yaml`: the maintainers' configuration of a Lumina-Stable mirror.
//!
//! ```yaml
//! version: 1                       # optional; this tool reads version 1
//! upstream: https://geo.mirror.pkgbuild.com/$repo/os/$arch
//! repositories: [core, extra, multilib]
//! architecture: x86_64             # default x86_64
//! min_age: 24h                     # default 24h; units s, m, h, d, w (`1d12h`)
//! max_age: 48h                     # default 48h; held longer than this = overdue
//! output: /srv/lumina-stable       # the published tree (see `publish`)
//! signing:
//!   key: 0123456789ABCDEF0123456789ABCDEF01234567   # full fingerprint
//!   gnupg_home: /etc/lumina-repo/gnupg             # default: GnuPG's own ($GNUPGHOME)
//! upstream_keyring: /etc/pacman.d/gnupg            # a GnuPG home, like pacman's gpgdir
//! modules:                         # package -> version requirement
//!   hyprland: "<0.50"
//! holds:                           # package or pkgbase -> reason
//!   linux: "waiting for the nvidia-dkms fix"
//! keep_generations: 5              # default 5, at least 2
//! ```
//!
//! Parsing is pure ([`RepoConfig::parse`]) and reports the first problem as one
//! [`Diagnostic`] with file, line and column, what was expected and a hint, through the same
//! positioned YAML tree and checks as `lumina.yaml` ([`lumina_core::registry::check`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lumina_core::registry::Diagnostic;
use lumina_core::registry::check::{
    DiagExt, Res, Src, fields, int, list, map, seq, string, syntax_error,
};
use lumina_core::registry::yaml::{self, Kind, Node, Pos};

use crate::depend::VersionRequirement;
use crate::error::Error;

/// Keys of the top-level mapping.
pub const KEYS: &[&str] = &[
    "version",
    "upstream",
    "repositories",
    "architecture",
    "min_age",
    "max_age",
    "output",
    "signing",
    "upstream_keyring",
    "modules",
    "holds",
    "keep_generations",
];
/// Keys of `signing`.
pub const SIGNING_KEYS: &[&str] = &["key", "gnupg_home"];
/// Keys that must be present.
pub const REQUIRED: &[&str] = &["upstream", "repositories", "output", "signing"];
/// The largest configuration file read.
pub const MAX_SIZE: u64 = 1 << 20;
/// The default `upstream_keyring`: pacman's own keyring.
pub const DEFAULT_UPSTREAM_KEYRING: &str = "/etc/pacman.d/gnupg";
/// The name of the ledger file inside the output directory.
pub const LEDGER_FILE: &str = "ledger.json";

/// How the upstream mirror is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `https://`.
    Https,
    /// `http://` (packages and databases are still checked: SHA-256 and signatures).
    Http,
    /// `file://` (a local mirror or a test fixture).
    File,
}

/// The upstream mirror: a pacman `Server =` URL, with `$repo` and `$arch` placeholders, or
/// a mirror root to which `/$repo/os/$arch` is appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// The URL as written (without a trailing `/`).
    pub url: String,
    /// Its scheme.
    pub scheme: Scheme,
}

impl Upstream {
    /// The URL of one repository's directory, e.g. `https://m/core/os/x86_64`.
    #[must_use]
    pub fn repo_url(&self, repo: &str, arch: &str) -> String {
        if self.url.contains("$repo") {
            self.url.replace("$repo", repo).replace("$arch", arch)
        } else {
            format!("{}/{repo}/os/{arch}", self.url)
        }
    }
}

/// The key Lumina-Stable signs its databases (and its own packages) with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signing {
    /// The key's full fingerprint, upper-case hex without spaces.
    pub key: String,
    /// The GnuPG home holding the secret key; `None` is GnuPG's default (`$GNUPGHOME`,
    /// `~/.gnupg`).
    pub gnupg_home: Option<PathBuf>,
}

/// A validated `repo.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoConfig {
    /// The upstream mirror.
    pub upstream: Upstream,
    /// The repositories mirrored, in file order (`core`, `extra`, `multilib`).
    pub repositories: Vec<String>,
    /// The architecture, `$arch` (default `x86_64`).
    pub architecture: String,
    /// How long a version must have been seen upstream before it may be published.
    pub min_age: Duration,
    /// How long a change may be held before it is reported overdue.
    pub max_age: Duration,
    /// The output directory: the published tree, its generations and the ledger.
    pub output: PathBuf,
    /// The signing key.
    pub signing: Signing,
    /// The GnuPG home whose keyring verifies upstream packagers' signatures.
    pub upstream_keyring: PathBuf,
    /// Module constraints: package -> requirement its new versions must meet.
    pub modules: BTreeMap<String, VersionRequirement>,
    /// Manual holds from the configuration: package or pkgbase -> reason.
    pub holds: BTreeMap<String, String>,
    /// How many published generations to keep (for rollback and for clients still
    /// downloading from the previous one). Once there are this many, each publish recycles
    /// the one it would delete (see `publish`): a crash in the middle of a publish then
    /// leaves one fewer.
    pub keep_generations: u32,
}

impl RepoConfig {
    /// The ledger of first-seen times and the audit log: `OUTPUT/ledger.json`.
    #[must_use]
    pub fn ledger_path(&self) -> PathBuf {
        self.output.join(LEDGER_FILE)
    }

    /// The planner's policy from this configuration; `expedited` and the ledger's manual
    /// holds are added by the caller.
    #[must_use]
    pub fn policy(&self) -> crate::promote::Policy {
        crate::promote::Policy {
            min_age: self.min_age,
            max_age: self.max_age,
            holds: self.holds.clone(),
            expedited: std::collections::BTreeSet::new(),
            module_constraints: self.modules.clone(),
        }
    }

    /// Read and validate the configuration file `path`.
    ///
    /// # Errors
    /// [`Error::Config`] when it is missing, not a regular file, too large, not UTF-8 or
    /// invalid; [`Error::Fs`] when it cannot be read.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let plain = |message: String, hint: &str| {
            Error::Config(Box::new(Diagnostic {
                file: path.to_path_buf(),
                pos: None,
                message,
                expected: None,
                hint: Some(hint.to_owned()),
                line_text: None,
            }))
        };
        let bytes = match lumina_core::fs::stat(path)? {
            None => {
                return Err(plain(
                    "no configuration here".into(),
                    "write a `repo.yaml` (`lumina-repo check --help` lists its keys), or pass its path with `--config`",
                ));
            }
            Some(m) if !m.is_file() => {
                return Err(plain(
                    "the configuration is not a regular file".into(),
                    "point `--config` at the `repo.yaml` file",
                ));
            }
            Some(m) if m.len() > MAX_SIZE => {
                return Err(plain(
                    format!(
                        "the configuration is {} bytes; the limit is {MAX_SIZE}",
                        m.len()
                    ),
                    "a configuration this large is almost certainly not one",
                ));
            }
            Some(_) => lumina_core::fs::read(path)?,
        };
        let text = String::from_utf8(bytes).map_err(|e| {
            plain(
                format!(
                    "the configuration is not UTF-8 (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
                "save the file as UTF-8",
            )
        })?;
        Self::parse(&text, path).map_err(Error::Config)
    }

    /// Parse configuration text; `file` is only used in messages.
    ///
    /// # Errors
    /// The first problem, in file order, as a [`Diagnostic`].
    pub fn parse(text: &str, file: &Path) -> Res<Self> {
        let src = Src::new(
            text,
            file,
            "the configuration",
            "remove it, or correct its spelling to one of the expected keys",
        );
        let root = yaml::parse(text).map_err(|e| syntax_error(&src, e))?;
        let entries = match root.kind {
            Kind::Map(e) => e,
            other => {
                return Err(src
                    .err(
                        root.pos,
                        format!(
                            "the configuration must be a mapping, found {}",
                            other.describe()
                        ),
                    )
                    .expected(format!("keys: {}", list(KEYS)))
                    .hint("start with `upstream:`, `repositories:`, `output:` and `signing:`"));
            }
        };
        let mut upstream = None;
        let mut repositories = None;
        let mut architecture = "x86_64".to_owned();
        let mut min_age = (Duration::from_secs(24 * 3600), None);
        let mut max_age = (Duration::from_secs(48 * 3600), None);
        let mut output = None;
        let mut signing = None;
        let mut upstream_keyring = PathBuf::from(DEFAULT_UPSTREAM_KEYRING);
        let mut modules = BTreeMap::new();
        let mut holds = BTreeMap::new();
        let mut keep_generations = 5;
        for (key, v) in fields(&src, entries, KEYS, "in the configuration")? {
            match key.as_str() {
                "version" => {
                    if !matches!(v.kind, Kind::Int(1)) {
                        return Err(src
                            .err(
                                v.pos,
                                format!("unsupported configuration version: {}", v.kind.describe()),
                            )
                            .expected("`1`")
                            .hint("this lumina-repo reads configuration version 1"));
                    }
                }
                "upstream" => upstream = Some(parse_upstream(&src, v)?),
                "repositories" => repositories = Some(parse_repositories(&src, v)?),
                "architecture" => {
                    let (a, pos) = string(&src, v, "`architecture`")?;
                    if !a.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        return Err(src
                            .err(pos, format!("`{a}` is not an architecture name"))
                            .expected("letters, digits and `_`, e.g. `x86_64` or `aarch64`")
                            .hint("this is pacman's `$arch`"));
                    }
                    architecture = a;
                }
                "min_age" => {
                    let pos = v.pos;
                    min_age = (duration(&src, v, "`min_age`")?, Some(pos));
                }
                "max_age" => {
                    let pos = v.pos;
                    max_age = (duration(&src, v, "`max_age`")?, Some(pos));
                }
                "output" => output = Some(abs_path(&src, v, "`output`")?),
                "signing" => signing = Some(parse_signing(&src, v)?),
                "upstream_keyring" => {
                    upstream_keyring = abs_path(&src, v, "`upstream_keyring`")?;
                }
                "modules" => modules = parse_modules(&src, v)?,
                "holds" => holds = parse_holds(&src, v)?,
                _ => {
                    keep_generations = int(
                        &src,
                        &v,
                        ("`keep_generations`", 2, 1000),
                        "keep at least the served generation and the one before it, for \
                         rollback and for clients still downloading from it",
                    )?;
                }
            }
        }
        if let (Some(pos), true) = (max_age.1.or(min_age.1), max_age.0 < min_age.0) {
            return Err(src
                .err(
                    pos,
                    format!(
                        "`max_age` ({}) is shorter than `min_age` ({})",
                        format_duration(max_age.0),
                        format_duration(min_age.0)
                    ),
                )
                .expected("`max_age` at least `min_age`")
                .hint(
                    "a change becomes overdue `max_age` after it was first seen; it cannot be \
                     overdue before it may be published",
                ));
        }
        let missing = |key: &str, example: &str| {
            src.err(
                Pos { line: 1, column: 1 },
                format!("the configuration has no `{key}`"),
            )
            .expected(format!("`{key}`, e.g. `{example}`"))
            .hint(format!("required keys: {}", list(REQUIRED)))
        };
        Ok(Self {
            upstream: upstream
                .ok_or_else(|| missing("upstream", "upstream: https://geo.mirror.pkgbuild.com"))?,
            repositories: repositories
                .ok_or_else(|| missing("repositories", "repositories: [core, extra]"))?,
            architecture,
            min_age: min_age.0,
            max_age: max_age.0,
            output: output.ok_or_else(|| missing("output", "output: /srv/lumina-stable"))?,
            signing: signing.ok_or_else(|| missing("signing", "signing: { key: FINGERPRINT }"))?,
            upstream_keyring,
            modules,
            holds,
            keep_generations,
        })
    }
}

fn parse_upstream(src: &Src<'_>, v: Node) -> Res<Upstream> {
    let (url, pos) = string(src, v, "`upstream`")?;
    let bad = |message: String| {
        src.err(pos, message)
            .expected(
                "an `https://`, `http://` or `file://` URL, e.g. \
                 `https://geo.mirror.pkgbuild.com/$repo/os/$arch`",
            )
            .hint(
                "write a pacman `Server =` URL with `$repo` and `$arch`, or the mirror's root \
                 (`/$repo/os/$arch` is appended)",
            )
    };
    let (scheme, rest) = if let Some(r) = url.strip_prefix("https://") {
        (Scheme::Https, r)
    } else if let Some(r) = url.strip_prefix("http://") {
        (Scheme::Http, r)
    } else if let Some(r) = url.strip_prefix("file://") {
        (Scheme::File, r)
    } else {
        return Err(bad(format!("`upstream` `{url}` is not a supported URL")));
    };
    if url.chars().any(char::is_whitespace) {
        return Err(bad(format!("`upstream` `{url}` contains whitespace")));
    }
    match scheme {
        Scheme::File if !rest.starts_with('/') => {
            return Err(bad(format!(
                "`upstream` `{url}` is not an absolute `file://` URL"
            )));
        }
        Scheme::Https | Scheme::Http if rest.is_empty() || rest.starts_with('/') => {
            return Err(bad(format!("`upstream` `{url}` has no host")));
        }
        _ => {}
    }
    if url.contains("$arch") && !url.contains("$repo") {
        return Err(bad(format!(
            "`upstream` `{url}` has `$arch` but no `$repo`"
        )));
    }
    Ok(Upstream {
        url: url.trim_end_matches('/').to_owned(),
        scheme,
    })
}

/// A repository or package name usable as a path component: pacman's package-name
/// characters (letters, digits, `@._+-`), not starting with `.` or `-`.
#[must_use]
pub fn is_package_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['.', '-'])
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "@._+-".contains(c))
}

fn parse_repositories(src: &Src<'_>, v: Node) -> Res<Vec<String>> {
    let pos = v.pos;
    let items = seq(
        src,
        v,
        "`repositories`",
        "repositories: [core, extra, multilib]",
        "list the upstream repositories to mirror",
    )?;
    let mut out: Vec<String> = Vec::new();
    for item in items {
        let (name, pos) = string(src, item, "a repository name")?;
        if !is_package_name(&name) || name == "local" {
            return Err(src
                .err(pos, format!("`{name}` is not a repository name"))
                .expected("letters, digits and `@._+-`, not starting with `.` or `-`, e.g. `core`")
                .hint("the name is pacman's `[section]` and a directory of the published tree; `local` is reserved"));
        }
        if out.contains(&name) {
            return Err(src
                .err(pos, format!("repository `{name}` is listed twice"))
                .expected("each repository once")
                .hint("remove one of the two entries"));
        }
        out.push(name);
    }
    if out.is_empty() {
        return Err(src
            .err(pos, "`repositories` is empty")
            .expected("at least one repository, e.g. `[core, extra]`")
            .hint("list the upstream repositories to mirror"));
    }
    Ok(out)
}

fn parse_signing(src: &Src<'_>, v: Node) -> Res<Signing> {
    let pos = v.pos;
    let entries = map(
        src,
        v,
        "`signing`",
        "signing: { key: FINGERPRINT, gnupg_home: /etc/lumina-repo/gnupg }",
        "name the signing key by its full fingerprint",
    )?;
    let mut key = None;
    let mut gnupg_home = None;
    for (k, v) in fields(src, entries, SIGNING_KEYS, "in `signing`")? {
        if k == "key" {
            let (text, pos) = string(src, v, "`signing.key`")?;
            let fpr: String = text
                .chars()
                .filter(|c| *c != ' ')
                .collect::<String>()
                .to_ascii_uppercase();
            let fpr = fpr.strip_prefix("0X").map_or(fpr.clone(), str::to_owned);
            if !(fpr.len() == 40 || fpr.len() == 64) || !fpr.chars().all(|c| c.is_ascii_hexdigit())
            {
                return Err(src
                    .err(pos, format!("`{text}` is not a full key fingerprint"))
                    .expected("40 hexadecimal digits (64 for a v5 key)")
                    .hint(
                        "a short key ID can match more than one key; print the fingerprint with \
                         `gpg --list-secret-keys --with-colons` (the `fpr` line)",
                    ));
            }
            key = Some(fpr);
        } else {
            gnupg_home = Some(abs_path(src, v, "`signing.gnupg_home`")?);
        }
    }
    let key = key.ok_or_else(|| {
        src.err(pos, "`signing` has no `key`")
            .expected("`key: FINGERPRINT`")
            .hint("the databases are signed with this key; pacman verifies them with `SigLevel = Required`")
    })?;
    Ok(Signing { key, gnupg_home })
}

fn parse_modules(src: &Src<'_>, v: Node) -> Res<BTreeMap<String, VersionRequirement>> {
    let entries = map(
        src,
        v,
        "`modules`",
        "modules: { hyprland: \"<0.50\" }",
        "map package names to version requirements",
    )?;
    let mut out = BTreeMap::new();
    for (k, v) in entries {
        let name = package_key(src, k, "a module")?;
        let (text, pos) = match v.kind {
            Kind::Float(_) | Kind::Int(_) => {
                return Err(src
                    .err(
                        v.pos,
                        format!(
                            "the constraint of `{name}` is the number `{}`, not a requirement",
                            src.raw(v.pos).unwrap_or_default()
                        ),
                    )
                    .expected("a comparison and a version, e.g. `\"<0.50\"`")
                    .hint(format!(
                        "write `{name}: \"<{raw}\"` to stay below it or `\"={raw}\"` to pin it",
                        raw = src.raw(v.pos).unwrap_or_default()
                    )));
            }
            _ => string(src, v, "a module constraint")?,
        };
        let req: VersionRequirement = text.parse().map_err(|e: Error| {
            let problem = match e {
                Error::InvalidRequirement { problem, .. } => problem.to_string(),
                other => other.to_string(),
            };
            src.err(
                pos,
                format!("the constraint `{text}` of `{name}` is invalid: {problem}"),
            )
            .expected("a comparison and a version, e.g. `<0.50`, `>=1.2-3` or `=1:2.0`")
            .hint("quote it: YAML reads a leading `>` as a block scalar")
        })?;
        out.insert(name, req);
    }
    Ok(out)
}

fn parse_holds(src: &Src<'_>, v: Node) -> Res<BTreeMap<String, String>> {
    let entries = map(
        src,
        v,
        "`holds`",
        "holds: { linux: \"waiting for nvidia\" }",
        "map package names to the reason they are held",
    )?;
    let mut out = BTreeMap::new();
    for (k, v) in entries {
        let name = package_key(src, k, "a hold")?;
        let (reason, _) = string(src, v, &format!("the reason for holding `{name}`"))?;
        out.insert(name, reason);
    }
    Ok(out)
}

/// A mapping key that must be a package name.
fn package_key(src: &Src<'_>, k: Node, what: &str) -> Res<String> {
    let pos = k.pos;
    let (name, _) = string(src, k, &format!("the package of {what}"))?;
    if !is_package_name(&name) {
        return Err(src
            .err(pos, format!("`{name}` is not a package name"))
            .expected("letters, digits and `@._+-`, not starting with `.` or `-`")
            .hint("write the package's name (or its pkgbase), e.g. `hyprland`"));
    }
    Ok(name)
}

fn abs_path(src: &Src<'_>, v: Node, what: &str) -> Res<PathBuf> {
    let (s, pos) = string(src, v, what)?;
    let p = Path::new(&s);
    let dotted = p.components().any(|c| {
        matches!(
            c,
            std::path::Component::CurDir | std::path::Component::ParentDir
        )
    });
    if !p.is_absolute() || dotted {
        return Err(src
            .err(pos, format!("{what} `{s}` is not an absolute path"))
            .expected("an absolute path without `.` or `..`, e.g. `/srv/lumina-stable`")
            .hint("the tool runs from timers whose working directory is not yours"));
    }
    let trimmed = s.trim_end_matches('/');
    Ok(PathBuf::from(if trimmed.is_empty() {
        "/"
    } else {
        trimmed
    }))
}

fn duration(src: &Src<'_>, v: Node, what: &str) -> Res<Duration> {
    let expected = "a number and a unit, e.g. `24h`, `90m`, `2d` or `1d12h` (units `s`, `m`, \
                    `h`, `d`, `w`)";
    match &v.kind {
        Kind::Int(n) => Err(src
            .err(v.pos, format!("{what} is the number `{n}` without a unit"))
            .expected(expected)
            .hint(format!("write `{n}h` for hours or `{n}d` for days"))),
        _ => {
            let (text, pos) = string(src, v, what)?;
            parse_duration(&text).ok_or_else(|| {
                src.err(pos, format!("{what} `{text}` is not a duration"))
                    .expected(expected)
                    .hint("write whole numbers, each followed by its unit, without spaces")
            })
        }
    }
}

/// Parse `24h`, `90m`, `2d`, `1w`, `30s` or a sequence such as `1d12h`. `None` for
/// anything else, including a number without a unit or an overflow.
#[must_use]
pub fn parse_duration(text: &str) -> Option<Duration> {
    // The same syntax as `/etc/lumina/config.yaml`'s durations.
    lumina_core::config::parse_duration(text)
}

/// A duration as the configuration writes it: `1d12h`, `90m`, `0s`.
#[must_use]
pub fn format_duration(d: Duration) -> String {
    let mut s = d.as_secs();
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, len) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if s >= len {
            out.push_str(&format!("{}{unit}", s / len));
            s %= len;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::depend::Comparison;

    const FPR: &str = "0123456789ABCDEF0123456789ABCDEF01234567";

    fn minimal() -> String {
        format!(
            "upstream: https://geo.mirror.pkgbuild.com/$repo/os/$arch\n\
             repositories: [core, extra]\n\
             output: /srv/lumina-stable\n\
             signing:\n  key: {FPR}\n"
        )
    }

    fn parse(t: &str) -> Result<RepoConfig, String> {
        RepoConfig::parse(t, Path::new("repo.yaml")).map_err(|d| d.to_string())
    }

    fn err(t: &str) -> String {
        parse(t).unwrap_err()
    }

    #[test]
    fn a_minimal_configuration_gets_the_defaults() {
        let c = parse(&minimal()).unwrap();
        assert_eq!(c.upstream.scheme, Scheme::Https);
        assert_eq!(
            c.upstream.repo_url("core", "x86_64"),
            "https://geo.mirror.pkgbuild.com/core/os/x86_64"
        );
        assert_eq!(c.repositories, ["core", "extra"]);
        assert_eq!(c.architecture, "x86_64");
        assert_eq!(c.min_age, Duration::from_secs(24 * 3600));
        assert_eq!(c.max_age, Duration::from_secs(48 * 3600));
        assert_eq!(c.output, PathBuf::from("/srv/lumina-stable"));
        assert_eq!(c.signing.key, FPR);
        assert_eq!(c.signing.gnupg_home, None);
        assert_eq!(c.upstream_keyring, PathBuf::from("/etc/pacman.d/gnupg"));
        assert!(c.modules.is_empty() && c.holds.is_empty());
        assert_eq!(c.keep_generations, 5);
        assert_eq!(
            c.ledger_path(),
            PathBuf::from("/srv/lumina-stable/ledger.json")
        );
        assert_eq!(c.policy().min_age, c.min_age);
    }

    #[test]
    fn every_key_parses() {
        let c = parse(
            "version: 1\n\
             upstream: file:///srv/arch-mirror/\n\
             repositories: [core, extra, multilib]\n\
             architecture: aarch64\n\
             min_age: 90m\n\
             max_age: 1d12h\n\
             output: /srv/out/\n\
             signing:\n  key: \"0123 4567 89ab cdef 0123  4567 89AB CDEF 0123 4567\"\n  gnupg_home: /etc/lumina-repo/gnupg\n\
             upstream_keyring: /srv/keyring\n\
             modules:\n  hyprland: \"<0.50\"\n  mesa: \">=24.1\"\n\
             holds:\n  linux: waiting for the nvidia fix\n\
             keep_generations: 3\n",
        )
        .unwrap();
        assert_eq!(c.upstream.scheme, Scheme::File);
        assert_eq!(
            c.upstream.repo_url("multilib", "aarch64"),
            "file:///srv/arch-mirror/multilib/os/aarch64"
        );
        assert_eq!(c.min_age, Duration::from_secs(90 * 60));
        assert_eq!(c.max_age, Duration::from_secs(36 * 3600));
        assert_eq!(c.output, PathBuf::from("/srv/out"));
        assert_eq!(c.signing.key, FPR);
        assert_eq!(
            c.signing.gnupg_home,
            Some(PathBuf::from("/etc/lumina-repo/gnupg"))
        );
        assert_eq!(c.modules["hyprland"].comparison, Comparison::Less);
        assert_eq!(c.modules["hyprland"].version, "0.50");
        assert!(c.modules["mesa"].is_satisfied_by("24.1.2-1"));
        assert_eq!(c.holds["linux"], "waiting for the nvidia fix");
        assert_eq!(c.keep_generations, 3);
        assert_eq!(c.policy().module_constraints, c.modules);
    }

    #[test]
    fn durations() {
        for (text, secs) in [
            ("24h", 86_400),
            ("90m", 5400),
            ("2d", 172_800),
            ("1w", 604_800),
            ("30s", 30),
            ("1d12h", 129_600),
            ("0s", 0),
        ] {
            assert_eq!(
                parse_duration(text),
                Some(Duration::from_secs(secs)),
                "{text}"
            );
            assert_eq!(
                parse_duration(&format_duration(Duration::from_secs(secs))),
                Some(Duration::from_secs(secs))
            );
        }
        for bad in [
            "",
            "24",
            "h",
            "1.5h",
            "1 h",
            "-1h",
            "1y",
            "99999999999999999999w",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
        assert_eq!(format_duration(Duration::from_secs(129_600)), "1d12h");
    }

    #[test]
    fn an_unknown_key_names_file_line_column_and_the_closest_key() {
        assert_eq!(
            err(&format!("{}min_ag: 12h\n", minimal())),
            "repo.yaml:6:1: unknown key `min_ag` in the configuration\n  |\n6 | min_ag: 12h\n  | ^\n  \
             expected: one of `version`, `upstream`, `repositories`, `architecture`, `min_age`, \
             `max_age`, `output`, `signing`, `upstream_keyring`, `modules`, `holds`, \
             `keep_generations`\n\nhint: did you mean `min_age`?"
        );
    }

    #[test]
    fn a_bad_upstream_url_is_explained() {
        assert_eq!(
            err("upstream: ftp://mirror.example/arch\n"),
            "repo.yaml:1:11: `upstream` `ftp://mirror.example/arch` is not a supported URL\n  |\n\
             1 | upstream: ftp://mirror.example/arch\n  |           ^\n  \
             expected: an `https://`, `http://` or `file://` URL, e.g. \
             `https://geo.mirror.pkgbuild.com/$repo/os/$arch`\n\n\
             hint: write a pacman `Server =` URL with `$repo` and `$arch`, or the mirror's root \
             (`/$repo/os/$arch` is appended)"
        );
        assert!(err("upstream: file://relative/dir\n").starts_with(
            "repo.yaml:1:11: `upstream` `file://relative/dir` is not an absolute `file://` URL"
        ));
        assert!(
            err("upstream: https:///core\n")
                .starts_with("repo.yaml:1:11: `upstream` `https:///core` has no host")
        );
    }

    #[test]
    fn a_duration_without_a_unit_is_explained() {
        assert_eq!(
            err(&format!("{}min_age: 24\n", minimal())),
            "repo.yaml:6:10: `min_age` is the number `24` without a unit\n  |\n6 | min_age: 24\n  \
             |          ^\n  expected: a number and a unit, e.g. `24h`, `90m`, `2d` or `1d12h` \
             (units `s`, `m`, `h`, `d`, `w`)\n\nhint: write `24h` for hours or `24d` for days"
        );
        assert!(
            err(&format!("{}max_age: soon\n", minimal()))
                .starts_with("repo.yaml:6:10: `max_age` `soon` is not a duration")
        );
    }

    #[test]
    fn max_age_shorter_than_min_age_is_refused_at_max_age() {
        assert_eq!(
            err(&format!("{}min_age: 2d\nmax_age: 24h\n", minimal())),
            "repo.yaml:7:10: `max_age` (1d) is shorter than `min_age` (2d)\n  |\n7 | max_age: 24h\n  \
             |          ^\n  expected: `max_age` at least `min_age`\n\nhint: a change becomes \
             overdue `max_age` after it was first seen; it cannot be overdue before it may be \
             published"
        );
    }

    #[test]
    fn a_bad_module_constraint_is_explained() {
        assert_eq!(
            err(&format!("{}modules:\n  hyprland: 0.50\n", minimal())),
            "repo.yaml:7:13: the constraint of `hyprland` is the number `0.50`, not a \
             requirement\n  |\n7 |   hyprland: 0.50\n  |             ^\n  expected: a \
             comparison and a version, e.g. `\"<0.50\"`\n\nhint: write `hyprland: \"<0.50\"` \
             to stay below it or `\"=0.50\"` to pin it"
        );
        assert_eq!(
            err(&format!("{}modules:\n  hyprland: \"~0.50\"\n", minimal())),
            "repo.yaml:7:13: the constraint `~0.50` of `hyprland` is invalid: it must start \
             with `<`, `<=`, `=`, `>=` or `>`\n  |\n7 |   hyprland: \"~0.50\"\n  |             \
             ^\n  expected: a comparison and a version, e.g. `<0.50`, `>=1.2-3` or \
             `=1:2.0`\n\nhint: quote it: YAML reads a leading `>` as a block scalar"
        );
    }

    #[test]
    fn a_short_key_id_is_refused() {
        let text = minimal().replace(FPR, "89ABCDEF01234567");
        assert_eq!(
            err(&text),
            "repo.yaml:5:8: `89ABCDEF01234567` is not a full key fingerprint\n  |\n\
             5 |   key: 89ABCDEF01234567\n  |        ^\n  expected: 40 hexadecimal digits (64 \
             for a v5 key)\n\nhint: a short key ID can match more than one key; print the \
             fingerprint with `gpg --list-secret-keys --with-colons` (the `fpr` line)"
        );
    }

    #[test]
    fn missing_required_keys_and_other_mistakes() {
        assert_eq!(
            err(
                "upstream: https://m.example\nrepositories: [core]\nsigning: {key: \
                 0123456789ABCDEF0123456789ABCDEF01234567}\n"
            ),
            "repo.yaml:1:1: the configuration has no `output`\n  |\n1 | upstream: \
             https://m.example\n  | ^\n  expected: `output`, e.g. `output: \
             /srv/lumina-stable`\n\nhint: required keys: `upstream`, `repositories`, `output`, \
             `signing`"
        );
        assert!(
            err(&minimal().replace("[core, extra]", "[core, core]"))
                .starts_with("repo.yaml:2:22: repository `core` is listed twice")
        );
        assert!(
            err(&minimal().replace("[core, extra]", "[../etc]"))
                .starts_with("repo.yaml:2:16: `../etc` is not a repository name")
        );
        assert!(
            err(&minimal().replace("/srv/lumina-stable", "srv/out"))
                .starts_with("repo.yaml:3:9: `output` `srv/out` is not an absolute path")
        );
        assert!(
            err(&format!("{}keep_generations: 1\n", minimal()))
                .starts_with("repo.yaml:6:19: `keep_generations` is `1`, out of range")
        );
        assert_eq!(
            err(&format!("{}holds:\n  linux:\n", minimal())),
            "repo.yaml:7:8: the reason for holding `linux` is missing\n  |\n7 |   linux:\n  \
             |        ^\n  expected: a string\n\nhint: write a value after the `:`, or remove \
             the entry"
        );
        assert!(
            err("- a\n")
                .starts_with("repo.yaml:1:1: the configuration must be a mapping, found a list")
        );
        assert!(err("upstream: [\n").starts_with("repo.yaml:"));
    }

    #[test]
    fn load_reports_a_missing_file_and_reads_a_real_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("repo.yaml");
        let e = RepoConfig::load(&path).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}: no configuration here\n\nhint: write a `repo.yaml` (`lumina-repo check \
                 --help` lists its keys), or pass its path with `--config`",
                path.display()
            )
        );
        lumina_core::fs::Fs::new()
            .write_atomic(&path, minimal().as_bytes(), false)
            .unwrap();
        assert_eq!(
            RepoConfig::load(&path).unwrap().repositories,
            ["core", "extra"]
        );
    }
}
