//! scope-profiler's background side: the [`Flusher`](flusher::Flusher)
//! thread that drains every thread's ring, the HDF5 [`schema`] (write and
//! read), finalize, and the user-facing [`ProfileManager`].

pub mod batch;
pub mod config;
pub mod emergency;
pub mod error;
pub mod flusher;
pub mod h5file;
pub mod journal;
pub mod manager;
pub mod merge;
pub mod metadata;
#[cfg(feature = "mpi")]
pub mod mpi_world;
pub mod output;
pub mod rank_file;
pub mod ranks;
pub mod repair;
pub mod schema;
pub mod summary;

pub use config::{Config, OutputSchema, OverflowPolicy};
pub use error::{Error, Result};
pub use hdf5;
pub use manager::ProfileManager;
#[cfg(feature = "mpi")]
pub use mpi;
pub use schema::read::{
    read_profile, AttrValue, Damage, Events, ProfileData, ReadError, RegionData,
};
pub use summary::{RegionSummary, Summary};
