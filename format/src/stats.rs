//! Exact running statistics of one region's durations.

/// Calls, total, min, max and (Welford) mean / variance of one region's
/// durations in ns. Merging two is exact (Chan et al.), so per-thread or
/// per-rank stats pool without keeping the events.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RegionStats {
    /// Number of calls.
    pub calls: u64,
    /// Sum of durations, ns.
    pub total_ns: i64,
    /// Shortest duration, ns (`i64::MAX` when no calls).
    pub min_ns: i64,
    /// Longest duration, ns (`i64::MIN` when no calls).
    pub max_ns: i64,
    /// Running mean, ns.
    pub mean: f64,
    /// Sum of squared deviations from the mean (Welford's M2), ns².
    pub m2: f64,
}

impl Default for RegionStats {
    fn default() -> Self {
        RegionStats {
            calls: 0,
            total_ns: 0,
            min_ns: i64::MAX,
            max_ns: i64::MIN,
            mean: 0.0,
            m2: 0.0,
        }
    }
}

impl RegionStats {
    /// Adds one call of `duration_ns`.
    ///
    /// ```
    /// # use scope_profiler_format::RegionStats;
    /// let mut s = RegionStats::default();
    /// s.add(10);
    /// s.add(30);
    /// assert_eq!((s.calls, s.total_ns, s.min_ns, s.max_ns), (2, 40, 10, 30));
    /// assert_eq!(s.std_dev_ns(), 10.0);
    /// ```
    #[inline]
    pub fn add(&mut self, duration_ns: i64) {
        self.add_to_sums(duration_ns);
        let x = duration_ns as f64;
        let delta = x - self.mean;
        self.mean += delta / self.calls as f64;
        self.m2 += delta * (x - self.mean);
    }

    /// Adds a call whose duration is unknown (count-only mode).
    pub fn add_untimed(&mut self) {
        self.calls += 1;
    }

    /// Adds `calls` calls whose durations are unknown (count-only mode).
    pub fn add_untimed_calls(&mut self, calls: u64) {
        self.calls += calls;
    }

    /// The statistics of the calls `starts[i]..ends[i]` (the shorter length
    /// counts); see [`of_durations`](Self::of_durations).
    pub fn of_calls(starts: &[i64], ends: &[i64]) -> RegionStats {
        let n = starts.len().min(ends.len());
        Self::of_durations(
            ends[..n]
                .iter()
                .zip(&starts[..n])
                .map(|(e, s)| e.wrapping_sub(*s)),
        )
    }

    /// The statistics of `durations` (ns), in two passes over the iterator,
    /// no division per call (the flusher's per-event cost, measured with
    /// callgrind, in docs/performance.md). Equal to adding each call
    /// (tested); sums wrap rather than panic on damaged input.
    ///
    /// ```
    /// # use scope_profiler_format::RegionStats;
    /// let s = RegionStats::of_durations([10, 30].into_iter());
    /// assert_eq!((s.calls, s.total_ns, s.min_ns, s.max_ns), (2, 40, 10, 30));
    /// assert_eq!(s.std_dev_ns(), 10.0);
    /// ```
    pub fn of_durations(durations: impl Iterator<Item = i64> + Clone) -> RegionStats {
        let mut sums = RegionStats::default();
        for d in durations.clone() {
            sums.add_to_sums(d);
        }
        sums.with_spread(durations)
    }

    /// Counts a call of `duration_ns` in the count, total, minimum and
    /// maximum only: the first of [`of_durations`](Self::of_durations)'s
    /// two passes, for a caller that passes over the durations anyway.
    #[inline]
    pub(crate) fn add_to_sums(&mut self, duration_ns: i64) {
        self.calls += 1;
        self.total_ns = self.total_ns.wrapping_add(duration_ns);
        self.min_ns = self.min_ns.min(duration_ns);
        self.max_ns = self.max_ns.max(duration_ns);
    }

    /// These sums ([`add_to_sums`](Self::add_to_sums) of every call in
    /// `durations`) with the mean and M2 of `durations`: the second pass.
    pub(crate) fn with_spread(self, durations: impl Iterator<Item = i64>) -> RegionStats {
        if self.calls == 0 {
            return RegionStats::default();
        }
        let mean = self.total_ns as f64 / self.calls as f64;
        let m2 = durations
            .map(|d| {
                let x = d as f64 - mean;
                x * x
            })
            .sum();
        RegionStats { mean, m2, ..self }
    }

    /// Pools `other` into `self`, exactly as if every call had been added here.
    pub fn merge(&mut self, other: &RegionStats) {
        if other.calls == 0 {
            return;
        }
        if self.calls == 0 {
            *self = *other;
            return;
        }
        let n_a = self.calls as f64;
        let n_b = other.calls as f64;
        let n = n_a + n_b;
        let delta = other.mean - self.mean;
        self.mean += delta * n_b / n;
        self.m2 += other.m2 + delta * delta * n_a * n_b / n;
        self.calls += other.calls;
        self.total_ns = self.total_ns.wrapping_add(other.total_ns);
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    /// Population standard deviation (numpy's default `ddof = 0`), ns.
    pub fn std_dev_ns(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            (self.m2 / self.calls as f64).max(0.0).sqrt()
        }
    }

    /// Mean duration, ns (0 with no calls).
    pub fn mean_ns(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.total_ns as f64 / self.calls as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn of_calls_equals_adding_every_call() {
        let starts = [100i64, 200, 300, 400, 500, 600];
        let ends = [105i64, 217, 303, 499, 542, 642];
        let mut added = RegionStats::default();
        for (s, e) in starts.iter().zip(&ends) {
            added.add(e - s);
        }
        let batch = RegionStats::of_calls(&starts, &ends);
        assert_eq!(
            (batch.calls, batch.total_ns, batch.min_ns, batch.max_ns),
            (added.calls, added.total_ns, added.min_ns, added.max_ns)
        );
        assert!((batch.mean - added.mean).abs() < 1e-9);
        assert!((batch.m2 - added.m2).abs() < 1e-6 * added.m2);
        assert_eq!(RegionStats::of_calls(&[], &[]), RegionStats::default());
    }

    #[test]
    fn merge_equals_adding_every_call() {
        let xs = [5i64, 17, 3, 99, 42, 42, 8];
        let mut whole = RegionStats::default();
        xs.iter().for_each(|&x| whole.add(x));
        let (mut a, mut b) = (RegionStats::default(), RegionStats::default());
        xs[..3].iter().for_each(|&x| a.add(x));
        xs[3..].iter().for_each(|&x| b.add(x));
        a.merge(&b);
        assert_eq!(
            (a.calls, a.total_ns, a.min_ns, a.max_ns),
            (whole.calls, whole.total_ns, whole.min_ns, whole.max_ns)
        );
        assert!((a.std_dev_ns() - whole.std_dev_ns()).abs() < 1e-9);
    }
}
