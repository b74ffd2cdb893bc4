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
//! /events/thread_ids     uint32 (ours; per event)
//! ```
//! Rows of a rank are contiguous and ranks come in order: [`append_rank`]
//! appends one rank's events after the previous ranks' without touching them.
//!
//! [`append_rank`]: ColumnarWriter::append_rank

use std::collections::HashMap;
use std::path::Path;

use hdf5::types::VarLenUnicode;
use hdf5::{File, Group, H5Type};

use crate::append::AppendableColumns;
use crate::deltas::StartDeltas;
use crate::{attrs, EventColumns, RegionStats};

/// Events appended per write; bounds the merge's memory.
const SLAB: usize = 1 << 20;

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

/// Builds a schema-3 file rank by rank.
pub struct ColumnarWriter {
    file: File,
    /// `events/{start_deltas,durations,thread_ids}`.
    events: AppendableColumns,
    rows: Vec<Row>,
    names: Vec<String>,
    ids: HashMap<String, u32>,
}

impl ColumnarWriter {
    /// Creates the file with empty, appendable event columns.
    pub fn create(path: &Path) -> hdf5::Result<ColumnarWriter> {
        let file = crate::h5file::create(path)?;
        attrs::write_i64(&file, crate::SCHEMA_ATTRIBUTE, 3)?;
        attrs::write_str(&file, "storage_layout", "columnar")?;
        let events = AppendableColumns::create(
            &file.create_group("events")?,
            ["start_deltas", "durations", "thread_ids"],
            1 << 16,
        )?;
        Ok(ColumnarWriter {
            file,
            events,
            rows: Vec::new(),
            names: Vec::new(),
            ids: HashMap::new(),
        })
    }

    /// The root group, for `/metadata`.
    pub fn root(&self) -> &Group {
        &self.file
    }

    /// Appends one rank's regions, each a name and its calls (already on
    /// the merged file's clock), as one row each.
    pub fn append_rank(
        &mut self,
        rank: u32,
        regions: &[(String, EventColumns)],
    ) -> hdf5::Result<()> {
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
                self.events
                    .append(&deltas, &durations, &threads[from..to])?;
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

    fn region_id(&mut self, name: &str) -> u32 {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_owned());
        self.ids.insert(name.to_owned(), id);
        id
    }

    /// Writes the region table and the index, and closes the file.
    pub fn finish(self) -> hdf5::Result<()> {
        let table = self.file.create_group("region_table")?;
        let names: Vec<VarLenUnicode> = self
            .names
            .iter()
            .map(|n| n.replace('\0', "\u{FFFD}").parse::<VarLenUnicode>())
            .collect::<Result<_, _>>()
            .map_err(|e| hdf5::Error::from(e.to_string().as_str()))?;
        write_column(&table, "names", &names)?;
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
        let ColumnarWriter { file, events, .. } = self;
        drop((events, table, index));
        file.flush()?;
        file.close()
    }
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
