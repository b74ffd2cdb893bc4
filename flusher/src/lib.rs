//! scope-profiler's runtime: the [`Flusher`](drain::Flusher) thread that
//! drains every thread's ring into this rank's stream, finalize (every rank
//! waits, rank 0 writes the profile from the streams), MPI and clock alignment ([`ranks`]), and the
//! user-facing [`ProfileManager`] and [`Config`].
//!
//! Data flows one way: `scope-profiler-core` records, this crate drains and
//! decides what to write, `scope-profiler-format` writes the bytes.
//!
//! The modules: [`config`], [`manager`] (setup, run-time control, finalize,
//! signal and panic hooks), [`drain`] (the flusher thread), [`ranks`]
//! (this process's place in the job),
//! [`report`] (what each rank tells rank 0), [`summary`], [`error`], and
//! [`aggregate`] (the drain's statistics in aggregate mode).

pub mod aggregate;
pub mod config;
pub mod drain;
pub mod error;
pub mod manager;
pub mod ranks;
pub mod report;
pub mod summary;

pub use config::{Config, OutputSchema, OverflowPolicy};
pub use error::{Error, FinalizeError, ParallelError, RankFileError, Result};
pub use manager::ProfileManager;
#[cfg(feature = "mpi")]
pub use mpi;
pub use summary::{RegionSummary, Summary};
