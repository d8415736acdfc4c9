//! The effects of `lumina stable enable | disable | status`: read what is there, plan with
//! the pure [`conf`] and [`snippet`] edits, then change it through [`Fs`] and `pacman-key`.
//!
//! Order of the changes, so that an interruption at any point leaves pacman working and the
//! next `enable` or `disable` converging:
//! - `enable`: the record (which keys it imports, so `disable` can delete them even after a
//!   crash), the snippet (unused until pacman.conf includes it), the key (imported and
//!   locally signed before pacman is told to require it), the backup, and last pacman.conf
//!   (one atomic rename: pacman sees the old file or the new one).
//! - `disable`: pacman.conf first (pacman stops using the snippet and the key), then the
//!   snippet, the keys, and the record.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;

use super::conf::{self, Kind};
use super::snippet::{self, SnippetError};
use super::{
    EMBEDDED_TEMPLATE, Error, Freshness, GPGDIR, KEY, PACMAN_CONF, RECORD, Record, RecordKey,
    SNIPPET, SyncedAt, TEMPLATE,
};
use crate::fs::Fs;
use crate::root::Root;

/// The programs `lumina stable` runs (names looked up in `PATH`, or paths).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tools {
    /// `gpg`, to read the key file and pacman's keyring.
    pub gpg: PathBuf,
    /// `pacman-key`, to change pacman's keyring.
    pub pacman_key: PathBuf,
}

impl Default for Tools {
    fn default() -> Self {
        Self {
            gpg: "gpg".into(),
            pacman_key: "pacman-key".into(),
        }
    }
}

/// Options of `enable`. Paths are system paths, resolved under the root.
#[derive(Debug, Clone)]
pub struct EnableOptions {
    /// The mirror (`--mirror`); default: the one in the existing snippet, else the
    /// template's.
    pub mirror: Option<String>,
    /// The key file (`--key`); default [`KEY`].
    pub key: Option<PathBuf>,
    /// pacman's configuration; default [`PACMAN_CONF`].
    pub pacman_conf: PathBuf,
    /// pacman's keyring; default [`GPGDIR`].
    pub gpgdir: PathBuf,
    /// Plan only.
    pub dry_run: bool,
    /// Programs.
    pub tools: Tools,
}

impl Default for EnableOptions {
    fn default() -> Self {
        Self {
            mirror: None,
            key: None,
            pacman_conf: PACMAN_CONF.into(),
            gpgdir: GPGDIR.into(),
            dry_run: false,
            tools: Tools::default(),
        }
    }
}

/// Options of `disable`: paths default to what `enable` recorded, else the defaults.
#[derive(Debug, Clone, Default)]
pub struct DisableOptions {
    /// pacman's configuration.
    pub pacman_conf: Option<PathBuf>,
    /// pacman's keyring.
    pub gpgdir: Option<PathBuf>,
    /// Plan only.
    pub dry_run: bool,
    /// Programs.
    pub tools: Tools,
}

/// A section turned off (`enable`) or on again (`disable`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionChange {
    /// 1-based line of its header in pacman.conf (before the edit).
    pub line: usize,
    /// Its name.
    pub name: String,
}

/// What happens to one key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyChange {
    /// Its fingerprint.
    pub fingerprint: String,
    /// `import` (add and locally sign), `trust` (locally sign), `keep` (already trusted),
    /// `delete` (`disable`: `enable` imported it), `leave` (`disable`: it was there before).
    pub action: &'static str,
}

/// What `enable` or `disable` did (or, with `dry_run`, would do).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `enable` or `disable`.
    pub action: &'static str,
    /// Something was (or would be) changed.
    pub changed: bool,
    /// Nothing was changed because this was a dry run.
    pub dry_run: bool,
    /// The pacman.conf (its real path).
    pub pacman_conf: PathBuf,
    /// The backup of pacman.conf made before changing it.
    pub backup: Option<PathBuf>,
    /// The snippet.
    pub snippet: PathBuf,
    /// `create`, `update`, `keep`, `remove`, `absent`, or `foreign` (not Lumina's: left).
    pub snippet_action: &'static str,
    /// The repositories Lumina-Stable serves through the snippet.
    pub repos: Vec<String>,
    /// The mirror(s) in the snippet.
    pub servers: Vec<String>,
    /// Sections of pacman.conf turned off or on again.
    pub sections: Vec<SectionChange>,
    /// Keys.
    pub keys: Vec<KeyChange>,
    /// The `pacman-key` commands run (or to run).
    pub commands: Vec<Vec<String>>,
    /// The unified diff of pacman.conf.
    pub diff: String,
    /// Things the user should know.
    pub warnings: Vec<String>,
}

