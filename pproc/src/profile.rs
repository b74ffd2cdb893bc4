//! [`ProfileFile`]: the reader API, the Rust counterpart of the Python
//! package's `ProfilingH5Reader`.

use std::collections::BTreeMap;
use std::path::Path;

use scope_profiler_format::aggregate::Aggregate;
use scope_profiler_format::{
    read_profile, AttrValue, Damage, ProfileData, RegionData, RegionStats,
};

use crate::error::{PprocError, Result};

/// Statistics of a set of region calls; durations in ns.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Number of calls.
    pub calls: u64,
    /// Sum of durations.
    pub total: i64,
    /// Mean duration.
    pub avg: f64,
    /// Shortest call.
    pub min: i64,
    /// Longest call.
    pub max: i64,
    /// Population standard deviation (numpy's `std`).
    pub std: f64,
    /// Median (numpy's linear-interpolation percentile).
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Whether the percentiles are estimates from a log-scale histogram
    /// (an aggregate file: within about 6 % of the exact ones) rather than
    /// computed from every call.
    pub estimated: bool,
}

impl Stats {
    /// Statistics of `durations` (ns); count-only calls add to `calls` only.
    /// The moments are [`RegionStats`]' (what the runtime's summary prints);
    /// the percentiles come from sorting `durations` in place.
    pub fn of(durations: &mut [i64], untimed_calls: u64) -> Stats {
        let moments = RegionStats::of_durations(durations.iter().copied());
        let calls = moments.calls + untimed_calls;
        if durations.is_empty() {
            return Stats {
                calls,
                ..Stats::default()
            };
        }
        durations.sort_unstable();
        Stats {
            calls,
            total: moments.total_ns,
            avg: moments.mean_ns(),
            min: moments.min_ns,
            max: moments.max_ns,
            std: moments.std_dev_ns(),
            p50: percentile(durations, 50.0),
            p90: percentile(durations, 90.0),
            p95: percentile(durations, 95.0),
            p99: percentile(durations, 99.0),
            estimated: false,
        }
    }

    /// Statistics of an aggregate (an aggregate file's region on some
    /// ranks): the moments as stored, the percentiles estimated from its
    /// histogram. Without a histogram (the Python package's aggregate files,
    /// which store no m2 either) the percentiles and `std` are NaN: unknown.
    pub fn of_aggregate(a: &Aggregate) -> Stats {
        let s = &a.stats;
        let q = |q: f64| a.quantile(q).unwrap_or(f64::NAN);
        Stats {
            calls: s.calls,
            total: s.total_ns,
            avg: s.mean_ns(),
            min: s.min_ns,
            max: s.max_ns,
            std: if a.histogram.is_some() {
                s.std_dev_ns()
            } else {
                f64::NAN
            },
            p50: q(0.50),
            p90: q(0.90),
            p95: q(0.95),
            p99: q(0.99),
            estimated: a.histogram.is_some(),
        }
    }
}

/// numpy's default (linear) percentile of sorted values.
fn percentile(sorted: &[i64], q: f64) -> f64 {
    let pos = (sorted.len() - 1) as f64 * q / 100.0;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    let frac = pos - lo as f64;
    sorted[lo] as f64 + (sorted[hi] as f64 - sorted[lo] as f64) * frac
}

/// A profile file opened for analysis.
#[derive(Debug, Clone)]
pub struct ProfileFile {
    data: ProfileData,
}

impl ProfileFile {
    /// Opens a profile of schema 1, 2 or 3 (ours or the Python package's).
    pub fn open(path: impl AsRef<Path>) -> Result<ProfileFile> {
        Ok(ProfileFile {
            data: read_profile(path)?,
        })
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.data.path
    }

    /// The file's schema version.
    pub fn schema(&self) -> i64 {
        self.data.schema
    }

    /// What a killed writer left damaged (empty for a cleanly written file).
    pub fn damage(&self) -> &[Damage] {
        &self.data.damage
    }

    /// Ranks, ascending.
    pub fn ranks(&self) -> &[u32] {
        &self.data.ranks
    }

    /// Region names in file order.
    pub fn region_names(&self) -> Vec<&str> {
        self.data.regions.iter().map(|r| r.name.as_str()).collect()
    }

