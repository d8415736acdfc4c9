//! From a positioned YAML tree to a validated [`Registry`] (pure).
//!
//! The first problem, in file order, becomes one [`Diagnostic`]. Messages follow uv's style:
//! lowercase, values in backticks, no trailing period.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::yaml::{self, Kind, Node, Pos};
use super::{
    LINK_KEYS, LINK_MODES, LinkDecl, LinkMode, MinFree, PACKAGE_KEYS, Package, Registry,
    SNAPSHOT_KEYS, Snapshots, THEME_KEYS, TOP_KEYS, Themes, VERSION,
};
use crate::paths::{self, Context};

use super::check::{DiagExt, Res, Src, fields, int, list, map, seq, string, syntax_error};

struct Cx<'a> {
    src: Src<'a>,
    paths: &'a Context,
}

impl<'a> std::ops::Deref for Cx<'a> {
    type Target = Src<'a>;
    fn deref(&self) -> &Src<'a> {
        &self.src
    }
}

pub(super) fn convert(text: &str, file: &Path, ctx: &Context) -> Res<Registry> {
    let cx = Cx {
        src: Src::new(
            text,
            file,
            "the registry",
            "remove it; `lumina schema` prints every key the registry accepts",
        ),
        paths: ctx,
    };
    let root = yaml::parse(text).map_err(|e| syntax_error(&cx, e))?;
    let entries = match root.kind {
        Kind::Map(entries) => entries,
        Kind::Null => {
            return Err(cx
                .err(Pos { line: 1, column: 1 }, "the registry is empty")
                .expected("a mapping that starts with `version: 1`")
                .hint("see `docs/registry.md` for a full example, or run `lumina schema`"));
        }
        other => {
            return Err(cx
                .err(
                    root.pos,
                    format!("the registry must be a mapping, found {}", other.describe()),
                )
                .expected(format!("top-level keys: {}", list(TOP_KEYS)))
                .hint("start the file with `version: 1`"));
        }
    };
    // The version decides which keys exist: check it before the keys, so that a newer
    // registry gets "needs a newer Lumina" rather than "unknown key".
    if let Some((_, v)) = entries
        .iter()
        .find(|(k, _)| matches!(&k.kind, Kind::Str(s) if s == "version"))
    {
        version(&cx, v)?;
    }
    let fields = fields(&cx, entries, TOP_KEYS, "at the top level")?;
    let mut reg = Registry {
        version: VERSION,
        packages: Vec::new(),
        links: Vec::new(),
        themes: Themes::default(),
        snapshots: Snapshots::default(),
    };
    let mut version_seen = false;
    for (key, value) in fields {
        match key.as_str() {
            "version" => {
                reg.version = version(&cx, &value)?;
                version_seen = true;
            }
            "packages" => reg.packages = packages(&cx, value)?,
            "links" => reg.links = links(&cx, value)?,
            "themes" => reg.themes = themes(&cx, value)?,
            _ => reg.snapshots = snapshots(&cx, value)?,
        }
    }
    if !version_seen {
        return Err(cx
            .err(Pos { line: 1, column: 1 }, "the registry has no `version`")
            .expected("`version: 1` at the top level")
            .hint("add `version: 1` as the first line"));
    }
    Ok(reg)
}

fn version(cx: &Cx<'_>, v: &Node) -> Res<u32> {
    match &v.kind {
        Kind::Int(1) => Ok(VERSION),
        Kind::Int(n) => Err(cx
            .err(v.pos, format!("unsupported registry version `{n}`"))
            .expected("`1`")
            .hint("this Lumina reads registry version 1; a newer registry needs a newer Lumina")),
        Kind::Float(_) => Err(cx
            .err(
                v.pos,
                format!(
                    "`version` must be a whole number, found `{}`",
                    cx.raw(v.pos).unwrap_or_default()
                ),
            )
            .expected("`1`")
            .hint("write `version: 1`")),
        other => Err(cx
            .err(
                v.pos,
                format!("`version` must be a number, found {}", other.describe()),
            )
            .expected("`1`")
            .hint("write `version: 1` without quotes")),
    }
}

