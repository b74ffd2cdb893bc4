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
//! events are one slice of every event column. The event columns are
//! chunked ([`chunk_events`] events a chunk) with HDF5's built-in shuffle and
//! deflate filters, and every part starts on a chunk boundary (the index's
//! offsets skip the few events of padding after a part's last, partial
//! chunk; no row covers them), so no chunk holds two parts' events and each
//! rank compresses its own chunks ([`RankPart::compress`]).
//!
//! Writing goes in three steps, so that no process but the part's own
//! touches a part's events: each rank builds its part ([`RankPart`]: rows,
//! lanes, event columns) and compresses it; one process creates the file
//! from the parts' descriptions and their chunks' compressed sizes
//! ([`create_file`]: everything but the events, with every chunk's space
//! reserved in the chunk index), which gives each chunk's address; and each
//! rank writes its chunks' bytes there ([`CompressedPart::write`]), in
//! parallel with the others. A chunk holding only its column's fill value
//! (0; -1 for `task_ids`) is not stored, since HDF5 reads a chunk never
//! written as the fill value: `await_ns` (never measured) has no chunk, nor
//! has `task_ids` on a rank without tasks.
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

use hdf5::types::VarLenUnicode;
use hdf5::{Dataset, Group, H5Type};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::append::NO_TASK;
use crate::chunks::{self, ChunkSlice};
use crate::deltas::StartDeltas;
use crate::lanes::{is_lifetime, RankLanes, RegionCalls, TrackKind};
use crate::metadata::{self, RunFacts};
use crate::one_value::OneValueOr;
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
/// columns (in memory until written: 16 bytes a call, 4 more for thread
/// ids when the rank has several threads, 4 more for task ids when some
/// call crosses another or a span lifetime is recorded).
pub struct RankPart {
    /// Rows and lanes.
    pub description: PartDescription,
    deltas: Vec<i64>,
    durations: Vec<i64>,
    threads: OneValueOr<u32>,
    tasks: OneValueOr<i32>,
}

impl RankPart {
    /// Rank `rank`'s part from its regions (a name and its calls, already
    /// on the merged file's clock, one row each) and its threads' names
    /// (others are `thread <index>`): its calls placed on lanes, every
    /// thread with calls and every overlap and lifetime track of a thread
    /// (a task) described.
    pub fn build(
        rank: u32,
        regions: Vec<(String, EventColumns)>,
        thread_names: &BTreeMap<u32, String>,
    ) -> RankPart {
        let (threads, tasks, task_of_call) = lanes(&regions, thread_names);
        let n: usize = regions.iter().map(|(_, c)| c.len()).sum();
        let task_ids = if tasks.is_empty() {
            OneValueOr::repeat(NO_TASK, n)
        } else {
            OneValueOr::Values(task_of_call)
        };
        let one_thread = match threads.as_slice() {
            [thread] => Some(thread.index),
            _ => None,
        };
        let mut part = RankPart {
            description: PartDescription {
                rank,
                rows: Vec::with_capacity(regions.len()),
                threads,
                tasks,
            },
            deltas: Vec::new(),
            durations: Vec::new(),
            threads: OneValueOr::default(),
            tasks: task_ids,
        };
        let mut thread_ids = Vec::new();
        for (name, calls) in regions {
            let count = calls.len() as u64;
            let (mut starts, mut ends, threads) = calls.into_columns();
            let summary = encode_row(&mut starts, &mut ends);
            append(&mut part.deltas, starts, n);
            append(&mut part.durations, ends, n);
            if one_thread.is_none() {
                append(&mut thread_ids, threads, n);
            }
            part.description.rows.push(PartRow {
                name,
                count,
                summary,
            });
        }
        part.threads = match one_thread {
            Some(thread) => OneValueOr::repeat(thread, n),
            None => OneValueOr::Values(thread_ids),
        };
        part
    }

