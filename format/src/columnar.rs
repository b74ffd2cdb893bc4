//! Writing the columnar schema 3 (what scope-profiler 0.7.5 writes and reads):
//! one shared pair of event columns for every rank and region, sliced by a
//! fixed-size index. Names are values, so any string works as is.
//!
//! ```text
//! /  attrs scope_profiler_schema = 3, storage_layout = "columnar"
//! /metadata                                 attributes, as in schema 1
//! /region_table/names                       vlen UTF-8; region id = index
//! /rank_region_index/{region_ids u32, ranks u32, event_offsets u64,
//!     event_counts u64, source_lines i64, source_files str, source_texts str,
//!     tags str ("[]"), summary_statistics compound, exclusive_totals i64 (-1)}
//! /events/start_deltas   int64: per row, first start absolute, then gaps
//! /events/durations      int64
//! /events/thread_ids     uint32: thread index (per rank) of each event
//! /events/task_ids       int32: task index (per rank) of each event, -1 = none
//! /events/await_ns       int64: 0 (not measured)
//! /thread_table/{ranks u32, index i64, ident i64, native_id i64, daemon i8,
//!     name str, start_ns i64, end_ns i64, cpu_ns i64}
//! /task_table/{ranks u32, index i64, kind str, name str, coro_name str,
//!     thread_index i64, created_ns i64, done_ns i64, steps i64,
//!     running_ns i64, suspended_ns i64}
//! ```
//! Rows of a rank are contiguous and ranks come in order, so each rank's
//! events are one slice of every event column. Each rank builds its part
//! ([`RankPart`]: rows, lanes, event columns) from its own calls; one
//! process lays the file out from the parts' descriptions ([`create_file`]:
//! everything but the events, with the event columns allocated contiguous
//! and left unwritten), and each rank writes its columns' bytes at the
//! offsets that gives ([`RankPart::write_events`]), in parallel with the
//! others. `await_ns` (never measured) is never written: unwritten bytes of
//! a new file read as zeros.
//!
//! The lanes are what scope-profiler 0.7.5 reads to tell threads and async
//! tasks apart (its `concurrency.lane_ids`: a call belongs to its task when
//! `task_ids >= 0`, else to its thread). A thread's call stack is its thread
//! lane; each of its overlap and lifetime tracks ([`crate::lanes`]) is one
//! task, so that on every lane calls nest, as 0.7.5's call-stack
//! reconstruction (and every export built on it) requires.

use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use hdf5::plist::dataset_create::{AllocTime, FillTime};
use hdf5::types::VarLenUnicode;
use hdf5::{Dataset, Group, H5Type};
use serde::{Deserialize, Serialize};

use crate::append::NO_TASK;
use crate::deltas::StartDeltas;
use crate::lanes::{is_lifetime, RankLanes, RegionCalls, TrackKind};
use crate::metadata::{self, RunFacts};
use crate::{attrs, EventColumns, RegionStats};

/// What scope-profiler 0.7.5 reads as "not recorded" in its lane tables
/// (`concurrency.UNKNOWN`).
const UNKNOWN: i64 = -1;

/// One row's fixed-size statistics (the Python package's dtype, field order included).
#[derive(H5Type, Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[repr(C)]
pub struct RowSummary {
    total: i64,
    minimum: i64,
    maximum: i64,
    first: i64,
    last: i64,
    start_minimum: i64,
    end_maximum: i64,
    gpu_count: u64,
    gpu_total: i64,
    mean: f64,
    m2: f64,
}

impl RowSummary {
    /// The row's statistics as [`RegionStats`].
    pub fn stats(&self, calls: u64) -> RegionStats {
        RegionStats {
            calls,
            total_ns: self.total,
            min_ns: self.minimum,
            max_ns: self.maximum,
            mean: self.mean,
            m2: self.m2,
        }
    }
}

/// One row of a part: a region's calls on the part's rank.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartRow {
    /// The region's name.
    pub name: String,
    /// Its calls (events in the part, in row order).
    pub count: u64,
    /// Their statistics.
    pub summary: RowSummary,
}

/// One row of `thread_table`: a thread with calls on a rank.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ThreadRow {
    index: u32,
    name: String,
    /// Its first call's start and last call's end, ns (CLOCK_MONOTONIC).
    start_ns: i64,
    end_ns: i64,
}

