//! Desktop themes from the registry's `themes`: GTK 3 and GTK 4 `settings.ini` and the XDG
//! default cursor theme (`~/.local/share/icons/default/index.theme`, `Inherits=`).
//!
//! [`plan`] is pure: from the themes and the files' current text it computes each file's new
//! text, changing only the keys the registry sets and keeping every other line, comment and
//! section. [`apply`] writes the files that change, each atomically through [`Fs`]. A file
//! that is a symlink (a dotfile Lumina or the user links) is not replaced: it is reported, and
//! the theme belongs in the link's source.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Result;
use crate::fs::Fs;
use crate::registry::Themes;

/// One theme file's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The file.
    pub path: PathBuf,
    /// `[Section]` and `key=value` pairs set in it.
    pub section: &'static str,
    /// The keys and values set.
    pub keys: Keys,
    /// What happens.
    pub action: ThemeAction,
    /// The new text (for [`ThemeAction::Write`]).
    #[serde(skip)]
    pub text: String,
}

/// What happens to a theme file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ThemeAction {
    /// Already says so.
    Keep,
    /// Written (created or updated).
    Write,
    /// Left alone: it is a symlink (set the theme in its source) or not a regular file.
    Skip {
        /// Why.
        reason: String,
    },
}

/// The current state of a theme file, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Current {
    /// Does not exist.
    Absent,
    /// A regular file with this text.
    File(String),
    /// Something Lumina does not write through (a symlink, a directory, ...).
    Other(String),
}

