//! Clock offsets between ranks and the shift that puts a rank's timestamps
//! on rank 0's clock. The merged file stores the raw offsets beside the
//! shifted timestamps, so the shift can be undone.

use crate::stream::TickScale;

/// Offset of one rank's clock from rank 0's CLOCK_MONOTONIC, measured by
/// ping-pong; at finalize it also holds the error of the rank's tick
/// conversion then, so that the [`ClockShift`] corrects the rate too.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClockOffset {
    /// Rank 0's clock at the measurement, ns.
    pub at_ns: i64,
    /// This rank's clock minus rank 0's, ns.
    pub offset_ns: i64,
    /// Round-trip time of the best of the exchanges, ns (the offset's error
    /// is at most half of it).
    pub rtt_ns: i64,
}

/// Maps a rank's timestamps onto rank 0's clock: the offset is interpolated
/// linearly between the setup and finalize measurements (drift).
///
/// ```
/// use scope_profiler_format::{ClockOffset, ClockShift};
/// let shift = ClockShift {
///     setup: ClockOffset { at_ns: 0, offset_ns: 100, rtt_ns: 0 },
///     finalize: ClockOffset { at_ns: 1_000_000_000, offset_ns: 300, rtt_ns: 0 },
/// };
/// assert_eq!(shift.drift_ns_per_s(), 200.0);
/// assert_eq!(shift.apply(500_000_000), 500_000_000 - 200);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ClockShift {
    /// Measurement at setup.
    pub setup: ClockOffset,
    /// Measurement at finalize.
    pub finalize: ClockOffset,
}

impl ClockShift {
    /// Drift of the rank's clock against rank 0's, ns per s.
    pub fn drift_ns_per_s(&self) -> f64 {
        self.slope() * 1e9
    }

    /// `t` (this rank's clock) on rank 0's clock: a multiply and a round.
    pub fn apply(&self, t: i64) -> i64 {
        t.wrapping_sub(self.offset_at(t).round() as i64)
    }

    /// `scale` followed by this shift, as one scale: ticks straight to rank
    /// 0's clock, within 2 ns of [`apply`](Self::apply) after
    /// [`TickScale::to_ns`] (a shift is a line in time, and so in ticks), at
    /// no cost per timestamp.
    pub fn fold_into(&self, scale: TickScale) -> TickScale {
        TickScale {
            anchor_ticks: scale.anchor_ticks,
            anchor_ns: scale
                .anchor_ns
                .wrapping_sub(self.offset_at(scale.anchor_ns).round() as i64),
            ns_per_tick: scale.ns_per_tick * (1.0 - self.slope()),
        }
    }

    /// The offset at `t` (this rank's clock, ns): the setup offset plus the
    /// change since then.
    fn offset_at(&self, t: i64) -> f64 {
        self.setup.offset_ns as f64 + t.wrapping_sub(self.setup.at_ns) as f64 * self.slope()
    }

    /// The offset's change per ns between the two measurements; 0 without
    /// two measurements apart.
    fn slope(&self) -> f64 {
        let dt = (self.finalize.at_ns - self.setup.at_ns) as f64;
        let rise = (self.finalize.offset_ns - self.setup.offset_ns) as f64;
        if dt <= 0.0 {
            0.0
        } else {
            rise / dt
        }
    }

    /// The largest round trip of the two measurements, ns.
    pub fn rtt_ns(&self) -> i64 {
        self.setup.rtt_ns.max(self.finalize.rtt_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn a_shift_folded_into_a_scale_converts_as_the_two_in_turn() {
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..200 {
            let scale = TickScale {
                anchor_ticks: rng.u64(1 << 40..1 << 50),
                anchor_ns: rng.i64(1 << 40..1 << 52),
                ns_per_tick: rng.f64() * 2.0 + 0.1,
            };
            let at_ns = scale.anchor_ns + rng.i64(-1_000_000..1_000_000);
            let span = rng.i64(1_000_000_000..100_000_000_000);
            let offsets = [0; 2].map(|_| rng.i64(-50_000_000..50_000_000));
            let shift = testing::shift((at_ns, offsets[0]), (at_ns + span, offsets[1]));
            let folded = shift.fold_into(scale);
            for _ in 0..50 {
                let ticks = scale.anchor_ticks.wrapping_add(rng.u64(..1 << 42));
                let in_turn = shift.apply(scale.to_ns(ticks));
                let diff = folded.to_ns(ticks) - in_turn;
                assert!(
                    diff.abs() <= 2,
                    "{diff} ns off: {scale:?} {shift:?} {ticks}"
                );
            }
        }
    }
}