/// `lumina stable status`.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// Lumina-Stable is included by pacman.conf.
    pub enabled: bool,
    /// The pacman.conf looked at.
    pub pacman_conf: PathBuf,
    /// The snippet.
    pub snippet: PathBuf,
    /// Its repositories.
    pub repos: Vec<String>,
    /// Its servers.
    pub servers: Vec<String>,
    /// The newest publish time of the synced databases.
    pub synced: Option<SyncedAt>,
    /// The record `enable` keeps.
    pub record: Option<Record>,
    /// The freshness check the pre hook applies, and its verdict.
    pub freshness: Freshness,
}

fn argv(program: &Path, args: &[&std::ffi::OsStr]) -> Vec<String> {
    std::iter::once(program.as_os_str())
        .chain(args.iter().copied())
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// Refuse a file pacman trusts unless root owns it and only root (its owner) can write
/// it. A file of the user running Lumina is accepted too: as root (every real `enable`)
/// that is root again; as anyone else (a dry run on a scratch root, a package's unit
/// tests run by makepkg) nobody but that user could have written it.
fn check_root_owned(path: &Path) -> Result<(), Error> {
    let Some(m) = crate::fs::stat(path)? else {
        return Ok(());
    };
    let me = nix::unistd::geteuid().as_raw();
    let reason = if m.uid() != 0 && m.uid() != me {
        format!(
            "it belongs to uid {}, not root, and pacman trusts what it says; fix with \
             `chown root:root {}`",
            m.uid(),
            path.display()
        )
    } else if m.mode() & 0o022 != 0 {
        format!(
            "{} can write it (mode {:o}); fix with `chmod go-w {}`",
            if m.mode() & 0o002 != 0 {
                "everyone"
            } else {
                "its group"
            },
            m.mode() & 0o7777,
            path.display()
        )
    } else {
        return Ok(());
    };
    Err(crate::Error::Unsafe {
        path: path.to_path_buf(),
        reason,
    }
    .into())
}

fn read_utf8(path: &Path) -> Result<String, Error> {
    String::from_utf8(crate::fs::read(path)?)
        .map_err(|_| Error::bad(path, "it is not UTF-8 text; is it the right file?"))
}

/// pacman.conf under the root, following a symlink to the file it names (the edit goes to
/// that file).
fn resolve_conf(root: &Root, system: &Path) -> Result<PathBuf, Error> {
    let p = root.join(system);
    match crate::fs::lstat(&p)? {
        None => Err(Error::bad(
            &p,
            "no such file; point `--pacman-conf` at pacman's configuration",
        )),
        Some(m) if m.file_type().is_symlink() => Ok(crate::fs::canonicalize(&p)?),
        Some(m) if m.is_file() => Ok(p),
        Some(_) => Err(Error::bad(&p, "not a regular file")),
    }
}

fn load_template(root: &Root) -> Result<(String, String), Error> {
    let p = root.join(TEMPLATE);
    if crate::fs::stat(&p)?.is_some() {
        check_root_owned(&p)?;
        Ok((read_utf8(&p)?, TEMPLATE.to_owned()))
    } else {
        Ok((
            EMBEDDED_TEMPLATE.to_owned(),
            format!("the template built into lumina ({TEMPLATE} is not installed)"),
        ))
    }
}

/// The fingerprints of the primary keys in a key file (`gpg --import-options show-only`,
/// run on pacman's keyring, which it does not change).
fn key_fingerprints(tools: &Tools, gpgdir: &Path, key: &Path) -> Result<Vec<String>, Error> {
    let out = crate::cmd::run(
        &tools.gpg,
        [
            "--homedir".as_ref(),
            gpgdir.as_os_str(),
            "--batch".as_ref(),
            "--with-colons".as_ref(),
            "--import-options".as_ref(),
            "show-only".as_ref(),
            "--import".as_ref(),
            key.as_os_str(),
        ]
        .map(std::ffi::OsStr::to_os_string),
    )?;
    let mut fprs = Vec::new();
    let mut after_pub = false;
    for line in out.stdout.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        match fields.first().copied() {
            Some("sec") => {
                return Err(Error::bad(
                    key,
                    "it holds a secret key; give the public key (`gpg --export --armor FPR`)",
                ));
            }
            Some("pub") => after_pub = true,
            Some("fpr") if after_pub => {
                if let Some(f) = fields.get(9).filter(|f| !f.is_empty()) {
                    fprs.push((*f).to_owned());
                }
                after_pub = false;
            }
            Some("sub") => after_pub = false,
            _ => {}
        }
    }
    if fprs.is_empty() {
        return Err(Error::bad(key, "it holds no OpenPGP public key"));
    }
    Ok(fprs)
}

