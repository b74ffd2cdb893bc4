//! Hot path of scope-profiler.
//!
//! A region enter/exit reads the TSC and, on exit, writes one fixed-size
//! [`Record`] into the calling thread's lock-free ring. Nothing here locks,
//! allocates, makes a syscall or hashes a string per region call; all of that
//! happens once per call site ([`RegionSlot`]), once per thread (ring
//! registration) or off the hot path in the flusher.
//!
//! The pieces, one module each:
//! - [`clock`]: raw ticks on the hot path, [`Calibration`] to CLOCK_MONOTONIC ns later;
//! - [`registry`]: region name ⇄ [`RegionId`], and per-call-site [`RegionSlot`]s;
//! - [`record`]: the 24-byte [`Record`] a region call becomes;
//! - [`thread_buffer`]: the per-thread [`ThreadBuffer`] ring and the flusher's [`RingReader`];
//! - [`session`]: the recording session (runtime on/off switch, registered rings);
//! - [`guard`]: [`RegionGuard`], the RAII enter/exit pair;
//! - [`stats`]: [`RegionStats`], exact running statistics per region.

pub mod clock;
pub mod guard;
pub mod record;
pub mod registry;
pub mod session;
pub mod stats;
pub mod thread_buffer;

pub use clock::{Calibration, Ticks};
pub use guard::{CallStart, RegionGuard};
pub use record::Record;
pub use registry::{RegionId, RegionRegistry, RegionSlot};
pub use session::{OverflowPolicy, RecorderConfig, Session, SessionError};
pub use stats::RegionStats;
pub use thread_buffer::{RingCounters, RingReader, ThreadBuffer};
