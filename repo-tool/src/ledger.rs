//! The ledger: the durable memory of the pipeline, `OUTPUT/ledger.json`.
//!
//! It records
//! - when each (package, version) was first seen upstream: the start of its quarantine;
//! - when each published package was first seen missing upstream (a removal's age);
//! - the manual holds and expedites in force, with their reasons;
//! - the audit log: every hold, unhold, expedite and unexpedite, with time and reason.
//!
//! Invariants:
//! - Updates are idempotent: seeing a version again keeps its first time; holding a package
//!   already held for the same reason changes nothing and logs nothing. [`Ledger::save`]
//!   writes only when something changed.
//! - Saving is atomic and durable (`Fs::write_atomic`: temporary file, fsync, rename, fsync
//!   of the directory): a crash leaves the old ledger or the new one, never a mix.
//! - A ledger that cannot be read is an error, never a reason to start over: an empty
//!   ledger would restart every package's quarantine, and a wrong one could publish a
//!   version that was never held for `min_age`. The file is left as it is.
//! - Saving needs the repository lock ([`RepoLock`]): a ledger is read, changed and written
//!   by one process at a time, so no update is lost.
//!
//! The format is JSON, versioned by its `format` field, with unknown fields refused (a
//! newer tool's ledger is not silently truncated by an older one).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lumina_core::fs::Fs;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::lock::RepoLock;
use crate::promote::Policy;

/// The ledger format this tool reads and writes.
pub const FORMAT: u32 = 1;

/// A hold or expedite in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mark {
    /// The maintainer's reason.
    pub reason: String,
    /// When it was set, in seconds since the Unix epoch.
    pub at: u64,
}

/// What an audit entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `lumina-repo hold PKG --reason ...` (or a new reason for a held package).
    Hold,
    /// `lumina-repo unhold PKG`.
    Unhold,
    /// `lumina-repo expedite PKG --reason ...`: skip the quarantine, not the checks.
    Expedite,
    /// An expedite ended (withdrawn, or its version was published).
    Unexpedite,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// When, in seconds since the Unix epoch.
    pub at: u64,
    /// What.
    pub action: Action,
    /// The package name or pkgbase.
    pub package: String,
    /// Why.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Data {
    format: u32,
    /// name -> version -> first seen.
    seen: BTreeMap<String, BTreeMap<String, u64>>,
    /// name -> first seen missing upstream.
    missing: BTreeMap<String, u64>,
    holds: BTreeMap<String, Mark>,
    expedited: BTreeMap<String, Mark>,
    audit: Vec<AuditEntry>,
}

impl Default for Data {
    fn default() -> Self {
        Self {
            format: FORMAT,
            seen: BTreeMap::new(),
            missing: BTreeMap::new(),
            holds: BTreeMap::new(),
            expedited: BTreeMap::new(),
            audit: Vec::new(),
        }
    }
}

/// The ledger, loaded in memory; changes are kept until [`Ledger::save`].
#[derive(Debug, Clone)]
pub struct Ledger {
    path: PathBuf,
    data: Data,
    dirty: bool,
}

