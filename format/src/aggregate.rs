//! The aggregate layout ([`OutputSchema::Aggregate`](crate::merged::OutputSchema::Aggregate)):
//! statistics per rank, thread and region instead of one entry per call, so
//! the file's size depends on ranks × threads × regions, never on the run's
//! length. The calls a run chose to keep as a trace (by region name or by
//! duration) are stored beside them as a columnar trace.
//!
//! ```text
//! /  attrs scope_profiler_schema = 3, storage_layout = "aggregate"
//! /metadata                      attributes, as in every schema
//! /region_table/names            vlen UTF-8; region id = index
//! /rank_region_index/            one row per (rank, region), threads pooled:
//!     region_ids u32, ranks u32,
//!     aggregate_counts u64, aggregate_totals i64, aggregate_minimums i64,
//!     aggregate_maximums i64, aggregate_exclusives i64   what scope-profiler 0.7.5 reads
//!     event_offsets u64, event_counts u64, source_lines i64, source_files str,
//!     source_texts str, tags str ("[]")                  the row's kept calls in /events
//! /events/{start_deltas, durations, thread_ids, task_ids, await_ns}
//!                                the kept calls, as in schema 3
//! /aggregate/                    one row per (rank, thread, region):
//!     region_ids u32, ranks u32, threads u32, calls u64, totals i64,
//!     minimums i64, maximums i64, means f64, m2s f64,
//!     histograms u64 [rows × 369], histogram_lower_edges_ns i64 [369]
//! ```
//! The Python package's reader (its own aggregation mode writes this
//! layout) reads `region_table` and the `aggregate_*` columns of
//! `rank_region_index` and ignores the rest. Exclusive time is not
//! measured: `aggregate_exclusives` holds the inclusive total, which is what
//! that package assumes wherever exclusive time is unknown. Count-only runs
//! (`time_trace(false)`) store 0 for totals, minimums and maximums.
//! Every dataset is contiguous and uncompressed: two runs with the same
//! ranks, threads and regions write files of the same size however many
//! calls they made.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use hdf5::types::VarLenUnicode;
use hdf5::{File, Group};

use crate::append::{AppendableColumns, NO_TASK};
use crate::deltas::StartDeltas;
use crate::histogram::{lower_edges, Histogram, HISTOGRAM_BINS};
use crate::merged::RankInput;
use crate::metadata::{self, RunFacts};
use crate::read::read_rank_stream;
use crate::{attrs, Events, RegionStats, WriteError};

/// The root attribute `storage_layout` of an aggregate file.
pub const LAYOUT: &str = "aggregate";
/// The group of per-thread rows.
pub const GROUP: &str = "aggregate";
/// Kept calls per chunk of the event columns: small, since most aggregate
/// files keep few calls.
const EVENT_CHUNK: usize = 1024;

/// A region's durations on one rank or thread, summarised without the calls.
#[derive(Clone, Debug, PartialEq)]
pub struct Aggregate {
    /// Calls, total, min, max, mean and m2, ns.
    pub stats: RegionStats,
    /// The durations by log-scale bin; `None` where the file has none (the
    /// Python package's aggregate files, which carry no m2 either).
    pub histogram: Option<Histogram>,
}

impl Aggregate {
    /// Pools `other` into `self`, exactly (a histogram only if both have one).
    pub fn merge(&mut self, other: &Aggregate) {
        self.stats.merge(&other.stats);
        match (&mut self.histogram, &other.histogram) {
            (Some(mine), Some(theirs)) => mine.merge(theirs),
            (mine, _) => *mine = None,
        }
    }

    /// The `q`-quantile (0 ≤ q ≤ 1) of the durations, ns, from the
    /// histogram ([`Histogram::quantile`]); `None` without one.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let s = &self.stats;
        let h = self.histogram.as_ref()?;
        (s.min_ns <= s.max_ns).then(|| h.quantile(q, s.min_ns, s.max_ns))
    }
}

/// One region on one rank of an aggregate file.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionAggregate {
    /// Pooled over the rank's threads.
    pub pooled: Aggregate,
    /// Per thread index, where the file has per-thread rows (ours do).
    pub threads: BTreeMap<u32, Aggregate>,
}

