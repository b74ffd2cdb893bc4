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
//! Rows of a rank are contiguous and ranks come in order: [`append_rank`]
//! appends one rank's events after the previous ranks' without touching them.
//!
//! The lanes are what scope-profiler 0.7.5 reads to tell threads and async
//! tasks apart (its `concurrency.lane_ids`: a call belongs to its task when
//! `task_ids >= 0`, else to its thread). A thread's call stack is its thread
//! lane; each of its overlap and lifetime tracks ([`crate::lanes`]) is one
//! task, so that on every lane calls nest, as 0.7.5's call-stack
//! reconstruction (and every export built on it) requires.
//!
//! [`append_rank`]: ColumnarWriter::append_rank

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use hdf5::types::VarLenUnicode;
use hdf5::{File, Group, H5Type};

use crate::append::{AppendableColumns, NO_TASK};
use crate::deltas::StartDeltas;
use crate::lanes::{is_lifetime, RankLanes, RegionCalls, Track, TrackKind};
use crate::{attrs, EventColumns, RegionStats};

/// Events appended per write; bounds the merge's memory.
const SLAB: usize = 1 << 20;

/// What scope-profiler 0.7.5 reads as "not recorded" in its lane tables
/// (`concurrency.UNKNOWN`).
const UNKNOWN: i64 = -1;

/// One row's fixed-size statistics (the Python package's dtype, field order included).
#[derive(H5Type, Clone, Copy, Debug, Default)]
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

struct Row {
    region: u32,
    rank: u32,
    offset: u64,
    count: u64,
    summary: RowSummary,
}

/// One row of `thread_table`: a thread with calls on a rank.
struct ThreadRow {
    rank: u32,
    index: u32,
    name: String,
    /// Its first call's start and last call's end, ns after the run's start.
    start_ns: i64,
    end_ns: i64,
}

/// One row of `task_table`: an overlap or lifetime track of a thread.
struct TaskRow {
    rank: u32,
    /// Task index within the rank (what `events/task_ids` holds).
    index: u32,
    track: Track,
    /// Its first call's start and last call's end, ns after the run's start.
    created_ns: i64,
    done_ns: i64,
}

impl TaskRow {
    /// `kind`, `name` and `coro_name`: 0.7.5 labels the lane
    /// `"{name} ({coro_name}) on {thread name}"`.
    fn labels(&self) -> [String; 3] {
        let i = self.track.index;
        match self.track.kind {
            TrackKind::Lifetime => [
                "lifetime".into(),
                format!("lifetimes {i}"),
                "span lifetimes".into(),
            ],
            _ => [
                "async".into(),
                format!("async {i}"),
                "crossing calls".into(),
            ],
        }
    }
}

/// Builds a schema-3 file rank by rank.
pub struct ColumnarWriter {
    file: File,
    /// `events/{start_deltas,durations,thread_ids,task_ids,await_ns}`.
    events: AppendableColumns,
    rows: Vec<Row>,
    names: Vec<String>,
    ids: HashMap<String, u32>,
    /// The run's start (CLOCK_MONOTONIC ns): the lane tables' times count
    /// from it, as 0.7.5's do.
    origin_ns: i64,
    threads: Vec<ThreadRow>,
    tasks: Vec<TaskRow>,
}

impl ColumnarWriter {
    /// Creates the file with empty, appendable event columns; `origin_ns`
    /// is the run's start (`/metadata/start_time_ns`).
    pub fn create(path: &Path, origin_ns: i64) -> hdf5::Result<ColumnarWriter> {
        let file = crate::h5file::create(path)?;
        attrs::write_i64(&file, crate::SCHEMA_ATTRIBUTE, 3)?;
        attrs::write_str(&file, "storage_layout", "columnar")?;
        let events = AppendableColumns::create(&file.create_group("events")?, 1 << 16)?;
        Ok(ColumnarWriter {
            file,
            events,
            rows: Vec::new(),
            names: Vec::new(),
            ids: HashMap::new(),
            origin_ns,
            threads: Vec::new(),
            tasks: Vec::new(),
        })
    }