impl Ledger {
    /// Read the ledger at `path`; an absent file is an empty ledger (the first run).
    ///
    /// # Errors
    /// - [`Error::CorruptLedger`] when the file is not a ledger this tool can read (not
    ///   JSON, a field missing or unknown, another format version, not UTF-8, empty).
    /// - [`Error::Fs`] when it cannot be read.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let corrupt = |message: String| Error::CorruptLedger {
            path: path.to_path_buf(),
            message: format!(
                "{message}; it was left as it is: restore it from a backup, or move it away to \
                 start a new one (every package's quarantine then starts again)"
            ),
        };
        let data = match lumina_core::fs::lstat(path)? {
            None => Data::default(),
            Some(m) if !m.is_file() => return Err(corrupt("it is not a regular file".into())),
            Some(_) => {
                let bytes = lumina_core::fs::read(path)?;
                if bytes.is_empty() {
                    return Err(corrupt("the file is empty".into()));
                }
                let data: Data = serde_json::from_slice(&bytes).map_err(|e| {
                    if e.classify() == serde_json::error::Category::Data
                        && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
                        && let Some(f) = v.get("format").and_then(serde_json::Value::as_u64)
                        && f != u64::from(FORMAT)
                    {
                        return corrupt(format!(
                            "it has format {f}; this lumina-repo reads format {FORMAT}"
                        ));
                    }
                    corrupt(e.to_string())
                })?;
                if data.format != FORMAT {
                    return Err(corrupt(format!(
                        "it has format {}; this lumina-repo reads format {FORMAT}",
                        data.format
                    )));
                }
                data
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            data,
            dirty: false,
        })
    }

    /// The file it was loaded from and is saved to.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether anything changed since it was loaded or saved.
    #[must_use]
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// When `name` `version` was first seen upstream, if it was.
    #[must_use]
    pub fn first_seen(&self, name: &str, version: &str) -> Option<u64> {
        self.data.seen.get(name)?.get(version).copied()
    }

    /// Record that upstream has `name` `version` at `now`; returns when it was first seen
    /// (`now` the first time, the recorded time afterwards). Seeing a package also ends
    /// its "missing upstream" record.
    pub fn observe(&mut self, name: &str, version: &str, now: u64) -> u64 {
        if self.data.missing.remove(name).is_some() {
            self.dirty = true;
        }
        let versions = self.data.seen.entry(name.to_owned()).or_default();
        if let Some(t) = versions.get(version) {
            return *t;
        }
        versions.insert(version.to_owned(), now);
        self.dirty = true;
        now
    }

    /// Drop the first-seen records for which `keep(name, version)` is false, e.g. versions
    /// upstream no longer has. Call it only with a complete view of upstream: a version
    /// forgotten and seen again starts its quarantine again.
    pub fn retain_seen(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        let before: usize = self.data.seen.values().map(BTreeMap::len).sum();
        self.data.seen.retain(|name, versions| {
            versions.retain(|v, _| keep(name, v));
            !versions.is_empty()
        });
        let after: usize = self.data.seen.values().map(BTreeMap::len).sum();
        if after != before {
            self.dirty = true;
        }
    }

    /// Record that the published package `name` is missing upstream at `now`; returns
    /// when it was first seen missing.
    pub fn observe_missing(&mut self, name: &str, now: u64) -> u64 {
        if let Some(t) = self.data.missing.get(name) {
            return *t;
        }
        self.data.missing.insert(name.to_owned(), now);
        self.dirty = true;
        now
    }

    /// When the published package `name` was first seen missing upstream, if it is.
    #[must_use]
    pub fn missing_since(&self, name: &str) -> Option<u64> {
        self.data.missing.get(name).copied()
    }

    /// Hold `package` (a name or pkgbase) for `reason`. Returns whether anything changed:
    /// holding a package already held for the same reason does nothing; a new reason
    /// replaces the old one and is logged.
    pub fn hold(&mut self, package: &str, reason: &str, now: u64) -> bool {
        let changed = set_mark(
            &mut self.data.holds,
            &mut self.data.audit,
            (package, reason, now),
            Action::Hold,
        );
        self.dirty |= changed;
        changed
    }

    /// Release a manual hold; `false` (and nothing logged) if `package` was not held.
    pub fn unhold(&mut self, package: &str, reason: &str, now: u64) -> bool {
        let changed = clear_mark(
            &mut self.data.holds,
            &mut self.data.audit,
            (package, reason, now),
            Action::Unhold,
        );
        self.dirty |= changed;
        changed
    }

    /// Expedite `package`: its changes skip `min_age` (not the checks) until
    /// [`Ledger::unexpedite`]. Idempotent like [`Ledger::hold`].
    pub fn expedite(&mut self, package: &str, reason: &str, now: u64) -> bool {
        let changed = set_mark(
            &mut self.data.expedited,
            &mut self.data.audit,
            (package, reason, now),
            Action::Expedite,
        );
        self.dirty |= changed;
        changed
    }

    /// End an expedite (withdrawn, or done: its version was published); `false` if
    /// `package` was not expedited.
    pub fn unexpedite(&mut self, package: &str, reason: &str, now: u64) -> bool {
        let changed = clear_mark(
            &mut self.data.expedited,
            &mut self.data.audit,
            (package, reason, now),
            Action::Unexpedite,
        );
        self.dirty |= changed;
        changed
    }

    /// The manual holds in force.
    #[must_use]
    pub fn holds(&self) -> &BTreeMap<String, Mark> {
        &self.data.holds
    }

    /// The expedites in force.
    #[must_use]
    pub fn expedited(&self) -> &BTreeMap<String, Mark> {
        &self.data.expedited
    }

    /// The audit log, oldest first.
    #[must_use]
    pub fn audit(&self) -> &[AuditEntry] {
        &self.data.audit
    }

    /// Add the ledger's holds and expedites to a policy (from `repo.yaml`). A package held
    /// in both keeps both reasons.
    pub fn apply_to(&self, policy: &mut Policy) {
        for (name, mark) in &self.data.holds {
            policy
                .holds
                .entry(name.clone())
                .and_modify(|r| {
                    if *r != mark.reason {
                        *r = format!("{r}; {}", mark.reason);
                    }
                })
                .or_insert_with(|| mark.reason.clone());
        }
        policy.expedited.extend(self.data.expedited.keys().cloned());
    }

    /// Write the ledger if it changed (atomically and durably); returns whether it wrote.
    ///
    /// # Errors
    /// [`Error::Fs`] when it cannot be written (the old ledger then stays as it was).
    pub fn save(&mut self, fs: &Fs, _lock: &RepoLock) -> Result<bool, Error> {
        if !self.dirty {
            return Ok(false);
        }
        let mut bytes =
            serde_json::to_vec_pretty(&self.data).map_err(|e| Error::CorruptLedger {
                path: self.path.clone(),
                message: format!("cannot serialize it: {e}"),
            })?;
        bytes.push(b'\n');
        if let Some(dir) = self.path.parent() {
            fs.create_dir_all(dir)?;
        }
        fs.write_atomic(&self.path, &bytes, false)?;
        self.dirty = false;
        Ok(true)
    }
}

