//! `Accumulator`: the flusher's aggregate mode
//! ([`OutputSchema::Aggregate`](crate::OutputSchema::Aggregate)). Each
//! drained record updates its (thread, region) slot — calls, total, min,
//! max, the sums behind mean and m2, and a log-scale histogram — and is
//! then dropped, unless the [`KeepRule`] keeps it: a call of a region whose
//! name matches a pattern, or one longer than a threshold (Extrae's
//! "bursts"), is also encoded into the rank stream like any traced call.
//!
//! Memory is one slot (about 3 KB, mostly the histogram) per (thread,
//! region) that recorded, plus a 4-byte index entry per region id per
//! thread: bounded by regions × threads, never by the number of calls.
//!
//! The per-call work is kept to additions and two multiplies: the duration
//! is converted from ticks with one fixed-point multiply (within 1 ns of
//! the stream reader's conversion of the call's two ends), and mean and m2
//! come from exact integer sums (`Σd` in `i64`, `Σd²` in `u128`): no
//! division, no dependency on the previous call's mean (Welford's update
//! has both). A run of calls of one region (a tight loop's) is summed in
//! registers and added to its slot at the end of the run. The sums become Welford's mean and m2 once, at finalize
//! (exact up to one rounding), and pooling over threads and ranks uses
//! [`RegionStats::merge`] (Chan et al.).

use regex::Regex;
use scope_profiler_core::{Record, RegionId, RegionRegistry, RingReader, Ticks};
use scope_profiler_format::aggregate::{AggregateRow, RankAggregate};
use scope_profiler_format::histogram::{bin_of, Histogram, HISTOGRAM_BINS};
use scope_profiler_format::stream::{FrameEncoder, TickScale};
use scope_profiler_format::RegionStats;

/// Which calls aggregate mode keeps as a full trace besides counting them.
#[derive(Clone, Debug, Default)]
pub struct KeepRule {
    /// Every call of a region whose name this matches.
    pub regions: Option<Regex>,
    /// Every call longer than this many ns.
    pub longer_than_ns: Option<i64>,
}

/// The statistics of one region's calls on one thread: the per-call
/// fields first, the histogram inline after them.
struct Slot {
    /// Calls (timed or not).
    calls: u64,
    /// Sum of durations, ns (wrapping).
    total: i64,
    min: i64,
    max: i64,
    /// `Σ d²` (wrapping: exact below 2¹²⁸, e.g. 10¹⁰ calls of 1 s).
    sum_sq: u128,
    /// Calls longer than this are kept: `i64::MIN` when every call is
    /// ([`KeepRule::regions`] matched the name), else the duration
    /// threshold (`i64::MAX`: none).
    keep_above: i64,
    region: RegionId,
    /// Calls per [`bin_of`] bin.
    counts: [u64; HISTOGRAM_BINS],
}

/// The sums of a run of calls of one slot, kept in registers while the
/// run is counted and added to the slot at its end.
#[derive(Clone, Copy)]
struct Run {
    calls: u64,
    total: i64,
    min: i64,
    max: i64,
    sum_sq: u128,
}

impl Run {
    const EMPTY: Run = Run {
        calls: 0,
        total: 0,
        min: i64::MAX,
        max: i64::MIN,
        sum_sq: 0,
    };

    /// Counts one call of `d` ns (`d` ≥ 0).
    #[inline]
    fn add(&mut self, d: i64) {
        self.calls += 1;
        self.total = self.total.wrapping_add(d);
        self.min = self.min.min(d);
        self.max = self.max.max(d);
        let a = d as u64 as u128;
        self.sum_sq = self.sum_sq.wrapping_add(a * a);
    }
}

impl Slot {
    /// An empty slot.
    fn new(region: RegionId, keep_above: i64) -> Slot {
        Slot {
            calls: 0,
            total: 0,
            min: i64::MAX,
            max: i64::MIN,
            sum_sq: 0,
            keep_above,
            region,
            counts: [0; HISTOGRAM_BINS],
        }
    }

