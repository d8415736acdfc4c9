//! Hardware profiles (`pkg/profiles/*.yaml`): what a kind of machine should have, each entry
//! with a line of why.
//!
//! A profile is data. The shipped ones are built into the binary ([`BUILTIN`]); a file of the
//! same name in `/usr/share/lumina/profiles/` (under `--root`) overrides one, so a packager or
//! administrator can correct a profile without a new Lumina. Errors are reported like the
//! registry's: `file:line:column`, the line, what was expected and a hint.
//!
//! ```yaml
//! version: 1
//! name: framework-13-amd            # the file name without `.yaml`
//! description: Framework Laptop 13 with an AMD mainboard
//! packages:
//!   - { name: fwupd, why: "firmware updates from LVFS" }
//! kernel_parameters:
//!   - { value: amdgpu.dcdebugmask=0x10, why: "panel self-refresh hangs the display" }
//! files:
//!   - { target: /etc/udev/rules.d/50-x.rules, content: "...", why: "..." }
//! ```

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::registry::Diagnostic;
use crate::registry::check::{DiagExt, Res, Src, fields, list, seq, string, syntax_error};
use crate::registry::yaml::{self, Kind, Node, Pos};
use crate::root::Root;

/// Where installed profiles live (they override the built-in ones).
pub const DIR: &str = "/usr/share/lumina/profiles";

/// The profiles built into `lumina`: (name, text).
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "generic",
        include_str!("../../../pkg/profiles/generic.yaml"),
    ),
    (
        "framework-13-intel",
        include_str!("../../../pkg/profiles/framework-13-intel.yaml"),
    ),
    (
        "framework-13-amd",
        include_str!("../../../pkg/profiles/framework-13-amd.yaml"),
    ),
    (
        "framework-16",
        include_str!("../../../pkg/profiles/framework-16.yaml"),
    ),
    (
        "framework-12",
        include_str!("../../../pkg/profiles/framework-12.yaml"),
    ),
];

/// Top-level keys.
pub const KEYS: &[&str] = &[
    "version",
    "name",
    "description",
    "packages",
    "kernel_parameters",
    "files",
];
/// Keys of a package.
pub const PACKAGE_KEYS: &[&str] = &["name", "why"];
/// Keys of a kernel parameter.
pub const PARAMETER_KEYS: &[&str] = &["value", "why"];
/// Keys of a file.
pub const FILE_KEYS: &[&str] = &["target", "content", "why"];

/// A hardware profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Profile {
    /// Its name (the file name without `.yaml`).
    pub name: String,
    /// One line about the hardware it is for.
    pub description: String,
    /// Packages to install.
    pub packages: Vec<Entry>,
    /// Kernel command-line parameters to add (to the boot loader's configuration, by hand:
    /// Lumina does not edit boot loaders).
    pub kernel_parameters: Vec<Entry>,
    /// Files to install.
    pub files: Vec<File>,
}

/// A package or kernel parameter, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The package name or the parameter.
    pub value: String,
    /// Why, in one line.
    pub why: String,
}

/// A file a profile installs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct File {
    /// Absolute path (`/etc/...`) or `~/...`.
    pub target: String,
    /// Its content.
    pub content: String,
    /// Why, in one line.
    pub why: String,
}

/// The names of the built-in profiles.
pub fn names() -> Vec<&'static str> {
    BUILTIN.iter().map(|(n, _)| *n).collect()
}

/// Load profile `name`: `/usr/share/lumina/profiles/NAME.yaml` under `root` if it exists,
/// else the built-in one.
///
/// # Errors
/// [`Error::Registry`] (a diagnostic) when the file is invalid or no such profile exists;
/// [`Error::Io`] when the installed file cannot be read.
pub fn load(root: &Root, name: &str) -> Result<Profile> {
    let installed = root.join(DIR).join(format!("{name}.yaml"));
    if crate::fs::stat(&installed)?.is_some() {
        let text = String::from_utf8(crate::fs::read(&installed)?).map_err(|_| {
            Error::Registry(Box::new(Diagnostic {
                file: installed.clone(),
                pos: None,
                message: "the profile is not UTF-8".into(),
                expected: None,
                hint: Some("save it as UTF-8".into()),
                line_text: None,
            }))
        })?;
        return parse(&text, &installed).map_err(Error::Registry);
    }
    match BUILTIN.iter().find(|(n, _)| *n == name) {
        Some((n, text)) => {
            let shown = PathBuf::from(format!("pkg/profiles/{n}.yaml"));
            parse(text, &shown).map_err(Error::Registry)
        }
        None => Err(Error::Registry(Box::new(Diagnostic {
            file: PathBuf::from(format!("{name}.yaml")),
            pos: None,
            message: format!("no hardware profile named `{name}`"),
            expected: Some(format!("one of {}", list(&names()))),
            hint: Some(format!(
                "`--hardware auto` picks one from the hardware; `--hardware none` uses none; \
                 or add `{}/{name}.yaml`",
                DIR
            )),
            line_text: None,
        }))),
    }
}