    /// Rank `rank`'s part from calls that all nest on their threads' call
    /// stacks (no lanes to place, no task), already grouped by region:
    /// `rows` names each region and its number of calls, the columns hold
    /// those calls one row after the other (ns on the merged file's clock),
    /// `spans` each thread's first start and last end.
    pub(crate) fn from_stack_calls(
        rank: u32,
        rows: Vec<(String, u64)>,
        mut starts: Vec<i64>,
        mut ends: Vec<i64>,
        threads: OneValueOr<u32>,
        spans: BTreeMap<u32, (i64, i64)>,
        thread_names: &BTreeMap<u32, String>,
    ) -> RankPart {
        let mut at = 0;
        let rows = rows
            .into_iter()
            .map(|(name, count)| {
                let row = at..at + count as usize;
                at = row.end;
                let summary = encode_row(&mut starts[row.clone()], &mut ends[row]);
                PartRow {
                    name,
                    count,
                    summary,
                }
            })
            .collect();
        RankPart {
            description: PartDescription {
                rank,
                rows,
                threads: thread_rows(spans, thread_names),
                tasks: Vec::new(),
            },
            tasks: OneValueOr::repeat(NO_TASK, starts.len()),
            deltas: starts,
            durations: ends,
            threads,
        }
    }

    /// Its event columns: start deltas, durations, thread and task ids.
    #[cfg(test)]
    pub(crate) fn columns(&self) -> (&[i64], &[i64], Vec<u32>, Vec<i32>) {
        let threads = self.threads.clone().into_vec();
        (
            &self.deltas,
            &self.durations,
            threads,
            self.tasks.clone().into_vec(),
        )
    }

    /// The part's event columns cut into chunks of `chunk` events (the
    /// last one completed with zeros) and compressed as HDF5's shuffle and
    /// deflate filters would (on rayon's pool when `threads` is
    /// [`Threads::Pool`] and the part has [`PARALLEL_EVENTS`] or more). A
    /// chunk that holds only its column's
    /// fill value (0; -1 for `task_ids`) is left out: HDF5 reads a chunk never
    /// written as the fill value.
    pub fn compress(&self, chunk: u64, threads: Threads) -> CompressedPart {
        let len = chunk.max(1) as usize;
        let n = self.deltas.len();
        let per_column = n.div_ceil(len);
        // A column not stored (one thread, no tasks) is read from one
        // chunk's worth of its value, or from nothing when that value is
        // its fill value (no chunk of it is written).
        let thread_ids = self.threads.chunk_source(len, THREAD_FILL);
        let task_ids = self.tasks.chunk_source(len, NO_TASK);
        let columns = [
            ChunkSlice::I64(&self.deltas),
            ChunkSlice::I64(&self.durations),
            ChunkSlice::U32(&thread_ids),
            ChunkSlice::I32(&task_ids),
        ];
        let one_value = [
            columns[0].one_value(),
            columns[1].one_value(),
            self.threads.repeated().map(i64::from),
            self.tasks.repeated().map(i64::from),
        ];
        // A column of one value has one full chunk's bytes, compressed once
        // and shared by its full chunks, or none when the value is the fill
        // value.
        let repeated: Vec<Option<Vec<u8>>> = (0..columns.len())
            .map(|c| match one_value[c] {
                Some(v) if v == EVENT_COLUMNS[c].1 => Some(Vec::new()),
                Some(_) if per_column > 1 => Some(chunks::compress(columns[c].slice(0..len), len)),
                _ => None,
            })
            .collect();
        let compress = |i: usize| {
            let (column, k) = (i / per_column, i % per_column);
            match &repeated[column] {
                Some(bytes) if bytes.is_empty() || k + 1 < per_column => return bytes.clone(),
                _ => {}
            }
            let first = if one_value[column].is_some() {
                0
            } else {
                k * len
            };
            let values = columns[column].slice(first..first + len.min(n - k * len));
            if values.one_value() == Some(EVENT_COLUMNS[column].1) {
                return Vec::new();
            }
            chunks::compress(values, len)
        };
        let jobs = 0..columns.len() * per_column;
        // A small part is compressed on this thread: handing it to the pool
        // (and starting the pool) would cost more than it saves.
        let chunks = match threads {
            Threads::Pool if n >= PARALLEL_EVENTS => jobs.into_par_iter().map(compress).collect(),
            _ => jobs.map(compress).collect(),
        };
        CompressedPart { chunks }
    }
}