fn packages(cx: &Cx<'_>, v: Node) -> Res<Vec<super::Package>> {
    let items = seq(
        cx,
        v,
        "`packages`",
        "packages: [git, neovim]",
        "write one package per line as `- NAME`, or `[git, neovim]` on one line",
    )?;
    let mut seen: BTreeMap<String, Pos> = BTreeMap::new();
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let item_pos = item.pos;
        let (name, pos, reason) = match item.kind {
            Kind::Map(entries) => {
                let mut name = None;
                let mut reason = None;
                for (key, value) in fields(cx, entries, PACKAGE_KEYS, "in a package")? {
                    match key.as_str() {
                        "name" => name = Some(string(cx, value, "a package `name`")?),
                        _ => reason = Some(string(cx, value, "a package `reason`")?.0),
                    }
                }
                let Some((name, pos)) = name else {
                    return Err(cx
                        .err(item_pos, "a package written as a mapping has no `name`")
                        .expected("`{ name: NAME, reason: \"why\" }`")
                        .hint("add the package's `name`"));
                };
                (name, pos, reason)
            }
            kind => {
                let (name, pos) = string(
                    cx,
                    Node {
                        kind,
                        pos: item_pos,
                    },
                    "a package name",
                )?;
                (name, pos, None)
            }
        };
        if alpm_types::Name::new(&name).is_err() {
            return Err(cx
                .err(pos, format!("`{name}` is not a valid package name"))
                .expected("letters, digits and `@._+-`, not starting with `-` or `.`")
                .hint(format!(
                    "{}; pacman would reject it too",
                    bad_name_char(&name)
                )));
        }
        if let Some(first) = seen.get(&name) {
            return Err(cx
                .err(pos, format!("package `{name}` is declared twice"))
                .expected("each package once")
                .hint(format!("the first declaration is on line {}", first.line)));
        }
        seen.insert(name.clone(), pos);
        out.push(Package { name, reason, pos });
    }
    Ok(out)
}

/// What is wrong with a package name that ALPM rejects.
fn bad_name_char(name: &str) -> String {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "@._+-".contains(c);
    match name.chars().next() {
        Some(c @ ('-' | '.')) => format!("a package name cannot start with `{c}`"),
        _ => match name.chars().find(|c| !allowed(*c)) {
            Some(' ') => "a package name cannot contain a space".into(),
            Some(c) => format!("`{c}` is not allowed in a package name"),
            None => "this is not a package name".into(),
        },
    }
}