/// Parse a profile. `file` is shown in messages, and its name (without `.yaml`) must be the
/// profile's `name`.
///
/// # Errors
/// The first problem, as a [`Diagnostic`].
pub fn parse(text: &str, file: &Path) -> Res<Profile> {
    let src = Src::new(
        text,
        file,
        "the profile",
        "remove it; a profile has `version`, `name`, `description`, `packages`, \
         `kernel_parameters` and `files`",
    );
    let root = yaml::parse(text).map_err(|e| syntax_error(&src, e))?;
    let entries = match root.kind {
        Kind::Map(e) => e,
        other => {
            return Err(src
                .err(
                    root.pos,
                    format!("the profile must be a mapping, found {}", other.describe()),
                )
                .expected(format!("keys: {}", list(KEYS)))
                .hint("start the file with `version: 1` and `name: NAME`"));
        }
    };
    let mut p = Profile {
        name: String::new(),
        description: String::new(),
        packages: Vec::new(),
        kernel_parameters: Vec::new(),
        files: Vec::new(),
    };
    let (mut version, mut name) = (false, None::<Pos>);
    for (key, v) in fields(&src, entries, KEYS, "in the profile")? {
        match key.as_str() {
            "version" => {
                if !matches!(v.kind, Kind::Int(1)) {
                    return Err(src
                        .err(
                            v.pos,
                            format!("unsupported profile version: {}", v.kind.describe()),
                        )
                        .expected("`1`")
                        .hint("this Lumina reads profile version 1"));
                }
                version = true;
            }
            "name" => {
                let (n, pos) = string(&src, v, "`name`")?;
                let stem = file
                    .file_stem()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if n != stem {
                    return Err(src
                        .err(pos, format!("the profile is named `{n}` in `{stem}.yaml`"))
                        .expected(format!("`name: {stem}`"))
                        .hint("a profile's name is its file name without `.yaml`"));
                }
                p.name = n;
                name = Some(pos);
            }
            "description" => p.description = string(&src, v, "`description`")?.0,
            "packages" => {
                for item in items(&src, v, "`packages`", "- { name: fwupd, why: \"...\" }")? {
                    let (pos, mut f) = item_fields(&src, item, PACKAGE_KEYS, "a package")?;
                    let (value, vpos) = take(&src, &mut f, "name", pos, "a package")?;
                    if alpm_types::Name::new(&value).is_err() {
                        return Err(src
                            .err(vpos, format!("`{value}` is not a valid package name"))
                            .expected("letters, digits and `@._+-`, not starting with `-` or `.`")
                            .hint("write the package's name as pacman knows it"));
                    }
                    if p.packages.iter().any(|e| e.value == value) {
                        return Err(src
                            .err(vpos, format!("package `{value}` is listed twice"))
                            .expected("each package once")
                            .hint("remove one of the two"));
                    }
                    let why = take(&src, &mut f, "why", pos, "a package")?.0;
                    p.packages.push(Entry { value, why });
                }
            }
            "kernel_parameters" => {
                for item in items(
                    &src,
                    v,
                    "`kernel_parameters`",
                    "- { value: amdgpu.dcdebugmask=0x10, why: \"...\" }",
                )? {
                    let (pos, mut f) =
                        item_fields(&src, item, PARAMETER_KEYS, "a kernel parameter")?;
                    let (value, vpos) = take(&src, &mut f, "value", pos, "a kernel parameter")?;
                    if value.contains(char::is_whitespace) || value.contains('"') {
                        return Err(src
                            .err(
                                vpos,
                                format!("kernel parameter `{value}` has a space or quote"),
                            )
                            .expected("one parameter, e.g. `amdgpu.dcdebugmask=0x10`")
                            .hint("list each parameter as its own entry"));
                    }
                    let why = take(&src, &mut f, "why", pos, "a kernel parameter")?.0;
                    p.kernel_parameters.push(Entry { value, why });
                }
            }
            _ => {
                for item in items(
                    &src,
                    v,
                    "`files`",
                    "- { target: /etc/x.conf, content: \"...\", why: \"...\" }",
                )? {
                    let (pos, mut f) = item_fields(&src, item, FILE_KEYS, "a file")?;
                    let (target, tpos) = take(&src, &mut f, "target", pos, "a file")?;
                    let rest = target
                        .strip_prefix("~/")
                        .or_else(|| target.strip_prefix('/'));
                    if rest.is_none_or(|r| {
                        r.is_empty() || crate::paths::has_dot_components(Path::new(r))
                    }) {
                        return Err(src
                            .err(
                                tpos,
                                format!("file target `{target}` is not a plain absolute path"),
                            )
                            .expected("`/etc/...` or `~/...`, without `.` or `..`")
                            .hint("name the file the profile installs"));
                    }
                    let content = match f.iter().position(|(k, _)| k == "content") {
                        Some(i) => {
                            let (_, n) = f.remove(i);
                            match n.kind {
                                Kind::Str(s) if !s.trim().is_empty() => s,
                                other => {
                                    return Err(src
                                        .err(
                                            n.pos,
                                            format!(
                                                "a file's `content` must be text, found {}",
                                                other.describe()
                                            ),
                                        )
                                        .expected("a string, e.g. a `|` block")
                                        .hint("write the file's text after `content: |`"));
                                }
                            }
                        }
                        None => return Err(missing(&src, pos, "a file", "content")),
                    };
                    let why = take(&src, &mut f, "why", pos, "a file")?.0;
                    p.files.push(File {
                        target,
                        content,
                        why,
                    });
                }
            }
        }
    }
    if !version {
        return Err(src
            .err(Pos { line: 1, column: 1 }, "the profile has no `version`")
            .expected("`version: 1` at the top level")
            .hint("add `version: 1`"));
    }
    if name.is_none() {
        return Err(src
            .err(Pos { line: 1, column: 1 }, "the profile has no `name`")
            .expected("`name: NAME`, the file name without `.yaml`")
            .hint("add the profile's name"));
    }
    Ok(p)
}