/// Where [`RankPart::compress`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// On the calling thread (a core per rank or fewer: the other ranks
    /// keep the cores busy).
    One,
    /// On rayon's pool too (spare cores).
    Pool,
}

/// Events from which [`RankPart::compress`] uses rayon's pool.
pub const PARALLEL_EVENTS: usize = 1 << 18;

/// The event columns that hold data, in the order of a part's chunks, with
/// their fill values (what a chunk never written reads as: no task is
/// `-1`).
const EVENT_COLUMNS: [(&str, i64); 4] = [
    ("start_deltas", 0),
    ("durations", 0),
    ("thread_ids", THREAD_FILL as i64),
    ("task_ids", NO_TASK as i64),
];

/// `thread_ids`' fill value: the first thread.
const THREAD_FILL: u32 = 0;

/// A part's event columns as compressed chunks: every chunk of
/// `start_deltas`, then of `durations`, `thread_ids` and `task_ids`; an
/// empty one holds only its column's fill value and is not stored.
pub struct CompressedPart {
    chunks: Vec<Vec<u8>>,
}

impl CompressedPart {
    /// Each chunk's compressed size, bytes, in the part's chunk order (what
    /// [`create_file`] reserves; 0: not stored).
    pub fn sizes(&self) -> Vec<u32> {
        self.chunks.iter().map(|c| c.len() as u32).collect()
    }

    /// Writes each chunk at its address in the file at `path` (`addresses`
    /// as [`create_file`] returned them for this part). Touches only its
    /// own chunks' bytes, so every rank may write at once.
    pub fn write(&self, path: &Path, addresses: &[u64]) -> io::Result<()> {
        if addresses.len() != self.chunks.len() {
            return Err(io::Error::other(format!(
                "{} chunk addresses for {} chunks",
                addresses.len(),
                self.chunks.len()
            )));
        }
        if self.chunks.is_empty() {
            return Ok(());
        }
        let file = OpenOptions::new().write(true).open(path)?;
        for (chunk, at) in self.chunks.iter().zip(addresses) {
            if !chunk.is_empty() {
                file.write_all_at(chunk, *at)?;
            }
        }
        Ok(())
    }
}

/// The largest chunk of the event columns, events (2 MB of int64s): each
/// chunk costs rank 0 an entry to reserve and its rank a write, so large
/// parts take few; readers of whole columns (0.7.5's, ours) decompress each
/// chunk once whatever its size.
const MAX_CHUNK: u64 = 1 << 18;

/// The smallest chunk [`chunk_events`] picks for parts of this many events
/// or more: below it, per-chunk costs (an index entry, a deflate stream)
/// outweigh the data.
const MIN_CHUNK: u64 = 256;

/// The share of the event columns that padding may take: 1 in this many.
const PADDING_SHARE: u64 = 16;

/// Events per chunk of the event columns for parts of `counts` events (in
/// part order): the largest power of two up to 262 144 whose padding (each
/// part but the last filled up to whole chunks) is at most a sixteenth of
/// the events, and at least 256 (no more than the largest part). Every
/// part then starts on a chunk boundary: at most `chunk - 1` padding
/// events after a part, which no row covers and readers read as zeros.
pub fn chunk_events(counts: &[u64]) -> u64 {
    let total: u64 = counts.iter().sum();
    let largest = counts.iter().copied().max().unwrap_or(0);
    let mut chunk = MAX_CHUNK;
    while chunk > MIN_CHUNK && padding(counts, chunk) * PADDING_SHARE > total {
        chunk /= 2;
    }
    chunk.min(largest).max(1)
}

