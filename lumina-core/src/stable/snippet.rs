//! `/etc/pacman.d/lumina-stable.conf`: rendered from the shipped template (the repository
//! sections of Lumina-Stable), with the user's mirror in every `Server =` line. Pure.

use super::conf::{self, Kind};

/// First line of every file `lumina stable enable` writes: how `disable` (and a second
/// `enable`) recognise the file as Lumina's.
pub const HEADER: &str = "# Written by `lumina stable enable`; `lumina stable disable` removes it.";

/// Why a snippet cannot be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnippetError {
    /// The mirror given with `--mirror` is not a usable URL.
    #[error("`{url}` is not a mirror URL: {reason}")]
    BadMirror {
        /// As given.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The template names a placeholder host and no mirror was given.
    #[error(
        "the template names the placeholder mirror `{server}`; choose yours with `--mirror URL`"
    )]
    Placeholder {
        /// The placeholder `Server` value.
        server: String,
    },
    /// The template defines no repository, or a repository without a server.
    #[error("the template is unusable: {0}")]
    Template(String),
}

/// A rendered snippet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The file's text.
    pub text: String,
    /// The repositories it defines, in order (`core`, `extra`, maybe `multilib`).
    pub repos: Vec<String>,
    /// The distinct `Server` values, in order.
    pub servers: Vec<String>,
}

/// Check and normalise a `--mirror` value: an `http://`, `https://` or `file:///` URL without
/// spaces or `#` (pacman cuts a line at `#`). Without `$repo` in it, `/$repo/os/$arch` is
/// appended (the layout of every Arch and Lumina-Stable mirror).
///
/// # Errors
/// [`SnippetError::BadMirror`].
pub fn mirror_url(arg: &str) -> Result<String, SnippetError> {
    let bad = |reason: &str| SnippetError::BadMirror {
        url: arg.to_owned(),
        reason: reason.to_owned(),
    };
    let url = arg.trim();
    if url.is_empty() {
        return Err(bad("it is empty"));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("it contains a space or a control character"));
    }
    if url.contains('#') {
        return Err(bad("pacman reads `#` as the start of a comment"));
    }
    let lower = url.to_ascii_lowercase();
    if let Some(rest) = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))
    {
        let host = rest.split('/').next().unwrap_or("");
        if host.is_empty() || host.starts_with(':') {
            return Err(bad("it has no host"));
        }
    } else if let Some(rest) = lower.strip_prefix("file://") {
        if !rest.starts_with('/') {
            return Err(bad(
                "a `file://` URL needs an absolute path (`file:///srv/mirror`)",
            ));
        }
    } else {
        return Err(bad(
            "only `http://`, `https://` and `file://` mirrors are supported",
        ));
    }
    if url.contains("$repo") {
        Ok(url.to_owned())
    } else {
        Ok(format!("{}/$repo/os/$arch", url.trim_end_matches('/')))
    }
}

/// The host of an `http(s)://` URL, lowercased.
fn host(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"))?;
    let authority = rest.split('/').next()?;
    let host = authority.rsplit('@').next()?.split(':').next()?;
    Some(host.to_owned())
}

/// A host reserved for documentation (RFC 2606): the template's stand-in for a real mirror.
fn is_placeholder(url: &str) -> bool {
    host(url).is_some_and(|h| {
        ["example", "invalid"]
            .iter()
            .any(|tld| h == *tld || h.ends_with(&format!(".{tld}")))
    })
}

/// `#Key = value` or `#Key`: a commented-out directive (not prose).
fn commented_directive(raw: &str) -> Option<&str> {
    let rest = raw.trim_start().strip_prefix('#')?;
    let key = rest.split('=').next().unwrap_or("").trim();
    let is_key = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric());
    is_key.then_some(rest)
}

