//! The fixed-size record one region call becomes.

use crate::{RegionId, Ticks};

/// One completed region call, as written to a thread's ring on exit.
///
/// 24 bytes, `Copy`, no pointers: the ring stores it by value and the flusher
/// reads it without touching the recording thread. In count-only mode
/// (`time_trace = false`) `start` and `end` are both 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Record {
    /// Tick reading at region entry.
    pub start: Ticks,
    /// Tick reading at region exit.
    pub end: Ticks,
    /// The region, as interned by the [`RegionRegistry`](crate::RegionRegistry).
    pub region: RegionId,
}

#[cfg(test)]
mod tests {
    #[test]
    fn record_is_24_bytes() {
        assert_eq!(std::mem::size_of::<super::Record>(), 24);
    }
}