/// Events of padding when parts of `counts` events each start on a
/// multiple of `chunk` (the last part with events needs none).
fn padding(counts: &[u64], chunk: u64) -> u64 {
    let last = counts.iter().rposition(|n| *n > 0).unwrap_or(0);
    counts[..last]
        .iter()
        .map(|n| n.div_ceil(chunk) * chunk - n)
        .sum()
}

/// Where each part's events start in the event columns (parts of `counts`
/// events, each at a multiple of `chunk`), and the columns' length.
fn part_offsets(counts: &[u64], chunk: u64) -> (Vec<u64>, u64) {
    let mut offsets = Vec::with_capacity(counts.len());
    let (mut at, mut len) = (0, 0);
    for n in counts {
        offsets.push(at);
        if *n > 0 {
            len = at + n;
        }
        at += n.div_ceil(chunk) * chunk;
    }
    (offsets, len)
}

/// Creates the schema-3 file at `path` for `parts` (in rank order):
/// metadata, region table, index, lane tables (times from the run's start,
/// `facts.start_time_ns`), and the event columns chunked by `chunk` events
/// ([`chunk_events`] of the parts' events) with each part's chunks (of the
/// compressed sizes `sizes[i]` gives for part `i`,
/// [`CompressedPart::sizes`]) reserved and left unwritten. Returns each
/// part's chunk addresses, for [`CompressedPart::write`].
pub fn create_file(
    path: &Path,
    facts: &RunFacts,
    parts: &[PartDescription],
    chunk: u64,
    sizes: &[Vec<u32>],
) -> hdf5::Result<Vec<Vec<u64>>> {
    let counts: Vec<u64> = parts.iter().map(PartDescription::events).collect();
    let chunk = chunk.max(1);
    for (i, (part, n)) in parts.iter().zip(&counts).enumerate() {
        let expected = EVENT_COLUMNS.len() as u64 * n.div_ceil(chunk);
        match sizes.get(i) {
            Some(s) if s.len() as u64 == expected => {}
            got => {
                return Err(format!(
                    "rank {}: {} compressed chunk sizes for {n} events in chunks of {chunk} ({expected} expected)",
                    part.rank,
                    got.map_or(0, Vec::len)
                )
                .into())
            }
        }
    }
    let (offsets, len) = part_offsets(&counts, chunk);
    let file = crate::h5file::create(path)?;
    attrs::write_i64(&file, crate::SCHEMA_ATTRIBUTE, 3)?;
    attrs::write_str(&file, "storage_layout", "columnar")?;
    metadata::write(&file.create_group("metadata")?, facts)?;
    let mut names: Vec<&str> = Vec::new();
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let mut rows = Vec::new();
    for (part, first) in parts.iter().zip(&offsets) {
        let mut offset = *first;
        for row in &part.rows {
            let id = *ids.entry(&row.name).or_insert_with(|| {
                names.push(&row.name);
                names.len() as u32 - 1
            });
            rows.push((id, part.rank, offset, row));
            offset += row.count;
        }
    }
    let table = file.create_group("region_table")?;
    write_column(&table, "names", &vlen_strings(&names)?)?;
    write_index(&file.create_group("rank_region_index")?, &rows)?;
    write_thread_table(&file, parts, facts.start_time_ns)?;
    write_task_table(&file, parts, facts.start_time_ns)?;
    let events = file.create_group("events")?;
    let zeros = vec![0u8; sizes.iter().flatten().copied().max().unwrap_or(0) as usize];
    let mut addresses: Vec<Vec<u64>> = sizes.iter().map(|s| Vec::with_capacity(s.len())).collect();
    for (column, (name, fill)) in EVENT_COLUMNS.into_iter().enumerate() {
        let dataset = match column {
            0 | 1 => event_column::<i64>(&events, name, len, chunk, fill)?,
            2 => event_column::<u32>(&events, name, len, chunk, fill as u32)?,
            _ => event_column::<i32>(&events, name, len, chunk, fill as i32)?,
        };
        for (i, (first, n)) in offsets.iter().zip(&counts).enumerate() {
            let per_column = n.div_ceil(chunk) as usize;
            let part_sizes = &sizes[i][column * per_column..(column + 1) * per_column];
            addresses[i].extend(reserve_chunks(&dataset, *first, chunk, part_sizes, &zeros)?);
        }
    }
    event_column::<i64>(&events, "await_ns", len, chunk, 0)?;
    drop((events, table));
    file.flush()?;
    file.close()?;
    Ok(addresses)
}

