//! [`RegionGuard`]: one region call as an RAII value.

use std::marker::PhantomData;

use crate::clock::{self, Ticks};
use crate::local;
use crate::registry::{RegionId, RegionSlot};
use crate::session::{self, Recording, TIMED};

/// An open region. Created by `region!`, `profile_region` or
/// [`RegionGuard::enter`]; the region is recorded when the guard drops,
/// including during a panic unwind. Nesting and recursion need nothing else:
/// every call owns its guard.
///
/// Not `Send`: a region opens and closes on one thread.
#[must_use = "a region ends when its guard drops; bind it with `let _g = ...`"]
pub struct RegionGuard {
    start: Ticks,
    region: RegionId,
    /// The session state word at entry; 0 = inactive (nothing to record).
    state: u32,
    _not_send: PhantomData<*const ()>,
}

impl RegionGuard {
    /// Opens `region` on the calling thread. With recording off this is one
    /// relaxed load and a branch.
    #[inline(always)]
    pub fn enter(region: RegionId) -> RegionGuard {
        Self::enter_with(session::state(), region)
    }

    /// Opens the region of a per-call-site slot (what `region!` expands to).
    /// With recording off the slot is not even read.
    #[inline(always)]
    pub fn enter_slot(slot: &RegionSlot) -> RegionGuard {
        let state = session::state();
        if state == 0 {
            return RegionGuard::inactive();
        }
        Self::enter_with(state, slot.id())
    }

    #[inline(always)]
    fn enter_with(state: u32, region: RegionId) -> RegionGuard {
        if state == 0 || !local::open_region(state) {
            return RegionGuard::inactive();
        }
        let start = if state & TIMED != 0 { clock::now() } else { 0 };
        RegionGuard {
            start,
            region,
            state,
            _not_send: PhantomData,
        }
    }

    /// A guard that records nothing.
    #[inline(always)]
    pub const fn inactive() -> RegionGuard {
        RegionGuard {
            start: 0,
            region: RegionId(0),
            state: 0,
            _not_send: PhantomData,
        }
    }

    /// Whether this guard will record its region.
    pub fn is_recording(&self) -> bool {
        self.state != 0
    }
}

impl Drop for RegionGuard {
    #[inline(always)]
    fn drop(&mut self) {
        if self.state == 0 {
            return;
        }
        let end = if self.state & TIMED != 0 {
            clock::now()
        } else {
            0
        };
        local::close_region(self.state, self.start, end, self.region);
    }
}

/// A region call whose start the caller keeps (for instrumentation that
/// cannot hold a guard on the stack, such as `tracing` spans): take one with
/// [`CallStart::now`], finish it with [`CallStart::finish`] on any thread.
#[derive(Clone, Copy, Debug)]
pub struct CallStart {
    start: Ticks,
    /// Session state word at the start; finishing in another session
    /// records nothing.
    state: u32,
}

impl CallStart {
    /// Starts a call now, or `None` when nothing records.
    #[inline(always)]
    pub fn now() -> Option<CallStart> {
        session::recording().map(CallStart::at)
    }

    /// A start that was never taken: finishing it records nothing (no
    /// session has state 0). For fixed-size storage that needs a value in
    /// its empty slots.
    pub const fn inactive() -> CallStart {
        CallStart { start: 0, state: 0 }
    }

    /// Starts a call now in the session `recording` saw, without looking at
    /// the switch again.
    #[inline(always)]
    pub fn at(recording: Recording) -> CallStart {
        let state = recording.state;
        let start = if state & TIMED != 0 { clock::now() } else { 0 };
        CallStart { start, state }
    }

    /// Ends the call now as one call of `region`, written to the calling
    /// thread's ring. Returns false (recording nothing) if the session that
    /// was recording at the start has ended or been paused since.
    ///
    /// Out of line on purpose: its callers are callbacks (`tracing`'s
    /// `exit`) whose own bodies are large. Inlined into `Layered`'s `exit`,
    /// the ring write's chunk handling stays a separate call and the path
    /// spills more registers; out of line, the caller passes the call in
    /// registers and the write is inlined here (`benches/tracing_paired.rs`
    /// measures both, docs/performance.md has the figures).
    #[inline(never)]
    pub fn finish(self, region: RegionId) -> bool {
        if session::state() != self.state {
            return false;
        }
        let end = if self.state & TIMED != 0 {
            clock::now()
        } else {
            0
        };
        local::push_call(self.state, self.start, end, region)
    }
}