fn links(cx: &Cx<'_>, v: Node) -> Res<Vec<LinkDecl>> {
    let entries = map(
        cx,
        v,
        "`links`",
        "links: { ~/.bashrc: shell/bashrc }",
        "write one `TARGET: SOURCE` per line under `links:`, without a leading `- `",
    )?;
    let home = &cx.paths.lumina_home;
    let mut out: Vec<LinkDecl> = Vec::with_capacity(entries.len());
    let mut by_target: BTreeMap<PathBuf, usize> = BTreeMap::new();
    for (k, value) in entries {
        let (written, tpos) = string(cx, k, "a link target")?;
        let Some(target) = cx.paths.expand_target(&written) else {
            let d = cx
                .err(
                    tpos,
                    format!("link target `{written}` is not an absolute path"),
                )
                .expected("a target that starts with `~/` or `/`");
            return Err(if written.starts_with('~') {
                d.hint("only `~/` (your own home) is expanded; `~user` is not")
            } else {
                d.hint(format!("write `~/{written}` for a path in your home"))
            });
        };
        let rest = written.strip_prefix("~/").unwrap_or(&written);
        if !rest.is_empty() && paths::has_dot_components(Path::new(rest)) {
            return Err(cx
                .err(
                    tpos,
                    format!("link target `{written}` has a `.` or `..` component"),
                )
                .expected("a plain path such as `~/.config/app/config`")
                .hint("write the path without `.` and `..`"));
        }
        let target = paths::normalize(&target);
        if target.parent().is_none() || target == cx.paths.user_home {
            return Err(cx
                .err(
                    tpos,
                    format!("link target `{written}` is a whole home or root directory"),
                )
                .expected("a file or directory inside it")
                .hint("name the file or directory to link, e.g. `~/.bashrc`"));
        }
        if paths::is_within(&target, home) {
            return Err(cx
                .err(
                    tpos,
                    format!(
                        "link target `{written}` is inside the virtual root `{}`",
                        home.display()
                    ),
                )
                .expected("a target outside the virtual root")
                .hint("targets are where links are made; sources live in the virtual root"));
        }
        if paths::is_within(home, &target) {
            return Err(cx
                .err(
                    tpos,
                    format!(
                        "link target `{written}` contains the virtual root `{}`",
                        home.display()
                    ),
                )
                .expected("a target that does not contain the virtual root")
                .hint("linking it would hide the registry itself"));
        }
        let (source_text, spos, mode) = match value.kind {
            Kind::Map(entries) => {
                let vpos = value.pos;
                let mut source = None;
                let mut mode = LinkMode::File;
                for (key, v) in fields(cx, entries, LINK_KEYS, &format!("in link `{written}`"))? {
                    match key.as_str() {
                        "source" => source = Some(string(cx, v, "a link `source`")?),
                        _ => mode = link_mode(cx, v)?,
                    }
                }
                let Some((s, p)) = source else {
                    return Err(cx
                        .err(vpos, format!("link `{written}` has no `source`"))
                        .expected("`{ source: PATH, mode: file|tree }`")
                        .hint(
                            "add `source:`, the path of the file or directory in the virtual root",
                        ));
                };
                (s, p, mode)
            }
            kind => {
                let structural = matches!(kind, Kind::Null | Kind::Seq(_));
                let (s, p) = string(
                    cx,
                    Node {
                        kind,
                        pos: value.pos,
                    },
                    "a link source",
                )
                .map_err(|d| {
                    if structural {
                        d.hint(
                            "a link is `TARGET: SOURCE` or `TARGET: { source: SOURCE, mode: tree }`",
                        )
                    } else {
                        d
                    }
                })?;
                (s, p, LinkMode::File)
            }
        };
        let source = PathBuf::from(&source_text);
        if source.is_absolute() || source_text.starts_with('~') {
            return Err(cx
                .err(spos, format!("link source `{source_text}` is absolute"))
                .expected("a path relative to the virtual root, e.g. `shell/bashrc`")
                .hint(format!(
                    "move the file into `{}` and name it relative to it",
                    home.display()
                )));
        }
        if source
            .components()
            .any(|c| c == std::path::Component::ParentDir)
        {
            return Err(cx
                .err(
                    spos,
                    format!("link source `{source_text}` escapes the virtual root with `..`"),
                )
                .expected("a path inside the virtual root, without `..`")
                .hint(
                    "sources must live in the virtual root so that it alone describes the machine",
                ));
        }
        if paths::has_dot_components(&source) {
            return Err(cx
                .err(
                    spos,
                    format!("link source `{source_text}` has a `.` component"),
                )
                .expected("a plain relative path such as `shell/bashrc`")
                .hint(format!(
                    "write `{}`",
                    source
                        .components()
                        .filter(|c| *c != std::path::Component::CurDir)
                        .collect::<PathBuf>()
                        .display()
                )));
        }
        let source = paths::normalize(&source);
        let reserved = if source.starts_with(".state") {
            Some("`.state/` holds Lumina's record of the links it made")
        } else if source.starts_with(".git") {
            Some("`.git/` is the git repository of the virtual root")
        } else if source == Path::new(super::FILE_NAME) {
            Some("`lumina.yaml` is the registry itself")
        } else {
            None
        };
        if let Some(why) = reserved {
            return Err(cx
                .err(
                    spos,
                    format!("link source `{source_text}` is reserved by Lumina or git"),
                )
                .expected("a file of your profile, not `.state/`, `.git/` or `lumina.yaml`")
                .hint(format!(
                    "{why}; keep your own files beside it, e.g. in `shell/`"
                )));
        }
        if let Some(&first) = by_target.get(&target) {
            let f = &out[first];
            return Err(cx
                .err(tpos, format!("link target `{written}` is declared twice"))
                .expected("each target once")
                .hint(format!(
                    "line {} declares the same target as `{}`",
                    f.pos.line, f.written
                )));
        }
        by_target.insert(target.clone(), out.len());
        out.push(LinkDecl {
            target,
            written,
            source,
            mode,
            pos: tpos,
        });
    }
    // A target below a `mode: file` target would be written through that link, into the
    // virtual root.
    for l in &out {
        for anc in l.target.ancestors().skip(1) {
            if let Some(&i) = by_target.get(anc) {
                let outer = &out[i];
                if outer.mode == LinkMode::File {
                    return Err(cx
                        .err(
                            l.pos,
                            format!(
                                "link target `{}` is inside link target `{}`",
                                l.written, outer.written
                            ),
                        )
                        .expected("targets that do not nest inside a `mode: file` link")
                        .hint(format!(
                            "make `{}` (line {}) `mode: tree`, or drop one of the two",
                            outer.written, outer.pos.line
                        )));
                }
            }
        }
    }
    Ok(out)
}

