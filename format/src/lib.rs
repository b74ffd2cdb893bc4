//! Everything scope-profiler knows about bytes on disk, shared by the
//! recording runtime (which writes) and post-processing (which reads).
//!
//! Depends on HDF5 and nothing of the runtime: reading a profile never
//! compiles the hot path, the flusher or MPI.
//!
//! Schema 1, the default (what the Python package 0.2.1 and 0.7.5 both read):
//! ```text
//! /metadata                          attributes only (mpi_size, start_time_ns, ...)
//! /rank<N>/regions/<escaped name>/   attribute `name` = exact original name
//!     start_times  int64 [calls]     ns, CLOCK_MONOTONIC
//!     end_times    int64 [calls]
//!     thread_ids   uint32 [calls]    dense per-run thread index (extra; ignored by Python)
//! ```
//! While the run goes each rank appends to its stream (`rank_<N>.sps`,
//! [`stream`]); finalize writes the tree above from the streams. The
//! columnar schema 3 is in [`columnar`]; [`read`] accepts 1, 2, 3 and streams.
//!
//! The modules:
//! - the run: [`stream`] (a rank's calls as CRC-framed varint batches,
//!   appended while it runs: its data and its crash safety), [`rank_totals`],
//!   [`follow`] (reading a stream while it is written);
//! - writing the profile: [`merged`] (temp + rename), `tree.rs` (schema 1),
//!   [`columnar`] (schema 3), [`aggregate`] (statistics per rank, thread
//!   and region, with [`histogram`]), [`chunks`] (compressed in parallel, written
//!   directly), [`metadata`], [`attrs`];
//! - reading: [`read`] (HDF5 schemas 1–3 and streams), `strings.rs` (every
//!   HDF5 string form), [`repair`];
//! - shared pieces: [`lanes`] (the tracks on which a thread's calls nest), [`names`] (escaping), [`deltas`] (start-delta codec),
//!   [`columns`] (a region's calls as columns), `one_value.rs` (a column
//!   that is one value and a count until a second value arrives),
//!   [`stats`] ([`RegionStats`]),
//!   [`clock_shift`] (rank clocks onto rank 0's), [`h5file`] (no file locks).

pub mod aggregate;
mod append;
pub mod attrs;
pub mod chunks;
pub mod clock_shift;
pub mod columnar;
pub mod columns;
pub mod deltas;
pub mod error;
pub mod follow;
pub mod h5file;
pub mod histogram;
pub mod lanes;
pub mod merged;
pub mod metadata;
pub mod names;
mod one_value;
pub mod rank_totals;
pub mod read;
pub mod repair;
pub mod stats;
pub mod stream;
mod stream_part;
mod strings;
#[cfg(test)]
mod testing;
mod tree;
mod vlen;

pub use clock_shift::{ClockOffset, ClockShift};
pub use columns::EventColumns;
pub use error::WriteError;
pub use hdf5;
pub use read::{read_profile, AttrValue, Damage, Events, ProfileData, ReadError, RegionData};
pub use stats::RegionStats;

/// Root attribute naming the schema version (absent = schema 1).
pub const SCHEMA_ATTRIBUTE: &str = "scope_profiler_schema";
/// The newest schema this crate reads.
pub const NEWEST_READABLE_SCHEMA: i64 = 3;

/// Text of an HDF5 string read from a file: the bytes as UTF-8, invalid
/// sequences replaced. hdf5-metno's `as_str` on its string types assumes
/// valid UTF-8 without checking, which a damaged or foreign file breaks (the
/// fuzzer found a panic formatting such a `&str`), so the reader only ever
/// takes their bytes.
pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