/// One region on one thread, as a rank accumulates it in aggregate mode.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateRow {
    /// The region's name.
    pub region: String,
    /// The thread's per-run index.
    pub thread: u32,
    /// Calls and duration statistics, ns.
    pub stats: RegionStats,
    /// The durations by log-scale bin.
    pub histogram: Histogram,
}

/// What one rank accumulated in aggregate mode: a row per (thread, region)
/// with calls. Its size depends on threads × regions only.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RankAggregate {
    /// The rows, in the order the rank first saw each (thread, region).
    pub rows: Vec<AggregateRow>,
}

const MAGIC: &[u8; 4] = b"SPAG";

impl RankAggregate {
    /// The statistics of every call in `data` (a trace, read with
    /// [`read_profile`](crate::read_profile)), per thread and region of
    /// rank `rank`; calls without a thread column count on thread 0.
    pub fn of_calls(data: &crate::ProfileData, rank: u32) -> RankAggregate {
        let mut rows = Vec::new();
        for region in &data.regions {
            let Some(events) = region.per_rank.get(&rank) else {
                continue;
            };
            let mut per_thread: BTreeMap<u32, (RegionStats, Histogram)> = BTreeMap::new();
            for (i, d) in events.durations().enumerate() {
                let thread = events.threads.as_ref().and_then(|t| t.get(i)).copied();
                let (stats, histogram) = per_thread.entry(thread.unwrap_or(0)).or_default();
                stats.add(d);
                histogram.add(d);
            }
            if events.untimed_calls > 0 {
                let (stats, _) = per_thread.entry(0).or_default();
                stats.add_untimed_calls(events.untimed_calls);
            }
            rows.extend(
                per_thread
                    .into_iter()
                    .map(|(thread, (stats, histogram))| AggregateRow {
                        region: region.name.clone(),
                        thread,
                        stats,
                        histogram,
                    }),
            );
        }
        RankAggregate { rows }
    }

    /// The rows pooled over threads, one per region in first-seen order.
    pub fn per_region(&self) -> Vec<(&str, RegionStats)> {
        let mut pooled: Vec<(&str, RegionStats)> = Vec::new();
        for row in &self.rows {
            match pooled.iter_mut().find(|(name, _)| *name == row.region) {
                Some((_, stats)) => stats.merge(&row.stats),
                None => pooled.push((&row.region, row.stats)),
            }
        }
        pooled
    }

    /// The rows as bytes (for the MPI gather): little-endian, each
    /// histogram as its non-empty bins only.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.rows.len() * 128);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.rows.len() as u32).to_le_bytes());
        for row in &self.rows {
            out.extend_from_slice(&(row.region.len() as u32).to_le_bytes());
            out.extend_from_slice(row.region.as_bytes());
            out.extend_from_slice(&row.thread.to_le_bytes());
            let s = &row.stats;
            out.extend_from_slice(&s.calls.to_le_bytes());
            for v in [s.total_ns, s.min_ns, s.max_ns] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            for v in [s.mean, s.m2] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            let bins: Vec<(usize, u64)> = row
                .histogram
                .counts()
                .iter()
                .copied()
                .enumerate()
                .filter(|(_, c)| *c > 0)
                .collect();
            out.extend_from_slice(&(bins.len() as u16).to_le_bytes());
            for (bin, count) in bins {
                out.extend_from_slice(&(bin as u16).to_le_bytes());
                out.extend_from_slice(&count.to_le_bytes());
            }
        }
        out
    }

    /// Reads what [`encode`](Self::encode) wrote; `None` for anything else
    /// (truncated, a bin out of range, a name not UTF-8).
    pub fn decode(bytes: &[u8]) -> Option<RankAggregate> {
        let mut r = ByteReader(bytes);
        if r.take(4)? != MAGIC {
            return None;
        }
        let n = r.u32()? as usize;
        let mut rows = Vec::with_capacity(n.min(bytes.len() / 64));
        for _ in 0..n {
            let name_len = r.u32()? as usize;
            let region = std::str::from_utf8(r.take(name_len)?).ok()?.to_owned();
            let thread = r.u32()?;
            let stats = RegionStats {
                calls: r.u64()?,
                total_ns: r.u64()? as i64,
                min_ns: r.u64()? as i64,
                max_ns: r.u64()? as i64,
                mean: f64::from_bits(r.u64()?),
                m2: f64::from_bits(r.u64()?),
            };
            let mut counts = vec![0u64; HISTOGRAM_BINS];
            for _ in 0..r.u16()? {
                let bin = r.u16()? as usize;
                *counts.get_mut(bin)? = r.u64()?;
            }
            rows.push(AggregateRow {
                region,
                thread,
                stats,
                histogram: Histogram::from_counts(&counts)?,
            });
        }
        r.0.is_empty().then_some(RankAggregate { rows })
    }
}

