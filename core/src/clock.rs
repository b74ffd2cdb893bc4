//! The clock: raw TSC ticks on the hot path, nanoseconds later.
//!
//! Following quanta's split, the hot path only calls [`now`] (one `rdtsc`);
//! [`Calibration`] turns ticks into CLOCK_MONOTONIC nanoseconds off the hot
//! path, so regions recorded by Rust, Python (`time.perf_counter_ns`) and C in
//! one job share one timeline.

use std::sync::LazyLock;

/// Raw clock ticks as read on the hot path (TSC cycles where available).
pub type Ticks = u64;

static CLOCK: LazyLock<quanta::Clock> = LazyLock::new(quanta::Clock::new);

/// Reads the raw tick counter. About 9 ns on an invariant TSC; never a syscall
/// there (quanta falls back to `clock_gettime` where no usable TSC exists).
#[inline(always)]
pub fn now() -> Ticks {
    CLOCK.raw()
}

/// Reads CLOCK_MONOTONIC in nanoseconds (the clock of `perf_counter_ns`).
pub fn monotonic_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: FFI call with a valid, exclusively borrowed `timespec`;
    // CLOCK_MONOTONIC is always supported on Linux, so the call cannot fail.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    }
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// A (ticks, CLOCK_MONOTONIC ns) pair taken together, plus quanta's tick
/// scale: converts any later tick reading to CLOCK_MONOTONIC nanoseconds.
#[derive(Clone, Copy, Debug)]
pub struct Calibration {
    /// Tick reading at the anchor instant.
    anchor_ticks: Ticks,
    /// CLOCK_MONOTONIC nanoseconds at the same instant.
    anchor_ns: i64,
    /// quanta's tick scale, as a float: `to_ns` is one multiply per reading
    /// instead of quanta's 128-bit scaling (a third of the flusher's work
    /// per event, measured with callgrind).
    ns_per_tick: f64,
}

impl Calibration {
    /// Takes the anchor pair now. Of five attempts it keeps the one whose
    /// bracketing tick reads are closest, so the pair is accurate to well
    /// under a microsecond even when the thread is preempted once.
    pub fn take() -> Self {
        // 2^40 ticks scaled by quanta, so the float scale carries quanta's
        // calibration to ~12 significant digits.
        let span = 1u64 << 40;
        let ns_per_tick = CLOCK.delta_as_nanos(0, span) as f64 / span as f64;
        let mut best: Option<(u64, Calibration)> = None;
        for _ in 0..5 {
            let before = now();
            let ns = monotonic_ns();
            let after = now();
            let window = after.wrapping_sub(before);
            let candidate = Calibration {
                anchor_ticks: before + window / 2,
                anchor_ns: ns,
                ns_per_tick,
            };
            if best.is_none_or(|(w, _)| window < w) {
                best = Some((window, candidate));
            }
        }
        best.map(|(_, c)| c).unwrap_or(Calibration {
            anchor_ticks: now(),
            anchor_ns: monotonic_ns(),
            ns_per_tick,
        })
    }

    /// Converts a tick reading to CLOCK_MONOTONIC nanoseconds. Readings from
    /// before the anchor (never produced by a session) map below the anchor.
    ///
    /// Within 1 ns of quanta's own 128-bit scaling for readings up to 2⁴⁶
    /// ticks (hours) either side of the anchor (tested); an f64 holds 53
    /// bits, so the error grows past that only slowly.
    #[inline]
    pub fn to_ns(&self, ticks: Ticks) -> i64 {
        let since_anchor = ticks.wrapping_sub(self.anchor_ticks) as i64;
        self.anchor_ns + (since_anchor as f64 * self.ns_per_tick) as i64
    }

    /// CLOCK_MONOTONIC nanoseconds at the anchor instant.
    pub fn anchor_ns(&self) -> i64 {
        self.anchor_ns
    }

    /// The tick reading at the anchor instant.
    pub fn anchor_ticks(&self) -> Ticks {
        self.anchor_ticks
    }

    /// Nanoseconds per tick (quanta's scale).
    pub fn ns_per_tick(&self) -> f64 {
        self.ns_per_tick
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converted_ticks_track_the_monotonic_clock() {
        let cal = Calibration::take();
        let mono_before = monotonic_ns();
        let ticks = now();
        let mono_after = monotonic_ns();
        let converted = cal.to_ns(ticks);
        // Within 50 µs of the bracketing monotonic reads: calibration error
        // over a few µs is far below that, a wrong scale or offset is not.
        assert!(
            converted >= mono_before - 50_000,
            "{converted} < {mono_before}"
        );
        assert!(
            converted <= mono_after + 50_000,
            "{converted} > {mono_after}"
        );
    }

    #[test]
    fn conversion_matches_quantas_scaling_to_a_nanosecond() {
        let cal = Calibration::take();
        let a = cal.anchor_ticks;
        // Up to 2^46 ticks (about 6 hours at 3 GHz) either side.
        for shift in [0u32, 10, 20, 30, 40, 46] {
            let d = (1u64 << shift) + 12_345;
            let after = cal.anchor_ns + CLOCK.delta_as_nanos(a, a + d) as i64;
            let got = cal.to_ns(a + d);
            assert!((got - after).abs() <= 1, "+2^{shift}: {got} vs {after}");
            if d < a {
                let before = cal.anchor_ns - CLOCK.delta_as_nanos(a - d, a) as i64;
                let got = cal.to_ns(a - d);
                assert!((got - before).abs() <= 1, "-2^{shift}: {got} vs {before}");
            }
        }
    }

    #[test]
    fn conversion_is_monotonic_around_the_anchor() {
        let cal = Calibration::take();
        let t = cal.anchor_ticks;
        assert!(cal.to_ns(t - 1000) <= cal.to_ns(t));
        assert!(cal.to_ns(t) <= cal.to_ns(t + 1000));
    }
}
