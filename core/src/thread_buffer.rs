//! Per-thread rings: the producer half ([`ThreadBuffer`], owned by the
//! recording thread) and the consumer half ([`RingReader`], owned by the
//! flusher).
//!
//! The ring is `rtrb`'s wait-free SPSC ring buffer (Acquire/Release on
//! head/tail, producer and consumer indices on separate cache lines), the same
//! choice fastrace makes in `util/spsc.rs`. We wrap it rather than write one:
//! `benches/overhead.rs` shows the whole timed enter+exit within a few ns of
//! two raw TSC reads, so the crate is not in the way.
//!
//! A ring outlives its thread: when the thread exits, its producer half is
//! dropped, the flusher drains what is left and then drops the ring.

use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use rtrb::{Consumer, Producer, RingBuffer};

use crate::clock;
use crate::record::Record;
use crate::session::{OverflowPolicy, Session};

/// Counters a recording thread updates and the flusher reads.
#[derive(Debug, Default)]
pub struct RingCounters {
    /// Regions entered on this thread and not yet exited. Written only by the
    /// owning thread (relaxed load + store); read at finalize.
    pub open: AtomicU32,
    /// Records dropped because the ring was full (policy `Drop`) or because
    /// the session ended while the thread waited for room (policy `Block`).
    pub dropped: AtomicU64,
    /// Nanoseconds the thread spent waiting for room (policy `Block`).
    pub blocked_ns: AtomicU64,
}

/// The producer half of a thread's ring, kept in thread-local storage.
pub struct ThreadBuffer {
    /// State word of the session this ring belongs to.
    state: u32,
    producer: Producer<Record>,
    counters: Arc<RingCounters>,
    session: Arc<Session>,
    /// Pushes left until the flusher is woken; reset to half the capacity.
    until_wake: u32,
    half: u32,
    policy: OverflowPolicy,
}

/// The consumer half of a thread's ring, owned by the flusher.
pub struct RingReader {
    thread_index: u32,
    consumer: Consumer<Record>,
    counters: Arc<RingCounters>,
}

impl RingReader {
    /// Dense per-session index of the thread that owns the ring.
    pub fn thread_index(&self) -> u32 {
        self.thread_index
    }

    /// The thread's counters.
    pub fn counters(&self) -> &RingCounters {
        &self.counters
    }

    /// Hands every record now in the ring to `sink` (in at most two slices,
    /// oldest first) and frees their slots. Returns how many were drained.
    pub fn drain(&mut self, mut sink: impl FnMut(&[Record])) -> usize {
        let n = self.consumer.slots();
        if n == 0 {
            return 0;
        }
        match self.consumer.read_chunk(n) {
            Ok(chunk) => {
                let (a, b) = chunk.as_slices();
                sink(a);
                if !b.is_empty() {
                    sink(b);
                }
                chunk.commit_all();
                n
            }
            // `slots()` said n are readable and only we consume: unreachable,
            // but nothing is lost by trying again next round.
            Err(_) => 0,
        }
    }

    /// True once the owning thread has exited and the ring is empty: the
    /// flusher may drop it.
    pub fn is_finished(&self) -> bool {
        self.consumer.is_abandoned() && self.consumer.is_empty()
    }
}

impl ThreadBuffer {
    fn new(session: Arc<Session>) -> (ThreadBuffer, RingReader) {
        let config = *session.config();
        let (producer, consumer) = RingBuffer::new(config.capacity);
        let counters = Arc::new(RingCounters::default());
        let half = (config.capacity / 2).clamp(1, u32::MAX as usize) as u32;
        let reader = RingReader {
            thread_index: session.next_thread_index(),
            consumer,
            counters: counters.clone(),
        };
        let buffer = ThreadBuffer {
            state: session.state_word(),
            producer,
            counters,
            session,
            until_wake: half,
            half,
            policy: config.overflow,
        };
        (buffer, reader)
    }

    #[inline(always)]
    fn push(&mut self, record: Record) {
        if self.producer.push(record).is_err() {
            self.push_full(record);
        }
        self.until_wake -= 1;
        if self.until_wake == 0 {
            self.wake();
        }
    }

