//! The recording session: the runtime on/off switch and the set of rings.
//!
//! One session exists between `ProfileManager::setup` and `finalize`. Its
//! `state` word is what the hot path compares against: reading it is one
//! relaxed atomic load, 0 when nothing records (no session, paused, or
//! `profiling_activated = false`), so a disabled region costs a load and a
//! branch.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::Thread;

use crate::thread_buffer::{DrainSignal, OverflowPolicy, RingReader, RingSpec, ThreadBuffer};

/// The parts of the configuration the hot path needs. Its `Default` is the
/// run's default (`Config::default()` starts from it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecorderConfig {
    /// Records per thread ring. A ring costs 16 bytes per record.
    pub capacity: usize,
    /// What a producer does when its ring is full.
    pub overflow: OverflowPolicy,
    /// Take timestamps (`true`) or only count calls (`false`).
    pub time_trace: bool,
    /// Start recording at once (`true`) or start paused.
    pub activated: bool,
}

impl Default for RecorderConfig {
    fn default() -> Self {
        RecorderConfig {
            capacity: 100_000,
            overflow: OverflowPolicy::Block,
            time_trace: true,
            activated: true,
        }
    }
}

/// Errors from starting a session.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionError {
    /// A session is already running: `finalize` it before starting another.
    AlreadyActive,
    /// The ring capacity must be at least 2 records.
    CapacityTooSmall(usize),
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SessionError::AlreadyActive => f.write_str(
                "a profiling session is already running; call finalize() before setup() again",
            ),
            SessionError::CapacityTooSmall(n) => {
                write!(
                    f,
                    "buffer_limit must be at least 2 events per thread, got {n}"
                )
            }
        }
    }
}

impl std::error::Error for SessionError {}

/// Bit 0 of a state word: timestamps are taken.
pub(crate) const TIMED: u32 = 1;

/// The hot path's switch, one word so one load reads both halves. Low half:
/// 0 = not recording, else the recording session's state word
/// (`epoch << 1 | TIMED?`). High half: the activation count, bumped each
/// time recording switches on (setup with `activated`, or
/// `set_active(true)`), see [`Recording::activation`]. Written only under
/// `CURRENT`'s lock, by [`set_switch`].
static SWITCH: AtomicU64 = AtomicU64::new(0);
/// The running session, if any. Slow paths only.
static CURRENT: Mutex<Option<Arc<Session>>> = Mutex::new(None);
/// Epoch counter so every session gets a distinct state word.
static EPOCH: AtomicU32 = AtomicU32::new(0);

/// The hot path's view of the switch: one relaxed load.
#[inline(always)]
pub(crate) fn state() -> u32 {
    // Relaxed: a thread that sees a stale value records into (or skips) a
    // session a few ns late; registration re-checks under the lock.
    SWITCH.load(Ordering::Relaxed) as u32
}

/// Sets the switch to `state` (0 = off), bumping the activation count when
/// it goes from off to on. Call with `CURRENT`'s lock held.
fn set_switch(state: u32) {
    let switch = SWITCH.load(Ordering::Relaxed);
    let mut activation = (switch >> 32) as u32;
    if state != 0 && switch as u32 == 0 {
        activation = activation.wrapping_add(1);
    }
    SWITCH.store(
        u64::from(activation) << 32 | u64::from(state),
        Ordering::Relaxed,
    );
}

/// A recording session: its switch value, its rings and its flusher.
pub struct Session {
    /// Non-zero state word this session records under.
    state: u32,
    config: RecorderConfig,
    /// Rings registered since the flusher last took them.
    new_rings: Mutex<Vec<RingReader>>,
    /// Shared with every ring: wakes the flusher, tells producers the
    /// session stopped.
    signal: Arc<DrainSignal>,
    /// Next thread index to hand out (dense, per session).
    next_thread: AtomicU32,
}

impl Session {
    /// Starts a session; fails if one is running.
    pub fn begin(config: RecorderConfig) -> Result<Arc<Session>, SessionError> {
        if config.capacity < 2 {
            return Err(SessionError::CapacityTooSmall(config.capacity));
        }
        let mut current = CURRENT.lock().unwrap_or_else(PoisonError::into_inner);
        if current.is_some() {
            return Err(SessionError::AlreadyActive);
        }
        let epoch = EPOCH.fetch_add(1, Ordering::Relaxed).wrapping_add(1) & (u32::MAX >> 1);
        let epoch = epoch.max(1);
        let state = (epoch << 1) | if config.time_trace { TIMED } else { 0 };
        let session = Arc::new(Session {
            state,
            config,
            new_rings: Mutex::new(Vec::new()),
            signal: Arc::new(DrainSignal::default()),
            next_thread: AtomicU32::new(0),
        });
        *current = Some(session.clone());
        if config.activated {
            set_switch(state);
        }
        Ok(session)
    }

