//! Reading the aggregate layout ([`crate::aggregate`]): ours, with per-thread
//! rows, histograms and kept calls, and the Python package's (its
//! aggregation mode), which has only the `aggregate_*` columns of
//! `rank_region_index`. Each region's statistics land in
//! [`RegionData::aggregate`]; its `per_rank` holds the calls the run kept as
//! a trace (none in the Python package's files).

use std::collections::{BTreeMap, HashSet};

use hdf5::types::TypeDescriptor;
use hdf5::{File, Group};

use super::columnar::ranks_of;
use super::datasets::{dataset, read_ints, read_strings};
use super::{Events, Problem, ProfileData, Reader, RegionData};
use crate::aggregate::{Aggregate, RegionAggregate, GROUP, LAYOUT};
use crate::attrs::{self, AttrValue};
use crate::histogram::{lower_edges, Histogram, HISTOGRAM_BINS};
use crate::RegionStats;

/// Whether `file`'s root says `storage_layout = "aggregate"`.
pub(super) fn is_aggregate(file: &File) -> bool {
    matches!(
        file.attr("storage_layout").map(|a| attrs::value(&a)),
        Ok(AttrValue::Str(layout)) if layout == LAYOUT
    )
}

const INDEX: &str = "rank_region_index";

impl Reader<'_> {
    /// The aggregate layout: the kept calls (when the index has a row of
    /// event offsets per row, as ours does), the pooled `aggregate_*`
    /// columns, and the per-thread rows of `/aggregate` where present.
    pub(super) fn read_aggregate(&self, data: &mut ProfileData) -> Result<(), Problem> {
        let index = self
            .file
            .group(INDEX)
            .map_err(|_| "aggregate file has no rank_region_index group".to_owned())?;
        let region_ids: Vec<u32> = read_ints(&index, INDEX, "region_ids")?;
        let ranks: Vec<u32> = read_ints(&index, INDEX, "ranks")?;
        let rows = region_ids.len();
        let names = self.region_names()?;
        check_rows(&names, &region_ids, &ranks)?;
        if holds_calls(&index, rows) {
            self.read_columnar(data)?;
        } else {
            data.ranks = ranks_of(&ranks, &data.metadata);
            data.regions = regions_without_calls(&names, &region_ids, &ranks);
        }
        let pooled = pooled_rows(&index, rows)?;
        for (row, stats) in pooled.into_iter().enumerate() {
            let region = region_mut(data, &names[region_ids[row] as usize])?;
            region.aggregate.insert(
                ranks[row],
                RegionAggregate {
                    pooled: Aggregate {
                        stats,
                        histogram: None,
                    },
                    threads: BTreeMap::new(),
                },
            );
        }
        if let Ok(group) = self.file.group(GROUP) {
            read_thread_rows(&group, &names, data)?;
        }
        Ok(())
    }

    /// `region_table/names`.
    fn region_names(&self) -> Result<Vec<String>, Problem> {
        let table = self
            .file
            .group("region_table")
            .map_err(|_| "aggregate file has no region_table group".to_owned())?;
        read_strings(&dataset(&table, "region_table", "names")?)
            .map_err(|e| format!("region_table/names: {e}"))
    }
}

/// Every row names a region of the table, ranks has a value per row, and
/// no (region, rank) has two rows.
fn check_rows(names: &[String], region_ids: &[u32], ranks: &[u32]) -> Result<(), Problem> {
    if ranks.len() != region_ids.len() {
        return Err(format!(
            "{INDEX}/ranks has {} rows but region_ids has {}",
            ranks.len(),
            region_ids.len()
        ));
    }
    let mut seen = HashSet::new();
    for (row, (id, rank)) in region_ids.iter().zip(ranks).enumerate() {
        let Some(name) = names.get(*id as usize) else {
            return Err(format!(
                "{INDEX} row {row} points to region id {id}, but region_table/names holds only {} names",
                names.len()
            ));
        };
        if !seen.insert((id, rank)) {
            return Err(format!(
                "{INDEX} has two rows for region {name:?} on rank {rank}"
            ));
        }
    }
    Ok(())
}

