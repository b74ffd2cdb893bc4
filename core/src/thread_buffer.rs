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
//!
//! A ring knows nothing of sessions: it is handed a `DrainSignal`, the
//! one thing it needs from the outside (wake the flusher; has the run ended).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::Thread;

use rtrb::{Consumer, Producer, RingBuffer};

use crate::clock::{self, Ticks};
use crate::record::Record;
use crate::RegionId;

/// What a producer does when its ring is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OverflowPolicy {
    /// Wake the flusher and yield until there is room. Nothing is lost; the
    /// time spent waiting is counted per thread (`blocked_ns` in the file).
    #[default]
    Block,
    /// Drop the record and count it per thread (`dropped_events` in the file).
    Drop,
}

/// The link between the rings of a run and the thread that drains them:
/// producers wake the flusher through it and learn that the run ended.
#[derive(Debug, Default)]
pub(crate) struct DrainSignal {
    /// The flusher thread, woken when a ring passes half full; `None`
    /// before one is registered.
    flusher: Mutex<Option<Thread>>,
    /// Set once when the run stops; a blocked producer then gives up.
    finished: AtomicBool,
}

impl DrainSignal {
    /// Registers the thread to wake.
    pub(crate) fn set_flusher(&self, thread: Thread) {
        *self.flusher.lock().unwrap_or_else(PoisonError::into_inner) = Some(thread);
    }

    /// Wakes the flusher (a no-op before one is registered).
    pub(crate) fn wake(&self) {
        if let Some(thread) = self
            .flusher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            thread.unpark();
        }
    }

    /// Marks the run ended: nobody will drain a ring again after its final
    /// drain, so blocked producers give up.
    pub(crate) fn finish(&self) {
        // Release: pairs with the Acquire in `is_finished`.
        self.finished.store(true, Ordering::Release);
    }

    /// Whether [`finish`](Self::finish) has run.
    pub(crate) fn is_finished(&self) -> bool {
        self.finished.load(Ordering::Acquire)
    }
}

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

/// The (start, end) of a ring's [`Record::LONG`] calls, oldest first:
/// pushed by the producer before it commits the record, popped by the
/// reader as it reads the record. At most one entry per record in the
/// ring, so bounded by the ring's capacity; its lock is taken once per long
/// call (one that lasts 2³² − 1 ticks or more, over a second, or that ends
/// at a lower tick reading than it started, as on a core whose TSC lags),
/// never on the common path.
type LongEnds = Arc<Mutex<VecDeque<(Ticks, Ticks)>>>;

/// The producer half of a thread's ring, kept in thread-local storage.
pub struct ThreadBuffer {
    /// State word of the session this ring belongs to.
    pub(crate) state: u32,
    producer: Producer<Record>,
    long_ends: LongEnds,
    pub(crate) counters: Arc<RingCounters>,
    signal: Arc<DrainSignal>,
    /// Pushes left until the flusher is woken; reset to half the capacity.
    until_wake: u32,
    half: u32,
    policy: OverflowPolicy,
}

/// The consumer half of a thread's ring, owned by the flusher.
pub struct RingReader {
    thread_index: u32,
    /// The owning thread's name, if it had one when the ring was made.
    thread_name: Option<String>,
    consumer: Consumer<Record>,
    long_ends: LongEnds,
    counters: Arc<RingCounters>,
}

/// Gives the end of each drained record: handed to
/// [`RingReader::drain`]'s sink beside the records.
pub struct CallEnds<'a> {
    long_ends: &'a Mutex<VecDeque<(Ticks, Ticks)>>,
}

impl CallEnds<'_> {
    /// The tick reading at `record`'s exit. For a [`Record::LONG`] call
    /// this takes its end from beside the ring: ask for the end of each
    /// long call once, in the order drained (asking for every record's
    /// end does that). A long call skipped is dropped from beside the ring
    /// when a later one is asked for; a long call asked for again, whose
    /// end is gone, is given its start (0 ticks long).
    #[inline(always)]
    pub fn end(&self, record: &Record) -> Ticks {
        if record.duration != Record::LONG {
            return record.start.wrapping_add(u64::from(record.duration));
        }
        self.long_end(record)
    }

    /// Pops the ends up to `record`'s (matched by its start), or none if
    /// its end is not there.
    #[cold]
    #[inline(never)]
    fn long_end(&self, record: &Record) -> Ticks {
        let mut ends = self
            .long_ends
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match ends.iter().position(|&(start, _)| start == record.start) {
            Some(at) => ends
                .drain(..=at)
                .next_back()
                .map_or(record.start, |(_, end)| end),
            None => record.start,
        }
    }
}

impl RingReader {
    /// Dense per-session index of the thread that owns the ring.
    pub fn thread_index(&self) -> u32 {
        self.thread_index
    }

    /// The owning thread's name (`std::thread::Builder::name`), taken once
    /// when the ring was made; `None` for an unnamed thread.
    pub fn thread_name(&self) -> Option<&str> {
        self.thread_name.as_deref()
    }

