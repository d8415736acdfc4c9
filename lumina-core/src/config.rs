//! `/etc/lumina/config.yaml`: the system's snapshot policy and Lumina-Stable freshness check,
//! read by the hooks, `lumina snapshot` and `lumina stable status`. Absent means the
//! defaults; present but wrong means one diagnostic with file, line and column (the same
//! checks and format as the registry).

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::registry::check::{
    DiagExt, Res, Src, fields, int, list, map, seq, string, syntax_error,
};
use crate::registry::yaml::{self, Kind, Node, Pos};
use crate::registry::{Diagnostic, MinFree};
use crate::root::{self, Root};

/// Keys of the top-level mapping.
pub const KEYS: &[&str] = &[
    "version",
    "backend",
    "subjects",
    "datasets",
    "snapshot_dir",
    "snapper_configs",
    "retention",
    "important",
    "on_failure",
    "skip",
    "users",
    "system_profile",
    "tools",
    "stable",
];
/// Keys of `retention`.
pub const RETENTION_KEYS: &[&str] = &["keep", "keep_important", "min_free"];
/// Keys of `stable`.
pub const STABLE_KEYS: &[&str] = &["max_age", "warn"];
/// Keys of `tools`.
pub const TOOL_KEYS: &[&str] = &["zfs", "snapper", "lumina"];
/// Values of `backend`.
pub const BACKENDS: &[&str] = &["auto", "btrfs", "zfs", "snapper", "none"];

/// Which snapshot backend to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendChoice {
    /// Detect: snapper if it has a config, else the filesystem of `/` (btrfs, zfs).
    Auto,
    /// btrfs read-only snapshots through libbtrfsutil.
    Btrfs,
    /// ZFS snapshots through the `zfs` command.
    Zfs,
    /// snapper, for systems that already use it.
    Snapper,
    /// No snapshots (the relink still runs).
    None,
}

/// What a hook does when it cannot take its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnFailure {
    /// The transaction does not run without its snapshot.
    Abort,
    /// Say so in one line and let the transaction run.
    Warn,
}

/// Retention of Lumina's own snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Retention {
    /// Keep the last N pairs.
    pub keep: u32,
    /// Keep the last N pairs whose transaction touched an important package.
    pub keep_important: u32,
    /// Delete the oldest pairs while free space is below this floor.
    pub min_free: Option<MinFree>,
}

/// External tools, configurable like paru's `*_bin` settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tools {
    /// `zfs`.
    pub zfs: PathBuf,
    /// `snapper`.
    pub snapper: PathBuf,
    /// `lumina` (the post hook runs it to relink).
    pub lumina: PathBuf,
}

/// The Lumina-Stable freshness check (`stable:`), applied by the pre hook and by
/// `lumina stable status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Stable {
    /// Stale when the newest synced database was published longer ago than this.
    #[serde(serialize_with = "serialize_duration")]
    pub max_age: Duration,
    /// `false`: the pre hook does not warn (`lumina stable status` still reports).
    pub warn: bool,
}

fn serialize_duration<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_duration(*d))
}

/// The system configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Config {
    /// Backend.
    pub backend: BackendChoice,
    /// Mount points of the subvolumes or datasets to snapshot (default `/`).
    pub subjects: Vec<PathBuf>,
    /// ZFS: the datasets to snapshot (default: the dataset mounted at `/`).
    pub datasets: Vec<String>,
    /// btrfs: directory for snapshots; relative means inside each subject.
    pub snapshot_dir: PathBuf,
    /// snapper: the configs to snapshot (default `root`).
    pub snapper_configs: Vec<String>,
    /// Retention.
    pub retention: Retention,
    /// Package patterns whose transactions are important.
    pub important: Vec<String>,
    /// What to do when a snapshot cannot be taken.
    pub on_failure: OnFailure,
    /// Take no snapshots at all.
    pub skip: bool,
    /// Users whose links the post hook re-asserts, as them.
    pub users: Vec<String>,
    /// A virtual root linked as root after each transaction (system links).
    pub system_profile: Option<PathBuf>,
    /// Tool paths.
    pub tools: Tools,
    /// The Lumina-Stable freshness check.
    pub stable: Stable,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            backend: BackendChoice::Auto,
            subjects: vec![PathBuf::from("/")],
            datasets: Vec::new(),
            snapshot_dir: PathBuf::from(".lumina-snapshots"),
            snapper_configs: vec!["root".into()],
            retention: Retention {
                keep: 10,
                keep_important: 20,
                min_free: None,
            },
            important: [
                "linux*",
                "systemd",
                "glibc",
                "grub",
                "mkinitcpio",
                "nvidia*",
            ]
            .map(String::from)
            .to_vec(),
            on_failure: OnFailure::Abort,
            skip: false,
            users: Vec::new(),
            system_profile: None,
            tools: Tools {
                zfs: "zfs".into(),
                snapper: "snapper".into(),
                lumina: "/usr/bin/lumina".into(),
            },
            stable: Stable {
                max_age: crate::stable::DEFAULT_MAX_AGE,
                warn: true,
            },
        }
    }
}

