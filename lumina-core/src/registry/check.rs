//! Generic checks of a positioned YAML tree, shared by every Lumina file format (the
//! registry, `/etc/lumina/config.yaml`): each failure is one [`Diagnostic`] with the file,
//! line and column, what was expected, and a hint.

use std::path::Path;

use super::Diagnostic;
use super::yaml::{self, Kind, Node, Pos};

/// The result of a check: the value, or the one diagnostic.
pub type Res<T> = Result<T, Box<Diagnostic>>;

/// The text being checked, for positions and snippets.
#[derive(Debug)]
pub struct Src<'a> {
    /// The file, as shown in messages.
    pub file: &'a Path,
    /// The text, by line, for snippets.
    pub lines: Vec<&'a str>,
    /// How messages name the document: "the registry", "the configuration".
    pub doc: &'static str,
    /// The hint for an unknown key.
    pub keys_hint: &'static str,
}

impl<'a> Src<'a> {
    /// Describe `text` read from `file`.
    pub fn new(text: &'a str, file: &'a Path, doc: &'static str, keys_hint: &'static str) -> Self {
        Self {
            file,
            lines: text.lines().collect(),
            doc,
            keys_hint,
        }
    }

    /// A diagnostic at `pos` with the offending line as its snippet.
    pub fn err(&self, pos: Pos, message: impl Into<String>) -> Box<Diagnostic> {
        Box::new(Diagnostic {
            file: self.file.to_path_buf(),
            pos: Some(pos),
            message: message.into(),
            expected: None,
            hint: None,
            line_text: self
                .lines
                .get(pos.line.saturating_sub(1) as usize)
                .map(|s| (*s).to_owned()),
        })
    }

    /// The scalar as written at `pos` (up to `,`, `]`, `}`, `#` or the end of the line), for
    /// hints that must show `1.10` rather than the parsed `1.1`.
    pub fn raw(&self, pos: Pos) -> Option<String> {
        let line = self.lines.get(pos.line.saturating_sub(1) as usize)?;
        let rest: String = line
            .chars()
            .skip(pos.column.saturating_sub(1) as usize)
            .take_while(|c| !",]}#".contains(*c))
            .collect();
        let rest = rest.trim();
        (!rest.is_empty()).then(|| rest.to_owned())
    }
}

/// Builders for the optional parts of a diagnostic.
pub trait DiagExt {
    /// Set what was expected.
    fn expected(self, e: impl Into<String>) -> Self;
    /// Set the hint.
    fn hint(self, h: impl Into<String>) -> Self;
}

impl DiagExt for Box<Diagnostic> {
    fn expected(mut self, e: impl Into<String>) -> Self {
        self.expected = Some(e.into());
        self
    }
    fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }
}

/// Turn a YAML syntax error into a diagnostic with a useful hint (tabs, brackets, quotes).
pub fn syntax_error(cx: &Src<'_>, e: yaml::SyntaxError) -> Box<Diagnostic> {
    let line = cx
        .lines
        .get(e.pos.line.saturating_sub(1) as usize)
        .copied()
        .unwrap_or("");
    let prev_tab = cx.lines.iter().take(e.pos.line as usize + 1).any(|l| {
        let indent: String = l.chars().take_while(|c| c.is_whitespace()).collect();
        indent.contains('\t')
    });
    if e.message.starts_with("multiple YAML documents") {
        return cx
            .err(
                e.pos,
                format!("{} holds more than one YAML document", cx.doc),
            )
            .expected("one document")
            .hint("remove the `---` line and merge the documents into one mapping");
    }
    if let Some(key) = e.message.strip_prefix("duplicate mapping key: ") {
        let key = key.split(", set DuplicateKeyPolicy").next().unwrap_or(key);
        return cx
            .err(e.pos, format!("duplicate key `{key}`"))
            .expected("each key at most once in a mapping (each link target at most once)")
            .hint("remove or merge one of the two entries");
    }
    let d = cx.err(e.pos, format!("invalid YAML: {}", e.message));
    if e.message.contains("tab") || line.contains('\t') || prev_tab {
        d.expected("spaces for indentation")
            .hint("YAML does not allow tabs for indentation; indent with spaces")
    } else if let Some((open, at)) = unclosed_bracket(&cx.lines, e.pos.line) {
        let close = if open == '[' { ']' } else { '}' };
        d.expected(format!("`{close}` to close the `{open}` on line {at}"))
            .hint(format!(
                "a `{open}...{close}` on one line must be closed on that line, or continue \
                 with indented lines until the `{close}`"
            ))
    } else if e.message.contains("quote") {
        d.expected("a closing quote")
            .hint("close the quote with the same character that opens it")
    } else {
        d.hint("check the indentation and quoting near this place")
    }
}

/// The first `[` or `{` left open before line `upto` (1-based), and its line: the usual
/// cause of a YAML error a few lines further down. Quotes and comments are skipped.
pub fn unclosed_bracket(lines: &[&str], upto: u32) -> Option<(char, u32)> {
    let mut stack: Vec<(char, u32)> = Vec::new();
    for (n, line) in (1u32..).zip(lines.iter().take(upto.saturating_sub(1) as usize)) {
        let mut quote: Option<char> = None;
        let mut prev = ' ';
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') if prev.is_whitespace() => break,
                (None, '[' | '{') => stack.push((c, n)),
                (None, ']' | '}') => {
                    stack.pop();
                }
                _ => {}
            }
            prev = c;
        }
    }
    stack.first().copied()
}