/// A key's state in pacman's keyring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyState {
    Absent,
    Untrusted,
    Trusted,
}

fn key_state(tools: &Tools, gpgdir: &Path, fpr: &str) -> Result<KeyState, Error> {
    let args = [
        "--homedir".as_ref(),
        gpgdir.as_os_str(),
        "--batch".as_ref(),
        "--with-colons".as_ref(),
        "--list-keys".as_ref(),
        fpr.as_ref(),
    ]
    .map(std::ffi::OsStr::to_os_string);
    match crate::cmd::run(&tools.gpg, args) {
        Ok(out) => {
            let validity = out
                .stdout
                .lines()
                .find(|l| l.starts_with("pub:"))
                .and_then(|l| l.split(':').nth(1))
                .unwrap_or("");
            // `f`ull or `u`ltimate: what pacman-key's local signature gives.
            Ok(if matches!(validity, "f" | "u") {
                KeyState::Trusted
            } else {
                KeyState::Untrusted
            })
        }
        Err(crate::Error::Command { message, .. }) if !message.contains("not installed") => {
            Ok(KeyState::Absent)
        }
        Err(e) => Err(e.into()),
    }
}

/// Remove what an interrupted [`Fs::write_atomic`] of `path` left beside it.
fn remove_leftover(fs: &Fs, path: &Path) -> Result<(), Error> {
    let tmp = crate::fs::sibling(path, ".lumina-tmp");
    if crate::fs::lstat(&tmp)?.is_some_and(|m| m.is_file()) {
        fs.unlink(&tmp)?;
    }
    Ok(())
}

/// `PATH.lumina-backup-<UTC time>`, with `.2`, `.3`, ... when that exists.
fn backup_path(path: &Path, now: SystemTime) -> Result<PathBuf, Error> {
    let base = crate::fs::sibling(
        path,
        &format!(".lumina-backup-{}", crate::link::utc_stamp(now)),
    );
    let mut candidate = base.clone();
    let mut n = 1;
    while crate::fs::lstat(&candidate)?.is_some() {
        n += 1;
        candidate = crate::fs::sibling(&base, &format!(".{n}"));
    }
    Ok(candidate)
}