    /// Adds a run's sums.
    fn absorb(&mut self, run: &Run) {
        self.calls += run.calls;
        self.total = self.total.wrapping_add(run.total);
        self.min = self.min.min(run.min);
        self.max = self.max.max(run.max);
        self.sum_sq = self.sum_sq.wrapping_add(run.sum_sq);
    }

    /// The slot's statistics: Welford's mean and m2 from the exact sums
    /// (`m2 = Σd² − (Σd)²/n`, in integers where they fit, else in floats);
    /// only calls, with `timed` false.
    fn stats(&self, timed: bool) -> RegionStats {
        if !timed || self.calls == 0 {
            let mut s = RegionStats::default();
            s.add_untimed_calls(self.calls);
            return s;
        }
        let n = self.calls as f64;
        let sum = self.total.unsigned_abs() as u128;
        let exact = (self.calls as u128)
            .checked_mul(self.sum_sq)
            .zip(sum.checked_mul(sum))
            .and_then(|(n_sq, sum2)| n_sq.checked_sub(sum2));
        let m2 = match exact {
            Some(numerator) => numerator as f64 / n,
            None => (self.sum_sq as f64 - (self.total as f64).powi(2) / n).max(0.0),
        };
        RegionStats {
            calls: self.calls,
            total_ns: self.total,
            min_ns: self.min,
            max_ns: self.max,
            mean: self.total as f64 / n,
            m2,
        }
    }
}

/// One thread's slots.
#[derive(Default)]
struct ThreadSlots {
    /// Region index → slot index + 1 (0: no slot yet).
    slot_of: Vec<u32>,
    slots: Vec<Slot>,
}

impl ThreadSlots {
    /// The index of `region`'s slot, made on its first call on this thread.
    #[inline]
    fn slot(&mut self, region: RegionId, rule: &KeepRule) -> usize {
        match self.slot_of.get(region.index()) {
            Some(&i) if i > 0 => i as usize - 1,
            _ => self.new_slot(region, rule),
        }
    }

    #[cold]
    fn new_slot(&mut self, region: RegionId, rule: &KeepRule) -> usize {
        let keep_all = rule.regions.as_ref().is_some_and(|pattern| {
            pattern.is_match(&RegionRegistry::global().name_or_placeholder(region))
        });
        let keep_above = match (keep_all, rule.longer_than_ns) {
            (true, _) => i64::MIN,
            (false, Some(threshold)) => threshold,
            (false, None) => i64::MAX,
        };
        if region.index() >= self.slot_of.len() {
            self.slot_of.resize(region.index() + 1, 0);
        }
        self.slots.push(Slot::new(region, keep_above));
        self.slot_of[region.index()] = self.slots.len() as u32;
        self.slots.len() - 1
    }

    /// Counts `records` (timed), each ending at `end_of` it: each run of
    /// one region's calls in its slot, its sums in registers; the calls its
    /// rule keeps go to `kept`.
    fn count(
        &mut self,
        records: &[Record],
        end_of: impl Fn(&Record) -> Ticks,
        rule: &KeepRule,
        to_ns: TicksToNs,
        kept: &mut Vec<KeptCall>,
    ) {
        let mut rest = records;
        while let Some(first) = rest.first() {
            let len = rest
                .iter()
                .position(|r| r.region != first.region)
                .unwrap_or(rest.len());
            let (calls, tail) = rest.split_at(len);
            rest = tail;
            let i = self.slot(first.region, rule);
            let slot = &mut self.slots[i];
            let mut run = Run::EMPTY;
            for r in calls {
                let end = end_of(r);
                let d = to_ns.duration(r.start, end);
                run.add(d);
                // `bin_of` is below HISTOGRAM_BINS; the `min` lets the
                // compiler drop the bounds check.
                slot.counts[bin_of(d).min(HISTOGRAM_BINS - 1)] += 1;
                if d > slot.keep_above {
                    kept.push((r.region.0, r.start, end));
                }
            }
            slot.absorb(&run);
        }
    }
}