/// One row of `task_table`: an overlap or lifetime track of a thread;
/// 0.7.5 labels the lane `"{name} ({coro_name}) on {thread name}"`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct TaskRow {
    /// Task index within the rank (what `events/task_ids` holds).
    index: u32,
    kind: String,
    name: String,
    coro_name: String,
    thread: u32,
    /// Its first call's start and last call's end, ns (CLOCK_MONOTONIC).
    created_ns: i64,
    done_ns: i64,
}

/// Everything about a rank's part but its events: what laying the file
/// out takes, small enough to gather from every rank.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartDescription {
    /// The rank.
    pub rank: u32,
    /// Its rows, one per region with calls.
    pub rows: Vec<PartRow>,
    threads: Vec<ThreadRow>,
    tasks: Vec<TaskRow>,
}

impl PartDescription {
    /// Events in the part.
    pub fn events(&self) -> u64 {
        self.rows.iter().map(|r| r.count).sum()
    }

    /// The description as bytes (JSON).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// A description from [`to_bytes`](Self::to_bytes)' bytes; `None` if
    /// they are not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<PartDescription> {
        serde_json::from_slice(bytes).ok()
    }
}

/// One rank's part of a columnar file: its description and its event
/// columns (20 bytes a call, in memory until written).
pub struct RankPart {
    /// Rows and lanes.
    pub description: PartDescription,
    deltas: Vec<i64>,
    durations: Vec<i64>,
    threads: Vec<u32>,
    tasks: Vec<i32>,
}

impl RankPart {
    /// Rank `rank`'s part from its regions (a name and its calls, already
    /// on the merged file's clock, one row each) and its threads' names
    /// (others are `thread <index>`): its calls placed on lanes, every
    /// thread with calls and every overlap and lifetime track of a thread
    /// (a task) described.
    pub fn build(
        rank: u32,
        regions: &[(String, EventColumns)],
        thread_names: &BTreeMap<u32, String>,
    ) -> RankPart {
        let (threads, tasks, task_of_call) = lanes(regions, thread_names);
        let n: usize = regions.iter().map(|(_, c)| c.len()).sum();
        let mut part = RankPart {
            description: PartDescription {
                rank,
                rows: Vec::with_capacity(regions.len()),
                threads,
                tasks,
            },
            deltas: Vec::with_capacity(n),
            durations: Vec::with_capacity(n),
            threads: Vec::with_capacity(n),
            tasks: task_of_call,
        };
        for (name, calls) in regions {
            let mut row = RowStats::default();
            let mut deltas_of = StartDeltas::default();
            for (start, end) in calls.starts().iter().zip(calls.ends()) {
                part.deltas.push(deltas_of.encode(*start));
                part.durations.push(end.wrapping_sub(*start));
                row.add(*start, *end);
            }
            part.threads.extend_from_slice(calls.threads());
            part.description.rows.push(PartRow {
                name: name.clone(),
                count: calls.len() as u64,
                summary: row.summary(),
            });
        }
        part
    }

    /// Writes the part's events into the file at `path` (made by
    /// [`create_file`], which gave `layout`), from event `first_event` on
    /// (the events of the parts before it). Touches only its own bytes, so
    /// every rank may write at once.
    pub fn write_events(
        &self,
        path: &Path,
        layout: &EventLayout,
        first_event: u64,
    ) -> io::Result<()> {
        if self.deltas.is_empty() {
            return Ok(());
        }
        let file = OpenOptions::new().write(true).open(path)?;
        write_at(
            &file,
            layout.start_deltas + 8 * first_event,
            &self.deltas,
            i64::to_ne_bytes,
        )?;
        write_at(
            &file,
            layout.durations + 8 * first_event,
            &self.durations,
            i64::to_ne_bytes,
        )?;
        write_at(
            &file,
            layout.thread_ids + 4 * first_event,
            &self.threads,
            u32::to_ne_bytes,
        )?;
        write_at(
            &file,
            layout.task_ids + 4 * first_event,
            &self.tasks,
            i32::to_ne_bytes,
        )
    }
}

/// Writes `values` (native byte order, the datasets' type) at byte
/// `offset` of `file`, a megabyte at a time.
fn write_at<T: Copy, const N: usize>(
    file: &std::fs::File,
    offset: u64,
    values: &[T],
    bytes: fn(T) -> [u8; N],
) -> io::Result<()> {
    const BLOCK: usize = 1 << 20;
    let mut buffer = Vec::with_capacity(BLOCK.min(values.len() * N));
    let mut at = offset;
    for block in values.chunks(BLOCK / N) {
        buffer.clear();
        buffer.extend(block.iter().flat_map(|v| bytes(*v)));
        file.write_all_at(&buffer, at)?;
        at += buffer.len() as u64;
    }
    Ok(())
}