impl Config {
    /// Read the configuration of `root` (defaults when the file is absent).
    ///
    /// # Errors
    /// [`Error::Registry`] (a diagnostic) when it is invalid; [`Error::Unsafe`] when others
    /// can write it.
    pub fn load(root: &Root) -> Result<Self> {
        let path = root.join(root::CONFIG);
        if crate::fs::stat(&path)?.is_none() {
            return Ok(Self::default());
        }
        crate::perm::check_private(&path)?;
        let text = String::from_utf8(crate::fs::read(&path)?).map_err(|_| {
            Error::Registry(Box::new(Diagnostic {
                file: path.clone(),
                pos: None,
                message: "the configuration is not UTF-8".into(),
                expected: None,
                hint: Some("save it as UTF-8".into()),
                line_text: None,
            }))
        })?;
        Self::parse(&text, &path).map_err(Error::Registry)
    }

    /// What to do on failure when the file itself is invalid: `warn` only if the text says
    /// `on_failure: warn` at the top level, else `abort`.
    pub fn on_failure_of_broken(text: &str) -> OnFailure {
        let warn = text.lines().any(|l| {
            l.strip_prefix("on_failure:")
                .is_some_and(|v| v.split('#').next().unwrap_or("").trim() == "warn")
        });
        if warn {
            OnFailure::Warn
        } else {
            OnFailure::Abort
        }
    }

