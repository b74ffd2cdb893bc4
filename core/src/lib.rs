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
//! - [`record`]: the 16-byte [`Record`] a region call becomes;
//! - [`thread_buffer`]: one ring, the producer's [`ThreadBuffer`] and the
//!   flusher's [`RingReader`];
//! - [`session`]: the recording session (runtime on/off switch, registered rings);
//! - `local`: this thread's ring slot, reached by the guards;
//! - [`guard`]: [`RegionGuard`], the RAII enter/exit pair, and [`CallStart`].
//!
//! Modules depend one way: `thread_buffer` ← `session` ← `local` ← `guard`.

pub mod clock;
pub mod guard;
mod local;
pub mod record;
pub mod registry;
pub mod session;
pub mod thread_buffer;

pub use clock::{Calibration, Ticks};
pub use guard::{CallStart, RegionGuard};
pub use record::Record;
pub use registry::{RegionId, RegionRegistry, RegionSlot};
pub use session::{RecorderConfig, Session, SessionError};
pub use thread_buffer::{CallEnds, OverflowPolicy, RingCounters, RingReader, ThreadBuffer};