    /// The running session, if any.
    pub fn current() -> Option<Arc<Session>> {
        CURRENT
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The session's configuration.
    pub fn config(&self) -> &RecorderConfig {
        &self.config
    }

    /// Turns recording on or off at run time. Regions entered while off are
    /// not recorded; regions open across a switch are recorded normally.
    pub fn set_active(&self, active: bool) {
        let current = CURRENT.lock().unwrap_or_else(PoisonError::into_inner);
        if current.as_ref().is_some_and(|s| s.state == self.state) {
            set_switch(if active { self.state } else { 0 });
        }
    }

    /// Ends the session: no region entered from now on is recorded, blocked
    /// producers give up (counting their record as dropped), and the session
    /// is no longer [`current`](Self::current). Records already in rings stay
    /// there for the flusher's final drain.
    pub fn stop(&self) {
        let mut current = CURRENT.lock().unwrap_or_else(PoisonError::into_inner);
        if current.as_ref().is_some_and(|s| s.state == self.state) {
            set_switch(0);
            *current = None;
        }
        self.signal.finish();
    }

    /// Whether [`stop`](Self::stop) has run.
    pub fn is_finished(&self) -> bool {
        self.signal.is_finished()
    }

    /// Registers the thread to wake when a ring passes half full.
    pub fn set_flusher(&self, thread: Thread) {
        self.signal.set_flusher(thread);
    }

    /// Hands the flusher every ring registered since its last call.
    pub fn take_new_rings(&self) -> Vec<RingReader> {
        std::mem::take(
            &mut *self
                .new_rings
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    #[cfg(test)]
    pub(crate) fn state_word(&self) -> u32 {
        self.state
    }

    /// A new ring for the calling thread (named after it): its producer half is returned,
    /// its consumer half waits for the flusher's next
    /// [`take_new_rings`](Self::take_new_rings).
    pub(crate) fn new_ring(&self) -> ThreadBuffer {
        let spec = RingSpec {
            capacity: self.config.capacity,
            overflow: self.config.overflow,
            state: self.state,
            thread_index: self.next_thread.fetch_add(1, Ordering::Relaxed),
            thread_name: std::thread::current().name().map(ToOwned::to_owned),
        };
        let (buffer, reader) = ThreadBuffer::new(spec, self.signal.clone());
        self.new_rings
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(reader);
        buffer
    }

    /// Threads that have recorded in this session.
    pub fn thread_count(&self) -> u32 {
        self.next_thread.load(Ordering::Relaxed)
    }

    /// Runs `register` with the running session if its state word is
    /// `state`, holding the session lock so that [`stop`](Self::stop) comes
    /// strictly before or after: a ring registered here is always seen by the
    /// flusher's final drain.
    pub(crate) fn with_current<R>(
        state: u32,
        register: impl FnOnce(&Arc<Session>) -> R,
    ) -> Option<R> {
        let current = CURRENT.lock().unwrap_or_else(PoisonError::into_inner);
        current.as_ref().filter(|s| s.state == state).map(register)
    }
}

/// Whether regions entered now are recorded (one relaxed load).
#[inline(always)]
pub fn is_recording() -> bool {
    state() != 0
}

/// What one look at the switch saw while recording: the session's state
/// word and the activation count. See [`recording`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recording {
    pub(crate) state: u32,
    activation: u32,
}

impl Recording {
    /// A number that changes every time recording switches on. Caches of
    /// facts observed only while recording (the subscriber's span → region
    /// cache) compare it to tell that they may have missed events while
    /// recording was off.
    pub fn activation(&self) -> u32 {
        self.activation
    }
}

/// The switch, when recording: `None` when not. One load of the switch
/// serves both the activation check and [`CallStart::at`](crate::CallStart::at).
#[inline(always)]
pub fn recording() -> Option<Recording> {
    let switch = SWITCH.load(Ordering::Relaxed);
    let state = switch as u32;
    if state == 0 {
        return None;
    }
    Some(Recording {
        state,
        activation: (switch >> 32) as u32,
    })
}