/// Whether the index slices kept calls out of `/events`: an
/// `event_offsets` column with a value per row (the Python package's
/// aggregate files leave that column empty).
fn holds_calls(index: &Group, rows: usize) -> bool {
    index
        .dataset("event_offsets")
        .is_ok_and(|d| d.size() == rows && rows > 0)
}

/// A region per name with rows, in table order, each with an empty trace
/// on every rank it ran on.
fn regions_without_calls(names: &[String], region_ids: &[u32], ranks: &[u32]) -> Vec<RegionData> {
    let mut per_region: BTreeMap<u32, RegionData> = BTreeMap::new();
    for (id, rank) in region_ids.iter().zip(ranks) {
        per_region
            .entry(*id)
            .or_insert_with(|| RegionData {
                name: names[*id as usize].clone(),
                ..RegionData::default()
            })
            .per_rank
            .insert(*rank, Events::default());
    }
    per_region.into_values().collect()
}

/// The region called `name` (the index named it, so it exists).
fn region_mut<'a>(data: &'a mut ProfileData, name: &str) -> Result<&'a mut RegionData, Problem> {
    data.regions
        .iter_mut()
        .find(|r| r.name == name)
        .ok_or_else(|| format!("region {name:?} of {INDEX} has no calls row"))
}

/// The `aggregate_*` columns: count, total, min and max per row (mean
/// from them; no m2).
fn pooled_rows(index: &Group, rows: usize) -> Result<Vec<RegionStats>, Problem> {
    let column = |name: &str| -> Result<Vec<i64>, Problem> {
        let values: Vec<i64> = read_ints(index, INDEX, name)?;
        if values.len() != rows {
            return Err(format!(
                "{INDEX}/{name} has {} rows but region_ids has {rows}",
                values.len()
            ));
        }
        Ok(values)
    };
    let counts: Vec<u64> = read_ints(index, INDEX, "aggregate_counts")?;
    if counts.len() != rows {
        return Err(format!(
            "{INDEX}/aggregate_counts has {} rows but region_ids has {rows}",
            counts.len()
        ));
    }
    let (totals, minimums, maximums) = (
        column("aggregate_totals")?,
        column("aggregate_minimums")?,
        column("aggregate_maximums")?,
    );
    Ok((0..rows)
        .map(|i| RegionStats {
            calls: counts[i],
            total_ns: totals[i],
            min_ns: minimums[i],
            max_ns: maximums[i],
            mean: if counts[i] > 0 {
                totals[i] as f64 / counts[i] as f64
            } else {
                0.0
            },
            m2: 0.0,
        })
        .collect())
}

