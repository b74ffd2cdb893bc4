//! Run metadata written to `/metadata` of the merged file.

use std::time::SystemTime;

use hdf5::Group;

use crate::attrs;

/// Values known only at finalize.
pub struct RunFacts {
    /// CLOCK_MONOTONIC ns at setup.
    pub start_time_ns: i64,
    /// CLOCK_MONOTONIC ns at finalize.
    pub finalize_time_ns: i64,
    /// Number of ranks in the file.
    pub mpi_size: i64,
    /// Integer facts (dropped events, threads, ...).
    pub counters: Vec<(&'static str, i64)>,
    /// String facts (overflow policy, ...).
    pub labels: Vec<(&'static str, String)>,
}

/// Writes `/metadata` with the attributes the Python readers show.
pub fn write(meta: &Group, facts: &RunFacts) -> hdf5::Result<()> {
    attrs::write_i64(meta, "mpi_size", facts.mpi_size)?;
    attrs::write_i64(meta, "start_time_ns", facts.start_time_ns)?;
    attrs::write_i64(meta, "finalize_time_ns", facts.finalize_time_ns)?;
    attrs::write_i64(
        meta,
        "total_cores",
        std::thread::available_parallelism().map_or(1, |n| n.get() as i64),
    )?;
    let timestamp = humantime::format_rfc3339_micros(SystemTime::now()).to_string();
    attrs::write_str(meta, "timestamp", &timestamp)?;
    attrs::write_str(meta, "hostname", &hostname())?;
    attrs::write_str(meta, "platform", &platform())?;
    attrs::write_str(meta, "scope_profiler_version", env!("CARGO_PKG_VERSION"))?;
    attrs::write_str(meta, "writer", "scope-profiler (Rust)")?;
    if let Ok(dir) = std::env::current_dir() {
        attrs::write_str(meta, "working_directory", &dir.to_string_lossy())?;
    }
    for (name, value) in &facts.counters {
        attrs::write_i64(meta, name, *value)?;
    }
    for (name, value) in &facts.labels {
        attrs::write_str(meta, name, value)?;
    }
    Ok(())
}

/// This machine's host name.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

fn platform() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{}-{}-{}",
        std::env::consts::OS,
        release.trim(),
        std::env::consts::ARCH
    )
}
