//! [`WriteError`]: why a profile file could not be written.
//! Reading has its own [`ReadError`](crate::ReadError), which names the file
//! and the problem in one sentence.

use std::path::PathBuf;

/// A profile file could not be written; each variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// HDF5 refused to create or write the file.
    #[error("cannot write {path}: {source}")]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// What HDF5 said.
        source: hdf5::Error,
    },
    /// A rank's stream could not be read.
    #[error("cannot read {path}: {source}")]
    Stream {
        /// The stream.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The path names a directory, not a file.
    #[error("{0} names a directory, not a file")]
    NotAFile(PathBuf),
    /// The finished temporary file could not be renamed into place.
    #[error("cannot move {from} into place: {source}")]
    Rename {
        /// The temporary file.
        from: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}
