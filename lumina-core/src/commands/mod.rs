//! One file per subcommand. Shared here: finding and checking the virtual root.

pub mod apply;
pub mod capture;
pub mod detach;
pub mod init;
pub mod link;
pub mod manpage;
pub mod snapshot;
pub mod stable;
pub mod status;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use lumina_core::paths::Context;
use lumina_core::registry::{self, Registry};

/// The virtual root, checked, and the registry in it.
pub struct Profile {
    /// Paths for `~` and the virtual root.
    pub ctx: Context,
    /// The loaded registry.
    pub registry: Registry,
}

/// Find the virtual root (`--home`, `LUMINA_HOME` or `~/.lumina`), refuse it if others can
/// write it, and load its registry.
pub fn open_profile(home: Option<PathBuf>) -> anyhow::Result<Profile> {
    let user_home =
        lumina_core::user::current_home().context("cannot tell your home directory: set `HOME`")?;
    let given = home.unwrap_or_else(|| user_home.join(".lumina"));
    let lumina_home = match lumina_core::fs::stat(&given)? {
        Some(m) if m.is_dir() => lumina_core::fs::canonicalize(&given)?,
        Some(_) => anyhow::bail!("the virtual root `{}` is not a directory", given.display()),
        None => {
            return Err(lumina_core::Error::Registry(Box::new(registry::Diagnostic {
                file: given.clone(),
                pos: None,
                message: "the virtual root does not exist".into(),
                expected: None,
                hint: Some(format!(
                    "create it with a `lumina.yaml` (`mkdir -p {}`), or point `--home` at one",
                    given.display()
                )),
                line_text: None,
            }))
            .into());
        }
    };
    lumina_core::perm::check_home(&lumina_home)?;
    let ctx = Context {
        user_home,
        lumina_home,
    };
    let file = ctx.lumina_home.join(registry::FILE_NAME);
    let registry = registry::load(&file, &ctx)?;
    Ok(Profile { ctx, registry })
}

/// Show a source relative to the virtual root.
pub fn rel<'a>(ctx: &Context, p: &'a Path) -> std::borrow::Cow<'a, str> {
    match p.strip_prefix(&ctx.lumina_home) {
        Ok(r) => r.to_string_lossy(),
        Err(_) => p.to_string_lossy(),
    }
}
