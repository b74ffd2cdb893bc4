//! [`Histogram`]: a fixed-size, log-linear histogram of durations, the
//! layout HdrHistogram uses with three significant bits: every power of two
//! (an octave) is split into 8 equal bins, so a bin is at most 1/8 of its
//! lower edge wide and a percentile read from it is within 12.5 % (about
//! 6 % after interpolation) of the exact one, whatever the run's length.
//!
//! Durations 0–7 ns have a bin each; 8 ns to 2⁴⁸ ns (78 hours) take 8 bins
//! per octave; longer ones (and nothing else) share the last bin. Negative
//! durations (a damaged clock) count in bin 0. 369 bins of `u64`: 2,952
//! bytes per histogram, independent of the number of calls.

/// Bits of the duration below its leading one that pick the bin in an octave.
const SUB_BITS: u32 = 3;
/// Bins per octave.
const SUB: usize = 1 << SUB_BITS;
/// Durations of 2^`TOP_EXPONENT` ns and more share the last bin.
const TOP_EXPONENT: u32 = 48;

/// Number of bins of every [`Histogram`].
pub const HISTOGRAM_BINS: usize = SUB + (TOP_EXPONENT - SUB_BITS) as usize * SUB + 1;

/// Counts of durations (ns) by log-linear bin; see the module docs for the
/// bins. Adding and merging are exact (counts add), so histograms of threads
/// and ranks pool without the calls.
///
/// ```
/// use scope_profiler_format::histogram::Histogram;
/// let mut h = Histogram::default();
/// (1..=1000).for_each(|d| h.add(d * 1_000)); // 1 µs .. 1 ms, evenly
/// let p50 = h.quantile(0.5, 1_000, 1_000_000);
/// assert!((p50 - 500_000.0).abs() < 0.07 * 500_000.0, "{p50}");
/// assert_eq!(h.calls(), 1000);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Histogram {
    /// `counts[b]`: durations in bin `b`; always [`HISTOGRAM_BINS`] long.
    counts: Box<[u64; HISTOGRAM_BINS]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: Box::new([0; HISTOGRAM_BINS]),
        }
    }
}

impl std::fmt::Debug for Histogram {
    /// The non-empty bins only, as `lower edge ns: count`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.counts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0)
                    .map(|(b, c)| (lower_edge(b), c)),
            )
            .finish()
    }
}

/// The bin holding a duration of `ns`.
///
/// ```
/// use scope_profiler_format::histogram::{bin_of, lower_edge, HISTOGRAM_BINS};
/// for ns in [0, 7, 8, 15, 16, 1_000, 123_456_789, (1 << 48) - 1] {
///     let b = bin_of(ns);
///     assert!(lower_edge(b) <= ns && ns < lower_edge(b + 1));
/// }
/// assert_eq!(bin_of(1 << 48), HISTOGRAM_BINS - 1);
/// assert_eq!(bin_of(-5), 0);
/// ```
#[inline]
pub fn bin_of(ns: i64) -> usize {
    // Without branches: below 16 ns the octave counts as 3 (shift 0), so
    // 0–15 ns land in bins 0–15 as themselves; from there each octave adds
    // 8 bins and the 3 bits after the leading one pick among them. 2⁴⁸ ns
    // and more clamp to 2⁴⁸, whose bin is the last.
    let v = ns.clamp(0, 1 << TOP_EXPONENT) as u64;
    let shift = 63 - (v | SUB as u64).leading_zeros() - SUB_BITS;
    shift as usize * SUB + (v >> shift) as usize
}

/// The shortest duration (ns) in bin `bin`; for `bin == HISTOGRAM_BINS`,
/// `i64::MAX` (the end of the last bin).
pub fn lower_edge(bin: usize) -> i64 {
    if bin < SUB {
        return bin as i64;
    }
    if bin >= HISTOGRAM_BINS {
        return i64::MAX;
    }
    if bin == HISTOGRAM_BINS - 1 {
        return 1 << TOP_EXPONENT;
    }
    let k = bin - SUB;
    let octave = (k / SUB) as u32 + SUB_BITS;
    ((SUB + k % SUB) as i64) << (octave - SUB_BITS)
}

/// Every bin's lower edge, ns: what files store beside the counts, so a
/// reader needs no formula.
pub fn lower_edges() -> Vec<i64> {
    (0..HISTOGRAM_BINS).map(lower_edge).collect()
}

impl Histogram {
    /// A histogram with these counts, if there are [`HISTOGRAM_BINS`] of them.
    pub fn from_counts(counts: &[u64]) -> Option<Histogram> {
        let counts: [u64; HISTOGRAM_BINS] = counts.try_into().ok()?;
        Some(Histogram {
            counts: Box::new(counts),
        })
    }

