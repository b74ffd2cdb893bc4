//! The start-delta codec: a run of start times stored as the first value
//! (relative to 0) and then the difference to the previous one. Small
//! numbers for back-to-back calls, so HDF5's filters (the columnar
//! `events/start_deltas`) store them in few bytes.
//! Every writer and reader of deltas goes through [`StartDeltas`].

/// The running state of one column's encoding or decoding. Arithmetic
/// wraps, so any `i64` round-trips, damaged input included.
///
/// ```
/// use scope_profiler_format::deltas::StartDeltas;
/// let starts = [1_000, 1_010, 1_030, 990];
/// let mut enc = StartDeltas::default();
/// let deltas: Vec<i64> = starts.iter().map(|s| enc.encode(*s)).collect();
/// assert_eq!(deltas, [1_000, 10, 20, -40]);
/// let mut dec = StartDeltas::default();
/// let back: Vec<i64> = deltas.iter().map(|d| dec.decode(*d)).collect();
/// assert_eq!(back, starts);
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct StartDeltas {
    /// The previous start (0 before the first).
    previous: i64,
}

impl StartDeltas {
    /// The delta that stores `start`.
    #[inline]
    pub fn encode(&mut self, start: i64) -> i64 {
        let delta = start.wrapping_sub(self.previous);
        self.previous = start;
        delta
    }

    /// The start that `delta` stores.
    #[inline]
    pub fn decode(&mut self, delta: i64) -> i64 {
        self.previous = self.previous.wrapping_add(delta);
        self.previous
    }
}
