//! [`RankContext`]: which rank this process is, and the few collective steps
//! a run needs (share the run directory, align clocks, gather summaries,
//! wait for every rank, hear rank 0's verdict).
//!
//! Without feature `mpi` a process is rank 0 of 1. If it nevertheless runs
//! under a launcher (`OMPI_COMM_WORLD_SIZE`, `PMI_SIZE`, `SLURM_NTASKS`, ...
//! greater than 1) it warns once and writes `<stem>.rank<N>.<ext>` so ranks
//! do not overwrite one file. With feature `mpi` the world communicator is
//! used (see `mpi_world.rs`).

use std::path::{Path, PathBuf};
use std::time::Duration;

#[cfg(feature = "mpi")]
use crate::mpi_world;

/// Offset of one rank's CLOCK_MONOTONIC from rank 0's, measured by ping-pong.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClockOffset {
    /// Rank 0's clock at the measurement, ns.
    pub at_ns: i64,
    /// This rank's clock minus rank 0's, ns.
    pub offset_ns: i64,
    /// Round-trip time of the best of the exchanges, ns (the offset's error
    /// is at most half of it).
    pub rtt_ns: i64,
}

/// Maps a rank's timestamps onto rank 0's clock: the offset is interpolated
/// linearly between the setup and finalize measurements (drift).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClockShift {
    /// Measurement at setup.
    pub setup: ClockOffset,
    /// Measurement at finalize.
    pub finalize: ClockOffset,
}

impl ClockShift {
    /// Drift of the rank's clock against rank 0's, ns per s.
    pub fn drift_ns_per_s(&self) -> f64 {
        let dt = (self.finalize.at_ns - self.setup.at_ns) as f64;
        if dt <= 0.0 {
            0.0
        } else {
            (self.finalize.offset_ns - self.setup.offset_ns) as f64 / dt * 1e9
        }
    }

    /// `t` (this rank's clock) on rank 0's clock.
    pub fn apply(&self, t: i64) -> i64 {
        let dt = (self.finalize.at_ns - self.setup.at_ns) as f64;
        let offset = if dt <= 0.0 {
            self.setup.offset_ns as f64
        } else {
            let f = (t - self.setup.at_ns) as f64 / dt;
            self.setup.offset_ns as f64
                + f * (self.finalize.offset_ns - self.setup.offset_ns) as f64
        };
        t - offset.round() as i64
    }
}

/// This process's place in the job.
pub struct RankContext {
    rank: u32,
    size: u32,
}

/// Environment variables launchers set to the job's size, and to the rank.
const SIZE_VARS: [&str; 4] = [
    "OMPI_COMM_WORLD_SIZE",
    "PMI_SIZE",
    "PMIX_SIZE",
    "SLURM_NTASKS",
];
const RANK_VARS: [&str; 4] = [
    "OMPI_COMM_WORLD_RANK",
    "PMI_RANK",
    "PMIX_RANK",
    "SLURM_PROCID",
];

fn env_number(vars: &[&str]) -> Option<u32> {
    vars.iter()
        .find_map(|v| std::env::var(v).ok()?.trim().parse().ok())
}

impl RankContext {
    /// The context of this process: MPI's world with feature `mpi`
    /// (initializing MPI if nobody has), else a single rank.
    pub fn detect() -> Result<RankContext, String> {
        #[cfg(feature = "mpi")]
        {
            let (rank, size) = mpi_world::join()?;
            Ok(RankContext { rank, size })
        }
        #[cfg(not(feature = "mpi"))]
        {
            Ok(RankContext { rank: 0, size: 1 })
        }
    }

    /// This process's rank.
    pub fn rank(&self) -> u32 {
        self.rank
    }

    /// Ranks in the job.
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Where this process writes its merged file: `file_path` itself, unless
    /// a launcher runs several copies of a non-MPI build, in which case each
    /// writes `<stem>.rank<N>.<ext>` (after a warning) instead of clobbering
    /// one file.
    pub fn output_path(&self, file_path: &Path) -> PathBuf {
        if self.size > 1 {
            return file_path.to_owned();
        }
        let launched = env_number(&SIZE_VARS).filter(|n| *n > 1);
        let (Some(size), Some(rank)) = (launched, env_number(&RANK_VARS)) else {
            return file_path.to_owned();
        };
        let stem = file_path.file_stem().map_or_else(
            || "profiling_data".into(),
            |s| s.to_string_lossy().into_owned(),
        );
        let name = match file_path.extension() {
            Some(ext) => format!("{stem}.rank{rank}.{}", ext.to_string_lossy()),
            None => format!("{stem}.rank{rank}"),
        };
        let path = file_path.with_file_name(name);
        if rank == 0 {
            eprintln!(
                "scope-profiler: warning: running under a launcher with {size} ranks but built without feature \
                 `mpi`: each rank writes its own file ({} for rank 0) instead of one merged file; \
                 build with `--features mpi` to merge them",
                path.display()
            );
        }
        path
    }

    /// Rank 0 makes the run directory with `make` and every rank gets its path.
    pub fn share_dir(
        &self,
        make: impl FnOnce() -> Result<PathBuf, String>,
    ) -> Result<PathBuf, String> {
        #[cfg(feature = "mpi")]
        return mpi_world::with_world(|w| w.share_dir(make));
        #[cfg(not(feature = "mpi"))]
        make()
    }

    /// Measures every rank's clock offset from rank 0 (rank 0 gets one entry
    /// per rank, others an empty list). Collective.
    pub fn measure_clocks(&self) -> Vec<ClockOffset> {
        #[cfg(feature = "mpi")]
        if let Ok(offsets) = mpi_world::with_world(|w| Ok(w.measure_clocks())) {
            return offsets;
        }
        vec![ClockOffset {
            at_ns: scope_profiler_core::clock::monotonic_ns(),
            ..ClockOffset::default()
        }]
    }

    /// Sends `bytes` to rank 0; rank 0 gets every rank's, in rank order.
    pub fn gather(&self, bytes: Vec<u8>) -> Result<Option<Vec<Vec<u8>>>, String> {
        #[cfg(feature = "mpi")]
        return mpi_world::with_world(|w| Ok(w.gather(bytes)));
        #[cfg(not(feature = "mpi"))]
        Ok(Some(vec![bytes]))
    }

    /// Waits until every rank arrives, or fails after `timeout`.
    pub fn barrier(&self, timeout: Duration) -> Result<(), String> {
        #[cfg(feature = "mpi")]
        return mpi_world::with_world(|w| w.barrier(timeout));
        #[cfg(not(feature = "mpi"))]
        {
            let _ = timeout;
            Ok(())
        }
    }

    /// Rank 0 tells every rank how the merge went (`Ok` or its error).
    pub fn broadcast_outcome(
        &self,
        outcome: Result<(), String>,
        timeout: Duration,
    ) -> Result<(), String> {
        #[cfg(feature = "mpi")]
        return mpi_world::with_world(|w| w.broadcast_outcome(outcome, timeout));
        #[cfg(not(feature = "mpi"))]
        {
            let _ = timeout;
            outcome
        }
    }
}

impl Drop for RankContext {
    /// Leaves MPI's world (finalizing MPI if setup initialized it).
    fn drop(&mut self) {
        #[cfg(feature = "mpi")]
        mpi_world::leave();
    }
}
