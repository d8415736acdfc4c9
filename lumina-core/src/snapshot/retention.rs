//! Which of Lumina's snapshots retention deletes. Pure: no I/O.
//!
//! Snapshots are grouped by transaction (a pre and its post go together). The newest `keep`
//! groups stay; of the older ones, the newest `keep_important` important groups stay too.
//! Then, while free space is below the floor, the oldest remaining groups go one at a time,
//! except the newest group, which is never deleted (it is the one just taken).

use std::collections::BTreeMap;

use super::Meta;
use crate::config::Retention;
use crate::registry::MinFree;

fn groups(snaps: &[Meta]) -> Vec<Vec<&Meta>> {
    let mut groups: BTreeMap<&str, Vec<&Meta>> = BTreeMap::new();
    for m in snaps {
        groups.entry(m.txid.as_str()).or_default().push(m);
    }
    let mut ordered: Vec<Vec<&Meta>> = groups.into_values().collect();
    ordered.sort_by_key(|g| g.iter().map(|m| m.id).max().unwrap_or(0));
    ordered
}

/// The ids that the count rules (`keep`, `keep_important`) delete, oldest first.
pub fn select(snaps: &[Meta], policy: &Retention) -> Vec<u64> {
    let ordered = groups(snaps);
    let n = ordered.len();
    let mut important_kept = 0usize;
    let mut ids = Vec::new();
    for (i, g) in ordered.iter().enumerate().rev() {
        if n - 1 - i < policy.keep as usize {
            continue;
        }
        if g.iter().any(|m| m.important) && important_kept < policy.keep_important as usize {
            important_kept += 1;
            continue;
        }
        ids.extend(g.iter().map(|m| m.id));
    }
    ids.sort_unstable();
    ids
}

/// For the free-space floor: every group but the newest, oldest first. The caller deletes
/// one group at a time and measures free space again (no quotas needed).
pub fn oldest_groups(snaps: &[Meta]) -> Vec<Vec<u64>> {
    let ordered = groups(snaps);
    let n = ordered.len();
    ordered
        .into_iter()
        .take(n.saturating_sub(1))
        .map(|g| {
            let mut ids: Vec<u64> = g.iter().map(|m| m.id).collect();
            ids.sort_unstable();
            ids
        })
        .collect()
}

/// Bytes that must stay free under `floor` on a filesystem of `total` bytes.
pub fn floor_bytes(floor: MinFree, total: u64) -> u64 {
    match floor {
        MinFree::Percent(p) => total / 100 * u64::from(p),
        MinFree::Bytes(b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Kind;

    fn pair(id: u64, important: bool) -> [Meta; 2] {
        let m = |id, kind| Meta {
            id,
            kind,
            pair: None,
            txid: format!("tx{id:04}"),
            time: id,
            command: String::new(),
            targets: Vec::new(),
            backend: "btrfs".into(),
            parts: Vec::new(),
            important,
        };
        let mut post = m(id + 1, Kind::Post);
        post.txid = format!("tx{id:04}");
        post.pair = Some(id);
        [m(id, Kind::Pre), post]
    }

    fn policy(keep: u32, keep_important: u32, min_free: Option<MinFree>) -> Retention {
        Retention {
            keep,
            keep_important,
            min_free,
        }
    }

    fn snaps(importance: &[bool]) -> Vec<Meta> {
        importance
            .iter()
            .enumerate()
            .flat_map(|(i, imp)| pair(i as u64 * 2 + 1, *imp))
            .collect()
    }

    #[test]
    fn keeps_exactly_the_newest_pairs() {
        let s = snaps(&[false; 5]);
        assert_eq!(select(&s, &policy(3, 0, None)), vec![1, 2, 3, 4]);
        assert!(select(&s, &policy(5, 0, None)).is_empty());
    }

    #[test]
    fn important_pairs_outlive_the_others() {
        let s = snaps(&[true, false, true, false, false]);
        // keep 2 newest (7, 9); of the rest keep 1 important (5); delete 1 and 3.
        assert_eq!(select(&s, &policy(2, 1, None)), vec![1, 2, 3, 4]);
        assert_eq!(select(&s, &policy(2, 2, None)), vec![3, 4]);
    }

    #[test]
    fn the_floor_offers_oldest_groups_first_and_never_the_newest() {
        let s = snaps(&[false; 3]);
        assert_eq!(oldest_groups(&s), vec![vec![1, 2], vec![3, 4]]);
        assert_eq!(floor_bytes(MinFree::Percent(10), 1000), 100);
        assert_eq!(floor_bytes(MinFree::Bytes(7), 1000), 7);
        let _ = policy(1, 0, Some(MinFree::Percent(5)));
    }
}
