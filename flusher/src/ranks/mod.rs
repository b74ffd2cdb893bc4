//! [`RankContext`]: which rank this process is, and the few collective steps
//! a run needs (share the run directory, align clocks, gather summaries,
//! wait for every rank, hear rank 0's verdict).
//!
//! Without feature `mpi` a process is rank 0 of 1. If it nevertheless runs
//! under a launcher (`OMPI_COMM_WORLD_SIZE`, `PMI_SIZE`, `SLURM_NTASKS`, ...
//! greater than 1) it warns once and writes `<stem>.rank<N>.<ext>` so ranks
//! do not overwrite one file (`launcher.rs`). With feature `mpi` the world
//! communicator is used (`mpi_world.rs`).

mod launcher;
#[cfg(feature = "mpi")]
pub mod mpi_world;

use std::path::{Path, PathBuf};
use std::time::Duration;

use scope_profiler_format::ClockOffset;

use crate::error::{Error, FinalizeError, ParallelError};

/// This process's place in the job.
pub struct RankContext {
    rank: u32,
    size: u32,
}

impl RankContext {
    /// The context of this process: MPI's world with feature `mpi`
    /// (initializing MPI if nobody has), else a single rank.
    pub fn detect() -> Result<RankContext, ParallelError> {
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

    /// Threads this rank may keep busy: the cores of its node shared among
    /// the ranks on it (at least 1; all of them in a serial run).
    pub fn threads_per_rank(&self) -> usize {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        #[cfg(feature = "mpi")]
        if let Ok(ranks) = mpi_world::with_world(|w| w.node_size() as usize) {
            return (cores / ranks.max(1)).max(1);
        }
        cores
    }

    /// Where this process writes its merged file: `file_path` itself, unless
    /// a launcher runs several copies of a non-MPI build, in which case each
    /// writes `<stem>.rank<N>.<ext>` (after a warning) instead of clobbering
    /// one file.
    pub fn output_path(&self, file_path: &Path) -> PathBuf {
        if self.size > 1 {
            return file_path.to_owned();
        }
        launcher::output_path_for_copy(file_path)
    }

    /// Rank 0 makes the run directory with `make` and every rank gets its
    /// path (or rank 0's error).
    pub fn share_dir(
        &self,
        make: impl FnOnce() -> Result<PathBuf, Error>,
    ) -> Result<PathBuf, Error> {
        #[cfg(feature = "mpi")]
        return mpi_world::with_world(|w| w.share_dir(make))?;
        #[cfg(not(feature = "mpi"))]
        make()
    }

    /// This rank's clock offset from rank 0's (zero on rank 0, on ranks
    /// sharing its node, and in a serial run). Collective.
    pub fn measure_clock(&self) -> ClockOffset {
        #[cfg(feature = "mpi")]
        if let Ok(offset) = mpi_world::with_world(|w| w.measure_clock()) {
            return offset;
        }
        ClockOffset {
            at_ns: scope_profiler_core::clock::monotonic_ns(),
            ..ClockOffset::default()
        }
    }

    /// Sends `bytes` to rank 0; rank 0 gets every rank's, in rank order.
    pub fn gather(&self, bytes: Vec<u8>) -> Result<Option<Vec<Vec<u8>>>, ParallelError> {
        #[cfg(feature = "mpi")]
        return mpi_world::with_world(|w| w.gather(bytes));
        #[cfg(not(feature = "mpi"))]
        Ok(Some(vec![bytes]))
    }

    /// Waits until every rank arrives, or fails after `timeout`.
    pub fn barrier(&self, timeout: Duration) -> Result<(), ParallelError> {
        #[cfg(feature = "mpi")]
        return mpi_world::with_world(|w| w.barrier(timeout))?;
        #[cfg(not(feature = "mpi"))]
        {
            let _ = timeout;
            Ok(())
        }
    }

    /// Rank 0's bytes (or its error, which other ranks get as
    /// [`ParallelError::OnRankZero`]) on every rank, once every rank
    /// arrives (or an error after `timeout`).
    pub fn broadcast_result(
        &self,
        result: Result<Vec<u8>, FinalizeError>,
        timeout: Duration,
    ) -> Result<Vec<u8>, FinalizeError> {
        self.barrier(timeout)?;
        #[cfg(feature = "mpi")]
        return mpi_world::with_world(|w| w.broadcast_result(result))?;
        #[cfg(not(feature = "mpi"))]
        result
    }

    /// Rank 0's `result[i]` on rank `i` (or its error, which other ranks
    /// get as [`ParallelError::OnRankZero`]), once every rank arrives (or an
    /// error after `timeout`).
    pub fn scatter_result(
        &self,
        result: Result<Vec<Vec<u8>>, FinalizeError>,
        timeout: Duration,
    ) -> Result<Vec<u8>, FinalizeError> {
        self.barrier(timeout)?;
        #[cfg(feature = "mpi")]
        return mpi_world::with_world(|w| w.scatter_result(result))?;
        #[cfg(not(feature = "mpi"))]
        result.and_then(|parts| {
            parts
                .into_iter()
                .next()
                .ok_or_else(|| ParallelError::OnRankZero("nothing to scatter".into()).into())
        })
    }

    /// Every rank's bytes at rank 0, in rank order, once every rank
    /// arrives (or an error after `timeout`).
    pub fn gather_timed(
        &self,
        bytes: Vec<u8>,
        timeout: Duration,
    ) -> Result<Option<Vec<Vec<u8>>>, ParallelError> {
        self.barrier(timeout)?;
        self.gather(bytes)
    }

    /// The first rank's failure of `failure` (one per rank) at rank 0, with
    /// its rank; `None` elsewhere or when every rank succeeded.
    pub fn first_failure(
        &self,
        failure: Option<String>,
        timeout: Duration,
    ) -> Result<Option<(u32, String)>, ParallelError> {
        let message = failure.unwrap_or_default().into_bytes();
        let Some(all) = self.gather_timed(message, timeout)? else {
            return Ok(None);
        };
        Ok(all
            .into_iter()
            .enumerate()
            .find(|(_, m)| !m.is_empty())
            .map(|(r, m)| (r as u32, String::from_utf8_lossy(&m).into_owned())))
    }

    /// Rank 0 tells every rank how the merge went: `Ok`, or on other ranks
    /// rank 0's error as [`ParallelError::OnRankZero`] (rank 0 keeps its own).
    pub fn broadcast_outcome(
        &self,
        outcome: Result<(), FinalizeError>,
        timeout: Duration,
    ) -> Result<(), FinalizeError> {
        #[cfg(feature = "mpi")]
        return mpi_world::with_world(|w| w.broadcast_outcome(outcome, timeout))?;
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