/// Reads little-endian values off the front of a slice.
struct ByteReader<'a>(&'a [u8]);

impl<'a> ByteReader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_le_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

/// Writes the aggregate file `tmp`: every rank's [`RankInput::aggregate`]
/// (or, for a rank without one, the statistics of the calls in its stream)
/// and the calls its stream holds as the kept trace, on rank 0's clock.
pub(crate) fn write(tmp: &Path, ranks: &[RankInput], facts: &RunFacts) -> Result<(), WriteError> {
    let h5 = |source| WriteError::Hdf5 {
        path: tmp.to_owned(),
        source,
    };
    let file = crate::h5file::create(tmp).map_err(h5)?;
    attrs::write_i64(&file, crate::SCHEMA_ATTRIBUTE, 3).map_err(h5)?;
    attrs::write_str(&file, "storage_layout", LAYOUT).map_err(h5)?;
    metadata::write(&file.create_group("metadata").map_err(h5)?, facts).map_err(h5)?;
    let mut events =
        AppendableColumns::create(&file.create_group("events").map_err(h5)?, EVENT_CHUNK)
            .map_err(h5)?;
    let mut table = Table::default();
    for input in ranks {
        let kept = read_rank_stream(&input.path, &input.shift).map_err(|e| WriteError::Stream {
            path: input.path.clone(),
            source: std::io::Error::other(e.problem),
        })?;
        let computed;
        let aggregate = match &input.aggregate {
            Some(a) => a,
            None => {
                computed = RankAggregate::of_calls(&kept, input.rank);
                &computed
            }
        };
        table
            .add_rank(input, aggregate, &kept, &mut events)
            .map_err(h5)?;
    }
    table.finish(&file).map_err(h5)?;
    drop(events);
    file.flush().map_err(h5)?;
    file.close().map_err(h5)
}

/// The region table, the per-(rank, region) index and the per-thread rows,
/// built rank by rank.
#[derive(Default)]
struct Table {
    names: Vec<String>,
    ids: HashMap<String, u32>,
    index: IndexColumns,
    threads: ThreadColumns,
}

/// `rank_region_index`'s columns.
#[derive(Default)]
struct IndexColumns {
    region_ids: Vec<u32>,
    ranks: Vec<u32>,
    offsets: Vec<u64>,
    counts: Vec<u64>,
    stats: Vec<RegionStats>,
}

/// `/aggregate`'s columns.
#[derive(Default)]
struct ThreadColumns {
    region_ids: Vec<u32>,
    ranks: Vec<u32>,
    threads: Vec<u32>,
    stats: Vec<RegionStats>,
    histograms: Vec<u64>,
}

