//! Run metadata written to `/metadata` of the merged file.

use std::time::SystemTime;

use hdf5::Group;

use crate::schema::write::{write_i64_attr, write_str_attr};

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
    write_i64_attr(meta, "mpi_size", facts.mpi_size)?;
    write_i64_attr(meta, "start_time_ns", facts.start_time_ns)?;
    write_i64_attr(meta, "finalize_time_ns", facts.finalize_time_ns)?;
    write_i64_attr(
        meta,
        "total_cores",
        std::thread::available_parallelism().map_or(1, |n| n.get() as i64),
    )?;
    let timestamp = humantime::format_rfc3339_micros(SystemTime::now()).to_string();
    write_str_attr(meta, "timestamp", &timestamp)?;
    write_str_attr(meta, "hostname", &hostname())?;
    write_str_attr(meta, "platform", &platform())?;
    write_str_attr(meta, "scope_profiler_version", env!("CARGO_PKG_VERSION"))?;
    write_str_attr(meta, "writer", "scope-profiler (Rust)")?;
    if let Ok(dir) = std::env::current_dir() {
        write_str_attr(meta, "working_directory", &dir.to_string_lossy())?;
    }
    for (name, value) in &facts.counters {
        write_i64_attr(meta, name, *value)?;
    }
    for (name, value) in &facts.labels {
        write_str_attr(meta, name, value)?;
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
