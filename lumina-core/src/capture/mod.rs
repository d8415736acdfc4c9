//! Lossless edits of Lumina's YAML files (pure): add items to a top-level list, keeping every
//! comment, blank line, quoting style and the order of everything else.
//!
//! `lumina capture` adds undeclared packages to `lumina.yaml` ([`add_packages`]) and
//! `lumina init` enrols a user in `/etc/lumina/config.yaml` ([`append_to_list`] on `users`).
//! The text is never re-serialised: new lines are inserted into the list as it is written.
//!
//! - **Block list** (`packages:` then `  - git` lines): one `- NAME` line per item after the
//!   list's last item (after all of a multi-line item), with the list's own indentation.
//! - **Flow list** (`packages: [git, neovim]`, on one line or several): `, NAME` after the last
//!   item, before the `]`.
//! - **Empty** (`packages:` with nothing after it): a block list is started under it.
//! - **Absent**: `packages:` and a block list are appended at the end of the file.
//!
//! Anything else (a flow mapping at the top, an alias `*x`, a tag) is refused with a
//! diagnostic at its position: the user edits the file, Lumina does not guess. Callers
//! re-parse the result and check it holds exactly the old items plus the new ones before
//! writing it.

use std::path::Path;

use crate::paths::Context;
use crate::registry::check::{DiagExt, Res, Src, syntax_error};
use crate::registry::yaml::{self, Kind, Pos};
use crate::registry::{self, Diagnostic};

/// `value` as a YAML scalar: plain when YAML reads it back as the same string, otherwise
/// double-quoted.
pub fn scalar(value: &str) -> String {
    let plain = !value.is_empty()
        && !value.contains([',', '[', ']', '{', '}', '#', '"', '\''])
        && matches!(
            yaml::parse(&format!("k: {value}\n")).map(|n| n.kind),
            Ok(Kind::Map(e)) if matches!(&e[..], [(_, v)] if matches!(&v.kind, Kind::Str(s) if s == value))
        );
    if plain {
        value.to_owned()
    } else {
        let mut s = String::from("\"");
        for c in value.chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                c => s.push(c),
            }
        }
        s.push('"');
        s
    }
}

/// Byte offset of the start of 1-based `line` in `text` (the end of the text past the last).
fn line_start(text: &str, line: u32) -> usize {
    if line <= 1 {
        return 0;
    }
    text.match_indices('\n')
        .nth(line as usize - 2)
        .map_or(text.len(), |(i, _)| i + 1)
}

/// Byte offset of a 1-based line and character column.
fn offset(text: &str, pos: Pos) -> usize {
    let start = line_start(text, pos.line);
    text[start..]
        .char_indices()
        .nth(pos.column.saturating_sub(1) as usize)
        .map_or(text.len(), |(i, _)| start + i)
}

/// Is this line blank or only a comment?
fn is_filler(line: &str) -> bool {
    let t = line.trim_start();
    t.is_empty() || t.starts_with('#')
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

/// Add `values` (already YAML scalars, see [`scalar`]) to the top-level list `key` of the
/// YAML document `text`, losslessly. `doc` names the document in messages ("the registry").
///
/// # Errors
/// A diagnostic when the text is not valid YAML, or `key` holds something this edit refuses
/// to touch (not a list, an alias, a flow mapping at the top level).
pub fn append_to_list(
    text: &str,
    file: &Path,
    doc: &'static str,
    key: &str,
    values: &[String],
) -> Res<String> {
    let src = Src::new(text, file, doc, "");
    let root = yaml::parse(text).map_err(|e| syntax_error(&src, e))?;
    if values.is_empty() {
        return Ok(text.to_owned());
    }
    let entries = match root.kind {
        Kind::Map(e) => e,
        Kind::Null => Vec::new(),
        other => {
            return Err(src
                .err(
                    root.pos,
                    format!("{doc} must be a mapping, found {}", other.describe()),
                )
                .expected("a mapping of keys")
                .hint("fix the file, then run the command again"));
        }
    };
    let refuse =
        |pos: Pos, what: &str| {
            src.err(pos, format!("cannot add to `{key}` here: {what}"))
            .expected(format!("`{key}:` at the start of a line, with a list or nothing after it"))
            .hint(format!(
                "Lumina edits the file as written and does not guess; add {} to `{key}` by hand",
                values.join(", ")
            ))
        };
    // Keys of a block mapping at the top level start their line.
    if let Some((k, _)) = entries.first() {
        let line = src
            .lines
            .get(k.pos.line as usize - 1)
            .copied()
            .unwrap_or("");
        if k.pos.column != 1 || line.starts_with('{') {
            return Err(refuse(
                k.pos,
                "the top level is not a block mapping at column 1",
            ));
        }
    }
    let Some((k, v)) = entries
        .iter()
        .find(|(k, _)| matches!(&k.kind, Kind::Str(s) if s == key))
    else {
        // Absent: append a new block list at the end.
        let mut out = text.to_owned();
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!("{key}:\n"));
        for v in values {
            out.push_str(&format!("  - {v}\n"));
        }
        return Ok(out);
    };
    let key_line = src
        .lines
        .get(k.pos.line as usize - 1)
        .copied()
        .unwrap_or("");
    let after_key = key_line
        .get(key_line.find(':').map_or(key_line.len(), |i| i + 1)..)
        .unwrap_or("");
    let rest = after_key.split(" #").next().unwrap_or("").trim();
    match &v.kind {
        Kind::Null if rest.is_empty() || rest.starts_with('#') => {
            // `key:` with nothing: start a block list right under it.
            let at = line_start(text, k.pos.line + 1);
            let mut out = String::with_capacity(text.len() + 32);
            out.push_str(&text[..at]);
            if !out.ends_with('\n') {
                out.push('\n');
            }
            for v in values {
                out.push_str(&format!("  - {v}\n"));
            }
            out.push_str(&text[at..]);
            Ok(out)
        }
        Kind::Null => Err(refuse(
            v.pos,
            &format!("it is `{rest}`; write `{key}:` with nothing after it, or a list"),
        )),
        Kind::Seq(items) => {
            let at = offset(text, v.pos);
            if text[at..].starts_with('[') {
                flow_append(text, at, values).ok_or_else(|| refuse(v.pos, "its `]` is missing"))
            } else if rest.starts_with('&') || rest.starts_with('!') || rest.starts_with('*') {
                Err(refuse(v.pos, "it has an anchor, alias or tag"))
            } else if let Some(first) = items.first() {
                block_append(
                    text,
                    &src,
                    first.pos,
                    items.last().map_or(first.pos, |i| i.pos),
                    values,
                )
                .ok_or_else(|| refuse(first.pos, "its items are not `- ITEM` lines"))
            } else {
                Err(refuse(v.pos, "an empty list that is not written `[]`"))
            }
        }
        other => Err(refuse(
            v.pos,
            &format!("it is {}, not a list", other.describe()),
        )),
    }
}