impl Table {
    fn region_id(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), id);
        id
    }

    /// Adds one rank: its per-thread rows, a pooled row per region, and the
    /// region's kept calls (`kept`, on rank 0's clock) appended to `events`.
    fn add_rank(
        &mut self,
        input: &RankInput,
        aggregate: &RankAggregate,
        kept: &crate::ProfileData,
        events: &mut AppendableColumns,
    ) -> hdf5::Result<()> {
        for row in &aggregate.rows {
            let id = self.region_id(&row.region);
            let t = &mut self.threads;
            t.region_ids.push(id);
            t.ranks.push(input.rank);
            t.threads.push(row.thread);
            t.stats.push(row.stats);
            t.histograms.extend_from_slice(row.histogram.counts());
        }
        let mut pooled = aggregate.per_region();
        // A kept call is always counted too; a region only the stream has
        // (a rank without an accumulator) is pooled from its calls.
        let mut calls_of: HashMap<&str, &Events> = HashMap::new();
        for region in &kept.regions {
            if let Some(e) = region.per_rank.get(&input.rank) {
                calls_of.insert(&region.name, e);
                if !pooled.iter().any(|(name, _)| *name == region.name) {
                    pooled.push((&region.name, e.stats()));
                }
            }
        }
        for (name, stats) in pooled {
            let id = self.region_id(name);
            let offset = events.len() as u64;
            let count = match calls_of.get(name) {
                Some(e) => append_calls(events, e)?,
                None => 0,
            };
            let i = &mut self.index;
            i.region_ids.push(id);
            i.ranks.push(input.rank);
            i.offsets.push(offset);
            i.counts.push(count);
            i.stats.push(stats);
        }
        Ok(())
    }

    /// Writes `region_table`, `rank_region_index` and `/aggregate`.
    fn finish(self, file: &File) -> hdf5::Result<()> {
        let names: Vec<VarLenUnicode> = self
            .names
            .iter()
            .map(|n| n.replace('\0', "\u{FFFD}").parse::<VarLenUnicode>())
            .collect::<Result<_, _>>()
            .map_err(|e| hdf5::Error::from(e.to_string().as_str()))?;
        column(&file.create_group("region_table")?, "names", &names)?;

        let g = file.create_group("rank_region_index")?;
        let i = &self.index;
        let rows = i.region_ids.len();
        column(&g, "region_ids", &i.region_ids)?;
        column(&g, "ranks", &i.ranks)?;
        column(&g, "event_offsets", &i.offsets)?;
        column(&g, "event_counts", &i.counts)?;
        column(&g, "source_lines", &vec![-1i64; rows])?;
        let empty = vec![VarLenUnicode::default(); rows];
        column(&g, "source_files", &empty)?;
        column(&g, "source_texts", &empty)?;
        let list: VarLenUnicode = "[]".parse().unwrap_or_default();
        column(&g, "tags", &vec![list; rows])?;
        let calls: Vec<u64> = i.stats.iter().map(|s| s.calls).collect();
        column(&g, "aggregate_counts", &calls)?;
        let totals: Vec<i64> = i.stats.iter().map(|s| timed(s).0).collect();
        column(&g, "aggregate_totals", &totals)?;
        let min: Vec<i64> = i.stats.iter().map(|s| timed(s).1).collect();
        column(&g, "aggregate_minimums", &min)?;
        let max: Vec<i64> = i.stats.iter().map(|s| timed(s).2).collect();
        column(&g, "aggregate_maximums", &max)?;
        column(&g, "aggregate_exclusives", &totals)?;

        let g = file.create_group(GROUP)?;
        let t = &self.threads;
        column(&g, "region_ids", &t.region_ids)?;
        column(&g, "ranks", &t.ranks)?;
        column(&g, "threads", &t.threads)?;
        column(
            &g,
            "calls",
            &t.stats.iter().map(|s| s.calls).collect::<Vec<_>>(),
        )?;
        let pick = |f: fn((i64, i64, i64)) -> i64| -> Vec<i64> {
            t.stats.iter().map(|s| f(timed(s))).collect()
        };
        column(&g, "totals", &pick(|v| v.0))?;
        column(&g, "minimums", &pick(|v| v.1))?;
        column(&g, "maximums", &pick(|v| v.2))?;
        column(
            &g,
            "means",
            &t.stats.iter().map(|s| s.mean).collect::<Vec<_>>(),
        )?;
        column(&g, "m2s", &t.stats.iter().map(|s| s.m2).collect::<Vec<_>>())?;
        let histograms = g
            .new_dataset::<u64>()
            .shape((t.threads.len(), HISTOGRAM_BINS))
            .create("histograms")?;
        if !t.histograms.is_empty() {
            histograms.write_raw(&t.histograms[..])?;
        }
        column(&g, "histogram_lower_edges_ns", &lower_edges())?;
        attrs::write_str(
            &g,
            "histogram_bins",
            "log-linear: durations 0-7 ns one bin each, then 8 equal bins per power of two \
             up to 2^48 ns; bin b holds [lower_edges[b], lower_edges[b+1]), the last bin \
             everything from 2^48 ns",
        )?;
        Ok(())
    }
}