    /// Parse configuration text.
    ///
    /// # Errors
    /// The first problem, as a [`Diagnostic`].
    pub fn parse(text: &str, file: &Path) -> Res<Self> {
        let src = Src::new(
            text,
            file,
            "the configuration",
            "remove it; see the commented default `/etc/lumina/config.yaml` for every key",
        );
        let root = yaml::parse(text).map_err(|e| syntax_error(&src, e))?;
        let mut c = Self::default();
        let entries = match root.kind {
            Kind::Map(e) => e,
            Kind::Null => return Ok(c),
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
                    .hint("start the file with `version: 1`"));
            }
        };
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
                            .hint("this Lumina reads configuration version 1"));
                    }
                }
                "backend" => {
                    let (b, pos) = string(&src, v, "`backend`")?;
                    c.backend = match b.as_str() {
                        "auto" => BackendChoice::Auto,
                        "btrfs" => BackendChoice::Btrfs,
                        "zfs" => BackendChoice::Zfs,
                        "snapper" => BackendChoice::Snapper,
                        "none" => BackendChoice::None,
                        _ => {
                            return Err(src
                                .err(pos, format!("unknown backend `{b}`"))
                                .expected(format!("one of {}", list(BACKENDS)))
                                .hint("`auto` detects snapper, then the filesystem of `/`"));
                        }
                    };
                }
                "subjects" => {
                    c.subjects = Vec::new();
                    for item in seq(
                        &src,
                        v,
                        "`subjects`",
                        "subjects: [/, /home]",
                        "list mount points",
                    )? {
                        c.subjects.push(abs_path(&src, item, "a subject")?);
                    }
                    if c.subjects.is_empty() {
                        return Err(src
                            .err(Pos { line: 1, column: 1 }, "`subjects` is empty")
                            .expected("at least one mount point, e.g. `[/]`")
                            .hint("use `backend: none` to take no snapshots"));
                    }
                }
                "datasets" => {
                    c.datasets = Vec::new();
                    for item in seq(
                        &src,
                        v,
                        "`datasets`",
                        "datasets: [rpool/ROOT/arch]",
                        "list ZFS datasets",
                    )? {
                        let (d, pos) = string(&src, item, "a dataset")?;
                        if d.starts_with('/') || d.contains('@') || d.contains(char::is_whitespace)
                        {
                            return Err(src
                                .err(pos, format!("`{d}` is not a ZFS dataset name"))
                                .expected("`POOL/PATH`, e.g. `rpool/ROOT/arch`")
                                .hint("list them with `zfs list -o name`"));
                        }
                        c.datasets.push(d);
                    }
                }
                "snapshot_dir" => {
                    let (d, pos) = string(&src, v, "`snapshot_dir`")?;
                    if crate::paths::has_dot_components(Path::new(d.trim_start_matches('/'))) {
                        return Err(src
                            .err(
                                pos,
                                format!("`snapshot_dir` `{d}` has a `.` or `..` component"),
                            )
                            .expected("a plain path, e.g. `.lumina-snapshots`")
                            .hint("a relative directory is made inside each subject"));
                    }
                    c.snapshot_dir = PathBuf::from(d);
                }
                "snapper_configs" => {
                    c.snapper_configs = Vec::new();
                    for item in seq(
                        &src,
                        v,
                        "`snapper_configs`",
                        "snapper_configs: [root]",
                        "name snapper configs",
                    )? {
                        c.snapper_configs
                            .push(string(&src, item, "a snapper config")?.0);
                    }
                }
                "retention" => c.retention = retention(&src, v)?,
                "important" => {
                    c.important = Vec::new();
                    for item in seq(
                        &src,
                        v,
                        "`important`",
                        "important: [linux*, systemd]",
                        "list package patterns",
                    )? {
                        c.important
                            .push(string(&src, item, "an `important` pattern")?.0);
                    }
                }
                "on_failure" => {
                    let (s, pos) = string(&src, v, "`on_failure`")?;
                    c.on_failure = match s.as_str() {
                        "abort" => OnFailure::Abort,
                        "warn" => OnFailure::Warn,
                        _ => {
                            return Err(src
                                .err(pos, format!("unknown `on_failure` value `{s}`"))
                                .expected("`abort` or `warn`")
                                .hint("`abort` keeps the transaction from running without its snapshot"));
                        }
                    };
                }
                "skip" => {
                    c.skip = match v.kind {
                        Kind::Bool(b) => b,
                        ref other => {
                            return Err(src
                                .err(
                                    v.pos,
                                    format!(
                                        "`skip` must be `true` or `false`, found {}",
                                        other.describe()
                                    ),
                                )
                                .expected("`true` or `false`")
                                .hint("YAML 1.2: `yes` and `no` are strings here"));
                        }
                    };
                }
                "users" => {
                    c.users = Vec::new();
                    for item in seq(&src, v, "`users`", "users: [ana]", "list login names")? {
                        c.users.push(string(&src, item, "a user name")?.0);
                    }
                }
                "system_profile" => c.system_profile = Some(abs_path(&src, v, "`system_profile`")?),
                "stable" => c.stable = stable(&src, v)?,
                _ => {
                    let entries = map(
                        &src,
                        v,
                        "`tools`",
                        "tools: { zfs: /usr/bin/zfs }",
                        "map tool names to paths",
                    )?;
                    for (k, v) in fields(&src, entries, TOOL_KEYS, "in `tools`")? {
                        let p = abs_path(&src, v, "a tool path")?;
                        match k.as_str() {
                            "zfs" => c.tools.zfs = p,
                            "snapper" => c.tools.snapper = p,
                            _ => c.tools.lumina = p,
                        }
                    }
                }
            }
        }
        Ok(c)
    }
}

fn abs_path(src: &Src<'_>, v: Node, what: &str) -> Res<PathBuf> {
    let (s, pos) = string(src, v, what)?;
    if !s.starts_with('/') || crate::paths::has_dot_components(Path::new(&s[1..])) && s != "/" {
        return Err(src
            .err(pos, format!("{what} `{s}` is not an absolute path"))
            .expected("an absolute path without `.` or `..`, e.g. `/home`")
            .hint("system paths are absolute"));
    }
    Ok(crate::paths::normalize(Path::new(&s)))
}

fn stable(src: &Src<'_>, v: Node) -> Res<Stable> {
    let entries = map(
        src,
        v,
        "`stable`",
        "stable: { max_age: 72h, warn: true }",
        "write the Lumina-Stable freshness check as a mapping",
    )?;
    let mut s = Config::default().stable;
    for (k, v) in fields(src, entries, STABLE_KEYS, "in `stable`")? {
        if k == "max_age" {
            s.max_age = duration(src, v, "`max_age`")?;
            continue;
        }
        s.warn = match v.kind {
            Kind::Bool(b) => b,
            ref other => {
                return Err(src
                    .err(
                        v.pos,
                        format!(
                            "`warn` must be `true` or `false`, found {}",
                            other.describe()
                        ),
                    )
                    .expected("`true` or `false`")
                    .hint("`false` silences the pre hook's warning; YAML 1.2: `no` is a string"));
            }
        };
    }
    Ok(s)
}

