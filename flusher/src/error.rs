//! The runtime's errors: [`Error`], what setup and finalize report, and the
//! typed causes it carries ([`ParallelError`], [`FinalizeError`],
//! [`RankFileError`]). Each names the file, rank or state involved.

use std::path::PathBuf;

use scope_profiler_core::SessionError;
use scope_profiler_format::{ReadError, WriteError};

/// An error from the profiler.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `setup` while a run is going, or a bad `buffer_limit`.
    #[error(transparent)]
    Session(#[from] SessionError),
    /// `finalize` (or another run-time call) without `setup`.
    #[error("the profiler is not set up: call ProfileManager::setup() first")]
    NotSetUp,
    /// The run's temporary directory could not be made.
    #[error("cannot create the run's temporary directory under {parent}: {source}")]
    TempDir {
        /// Where it was to be made.
        parent: PathBuf,
        /// Why it failed.
        source: std::io::Error,
    },
    /// `file_path`'s directory does not exist or is not writable (checked
    /// at setup, on the rank that writes the profile).
    #[error("cannot write the profile to {path}: {source}")]
    OutputNotWritable {
        /// The requested `file_path`.
        path: PathBuf,
        /// Why a file could not be created beside it.
        source: std::io::Error,
    },
    /// The flusher thread could not be started.
    #[error("cannot start the flusher thread: {0}")]
    FlusherThread(#[source] std::io::Error),
    /// The merged output could not be written; the rank data survives.
    #[error("cannot write the profile to {path}: {source}; the rank data is kept in {kept}")]
    Output {
        /// The requested `file_path`.
        path: PathBuf,
        /// Why it failed.
        source: FinalizeError,
        /// The directory holding the rank files, left in place.
        kept: PathBuf,
    },
    /// The ranks could not agree at setup (MPI, the run directory).
    #[error(transparent)]
    Parallel(#[from] ParallelError),
    /// The SIGTERM/SIGINT watcher could not be started.
    #[error("cannot watch SIGTERM/SIGINT: {0}")]
    Signals(#[source] std::io::Error),
    /// A profile file could not be read (so `?` on
    /// [`read_profile`](scope_profiler_format::read_profile) works in a
    /// function returning this error).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The flusher thread panicked; its events are lost (the message says why).
    #[error("the flusher thread panicked: {0}")]
    FlusherPanicked(String),
    /// `Config::trace_regions` is not a valid regular expression.
    #[error("Config::trace_regions({pattern:?}) is not a valid regular expression: {message}")]
    TracePattern {
        /// The pattern given.
        pattern: String,
        /// What the regex crate said.
        message: String,
    },
}

/// Result with the runtime's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A collective step among ranks failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParallelError {
    /// MPI was finalized before setup.
    #[error("MPI has already been finalized in this process; a process can profile one MPI run")]
    MpiFinalized,
    /// `MPI_Init` failed.
    #[error("MPI could not be initialized")]
    MpiInit,
    /// A collective call from a thread other than setup's.
    #[error("under MPI, finalize must run on the thread that called setup")]
    WrongThread,
    /// Rank 0 could not make the run directory (its message).
    #[error("rank 0 could not create the run directory: {0}")]
    RunDir(String),
    /// A rank did not arrive within the timeout.
    #[error(
        "not every rank reached finalize within {secs:.0} s (a rank may have crashed or skipped finalize)"
    )]
    Timeout {
        /// The timeout, seconds.
        secs: f64,
    },
    /// A rank's finalize report could not be decoded.
    #[error("a rank sent an unreadable finalize report")]
    UnreadableReport,
    /// Rank 0 failed to write the profile (its message, as it reported it).
    #[error("rank 0 could not write the profile: {0}")]
    OnRankZero(String),
}

/// Why finalize could not write the merged profile.
#[derive(Debug, thiserror::Error)]
pub enum FinalizeError {
    /// The ranks could not finish together.
    #[error(transparent)]
    Parallel(#[from] ParallelError),
    /// A rank's file was not complete (its rank file error, as reported).
    #[error("rank {rank}'s file is incomplete: {message}")]
    RankFileIncomplete {
        /// The rank.
        rank: u32,
        /// What went wrong with its file.
        message: String,
    },
    /// The merged file could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A rank could not write its part of the merged file.
    #[error("rank {rank} could not write its part of the file: {message}")]
    PartNotWritten {
        /// The rank.
        rank: u32,
        /// What went wrong.
        message: String,
    },
}

/// This rank's stream could not be created or written.
#[derive(Debug, thiserror::Error)]
pub enum RankFileError {
    /// Creating the file failed.
    #[error("cannot create {path}: {source}")]
    Create {
        /// The rank's stream.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Appending failed; later calls were counted, not stored.
    #[error("writing {path} failed: {source}")]
    Write {
        /// The rank's stream.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}