fn link_mode(cx: &Cx<'_>, v: Node) -> Res<LinkMode> {
    let (s, pos) = string(cx, v, "a link `mode`").map_err(|d| {
        d.expected(format!("one of {}", list(LINK_MODES)))
            .hint("write `mode: file` (the default) or `mode: tree`")
    })?;
    match s.as_str() {
        "file" => Ok(LinkMode::File),
        "tree" => Ok(LinkMode::Tree),
        _ => Err(cx
            .err(pos, format!("unknown link mode `{s}`"))
            .expected(format!("one of {}", list(LINK_MODES)))
            .hint("`file` links the source itself; `tree` links every file under a directory")),
    }
}

fn name_like(cx: &Cx<'_>, v: Node, what: &str) -> Res<String> {
    let (s, pos) = string(cx, v, what)?;
    if s.contains('/') || s.trim() != s {
        return Err(cx
            .err(pos, format!("{what} `{s}` is not a theme name"))
            .expected(
                "a theme's directory name, e.g. `Adwaita-dark`, without `/` or surrounding spaces",
            )
            .hint(format!(
                "write only the directory name, `{}`",
                s.trim()
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
            )));
    }
    Ok(s)
}

fn themes(cx: &Cx<'_>, v: Node) -> Res<Themes> {
    let entries = map(
        cx,
        v,
        "`themes`",
        "themes: { gtk: Adwaita-dark }",
        "say what each theme is for, with the keys `gtk`, `icons`, `cursor`, `cursor_size` \
         and `font`",
    )?;
    let mut t = Themes::default();
    for (key, v) in fields(cx, entries, THEME_KEYS, "in `themes`")? {
        match key.as_str() {
            "gtk" => t.gtk = Some(name_like(cx, v, "the GTK theme")?),
            "icons" => t.icons = Some(name_like(cx, v, "the icon theme")?),
            "cursor" => t.cursor = Some(name_like(cx, v, "the cursor theme")?),
            "cursor_size" => {
                t.cursor_size = Some(int(
                    cx,
                    &v,
                    ("`cursor_size`", 8, 512),
                    "`cursor_size` is in pixels; common sizes are 24, 32 and 48",
                )?);
            }
            _ => {
                let (font, pos) = string(cx, v, "the font")?;
                let size = font.rsplit_once(' ').map(|(fam, size)| (fam.trim(), size));
                match size {
                    Some((fam, size))
                        if !fam.is_empty()
                            && size.chars().all(|c| c.is_ascii_digit() || c == '.')
                            && size.parse::<f32>().is_ok_and(|s| s > 0.0 && s <= 200.0) => {}
                    _ => {
                        return Err(cx
                            .err(pos, format!("the font `{font}` has no size"))
                            .expected("`FAMILY SIZE`, e.g. `Inter 11`")
                            .hint("add the point size after the family name"));
                    }
                }
                t.font = Some(font);
            }
        }
    }
    Ok(t)
}