    /// The root group, for `/metadata`.
    pub fn root(&self) -> &Group {
        &self.file
    }

    /// Appends one rank's regions, each a name and its calls (already on
    /// the merged file's clock), as one row each, with the rank's lanes:
    /// every thread with calls (named from `thread_names`, else
    /// `thread <index>`) and every overlap and lifetime track of a thread
    /// as a task.
    pub fn append_rank(
        &mut self,
        rank: u32,
        regions: &[(String, EventColumns)],
        thread_names: &BTreeMap<u32, String>,
    ) -> hdf5::Result<()> {
        let task_of_track = self.add_lanes(rank, regions, thread_names);
        let mut placed = task_of_track.track_of.iter();
        for (name, calls) in regions {
            let region = self.region_id(name);
            let offset = self.events.len() as u64;
            let mut row = RowStats::default();
            let mut deltas_of = StartDeltas::default();
            let (starts, ends, threads) = (calls.starts(), calls.ends(), calls.threads());
            for from in (0..calls.len()).step_by(SLAB) {
                let to = (from + SLAB).min(calls.len());
                let mut deltas = Vec::with_capacity(to - from);
                let mut durations = Vec::with_capacity(to - from);
                for (start, stop) in starts[from..to].iter().zip(&ends[from..to]) {
                    deltas.push(deltas_of.encode(*start));
                    durations.push(stop.wrapping_sub(*start));
                    row.add(*start, *stop);
                }
                let tasks: Vec<i32> = placed
                    .by_ref()
                    .take(to - from)
                    .map(|t| task_of_track.task[*t as usize])
                    .collect();
                self.events
                    .append(&deltas, &durations, &threads[from..to], &tasks)?;
            }
            self.rows.push(Row {
                region,
                rank,
                offset,
                count: calls.len() as u64,
                summary: row.summary(),
            });
        }
        Ok(())
    }

    /// Places the rank's calls on lanes and adds its rows of the thread
    /// and task tables; returns each call's track and each track's task.
    fn add_lanes(
        &mut self,
        rank: u32,
        regions: &[(String, EventColumns)],
        thread_names: &BTreeMap<u32, String>,
    ) -> TaskOfTrack {
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
        let since_start = |t: i64| t.wrapping_sub(self.origin_ns);
        let mut spans: BTreeMap<u32, (i64, i64)> = BTreeMap::new();
        let mut task = Vec::with_capacity(lanes.tracks.len());
        let mut tasks = 0u32;
        for track in &lanes.tracks {
            let span = spans
                .entry(track.thread)
                .or_insert((track.first_start, track.last_end));
            *span = (span.0.min(track.first_start), span.1.max(track.last_end));
            if track.kind == TrackKind::Stack {
                task.push(NO_TASK);
                continue;
            }
            self.tasks.push(TaskRow {
                rank,
                index: tasks,
                track: *track,
                created_ns: since_start(track.first_start),
                done_ns: since_start(track.last_end),
            });
            task.push(tasks as i32);
            tasks += 1;
        }
        for (thread, (first, last)) in spans {
            self.threads.push(ThreadRow {
                rank,
                index: thread,
                name: thread_names
                    .get(&thread)
                    .cloned()
                    .unwrap_or_else(|| format!("thread {thread}")),
                start_ns: since_start(first),
                end_ns: since_start(last),
            });
        }
        TaskOfTrack {
            track_of: lanes.track_of,
            task,
        }
    }

