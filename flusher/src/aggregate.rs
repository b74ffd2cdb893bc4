//! [`Accumulator`]: the flusher's aggregate mode
//! ([`OutputSchema::Aggregate`](crate::OutputSchema::Aggregate)). Each
//! drained record updates its (thread, region) [`Slot`] — calls, total, min,
//! max, the sums behind mean and m2, and a log-scale histogram — and is
//! then dropped, unless the [`KeepRule`] keeps it: a call of a region whose
//! name matches a pattern, or one longer than a threshold (Extrae's
//! "bursts"), is also encoded into the rank stream like any traced call.
//!
//! Memory is one slot (about 3 KB, mostly the histogram) per (thread,
//! region) that recorded, plus a 4-byte index entry per region id per
//! thread: bounded by regions × threads, never by the number of calls.
//!
//! Mean and m2 come from exact integer sums of each duration's distance to
//! the slot's first duration (`Σ(d − s)` in `i128`, `Σ(d − s)²` in `u128`),
//! so the per-call work is additions and one 64×64-bit multiply: no
//! division, no dependency on the previous call's mean (Welford's update
//! has both). [`Slot::stats`] turns the sums into Welford's mean and m2
//! exactly (one rounding at the end), and pooling over threads and ranks
//! uses [`RegionStats::merge`] (Chan et al.).

use regex::Regex;
use scope_profiler_core::{Record, RegionId, RegionRegistry, RingReader};
use scope_profiler_format::aggregate::{AggregateRow, RankAggregate};
use scope_profiler_format::histogram::Histogram;
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

/// The statistics of one region's calls on one thread.
struct Slot {
    region: RegionId,
    /// Whether every call is kept ([`KeepRule::regions`] matched the name).
    keep_all: bool,
    /// Calls (timed or not).
    calls: u64,
    /// Sum of durations, ns (wrapping).
    total: i64,
    min: i64,
    max: i64,
    /// The first duration: the sums below are of distances to it, so they
    /// stay small whatever the clock's values.
    shift: i64,
    /// `Σ (d − shift)`.
    sum: i128,
    /// `Σ (d − shift)²` (wrapping: exact below 2¹²⁸, e.g. 10⁹ calls an hour
    /// apart from the first).
    sum_sq: u128,
    histogram: Histogram,
}

impl Slot {
    fn new(region: RegionId, keep_all: bool) -> Slot {
        Slot {
            region,
            keep_all,
            calls: 0,
            total: 0,
            min: i64::MAX,
            max: i64::MIN,
            shift: 0,
            sum: 0,
            sum_sq: 0,
            histogram: Histogram::default(),
        }
    }

    /// Counts one call of `d` ns.
    #[inline]
    fn add(&mut self, d: i64) {
        if self.calls == 0 {
            self.shift = d;
        }
        self.calls += 1;
        self.total = self.total.wrapping_add(d);
        self.min = self.min.min(d);
        self.max = self.max.max(d);
        let x = d as i128 - self.shift as i128;
        self.sum = self.sum.wrapping_add(x);
        let a = x.unsigned_abs() as u64 as u128;
        self.sum_sq = self.sum_sq.wrapping_add(a * a);
        self.histogram.add(d);
    }

    /// The slot's statistics: Welford's mean and m2 from the exact sums
    /// (`m2 = Σx² − (Σx)²/n` for `x = d − shift`, computed in integers
    /// where they fit); only calls, with `timed` false.
    fn stats(&self, timed: bool) -> RegionStats {
        if !timed || self.calls == 0 {
            let mut s = RegionStats::default();
            s.add_untimed_calls(self.calls);
            return s;
        }
        let n = self.calls as f64;
        let exact = (self.calls as u128)
            .checked_mul(self.sum_sq)
            .zip(self.sum.unsigned_abs().checked_mul(self.sum.unsigned_abs()))
            .and_then(|(n_sq, sum2)| n_sq.checked_sub(sum2));
        let m2 = match exact {
            Some(numerator) => numerator as f64 / n,
            None => (self.sum_sq as f64 - (self.sum as f64).powi(2) / n).max(0.0),
        };
        RegionStats {
            calls: self.calls,
            total_ns: self.total,
            min_ns: self.min,
            max_ns: self.max,
            mean: self.shift as f64 + self.sum as f64 / n,
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
    /// The slot of `region`, made on its first call on this thread.
    #[inline]
    fn slot(&mut self, region: RegionId, rule: &KeepRule) -> &mut Slot {
        match self.slot_of.get(region.index()) {
            Some(&i) if i > 0 => &mut self.slots[i as usize - 1],
            _ => self.new_slot(region, rule),
        }
    }

    #[cold]
    fn new_slot(&mut self, region: RegionId, rule: &KeepRule) -> &mut Slot {
        let keep_all = rule.regions.as_ref().is_some_and(|pattern| {
            pattern.is_match(&RegionRegistry::global().name_or_placeholder(region))
        });
        if region.index() >= self.slot_of.len() {
            self.slot_of.resize(region.index() + 1, 0);
        }
        self.slots.push(Slot::new(region, keep_all));
        self.slot_of[region.index()] = self.slots.len() as u32;
        let last = self.slots.len() - 1;
        &mut self.slots[last]
    }
}

/// The statistics of every drained call, per thread and region.
pub(crate) struct Accumulator {
    rule: KeepRule,
    /// Ticks → ns, as the stream's reader converts them: a kept call's
    /// duration in the file equals the one counted here.
    scale: TickScale,
    /// Whether records carry timestamps (`time_trace`).
    timed: bool,
    /// By thread index.
    threads: Vec<ThreadSlots>,
    /// The kept records of the slice being drained.
    kept: Vec<Record>,
}

impl Accumulator {
    /// An empty accumulator keeping the calls `rule` selects.
    pub(crate) fn new(rule: KeepRule, scale: TickScale, timed: bool) -> Accumulator {
        Accumulator {
            rule,
            scale,
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
            let (scale, timed) = (self.scale, self.timed);
            let threshold = rule.longer_than_ns.unwrap_or(i64::MAX);
            ring.drain(|records| {
                if !timed {
                    for r in records {
                        slots.slot(r.region, rule).calls += 1;
                    }
                    return;
                }
                for r in records {
                    let slot = slots.slot(r.region, rule);
                    let d = scale.to_ns(r.end).wrapping_sub(scale.to_ns(r.start));
                    slot.add(d);
                    if slot.keep_all || d > threshold {
                        kept.push(*r);
                    }
                }
            });
            if !self.kept.is_empty() {
                encoder.events(thread, &self.kept, |r| (r.region.0, r.start, r.end));
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
                    histogram: slot.histogram,
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot_of(durations: &[i64]) -> Slot {
        let mut slot = Slot::new(RegionId(0), false);
        durations.iter().for_each(|d| slot.add(*d));
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
        // 10⁴ calls of 10¹² ± 1 ns: Σd² would lose the spread in f64.
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
        let mut slot = Slot::new(RegionId(0), false);
        slot.calls = 7;
        let s = slot.stats(false);
        assert_eq!((s.calls, s.total_ns), (7, 0));
        assert!(s.min_ns > s.max_ns);
    }
}
