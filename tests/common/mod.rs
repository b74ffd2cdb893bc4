//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, PoisonError};

use scope_profiler::{Config, ProfileData};

/// One profiling run per process at a time: tests in a file share the
/// process-wide `ProfileManager`, so each takes this lock for its whole run.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A fresh directory and a config writing `profile.h5` into it, quiet.
pub fn config_in(dir: &tempfile::TempDir) -> (Config, PathBuf) {
    let path = dir.path().join("profile.h5");
    let config = Config::default()
        .file_path(&path)
        .print_summary(false)
        .temp_dir(dir.path());
    (config, path)
}

/// Calls per region name on rank 0.
pub fn calls_on_rank0(data: &ProfileData) -> Vec<(String, u64)> {
    data.regions
        .iter()
        .map(|r| (r.name.clone(), r.per_rank.get(&0).map_or(0, |e| e.calls())))
        .collect()
}
