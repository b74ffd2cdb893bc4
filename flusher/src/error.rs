//! [`Error`]: everything setup and finalize can report.

use std::path::PathBuf;

use scope_profiler_core::SessionError;

use crate::schema::read::ReadError;

/// An error from the profiler; each names the file or state involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `setup` while a run is going, or a bad `buffer_limit`.
    #[error("{0}")]
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
    /// This rank's file could not be created or written.
    #[error("cannot write rank file {path}: {message}")]
    RankFile {
        /// The rank file.
        path: PathBuf,
        /// What HDF5 said.
        message: String,
    },
    /// The merged output could not be written; the rank data survives.
    #[error("cannot write the profile to {path}: {message}; the rank data is kept in {kept}")]
    Output {
        /// The requested `file_path`.
        path: PathBuf,
        /// Why it failed.
        message: String,
        /// The directory holding the rank files, left in place.
        kept: PathBuf,
    },
    /// The ranks could not agree (MPI set-up, a rank missing at finalize).
    #[error("{0}")]
    Parallel(String),
    /// The SIGTERM/SIGINT watcher could not be started.
    #[error("{0}")]
    Signals(String),
    /// A profile file could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The flusher thread panicked; its events are lost (and the error says so).
    #[error("the flusher thread panicked: {0}")]
    FlusherPanicked(String),
}

/// Result with the flusher's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