/// `/aggregate`'s per-thread rows: each becomes its region's
/// `aggregate[rank].threads[thread]`, and a rank's threads, pooled,
/// replace its `aggregate_*` row (which they must add up to).
fn read_thread_rows(
    group: &Group,
    names: &[String],
    data: &mut ProfileData,
) -> Result<(), Problem> {
    let region_ids: Vec<u32> = read_ints(group, GROUP, "region_ids")?;
    let rows = region_ids.len();
    let ints = |name: &str| -> Result<Vec<i64>, Problem> {
        let v: Vec<i64> = read_ints(group, GROUP, name)?;
        same_length(name, v, rows)
    };
    let ranks = same_length("ranks", read_ints::<u32>(group, GROUP, "ranks")?, rows)?;
    let threads = same_length("threads", read_ints::<u32>(group, GROUP, "threads")?, rows)?;
    let calls = same_length("calls", read_ints::<u64>(group, GROUP, "calls")?, rows)?;
    let (totals, minimums, maximums) = (ints("totals")?, ints("minimums")?, ints("maximums")?);
    let means = same_length("means", read_floats(group, "means")?, rows)?;
    let m2s = same_length("m2s", read_floats(group, "m2s")?, rows)?;
    let histograms = read_histograms(group, rows)?;
    let mut seen = HashSet::new();
    for row in 0..rows {
        let id = region_ids[row];
        let name = names.get(id as usize).ok_or_else(|| {
            format!(
                "{GROUP} row {row} points to region id {id}, but region_table/names holds only {} names",
                names.len()
            )
        })?;
        let (rank, thread) = (ranks[row], threads[row]);
        if !seen.insert((id, rank, thread)) {
            return Err(format!(
                "{GROUP} has two rows for region {name:?} on rank {rank}, thread {thread}"
            ));
        }
        let stats = RegionStats {
            calls: calls[row],
            total_ns: totals[row],
            min_ns: minimums[row],
            max_ns: maximums[row],
            mean: means[row],
            m2: m2s[row],
        };
        let histogram =
            Histogram::from_counts(&histograms[row * HISTOGRAM_BINS..][..HISTOGRAM_BINS]);
        let rank_entry = region_mut(data, name)?
            .aggregate
            .get_mut(&rank)
            .ok_or_else(|| {
                format!("{GROUP} has rows for region {name:?} on rank {rank}, {INDEX} none")
            })?;
        rank_entry
            .threads
            .insert(thread, Aggregate { stats, histogram });
    }
    for region in &mut data.regions {
        for (rank, agg) in &mut region.aggregate {
            let mut threads = agg.threads.values();
            let Some(first) = threads.next() else {
                continue;
            };
            let mut pooled = first.clone();
            threads.for_each(|t| pooled.merge(t));
            if pooled.stats.calls != agg.pooled.stats.calls {
                return Err(format!(
                    "{GROUP} counts {} calls of region {:?} on rank {rank}, {INDEX} {}",
                    pooled.stats.calls, region.name, agg.pooled.stats.calls
                ));
            }
            agg.pooled = pooled;
        }
    }
    Ok(())
}

/// `values`, if it has `rows` entries.
fn same_length<T>(name: &str, values: Vec<T>, rows: usize) -> Result<Vec<T>, Problem> {
    if values.len() == rows {
        Ok(values)
    } else {
        Err(format!(
            "{GROUP}/{name} has {} rows but region_ids has {rows}",
            values.len()
        ))
    }
}

/// A 1-D float dataset of `/aggregate`.
fn read_floats(group: &Group, name: &str) -> Result<Vec<f64>, Problem> {
    let ds = dataset(group, GROUP, name)?;
    match ds.dtype().and_then(|t| t.to_descriptor()) {
        Ok(TypeDescriptor::Float(_)) if ds.ndim() == 1 => ds
            .read_raw::<f64>()
            .map_err(|e| format!("cannot read {GROUP}/{name}: {e}")),
        Ok(other) => Err(format!(
            "{GROUP}/{name} must be a 1-D float column, is {other} of shape {:?}",
            ds.shape()
        )),
        Err(e) => Err(format!("{GROUP}/{name} has an unreadable type: {e}")),
    }
}

/// `histograms` (`rows` × bins, flattened), after checking its shape and
/// that its bins are ours (`histogram_lower_edges_ns`).
fn read_histograms(group: &Group, rows: usize) -> Result<Vec<u64>, Problem> {
    let edges: Vec<i64> = read_ints(group, GROUP, "histogram_lower_edges_ns")?;
    if edges != lower_edges() {
        return Err(format!(
            "{GROUP}/histogram_lower_edges_ns holds {} bins unlike this reader's {HISTOGRAM_BINS}; \
             upgrade scope-profiler to read it",
            edges.len()
        ));
    }
    let ds = dataset(group, GROUP, "histograms")?;
    if ds.shape() != [rows, HISTOGRAM_BINS] {
        return Err(format!(
            "{GROUP}/histograms has shape {:?}, expected [{rows}, {HISTOGRAM_BINS}]",
            ds.shape()
        ));
    }
    if !matches!(
        ds.dtype().and_then(|t| t.to_descriptor()),
        Ok(TypeDescriptor::Unsigned(_) | TypeDescriptor::Integer(_))
    ) {
        return Err(format!("{GROUP}/histograms must hold integers"));
    }
    if rows == 0 {
        return Ok(Vec::new());
    }
    ds.read_raw::<u64>()
        .map_err(|e| format!("cannot read {GROUP}/histograms: {e}"))
}
