//! A column that stores one value and a length until a second value
//! arrives: a one-thread rank's thread ids, the task ids of a rank without
//! tasks and the region ids of a one-region rank cost no memory per call
//! (at 10⁶ calls a rank, each such column is 4 MB of fresh pages to fault
//! in, fill and free).

use std::borrow::Cow;

/// Values in the order pushed, stored only once two differ.
#[derive(Clone, Debug)]
pub(crate) enum OneValueOr<T> {
    /// `len` copies of `value` (none yet when `len` is 0).
    Same {
        /// The value.
        value: T,
        /// How many times it was pushed.
        len: usize,
        /// Values to make room for once they are stored
        /// ([`reserve`](OneValueOr::reserve)).
        capacity: usize,
    },
    /// Every value.
    Values(Vec<T>),
}

impl<T: Copy + PartialEq + Default> Default for OneValueOr<T> {
    fn default() -> Self {
        OneValueOr::Same {
            value: T::default(),
            len: 0,
            capacity: 0,
        }
    }
}

impl<T: Copy + PartialEq + Default> OneValueOr<T> {
    /// `len` copies of `value`.
    pub(crate) fn repeat(value: T, len: usize) -> Self {
        OneValueOr::Same {
            value,
            len,
            capacity: 0,
        }
    }

    /// Appends `v`; the first value that differs stores them all.
    #[inline]
    pub(crate) fn push(&mut self, v: T) {
        match self {
            OneValueOr::Values(values) => values.push(v),
            OneValueOr::Same { value, len, .. } if *value == v || *len == 0 => {
                *value = v;
                *len += 1;
            }
            OneValueOr::Same { .. } => self.store(v),
        }
    }

    /// Stores the repeated value's copies and then `v`, with the room
    /// reserved (once per column at most).
    #[cold]
    fn store(&mut self, v: T) {
        if let OneValueOr::Same {
            value,
            len,
            capacity,
        } = *self
        {
            let mut values = Vec::with_capacity(capacity.max(len + 1));
            values.resize(len, value);
            values.push(v);
            *self = OneValueOr::Values(values);
        }
    }

    /// Room for `more` values beyond those pushed: made now if stored,
    /// else when they come to be stored.
    pub(crate) fn reserve(&mut self, more: usize) {
        match self {
            OneValueOr::Values(values) => values.reserve(more),
            OneValueOr::Same { len, capacity, .. } => {
                *capacity = (*capacity).max(len.saturating_add(more));
            }
        }
    }

    /// The value at `i` (`i < len`).
    #[inline]
    pub(crate) fn get(&self, i: usize) -> T {
        match self {
            OneValueOr::Same { value, .. } => *value,
            OneValueOr::Values(values) => values[i],
        }
    }

    /// The one value held `len` times, if not stored (`None` when stored,
    /// even if the stored values happen to be equal, and when empty).
    pub(crate) fn repeated(&self) -> Option<T> {
        match self {
            OneValueOr::Same { value, len, .. } if *len > 0 => Some(*value),
            _ => None,
        }
    }

    /// The values if stored, else `len` copies (at most) of the one value:
    /// what a chunk of `len` values is cut from; none when the one value is
    /// `skip` (a column's fill value: no chunk of it is made).
    pub(crate) fn chunk_source(&self, len: usize, skip: T) -> Cow<'_, [T]> {
        match self {
            OneValueOr::Same { value, .. } if *value == skip => Cow::Borrowed(&[]),
            OneValueOr::Same { value, len: n, .. } => Cow::Owned(vec![*value; len.min(*n)]),
            OneValueOr::Values(values) => Cow::Borrowed(values),
        }
    }

    /// Every value, stored.
    #[cfg(test)]
    pub(crate) fn into_vec(self) -> Vec<T> {
        match self {
            OneValueOr::Same { value, len, .. } => vec![value; len],
            OneValueOr::Values(values) => values,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stores_nothing_until_a_second_value_and_keeps_the_order() {
        let mut c = OneValueOr::default();
        c.reserve(10);
        for _ in 0..3 {
            c.push(7u32);
        }
        assert_eq!(c.repeated(), Some(7));
        c.push(9);
        c.push(7);
        assert_eq!(c.repeated(), None);
        let OneValueOr::Values(values) = &c else {
            panic!("stored")
        };
        assert!(values.capacity() >= 10, "the room reserved before");
        assert_eq!(
            (0..5).map(|i| c.get(i)).collect::<Vec<_>>(),
            [7, 7, 7, 9, 7]
        );
        assert_eq!(c.into_vec(), [7, 7, 7, 9, 7]);
        assert_eq!(OneValueOr::<i32>::default().repeated(), None);
    }
}
