//! Times reading a sync database: `cargo run --release -p lumina-repo --example parse_bench
//! -- [--digest] [--desc] PATH [RUNS]` reads `PATH` with `syncdb::read` once untimed, then
//! RUNS times (11 by default), and prints every run's wall time, the median, min and max,
//! and the CPU time per run (every thread; clock ticks of 10 ms, so meaningful over many
//! runs only).
//!
//! - `--digest`: also print a SHA-256 of what was read (every entry's `desc` as written
//!   back, its file list, the compression), to check that a change to the reader reads the
//!   same thing.
//! - `--desc`: time only `DbEntry::parse_desc_with_limit` over every entry's `desc`, on one
//!   thread (no decompression, no tar, no file lists).
//!
//! It uses the `lumina-repo` binary's allocator, so the figures are the ones it sees.
// A benchmark's failure is its output: a panic names what went wrong.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use lumina_repo::entry::DbEntry;
use lumina_repo::syncdb::{self, Limits, SyncDb};
use sha2::{Digest, Sha256};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut flag = |name: &str| {
        let found = args.iter().any(|a| a == name);
        args.retain(|a| a != name);
        found
    };
    let (digest, desc_only) = (flag("--digest"), flag("--desc"));
    let Some(path) = args.first().map(PathBuf::from) else {
        eprintln!("usage: parse_bench [--digest] [--desc] PATH [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args
        .get(1)
        .map_or(11, |n| n.parse().expect("RUNS: a number"));
    let limits = Limits::default();
    let first = syncdb::read(&path, &limits).unwrap_or_else(|e| panic!("{e}"));
    if digest {
        println!("digest {}", digest_of(&first));
    }
    let count = first.entries.len();
    let descs: Vec<String> = if desc_only {
        first.entries.iter().map(DbEntry::desc_text).collect()
    } else {
        Vec::new()
    };
    drop(first);
    let cpu_before = cpu_ticks();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            if desc_only {
                for text in &descs {
                    let entry = DbEntry::parse_desc_with_limit(text, limits.max_package_size);
                    std::hint::black_box(entry.unwrap_or_else(|e| panic!("{e}")));
                }
                return start.elapsed();
            }
            let db = syncdb::read(&path, &limits).unwrap_or_else(|e| panic!("{e}"));
            let took = start.elapsed();
            assert_eq!(db.entries.len(), count);
            drop(db);
            took
        })
        .collect();
    let cpu = cpu_ticks() - cpu_before;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let list: Vec<String> = times.iter().map(|&t| format!("{:.1}", ms(t))).collect();
    let what = if desc_only { " (desc only)" } else { "" };
    println!(
        "{}{what}: {count} entries; runs (ms): {}",
        path.display(),
        list.join(" ")
    );
    times.sort_unstable();
    if let (Some(&min), Some(&max)) = (times.first(), times.last()) {
        println!(
            "median {:.1} ms, min {:.1} ms, max {:.1} ms",
            ms(times[times.len() / 2]),
            ms(min),
            ms(max)
        );
    }
    println!(
        "cpu (user + system, every thread) {:.0} ms per run",
        cpu as f64 * 10.0 / runs as f64
    );
}

/// A SHA-256 of everything read.
fn digest_of(db: &SyncDb) -> String {
    let mut hash = Sha256::new();
    hash.update(format!("{:?}\n", db.compression));
    for entry in &db.entries {
        hash.update(entry.desc_text());
        if let Some(files) = &entry.files {
            let mut member = Vec::new();
            files.write_member(&mut member);
            hash.update(&member);
        }
        hash.update(b"\0");
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// The process's user and system time so far, in clock ticks (`/proc/self/stat`), threads
/// that ended included.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The fields after the command name (which ends at the last `)`): utime is the 14th
    // field of the line, stime the 15th.
    let rest = &stat[stat.rfind(')').expect("a command name") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}
