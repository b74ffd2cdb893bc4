//! scope-profiler's background side: the flusher thread that drains every
//! thread's ring, the HDF5 schema (write and read), finalize, and the
//! user-facing [`ProfileManager`].

pub mod schema;

pub use hdf5;