/// A positive duration such as `72h`: see [`parse_duration`].
fn duration(src: &Src<'_>, v: Node, what: &str) -> Res<Duration> {
    let expected = "a number and a unit, e.g. `72h`, `90m`, `3d` or `1d12h` (units `s`, `m`, \
                    `h`, `d`, `w`)";
    let (text, pos) = match v.kind {
        Kind::Int(n) => {
            return Err(src
                .err(v.pos, format!("{what} is the number `{n}` without a unit"))
                .expected(expected)
                .hint(format!("write `{n}h` for hours or `{n}d` for days")));
        }
        _ => string(src, v, what)?,
    };
    match parse_duration(&text) {
        Some(d) if d.is_zero() => Err(src
            .err(pos, format!("{what} `{text}` is zero"))
            .expected("a duration longer than zero, e.g. `72h`")
            .hint("to silence the warning, write `warn: false`")),
        Some(d) => Ok(d),
        None => Err(src
            .err(pos, format!("{what} `{text}` is not a duration"))
            .expected(expected)
            .hint("write whole numbers, each followed by its unit, without spaces")),
    }
}

/// Parse `72h`, `90m`, `3d`, `1w`, `30s` or a sequence such as `1d12h` (the syntax of
/// `lumina-repo`'s `repo.yaml`). `None` for anything else, including a number without a
/// unit or an overflow.
#[must_use]
pub fn parse_duration(text: &str) -> Option<Duration> {
    let mut total: u64 = 0;
    let mut digits = String::new();
    let mut parts = 0;
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            _ => return None,
        };
        if digits.is_empty() {
            return None;
        }
        let n: u64 = digits.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        digits.clear();
        parts += 1;
    }
    (digits.is_empty() && parts > 0).then(|| Duration::from_secs(total))
}

