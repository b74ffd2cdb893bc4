//! The fixed-size record one region call becomes.

use crate::{RegionId, Ticks};

/// One completed region call, as written to a thread's ring on exit.
///
/// 16 bytes, `Copy`, no pointers: the ring stores it by value and the flusher
/// reads it without touching the recording thread; four fit a cache line.
/// A call lasting [`Record::LONG`] ticks or more (about 1.4 s at 3 GHz), or
/// ending at a lower reading than it started, is written with `duration`
/// [`Record::LONG`] and its end kept beside the ring: the ring's reader
/// gives it back through [`CallEnds::end`](crate::CallEnds::end). In
/// count-only mode (`time_trace = false`) `start` and `duration` are 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Record {
    /// Tick reading at region entry.
    pub start: Ticks,
    /// Ticks from entry to exit, or [`Record::LONG`].
    pub duration: u32,
    /// The region, as interned by the [`RegionRegistry`](crate::RegionRegistry).
    pub region: RegionId,
}

impl Record {
    /// The `duration` of a call whose end is kept beside the ring.
    pub const LONG: u32 = u32::MAX;

    /// The record of a call from `start` to `end` if its duration fits,
    /// `None` for a call to be written as [`Record::LONG`].
    #[inline(always)]
    pub fn fitting(start: Ticks, end: Ticks, region: RegionId) -> Option<Record> {
        let ticks = end.wrapping_sub(start);
        (ticks < u64::from(Record::LONG)).then_some(Record {
            start,
            duration: ticks as u32,
            region,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_is_16_bytes() {
        assert_eq!(std::mem::size_of::<Record>(), 16);
    }

    #[test]
    fn only_durations_below_long_fit() {
        let fit = Record::fitting(10, 10 + u64::from(Record::LONG) - 1, RegionId(3));
        assert_eq!(fit.map(|r| r.duration), Some(Record::LONG - 1));
        assert_eq!(
            Record::fitting(10, 10 + u64::from(Record::LONG), RegionId(3)),
            None
        );
        assert_eq!(
            Record::fitting(10, 9, RegionId(3)),
            None,
            "a clock stepping back"
        );
    }
}