    /// The thread's counters.
    pub fn counters(&self) -> &RingCounters {
        &self.counters
    }

    /// Hands every record now in the ring to `sink` (in at most two slices,
    /// oldest first, with the [`CallEnds`] that resolves their ends) and
    /// frees their slots. Returns how many were drained.
    pub fn drain(&mut self, mut sink: impl FnMut(&[Record], &CallEnds<'_>)) -> usize {
        let n = self.consumer.slots();
        if n == 0 {
            return 0;
        }
        let ends = CallEnds {
            long_ends: &self.long_ends,
        };
        match self.consumer.read_chunk(n) {
            Ok(chunk) => {
                let (a, b) = chunk.as_slices();
                sink(a, &ends);
                if !b.is_empty() {
                    sink(b, &ends);
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

/// How to make a ring: its size, what a full one does, whose it is.
#[derive(Clone, Debug)]
pub(crate) struct RingSpec {
    /// Records the ring holds (at least 2).
    pub(crate) capacity: usize,
    /// What the producer does when the ring is full.
    pub(crate) overflow: OverflowPolicy,
    /// State word of the session the ring records for.
    pub(crate) state: u32,
    /// Dense index of the owning thread in its session.
    pub(crate) thread_index: u32,
    /// The owning thread's name.
    pub(crate) thread_name: Option<String>,
}

impl ThreadBuffer {
    /// A ring made to `spec`: the producer half for the recording thread and
    /// the consumer half for the flusher, linked to it by `signal`.
    pub(crate) fn new(spec: RingSpec, signal: Arc<DrainSignal>) -> (ThreadBuffer, RingReader) {
        let (producer, consumer) = RingBuffer::new(spec.capacity);
        let counters = Arc::new(RingCounters::default());
        let long_ends = LongEnds::default();
        let half = (spec.capacity / 2).clamp(1, u32::MAX as usize) as u32;
        let reader = RingReader {
            thread_index: spec.thread_index,
            thread_name: spec.thread_name,
            consumer,
            long_ends: long_ends.clone(),
            counters: counters.clone(),
        };
        let buffer = ThreadBuffer {
            state: spec.state,
            producer,
            long_ends,
            counters,
            signal,
            until_wake: half,
            half,
            policy: spec.overflow,
        };
        (buffer, reader)
    }

    /// Writes the call of `region` from `start` to `end`, waking the
    /// flusher every half ring; a full ring is handled by the
    /// [`OverflowPolicy`].
    #[inline(always)]
    pub(crate) fn push(&mut self, start: Ticks, end: Ticks, region: RegionId) {
        if !self.write(start, end, region) {
            self.push_full(start, end, region);
        }
        self.until_wake -= 1;
        if self.until_wake == 0 {
            self.wake();
        }
    }

    /// Writes the call as one record, or as a [`Record::LONG`] one with its
    /// end beside the ring; false if the ring is full.
    #[inline(always)]
    fn write(&mut self, start: Ticks, end: Ticks, region: RegionId) -> bool {
        match Record::fitting(start, end, region) {
            Some(record) => self.write_record(record),
            None => self.write_long(start, end, region),
        }
    }

    /// Keeps `end` beside the ring, then writes the call's record with
    /// duration [`Record::LONG`]: the reader finds the end there once it
    /// sees the record (the commit publishes both).
    #[cold]
    #[inline(never)]
    fn write_long(&mut self, start: Ticks, end: Ticks, region: RegionId) -> bool {
        // Checked first so that an end is kept only for a record written:
        // only this thread writes, so a slot free now is free below.
        if self.producer.is_full() {
            return false;
        }
        self.long_ends
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push_back((start, end));
        let written = self.write_record(Record {
            start,
            duration: Record::LONG,
            region,
        });
        debug_assert!(written, "a free slot was checked for");
        written
    }

    /// Writes `record` into the ring's next free slot, field by field from
    /// registers; false if the ring is full.
    ///
    /// Not `Producer::push`: it takes the record by value and copies it into
    /// the slot through the stack, with loads wider than the stores that
    /// wrote it, which defeats store-to-load forwarding; inside
    /// `tracing-subscriber`'s callbacks that stall showed with the 24-byte
    /// record (`benches/tracing_paired.rs`, the `CallStart` row).
    #[inline(always)]
    fn write_record(&mut self, record: Record) -> bool {
        let Ok(mut chunk) = self.producer.write_chunk_uninit(1) else {
            return false;
        };
        // A chunk of one slot: rtrb documents that the first slice is empty
        // only when no slot was requested.
        let slot = chunk.as_mut_slices().0.as_mut_ptr().cast::<Record>();
        // SAFETY: `slot` is the chunk's one slot, ours alone until the
        // commit; each field is written in place without reading it, and
        // all three (the whole record: it has no padding) are written
        // before `commit_all` hands the slot to the consumer.
        unsafe {
            (&raw mut (*slot).start).write(record.start);
            (&raw mut (*slot).duration).write(record.duration);
            (&raw mut (*slot).region).write(record.region);
            chunk.commit_all();
        }
        true
    }

    #[cold]
    #[inline(never)]
    fn wake(&mut self) {
        self.until_wake = self.half;
        self.signal.wake();
    }

    #[cold]
    #[inline(never)]
    fn push_full(&mut self, start: Ticks, end: Ticks, region: RegionId) {
        match self.policy {
            OverflowPolicy::Drop => {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
            }
            OverflowPolicy::Block => {
                let began = clock::monotonic_ns();
                loop {
                    self.signal.wake();
                    std::thread::yield_now();
                    if self.write(start, end, region) {
                        break;
                    }
                    if self.signal.is_finished() {
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

/// The ring on its own: records pushed arrive once and in order across
/// wrap-around, and a full ring under `Drop` counts what it loses. Small
/// enough for Miri. End-to-end tests with sessions and threads are in
/// `local.rs`.
#[cfg(test)]
mod tests {
    use super::*;

    fn ring(capacity: usize, overflow: OverflowPolicy) -> (ThreadBuffer, RingReader) {
        let spec = RingSpec {
            capacity,
            overflow,
            state: 2,
            thread_index: 0,
            thread_name: None,
        };
        ThreadBuffer::new(spec, Arc::new(DrainSignal::default()))
    }

    /// Call `seq`: every third one lasts `Record::LONG` ticks or more.
    fn call(seq: u64) -> (Ticks, Ticks) {
        let long = if seq % 3 == 1 {
            u64::from(Record::LONG)
        } else {
            0
        };
        (seq, seq + 1 + long * seq)
    }

    fn push(producer: &mut ThreadBuffer, seq: u64) {
        let (start, end) = call(seq);
        producer.push(start, end, RegionId(0));
    }

    /// Drains `reader`, appending each record's (start, end).
    fn drain_into(reader: &mut RingReader, seen: &mut Vec<(Ticks, Ticks)>) {
        reader.drain(|records, ends| seen.extend(records.iter().map(|r| (r.start, ends.end(r)))));
    }

    #[test]
    fn records_wrap_around_and_arrive_once_in_order_with_their_ends() {
        let (mut producer, mut reader) = ring(4, OverflowPolicy::Drop);
        let mut seen = Vec::new();
        for seq in 0..10 {
            push(&mut producer, seq);
            if seq % 3 == 2 {
                drain_into(&mut reader, &mut seen);
            }
        }
        drain_into(&mut reader, &mut seen);
        assert_eq!(seen, (0..10).map(call).collect::<Vec<_>>());
        assert_eq!(reader.counters().dropped.load(Ordering::Relaxed), 0);
        assert!(reader.long_ends.lock().unwrap().is_empty());
        assert!(!reader.is_finished(), "the producer is alive");
        drop(producer);
        assert!(reader.is_finished());
    }

    #[test]
    fn a_long_call_dropped_from_a_full_ring_keeps_no_end() {
        let (mut producer, mut reader) = ring(2, OverflowPolicy::Drop);
        for seq in [0, 2, 1, 4] {
            push(&mut producer, seq); // 1 and 4 are long; the ring holds 0 and 2
        }
        assert_eq!(reader.counters().dropped.load(Ordering::Relaxed), 2);
        push(&mut producer, 7); // ignored: the ring is still full
        let mut seen = Vec::new();
        drain_into(&mut reader, &mut seen);
        push(&mut producer, 10);
        drain_into(&mut reader, &mut seen);
        assert_eq!(seen, [call(0), call(2), call(10)]);
    }

    #[test]
    fn a_blocked_producer_gives_up_once_the_run_is_finished() {
        let (mut producer, reader) = ring(2, OverflowPolicy::Block);
        push(&mut producer, 0);
        push(&mut producer, 1);
        producer.signal.finish();
        push(&mut producer, 4); // full and finished: counted, not waited for
        assert_eq!(reader.counters().dropped.load(Ordering::Relaxed), 1);
        let ends = reader.long_ends.lock().unwrap();
        assert_eq!(*ends, [call(1)], "only the long call written keeps its end");
    }

    #[test]
    fn a_long_call_skipped_or_asked_for_twice_leaves_the_others_right() {
        let (mut producer, mut reader) = ring(8, OverflowPolicy::Drop);
        for seq in [1, 0, 4, 7] {
            push(&mut producer, seq); // 1, 4 and 7 are long
        }
        let mut ends = Vec::new();
        reader.drain(|records, call_ends| {
            // Skips the first long call, asks for the second twice.
            for r in &records[2..] {
                ends.push(call_ends.end(r));
                ends.push(call_ends.end(r));
            }
        });
        let [(_, end_4), (_, end_7)] = [call(4), call(7)];
        assert_eq!(ends, [end_4, 4, end_7, 7]);
        assert!(reader.long_ends.lock().unwrap().is_empty());
    }
}