/// A duration in one unit, as the configuration can write it: `72h` (whole hours, the
/// unit the freshness warning counts in), else `90m`, else `45s`.
#[must_use]
pub fn format_duration(d: Duration) -> String {
    let s = d.as_secs();
    if s > 0 && s.is_multiple_of(3600) {
        format!("{}h", s / 3600)
    } else if s > 0 && s.is_multiple_of(60) {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

fn retention(src: &Src<'_>, v: Node) -> Res<Retention> {
    let entries = map(
        src,
        v,
        "`retention`",
        "retention: { keep: 10 }",
        "write retention as a mapping",
    )?;
    let mut r = Config::default().retention;
    for (k, v) in fields(src, entries, RETENTION_KEYS, "in `retention`")? {
        match k.as_str() {
            "keep" => r.keep = int(src, &v, ("`keep`", 1, 10_000), "keep at least one pair")?,
            "keep_important" => {
                r.keep_important = int(
                    src,
                    &v,
                    ("`keep_important`", 0, 10_000),
                    "0 keeps none extra",
                )?;
            }
            _ => {
                let (text, pos) = string(src, v, "`min_free`")?;
                r.min_free = Some(crate::registry::parse_min_free(&text).ok_or_else(|| {
                    src.err(
                        pos,
                        format!("`min_free` `{text}` is not a size or a percentage"),
                    )
                    .expected("a percentage such as `10%` or a size such as `5GiB`")
                    .hint("the oldest pairs are deleted while free space is below it")
                })?);
            }
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Config, String> {
        Config::parse(t, Path::new("config.yaml")).map_err(|d| d.to_string())
    }

    #[test]
    fn absent_keys_are_defaults_and_every_key_parses() {
        assert_eq!(parse("").unwrap(), Config::default());
        let c = parse(
            "version: 1\nbackend: zfs\nsubjects: [/, /home]\nsnapshot_dir: /.snaps\n\
             retention: { keep: 3, keep_important: 5, min_free: 10% }\nimportant: [linux*]\n\
             on_failure: warn\nskip: false\nusers: [ana]\nsystem_profile: /etc/lumina/system\n\
             tools: { zfs: /sbin/zfs }\n",
        )
        .unwrap();
        assert_eq!(c.backend, BackendChoice::Zfs);
        assert_eq!(c.subjects, [PathBuf::from("/"), PathBuf::from("/home")]);
        assert_eq!(
            c.retention,
            Retention {
                keep: 3,
                keep_important: 5,
                min_free: Some(MinFree::Percent(10))
            }
        );
        assert_eq!(c.on_failure, OnFailure::Warn);
        assert_eq!(c.tools.zfs, PathBuf::from("/sbin/zfs"));
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let e = parse("version: 1\nbackend: lvm\n").unwrap_err();
        assert!(
            e.starts_with("config.yaml:2:10: unknown backend `lvm`"),
            "{e}"
        );
        assert!(
            e.contains("expected: one of `auto`, `btrfs`, `zfs`, `snapper`, `none`"),
            "{e}"
        );
        let e = parse("retention:\n  keep: 0\n").unwrap_err();
        assert!(
            e.starts_with("config.yaml:2:9: `keep` is `0`, out of range"),
            "{e}"
        );
        let e = parse("skip: yes\n").unwrap_err();
        assert!(e.contains("`skip` must be `true` or `false`"), "{e}");
        let e = parse("subjects: [home]\n").unwrap_err();
        assert!(
            e.starts_with("config.yaml:1:12: a subject `home` is not an absolute path"),
            "{e}"
        );
    }

    #[test]
    fn the_stable_section_sets_the_freshness_threshold_and_the_warning() {
        let c = parse("version: 1\nstable:\n  max_age: 3d\n  warn: false\n").unwrap();
        assert_eq!(
            c.stable,
            Stable {
                max_age: Duration::from_secs(3 * 86_400),
                warn: false
            }
        );
        for (text, secs) in [
            ("72h", 72 * 3600),
            ("90m", 90 * 60),
            ("1d12h", 36 * 3600),
            ("1w", 7 * 86_400),
        ] {
            let c = parse(&format!("stable: {{ max_age: {text} }}\n")).unwrap();
            assert_eq!(c.stable.max_age, Duration::from_secs(secs), "{text}");
            assert!(c.stable.warn, "absent `warn` is the default");
        }
        // Absent: 72 hours, warn.
        assert_eq!(
            parse("version: 1\n").unwrap().stable.max_age.as_secs(),
            72 * 3600
        );
        assert_eq!(parse("stable:\n").unwrap().stable, Config::default().stable);
    }

    #[test]
    fn a_bad_stable_section_names_file_line_and_column() {
        let e = parse("version: 1\nstable:\n  max_ag: 48h\n").unwrap_err();
        assert_eq!(
            e,
            "config.yaml:3:3: unknown key `max_ag` in `stable`\n  |\n3 |   max_ag: 48h\n  |   ^\n  \
             expected: one of `max_age`, `warn`\n\nhint: did you mean `max_age`?"
        );
        let e = parse("stable:\n  max_age: soon\n").unwrap_err();
        assert!(
            e.starts_with("config.yaml:2:12: `max_age` `soon` is not a duration"),
            "{e}"
        );
        assert!(
            e.contains("expected: a number and a unit, e.g. `72h`"),
            "{e}"
        );
        let e = parse("stable: { max_age: 72 }\n").unwrap_err();
        assert!(
            e.starts_with("config.yaml:1:20: `max_age` is the number `72` without a unit"),
            "{e}"
        );
        assert!(e.contains("hint: write `72h` for hours"), "{e}");
        let e = parse("stable:\n  max_age: 0h\n").unwrap_err();
        assert!(
            e.starts_with("config.yaml:2:12: `max_age` `0h` is zero"),
            "{e}"
        );
        assert!(
            e.contains("hint: to silence the warning, write `warn: false`"),
            "{e}"
        );
        let e = parse("stable:\n  warn: no\n").unwrap_err();
        assert!(
            e.starts_with(
                "config.yaml:2:9: `warn` must be `true` or `false`, found the string `no`"
            ),
            "{e}"
        );
        let e = parse("stable: 72h\n").unwrap_err();
        assert!(
            e.starts_with("config.yaml:1:9: `stable` must be a mapping"),
            "{e}"
        );
    }

    #[test]
    fn durations_parse_and_format_back() {
        for bad in [
            "",
            "72",
            "h",
            "1.5h",
            "1 h",
            "-1h",
            "1y",
            "99999999999999999999w",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad:?}");
        }
        for (secs, text) in [
            (72 * 3600, "72h"),
            (7 * 86_400, "168h"),
            (90 * 60, "90m"),
            (3601, "3601s"),
        ] {
            let d = Duration::from_secs(secs);
            assert_eq!(format_duration(d), text);
            assert_eq!(parse_duration(text), Some(d));
        }
    }

    #[test]
    fn the_shipped_commented_default_is_the_default() {
        let shipped = include_str!("../../pkg/config.yaml");
        assert_eq!(parse(shipped).unwrap(), Config::default());
    }

    #[test]
    fn a_broken_file_aborts_unless_it_says_warn() {
        assert_eq!(
            Config::on_failure_of_broken("backend: [\non_failure: warn\n"),
            OnFailure::Warn
        );
        assert_eq!(
            Config::on_failure_of_broken("backend: [\n"),
            OnFailure::Abort
        );
        assert_eq!(
            Config::on_failure_of_broken("x:\n  on_failure: warn\n"),
            OnFailure::Abort
        );
    }
}