/// Creates `name`, `len` values of `T`: chunked by `chunk` with the shuffle
/// and deflate filters and fill value `fill`, or contiguous and empty when
/// `len` is 0.
fn event_column<T: H5Type + Into<hdf5::types::dyn_value::OwnedDynValue>>(
    group: &Group,
    name: &str,
    len: u64,
    chunk: u64,
    fill: T,
) -> hdf5::Result<Dataset> {
    let builder = group.new_dataset::<T>().shape(len as usize);
    if len == 0 {
        return builder.create(name);
    }
    if chunk > len {
        return Err(format!("events/{name}: chunks of {chunk} events in a column of {len}").into());
    }
    builder
        .chunk(chunk as usize)
        .fill_value(fill)
        .shuffle()
        .deflate(1)
        .create(name)
}

/// Reserves `sizes.len()` chunks of `dataset` (the first at element
/// `first`, then every `chunk` elements) of `sizes` bytes each, by writing
/// that many zeros from `zeros`; returns their addresses in the file (0
/// for a chunk of size 0, which is not stored).
fn reserve_chunks(
    dataset: &Dataset,
    first: u64,
    chunk: u64,
    sizes: &[u32],
    zeros: &[u8],
) -> hdf5::Result<Vec<u64>> {
    hdf5::sync::sync(|| {
        let mut addresses = Vec::with_capacity(sizes.len());
        for (k, size) in sizes.iter().enumerate() {
            if *size == 0 {
                addresses.push(0);
                continue;
            }
            let offset = [first + k as u64 * chunk];
            let (mut mask, mut address, mut stored) = (0, 0, 0);
            // SAFETY: FFI calls under HDF5's global lock (`sync`).
            // `dataset.id()` is a valid open dataset id while we hold the
            // `Dataset`; `offset` holds one coordinate for the 1-D dataset;
            // `zeros` has at least `size` readable bytes (it is as long as
            // the largest size), which HDF5 copies before returning; the
            // three out-pointers are to locals that outlive the call.
            let status = unsafe {
                let written = hdf5_sys::h5d::H5Dwrite_chunk(
                    dataset.id(),
                    hdf5_sys::h5p::H5P_DEFAULT,
                    0,
                    offset.as_ptr(),
                    *size as usize,
                    zeros.as_ptr().cast(),
                );
                if written < 0 {
                    written
                } else {
                    hdf5_sys::h5d::H5Dget_chunk_info_by_coord(
                        dataset.id(),
                        offset.as_ptr(),
                        &mut mask,
                        &mut address,
                        &mut stored,
                    )
                }
            };
            if status < 0 || stored != u64::from(*size) {
                return Err(format!(
                    "{}: cannot reserve {size} bytes for the chunk at element {}",
                    dataset.name(),
                    offset[0]
                )
                .into());
            }
            addresses.push(address);
        }
        Ok(addresses)
    })
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
    let threads = thread_rows(spans, thread_names);
    // In place: the tracks' buffer becomes the tasks'.
    let task_of_call = lanes
        .track_of
        .into_iter()
        .map(|t| task_of_track[t as usize])
        .collect();
    (threads, tasks, task_of_call)
}

