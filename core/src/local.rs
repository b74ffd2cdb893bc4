//! This thread's ring: the thread-local slot that holds the producer half
//! of the thread's [`ThreadBuffer`], and the three calls the guards make
//! (open a region, write a call, close a region). A thread gets a ring on
//! its first recorded call of a session, registered with that session under
//! its lock.

use std::cell::UnsafeCell;
use std::sync::atomic::Ordering;

use crate::clock::Ticks;
use crate::registry::RegionId;
use crate::session::Session;
use crate::thread_buffer::ThreadBuffer;

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
/// Only the pointer leaves `try_with`, so a caller's call stays in
/// registers instead of passing through a closure's environment, where
/// LLVM reloads it with wider loads than the stores that wrote it (see
/// `ThreadBuffer::write_record`).
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

/// Writes one call of `region` from `start` to `end`, measured by the
/// caller, into this thread's ring for session `state`, registering a ring
/// first if needed. Does not touch the open-region count: the caller tracks
/// its own open calls.
#[inline(always)]
pub(crate) fn push_call(state: u32, start: Ticks, end: Ticks, region: RegionId) -> bool {
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
        b.push(start, end, region);
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
        let fresh = session.new_ring();
        fresh.counters.open.store(open, Ordering::Relaxed);
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

/// Writes the call of `region` from `start` to `end`, opened under
/// `state`, and marks it closed. A region whose session has since been
/// replaced on this thread is not written: that session's finalize counted
/// it as open (dropped).
#[inline(always)]
pub(crate) fn close_region(state: u32, start: Ticks, end: Ticks, region: RegionId) {
    let Some(buffer) = local_buffer() else {
        return;
    };
    // SAFETY: see `local_buffer`.
    if let Some(b) = unsafe { &mut *buffer } {
        if b.state == state {
            // Push before the decrement: finalize reads `open` and then
            // drains, so a record it misses was still counted as open.
            b.push(start, end, region);
            let open = b.counters.open.load(Ordering::Relaxed);
            b.counters
                .open
                .store(open.saturating_sub(1), Ordering::Relaxed);
        }
    }
}

/// The ring's contract end to end: every record a thread writes reaches the
/// flusher, once, in order, across wrap-around, blocking and thread exit; a
/// full ring under `Drop` counts each record it loses. Small enough to run
/// under Miri (`cargo +nightly miri test -p scope-profiler-core -- thread_buffer local`),
/// which checks the `unsafe` thread-local access and the ring's memory accesses.
#[cfg(test)]
mod tests {
    use std::sync::{Mutex, PoisonError};

    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    use super::*;
    use crate::session::RecorderConfig;
    use crate::thread_buffer::RingReader;
    use crate::Record;
    use crate::{OverflowPolicy, RegionId};

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

    /// Call `seq` of thread `thread`, as (start, end, region); every
    /// fifth lasts `Record::LONG` ticks or more.
    fn call(thread: u32, seq: u64) -> (Ticks, Ticks, RegionId) {
        let long = if seq % 5 == 4 {
            u64::from(Record::LONG)
        } else {
            0
        };
        (seq, seq + 1 + long, RegionId(thread))
    }

    fn push(state: u32, (start, end, region): (Ticks, Ticks, RegionId)) -> bool {
        push_call(state, start, end, region)
    }

    /// Drains `reader`, appending each call as [`call`] gives it.
    fn drain_into(reader: &mut RingReader, calls: &mut Vec<(Ticks, Ticks, RegionId)>) {
        reader.drain(|records, ends| {
            calls.extend(records.iter().map(|r| (r.start, ends.end(r), r.region)))
        });
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
                std::thread::spawn(move || (0..PER_THREAD).all(|seq| push(state, call(t, seq))))
            })
            .collect();
        let mut readers = Vec::new();
        let mut seen = [Vec::new(), Vec::new()];
        loop {
            readers.extend(session.take_new_rings());
            for reader in &mut readers {
                let mut calls = Vec::new();
                drain_into(reader, &mut calls);
                for c in calls {
                    seen[c.2 .0 as usize].push(c);
                }
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
        for (t, seen) in seen.iter().enumerate() {
            let expected: Vec<_> = (0..PER_THREAD).map(|seq| call(t as u32, seq)).collect();
            assert_eq!(*seen, expected);
        }
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
            reader.drain(|records, _| regions.extend(records.iter().map(|r| r.region)));
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
            let pushed = (0..10).filter(|&seq| push(state, call(0, seq))).count();
            let mut reader = session.take_new_rings().pop().unwrap();
            let mut drained = Vec::new();
            reader.drain(|records, _| drained.extend(records.iter().map(|r| r.start)));
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
            let (start, end, region) = call(7, 4);
            close_region(state, start, end, region);
            push(state, call(7, 2));
        })
        .join()
        .unwrap();
        let mut reader = session.take_new_rings().pop().unwrap();
        assert!(!reader.is_finished(), "records are still in it");
        let mut drained = Vec::new();
        drain_into(&mut reader, &mut drained);
        assert_eq!(drained, [call(7, 4), call(7, 2)]);
        assert!(reader.is_finished());
        assert_eq!(reader.counters().open.load(Ordering::Relaxed), 0);
        session.stop();
    }
}
