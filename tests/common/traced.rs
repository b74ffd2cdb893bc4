//! Programs written twice, with `#[instrument]` and with `region!`, and the
//! helpers the tracing tests compare them with.

use std::collections::BTreeMap;

use scope_profiler::{region, ProfileManager, Summary};
use tracing::instrument;

use super::config_in;

/// Calls per region name.
pub fn counts(summary: &Summary) -> BTreeMap<String, u64> {
    summary
        .regions
        .iter()
        .map(|r| (r.name.clone(), r.stats.calls))
        .collect()
}

/// Runs `body` under `subscriber` in a fresh profiling run; its summary.
pub fn run<R>(
    subscriber: impl tracing::Subscriber + Send + Sync + 'static,
    body: impl FnOnce() -> R,
) -> (Summary, R) {
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = config_in(&dir);
    ProfileManager::setup(config).unwrap();
    let out = tracing::subscriber::with_default(subscriber, body);
    (ProfileManager::finalize().unwrap(), out)
}

#[instrument]
pub fn traced_leaf(i: u32) -> u32 {
    i * 2
}

#[instrument]
pub fn traced_parent(n: u32) -> u32 {
    (0..n).map(traced_leaf).sum()
}

#[instrument]
pub fn traced_recursive(depth: u32) -> u32 {
    if depth == 0 {
        0
    } else {
        1 + traced_recursive(depth - 1)
    }
}

pub fn plain_leaf(i: u32) -> u32 {
    let _g = region!("traced_leaf");
    i * 2
}

pub fn plain_parent(n: u32) -> u32 {
    let _g = region!("traced_parent");
    (0..n).map(plain_leaf).sum()
}

pub fn plain_recursive(depth: u32) -> u32 {
    let _g = region!("traced_recursive");
    if depth == 0 {
        0
    } else {
        1 + plain_recursive(depth - 1)
    }
}