/// Insert `, v1, v2` after the last item of the flow list whose `[` is at byte `open`.
fn flow_append(text: &str, open: usize, values: &[String]) -> Option<String> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut in_comment = false;
    let mut prev = ' ';
    // Byte offset just after the last significant (not space, not comment) character.
    let mut last_sig = open + 1;
    let mut last_char = '[';
    let mut close = None;
    for (i, c) in text[open..].char_indices() {
        let i = open + i;
        if in_comment {
            if c == '\n' {
                in_comment = false;
            }
            prev = c;
            continue;
        }
        match (quote, c) {
            (Some('"'), '\\') if prev != '\\' => {}
            (Some(q), c) if c == q && !(q == '"' && prev == '\\') => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') if prev.is_whitespace() => {
                in_comment = true;
                prev = c;
                continue;
            }
            (None, '[' | '{') => depth += 1,
            (None, ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    close = Some(i);
                    break;
                }
            }
            _ => {}
        }
        if !c.is_whitespace() {
            last_sig = i + c.len_utf8();
            last_char = c;
        }
        prev = if prev == '\\' && c == '\\' { ' ' } else { c };
    }
    close?;
    let joined = values.join(", ");
    let insert = match last_char {
        '[' => joined,
        ',' => format!(" {joined}"),
        _ => format!(", {joined}"),
    };
    Some(format!(
        "{}{insert}{}",
        &text[..last_sig],
        &text[last_sig..]
    ))
}

/// Insert `- v` lines after the last item of the block list whose first item starts at
/// `first` and last item at `last`.
fn block_append(
    text: &str,
    src: &Src<'_>,
    first: Pos,
    last: Pos,
    values: &[String],
) -> Option<String> {
    let dash_line = src.lines.get(first.line as usize - 1)?;
    let before: String = dash_line
        .chars()
        .take(first.column.saturating_sub(1) as usize)
        .collect();
    let dash = before.trim_end().strip_suffix('-')?;
    if !dash.chars().all(|c| c == ' ') {
        return None;
    }
    let indent = dash.len();
    // The last line of the last item: following lines indented deeper belong to it.
    let mut end = last.line as usize; // 1-based line number of the item's last line
    for (n, line) in src.lines.iter().enumerate().skip(last.line as usize) {
        if is_filler(line) {
            continue;
        }
        if indent_of(line) > indent {
            end = n + 1;
        } else {
            break;
        }
    }
    let at = line_start(text, end as u32 + 1);
    let mut out = String::with_capacity(text.len() + 32);
    out.push_str(&text[..at]);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    for v in values {
        out.push_str(&format!("{dash}- {v}\n"));
    }
    out.push_str(&text[at..]);
    Some(out)
}

/// Add `names` to the registry's `packages`, losslessly, and prove the result: it must parse
/// as a registry whose packages are the old ones, in order, then `names`.
///
/// # Errors
/// A diagnostic when the registry is invalid, `packages` is written in a way the edit
/// refuses, or (a bug) the edited text does not hold exactly the expected packages.
pub fn add_packages(text: &str, file: &Path, ctx: &Context, names: &[String]) -> Res<String> {
    let before = registry::parse(text, file, ctx)?;
    let values: Vec<String> = names.iter().map(|n| scalar(n)).collect();
    let out = append_to_list(text, file, "the registry", "packages", &values)?;
    let after = registry::parse(&out, file, ctx)?;
    let want: Vec<&str> = before
        .packages
        .iter()
        .map(|p| p.name.as_str())
        .chain(names.iter().map(String::as_str))
        .collect();
    let got: Vec<&str> = after.packages.iter().map(|p| p.name.as_str()).collect();
    if got != want {
        return Err(Box::new(Diagnostic {
            file: file.to_path_buf(),
            pos: None,
            message: format!(
                "editing `packages` would give {got:?} instead of {want:?}; nothing was written"
            ),
            expected: None,
            hint: Some("add the packages by hand, and report this as a bug".into()),
            line_text: None,
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
