//! Creating and opening HDF5 files without HDF5's file locks.
//!
//! HDF5 (≥ 1.10) `flock`s every file it opens, on a descriptor without
//! close-on-exec: a child process the user spawns while a rank file is open
//! inherits the lock and keeps it for its whole life, and finalize then
//! fails to reopen the rank file ("unable to lock file"). Our files are
//! written by one process and read after they are closed, so the lock
//! protects nothing here.

use std::path::Path;

use hdf5::File;

/// Creates (truncating) `path` without a file lock.
pub fn create(path: &Path) -> hdf5::Result<File> {
    File::with_options()
        .with_fapl(|p| p.file_locking(false))
        .create(path)
}

/// Opens `path` read-only without a file lock.
pub fn open(path: &Path) -> hdf5::Result<File> {
    File::with_options()
        .with_fapl(|p| p.file_locking(false))
        .open(path)
}

/// Opens `path` read-write without a file lock.
pub fn open_rw(path: &Path) -> hdf5::Result<File> {
    File::with_options()
        .with_fapl(|p| p.file_locking(false))
        .open_rw(path)
}
