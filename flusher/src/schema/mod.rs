//! The HDF5 layout: the one module that knows where things live in a file.
//!
//! Writing (schema 1, what the Python package 0.2.1 and 0.7.5 both read):
//! ```text
//! /metadata                          attributes only (mpi_size, start_time_ns, ...)
//! /rank<N>/regions/<escaped name>/   attribute `name` = exact original name
//!     start_times  int64 [calls]     ns, CLOCK_MONOTONIC
//!     end_times    int64 [calls]
//!     thread_ids   uint32 [calls]    dense per-run thread index (extra; ignored by Python)
//! ```
//! A rank file (`rank_<N>.h5`, appended while the run goes) holds the same
//! `regions/` tree at its root; finalize copies it under `/rank<N>`.
//!
//! Reading accepts schema 1 and the columnar schemas 2 and 3; see [`read`].

pub mod columnar;
pub mod names;
pub mod read;
mod vlen;
pub mod write;

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
