//! # scope-profiler
//!
//! A region profiler for HPC and systems code. A region enter/exit reads the
//! TSC and writes one 16-byte record into the calling thread's lock-free
//! ring; a background flusher bit-packs the records and appends them to
//! this rank's stream; finalize writes one file that
//! the Python package `scope-profiler` (0.2.1, 0.7.5) reads as well.
//!
//! ```no_run
//! use scope_profiler::{region, Config, ProfileManager};
//!
//! fn main() -> Result<(), scope_profiler::Error> {
//!     ProfileManager::setup(Config::default().file_path("profiling_data.h5"))?;
//!     for _ in 0..100 {
//!         let _g = region!("solve"); // name interned once per call site
//!         // ... work ...
//!     }
//!     scope_profiler::profile("checkpoint", || { /* ... */ });
//!     let summary = ProfileManager::finalize()?; // drains, writes, prints
//!     assert_eq!(summary.region("solve").unwrap().stats.calls, 100);
//!     Ok(())
//! }
//! ```
//!
//! Cargo feature `off` compiles [`region!`] and [`profile`] down to nothing.

#[doc(hidden)]
pub use scope_profiler_core::RegionSlot;
pub use scope_profiler_core::{OverflowPolicy, RegionGuard};
#[cfg(feature = "mpi")]
pub use scope_profiler_flusher::mpi;
pub use scope_profiler_flusher::{
    Config, Error, OutputSchema, ProfileManager, RegionSummary, Summary,
};
pub use scope_profiler_format::{
    read_profile, AttrValue, Damage, Events, ProfileData, ReadError, RegionData, RegionStats,
};
pub use scope_profiler_subscriber::{ScopeLayer, ScopeSubscriber, SpanMode};

/// Opens a region named by a string literal (or any `&'static str` constant)
/// until the returned guard drops.
///
/// The name is interned once per call site and kept in a `static`; each call
/// then costs one relaxed load for the id, the TSC reads and one ring push.
///
/// ```
/// let _g = scope_profiler::region!("assemble");
/// ```
#[cfg(not(feature = "off"))]
#[macro_export]
macro_rules! region {
    ($name:expr) => {{
        static SLOT: $crate::RegionSlot = $crate::RegionSlot::new($name);
        $crate::RegionGuard::enter_slot(&SLOT)
    }};
}

/// With feature `off`: expands to a zero-sized [`CompiledOut`] value,
/// nothing is recorded.
#[cfg(feature = "off")]
#[macro_export]
macro_rules! region {
    ($name:expr) => {{
        let _ = $name;
        $crate::CompiledOut
    }};
}

/// What `region!` gives with feature `off`: zero-sized, does nothing, so
/// `let _g = region!("x");` compiles (and lints) the same either way.
#[cfg(feature = "off")]
#[derive(Debug)]
pub struct CompiledOut;

#[cfg(feature = "off")]
impl CompiledOut {
    /// Always `false`: nothing is recorded with feature `off`.
    pub fn is_recording(&self) -> bool {
        false
    }
}

/// Runs `f` inside region `name` and returns its result. The region is
/// recorded even if `f` panics.
///
/// ```
/// let answer = scope_profiler::profile("compute", || 6 * 7);
/// assert_eq!(answer, 42);
/// ```
#[inline]
pub fn profile<R>(name: &str, f: impl FnOnce() -> R) -> R {
    #[cfg(not(feature = "off"))]
    let _guard = ProfileManager::profile_region(name);
    #[cfg(feature = "off")]
    let _ = name;
    f()
}

/// The README's examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