    /// Counts one duration of `ns`.
    #[inline]
    pub fn add(&mut self, ns: i64) {
        self.counts[bin_of(ns)] += 1;
    }

    /// Adds `other`'s counts to these (wrapping, never panicking).
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(other.counts.iter()) {
            *a = a.wrapping_add(*b);
        }
    }

    /// The counts, bin by bin ([`HISTOGRAM_BINS`] of them).
    pub fn counts(&self) -> &[u64] {
        &self.counts[..]
    }

    /// Durations counted.
    pub fn calls(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, c| a.wrapping_add(*c))
    }

    /// The `q`-quantile (0 ≤ q ≤ 1) of the durations, ns, estimated as
    /// numpy's linear percentile would be if each bin's calls were spread
    /// evenly over it, and kept within the exact `min_ns ..= max_ns`.
    /// 0 for an empty histogram.
    pub fn quantile(&self, q: f64, min_ns: i64, max_ns: i64) -> f64 {
        let n = self.calls();
        if n == 0 {
            return 0.0;
        }
        // The position in the sorted durations, as numpy's linear method
        // takes it: between entries floor(pos) and ceil(pos).
        let pos = (n - 1) as f64 * q.clamp(0.0, 1.0);
        let (lo, hi) = (pos.floor() as u64, pos.ceil() as u64);
        let (a, b) = (self.at(lo, min_ns, max_ns), self.at(hi, min_ns, max_ns));
        a + (b - a) * (pos - lo as f64)
    }

    /// The estimated duration of the `index`-th shortest call (0-based).
    fn at(&self, index: u64, min_ns: i64, max_ns: i64) -> f64 {
        let mut before = 0u64;
        for (bin, &count) in self.counts.iter().enumerate() {
            if count == 0 || before + count <= index {
                before += count;
                continue;
            }
            let lo = lower_edge(bin).max(min_ns);
            let hi = if bin + 1 == HISTOGRAM_BINS {
                max_ns.saturating_add(1)
            } else {
                lower_edge(bin + 1).min(max_ns.saturating_add(1))
            };
            if hi - lo <= 1 {
                return lo as f64;
            }
            // The calls of this bin at the midpoints of `count` equal slices.
            let frac = ((index - before) as f64 + 0.5) / count as f64;
            return (lo as f64 + frac * (hi - lo) as f64).clamp(min_ns as f64, max_ns as f64);
        }
        max_ns as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_tile_the_durations_without_gaps() {
        for bin in 0..HISTOGRAM_BINS {
            let (lo, hi) = (lower_edge(bin), lower_edge(bin + 1));
            assert!(lo < hi, "bin {bin}");
            assert_eq!(bin_of(lo), bin, "lower edge of bin {bin}");
            if bin + 1 < HISTOGRAM_BINS {
                assert_eq!(bin_of(hi - 1), bin, "upper end of bin {bin}");
            }
        }
    }

    #[test]
    fn bins_are_at_most_an_eighth_of_their_lower_edge_wide() {
        for bin in SUB..HISTOGRAM_BINS - 1 {
            let (lo, hi) = (lower_edge(bin), lower_edge(bin + 1));
            assert!((hi - lo) * 8 <= lo, "bin {bin}: {lo}..{hi}");
        }
    }

    #[test]
    fn quantiles_of_exact_bins_are_exact_and_merging_adds() {
        let mut a = Histogram::default();
        [1, 2, 3, 4].iter().for_each(|d| a.add(*d));
        let mut b = Histogram::default();
        [5, 6, 7].iter().for_each(|d| b.add(*d));
        a.merge(&b);
        assert_eq!(a.calls(), 7);
        assert_eq!(a.quantile(0.5, 1, 7), 4.0);
        assert_eq!(a.quantile(0.0, 1, 7), 1.0);
        assert_eq!(a.quantile(1.0, 1, 7), 7.0);
        assert_eq!(Histogram::default().quantile(0.5, 0, 0), 0.0);
    }

    #[test]
    fn quantiles_stay_within_the_exact_range() {
        let mut h = Histogram::default();
        [1_000_000i64, 1_000_001, 1_000_002]
            .iter()
            .for_each(|d| h.add(*d));
        for q in [0.0, 0.5, 0.99, 1.0] {
            let v = h.quantile(q, 1_000_000, 1_000_002);
            assert!((1_000_000.0..=1_000_002.0).contains(&v), "q {q}: {v}");
        }
    }

    #[test]
    fn counts_round_trip_and_a_wrong_length_is_refused() {
        let mut h = Histogram::default();
        h.add(12_345);
        assert_eq!(Histogram::from_counts(h.counts()), Some(h));
        assert_eq!(Histogram::from_counts(&[1, 2, 3]), None);
    }
}
