//! The safe linker: plain symlinks from targets to sources in the virtual root.
//!
//! [`prepare`] reads (registry expansion, observation, record) and plans; [`apply::apply`]
//! changes the filesystem; [`detach::detach`] turns every link back into a copy. The plan is
//! pure ([`plan::plan`]) and is what `--dry-run` and `--json` print.

pub mod apply;
pub mod desired;
pub mod detach;
pub mod observe;
pub mod order;
pub mod plan;
pub mod record;

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::Path;

pub use plan::{Action, Conflict, OnConflict, Plan};
pub use record::Record;

use crate::error::Result;
use crate::paths::Context;
use crate::registry::Registry;

/// Everything a command needs after reading the world.
#[derive(Debug)]
pub struct Prepared {
    /// The plan.
    pub plan: Plan,
    /// The record as read.
    pub record: Record,
}

/// Read the sources, targets and record, and plan.
///
/// # Errors
/// [`crate::Error::Io`] and [`crate::Error::Record`].
pub fn prepare(
    reg: &Registry,
    ctx: &Context,
    on_conflict: OnConflict,
    stamp: &str,
) -> Result<Prepared> {
    let record = Record::load(&ctx.lumina_home)?;
    let exp = desired::expand_sized(reg, ctx, record.links.len())?;
    let observed = observe::observe(exp, &record, &ctx.lumina_home)?;
    let dirs = observed.dirs;
    let mut plan = plan::plan(
        observed.items,
        observed.problems,
        &ctx.lumina_home,
        on_conflict,
        stamp,
    );
    refine(&mut plan, &ctx.lumina_home, &dirs)?;
    Ok(Prepared { plan, record })
}

/// The checks that need to read more than the targets: an adoption's content and
/// filesystem, and whether the acting user may write where a change would be made (so a
/// run that would fail half-way is refused before it starts).
fn refine(plan: &mut Plan, home: &Path, dirs: &observe::Dirs) -> Result<()> {
    let mut writable = Writable {
        dirs,
        memo: HashMap::new(),
        last: None,
    };
    for item in &mut plan.items {
        if !item.action.mutates() {
            continue;
        }
        let conflict = match (&item.action, &item.source) {
            (
                Action::Adopt {
                    how: plan::Adopt::Same,
                },
                Some(src),
            ) if !crate::fs::same_contents(&item.target, src)? => Some(Conflict::SourceDiffers),
            (
                Action::Adopt {
                    how: plan::Adopt::Dir,
                },
                _,
            ) if apply::device_of(&item.target) != apply::device_of(home) => {
                Some(Conflict::CrossDevice)
            }
            _ => None,
        };
        let conflict = conflict.or_else(|| {
            let (dir, _) = order::split(&item.target)?;
            (!writable.may_write(dir)).then(|| Conflict::NotWritable {
                dir: dir
                    .ancestors()
                    .find(|a| a.exists())
                    .unwrap_or(dir)
                    .to_path_buf(),
            })
        });
        if let Some(conflict) = conflict {
            item.action = Action::Conflict { conflict };
        }
    }
    Ok(())
}

/// Can the acting (real) user create entries in a directory, or in its nearest existing
/// ancestor when it does not exist yet? Follows symlinks with the user's own rights.
/// Remembered per directory (and for the missing ones on the way up).
struct Writable<'d> {
    dirs: &'d observe::Dirs,
    memo: HashMap<OsString, bool>,
    /// The last directory asked about (most targets share their neighbour's).
    last: Option<(std::path::PathBuf, bool)>,
}

impl Writable<'_> {
    fn may_write(&mut self, dir: &Path) -> bool {
        if let Some((d, ok)) = &self.last
            && d.as_os_str() == dir.as_os_str()
        {
            return *ok;
        }
        let ok = self.lookup(dir);
        self.last = Some((dir.to_path_buf(), ok));
        ok
    }

    fn lookup(&mut self, dir: &Path) -> bool {
        use nix::unistd::{AccessFlags, access};
        let mut chain: Vec<&Path> = Vec::new();
        let mut ok = false;
        let mut anc = Some(dir);
        while let Some(a) = anc {
            if let Some(&v) = self.memo.get(a.as_os_str()) {
                ok = v;
                break;
            }
            chain.push(a);
            // The nearest ancestor that exists (a directory seen missing does not).
            if !self.dirs.known_missing(a)
                && let Ok(m) = std::fs::metadata(a)
            {
                ok = m.is_dir() && access(a, AccessFlags::W_OK | AccessFlags::X_OK).is_ok();
                break;
            }
            anc = a.parent();
        }
        for a in chain {
            self.memo.insert(a.as_os_str().to_os_string(), ok);
        }
        ok
    }
}

/// The current UTC time as `YYYYMMDDTHHMMSSZ`, for backup names.
pub fn utc_stamp(now: std::time::SystemTime) -> String {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil-from-days (Howard Hinnant's algorithm), valid for every date after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn utc_stamp_formats_known_instants() {
        assert_eq!(super::utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_636_992);
        assert_eq!(super::utc_stamp(t), "20261125T200312Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(super::utc_stamp(leap), "20000229T000000Z");
    }
}
