//! Per-thread span state shared by the layer and the subscriber: borrowing
//! it from a thread-local, and the stack of spans entered on the thread.
//!
//! The layer and the subscriber each keep what their callbacks touch on
//! every span in one thread-local of fixed size with no destructor. std
//! reaches such a thread-local at a fixed offset from the thread pointer;
//! one with a destructor is first checked for whether its destructor is
//! registered yet, a load and a branch on every access, and the possible
//! registration call makes the callback save more registers. What needs the
//! heap (the callsite map, entered spans nested deeper than
//! [`INLINE_ENTRIES`]) lives in thread-locals with destructors that only
//! the rare paths reach. `benches/tracing_paired.rs`, six 1,000-round runs
//! each, before -> after, in floors added: ScopeSubscriber 0.97 -> 0.69
//! (fastest rounds 0.86 -> 0.62), ScopeLayer 1.35 -> 1.23 (1.23 -> 1.17).

use std::cell::RefCell;
use std::thread::LocalKey;

/// Runs `f` on the value in `key`; `None` (nothing done) if a callback runs
/// inside another on this thread (a span made by an instrumented allocator
/// while a table grows), or, for a thread-local with a destructor, while
/// the thread is exiting: that span is not recorded rather than the program
/// panicking.
#[inline(always)]
pub(crate) fn with_local<T: 'static, R>(
    key: &'static LocalKey<RefCell<T>>,
    f: impl FnOnce(&mut T) -> R,
) -> Option<R> {
    key.try_with(|cell| cell.try_borrow_mut().ok().map(|mut value| f(&mut value)))
        .ok()
        .flatten()
}

/// Entries an [`EnteredStack`] holds without the heap: spans nested deeper
/// than this on one thread go to its spill vector.
const INLINE_ENTRIES: usize = 32;

/// The slot of `EnteredStack::values` past the inline entries.
const SPARE: usize = INLINE_ENTRIES;

/// Where an [`EnteredStack`] keeps entries past [`INLINE_ENTRIES`]: a
/// thread-local of its owner's, with a destructor.
pub(crate) type Spill<V> = LocalKey<RefCell<Vec<(u64, V)>>>;

/// Spans entered on this thread and not yet exited, oldest first, each with
/// what its exit needs. The oldest [`INLINE_ENTRIES`] are held inline (no
/// destructor, so the owner's thread-local needs none); newer ones spill
/// into a thread-local vector.
pub(crate) struct EnteredStack<V: Copy + 'static> {
    /// Span ids (`Id::into_u64`) of the inline entries: `ids[..len]`.
    ids: [u64; INLINE_ENTRIES],
    /// What each inline entry's exit needs, beside its id; then the
    /// [`SPARE`] slot, which values to and from the spill vector pass
    /// through.
    values: [V; SPARE + 1],
    len: usize,
    /// Entries in `spill`, all newer than the inline ones. While any are
    /// there, pushes go there too, so the order holds.
    spilled: usize,
    spill: &'static Spill<V>,
}

impl<V: Copy + 'static> EnteredStack<V> {
    /// An empty stack spilling into `spill`; `empty` fills unused slots and
    /// is never handed out.
    pub(crate) const fn new(empty: V, spill: &'static Spill<V>) -> Self {
        EnteredStack {
            ids: [0; INLINE_ENTRIES],
            values: [empty; SPARE + 1],
            len: 0,
            spilled: 0,
            spill,
        }
    }

    /// Notes that span `id` was entered. Dropped (its exit then records
    /// nothing) only past the inline entries while the spill vector is
    /// unavailable: during thread exit, or from inside another callback.
    #[inline(always)]
    pub(crate) fn push(&mut self, id: u64, value: V) {
        let at = self.len;
        if self.spilled == 0 && at < INLINE_ENTRIES {
            self.ids[at] = id;
            self.values[at] = value;
            self.len = at + 1;
        } else {
            // Through the spare slot, not as an argument: passed to
            // `push_spill`, the value would go through the stack on both
            // paths and be reloaded with wider loads than wrote it (a
            // store-forwarding stall).
            self.values[SPARE] = value;
            self.push_spill(id);
        }
    }

    /// Moves the value in the spare slot to the spill vector as span `id`'s.
    #[cold]
    #[inline(never)]
    fn push_spill(&mut self, id: u64) {
        let value = self.values[SPARE];
        if with_local(self.spill, |spill| spill.push((id, value))).is_some() {
            self.spilled += 1;
        }
    }

    /// Removes span `id`'s newest entry and returns its value: usually the
    /// last entry; out-of-order exits are matched by id.
    #[inline(always)]
    pub(crate) fn take(&mut self, id: u64) -> Option<V> {
        let last = self.len.wrapping_sub(1);
        let at = match self.ids.get(last) {
            Some(&open) if open == id && self.spilled == 0 => {
                self.len = last;
                last
            }
            // Empty: every exit before setup, so not a call.
            None if self.spilled == 0 => return None,
            _ => self.take_other(id)?,
        };
        // Read here on every path: returning the value from `take_other`
        // instead would merge the paths through the stack, reloading it
        // with wider loads than wrote it, which stalls store forwarding
        // (see `ThreadBuffer::write` in core).
        Some(self.values[at])
    }

    /// [`take`](Self::take) when the entry is not the newest inline one:
    /// newest first, so the spill vector before the inline entries. Moves
    /// the entry's value to the spare slot and returns that slot.
    #[inline(never)]
    fn take_other(&mut self, id: u64) -> Option<usize> {
        let value = if self.spilled > 0 {
            with_local(self.spill, |spill| {
                let at = spill.iter().rposition(|(open, _)| *open == id)?;
                Some(spill.remove(at).1)
            })
            .flatten()
            .inspect(|_| self.spilled -= 1)
        } else {
            None
        };
        let value = match value {
            Some(value) => value,
            None => {
                let at = self.ids[..self.len].iter().rposition(|open| *open == id)?;
                let value = self.values[at];
                self.ids.copy_within(at + 1..self.len, at);
                self.values.copy_within(at + 1..self.len, at);
                self.len -= 1;
                value
            }
        };
        self.values[SPARE] = value;
        Some(SPARE)
    }
}