    #[cold]
    #[inline(never)]
    fn wake(&mut self) {
        self.until_wake = self.half;
        self.session.wake_flusher();
    }

    #[cold]
    #[inline(never)]
    fn push_full(&mut self, record: Record) {
        match self.policy {
            OverflowPolicy::Drop => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
            OverflowPolicy::Block => {
                let began = clock::monotonic_ns();
                loop {
                    self.session.wake_flusher();
                    std::thread::yield_now();
                    if self.producer.push(record).is_ok() {
                        break;
                    }
                    if self.session.is_finished() {
                        // Nobody will drain this ring again.
                        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                }
                let waited = (clock::monotonic_ns() - began).max(0) as u64;
                self.counters
                    .blocked_ns
                    .fetch_add(waited, Ordering::Relaxed);
            }
        }
    }
}

/// Thread-local home of the thread's [`ThreadBuffer`].
struct LocalSlot {
    buffer: UnsafeCell<Option<ThreadBuffer>>,
}

thread_local! {
    static LOCAL: LocalSlot = const { LocalSlot { buffer: UnsafeCell::new(None) } };
}

/// Marks a region open on this thread's ring for session `state`,
/// registering a ring first if the thread has none for that session.
/// Returns false if the session ended meanwhile (the region is not recorded).
#[inline(always)]
pub(crate) fn open_region(state: u32) -> bool {
    LOCAL
        .try_with(|slot| {
            // SAFETY: `LOCAL` is thread-local, so only this thread reaches the
            // cell, and no other borrow of it is live: `open_region` and
            // `close_region` never call back into user code or each other.
            let buffer = unsafe { &mut *slot.buffer.get() };
            match buffer {
                Some(b) if b.state == state => {
                    // Relaxed load + store: only this thread writes `open`;
                    // finalize reads it after stopping the session.
                    let open = b.counters.open.load(Ordering::Relaxed);
                    b.counters.open.store(open + 1, Ordering::Relaxed);
                    true
                }
                _ => register(buffer, state, 1),
            }
        })
        .unwrap_or(false)
}

/// Writes one call measured by the caller into this thread's ring for
/// session `state`, registering a ring first if needed. Does not touch the
/// open-region count: the caller tracks its own open calls.
#[inline]
pub(crate) fn push_call(state: u32, record: Record) -> bool {
    LOCAL
        .try_with(|slot| {
            // SAFETY: as in `open_region`: thread-local, no other live borrow.
            let buffer = unsafe { &mut *slot.buffer.get() };
            let ready = match buffer {
                Some(b) if b.state == state => true,
                _ => register(buffer, state, 0),
            };
            if let (true, Some(b)) = (ready, buffer.as_mut()) {
                b.push(record);
                return true;
            }
            false
        })
        .unwrap_or(false)
}

#[cold]
#[inline(never)]
fn register(buffer: &mut Option<ThreadBuffer>, state: u32, open: u32) -> bool {
    let fresh = Session::with_current(state, |session| {
        let (fresh, reader) = ThreadBuffer::new(session.clone());
        fresh.counters.open.store(open, Ordering::Relaxed);
        session.register_ring(reader);
        fresh
    });
    match fresh {
        Some(fresh) => {
            // Dropping the previous session's producer lets that ring be freed.
            *buffer = Some(fresh);
            true
        }
        None => false,
    }
}

/// Writes `record` for a region opened under `state` and marks it closed.
/// A region whose session has since been replaced on this thread is not
/// written: that session's finalize counted it as open (dropped).
#[inline(always)]
pub(crate) fn close_region(state: u32, record: Record) {
    let _ = LOCAL.try_with(|slot| {
        // SAFETY: as in `open_region`: thread-local, no other live borrow.
        let buffer = unsafe { &mut *slot.buffer.get() };
        if let Some(b) = buffer {
            if b.state == state {
                // Push before the decrement: finalize reads `open` and then
                // drains, so a record it misses was still counted as open.
                b.push(record);
                let open = b.counters.open.load(Ordering::Relaxed);
                b.counters
                    .open
                    .store(open.saturating_sub(1), Ordering::Relaxed);
            }
        }
    });
}