/// Refuse an `Include`d file that defines a repository Lumina-Stable serves: pacman would
/// see it twice, and `enable` does not edit files it was not asked to edit.
fn check_includes(
    root: &Root,
    conf_path: &Path,
    text: &str,
    served: &[String],
    warnings: &mut Vec<String>,
) -> Result<(), Error> {
    for (line, path) in conf::includes(text) {
        if path == SNIPPET {
            return Err(Error::bad(
                conf_path,
                format!(
                    "line {line} already includes {SNIPPET} outside Lumina's block (set up by \
                     hand?); remove that line and switch your [core] and [extra] back on, or \
                     keep the manual setup"
                ),
            ));
        }
        if path.contains(['*', '?', '[']) {
            warnings.push(format!(
                "{}:{line}: `Include = {path}` is a pattern; make sure no file it matches \
                 defines [{}]",
                conf_path.display(),
                served.join("], [")
            ));
            continue;
        }
        let p = root.join(&path);
        let Ok(bytes) = crate::fs::read(&p) else {
            continue;
        };
        let t = String::from_utf8_lossy(&bytes);
        for (h, name, _) in conf::sections(&conf::parse(&t)) {
            if served.contains(&name) {
                return Err(Error::bad(
                    &p,
                    format!(
                        "line {}: it defines `[{name}]`, which Lumina-Stable replaces (it is \
                         included by line {line} of {}); comment that section out, then run \
                         `lumina stable enable` again",
                        h + 1,
                        conf_path.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn testing_warnings(conf_path: &Path, text: &str, warnings: &mut Vec<String>) {
    for (h, name, _) in conf::sections(&conf::parse(text)) {
        if name == "testing" || name.ends_with("-testing") || name.ends_with("-unstable") {
            warnings.push(format!(
                "{}:{}: [{name}] is enabled: its packages are newer than what Lumina-Stable \
                 has checked, so they defeat the lag; comment it out",
                conf_path.display(),
                h + 1
            ));
        }
    }
}

fn map_snippet_err(e: SnippetError, template: &str) -> Error {
    match e {
        SnippetError::BadMirror { .. } => Error::bad("--mirror", e.to_string()),
        _ => Error::bad(template, e.to_string()),
    }
}

/// The sections an edit turned off or on, for the report.
fn section_changes(edit: &conf::Edit) -> Vec<SectionChange> {
    edit.sections
        .iter()
        .map(|(line, name)| SectionChange {
            line: *line,
            name: name.clone(),
        })
        .collect()
}

/// The unified diff of pacman.conf from `old` to `new`, labelled with its system path.
fn conf_diff(root: &Root, conf_path: &Path, old: &str, new: &str) -> String {
    crate::stable::diff::unified(
        old,
        new,
        &label(root, conf_path, "a"),
        &label(root, conf_path, "b"),
    )
}

fn label(root: &Root, p: &Path, side: &str) -> String {
    let sys = root
        .to_system(p)
        .unwrap_or_else(|| p.to_path_buf())
        .to_string_lossy()
        .into_owned();
    format!("{side}{sys}")
}

/// Add Lumina-Stable to pacman.conf under `root` (see the module documentation of
/// [`crate::stable`]).
///
/// # Errors
/// - [`Error::BadInput`]: no pacman.conf, no `[options]`, a damaged block, a bad `--mirror`,
///   an unusable template, a missing key file or keyring, an included file that defines
///   `[core]`; nothing changed;
/// - [`Error::Core`] with [`crate::Error::Unsafe`]: pacman.conf, the snippet, the template or
///   the key file is not root's or others can write it; nothing changed;
/// - [`Error::Conflict`]: the snippet exists and is not Lumina's; nothing changed;
/// - [`Error::Core`]: I/O or `gpg`/`pacman-key` failed (the next run converges).
pub fn enable(
    root: &Root,
    fs: &Fs,
    opts: &EnableOptions,
    now: SystemTime,
) -> Result<Report, Error> {
    let conf_path = resolve_conf(root, &opts.pacman_conf)?;
    check_root_owned(&conf_path)?;
    let text = read_utf8(&conf_path)?;
    let snippet_path = root.join(SNIPPET);
    let existing = match crate::fs::stat(&snippet_path)? {
        Some(_) => {
            check_root_owned(&snippet_path)?;
            let t = read_utf8(&snippet_path)?;
            if !snippet::is_ours(&t) {
                return Err(Error::Conflict {
                    path: snippet_path,
                    message: "it exists and Lumina did not write it (its first line is not \
                              Lumina's header); move it away, then run `lumina stable enable` \
                              again"
                        .into(),
                });
            }
            Some(t)
        }
        None => None,
    };
    let (template, source) = load_template(root)?;
    let mirror = match &opts.mirror {
        Some(m) => Some(snippet::mirror_url(m).map_err(|e| map_snippet_err(e, &source))?),
        None => existing.as_deref().and_then(snippet::first_server),
    };
    let lines = conf::parse(&text);
    let multilib = lines
        .iter()
        .any(|l| l.kind == Kind::Header("multilib".into()))
        || conf::turned_off(&text).contains("multilib")
        || existing
            .as_deref()
            .is_some_and(|t| snippet::repos(t).iter().any(|r| r == "multilib"));
    let rendered = snippet::render(&template, &source, mirror.as_deref(), multilib)
        .map_err(|e| map_snippet_err(e, &source))?;
    let edit = conf::enable(&text, &rendered.repos, SNIPPET)
        .map_err(|e| Error::bad(&conf_path, e.to_string()))?;
    let mut warnings = Vec::new();
    check_includes(root, &conf_path, &edit.text, &rendered.repos, &mut warnings)?;
    testing_warnings(&conf_path, &edit.text, &mut warnings);

    let gpgdir = root.join(&opts.gpgdir);
    if crate::fs::stat(&gpgdir)?.is_none_or(|m| !m.is_dir()) {
        return Err(Error::bad(
            &gpgdir,
            "pacman's keyring does not exist; create it with `pacman-key --init`",
        ));
    }
    let key_path = root.join(opts.key.as_deref().unwrap_or(Path::new(KEY)));
    if crate::fs::stat(&key_path)?.is_none() {
        return Err(Error::bad(
            &key_path,
            "no such key file; give the Lumina-Stable public key with `--key FILE`",
        ));
    }
    check_root_owned(&key_path)?;
    let fprs = key_fingerprints(&opts.tools, &gpgdir, &key_path)?;
    let previous = Record::load(root);
    let mut keys = Vec::new();
    let mut record_keys = Vec::new();
    let mut commands = Vec::new();
    let key_cmd = |args: &[&std::ffi::OsStr]| {
        let mut a: Vec<&std::ffi::OsStr> = vec!["--gpgdir".as_ref(), gpgdir.as_os_str()];
        a.extend_from_slice(args);
        argv(&opts.tools.pacman_key, &a)
    };
    for f in &fprs {
        let state = key_state(&opts.tools, &gpgdir, f)?;
        let action = match state {
            KeyState::Absent => "import",
            KeyState::Untrusted => "trust",
            KeyState::Trusted => "keep",
        };
        if state != KeyState::Trusted {
            commands.push(key_cmd(&["--lsign-key".as_ref(), f.as_ref()]));
        }
        let imported_before = previous
            .as_ref()
            .is_some_and(|r| r.keys.iter().any(|k| &k.fingerprint == f && k.imported));
        keys.push(KeyChange {
            fingerprint: f.clone(),
            action,
        });
        record_keys.push(RecordKey {
            fingerprint: f.clone(),
            imported: state == KeyState::Absent || imported_before,
        });
    }
    if keys.iter().any(|k| k.action == "import") {
        commands.insert(0, key_cmd(&["--add".as_ref(), key_path.as_os_str()]));
    }

    let snippet_action = match &existing {
        None => "create",
        Some(t) if *t == rendered.text => "keep",
        Some(_) => "update",
    };
    let conf_changed = edit.text != text;
    let changed = conf_changed || snippet_action != "keep" || !commands.is_empty();
    let backup = if conf_changed {
        Some(backup_path(&conf_path, now)?)
    } else {
        None
    };
    let report = Report {
        action: "enable",
        changed,
        dry_run: opts.dry_run,
        pacman_conf: conf_path.clone(),
        backup: backup.clone(),
        snippet: snippet_path.clone(),
        snippet_action,
        repos: rendered.repos.clone(),
        servers: rendered.servers.clone(),
        sections: section_changes(&edit),
        keys,
        commands: commands.clone(),
        diff: conf_diff(root, &conf_path, &text, &edit.text),
        warnings,
    };
    if opts.dry_run || !changed {
        return Ok(report);
    }

    let record_path = root.join(RECORD);
    for p in [&record_path, &snippet_path, &conf_path] {
        remove_leftover(fs, p)?;
    }
    let record = Record {
        version: 1,
        pacman_conf: root
            .to_system(&conf_path)
            .unwrap_or_else(|| opts.pacman_conf.clone()),
        snippet: SNIPPET.into(),
        gpgdir: opts.gpgdir.clone(),
        keys: record_keys,
        backup: previous
            .as_ref()
            .and_then(|r| r.backup.clone())
            .or_else(|| backup.as_ref().and_then(|b| root.to_system(b))),
        enabled_at: now
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
    };
    if let Some(dir) = record_path.parent() {
        fs.create_dir_all(dir)?;
    }
    let json = serde_json::to_vec_pretty(&record)
        .map_err(|e| Error::bad(&record_path, format!("cannot encode the record: {e}")))?;
    fs.write_atomic(&record_path, &json, false)?;
    if snippet_action != "keep" {
        if let Some(dir) = snippet_path.parent() {
            fs.create_dir_all(dir)?;
        }
        fs.write_atomic(&snippet_path, rendered.text.as_bytes(), false)?;
    }
    for c in &commands {
        if let Some((program, args)) = c.split_first() {
            crate::cmd::run(Path::new(program), args.iter().map(String::as_str))?;
        }
    }
    if let Some(b) = &backup {
        fs.copy_file(&conf_path, b)?;
        fs.write_atomic(&conf_path, edit.text.as_bytes(), false)?;
    }
    Ok(report)
}

/// Remove Lumina-Stable from pacman.conf under `root`: the managed block, the `OFF` prefixes,
/// the snippet (when it is Lumina's), the keys `enable` imported, and the record.
///
/// # Errors
/// - [`Error::BadInput`]: no pacman.conf, a damaged block, an unreadable record; nothing
///   changed;
/// - [`Error::Core`] with [`crate::Error::Unsafe`]: pacman.conf is not root's or others can
///   write it; nothing changed;
/// - [`Error::Core`]: I/O or `pacman-key` failed (the next run converges).
pub fn disable(root: &Root, fs: &Fs, opts: &DisableOptions) -> Result<Report, Error> {
    let record_path = root.join(RECORD);
    let record = match crate::fs::stat(&record_path)? {
        None => None,
        Some(_) => Some(
            serde_json::from_slice::<Record>(&crate::fs::read(&record_path)?).map_err(|e| {
                Error::bad(
                    &record_path,
                    format!("it is not a record `lumina stable enable` wrote: {e}"),
                )
            })?,
        ),
    };
    let conf_sys = opts
        .pacman_conf
        .clone()
        .or_else(|| record.as_ref().map(|r| r.pacman_conf.clone()))
        .unwrap_or_else(|| PACMAN_CONF.into());
    let conf_path = resolve_conf(root, &conf_sys)?;
    check_root_owned(&conf_path)?;
    let text = read_utf8(&conf_path)?;
    let edit = conf::disable(&text).map_err(|e| Error::bad(&conf_path, e.to_string()))?;
    let mut warnings = Vec::new();

    let snippet_path = root.join(record.as_ref().map_or(Path::new(SNIPPET), |r| &r.snippet));
    let snippet_text = match crate::fs::lstat(&snippet_path)? {
        Some(m) if m.is_file() => Some(read_utf8(&snippet_path)?),
        Some(_) => Some(String::new()),
        None => None,
    };
    let snippet_action = match &snippet_text {
        None => "absent",
        Some(t) if snippet::is_ours(t) => "remove",
        Some(_) => {
            warnings.push(format!(
                "{} is not Lumina's (no Lumina header): left in place",
                snippet_path.display()
            ));
            "foreign"
        }
    };
    let (repos, servers) = match (&snippet_text, snippet_action) {
        (Some(t), "remove") => (
            snippet::repos(t),
            snippet::first_server(t).into_iter().collect(),
        ),
        _ => (Vec::new(), Vec::new()),
    };

    let gpgdir = root.join(
        opts.gpgdir
            .clone()
            .or_else(|| record.as_ref().map(|r| r.gpgdir.clone()))
            .unwrap_or_else(|| GPGDIR.into()),
    );
    let mut keys = Vec::new();
    let mut commands = Vec::new();
    let keyring = crate::fs::stat(&gpgdir)?.is_some_and(|m| m.is_dir());
    for k in record.iter().flat_map(|r| &r.keys) {
        if !k.imported {
            keys.push(KeyChange {
                fingerprint: k.fingerprint.clone(),
                action: "leave",
            });
            warnings.push(format!(
                "key {} was in pacman's keyring before `lumina stable enable`: kept",
                k.fingerprint
            ));
        } else if keyring && key_state(&opts.tools, &gpgdir, &k.fingerprint)? != KeyState::Absent {
            keys.push(KeyChange {
                fingerprint: k.fingerprint.clone(),
                action: "delete",
            });
            commands.push(argv(
                &opts.tools.pacman_key,
                &[
                    "--gpgdir".as_ref(),
                    gpgdir.as_os_str(),
                    "--delete".as_ref(),
                    k.fingerprint.as_ref(),
                ],
            ));
        }
    }

    let conf_changed = edit.text != text;
    let mut leftovers = false;
    for p in [&record_path, &snippet_path, &conf_path] {
        leftovers |= crate::fs::lstat(&crate::fs::sibling(p, ".lumina-tmp"))?.is_some();
    }
    let changed = conf_changed
        || snippet_action == "remove"
        || !commands.is_empty()
        || record.is_some()
        || leftovers;
    let report = Report {
        action: "disable",
        changed,
        dry_run: opts.dry_run,
        pacman_conf: conf_path.clone(),
        backup: None,
        snippet: snippet_path.clone(),
        snippet_action,
        repos,
        servers,
        sections: section_changes(&edit),
        keys,
        commands: commands.clone(),
        diff: conf_diff(root, &conf_path, &text, &edit.text),
        warnings,
    };
    if opts.dry_run || !changed {
        return Ok(report);
    }
    for p in [&record_path, &snippet_path, &conf_path] {
        remove_leftover(fs, p)?;
    }
    if conf_changed {
        fs.write_atomic(&conf_path, edit.text.as_bytes(), false)?;
    }
    if snippet_action == "remove" {
        fs.unlink(&snippet_path)?;
    }
    for c in &commands {
        if let Some((program, args)) = c.split_first() {
            crate::cmd::run(Path::new(program), args.iter().map(String::as_str))?;
        }
    }
    if record.is_some() {
        fs.unlink(&record_path)?;
    }
    Ok(report)
}

/// Is Lumina-Stable enabled under `root`, from which mirror, and how old are its synced
/// databases at `now` (seconds since the epoch), stale by `policy`? Read-only.
pub fn status(root: &Root, policy: &crate::config::Stable, now: u64) -> Status {
    let record = Record::load(root);
    match super::enabled(root) {
        Some((conf_path, snippet_path, repos)) => {
            let servers = crate::fs::read(&root.join(&snippet_path))
                .ok()
                .map(|b| {
                    let t = String::from_utf8_lossy(&b).into_owned();
                    let mut s: Vec<String> = Vec::new();
                    for l in conf::parse(&t) {
                        if let Kind::Directive {
                            key,
                            value: Some(v),
                        } = l.kind
                            && key == "Server"
                            && !s.contains(&v)
                        {
                            s.push(v);
                        }
                    }
                    s
                })
                .unwrap_or_default();
            let synced = super::synced_at(root, &conf_path, &repos);
            let freshness = Freshness::of(synced, now, policy, &snippet_path);
            Status {
                enabled: true,
                pacman_conf: conf_path,
                snippet: snippet_path,
                repos,
                servers,
                synced,
                record,
                freshness,
            }
        }
        None => Status {
            enabled: false,
            pacman_conf: record
                .as_ref()
                .map_or_else(|| PACMAN_CONF.into(), |r| r.pacman_conf.clone()),
            snippet: SNIPPET.into(),
            repos: Vec::new(),
            servers: Vec::new(),
            synced: None,
            record,
            freshness: Freshness::of(None, now, policy, Path::new(SNIPPET)),
        },
    }
}