/// `(total, min, max)` of `s`, zeros when it has no timed call (count-only
/// mode leaves min above max).
fn timed(s: &RegionStats) -> (i64, i64, i64) {
    if s.min_ns > s.max_ns {
        (0, 0, 0)
    } else {
        (s.total_ns, s.min_ns, s.max_ns)
    }
}

/// Appends `e`'s timed calls to the event columns; returns how many.
fn append_calls(events: &mut AppendableColumns, e: &Events) -> hdf5::Result<u64> {
    let n = e.starts.len().min(e.ends.len());
    let mut deltas = StartDeltas::default();
    let starts: Vec<i64> = e.starts[..n].iter().map(|s| deltas.encode(*s)).collect();
    let durations: Vec<i64> = e.starts[..n]
        .iter()
        .zip(&e.ends[..n])
        .map(|(s, end)| end.wrapping_sub(*s))
        .collect();
    let threads = match &e.threads {
        Some(t) if t.len() >= n => t[..n].to_vec(),
        _ => vec![0; n],
    };
    events.append(&starts, &durations, &threads, &vec![NO_TASK; n])?;
    Ok(n as u64)
}

/// Writes `data` as the new contiguous 1-D dataset `name` of `group`.
fn column<T: hdf5::H5Type>(group: &Group, name: &str, data: &[T]) -> hdf5::Result<()> {
    group.new_dataset_builder().with_data(data).create(name)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(region: &str, thread: u32, durations: &[i64]) -> AggregateRow {
        let mut stats = RegionStats::default();
        let mut histogram = Histogram::default();
        for d in durations {
            stats.add(*d);
            histogram.add(*d);
        }
        AggregateRow {
            region: region.into(),
            thread,
            stats,
            histogram,
        }
    }

    #[test]
    fn a_rank_aggregate_survives_encoding_and_garbage_is_refused() {
        let agg = RankAggregate {
            rows: vec![
                row("solve", 0, &[5, 900, 1_000_000]),
                row("ünïcødé/x", 3, &[7]),
            ],
        };
        let bytes = agg.encode();
        assert_eq!(RankAggregate::decode(&bytes), Some(agg));
        assert_eq!(RankAggregate::decode(&bytes[..bytes.len() - 1]), None);
        assert_eq!(RankAggregate::decode(b"SPAG\xff\xff\xff\xff"), None);
        assert_eq!(RankAggregate::decode(b"nope"), None);
        assert_eq!(
            RankAggregate::decode(&RankAggregate::default().encode()),
            Some(RankAggregate::default())
        );
    }

    #[test]
    fn rows_pool_per_region_exactly() {
        let agg = RankAggregate {
            rows: vec![row("a", 0, &[1, 2]), row("b", 0, &[9]), row("a", 1, &[3])],
        };
        let pooled = agg.per_region();
        assert_eq!(pooled.len(), 2);
        assert_eq!(pooled[0].0, "a");
        assert_eq!((pooled[0].1.calls, pooled[0].1.total_ns), (3, 6));
        assert_eq!(pooled[1].1.calls, 1);
    }

    #[test]
    fn merging_aggregates_keeps_a_histogram_only_if_both_have_one() {
        let r = row("a", 0, &[10, 20]);
        let with = Aggregate {
            stats: r.stats,
            histogram: Some(r.histogram.clone()),
        };
        let mut both = with.clone();
        both.merge(&with);
        assert_eq!(both.stats.calls, 4);
        assert_eq!(both.histogram.as_ref().map(Histogram::calls), Some(4));
        let mut one = with.clone();
        one.merge(&Aggregate {
            stats: r.stats,
            histogram: None,
        });
        assert_eq!((one.stats.calls, one.histogram.is_none()), (4, true));
        assert_eq!(one.quantile(0.5), None);
    }
}
