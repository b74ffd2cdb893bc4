//! Reading schemas 2 and 3, the columnar layout: shared event columns
//! sliced by a per-(rank, region) index. Schema 2 stores absolute
//! `events/start_times` and `end_times`; schema 3 delta-encoded
//! `events/start_deltas` and `durations`. Which one a file uses is read from
//! the columns it has, not from its version number.
//!
//! Reading goes in three steps, each its own function: the index
//! ([`RowIndex`]: every column present, one length, valid tags, region ids
//! in range, one row per (region, rank)), the event columns
//! ([`EventColumnsOnDisk`]), and the rows' spans checked against the columns
//! before any row is sliced out.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use hdf5::File;

use super::datasets::{dataset, read_ints, read_strings};
use super::{Events, Problem, ProfileData, Reader, RegionData};
use crate::attrs::AttrValue;
use crate::deltas::StartDeltas;

/// The datasets of `rank_region_index` that every columnar reader needs.
const REQUIRED: [&str; 8] = [
    "region_ids",
    "ranks",
    "event_offsets",
    "event_counts",
    "source_lines",
    "source_files",
    "source_texts",
    "tags",
];

/// The checked index: row `i` holds region `region_ids[i]` on rank
/// `ranks[i]`, its events at `spans[i]` (start, end) of the event columns.
struct RowIndex {
    names: Vec<String>,
    region_ids: Vec<u32>,
    ranks: Vec<u32>,
    spans: Vec<(u64, u64)>,
}

/// How a file stores call times.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Timing {
    /// `start_times`, `end_times` (schema 2).
    Absolute,
    /// `start_deltas`, `durations` (schema 3).
    Deltas,
}

/// The `events` group's columns, read whole.
struct EventColumnsOnDisk {
    timing: Timing,
    /// Start times, or start deltas.
    first: Vec<i64>,
    /// End times, or durations.
    second: Vec<i64>,
    threads: Option<Vec<u32>>,
}

impl Reader<'_> {
    /// Schemas 2 and 3: every row of the index, sliced out of the event columns.
    pub(super) fn read_columnar(&self, data: &mut ProfileData) -> Result<(), Problem> {
        let index = RowIndex::read(self.file, data.schema)?;
        let columns = EventColumnsOnDisk::read(self.file, data.schema)?;
        index.check_spans(columns.held())?;

        let mut regions: Vec<RegionData> = Vec::new();
        let mut slot_of: BTreeMap<u32, usize> = BTreeMap::new();
        for (row, &(from, to)) in index.spans.iter().enumerate() {
            let id = index.region_ids[row];
            let slot = *slot_of.entry(id).or_insert_with(|| {
                regions.push(RegionData {
                    name: index.names[id as usize].clone(),
                    per_rank: BTreeMap::new(),
                    aggregate: BTreeMap::new(),
                });
                regions.len() - 1
            });
            let events = columns.slice(from as usize, to as usize);
            regions[slot].per_rank.insert(index.ranks[row], events);
        }
        // The file's region order is region_table order.
        regions.sort_by_key(|r| index.names.iter().position(|n| *n == r.name));
        data.ranks = ranks_of(&index.ranks, &data.metadata);
        data.regions = regions;
        data.thread_names = thread_names(self.file)?;
        Ok(())
    }
}

/// Thread names by (rank, thread index) from `thread_table` (scope-profiler
/// 0.7.5's lane table, absent where the writer tracked no threads). A row
/// named `thread <index>`, which is how our writer names a thread that had
/// no name, reads as unnamed.
fn thread_names(file: &File) -> Result<BTreeMap<(u32, u32), String>, Problem> {
    let Ok(table) = file.group("thread_table") else {
        return Ok(BTreeMap::new());
    };
    let ranks: Vec<u32> = read_ints(&table, "thread_table", "ranks")?;
    let index: Vec<i64> = read_ints(&table, "thread_table", "index")?;
    let names = read_strings(&dataset(&table, "thread_table", "name")?)
        .map_err(|e| format!("thread_table/name: {e}"))?;
    for (name, len) in [("index", index.len()), ("name", names.len())] {
        if len != ranks.len() {
            return Err(format!(
                "thread_table/{name} has {len} rows but thread_table/ranks has {}",
                ranks.len()
            ));
        }
    }
    Ok(ranks
        .into_iter()
        .zip(index)
        .zip(names)
        .filter_map(|((rank, thread), name)| {
            let thread = u32::try_from(thread).ok()?;
            (name != format!("thread {thread}")).then_some(((rank, thread), name))
        })
        .collect())
}

/// The file's ranks: those with rows, and every rank below `mpi_size` when
/// the file has any row (a rank that recorded nothing is still a rank).
pub(super) fn ranks_of(row_ranks: &[u32], metadata: &BTreeMap<String, AttrValue>) -> Vec<u32> {
    let mut ranks: BTreeSet<u32> = row_ranks.iter().copied().collect();
    if !ranks.is_empty() {
        if let Some(AttrValue::Int(size)) = metadata.get("mpi_size") {
            ranks.extend(0..(*size).clamp(0, 1 << 20) as u32);
        }
    }
    ranks.into_iter().collect()
}