/// Where each written event column starts in the file, bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventLayout {
    /// `events/start_deltas` (int64).
    pub start_deltas: u64,
    /// `events/durations` (int64).
    pub durations: u64,
    /// `events/thread_ids` (uint32).
    pub thread_ids: u64,
    /// `events/task_ids` (int32).
    pub task_ids: u64,
}

impl EventLayout {
    /// The layout as four numbers (for a broadcast).
    pub fn to_array(self) -> [u64; 4] {
        [
            self.start_deltas,
            self.durations,
            self.thread_ids,
            self.task_ids,
        ]
    }

    /// The layout from [`to_array`](Self::to_array)'s numbers.
    pub fn from_array(a: [u64; 4]) -> EventLayout {
        EventLayout {
            start_deltas: a[0],
            durations: a[1],
            thread_ids: a[2],
            task_ids: a[3],
        }
    }
}

/// Creates the schema-3 file at `path` for `parts` (in rank order):
/// metadata, region table, index, lane tables (times from the run's start,
/// `facts.start_time_ns`), and the event columns, allocated contiguous for
/// every part's events and left unwritten. Returns where the columns start
/// (`None` when there are no events), for [`RankPart::write_events`].
pub fn create_file(
    path: &Path,
    facts: &RunFacts,
    parts: &[PartDescription],
) -> hdf5::Result<Option<EventLayout>> {
    let file = crate::h5file::create(path)?;
    attrs::write_i64(&file, crate::SCHEMA_ATTRIBUTE, 3)?;
    attrs::write_str(&file, "storage_layout", "columnar")?;
    metadata::write(&file.create_group("metadata")?, facts)?;
    let mut names: Vec<&str> = Vec::new();
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let mut rows = Vec::new();
    let mut offset = 0u64;
    for part in parts {
        for row in &part.rows {
            let id = *ids.entry(&row.name).or_insert_with(|| {
                names.push(&row.name);
                names.len() as u32 - 1
            });
            rows.push((id, part.rank, offset, row));
            offset += row.count;
        }
    }
    let total = offset;
    let table = file.create_group("region_table")?;
    write_column(&table, "names", &vlen_strings(&names)?)?;
    write_index(&file.create_group("rank_region_index")?, &rows)?;
    write_thread_table(&file, parts, facts.start_time_ns)?;
    write_task_table(&file, parts, facts.start_time_ns)?;
    let events = file.create_group("events")?;
    let layout = EventLayout {
        start_deltas: allocate::<i64>(&events, "start_deltas", total)?,
        durations: allocate::<i64>(&events, "durations", total)?,
        thread_ids: allocate::<u32>(&events, "thread_ids", total)?,
        task_ids: allocate::<i32>(&events, "task_ids", total)?,
    };
    allocate::<i64>(&events, "await_ns", total)?;
    drop((events, table));
    file.flush()?;
    file.close()?;
    Ok((total > 0).then_some(layout))
}

/// Creates `name`, `len` values of `T`, contiguous, its space allocated now
/// and not filled; returns its byte offset in the file (0 when empty).
fn allocate<T: H5Type>(group: &Group, name: &str, len: u64) -> hdf5::Result<u64> {
    let dataset: Dataset = group
        .new_dataset::<T>()
        .shape(len as usize)
        .alloc_time(Some(AllocTime::Early))
        .fill_time(FillTime::Never)
        .create(name)?;
    match (len, dataset.offset()) {
        (0, _) => Ok(0),
        (_, Some(offset)) => Ok(offset),
        (_, None) => Err(format!("events/{name}: HDF5 allocated no contiguous space").into()),
    }
}