/// Render the snippet: [`HEADER`] and a line naming the template, then the template with the
/// commented-out `[multilib]` section switched on when `multilib` is set (added after the
/// other sections, like theirs, when the template has none), and every active `Server` line
/// set to `mirror` when one is given.
///
/// # Errors
/// - [`SnippetError::Template`] when the template defines no repository or one without a
///   `Server`;
/// - [`SnippetError::Placeholder`] when, without `mirror`, a server is a reserved
///   documentation host (`stable.lumina.example`).
pub fn render(
    template: &str,
    source: &str,
    mirror: Option<&str>,
    multilib: bool,
) -> Result<Rendered, SnippetError> {
    let mut lines: Vec<String> = template.split_inclusive('\n').map(String::from).collect();
    if let Some(l) = lines.last_mut()
        && !l.ends_with('\n')
    {
        l.push('\n');
    }
    let active = |lines: &[String]| -> Vec<String> {
        lines
            .iter()
            .filter_map(|l| match conf::classify(l) {
                Kind::Header(n) => Some(n),
                _ => None,
            })
            .collect()
    };
    if multilib && !active(&lines).iter().any(|n| n == "multilib") {
        let start = lines.iter().position(|l| {
            l.trim_start()
                .strip_prefix('#')
                .is_some_and(|rest| conf::classify(rest) == Kind::Header("multilib".into()))
        });
        match start {
            Some(s) => {
                lines[s] = lines[s].replacen('#', "", 1);
                for l in lines.iter_mut().skip(s + 1) {
                    match commented_directive(l) {
                        Some(rest) => *l = rest.to_owned(),
                        None => break,
                    }
                }
            }
            None => {
                // Copy the first section's `SigLevel` and `Server` lines.
                let mut extra = vec!["\n".to_owned(), "[multilib]\n".to_owned()];
                let mut in_first = false;
                for l in &lines {
                    match conf::classify(l) {
                        Kind::Header(_) if in_first => break,
                        Kind::Header(_) => in_first = true,
                        Kind::Directive { key, .. }
                            if in_first && (key == "SigLevel" || key == "Server") =>
                        {
                            extra.push(l.clone());
                        }
                        _ => {}
                    }
                }
                lines.extend(extra);
            }
        }
    }
    let mut servers = Vec::new();
    for l in &mut lines {
        if let Kind::Directive {
            key,
            value: Some(v),
        } = conf::classify(l)
            && key == "Server"
        {
            let server = match mirror {
                Some(m) => {
                    *l = format!("Server = {m}\n");
                    m.to_owned()
                }
                None => v,
            };
            if !servers.contains(&server) {
                servers.push(server);
            }
        }
    }
    let repos = active(&lines);
    if repos.is_empty() {
        return Err(SnippetError::Template(
            "it defines no repository section".into(),
        ));
    }
    for (h, name, end) in conf::sections(&conf::parse(&lines.concat())) {
        let body = &lines[h + 1..end];
        if !body.iter().any(|l| {
            matches!(conf::classify(l), Kind::Directive { key, .. } if key == "Server" || key == "Include")
        }) {
            return Err(SnippetError::Template(format!(
                "its section `[{name}]` has no `Server` line"
            )));
        }
    }
    if let Some(p) = servers.iter().find(|s| is_placeholder(s)) {
        return Err(SnippetError::Placeholder { server: p.clone() });
    }
    let text = format!(
        "{HEADER}\n# Rendered from {source}; edit that (or run `lumina stable enable --mirror URL`)\n# rather than this file.\n{}",
        lines.concat()
    );
    Ok(Rendered {
        text,
        repos,
        servers,
    })
}

/// Is `text` a snippet Lumina wrote?
pub fn is_ours(text: &str) -> bool {
    text.starts_with(HEADER)
}

/// The first `Server` of a snippet, to keep the user's mirror when `enable` runs again.
pub fn first_server(text: &str) -> Option<String> {
    conf::parse(text).into_iter().find_map(|l| match l.kind {
        Kind::Directive {
            key,
            value: Some(v),
        } if key == "Server" => Some(v),
        _ => None,
    })
}

/// The repositories a snippet defines.
pub fn repos(text: &str) -> Vec<String> {
    conf::sections(&conf::parse(text))
        .into_iter()
        .map(|(_, n, _)| n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = include_str!("../../../pkg/lumina-stable.conf");

    #[test]
    fn mirrors_are_checked_and_completed() {
        assert_eq!(
            mirror_url("https://stable.example.org/").unwrap(),
            "https://stable.example.org/$repo/os/$arch"
        );
        assert_eq!(
            mirror_url("http://127.0.0.1:8080/$repo/os/$arch").unwrap(),
            "http://127.0.0.1:8080/$repo/os/$arch"
        );
        assert_eq!(
            mirror_url("file:///srv/stable").unwrap(),
            "file:///srv/stable/$repo/os/$arch"
        );
        for bad in [
            "",
            "ftp://x/",
            "stable.example.org",
            "https:///path",
            "https://a b/",
            "https://host/#x",
            "file://relative/x",
        ] {
            assert!(
                matches!(mirror_url(bad), Err(SnippetError::BadMirror { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn the_shipped_template_needs_a_mirror() {
        let e = render(TEMPLATE, "t", None, false).unwrap_err();
        assert!(matches!(e, SnippetError::Placeholder { .. }), "{e}");
    }

    #[test]
    fn renders_the_shipped_template_with_a_mirror() {
        let m = "https://m.lumina.test/$repo/os/$arch";
        let r = render(
            TEMPLATE,
            "/usr/share/lumina/lumina-stable.conf",
            Some(m),
            false,
        )
        .unwrap();
        assert_eq!(r.repos, ["core", "extra"]);
        assert_eq!(r.servers, [m]);
        assert!(is_ours(&r.text));
        assert_eq!(first_server(&r.text).as_deref(), Some(m));
        assert!(r.text.contains("#Server = https://stable.lumina.example/"));
        let r = render(TEMPLATE, "t", Some(m), true).unwrap();
        assert_eq!(r.repos, ["core", "extra", "multilib"]);
        assert!(r.text.ends_with(&format!(
            "[multilib]\nSigLevel = Required TrustedOnly\nServer = {m}\n"
        )));
        assert_eq!(repos(&r.text), r.repos);
    }

    #[test]
    fn multilib_is_added_when_the_template_lacks_it() {
        let t = "[core]\nSigLevel = Required\nServer = https://a.lumina.test/$repo/os/$arch\n";
        let r = render(t, "t", None, true).unwrap();
        assert_eq!(r.repos, ["core", "multilib"]);
        assert!(r.text.ends_with(
            "\n[multilib]\nSigLevel = Required\nServer = https://a.lumina.test/$repo/os/$arch\n"
        ));
    }

    #[test]
    fn unusable_templates_are_refused() {
        assert!(matches!(
            render("# nothing\n", "t", Some("https://m/$repo"), false),
            Err(SnippetError::Template(_))
        ));
        assert!(matches!(
            render(
                "[core]\nSigLevel = Never\n",
                "t",
                Some("https://m/$repo"),
                false
            ),
            Err(SnippetError::Template(_))
        ));
    }
}