/// `key=value` pairs of an INI section.
pub type Keys = Vec<(&'static str, String)>;

/// The files and keys `themes` sets, under `home`: (file, section, keys).
pub fn targets(themes: &Themes, home: &Path) -> Vec<(PathBuf, &'static str, Keys)> {
    let mut gtk = Vec::new();
    if let Some(t) = &themes.gtk {
        gtk.push(("gtk-theme-name", t.clone()));
    }
    if let Some(t) = &themes.icons {
        gtk.push(("gtk-icon-theme-name", t.clone()));
    }
    if let Some(t) = &themes.cursor {
        gtk.push(("gtk-cursor-theme-name", t.clone()));
    }
    if let Some(s) = themes.cursor_size {
        gtk.push(("gtk-cursor-theme-size", s.to_string()));
    }
    if let Some(f) = &themes.font {
        gtk.push(("gtk-font-name", f.clone()));
    }
    let mut out = Vec::new();
    if !gtk.is_empty() {
        for v in ["gtk-3.0", "gtk-4.0"] {
            out.push((
                home.join(".config").join(v).join("settings.ini"),
                "Settings",
                gtk.clone(),
            ));
        }
    }
    if let Some(c) = &themes.cursor {
        out.push((
            home.join(".local/share/icons/default/index.theme"),
            "Icon Theme",
            vec![("Inherits", c.clone())],
        ));
    }
    out
}

/// Plan every theme file's change from its current state (pure).
pub fn plan(themes: &Themes, home: &Path, current: impl Fn(&Path) -> Current) -> Vec<Change> {
    targets(themes, home)
        .into_iter()
        .map(|(path, section, keys)| {
            let (action, text) = match current(&path) {
                Current::Other(reason) => (ThemeAction::Skip { reason }, String::new()),
                Current::Absent => (ThemeAction::Write, ini_set("", section, &keys)),
                Current::File(old) => {
                    let new = ini_set(&old, section, &keys);
                    if new == old {
                        (ThemeAction::Keep, old)
                    } else {
                        (ThemeAction::Write, new)
                    }
                }
            };
            Change {
                path,
                section,
                keys,
                action,
                text,
            }
        })
        .collect()
}

/// Set `keys` in `[section]` of an INI text, keeping every other line. A key already in the
/// section has its value replaced where it is; a missing key is added after the section's
/// last entry; a missing section is added at the end.
pub fn ini_set(text: &str, section: &str, keys: &[(&'static str, String)]) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let header = format!("[{section}]");
    let start = lines.iter().position(|l| l.trim() == header);
    let mut out: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    let Some(start) = start else {
        while out.last().is_some_and(|l| l.trim().is_empty()) {
            out.pop();
        }
        if !out.is_empty() {
            out.push(String::new());
        }
        out.push(header);
        out.extend(keys.iter().map(|(k, v)| format!("{k}={v}")));
        return out.join("\n") + "\n";
    };
    let end = lines[start + 1..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |i| start + 1 + i);
    let mut missing = Vec::new();
    for (k, v) in keys {
        let found = (start + 1..end).find(|&i| {
            let l = lines[i].trim_start();
            !l.starts_with('#')
                && !l.starts_with(';')
                && l.split_once('=').is_some_and(|(name, _)| name.trim() == *k)
        });
        match found {
            Some(i) => out[i] = format!("{k}={v}"),
            None => missing.push(format!("{k}={v}")),
        }
    }
    // After the section's last non-blank line.
    let mut at = end;
    while at > start + 1 && lines[at - 1].trim().is_empty() {
        at -= 1;
    }
    for (n, l) in missing.into_iter().enumerate() {
        out.insert(at + n, l);
    }
    out.join("\n") + "\n"
}

/// Read a theme file's current state.
///
/// # Errors
/// [`crate::Error::Io`] when it exists but cannot be read.
pub fn current(path: &Path) -> Result<Current> {
    Ok(match crate::fs::lstat(path)? {
        None => Current::Absent,
        Some(m) if m.file_type().is_symlink() => {
            Current::Other("it is a symlink; set the theme in the file it points to".into())
        }
        Some(m) if !m.is_file() => Current::Other("it is not a regular file".into()),
        Some(_) => Current::File(String::from_utf8_lossy(&crate::fs::read(path)?).into_owned()),
    })
}

/// Write the planned changes.
///
/// # Errors
/// [`crate::Error::Io`] from creating a directory or writing a file.
pub fn apply(changes: &[Change], fs: &Fs) -> Result<()> {
    for c in changes.iter().filter(|c| c.action == ThemeAction::Write) {
        if let Some(dir) = c.path.parent() {
            fs.create_dir_all(dir)?;
        }
        fs.write_atomic(&c.path, c.text.as_bytes(), false)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn themes() -> Themes {
        Themes {
            gtk: Some("Adwaita-dark".into()),
            icons: Some("Papirus".into()),
            cursor: Some("Bibata-Modern-Ice".into()),
            cursor_size: Some(24),
            font: Some("Inter 11".into()),
        }
    }

    #[test]
    fn other_keys_comments_and_sections_are_kept() {
        let old = "# mine\n[Settings]\ngtk-theme-name = Old\ngtk-application-prefer-dark-theme=1\n\n[Other]\nx=1\n";
        let new = ini_set(
            old,
            "Settings",
            &[
                ("gtk-theme-name", "Adwaita-dark".into()),
                ("gtk-font-name", "Inter 11".into()),
            ],
        );
        assert_eq!(
            new,
            "# mine\n[Settings]\ngtk-theme-name=Adwaita-dark\ngtk-application-prefer-dark-theme=1\ngtk-font-name=Inter 11\n\n[Other]\nx=1\n"
        );
        // Setting the same again changes nothing.
        assert_eq!(
            ini_set(&new, "Settings", &[("gtk-font-name", "Inter 11".into())]),
            new
        );
        assert_eq!(
            ini_set(
                "[Other]\nx=1\n",
                "Icon Theme",
                &[("Inherits", "Bibata".into())]
            ),
            "[Other]\nx=1\n\n[Icon Theme]\nInherits=Bibata\n"
        );
    }

    #[test]
    fn the_plan_covers_gtk3_gtk4_and_the_cursor() {
        let home = Path::new("/home/ana");
        let p = plan(&themes(), home, |path| {
            if path.ends_with("gtk-4.0/settings.ini") {
                Current::Other("it is a symlink; set the theme in the file it points to".into())
            } else {
                Current::Absent
            }
        });
        let summary: Vec<(String, &ThemeAction)> = p
            .iter()
            .map(|c| (c.path.display().to_string(), &c.action))
            .collect();
        assert_eq!(summary.len(), 3);
        assert_eq!(
            summary[0],
            (
                "/home/ana/.config/gtk-3.0/settings.ini".into(),
                &ThemeAction::Write
            )
        );
        assert!(matches!(summary[1].1, ThemeAction::Skip { .. }));
        assert_eq!(
            p[0].text,
            "[Settings]\ngtk-theme-name=Adwaita-dark\ngtk-icon-theme-name=Papirus\ngtk-cursor-theme-name=Bibata-Modern-Ice\ngtk-cursor-theme-size=24\ngtk-font-name=Inter 11\n"
        );
        assert_eq!(p[2].text, "[Icon Theme]\nInherits=Bibata-Modern-Ice\n");
        // Nothing declared: nothing to do.
        assert!(plan(&Themes::default(), home, |_| Current::Absent).is_empty());
    }

    #[test]
    fn a_crash_at_any_step_leaves_each_file_old_or_new() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        let gtk3 = home.join(".config/gtk-3.0/settings.ini");
        let fs = Fs::new();
        fs.create_dir_all(gtk3.parent().unwrap()).unwrap();
        let old = "[Settings]\ngtk-theme-name=Old\nx=1\n";
        for n in 1.. {
            fs.write_atomic(&gtk3, old.as_bytes(), false).unwrap();
            let p = plan(&themes(), home, |p| current(p).unwrap());
            let failing = Fs::failing_after(n);
            let done = apply(&p, &failing).is_ok();
            let now = String::from_utf8(crate::fs::read(&gtk3).unwrap()).unwrap();
            assert!(now == old || now == p[0].text, "step {n}: {now:?}");
            // The next run converges.
            apply(&plan(&themes(), home, |p| current(p).unwrap()), &fs).unwrap();
            assert_eq!(
                String::from_utf8(crate::fs::read(&gtk3).unwrap()).unwrap(),
                p[0].text
            );
            if done {
                break;
            }
        }
    }

    #[test]
    fn files_are_written_atomically_and_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path();
        let p = plan(&themes(), home, |p| current(p).unwrap());
        apply(&p, &Fs::new()).unwrap();
        let again = plan(&themes(), home, |p| current(p).unwrap());
        assert!(
            again.iter().all(|c| c.action == ThemeAction::Keep),
            "{again:?}"
        );
        let text =
            String::from_utf8(crate::fs::read(&home.join(".config/gtk-4.0/settings.ini")).unwrap())
                .unwrap();
        assert!(text.contains("gtk-font-name=Inter 11\n"));
    }
}