/// `rank_region_index`: one row per (region id, rank, first event, row).
fn write_index(index: &Group, rows: &[(u32, u32, u64, &PartRow)]) -> hdf5::Result<()> {
    let strings = |text: &str| -> hdf5::Result<Vec<VarLenUnicode>> {
        vlen_strings(rows.iter().map(|_| text))
    };
    write_column(
        index,
        "region_ids",
        &rows.iter().map(|r| r.0).collect::<Vec<u32>>(),
    )?;
    write_column(
        index,
        "ranks",
        &rows.iter().map(|r| r.1).collect::<Vec<u32>>(),
    )?;
    write_column(
        index,
        "event_offsets",
        &rows.iter().map(|r| r.2).collect::<Vec<u64>>(),
    )?;
    write_column(
        index,
        "event_counts",
        &rows.iter().map(|r| r.3.count).collect::<Vec<u64>>(),
    )?;
    write_column(index, "source_lines", &vec![-1i64; rows.len()])?;
    write_column(index, "source_files", &strings("")?)?;
    write_column(index, "source_texts", &strings("")?)?;
    write_column(index, "tags", &strings("[]")?)?;
    let summaries: Vec<RowSummary> = rows.iter().map(|r| r.3.summary).collect();
    write_column(index, "summary_statistics", &summaries)?;
    write_column(index, "exclusive_totals", &vec![-1i64; rows.len()])
}

/// Every part's rows of one lane table, each with its part's rank.
fn per_rank<'p, T>(
    parts: &'p [PartDescription],
    rows: impl Fn(&'p PartDescription) -> &'p [T],
) -> Vec<(u32, &'p T)> {
    parts
        .iter()
        .flat_map(|p| rows(p).iter().map(move |r| (p.rank, r)))
        .collect()
}

/// `thread_table`, with 0.7.5's columns: what we do not record (OS ids,
/// daemon flag) is 0, CPU time is [`UNKNOWN`]; times from `origin_ns`.
fn write_thread_table(file: &Group, parts: &[PartDescription], origin_ns: i64) -> hdf5::Result<()> {
    let rows = per_rank(parts, |p| &p.threads);
    if rows.is_empty() {
        return Ok(());
    }
    let group = file.create_group("thread_table")?;
    let ints = |f: &dyn Fn(&ThreadRow) -> i64| rows.iter().map(|(_, r)| f(r)).collect::<Vec<i64>>();
    write_column(
        &group,
        "ranks",
        &rows.iter().map(|r| r.0).collect::<Vec<u32>>(),
    )?;
    write_column(&group, "index", &ints(&|r| r.index.into()))?;
    write_column(&group, "ident", &ints(&|_| 0))?;
    write_column(&group, "native_id", &ints(&|_| 0))?;
    write_column(&group, "daemon", &vec![0i8; rows.len()])?;
    write_column(
        &group,
        "name",
        &vlen_strings(rows.iter().map(|r| &r.1.name))?,
    )?;
    write_column(
        &group,
        "start_ns",
        &ints(&|r| r.start_ns.wrapping_sub(origin_ns)),
    )?;
    write_column(
        &group,
        "end_ns",
        &ints(&|r| r.end_ns.wrapping_sub(origin_ns)),
    )?;
    write_column(&group, "cpu_ns", &ints(&|_| UNKNOWN))
}

/// `task_table`, with 0.7.5's columns: what we do not measure (steps,
/// running and suspended time) is [`UNKNOWN`]; times from `origin_ns`.
fn write_task_table(file: &Group, parts: &[PartDescription], origin_ns: i64) -> hdf5::Result<()> {
    let rows = per_rank(parts, |p| &p.tasks);
    if rows.is_empty() {
        return Ok(());
    }
    let group = file.create_group("task_table")?;
    let ints = |f: &dyn Fn(&TaskRow) -> i64| rows.iter().map(|(_, r)| f(r)).collect::<Vec<i64>>();
    write_column(
        &group,
        "ranks",
        &rows.iter().map(|r| r.0).collect::<Vec<u32>>(),
    )?;
    write_column(&group, "index", &ints(&|r| r.index.into()))?;
    write_column(
        &group,
        "kind",
        &vlen_strings(rows.iter().map(|r| &r.1.kind))?,
    )?;
    write_column(
        &group,
        "name",
        &vlen_strings(rows.iter().map(|r| &r.1.name))?,
    )?;
    write_column(
        &group,
        "coro_name",
        &vlen_strings(rows.iter().map(|r| &r.1.coro_name))?,
    )?;
    write_column(&group, "thread_index", &ints(&|r| r.thread.into()))?;
    write_column(
        &group,
        "created_ns",
        &ints(&|r| r.created_ns.wrapping_sub(origin_ns)),
    )?;
    write_column(
        &group,
        "done_ns",
        &ints(&|r| r.done_ns.wrapping_sub(origin_ns)),
    )?;
    for name in ["steps", "running_ns", "suspended_ns"] {
        write_column(&group, name, &ints(&|_| UNKNOWN))?;
    }
    Ok(())
}