/// Check a mapping's keys (strings, known) and return them with their values.
pub fn fields(
    cx: &Src<'_>,
    entries: Vec<(Node, Node)>,
    known: &[&str],
    place: &str,
) -> Res<Vec<(String, Node)>> {
    let mut out = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        let name = match k.kind {
            Kind::Str(s) => s,
            other => {
                return Err(cx
                    .err(
                        k.pos,
                        format!("keys must be strings, found {} {place}", other.describe()),
                    )
                    .expected(format!("one of {}", list(known)))
                    .hint(
                        "write one of the expected keys; quote a key that YAML reads as a number",
                    ));
            }
        };
        if !known.contains(&name.as_str()) {
            let d = cx
                .err(k.pos, format!("unknown key `{name}` {place}"))
                .expected(format!("one of {}", list(known)));
            return Err(match suggest(&name, known) {
                Some(s) => d.hint(format!("did you mean `{s}`?")),
                None => d.hint(cx.keys_hint),
            });
        }
        out.push((name, v));
    }
    Ok(out)
}

/// A non-empty, printable string scalar, with its position.
pub fn string(cx: &Src<'_>, v: Node, what: &str) -> Res<(String, Pos)> {
    match v.kind {
        Kind::Str(s) if s.trim().is_empty() => Err(cx
            .err(v.pos, format!("{what} is empty"))
            .expected("a non-empty string")
            .hint("write a value, or remove the entry")),
        Kind::Str(s) => {
            if let Some(c) = s.chars().find(|c| c.is_control()) {
                return Err(cx
                    .err(
                        v.pos,
                        format!(
                            "{what} contains the control character `U+{:04X}`",
                            u32::from(c)
                        ),
                    )
                    .expected("printable text on one line")
                    .hint("remove the escape sequence or line break from the value"));
            }
            Ok((s, v.pos))
        }
        Kind::Int(_) | Kind::Float(_) | Kind::Bool(_) => {
            let hint = match cx.raw(v.pos) {
                Some(raw) => {
                    format!("put the value in quotes, `\"{raw}\"`, so YAML keeps it as text")
                }
                None => "put the value in quotes so YAML keeps it as text".into(),
            };
            Err(cx
                .err(
                    v.pos,
                    format!("{what} must be a string, found {}", v.kind.describe()),
                )
                .expected("a string")
                .hint(hint))
        }
        Kind::Null => Err(cx
            .err(v.pos, format!("{what} is missing"))
            .expected("a string")
            .hint("write a value after the `:`, or remove the entry")),
        other => Err(cx
            .err(
                v.pos,
                format!("{what} must be a string, found {}", other.describe()),
            )
            .expected("a string")
            .hint("write one value here, not a list or a mapping")),
    }
}

/// A sequence (null is an empty one).
pub fn seq(cx: &Src<'_>, v: Node, what: &str, example: &str, hint: &str) -> Res<Vec<Node>> {
    match v.kind {
        Kind::Seq(items) => Ok(items),
        Kind::Null => Ok(Vec::new()),
        other => Err(cx
            .err(
                v.pos,
                format!("{what} must be a list, found {}", other.describe()),
            )
            .expected(format!("a list, e.g. `{example}`"))
            .hint(hint)),
    }
}

/// A mapping (null is an empty one).
pub fn map(cx: &Src<'_>, v: Node, what: &str, example: &str, hint: &str) -> Res<Vec<(Node, Node)>> {
    match v.kind {
        Kind::Map(entries) => Ok(entries),
        Kind::Null => Ok(Vec::new()),
        other => Err(cx
            .err(
                v.pos,
                format!("{what} must be a mapping, found {}", other.describe()),
            )
            .expected(format!("a mapping, e.g. `{example}`"))
            .hint(hint)),
    }
}

/// A whole number in `min..=max`.
pub fn int(cx: &Src<'_>, v: &Node, (what, min, max): (&str, u32, u32), hint: &str) -> Res<u32> {
    let expected = format!("a whole number from {min} to {max}");
    match &v.kind {
        Kind::Int(n) => match u32::try_from(*n) {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(cx
                .err(v.pos, format!("{what} is `{n}`, out of range"))
                .expected(expected)
                .hint(hint)),
        },
        Kind::Str(s) if s.trim().parse::<u32>().is_ok() => Err(cx
            .err(
                v.pos,
                format!("{what} must be a number, found {}", v.kind.describe()),
            )
            .expected(expected)
            .hint("write the number without quotes")),
        Kind::Float(_) => Err(cx
            .err(
                v.pos,
                format!(
                    "{what} must be a whole number, found `{}`",
                    cx.raw(v.pos).unwrap_or_default()
                ),
            )
            .expected(expected)
            .hint(hint)),
        other => Err(cx
            .err(
                v.pos,
                format!("{what} must be a whole number, found {}", other.describe()),
            )
            .expected(expected)
            .hint(hint)),
    }
}

/// `a`, `b` as "`a`, `b`".
pub fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The known word closest to `word`, if close enough to be a typo.
pub fn suggest<'a>(word: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (distance(word, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance.
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