/// The thread table's rows of a rank: each thread with calls, from its first
/// call's start to its last call's end (`spans`), named by `thread_names`
/// or `thread <index>`.
fn thread_rows(
    spans: BTreeMap<u32, (i64, i64)>,
    thread_names: &BTreeMap<u32, String>,
) -> Vec<ThreadRow> {
    spans
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
        .collect()
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

/// Turns one row's starts into start deltas and its ends into durations,
/// in place; returns the row's statistics (zeros for an empty row).
fn encode_row(starts: &mut [i64], ends: &mut [i64]) -> RowSummary {
    let (mut start_minimum, mut end_maximum) = (i64::MAX, i64::MIN);
    let mut deltas = StartDeltas::default();
    let mut sums = RegionStats::default();
    for (start, end) in starts.iter_mut().zip(ends.iter_mut()) {
        start_minimum = start_minimum.min(*start);
        end_maximum = end_maximum.max(*end);
        *end = end.wrapping_sub(*start);
        sums.add_to_sums(*end);
        *start = deltas.encode(*start);
    }
    let (Some(first), Some(last)) = (ends.first(), ends.last()) else {
        return RowSummary::default();
    };
    let stats = sums.with_spread(ends.iter().copied());
    RowSummary {
        total: stats.total_ns,
        minimum: stats.min_ns,
        maximum: stats.max_ns,
        first: *first,
        last: *last,
        start_minimum,
        end_maximum,
        gpu_count: 0,
        gpu_total: 0,
        mean: stats.mean,
        m2: stats.m2,
    }
}

/// Appends `column` to `all`, which grows to hold `total` values: the
/// first column is moved in, not copied.
fn append<T: Copy>(all: &mut Vec<T>, column: Vec<T>, total: usize) {
    if all.is_empty() {
        *all = column;
        all.reserve(total.saturating_sub(all.len()));
    } else {
        all.extend_from_slice(&column);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chunk_size_keeps_padding_under_a_sixteenth_of_the_events() {
        let cases: [&[u64]; 7] = [
            &[1_000_000; 64],
            &[10_000; 256],
            &[300, 301, 302, 303],
            &[5],
            &[0, 0],
            &[70_000, 0, 1, 1_000_000],
            &[MAX_CHUNK * 3, MAX_CHUNK, 0],
        ];
        for counts in cases {
            let chunk = chunk_events(counts);
            let total: u64 = counts.iter().sum();
            let largest = counts.iter().copied().max().unwrap();
            assert!(chunk >= 1 && chunk <= largest.max(1), "{counts:?}: {chunk}");
            assert!(
                padding(counts, chunk) * PADDING_SHARE <= total || chunk <= MIN_CHUNK,
                "{counts:?}: chunks of {chunk} pad {}",
                padding(counts, chunk)
            );
        }
        assert_eq!(
            chunk_events(&[1_000_000]),
            MAX_CHUNK,
            "one part: no padding"
        );
        assert_eq!(chunk_events(&[MAX_CHUNK * 3, MAX_CHUNK, 0]), MAX_CHUNK);
        assert_eq!(chunk_events(&[10_000; 256]), 2048);
    }

    #[test]
    fn parts_start_on_chunk_boundaries_and_the_columns_end_at_the_last_event() {
        assert_eq!(
            part_offsets(&[5, 0, 8, 3, 0], 4),
            (vec![0, 8, 8, 16, 20], 19)
        );
        assert_eq!(part_offsets(&[0, 0], 4), (vec![0, 0], 0));
    }

    /// `n` calls of 1 µs, 0.5 µs apart, from `t0` on, on threads 0 and 1.
    fn calls(t0: i64, n: usize) -> EventColumns {
        let starts: Vec<i64> = (0..n as i64).map(|i| t0 + 1500 * i + i % 7).collect();
        let ends = starts.iter().map(|s| s + 1000).collect();
        let threads = (0..n).map(|i| (i / 1000 % 2) as u32).collect();
        EventColumns::from_columns(starts, ends, threads).unwrap()
    }

    #[test]
    fn parts_compressed_by_their_own_ranks_read_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("parts.h5");
        let regions: Vec<Vec<(String, EventColumns)>> = vec![
            vec![
                (
                    "solve".into(),
                    calls(1_000_000_000, 2 * MAX_CHUNK as usize + 5),
                ),
                ("io/write".into(), calls(2_000_000_000, 3)),
            ],
            vec![],
            vec![("solve".into(), calls(1_000_000_000, 1000))],
            vec![("solve".into(), calls(3_000_000_000, 70_000))],
            // Every call on thread 1: one chunk compressed, shared by all.
            vec![("solve".into(), {
                let (starts, ends, threads) =
                    calls(4_000_000_000, 3 * MAX_CHUNK as usize).into_columns();
                EventColumns::from_columns(starts, ends, vec![1; threads.len()]).unwrap()
            })],
        ];
        let parts: Vec<RankPart> = regions
            .iter()
            .enumerate()
            .map(|(rank, r)| RankPart::build(rank as u32, r.clone(), &BTreeMap::new()))
            .collect();
        let descriptions: Vec<PartDescription> =
            parts.iter().map(|p| p.description.clone()).collect();
        let counts: Vec<u64> = descriptions.iter().map(PartDescription::events).collect();
        let chunk = chunk_events(&counts);
        let compressed: Vec<CompressedPart> = parts
            .iter()
            .map(|p| p.compress(chunk, Threads::Pool))
            .collect();
        let sizes: Vec<Vec<u32>> = compressed.iter().map(CompressedPart::sizes).collect();
        let facts = RunFacts {
            start_time_ns: 0,
            finalize_time_ns: 1,
            mpi_size: parts.len() as i64,
            counters: Vec::new(),
            labels: Vec::new(),
        };
        let addresses = create_file(&path, &facts, &descriptions, chunk, &sizes).unwrap();
        // Every rank writes its own chunks, the last rank first.
        for (part, at) in compressed.iter().zip(&addresses).rev() {
            part.write(&path, at).unwrap();
        }
        let data = crate::read_profile(&path).unwrap();
        for (rank, rank_regions) in regions.iter().enumerate() {
            for (name, columns) in rank_regions {
                let events = &data.region(name).unwrap().per_rank[&(rank as u32)];
                assert_eq!(events.starts, columns.starts(), "{name} on rank {rank}");
                assert_eq!(events.ends, columns.ends(), "{name} on rank {rank}");
                assert_eq!(events.threads.as_deref(), Some(columns.threads()));
                let row = descriptions[rank].rows.iter().find(|r| &r.name == name);
                let row = row.unwrap();
                assert_eq!(
                    row.summary.stats(row.count),
                    RegionStats::of_calls(columns.starts(), columns.ends()),
                    "{name} on rank {rank}"
                );
            }
        }
        // No call crosses another: every task id is the fill value, no
        // chunk of it is stored.
        let file = crate::h5file::open(&path).unwrap();
        let tasks: Vec<i32> = file.dataset("events/task_ids").unwrap().read_raw().unwrap();
        assert!(tasks.iter().all(|t| *t == NO_TASK), "task ids");
        assert_eq!(tasks.len() as u64, part_offsets(&counts, chunk).1);
        let per_column = |part: &CompressedPart| part.sizes().len() / EVENT_COLUMNS.len();
        assert!(compressed
            .iter()
            .all(|c| c.sizes()[3 * per_column(c)..].iter().all(|s| *s == 0)));
        let raw: u64 = counts.iter().sum::<u64>() * 24;
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size < raw / 4, "{size} bytes for {raw} raw: not compressed");
    }

    #[test]
    fn a_part_compresses_to_the_same_chunks_on_one_thread_and_on_the_pool() {
        let part = RankPart::build(
            0,
            vec![("a".into(), calls(0, PARALLEL_EVENTS + 5))],
            &BTreeMap::new(),
        );
        let chunk = chunk_events(&[part.description.events()]);
        let (one, pool) = (
            part.compress(chunk, Threads::One),
            part.compress(chunk, Threads::Pool),
        );
        assert!(one.chunks == pool.chunks);
        assert_eq!(
            one.sizes().len(),
            4 * (PARALLEL_EVENTS + 5).div_ceil(chunk as usize)
        );
    }

    #[test]
    fn a_file_without_events_has_empty_event_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.h5");
        let part = RankPart::build(0, Vec::new(), &BTreeMap::new());
        let facts = RunFacts {
            start_time_ns: 0,
            finalize_time_ns: 1,
            mpi_size: 1,
            counters: Vec::new(),
            labels: Vec::new(),
        };
        let chunk = chunk_events(&[0]);
        let compressed = part.compress(chunk, Threads::Pool);
        let at = create_file(
            &path,
            &facts,
            &[part.description],
            chunk,
            &[compressed.sizes()],
        )
        .unwrap();
        compressed.write(&path, &at[0]).unwrap();
        let file = crate::h5file::open(&path).unwrap();
        assert_eq!(file.dataset("events/durations").unwrap().size(), 0);
    }

    #[test]
    fn sizes_that_do_not_match_a_part_are_refused_naming_its_rank() {
        let dir = tempfile::tempdir().unwrap();
        let part = RankPart::build(3, vec![("a".into(), calls(0, 10))], &BTreeMap::new());
        let facts = RunFacts {
            start_time_ns: 0,
            finalize_time_ns: 1,
            mpi_size: 1,
            counters: Vec::new(),
            labels: Vec::new(),
        };
        let e = create_file(
            &dir.path().join("x.h5"),
            &facts,
            &[part.description],
            4,
            &[vec![9; 3]],
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("rank 3") && e.contains("12 expected"), "{e}");
    }

    #[test]
    fn thread_ids_are_stored_only_for_several_threads_and_task_ids_only_for_tasks() {
        // `calls` puts its first 1000 calls on thread 0, the next on thread 1.
        let one_thread = RankPart::build(0, vec![("a".into(), calls(0, 1000))], &BTreeMap::new());
        assert_eq!(one_thread.threads.repeated(), Some(0));
        assert_eq!(one_thread.tasks.repeated(), Some(NO_TASK));
        let two_threads = RankPart::build(0, vec![("a".into(), calls(0, 2000))], &BTreeMap::new());
        assert_eq!(two_threads.threads.repeated(), None);
        assert_eq!(two_threads.tasks.repeated(), Some(NO_TASK));
        // Two calls of one thread that cross: one goes to a task lane.
        let crossing = EventColumns::from_columns(vec![10, 20], vec![30, 40], vec![0, 0]);
        let crossing = RankPart::build(0, vec![("a".into(), crossing.unwrap())], &BTreeMap::new());
        assert_eq!(crossing.threads.repeated(), Some(0));
        assert_eq!(crossing.tasks.repeated(), None);
    }

    #[test]
    fn columns_of_one_value_compress_to_the_chunks_of_the_stored_values() {
        for len in [1u64, 2, 3, 7, 8] {
            for n in [0usize, 1, 2, 3, 5, 7, 8, 9, 14, 16, 17, 23, 24, 25] {
                for (thread, task) in [(0, NO_TASK), (5, NO_TASK), (1, 3)] {
                    let part = |one_value: bool| {
                        let starts: Vec<i64> = (0..n as i64).map(|i| 100 + 10 * i).collect();
                        let ends = starts.iter().map(|s| s + 5).collect();
                        let calls = EventColumns::from_columns(starts, ends, vec![thread; n]);
                        let mut part = RankPart::build(
                            0,
                            vec![("a".into(), calls.unwrap())],
                            &BTreeMap::new(),
                        );
                        (part.threads, part.tasks) = if one_value {
                            (OneValueOr::repeat(thread, n), OneValueOr::repeat(task, n))
                        } else {
                            (
                                OneValueOr::Values(vec![thread; n]),
                                OneValueOr::Values(vec![task; n]),
                            )
                        };
                        part.compress(len, Threads::One).chunks
                    };
                    assert!(
                        part(true) == part(false),
                        "chunk {len}, {n} calls, thread {thread}"
                    );
                }
            }
        }
    }
}
