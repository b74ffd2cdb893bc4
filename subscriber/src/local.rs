//! Per-thread span state shared by the layer and the subscriber: borrowing
//! it from a thread-local, and the stack of spans entered on the thread.

use std::cell::RefCell;
use std::thread::LocalKey;

/// Runs `f` on the value in `key`; `None` (nothing done) while the thread is
/// exiting, or if a callback runs inside another on this thread (a span made
/// by an instrumented allocator while a table grows): that span is not
/// recorded rather than the program panicking.
#[inline(always)]
pub(crate) fn with_local<T: 'static, R>(
    key: &'static LocalKey<RefCell<T>>,
    f: impl FnOnce(&mut T) -> R,
) -> Option<R> {
    key.try_with(|cell| cell.try_borrow_mut().ok().map(|mut value| f(&mut value)))
        .ok()
        .flatten()
}

/// Spans entered on this thread and not yet exited, oldest first, each with
/// what its exit needs.
pub(crate) struct EnteredStack<V> {
    entries: Vec<(u64, V)>,
}

impl<V> EnteredStack<V> {
    pub(crate) const fn new() -> Self {
        EnteredStack {
            entries: Vec::new(),
        }
    }

    /// Notes that span `id` (`Id::into_u64`) was entered.
    #[inline(always)]
    pub(crate) fn push(&mut self, id: u64, value: V) {
        self.entries.push((id, value));
    }

    /// Removes span `id`'s newest entry: usually the last one; out-of-order
    /// exits are matched by id.
    #[inline(always)]
    pub(crate) fn take(&mut self, id: u64) -> Option<V> {
        let entries = &mut self.entries;
        if entries.last().is_some_and(|(open, _)| *open == id) {
            return entries.pop().map(|(_, value)| value);
        }
        let at = entries.iter().rposition(|(open, _)| *open == id)?;
        Some(entries.remove(at).1)
    }
}
