//! `pacman.conf` as pacman 6 reads it, and the two edits `lumina stable` makes to it. Pure:
//! text in, text out.
//!
//! pacman's parser (`ini.c`, checked against pacman-conf 6.0.2): a line is cut at its first
//! `#` and trimmed; what is left is empty (skipped), a `[name]` header, or `Key = value` /
//! `Key`. `Include = FILE` is read in place, whatever the current section, and a header in
//! the included file starts a new section: after the include, the main file continues in
//! whatever section the included file ended in. So the block `enable` inserts always sits
//! right before a header (or at the end of the file), never in front of a directive.
//!
//! Every edit keeps the user's lines byte for byte, so that [`disable`] after [`enable`] gives
//! back exactly the original text:
//! - the block is [`BEGIN`], `Include = ...`, [`END`], then one empty line (before a header);
//!   at the end of the file it is one empty line, then the three lines, and the [`END`] line
//!   ends without a newline exactly when the original text did;
//! - a directive or header of an official section Lumina-Stable replaces is *turned off* by
//!   prefixing it with [`OFF`] (comment and empty lines of the section are left alone), and
//!   turned back on by removing exactly that prefix.

use std::collections::BTreeSet;

/// First line of the managed block.
pub const BEGIN: &str =
    "# BEGIN lumina-stable (managed by `lumina stable`; remove with `lumina stable disable`)";
/// Last line of the managed block.
pub const END: &str = "# END lumina-stable";
/// Prefix of a line of an official section turned off by `lumina stable enable`.
pub const OFF: &str = "#lumina-stable-off# ";

/// What pacman makes of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Nothing: empty, blanks, or a comment.
    Empty,
    /// `[name]`.
    Header(String),
    /// `Key = value` or a bare `Key`.
    Directive {
        /// The key, trimmed.
        key: String,
        /// The value, trimmed (`None` for a bare key).
        value: Option<String>,
    },
}

/// One line of the file, with its line terminator (none on a last line without one).
#[derive(Debug, Clone)]
pub struct Line<'a> {
    /// The line exactly as in the file.
    pub raw: &'a str,
    /// What pacman reads in it.
    pub kind: Kind,
}

/// Classify a line the way pacman's `ini.c` does.
pub fn classify(raw: &str) -> Kind {
    let content = raw.split('#').next().unwrap_or("").trim();
    if content.is_empty() {
        Kind::Empty
    } else if content.len() >= 2 && content.starts_with('[') && content.ends_with(']') {
        Kind::Header(content[1..content.len() - 1].to_owned())
    } else if let Some((k, v)) = content.split_once('=') {
        Kind::Directive {
            key: k.trim().to_owned(),
            value: Some(v.trim().to_owned()),
        }
    } else {
        Kind::Directive {
            key: content.to_owned(),
            value: None,
        }
    }
}

/// Split `text` into classified lines (each keeps its terminator).
pub fn parse(text: &str) -> Vec<Line<'_>> {
    text.split_inclusive('\n')
        .map(|raw| Line {
            raw,
            kind: classify(raw),
        })
        .collect()
}

/// Why an edit is refused. Nothing is changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// No `[options]` header: not a pacman.conf (pacman itself would run with defaults).
    #[error("it has no `[options]` section; is it a pacman.conf?")]
    NoOptions,
    /// The managed block is damaged (markers missing, doubled or out of order).
    #[error("line {line}: {reason}")]
    Damaged {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
}

/// The result of an edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The new text (equal to the old one when there is nothing to do).
    pub text: String,
    /// `enable`: the block was inserted; `disable`: the block was removed.
    pub block_changed: bool,
    /// Official sections turned off (`enable`) or on again (`disable`): 1-based line of the
    /// header and the section name.
    pub sections: Vec<(usize, String)>,
}

fn is_begin(raw: &str) -> bool {
    raw.trim_start().starts_with("# BEGIN lumina-stable")
}

fn is_end(raw: &str) -> bool {
    raw.trim() == END
}