fn items(src: &Src<'_>, v: Node, what: &str, example: &str) -> Res<Vec<Node>> {
    seq(
        src,
        v,
        what,
        example,
        "write one entry per line as `- { ... }`, each with a `why`",
    )
}

fn item_fields(
    src: &Src<'_>,
    item: Node,
    keys: &[&str],
    what: &str,
) -> Res<(Pos, Vec<(String, Node)>)> {
    let pos = item.pos;
    match item.kind {
        Kind::Map(e) => Ok((pos, fields(src, e, keys, &format!("in {what}"))?)),
        other => Err(src
            .err(
                pos,
                format!("{what} must be a mapping, found {}", other.describe()),
            )
            .expected(format!("keys {}", list(keys)))
            .hint("every entry says why: `{ ..., why: \"...\" }`")),
    }
}

fn missing(src: &Src<'_>, pos: Pos, what: &str, key: &str) -> Box<Diagnostic> {
    src.err(pos, format!("{what} has no `{key}`"))
        .expected(format!("`{key}: ...`"))
        .hint(match key {
            "why" => "every entry of a profile says in one line why it is there".to_owned(),
            "content" => "write the file's text after `content: |`".to_owned(),
            _ => format!("add `{key}`"),
        })
}

fn take(
    src: &Src<'_>,
    f: &mut Vec<(String, Node)>,
    key: &str,
    pos: Pos,
    what: &str,
) -> Res<(String, Pos)> {
    match f.iter().position(|(k, _)| k == key) {
        Some(i) => {
            let (_, n) = f.remove(i);
            string(src, n, &format!("{what}'s `{key}`"))
        }
        None => Err(missing(src, pos, what, key)),
    }
}

#[cfg(test)]
mod tests;
