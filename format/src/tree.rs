//! Writing one rank's calls as the schema-1 tree,
//! `/rank<N>/regions/<escaped name>/{start_times,end_times,thread_ids}`,
//! from its stream: one pass for the totals (each dataset's exact length),
//! one to fill chunk buffers, each compressed and written whole
//! ([`crate::chunks`]) as soon as it is full.
//!
//! Memory: one chunk buffer per region being filled, at most
//! `min(calls, CHUNK)` calls of 20 bytes each, plus the chunks in flight.
//! Regions with few calls are written contiguous and unfiltered.

use std::io;
use std::path::Path;

use hdf5::{Dataset, Group};

use crate::chunks::{self, ChunkValues, ChunkWriter, PendingChunk, CHUNK};
use crate::rank_totals::{self, RankTotals};
use crate::stream::{Frame, StreamReader};
use crate::{attrs, names};

/// Regions with fewer calls are written contiguous and unfiltered:
/// compressing a few KB saves little, and each chunked dataset costs its
/// own chunk index (10⁴ one-call regions would take tens of MB).
const COMPRESS_FROM: usize = 4096;

/// One region's datasets and the chunk being filled.
struct RegionOut {
    datasets: [Dataset; 3],
    /// Calls per chunk (or the whole length, when not compressed).
    chunk: usize,
    /// Whether the datasets are chunked and compressed.
    compressed: bool,
    /// Calls written so far.
    flushed: usize,
    starts: Vec<i64>,
    ends: Vec<i64>,
    threads: Vec<u32>,
}

impl RegionOut {
    fn create(group: &Group, calls: usize) -> hdf5::Result<RegionOut> {
        let compressed = calls >= COMPRESS_FROM;
        let chunk = if compressed {
            calls.min(CHUNK)
        } else {
            calls.max(1)
        };
        let create = |name, element| {
            if compressed {
                chunks::create_dataset(group, name, element, calls)
            } else {
                chunks::create_plain_dataset(group, name, element, calls)
            }
        };
        Ok(RegionOut {
            datasets: [
                create("start_times", 8)?,
                create("end_times", 8)?,
                create("thread_ids", 4)?,
            ],
            chunk,
            compressed,
            flushed: 0,
            starts: Vec::with_capacity(chunk),
            ends: Vec::with_capacity(chunk),
            threads: Vec::with_capacity(chunk),
        })
    }

    /// Writes (or queues, compressed) the calls gathered since the last.
    fn queue(&mut self, writer: &mut ChunkWriter) -> hdf5::Result<()> {
        let (from, to) = (self.flushed, self.flushed + self.threads.len());
        self.flushed = to;
        let [starts, ends, threads] = &self.datasets;
        if !self.compressed {
            starts.write_slice(&self.starts, from..to)?;
            ends.write_slice(&self.ends, from..to)?;
            threads.write_slice(&self.threads, from..to)?;
        } else {
            let cap = self.chunk;
            let padded_i64 = |v: &mut Vec<i64>| {
                let mut chunk = std::mem::replace(v, Vec::with_capacity(cap));
                chunk.resize(cap, 0);
                ChunkValues::I64(chunk)
            };
            let mut thread_chunk = std::mem::replace(&mut self.threads, Vec::with_capacity(cap));
            thread_chunk.resize(cap, 0);
            let columns = [
                (starts, padded_i64(&mut self.starts)),
                (ends, padded_i64(&mut self.ends)),
                (threads, ChunkValues::U32(thread_chunk)),
            ];
            for (dataset, values) in columns {
                writer.push(PendingChunk {
                    dataset: dataset.clone(),
                    offset: from as u64,
                    values,
                })?;
            }
        }
        self.starts.clear();
        self.ends.clear();
        self.threads.clear();
        Ok(())
    }
}

/// Why a rank could not be written: its stream or HDF5.
#[derive(Debug)]
pub(crate) enum RankWriteError {
    Stream(io::Error),
    Hdf5(hdf5::Error),
}

impl From<hdf5::Error> for RankWriteError {
    fn from(e: hdf5::Error) -> Self {
        RankWriteError::Hdf5(e)
    }
}

impl From<io::Error> for RankWriteError {
    fn from(e: io::Error) -> Self {
        RankWriteError::Stream(e)
    }
}

/// Writes the calls of the stream at `stream` under `group` (as
/// `regions/...`, plus the rank's counters and thread names as
/// attributes), each timestamp mapped by `shift` after conversion to ns;
/// `totals` are the stream's when the caller has them. Returns the totals.
pub(crate) fn write_rank(
    group: &Group,
    stream: &Path,
    shift: &(dyn Fn(i64) -> i64 + Sync),
    totals: Option<RankTotals>,
) -> Result<RankTotals, RankWriteError> {
    let totals = match totals {
        Some(t) => t,
        None => rank_totals::totals(stream)?,
    };
    for (name, value) in totals.counters.as_attributes() {
        attrs::write_i64(group, name, value)?;
    }
    if !totals.thread_names.is_empty() {
        let json = serde_json::to_string(&totals.thread_names).unwrap_or_default();
        attrs::write_str(group, "thread_names", &json)?;
    }
    let regions = group.create_group("regions")?;
    let mut out: Vec<Option<RegionOut>> = Vec::new();
    for r in &totals.regions {
        let g = regions.create_group(&names::escape(&r.name))?;
        attrs::write_str(&g, "name", &r.name)?;
        if r.untimed_calls > 0 {
            attrs::write_i64(&g, "num_calls", r.stats.calls as i64)?;
        }
        let n = (r.stats.calls - r.untimed_calls) as usize;
        let i = r.id as usize;
        if i >= out.len() {
            out.resize_with(i + 1, || None);
        }
        out[i] = Some(RegionOut::create(&g, n)?);
    }
    let scale = totals.header.scale;
    let mut writer = ChunkWriter::default();
    let mut reader = StreamReader::open(stream)?;
    let mut frame = Frame::default();
    // The same intact frames as the totals' pass: the file is closed (or
    // its writer dead), so nothing is appended between the two passes.
    while reader.next_frame(&mut frame)? {
        for e in &frame.events {
            let Some(Some(region)) = out.get_mut(e.region as usize) else {
                continue;
            };
            region.starts.push(shift(scale.to_ns(e.start)));
            region.ends.push(shift(scale.to_ns(e.end)));
            region.threads.push(e.thread);
            if region.threads.len() == region.chunk {
                region.queue(&mut writer)?;
            }
        }
    }
    for region in out.iter_mut().flatten() {
        if !region.threads.is_empty() {
            region.queue(&mut writer)?;
        }
    }
    writer.flush()?;
    Ok(totals)
}
