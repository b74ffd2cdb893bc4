//! Per-thread rings: the producer half ([`ThreadBuffer`], owned by the
//! recording thread) and the consumer half ([`RingReader`], owned by the
//! flusher).
//!
//! The ring is `rtrb`'s wait-free SPSC ring buffer (Acquire/Release on
//! head/tail, producer and consumer indices on separate cache lines), the same
//! choice fastrace makes in `util/spsc.rs`. We wrap it rather than write one:
//! `benches/overhead.rs` shows the whole timed enter+exit within a few ns of
//! two raw TSC reads, so the crate is not in the way. We write through its
//! chunk API rather than `push` (`ThreadBuffer::write` says why).
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
        if !self.consumer.is_abandoned() {
            return false;
        }
        // `is_abandoned` is a relaxed load (rtrb issue #114): without this
        // fence a weakly ordered CPU may show the producer gone but not its
        // last pushes, and the ring would be dropped with records in it.
        // Miri found it (`records_from_several_threads_arrive_once_and_in_order`).
        std::sync::atomic::fence(Ordering::Acquire);
        self.consumer.is_empty()
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
        if !self.write(record) {
            self.push_full(record);
        }
        self.until_wake -= 1;
        if self.until_wake == 0 {
            self.wake();
        }
    }

    /// Writes `record` into the ring's next free slot, field by field from
    /// registers; false if the ring is full.
    ///
    /// Not `Producer::push`: it takes the record by value and copies it into
    /// the slot through the stack, with a 16-byte load over two 8-byte
    /// stores and an 8-byte load over a 4-byte one, which defeats
    /// store-to-load forwarding; inside `tracing-subscriber`'s callbacks
    /// that stall shows (`benches/tracing_paired.rs`, the `CallStart` row).
    #[inline(always)]
    fn write(&mut self, record: Record) -> bool {
        let Ok(mut chunk) = self.producer.write_chunk_uninit(1) else {
            return false;
        };
        // A chunk of one slot: rtrb documents that the first slice is empty
        // only when no slot was requested.
        let slot = chunk.as_mut_slices().0.as_mut_ptr().cast::<Record>();
        // SAFETY: `slot` is the chunk's one slot, ours alone until the
        // commit; each field is written in place without reading it, and
        // all three are written before `commit_all` hands the slot to the
        // consumer (padding may stay uninitialised in a `Copy` record).
        unsafe {
            (&raw mut (*slot).start).write(record.start);
            (&raw mut (*slot).end).write(record.end);
            (&raw mut (*slot).region).write(record.region);
            chunk.commit_all();
        }
        true
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
                    if self.write(record) {
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

/// This thread's ring slot; `None` once the thread's thread-locals are being
/// destroyed.
///
/// Only the pointer leaves `try_with`, so a caller's record stays in
/// registers instead of passing through a closure's environment, where
/// LLVM reloads it with wider loads than the stores that wrote it (see
/// [`ThreadBuffer::write`]).
///
/// Dereferencing it is sound for the rest of the calling function: the slot
/// lives until this thread's thread-locals are destroyed, which cannot begin
/// while this thread runs the caller, and no other reference to it is live,
/// since `open_region`, `push_call` and `close_region` never call back into
/// user code or each other.
#[inline(always)]
fn local_buffer() -> Option<*mut Option<ThreadBuffer>> {
    LOCAL.try_with(|slot| slot.buffer.get()).ok()
}

/// Marks a region open on this thread's ring for session `state`,
/// registering a ring first if the thread has none for that session.
/// Returns false if the session ended meanwhile (the region is not recorded).
#[inline(always)]
pub(crate) fn open_region(state: u32) -> bool {
    let Some(buffer) = local_buffer() else {
        return false;
    };
    // SAFETY: see `local_buffer`.
    let buffer = unsafe { &mut *buffer };
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
}

/// Writes one call measured by the caller into this thread's ring for
/// session `state`, registering a ring first if needed. Does not touch the
/// open-region count: the caller tracks its own open calls.
#[inline(always)]
pub(crate) fn push_call(state: u32, record: Record) -> bool {
    let Some(buffer) = local_buffer() else {
        return false;
    };
    // SAFETY: see `local_buffer`.
    let buffer = unsafe { &mut *buffer };
    let ready = match buffer {
        Some(b) if b.state == state => true,
        _ => register(buffer, state, 0),
    };
    if let (true, Some(b)) = (ready, buffer.as_mut()) {
        b.push(record);
        return true;
    }
    false
}

#[cold]
#[inline(never)]
fn register(buffer: &mut Option<ThreadBuffer>, state: u32, open: u32) -> bool {
    // No session has state 0 (`CallStart::inactive`): refuse without the lock.
    if state == 0 {
        return false;
    }
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
    let Some(buffer) = local_buffer() else {
        return;
    };
    // SAFETY: see `local_buffer`.
    if let Some(b) = unsafe { &mut *buffer } {
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
}

/// The ring's contract: every record a thread writes reaches the flusher,
/// once, in order, across wrap-around, blocking and thread exit; a full ring
/// under `Drop` counts each record it loses. Small enough to run under Miri
/// (`cargo +nightly miri test -p scope-profiler-core thread_buffer`), which
/// checks the `unsafe` thread-local access and the ring's memory accesses.
#[cfg(test)]
mod tests {
    use std::sync::{Mutex, PoisonError};

    use super::*;
    use crate::session::RecorderConfig;
    use crate::RegionId;

    /// One session per process at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    fn session(capacity: usize, overflow: OverflowPolicy) -> Arc<Session> {
        Session::begin(RecorderConfig {
            capacity,
            overflow,
            time_trace: false,
            activated: true,
        })
        .unwrap()
    }

    /// Record `seq` of thread `thread`.
    fn record(thread: u32, seq: u64) -> Record {
        Record {
            start: seq,
            end: seq + 1,
            region: RegionId(thread),
        }
    }

    #[test]
    fn records_from_several_threads_arrive_once_and_in_order() {
        let _one = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        const PER_THREAD: u64 = 300;
        // 8 slots: each ring wraps ~40 times and its producer blocks.
        let session = session(8, OverflowPolicy::Block);
        session.set_flusher(std::thread::current());
        let state = session.state_word();
        let producers: Vec<_> = (0..2u32)
            .map(|t| {
                std::thread::spawn(move || {
                    (0..PER_THREAD).all(|seq| push_call(state, record(t, seq)))
                })
            })
            .collect();
        let mut readers = Vec::new();
        let mut seen = [Vec::new(), Vec::new()];
        loop {
            readers.extend(session.take_new_rings());
            for reader in &mut readers {
                reader.drain(|records| {
                    for r in records {
                        seen[r.region.0 as usize].push(r.start);
                    }
                });
            }
            let done = producers.iter().all(|p| p.is_finished());
            readers.retain(|r| !r.is_finished());
            if done && readers.is_empty() && session.take_new_rings().is_empty() {
                break;
            }
            std::thread::yield_now();
        }
        for p in producers {
            assert!(p.join().unwrap(), "a push was refused");
        }
        session.stop();
        let expected: Vec<u64> = (0..PER_THREAD).collect();
        assert_eq!(seen[0], expected);
        assert_eq!(seen[1], expected);
    }

    #[test]
    fn an_inactive_call_start_records_nothing_with_or_without_a_session() {
        let _one = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(!crate::CallStart::inactive().finish(RegionId(1)));
        let session = session(4, OverflowPolicy::Drop);
        assert!(!crate::CallStart::inactive().finish(RegionId(1)));
        // A started call on the same thread does arrive: the ring works.
        assert!(crate::CallStart::now().unwrap().finish(RegionId(2)));
        let mut regions = Vec::new();
        for mut reader in session.take_new_rings() {
            reader.drain(|records| regions.extend(records.iter().map(|r| r.region)));
        }
        session.stop();
        assert_eq!(regions, [RegionId(2)]);
    }

    #[test]
    fn a_full_ring_under_drop_counts_every_lost_record() {
        let _one = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        let session = session(4, OverflowPolicy::Drop);
        let state = session.state_word();
        let (pushed, drained, dropped) = std::thread::spawn(move || {
            let pushed = (0..10)
                .filter(|&seq| push_call(state, record(0, seq)))
                .count();
            let mut reader = session.take_new_rings().pop().unwrap();
            let mut drained = Vec::new();
            reader.drain(|records| drained.extend(records.iter().map(|r| r.start)));
            let dropped = reader.counters().dropped.load(Ordering::Relaxed);
            session.stop();
            (pushed, drained, dropped)
        })
        .join()
        .unwrap();
        assert_eq!(pushed, 10, "push_call reports the call as taken");
        assert_eq!(drained, [0, 1, 2, 3]);
        assert_eq!(dropped, 6);
    }

    #[test]
    fn a_ring_outlives_its_thread_until_drained() {
        let _one = SERIAL.lock().unwrap_or_else(PoisonError::into_inner);
        let session = session(16, OverflowPolicy::Block);
        let state = session.state_word();
        std::thread::spawn(move || {
            assert!(open_region(state));
            close_region(state, record(7, 1));
            push_call(state, record(7, 2));
        })
        .join()
        .unwrap();
        let mut reader = session.take_new_rings().pop().unwrap();
        assert!(!reader.is_finished(), "records are still in it");
        let mut drained = Vec::new();
        reader.drain(|records| drained.extend_from_slice(records));
        assert_eq!(drained, [record(7, 1), record(7, 2)]);
        assert!(reader.is_finished());
        assert_eq!(reader.counters().open.load(Ordering::Relaxed), 0);
        session.stop();
    }
}