/// The stack's contract: values come back for the ids they were pushed
/// with, newest first for a repeated id, across the inline/spill boundary
/// and out of order.
#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static TEST_SPILL: RefCell<Vec<(u64, u32)>> = const { RefCell::new(Vec::new()) };
    }

    fn stack() -> EnteredStack<u32> {
        EnteredStack::new(0, &TEST_SPILL)
    }

    /// Pushes `depth` entries: id `i + 1`, value `i * 10`.
    fn filled(depth: u64) -> EnteredStack<u32> {
        let mut entered = stack();
        for i in 0..depth {
            entered.push(i + 1, i as u32 * 10);
        }
        entered
    }

    #[test]
    fn nested_exits_get_their_own_values_past_the_inline_entries() {
        let depth = 3 * INLINE_ENTRIES as u64;
        let mut entered = filled(depth);
        assert_eq!(entered.spilled, depth as usize - INLINE_ENTRIES);
        for i in (0..depth).rev() {
            assert_eq!(entered.take(i + 1), Some(i as u32 * 10), "entry {i}");
        }
        assert_eq!((entered.len, entered.spilled), (0, 0));
        assert_eq!(entered.take(1), None);
    }

    #[test]
    fn out_of_order_exits_leave_the_others_in_order() {
        let depth = INLINE_ENTRIES as u64 + 8;
        let mut entered = filled(depth);
        // One inline (while entries are spilled) and one spilled, out of order.
        assert_eq!(entered.take(3), Some(20));
        assert_eq!(entered.take(depth - 2), Some((depth as u32 - 3) * 10));
        for i in (0..depth).rev().filter(|&i| i != 2 && i != depth - 3) {
            assert_eq!(entered.take(i + 1), Some(i as u32 * 10), "entry {i}");
        }
        assert_eq!((entered.len, entered.spilled), (0, 0));
    }

    #[test]
    fn a_span_entered_twice_exits_its_newest_entry_first() {
        let top = INLINE_ENTRIES as u64;
        let mut entered = filled(top);
        // The newest inline span again, spilled above its first entry.
        entered.push(top, 999);
        assert_eq!(entered.take(top), Some(999));
        assert_eq!(entered.take(top), Some((top as u32 - 1) * 10));
        assert_eq!(entered.take(top), None);
    }

    #[test]
    fn pushes_after_a_spill_stay_above_it_when_inline_slots_free_up() {
        let newest = INLINE_ENTRIES as u64 + 1;
        let mut entered = filled(newest);
        // An inline entry leaves while one is spilled; entering the spilled
        // span again must still put the new entry above the spilled one.
        assert_eq!(entered.take(1), Some(0));
        entered.push(newest, 5);
        assert_eq!(entered.take(newest), Some(5));
        assert_eq!(entered.take(newest), Some((newest as u32 - 1) * 10));
        assert_eq!(entered.take(newest), None);
    }

    #[test]
    fn an_unknown_id_takes_nothing() {
        let mut entered = filled(4);
        assert_eq!(entered.take(42), None);
        assert_eq!(entered.take(4), Some(30));
        assert_eq!(entered.len, 3);
    }
}
