//! [`PprocError`]: every way post-processing can fail, each one line.

use std::path::PathBuf;

use scope_profiler_format::ReadError;

/// A post-processing error; the command prints it as one line and exits 2.
#[derive(Debug, thiserror::Error)]
pub enum PprocError {
    /// The file could not be read as a profile.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// `--ranks` named ranks the file does not have.
    #[error("{path}: no rank(s) {missing:?}; the file has ranks {available:?}")]
    UnknownRanks {
        /// The file.
        path: PathBuf,
        /// Ranks asked for and absent.
        missing: Vec<u32>,
        /// Ranks present.
        available: Vec<u32>,
    },
    /// A rank specification that does not parse.
    #[error("bad rank specification {0:?}: use e.g. `0 2`, `0-3` or `1-2,3`")]
    BadRankSpec(String),
    /// A region the file does not have.
    #[error("{path}: no region {name:?}")]
    UnknownRegion {
        /// The file.
        path: PathBuf,
        /// The region asked for.
        name: String,
    },
    /// A bad `--include` / `--exclude` pattern.
    #[error("bad regular expression {pattern:?}: {message}")]
    BadRegex {
        /// The pattern.
        pattern: String,
        /// What is wrong with it.
        message: String,
    },
    /// An output file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The output.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `--repair` could not repair a file.
    #[error("cannot repair {path}: {source}")]
    Repair {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A duration argument that does not parse.
    #[error("bad duration {0:?}: use a number and a unit, e.g. `250ns`, `100us`, `1.5ms`, `2s`")]
    BadDuration(String),
    /// Standard output was closed by its reader (`… | head -1`): the command
    /// stops quietly with exit code 0.
    #[error("standard output closed")]
    StdoutClosed,
    /// `watch`: a run directory or rank stream could not be read.
    #[error("{path}: {source}")]
    Follow {
        /// The directory or stream.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// `watch`: no run to follow where it looked.
    #[error("{0}")]
    NoRun(String),
    /// `watch`: the terminal could not be used for its screen.
    #[error("cannot draw on this terminal ({0}); `watch --once` prints a text snapshot instead")]
    Terminal(std::io::Error),
    /// The output format could not be chosen or rendered.
    #[error("{0}")]
    Output(String),
}

/// Result with [`PprocError`].
pub type Result<T, E = PprocError> = std::result::Result<T, E>;