/// The managed block's first and last line indexes (0-based), if there is one.
///
/// # Errors
/// [`EditError::Damaged`] for a `BEGIN` without `END`, an `END` without `BEGIN`, or two
/// blocks.
pub fn block(lines: &[Line<'_>]) -> Result<Option<(usize, usize)>, EditError> {
    let mut found = None;
    let mut open: Option<usize> = None;
    for (i, l) in lines.iter().enumerate() {
        if is_begin(l.raw) {
            if open.is_some() || found.is_some() {
                return Err(EditError::Damaged {
                    line: i + 1,
                    reason: "a second `# BEGIN lumina-stable` line: remove one of the blocks"
                        .into(),
                });
            }
            open = Some(i);
        } else if is_end(l.raw) {
            match open.take() {
                Some(b) => found = Some((b, i)),
                None => {
                    return Err(EditError::Damaged {
                        line: i + 1,
                        reason: "`# END lumina-stable` without a `# BEGIN lumina-stable` line \
                                 before it"
                            .into(),
                    });
                }
            }
        }
    }
    if let Some(b) = open {
        return Err(EditError::Damaged {
            line: b + 1,
            reason: "`# BEGIN lumina-stable` without its `# END lumina-stable` line".into(),
        });
    }
    Ok(found)
}

/// Is the managed block in `text`? (A damaged block counts as present.)
pub fn has_block(text: &str) -> bool {
    parse(text).iter().any(|l| is_begin(l.raw) || is_end(l.raw))
}

/// Active sections: (0-based header line, name, one past the section's last line).
pub fn sections(lines: &[Line<'_>]) -> Vec<(usize, String, usize)> {
    let mut out: Vec<(usize, String, usize)> = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if let Kind::Header(name) = &l.kind {
            if let Some(last) = out.last_mut() {
                last.2 = i;
            }
            out.push((i, name.clone(), lines.len()));
        }
    }
    out
}

/// Names of the sections whose header was turned off by `enable` (`#lumina-stable-off# [x]`).
pub fn turned_off(text: &str) -> BTreeSet<String> {
    parse(text)
        .iter()
        .filter_map(|l| l.raw.strip_prefix(OFF))
        .filter_map(|rest| match classify(rest) {
            Kind::Header(name) => Some(name),
            _ => None,
        })
        .collect()
}

/// The value of a directive of `[options]` (the first one), e.g. `DBPath`.
pub fn option(text: &str, key: &str) -> Option<String> {
    let mut in_options = false;
    for l in parse(text) {
        match l.kind {
            Kind::Header(name) => in_options = name == "options",
            Kind::Directive { key: k, value } if in_options && k == key => return value,
            _ => {}
        }
    }
    None
}

/// Every active `Include` (1-based line, path) outside the managed block.
pub fn includes(text: &str) -> Vec<(usize, String)> {
    let lines = parse(text);
    let blk = block(&lines).ok().flatten();
    lines
        .iter()
        .enumerate()
        .filter(|(i, _)| !blk.is_some_and(|(b, e)| (b..=e).contains(i)))
        .filter_map(|(i, l)| match &l.kind {
            Kind::Directive {
                key,
                value: Some(v),
            } if key == "Include" => Some((i + 1, v.clone())),
            _ => None,
        })
        .collect()
}

/// Is `include` (a system path) included by an active `Include` line of `text`?
pub fn includes_path(text: &str, include: &str) -> bool {
    parse(text).iter().any(|l| {
        matches!(&l.kind, Kind::Directive { key, value: Some(v) } if key == "Include" && v == include)
    })
}

/// Add Lumina-Stable: insert the managed block that includes `include` before the first
/// section named in `served` that follows `[options]` (at the end of the file when there is
/// none), and turn off every active section named in `served`. When the block is already
/// there, only sections that are active again are turned off; with nothing to do, the text
/// is returned unchanged.
///
/// # Errors
/// [`EditError::NoOptions`]; [`EditError::Damaged`].
pub fn enable(text: &str, served: &[String], include: &str) -> Result<Edit, EditError> {
    let lines = parse(text);
    let options = lines
        .iter()
        .position(|l| l.kind == Kind::Header("options".into()))
        .ok_or(EditError::NoOptions)?;
    let blk = block(&lines)?;
    let in_block = |i: usize| blk.is_some_and(|(b, e)| (b..=e).contains(&i));
    let mut off = vec![false; lines.len()];
    let mut turned = Vec::new();
    let mut first_official = None;
    for (h, name, end) in sections(&lines) {
        if !served.contains(&name) {
            continue;
        }
        if h > options && first_official.is_none() {
            first_official = Some(h);
        }
        turned.push((h + 1, name));
        for (i, flag) in off.iter_mut().enumerate().take(end).skip(h) {
            if lines[i].kind != Kind::Empty && !in_block(i) {
                *flag = true;
            }
        }
    }
    let insert_at = if blk.is_some() {
        None
    } else {
        Some(first_official)
    };
    let block_lines = [
        BEGIN.to_owned(),
        format!("Include = {include}"),
        END.to_owned(),
    ];
    let mut out = String::with_capacity(text.len() + 200);
    for (i, l) in lines.iter().enumerate() {
        if insert_at == Some(Some(i)) {
            for b in &block_lines {
                out.push_str(b);
                out.push('\n');
            }
            out.push('\n');
        }
        if off[i] {
            out.push_str(OFF);
        }
        out.push_str(l.raw);
    }
    if insert_at == Some(None) {
        // At the end: an empty line, then the block; the last line ends with a newline
        // exactly when the original's did (so that `disable` can restore it).
        let had_newline = text.ends_with('\n');
        if !had_newline {
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&block_lines.join("\n"));
        if had_newline {
            out.push('\n');
        }
    }
    Ok(Edit {
        text: out,
        block_changed: insert_at.is_some(),
        sections: turned,
    })
}

/// Remove Lumina-Stable: the managed block (with the empty line `enable` added beside it) and
/// the [`OFF`] prefix of every line that has it. Without a block and turned-off lines, the
/// text is returned unchanged.
///
/// # Errors
/// [`EditError::Damaged`].
pub fn disable(text: &str) -> Result<Edit, EditError> {
    let lines = parse(text);
    let blk = block(&lines)?;
    let mut drop = vec![false; lines.len()];
    let mut strip_final_newline = false;
    if let Some((b, e)) = blk {
        for d in drop.iter_mut().take(e + 1).skip(b) {
            *d = true;
        }
        let blank = |i: usize| lines.get(i).is_some_and(|l| l.raw.trim().is_empty());
        if e + 1 == lines.len() {
            if b > 0 && blank(b - 1) {
                drop[b - 1] = true;
            }
            strip_final_newline = !lines[e].raw.ends_with('\n');
        } else if blank(e + 1) {
            drop[e + 1] = true;
        }
    }
    let mut out = String::with_capacity(text.len());
    let mut sections = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if drop[i] {
            continue;
        }
        match l.raw.strip_prefix(OFF) {
            Some(rest) => {
                if let Kind::Header(name) = classify(rest) {
                    sections.push((i + 1, name));
                }
                out.push_str(rest);
            }
            None => out.push_str(l.raw),
        }
    }
    if strip_final_newline && out.ends_with('\n') {
        out.pop();
    }
    Ok(Edit {
        text: out,
        block_changed: blk.is_some(),
        sections,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served() -> Vec<String> {
        vec!["core".into(), "extra".into()]
    }

    const INC: &str = "/etc/pacman.d/lumina-stable.conf";

    #[test]
    fn classifies_like_pacman() {
        assert_eq!(classify("  # a comment\n"), Kind::Empty);
        assert_eq!(classify("\r\n"), Kind::Empty);
        assert_eq!(
            classify("[core] # trailing comment\r\n"),
            Kind::Header("core".into())
        );
        assert_eq!(
            classify("Server = http://x/$repo#frag\n"),
            Kind::Directive {
                key: "Server".into(),
                value: Some("http://x/$repo".into())
            }
        );
        assert_eq!(
            classify("CheckSpace\n"),
            Kind::Directive {
                key: "CheckSpace".into(),
                value: None
            }
        );
    }

    #[test]
    fn refuses_a_file_without_options() {
        let e = enable("[core]\nServer = x\n", &served(), INC).unwrap_err();
        assert_eq!(e, EditError::NoOptions);
    }

    #[test]
    fn refuses_damaged_blocks() {
        let t = format!("[options]\n{BEGIN}\nInclude = {INC}\n");
        assert!(matches!(
            enable(&t, &served(), INC),
            Err(EditError::Damaged { line: 2, .. })
        ));
        assert!(matches!(
            disable(&t),
            Err(EditError::Damaged { line: 2, .. })
        ));
        let t = format!("[options]\n{END}\n");
        assert!(matches!(
            disable(&t),
            Err(EditError::Damaged { line: 2, .. })
        ));
        let one = format!("{BEGIN}\nInclude = {INC}\n{END}\n");
        let t = format!("[options]\n{one}{one}");
        assert!(matches!(
            disable(&t),
            Err(EditError::Damaged { line: 5, .. })
        ));
    }

    #[test]
    fn the_block_never_precedes_a_directive() {
        // Whatever the layout, the line after the block is a header, or nothing.
        for text in [
            "[options]\nArchitecture = auto\n",
            "[options]\nArchitecture = auto\n[custom]\nServer = file:///c\n",
            "[options]\n[core]\nInclude = /etc/pacman.d/mirrorlist\nSigLevel = Required\n",
            "[core]\nServer = a\n[options]\nColor\n",
        ] {
            let out = enable(text, &served(), INC).unwrap().text;
            let lines = parse(&out);
            let (_, e) = block(&lines).unwrap().unwrap();
            let next = lines[e + 1..].iter().find(|l| l.kind != Kind::Empty);
            assert!(
                next.is_none_or(|l| matches!(l.kind, Kind::Header(_))),
                "{text:?} -> {out:?}"
            );
        }
    }

    #[test]
    fn enable_then_disable_is_the_identity_for_odd_layouts() {
        for text in [
            "[options]",
            "[options]\n",
            "[options]\n\n\n",
            "[options]\r\nArchitecture = auto\r\n\r\n[core]\r\nInclude = /m\r\n",
            "[options]\n[core]\nServer = a",
            "  [options]  \n  [core]\n\tServer = a\n# c\n\n[extra]\nServer = b\n[extra]\nServer = c\n",
            "[core]\nServer = a\n[options]\nColor\n",
        ] {
            let on = enable(text, &served(), INC).unwrap();
            assert_ne!(on.text, text);
            assert_eq!(
                enable(&on.text, &served(), INC).unwrap().text,
                on.text,
                "{text:?}"
            );
            let off = disable(&on.text).unwrap();
            assert_eq!(off.text, text, "{text:?} -> {:?}", on.text);
            assert_eq!(disable(text).unwrap().text, text);
        }
    }

    #[test]
    fn enable_turns_off_a_section_re_enabled_after_the_block() {
        let text = "[options]\n[core]\nServer = a\n";
        let on = enable(text, &served(), INC).unwrap().text;
        let again = format!("{on}\n[extra]\nServer = b\n");
        let e = enable(&again, &served(), INC).unwrap();
        assert!(!e.block_changed);
        assert!(
            e.text
                .ends_with("\n#lumina-stable-off# [extra]\n#lumina-stable-off# Server = b\n")
        );
        assert_eq!(
            turned_off(&e.text),
            ["core", "extra"].map(String::from).into()
        );
    }

    #[test]
    fn lines_inside_the_block_are_never_turned_off() {
        // A user put [core] back above the block: it is turned off, the block is not.
        let text = format!("[options]\n[core]\nServer = a\n{BEGIN}\nInclude = {INC}\n{END}\n");
        let e = enable(&text, &served(), INC).unwrap();
        assert!(e.text.contains(&format!("\nInclude = {INC}\n")));
        assert!(e.text.contains("#lumina-stable-off# Server = a\n"));
    }

    #[test]
    fn reads_options_and_includes() {
        let text = format!(
            "[options]\nDBPath = /srv/db/ # here\nInclude = /etc/pacman.d/opts\n\
             [core]\nInclude = /etc/pacman.d/mirrorlist\n{BEGIN}\nInclude = {INC}\n{END}\n"
        );
        assert_eq!(option(&text, "DBPath").as_deref(), Some("/srv/db/"));
        assert_eq!(option(&text, "Color"), None);
        assert_eq!(
            includes(&text),
            vec![
                (3, "/etc/pacman.d/opts".to_owned()),
                (5, "/etc/pacman.d/mirrorlist".to_owned())
            ]
        );
        assert!(includes_path(&text, INC));
        assert!(!includes_path("[options]\n#Include = x\n", "x"));
    }
}
