//! Phase timings for the benchmarks: with `LUMINA_REPO_TRACE=1` in the environment, each
//! [`mark`] prints `trace: PHASE N.N ms` (the time since the previous mark, or since the
//! first call) on standard error. Off by default, and then one relaxed atomic load.

use std::sync::Mutex;
use std::sync::OnceLock;
use std::time::Instant;

fn state() -> Option<&'static Mutex<Instant>> {
    static STATE: OnceLock<Option<Mutex<Instant>>> = OnceLock::new();
    STATE
        .get_or_init(|| {
            std::env::var_os("LUMINA_REPO_TRACE")
                .is_some_and(|v| v == "1")
                .then(|| Mutex::new(Instant::now()))
        })
        .as_ref()
}

/// Starts the clock (call at the start of a command; a no-op when tracing is off).
pub fn start() {
    if let Some(m) = state()
        && let Ok(mut last) = m.lock()
    {
        *last = Instant::now();
    }
}

/// Ends `phase`: prints how long it took since the previous mark.
pub fn mark(phase: &str) {
    if let Some(m) = state()
        && let Ok(mut last) = m.lock()
    {
        let now = Instant::now();
        eprintln!(
            "trace: {phase} {:.1} ms",
            now.duration_since(*last).as_secs_f64() * 1000.0
        );
        *last = now;
    }
}