    /// All regions.
    pub fn regions(&self) -> &[RegionData] {
        &self.data.regions
    }

    /// Region `name`, per rank.
    pub fn region(&self, name: &str) -> Result<&RegionData> {
        self.data
            .region(name)
            .ok_or_else(|| PprocError::UnknownRegion {
                path: self.path().to_owned(),
                name: name.to_owned(),
            })
    }

    /// Whether the file is an aggregate profile: statistics per region
    /// instead of every call (its regions' `per_rank` hold only the calls
    /// the run kept as a trace).
    pub fn is_aggregate(&self) -> bool {
        self.data.regions.iter().any(|r| !r.aggregate.is_empty())
    }

    /// Calls kept as a trace in all regions (every call, in a trace file).
    pub fn traced_calls(&self) -> u64 {
        self.data
            .regions
            .iter()
            .flat_map(|r| r.per_rank.values())
            .map(|e| e.starts.len() as u64)
            .sum()
    }

    /// Thread names by (rank, thread index), where the file records them.
    pub fn thread_names(&self) -> &BTreeMap<(u32, u32), String> {
        &self.data.thread_names
    }

    /// `/metadata`'s attributes.
    pub fn metadata(&self) -> &BTreeMap<String, AttrValue> {
        &self.data.metadata
    }

    /// Checks that every rank in `ranks` exists; the error lists those that do.
    pub fn check_ranks(&self, ranks: &[u32]) -> Result<()> {
        let missing: Vec<u32> = ranks
            .iter()
            .copied()
            .filter(|r| !self.data.ranks.contains(r))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(PprocError::UnknownRanks {
                path: self.path().to_owned(),
                missing,
                available: self.data.ranks.clone(),
            })
        }
    }

    /// Pooled statistics of `region` over `ranks` (all ranks when `None`);
    /// in an aggregate file, of every call from its statistics
    /// ([`Stats::of_aggregate`]).
    pub fn stats(region: &RegionData, ranks: Option<&[u32]>) -> Stats {
        if !region.aggregate.is_empty() {
            let mut selected = region
                .aggregate
                .iter()
                .filter(|(rank, _)| ranks.is_none_or(|r| r.contains(rank)))
                .map(|(_, a)| &a.pooled);
            let Some(first) = selected.next() else {
                return Stats::default();
            };
            let mut pooled = first.clone();
            selected.for_each(|a| pooled.merge(a));
            return Stats::of_aggregate(&pooled);
        }
        let mut durations = Vec::new();
        let mut untimed = 0;
        for (rank, events) in &region.per_rank {
            if ranks.is_some_and(|r| !r.contains(rank)) {
                continue;
            }
            durations.extend(events.durations());
            untimed += events.untimed_calls;
        }
        Stats::of(&mut durations, untimed)
    }

    /// Per-rank statistics of `region` over `ranks`.
    pub fn stats_per_rank(region: &RegionData, ranks: Option<&[u32]>) -> BTreeMap<u32, Stats> {
        if !region.aggregate.is_empty() {
            return region
                .aggregate
                .iter()
                .filter(|(rank, _)| ranks.is_none_or(|r| r.contains(rank)))
                .map(|(rank, a)| (*rank, Stats::of_aggregate(&a.pooled)))
                .collect();
        }
        region
            .per_rank
            .iter()
            .filter(|(rank, _)| ranks.is_none_or(|r| r.contains(rank)))
            .map(|(rank, events)| {
                let mut d: Vec<i64> = events.durations().collect();
                (*rank, Stats::of(&mut d, events.untimed_calls))
            })
            .collect()
    }

    /// Slowest rank's total over the mean of ranks with time, minus 1, in %
    /// (the Python package's `imbalance`); 0 with fewer than two such ranks.
    pub fn imbalance_pct(region: &RegionData, ranks: Option<&[u32]>) -> f64 {
        let totals: Vec<f64> = Self::stats_per_rank(region, ranks)
            .values()
            .map(|s| s.total as f64)
            .filter(|t| *t > 0.0)
            .collect();
        if totals.len() < 2 {
            return 0.0;
        }
        let mean = totals.iter().sum::<f64>() / totals.len() as f64;
        let max = totals.iter().copied().fold(f64::MIN, f64::max);
        (max / mean - 1.0) * 100.0
    }
}
