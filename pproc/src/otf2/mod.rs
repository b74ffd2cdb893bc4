//! `--export otf2 OUTDIR`: the profile as an OTF2 trace archive, the format
//! of the Score-P tools (Vampir, Scalasca, `otf2-print`).
//!
//! What maps to what: each rank is a location group (a process named
//! `MPI Rank N`), each thread a location (`thread T`; calls that overlap
//! on a thread without nesting get further locations, see [`plan`]), each
//! region a region definition, each call an ENTER and a LEAVE event; one
//! tick is one nanosecond of the profile's clock (CLOCK_MONOTONIC), and
//! the clock properties' global offset is the earliest start.
//!
//! The planning ([`Plan`]) is plain Rust; writing the archive needs the
//! system's OTF2 library and so the cargo feature `otf2` (files `ffi.rs`,
//! the bindings, and `writer.rs`, their one user). Without the feature,
//! [`export`] returns an error saying how to rebuild.

pub mod plan;

#[cfg(feature = "otf2")]
mod ffi;
#[cfg(feature = "otf2")]
mod writer;

use std::path::{Path, PathBuf};

pub use plan::{Event, EventKind, Location, Plan};

use crate::error::{PprocError, Result};
use crate::profile::ProfileFile;
use crate::timeline::Timeline;

/// Whether this build can write OTF2 (built with the feature `otf2`).
pub const AVAILABLE: bool = cfg!(feature = "otf2");

/// What [`export`] wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exported {
    /// The archive's anchor file, `OUTDIR/traces.otf2` (what Vampir and
    /// `otf2-print` open).
    pub anchor: PathBuf,
    /// Location groups (ranks).
    pub ranks: usize,
    /// Locations (thread tracks).
    pub locations: usize,
    /// ENTER and LEAVE events, two per call.
    pub events: u64,
}

/// Writes `timeline` as the OTF2 archive `dir/traces.otf2` (plus
/// `traces.def` and `traces/`), creating `dir` if needed, with one location
/// group per rank in `ranks` or with calls, under one system tree node
/// named `machine` (see [`machine_name`]).
/// Refuses a `dir` that already holds an archive rather than mixing two.
/// On failure, removes what it wrote (and `dir`, if it created it). Calls `progress` with the number of
/// calls written about every 65 536 calls.
///
/// Fails with [`PprocError::Output`] when built without the feature `otf2`,
/// and with [`PprocError::Write`] naming `dir` when the archive cannot be
/// written.
pub fn export(
    timeline: &Timeline,
    ranks: &[u32],
    machine: &str,
    dir: &Path,
    progress: impl FnMut(u64),
) -> Result<Exported> {
    #[cfg(feature = "otf2")]
    {
        write_archive(timeline, ranks, machine, dir, progress)
    }
    #[cfg(not(feature = "otf2"))]
    {
        let _ = (timeline, ranks, machine, dir, progress);
        Err(PprocError::Output(
            "--export otf2: this scope-profiler-pproc was built without OTF2 support; rebuild it \
             with `cargo build -p scope-profiler-pproc --features otf2` (needs libotf2-trace-dev)"
                .into(),
        ))
    }
}

/// The name of the archive's system tree node for `file`: the `hostname`
/// in its metadata, else `machine`.
pub fn machine_name(file: &ProfileFile) -> String {
    file.metadata()
        .get("hostname")
        .map_or_else(|| "machine".to_owned(), ToString::to_string)
}

/// A [`PprocError::Write`] for `dir` saying `message`.
#[cfg_attr(not(feature = "otf2"), allow(dead_code))]
fn write_error(dir: &Path, message: impl Into<String>) -> PprocError {
    PprocError::Write {
        path: dir.to_owned(),
        source: std::io::Error::other(message.into()),
    }
}

#[cfg(feature = "otf2")]
fn write_archive(
    timeline: &Timeline,
    ranks: &[u32],
    machine: &str,
    dir: &Path,
    progress: impl FnMut(u64),
) -> Result<Exported> {
    let name = writer::ARCHIVE_NAME;
    let ours = [
        dir.join(format!("{name}.otf2")),
        dir.join(format!("{name}.def")),
        dir.join(name),
    ];
    if dir.exists() && !dir.is_dir() {
        return Err(write_error(
            dir,
            "exists and is not a directory (an OTF2 archive is a directory)",
        ));
    }
    if let Some(old) = ours.iter().find(|p| p.exists()) {
        return Err(write_error(
            dir,
            format!(
                "already holds an OTF2 archive ({} exists): remove it or choose another directory",
                old.display()
            ),
        ));
    }
    let created = !dir.exists();
    std::fs::create_dir_all(dir).map_err(|source| PprocError::Write {
        path: dir.to_owned(),
        source,
    })?;
    let plan = Plan::of(timeline, ranks);
    match writer::write(timeline, &plan, dir, machine, progress) {
        Ok(written) => Ok(Exported {
            anchor: ours[0].clone(),
            ranks: plan.groups.len(),
            locations: written.locations,
            events: written.events,
        }),
        Err(failure) => {
            // None of these existed before: they are this run's partial output.
            let _ = std::fs::remove_file(&ours[0]);
            let _ = std::fs::remove_file(&ours[1]);
            let _ = std::fs::remove_dir_all(&ours[2]);
            if created {
                // Only succeeds while empty: never takes anything else along.
                let _ = std::fs::remove_dir(dir);
            }
            Err(write_error(dir, failure.to_string()))
        }
    }
}

#[cfg(all(test, not(feature = "otf2")))]
mod tests {
    use super::*;

    #[test]
    fn without_the_feature_export_says_how_to_rebuild() {
        let dir = std::env::temp_dir().join("scope-profiler-otf2-never-written");
        let err = export(&Timeline::default(), &[0], "m", &dir, |_| {}).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("--features otf2"), "{message}");
        assert!(!message.contains('\n'), "{message}");
        assert!(!dir.exists());
    }
}