/// Ticks → ns for durations as one multiply: ns per tick in 16.48 fixed
/// point. Within 1 ns of the stream reader's conversion of the call's two
/// ends ([`TickScale::to_ns`]), with one multiply where that takes two
/// 128-bit ones. A call ending before it started (a clock stepping back)
/// lasts 0 ns.
#[derive(Clone, Copy)]
struct TicksToNs {
    per_tick: u64,
}

impl TicksToNs {
    fn new(scale: &TickScale) -> TicksToNs {
        let per_tick = (scale.ns_per_tick * (1u64 << 48) as f64).round();
        TicksToNs {
            per_tick: per_tick.clamp(0.0, (1u64 << 62) as f64) as u64,
        }
    }

    #[inline]
    fn duration(self, start: u64, end: u64) -> i64 {
        let ticks = end.saturating_sub(start) as u128;
        ((ticks * self.per_tick as u128) >> 48).min(i64::MAX as u128) as i64
    }
}

/// A call kept for the stream: region id, start and end ticks, as
/// [`FrameEncoder::events`] takes it.
type KeptCall = (u32, Ticks, Ticks);

/// The statistics of every drained call, per thread and region.
pub(crate) struct Accumulator {
    rule: KeepRule,
    to_ns: TicksToNs,
    /// Whether records carry timestamps (`time_trace`).
    timed: bool,
    /// By thread index.
    threads: Vec<ThreadSlots>,
    /// The kept calls of the ring being drained.
    kept: Vec<KeptCall>,
}

impl Accumulator {
    /// An empty accumulator keeping the calls `rule` selects, converting
    /// ticks with `scale`.
    pub(crate) fn new(rule: KeepRule, scale: TickScale, timed: bool) -> Accumulator {
        Accumulator {
            rule,
            to_ns: TicksToNs::new(&scale),
            timed,
            threads: Vec::new(),
            kept: Vec::new(),
        }
    }

    /// Drains every ring: counts each record in its slot and encodes the
    /// kept ones into `encoder`. Returns how many were kept.
    pub(crate) fn drain(&mut self, rings: &mut [RingReader], encoder: &mut FrameEncoder) -> u64 {
        let mut kept_calls = 0;
        for ring in rings {
            let thread = ring.thread_index();
            let index = thread as usize;
            if index >= self.threads.len() {
                self.threads.resize_with(index + 1, ThreadSlots::default);
            }
            let (slots, kept, rule) = (&mut self.threads[index], &mut self.kept, &self.rule);
            let (to_ns, timed) = (self.to_ns, self.timed);
            ring.drain(|records, ends| {
                if timed {
                    slots.count(records, |r| ends.end(r), rule, to_ns, kept);
                    return;
                }
                for r in records {
                    let i = slots.slot(r.region, rule);
                    slots.slots[i].calls += 1;
                }
            });
            if !self.kept.is_empty() {
                encoder.events(thread, &self.kept, |c| *c);
                kept_calls += self.kept.len() as u64;
                self.kept.clear();
            }
        }
        kept_calls
    }