    fn region_id(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), id);
        id
    }

    /// Writes the region table, the index and the lane tables, and closes
    /// the file.
    pub fn finish(self) -> hdf5::Result<()> {
        let table = self.file.create_group("region_table")?;
        write_column(&table, "names", &vlen_strings(&self.names)?)?;
        let index = self.file.create_group("rank_region_index")?;
        let rows = &self.rows;
        let empty =
            || -> Vec<VarLenUnicode> { rows.iter().map(|_| VarLenUnicode::default()).collect() };
        let tags: Vec<VarLenUnicode> = rows
            .iter()
            .map(|_| "[]".parse().unwrap_or_default())
            .collect();
        write_column(
            &index,
            "region_ids",
            &rows.iter().map(|r| r.region).collect::<Vec<u32>>(),
        )?;
        write_column(
            &index,
            "ranks",
            &rows.iter().map(|r| r.rank).collect::<Vec<u32>>(),
        )?;
        write_column(
            &index,
            "event_offsets",
            &rows.iter().map(|r| r.offset).collect::<Vec<u64>>(),
        )?;
        write_column(
            &index,
            "event_counts",
            &rows.iter().map(|r| r.count).collect::<Vec<u64>>(),
        )?;
        write_column(&index, "source_lines", &vec![-1i64; rows.len()])?;
        write_column(&index, "source_files", &empty())?;
        write_column(&index, "source_texts", &empty())?;
        write_column(&index, "tags", &tags)?;
        write_column(
            &index,
            "summary_statistics",
            &rows.iter().map(|r| r.summary).collect::<Vec<RowSummary>>(),
        )?;
        write_column(&index, "exclusive_totals", &vec![-1i64; rows.len()])?;
        self.write_thread_table()?;
        self.write_task_table()?;
        let ColumnarWriter { file, events, .. } = self;
        drop((events, table, index));
        file.flush()?;
        file.close()
    }

    /// `thread_table`, with 0.7.5's columns: what we do not record (OS
    /// ids, daemon flag) is 0, CPU time is [`UNKNOWN`].
    fn write_thread_table(&self) -> hdf5::Result<()> {
        let rows = &self.threads;
        if rows.is_empty() {
            return Ok(());
        }
        let group = self.file.create_group("thread_table")?;
        let ints = |f: fn(&ThreadRow) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
        write_column(
            &group,
            "ranks",
            &rows.iter().map(|r| r.rank).collect::<Vec<u32>>(),
        )?;
        write_column(&group, "index", &ints(|r| r.index.into()))?;
        write_column(&group, "ident", &ints(|_| 0))?;
        write_column(&group, "native_id", &ints(|_| 0))?;
        write_column(&group, "daemon", &vec![0i8; rows.len()])?;
        let names: Vec<&String> = rows.iter().map(|r| &r.name).collect();
        write_column(&group, "name", &vlen_strings(names)?)?;
        write_column(&group, "start_ns", &ints(|r| r.start_ns))?;
        write_column(&group, "end_ns", &ints(|r| r.end_ns))?;
        write_column(&group, "cpu_ns", &ints(|_| UNKNOWN))
    }

    /// `task_table`, with 0.7.5's columns: what we do not measure (steps,
    /// running and suspended time) is [`UNKNOWN`].
    fn write_task_table(&self) -> hdf5::Result<()> {
        let rows = &self.tasks;
        if rows.is_empty() {
            return Ok(());
        }
        let group = self.file.create_group("task_table")?;
        let ints = |f: fn(&TaskRow) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
        let labels: Vec<[String; 3]> = rows.iter().map(TaskRow::labels).collect();
        write_column(
            &group,
            "ranks",
            &rows.iter().map(|r| r.rank).collect::<Vec<u32>>(),
        )?;
        write_column(&group, "index", &ints(|r| r.index.into()))?;
        for (i, name) in ["kind", "name", "coro_name"].into_iter().enumerate() {
            write_column(&group, name, &vlen_strings(labels.iter().map(|l| &l[i]))?)?;
        }
        write_column(&group, "thread_index", &ints(|r| r.track.thread.into()))?;
        write_column(&group, "created_ns", &ints(|r| r.created_ns))?;
        write_column(&group, "done_ns", &ints(|r| r.done_ns))?;
        for name in ["steps", "running_ns", "suspended_ns"] {
            write_column(&group, name, &ints(|_| UNKNOWN))?;
        }
        Ok(())
    }
}

/// Each call's track and each track's task index ([`NO_TASK`] for a
/// thread's stack).
struct TaskOfTrack {
    track_of: Vec<u32>,
    task: Vec<i32>,
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

/// A row's statistics while its events are appended: [`RegionStats`] (exact
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