/// Places a rank's calls on lanes: every thread with calls (its first
/// start and last end), every overlap and lifetime track of a thread as a
/// task, and each call's task ([`NO_TASK`] on its thread's stack), the
/// regions' calls one region after the other.
fn lanes(
    regions: &[(String, EventColumns)],
    thread_names: &BTreeMap<u32, String>,
) -> (Vec<ThreadRow>, Vec<TaskRow>, Vec<i32>) {
    let calls: Vec<RegionCalls<'_>> = regions
        .iter()
        .map(|(name, c)| RegionCalls {
            lifetime: is_lifetime(name),
            starts: c.starts(),
            ends: c.ends(),
            threads: c.threads(),
        })
        .collect();
    let lanes = RankLanes::place(&calls);
    let mut spans: BTreeMap<u32, (i64, i64)> = BTreeMap::new();
    let mut task_of_track = Vec::with_capacity(lanes.tracks.len());
    let mut tasks = Vec::new();
    for track in &lanes.tracks {
        let span = spans
            .entry(track.thread)
            .or_insert((track.first_start, track.last_end));
        *span = (span.0.min(track.first_start), span.1.max(track.last_end));
        if track.kind == TrackKind::Stack {
            task_of_track.push(NO_TASK);
            continue;
        }
        let i = track.index;
        let (kind, name, coro_name) = match track.kind {
            TrackKind::Lifetime => ("lifetime", format!("lifetimes {i}"), "span lifetimes"),
            _ => ("async", format!("async {i}"), "crossing calls"),
        };
        task_of_track.push(tasks.len() as i32);
        tasks.push(TaskRow {
            index: tasks.len() as u32,
            kind: kind.into(),
            name,
            coro_name: coro_name.into(),
            thread: track.thread,
            created_ns: track.first_start,
            done_ns: track.last_end,
        });
    }
    let threads = spans
        .into_iter()
        .map(|(index, (start_ns, end_ns))| ThreadRow {
            index,
            name: thread_names
                .get(&index)
                .cloned()
                .unwrap_or_else(|| format!("thread {index}")),
            start_ns,
            end_ns,
        })
        .collect();
    let task_of_call = lanes
        .track_of
        .iter()
        .map(|t| task_of_track[*t as usize])
        .collect();
    (threads, tasks, task_of_call)
}

/// `strings` as HDF5 variable-length UTF-8 (a NUL, which HDF5 strings
/// cannot hold, becomes U+FFFD).
fn vlen_strings<S: AsRef<str>>(
    strings: impl IntoIterator<Item = S>,
) -> hdf5::Result<Vec<VarLenUnicode>> {
    strings
        .into_iter()
        .map(|s| {
            s.as_ref()
                .replace('\0', "\u{FFFD}")
                .parse::<VarLenUnicode>()
        })
        .collect::<Result<_, _>>()
        .map_err(|e| hdf5::Error::from(e.to_string().as_str()))
}

/// Writes `data` as the new one-dimensional dataset `name` of `group`.
fn write_column<T: hdf5::H5Type>(group: &hdf5::Group, name: &str, data: &[T]) -> hdf5::Result<()> {
    group.new_dataset_builder().with_data(data).create(name)?;
    Ok(())
}

/// A row's statistics while its events are gathered: [`RegionStats`] (exact
/// Welford mean and m2) plus what only the index needs.
#[derive(Default)]
struct RowStats {
    stats: RegionStats,
    first: i64,
    last: i64,
    start_minimum: i64,
    end_maximum: i64,
}

impl RowStats {
    fn add(&mut self, start: i64, end: i64) {
        let duration = end.wrapping_sub(start);
        if self.stats.calls == 0 {
            (self.first, self.start_minimum, self.end_maximum) = (duration, start, end);
        }
        self.stats.add(duration);
        self.last = duration;
        self.start_minimum = self.start_minimum.min(start);
        self.end_maximum = self.end_maximum.max(end);
    }

    /// The Python package's fixed-size record (zeros for an empty row).
    fn summary(&self) -> RowSummary {
        let s = &self.stats;
        if s.calls == 0 {
            return RowSummary::default();
        }
        RowSummary {
            total: s.total_ns,
            minimum: s.min_ns,
            maximum: s.max_ns,
            first: self.first,
            last: self.last,
            start_minimum: self.start_minimum,
            end_maximum: self.end_maximum,
            gpu_count: 0,
            gpu_total: 0,
            mean: s.mean,
            m2: s.m2,
        }
    }
}