fn set_mark(
    marks: &mut BTreeMap<String, Mark>,
    audit: &mut Vec<AuditEntry>,
    (package, reason, now): (&str, &str, u64),
    action: Action,
) -> bool {
    if marks.get(package).is_some_and(|m| m.reason == reason) {
        return false;
    }
    marks.insert(
        package.to_owned(),
        Mark {
            reason: reason.to_owned(),
            at: now,
        },
    );
    audit.push(AuditEntry {
        at: now,
        action,
        package: package.to_owned(),
        reason: reason.to_owned(),
    });
    true
}

fn clear_mark(
    marks: &mut BTreeMap<String, Mark>,
    audit: &mut Vec<AuditEntry>,
    (package, reason, now): (&str, &str, u64),
    action: Action,
) -> bool {
    if marks.remove(package).is_none() {
        return false;
    }
    audit.push(AuditEntry {
        at: now,
        action,
        package: package.to_owned(),
        reason: reason.to_owned(),
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scratch {
        _dir: tempfile::TempDir,
        out: PathBuf,
        lock: RepoLock,
    }

    fn scratch() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let lock = RepoLock::acquire(&Fs::new(), &out, "test").unwrap();
        Scratch {
            _dir: dir,
            out,
            lock,
        }
    }

    impl Scratch {
        fn path(&self) -> PathBuf {
            self.out.join("ledger.json")
        }
        fn write(&self, text: &str) {
            Fs::new()
                .write_atomic(&self.path(), text.as_bytes(), false)
                .unwrap();
        }
    }

    #[test]
    fn first_seen_is_kept_and_saving_twice_writes_once() {
        let s = scratch();
        let mut l = Ledger::load(&s.path()).unwrap();
        assert_eq!(l.observe("bash", "5.2-1", 100), 100);
        assert_eq!(l.observe("bash", "5.2-1", 200), 100);
        assert_eq!(l.observe("bash", "5.3-1", 300), 300);
        assert!(l.save(&Fs::new(), &s.lock).unwrap());
        assert!(!l.save(&Fs::new(), &s.lock).unwrap(), "nothing changed");

        let mut again = Ledger::load(&s.path()).unwrap();
        assert_eq!(again.first_seen("bash", "5.2-1"), Some(100));
        assert_eq!(again.observe("bash", "5.3-1", 999), 300);
        assert!(
            !again.is_dirty(),
            "seeing the same versions again changes nothing"
        );
        again.retain_seen(|_, v| v == "5.3-1");
        assert_eq!(again.first_seen("bash", "5.2-1"), None);
        assert!(again.save(&Fs::new(), &s.lock).unwrap());
        assert_eq!(
            Ledger::load(&s.path()).unwrap().first_seen("bash", "5.3-1"),
            Some(300)
        );
    }

    #[test]
    fn missing_upstream_is_timed_from_the_first_sighting_and_ends_when_seen_again() {
        let mut l = Ledger::load(Path::new("/nonexistent/ledger.json")).unwrap();
        assert_eq!(l.observe_missing("foo", 10), 10);
        assert_eq!(l.observe_missing("foo", 20), 10);
        assert_eq!(l.missing_since("foo"), Some(10));
        l.observe("foo", "1-1", 30);
        assert_eq!(l.missing_since("foo"), None);
    }

    #[test]
    fn holds_and_expedites_are_idempotent_and_audited() {
        let s = scratch();
        let mut l = Ledger::load(&s.path()).unwrap();
        assert!(l.hold("linux", "nvidia breaks", 1));
        assert!(
            !l.hold("linux", "nvidia breaks", 2),
            "same reason: no change"
        );
        assert!(
            l.hold("linux", "nvidia 560 breaks", 3),
            "new reason: logged"
        );
        assert!(l.expedite("openssl", "CVE-2099-0001", 4));
        assert!(l.unhold("linux", "fixed upstream", 5));
        assert!(!l.unhold("linux", "again", 6), "not held: nothing logged");
        assert!(!l.unexpedite("bash", "x", 7));
        assert!(l.save(&Fs::new(), &s.lock).unwrap());

        let l = Ledger::load(&s.path()).unwrap();
        assert!(l.holds().is_empty());
        assert_eq!(l.expedited()["openssl"].reason, "CVE-2099-0001");
        let log: Vec<(u64, Action, &str, &str)> = l
            .audit()
            .iter()
            .map(|e| (e.at, e.action, e.package.as_str(), e.reason.as_str()))
            .collect();
        assert_eq!(
            log,
            [
                (1, Action::Hold, "linux", "nvidia breaks"),
                (3, Action::Hold, "linux", "nvidia 560 breaks"),
                (4, Action::Expedite, "openssl", "CVE-2099-0001"),
                (5, Action::Unhold, "linux", "fixed upstream"),
            ]
        );
    }

    #[test]
    fn the_policy_gets_both_reasons_and_the_expedites() {
        let mut l = Ledger::load(Path::new("/nonexistent/ledger.json")).unwrap();
        l.hold("linux", "manual", 1);
        l.hold("mesa", "regression", 1);
        l.expedite("openssl", "CVE", 1);
        let mut p = Policy::default();
        p.holds.insert("linux".into(), "config".into());
        l.apply_to(&mut p);
        assert_eq!(p.holds["linux"], "config; manual");
        assert_eq!(p.holds["mesa"], "regression");
        assert!(p.expedited.contains("openssl"));
    }

    #[test]
    fn a_corrupt_ledger_is_an_error_and_is_left_alone() {
        let s = scratch();
        let hint = "; it was left as it is: restore it from a backup, or move it away to start \
                    a new one (every package's quarantine then starts again)";
        for (text, message) in [
            ("", "the file is empty".to_owned()),
            (
                "{\"format\": 1, \"seen\": {",
                "EOF while parsing an object at line 1 column 23".to_owned(),
            ),
            (
                "{\"format\": 2, \"seen\": {}, \"missing\": {}, \"holds\": {}, \"expedited\": {}, \
                 \"audit\": [], \"new\": 1}",
                "it has format 2; this lumina-repo reads format 1".to_owned(),
            ),
            (
                "{\"format\": 1, \"seen\": {\"bash\": {\"5.2-1\": \"yesterday\"}}, \"missing\": \
                 {}, \"holds\": {}, \"expedited\": {}, \"audit\": []}",
                "invalid type: string \"yesterday\", expected u64 at line 1 column 52".to_owned(),
            ),
        ] {
            s.write(text);
            let e = Ledger::load(&s.path()).unwrap_err().to_string();
            assert_eq!(
                e,
                format!(
                    "the ledger `{}` is corrupt: {message}{hint}",
                    s.path().display()
                )
            );
            assert_eq!(
                lumina_core::fs::read(&s.path()).unwrap(),
                text.as_bytes(),
                "the file is untouched"
            );
        }
    }

    #[test]
    fn a_crash_while_saving_leaves_the_old_ledger_or_the_new_one() {
        let s = scratch();
        let mut old = Ledger::load(&s.path()).unwrap();
        old.observe("a", "1-1", 1);
        old.save(&Fs::new(), &s.lock).unwrap();
        let mut n = 1;
        loop {
            let mut l = Ledger::load(&s.path()).unwrap();
            l.observe("b", &format!("{n}-1"), 2);
            match l.save(&Fs::failing_after(n), &s.lock) {
                Ok(_) => break,
                Err(Error::Fs(lumina_core::Error::Injected { .. })) => {}
                Err(e) => panic!("step {n}: {e}"),
            }
            let after = Ledger::load(&s.path()).unwrap();
            assert_eq!(after.first_seen("a", "1-1"), Some(1));
            n += 1;
        }
        assert!(n > 2, "too few steps ({n})");
    }
}