/// A whole number `(what, min, max)`.
fn snapshots(cx: &Cx<'_>, v: Node) -> Res<Snapshots> {
    let entries = map(
        cx,
        v,
        "`snapshots`",
        "snapshots: { keep: 10 }",
        "write `keep`, `important` or `min_free` under `snapshots:`",
    )?;
    let mut s = Snapshots::default();
    for (key, v) in fields(cx, entries, SNAPSHOT_KEYS, "in `snapshots`")? {
        match key.as_str() {
            "keep" => {
                s.keep = Some(int(
                    cx,
                    &v,
                    ("`keep`", 1, 10_000),
                    "`keep` is how many snapshot pairs to keep, at least one",
                )?);
            }
            "important" => {
                for item in seq(
                    cx,
                    v,
                    "`important`",
                    "important: [linux*, systemd, glibc]",
                    "list package patterns, one per `- ` line or in `[...]`",
                )? {
                    let (p, pos) = string(cx, item, "an `important` pattern")?;
                    if p.chars()
                        .any(|c| !(c.is_ascii_alphanumeric() || "@._+-*?[]".contains(c)))
                    {
                        return Err(cx
                            .err(pos, format!("`{p}` is not a package pattern"))
                            .expected(
                                "a package name with `*`, `?` or `[...]` wildcards, e.g. `linux*`",
                            )
                            .hint(
                                "patterns match package names only, without a repository or path",
                            ));
                    }
                    s.important.push(p);
                }
            }
            _ => {
                const EXPECTED: &str =
                    "a percentage such as `10%` or a size such as `5GiB`, `500MiB`";
                if let Kind::Int(n @ 0..) = v.kind {
                    return Err(cx
                        .err(v.pos, format!("`min_free` `{n}` has no unit"))
                        .expected(EXPECTED)
                        .hint(format!(
                            "add a unit, e.g. `{n}MiB`, or `%` for a percentage"
                        )));
                }
                let (text, pos) = string(cx, v, "`min_free`").map_err(|d| d.expected(EXPECTED))?;
                s.min_free = Some(parse_min_free(&text).ok_or_else(|| {
                    if text.trim_end().ends_with('%') {
                        cx.err(
                            pos,
                            format!("`min_free` `{text}` is not a percentage from 0% to 99%"),
                        )
                        .expected(EXPECTED)
                        .hint("write a whole number below 100 followed by `%`, e.g. `10%`")
                    } else {
                        cx.err(
                            pos,
                            format!("`min_free` `{text}` is not a size or a percentage"),
                        )
                        .expected(EXPECTED)
                        .hint(
                            "a size is a whole number and a unit: `B`, `KiB`, `MiB`, `GiB` or \
                             `TiB` (`K`, `M`, `G` and `T` mean the same)",
                        )
                    }
                })?);
            }
        }
    }
    Ok(s)
}

/// Parse `10%`, `5GiB`, `500MiB`, `2G`, `1024` (bytes).
pub(crate) fn parse_min_free(text: &str) -> Option<MinFree> {
    let t = text.trim();
    if let Some(p) = t.strip_suffix('%') {
        let p: u8 = p.trim().parse().ok()?;
        return (p <= 99).then_some(MinFree::Percent(p));
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        "T" | "TiB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult).map(MinFree::Bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::check::suggest;

    #[test]
    fn min_free_parses_sizes_and_percentages() {
        assert_eq!(parse_min_free("10%"), Some(MinFree::Percent(10)));
        assert_eq!(parse_min_free("5GiB"), Some(MinFree::Bytes(5 << 30)));
        assert_eq!(parse_min_free("500M"), Some(MinFree::Bytes(500 << 20)));
        assert_eq!(parse_min_free("100%"), None);
        assert_eq!(parse_min_free("lots"), None);
        assert_eq!(parse_min_free("99999999999999999999T"), None);
    }

    #[test]
    fn suggests_close_keys_only() {
        assert_eq!(suggest("pakages", TOP_KEYS), Some("packages"));
        assert_eq!(suggest("lnks", TOP_KEYS), Some("links"));
        assert_eq!(suggest("wallpaper", TOP_KEYS), None);
    }
}
