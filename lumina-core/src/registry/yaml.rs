//! A YAML document as a tree of nodes that remember their line and column.
//!
//! `serde-saphyr` does the YAML (syntax errors, duplicate keys, anchors, tabs); this module
//! only keeps positions so that [`super::convert`] can say exactly where a value is wrong.

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A 1-based line and column in the registry file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    /// 1-based line.
    pub line: u32,
    /// 1-based column.
    pub column: u32,
}

/// One YAML value with its position.
#[derive(Debug, Clone)]
pub struct Node {
    /// The value.
    pub kind: Kind,
    /// Where it starts.
    pub pos: Pos,
}

/// The value of a [`Node`].
#[derive(Debug, Clone)]
pub enum Kind {
    /// `~`, `null` or nothing.
    Null,
    /// `true` / `false` (YAML 1.2 spellings only).
    Bool(bool),
    /// An integer.
    Int(i128),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order.
    Map(Vec<(Node, Node)>),
}

impl Kind {
    /// What a user would call this kind of value, for "found ..." messages.
    pub fn describe(&self) -> String {
        match self {
            Self::Null => "nothing (null)".into(),
            Self::Bool(b) => format!("the boolean `{b}`"),
            Self::Int(i) => format!("the number `{i}`"),
            Self::Float(f) => format!("the number `{f}`"),
            Self::Str(s) => format!("the string `{s}`"),
            Self::Seq(_) => "a list".into(),
            Self::Map(_) => "a mapping".into(),
        }
    }
}

struct Raw(Kind);

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw(Kind::Null))
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw(Kind::Null))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Raw, E> {
        Ok(Raw(Kind::Bool(b)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw(Kind::Int(v.into())))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw(Kind::Int(v.into())))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Raw, E> {
        Ok(Raw(Kind::Int(v)))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Raw, E> {
        Ok(Raw(Kind::Int(i128::try_from(v).unwrap_or(i128::MAX))))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Raw, E> {
        Ok(Raw(Kind::Float(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw(Kind::Str(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw(Kind::Str(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
        let mut items = Vec::new();
        while let Some(n) = a.next_element::<SpannedNode>()? {
            items.push(n.0);
        }
        Ok(Raw(Kind::Seq(items)))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
        let mut entries = Vec::new();
        while let Some((k, v)) = a.next_entry::<SpannedNode, SpannedNode>()? {
            entries.push((k.0, v.0));
        }
        Ok(Raw(Kind::Map(entries)))
    }
}

struct SpannedNode(Node);

impl<'de> Deserialize<'de> for SpannedNode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Spanned::<Raw>::deserialize(d)?;
        let pos = Pos {
            line: clamp(s.referenced.line()),
            column: clamp(s.referenced.column()),
        };
        Ok(SpannedNode(Node {
            kind: s.value.0,
            pos,
        }))
    }
}

/// A YAML syntax error: where and what.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    /// Where the parser stopped.
    pub pos: Pos,
    /// The parser's message, without its own position suffix.
    pub message: String,
}

/// Parse a YAML document into a positioned tree. Booleans are YAML 1.2 strict (`yes` is a
/// string); duplicate keys are errors.
///
/// # Errors
/// [`SyntaxError`] for anything the YAML parser rejects.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let opts = serde_saphyr::options! { strict_booleans: true };
    match serde_saphyr::from_str_with_options::<SpannedNode>(text, opts) {
        Ok(n) => Ok(n.0),
        Err(e) => {
            let pos = e
                .location()
                .map(|l| Pos {
                    line: clamp(l.line()),
                    column: clamp(l.column()),
                })
                .unwrap_or(Pos { line: 1, column: 1 });
            let mut message = e.without_snippet().to_string();
            // serde-saphyr appends " at line L, column C"; the diagnostic prints it once.
            if let Some(i) = message.rfind(" at line ") {
                message.truncate(i);
            }
            Err(SyntaxError { pos, message })
        }
    }
}

fn clamp(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