    /// The rows, by region id and then thread (so pooled per region they
    /// come in the order the regions were first interned).
    pub(crate) fn finish(self) -> RankAggregate {
        let registry = RegionRegistry::global();
        let timed = self.timed;
        let mut rows: Vec<(RegionId, u32, Slot)> = self
            .threads
            .into_iter()
            .enumerate()
            .flat_map(|(thread, t)| {
                t.slots
                    .into_iter()
                    .map(move |s| (s.region, thread as u32, s))
            })
            .collect();
        rows.sort_by_key(|(region, thread, _)| (region.0, *thread));
        RankAggregate {
            rows: rows
                .into_iter()
                .map(|(region, thread, slot)| AggregateRow {
                    region: registry.name_or_placeholder(region).to_string(),
                    thread,
                    stats: slot.stats(timed),
                    histogram: Histogram::from_counts(&slot.counts).unwrap_or_default(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot_of(durations: &[i64]) -> Slot {
        let mut slot = Slot::new(RegionId(0), i64::MAX);
        let mut run = Run::EMPTY;
        durations.iter().for_each(|d| run.add(*d));
        slot.absorb(&run);
        slot
    }

    #[test]
    fn a_slot_equals_adding_every_call_to_region_stats() {
        let durations = [1_000_000_007i64, 3, 99, 42, 42, 5_000, 8, 1 << 40];
        let mut expected = RegionStats::default();
        durations.iter().for_each(|d| expected.add(*d));
        let got = slot_of(&durations).stats(true);
        assert_eq!(
            (got.calls, got.total_ns, got.min_ns, got.max_ns),
            (
                expected.calls,
                expected.total_ns,
                expected.min_ns,
                expected.max_ns
            )
        );
        assert!((got.mean - expected.mean).abs() <= 1e-6 * expected.mean);
        assert!(
            (got.m2 - expected.m2).abs() <= 1e-9 * expected.m2,
            "{got:?} {expected:?}"
        );
    }

    #[test]
    fn m2_is_exact_where_the_spread_is_tiny_beside_the_values() {
        // 10⁴ calls of 10¹² ± 1 ns: Σd² in floats would lose the spread.
        let durations: Vec<i64> = (0..10_000)
            .map(|i| 1_000_000_000_000 + (i % 3) - 1)
            .collect();
        let s = slot_of(&durations).stats(true);
        let mean = durations.iter().sum::<i64>() as f64 / 1e4;
        let m2: f64 = durations.iter().map(|d| (*d as f64 - mean).powi(2)).sum();
        assert!((s.m2 - m2).abs() < 1e-6 * m2, "{} vs {m2}", s.m2);
    }

    #[test]
    fn count_only_slots_have_calls_and_no_times() {
        let mut slot = Slot::new(RegionId(0), i64::MAX);
        slot.calls = 7;
        let s = slot.stats(false);
        assert_eq!((s.calls, s.total_ns), (7, 0));
        assert!(s.min_ns > s.max_ns);
    }

    #[test]
    fn ticks_convert_with_one_multiply_within_a_nanosecond() {
        let scale = TickScale {
            anchor_ticks: 1_000,
            anchor_ns: 5_000,
            ns_per_tick: 0.357_142_857,
        };
        let to_ns = TicksToNs::new(&scale);
        for (start, end) in [
            (1_000u64, 1_000u64),
            (2_000, 2_003),
            (10, 1 << 40),
            (7, 123_456_789),
        ] {
            let reader = scale.to_ns(end) - scale.to_ns(start);
            assert!(
                (to_ns.duration(start, end) - reader).abs() <= 1,
                "{start}..{end}"
            );
        }
        assert_eq!(to_ns.duration(500, 400), 0, "a clock stepping back");
    }

    #[test]
    fn runs_of_one_region_count_like_single_calls() {
        let rule = KeepRule {
            regions: None,
            longer_than_ns: Some(50),
        };
        let to_ns = TicksToNs::new(&TickScale::NANOSECONDS);
        let record = |region: u32, d: u32| Record {
            start: 1_000,
            duration: d,
            region: RegionId(region),
        };
        let records = [
            record(0, 10),
            record(0, 20),
            record(1, 70),
            record(0, 60),
            record(1, 5),
        ];
        let mut slots = ThreadSlots::default();
        let mut kept = Vec::new();
        let end_of = |r: &Record| r.start + u64::from(r.duration);
        slots.count(&records, end_of, &rule, to_ns, &mut kept);
        let calls: Vec<(u32, u64, i64)> = slots
            .slots
            .iter()
            .map(|s| (s.region.0, s.calls, s.total))
            .collect();
        assert_eq!(calls, [(0, 3, 90), (1, 2, 75)]);
        assert_eq!(kept, [(1, 1_000, 1_070), (0, 1_000, 1_060)]);
        assert_eq!(slots.slots[0].counts.iter().sum::<u64>(), 3);
    }
}