impl RowIndex {
    /// Reads `region_table/names` and `rank_region_index` and checks them
    /// against each other.
    fn read(file: &File, schema: i64) -> Result<RowIndex, Problem> {
        let table = file
            .group("region_table")
            .map_err(|_| format!("schema {schema} file has no region_table group"))?;
        let names = read_strings(&dataset(&table, "region_table", "names")?)
            .map_err(|e| format!("region_table/names: {e}"))?;
        let index = file
            .group("rank_region_index")
            .map_err(|_| format!("schema {schema} file has no rank_region_index group"))?;
        let missing: Vec<&str> = REQUIRED
            .iter()
            .copied()
            .filter(|n| !index.link_exists(n))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "rank_region_index is missing dataset(s): {}",
                missing.join(", ")
            ));
        }
        let region_ids: Vec<u32> = read_ints(&index, "rank_region_index", "region_ids")?;
        let ranks: Vec<u32> = read_ints(&index, "rank_region_index", "ranks")?;
        let offsets: Vec<u64> = read_ints(&index, "rank_region_index", "event_offsets")?;
        let counts: Vec<u64> = read_ints(&index, "rank_region_index", "event_counts")?;
        let tags = read_strings(&dataset(&index, "rank_region_index", "tags")?)
            .map_err(|e| format!("rank_region_index/tags: {e}"))?;
        let rows = region_ids.len();
        for (name, len) in [
            ("ranks", ranks.len()),
            ("event_offsets", offsets.len()),
            ("event_counts", counts.len()),
            ("tags", tags.len()),
        ] {
            if len != rows {
                return Err(format!(
                    "rank_region_index/{name} has {len} rows but region_ids has {rows}"
                ));
            }
        }
        check_tags(&tags)?;
        let spans = offsets
            .iter()
            .zip(&counts)
            .map(|(offset, count)| (*offset, offset.saturating_add(*count)))
            .collect();
        let index = RowIndex {
            names,
            region_ids,
            ranks,
            spans,
        };
        index.check_rows()?;
        Ok(index)
    }

    /// Every row names a region of the table, and no (region, rank) pair
    /// has two rows.
    fn check_rows(&self) -> Result<(), Problem> {
        for (row, id) in self.region_ids.iter().enumerate() {
            if *id as usize >= self.names.len() {
                return Err(format!(
                    "rank_region_index row {row} points to region id {id}, but region_table/names holds only {} names",
                    self.names.len()
                ));
            }
        }
        let mut seen = HashSet::new();
        for (id, rank) in self.region_ids.iter().zip(&self.ranks) {
            if !seen.insert((id, rank)) {
                return Err(format!(
                    "rank_region_index has two rows for region {:?} on rank {rank}",
                    self.names[*id as usize]
                ));
            }
        }
        Ok(())
    }

    /// Every row's events lie inside columns holding `held` events, and no
    /// two rows share an event.
    fn check_spans(&self, held: u64) -> Result<(), Problem> {
        if let Some(max_end) = self.spans.iter().map(|s| s.1).max() {
            if max_end > held {
                return Err(format!(
                    "claims {max_end} recorded events but its event columns hold {held}; the file is truncated or damaged"
                ));
            }
        }
        let mut sorted = self.spans.clone();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[1].0 < w[0].1) {
            return Err(
                "has overlapping region rows in its event index; the file is damaged".into(),
            );
        }
        Ok(())
    }
}

/// Each row's tags are a JSON list (an empty string counts as `[]`).
fn check_tags(tags: &[String]) -> Result<(), Problem> {
    for (row, tag) in tags.iter().enumerate() {
        let text = if tag.is_empty() { "[]" } else { tag.as_str() };
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Array(_)) => {}
            Ok(other) => {
                return Err(format!(
                    "rank_region_index/tags row {row} is JSON but not a list: {other}"
                ))
            }
            Err(e) => {
                return Err(format!(
                    "rank_region_index/tags row {row} is not valid JSON ({e}): {tag:?}"
                ))
            }
        }
    }
    Ok(())
}

impl EventColumnsOnDisk {
    /// Reads the `events` group's timing columns and, where present, its
    /// thread column.
    fn read(file: &File, schema: i64) -> Result<EventColumnsOnDisk, Problem> {
        let events = file
            .group("events")
            .map_err(|_| format!("schema {schema} file has no events group"))?;
        let (timing, first, second) = if events.link_exists("start_deltas") {
            (Timing::Deltas, "start_deltas", "durations")
        } else {
            (Timing::Absolute, "start_times", "end_times")
        };
        let threads = if events.link_exists("thread_ids") {
            read_ints(&events, "events", "thread_ids").ok()
        } else {
            None
        };
        Ok(EventColumnsOnDisk {
            timing,
            first: read_ints(&events, "events", first)?,
            second: read_ints(&events, "events", second)?,
            threads,
        })
    }

    /// Events the timing columns hold (the shorter of the two).
    fn held(&self) -> u64 {
        self.first.len().min(self.second.len()) as u64
    }

    /// The calls `from..to` (checked against [`held`](Self::held)), as
    /// absolute starts and ends.
    fn slice(&self, from: usize, to: usize) -> Events {
        let (first, second) = (&self.first[from..to], &self.second[from..to]);
        let (starts, ends) = match self.timing {
            Timing::Absolute => (first.to_vec(), second.to_vec()),
            Timing::Deltas => {
                let mut deltas = StartDeltas::default();
                let starts: Vec<i64> = first.iter().map(|d| deltas.decode(*d)).collect();
                let ends = starts
                    .iter()
                    .zip(second)
                    .map(|(s, d)| s.wrapping_add(*d))
                    .collect();
                (starts, ends)
            }
        };
        let threads = self
            .threads
            .as_ref()
            .filter(|t| t.len() >= to)
            .map(|t| t[from..to].to_vec());
        Events {
            starts,
            ends,
            threads,
            untimed_calls: 0,
        }
    }
}
