//! Writing one rank's calls as the schema-1 tree,
//! `/rank<N>/regions/<escaped name>/{start_times,end_times,thread_ids}`,
//! from its stream in one pass, which also totals it ([`RankTotals`]).
//!
//! Each region's calls gather in a chunk buffer. A full buffer
//! ([`CHUNK`] calls) is compressed and written whole ([`crate::chunks`])
//! into the region's chunked datasets, which grow by a chunk at a time.
//! At the stream's end a region that never filled a chunk is written
//! contiguous and unfiltered when it has fewer than `COMPRESS_FROM` calls,
//! as one compressed chunk otherwise.
//!
//! Memory: one chunk buffer per region, at most `min(calls, CHUNK)` calls
//! of 20 bytes each, plus the chunks in flight.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use hdf5::{Dataset, Group};

use crate::chunks::{self, ChunkValues, ChunkWriter, PendingChunk, CHUNK};
use crate::rank_totals::{RankTotals, RegionTotals};
use crate::stream::{Frame, RankCounters, StreamReader};
use crate::{attrs, names, ClockShift, RegionStats};

/// Regions with fewer calls are written contiguous and unfiltered:
/// compressing a few KB saves little, and each chunked dataset costs its
/// own chunk index (10⁴ one-call regions would take tens of MB).
const COMPRESS_FROM: usize = 4096;

/// The three datasets of a region, in [`COLUMNS`] order.
type Columns = [Dataset; 3];

/// Dataset names and element sizes (int64, int64, uint32).
const COLUMNS: [(&str, usize); 3] = [("start_times", 8), ("end_times", 8), ("thread_ids", 4)];

/// One region's calls not yet written, its datasets once made, and its
/// statistics so far.
#[derive(Default)]
struct RegionBuffer {
    starts: Vec<i64>,
    ends: Vec<i64>,
    threads: Vec<u32>,
    /// Chunked datasets that grow a chunk at a time, made when the first
    /// chunk fills.
    growing: Option<Columns>,
    /// Calls written so far.
    flushed: usize,
    /// Statistics of the written calls (shifted timestamps).
    stats: RegionStats,
    /// Calls recorded without timestamps.
    untimed: u64,
}

impl RegionBuffer {
    fn calls(&self) -> usize {
        self.flushed + self.threads.len()
    }

    /// Queues the full chunk buffered, making the growing datasets first.
    fn queue_full_chunk(
        &mut self,
        group: &mut dyn FnMut() -> hdf5::Result<Group>,
        writer: &mut ChunkWriter,
    ) -> hdf5::Result<()> {
        if self.growing.is_none() {
            let g = group()?;
            let make = |(name, element)| chunks::create_growing_dataset(&g, name, element);
            self.growing = Some([make(COLUMNS[0])?, make(COLUMNS[1])?, make(COLUMNS[2])?]);
        }
        let datasets = self.growing.clone().expect("made above");
        for d in &datasets {
            d.resize(self.flushed + CHUNK)?;
        }
        self.queue_chunk(&datasets, CHUNK, writer)
    }

    /// Queues the buffered calls, padded to `chunk`, into `datasets`.
    fn queue_chunk(
        &mut self,
        datasets: &Columns,
        chunk: usize,
        writer: &mut ChunkWriter,
    ) -> hdf5::Result<()> {
        self.fold_stats();
        let offset = self.flushed as u64;
        self.flushed += self.threads.len();
        // A growing region's next chunk fills a recycled full-size buffer.
        let growing = self.growing.is_some();
        let take_i64 = |v: &mut Vec<i64>| {
            let mut values = match growing {
                true => std::mem::replace(v, writer.i64_buffer()),
                false => std::mem::take(v),
            };
            values.resize(chunk, 0);
            ChunkValues::I64(values)
        };
        let (starts, ends) = (take_i64(&mut self.starts), take_i64(&mut self.ends));
        let mut threads = match growing {
            true => std::mem::replace(&mut self.threads, writer.u32_buffer()),
            false => std::mem::take(&mut self.threads),
        };
        threads.resize(chunk, 0);
        let [start_times, end_times, thread_ids] = datasets;
        let values = [
            (start_times, starts),
            (end_times, ends),
            (thread_ids, ChunkValues::U32(threads)),
        ];
        for (dataset, values) in values {
            writer.push(PendingChunk {
                dataset: dataset.clone(),
                offset,
                values,
            })?;
        }
        Ok(())
    }

    /// Writes what is buffered at the stream's end, as the region's last
    /// chunk or (never having filled one) as its whole datasets.
    fn finish(&mut self, g: &Group, writer: &mut ChunkWriter) -> hdf5::Result<()> {
        let calls = self.calls();
        if let Some(datasets) = self.growing.clone() {
            for d in &datasets {
                d.resize(calls)?;
            }
            if !self.threads.is_empty() {
                self.queue_chunk(&datasets, CHUNK, writer)?;
            }
            return Ok(());
        }
        if calls < COMPRESS_FROM {
            self.fold_stats();
            let make = |(name, element)| chunks::create_plain_dataset(g, name, element, calls);
            make(COLUMNS[0])?.write_raw(&self.starts)?;
            make(COLUMNS[1])?.write_raw(&self.ends)?;
            make(COLUMNS[2])?.write_raw(&self.threads)?;
            return Ok(());
        }
        let make = |(name, element)| chunks::create_dataset(g, name, element, calls);
        let datasets = [make(COLUMNS[0])?, make(COLUMNS[1])?, make(COLUMNS[2])?];
        self.queue_chunk(&datasets, calls, writer)
    }

    fn fold_stats(&mut self) {
        self.stats
            .merge(&RegionStats::of_calls(&self.starts, &self.ends));
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

/// The region groups under `regions/`, made on first use.
struct RegionGroups<'a> {
    regions: Group,
    names: &'a BTreeMap<u32, String>,
}

impl RegionGroups<'_> {
    fn name(&self, id: u32) -> String {
        self.names
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("region#{id}"))
    }

    /// Makes region `id`'s group, its exact name as attribute `name`.
    fn make(&self, id: u32) -> hdf5::Result<Group> {
        let name = self.name(id);
        let g = self.regions.create_group(&names::escape(&name))?;
        attrs::write_str(&g, "name", &name)?;
        Ok(g)
    }
}

/// Writes the calls of the stream at `stream` under `group` (as
/// `regions/...`, plus the rank's counters and thread names as
/// attributes), its ticks converted straight to rank 0's clock (`shift`
/// folded into the stream's tick scale), and returns the stream's totals
/// (statistics of the written times).
pub(crate) fn write_rank(
    group: &Group,
    stream: &Path,
    shift: &ClockShift,
) -> Result<RankTotals, RankWriteError> {
    let mut reader = StreamReader::open(stream)?;
    let mut frame = Frame::default();
    let mut counters = RankCounters::default();
    let mut buffers: Vec<RegionBuffer> = Vec::new();
    // Region groups made during the pass (for a region's first full chunk)
    // need the names seen so far; the rest are made at the end.
    let mut made: BTreeMap<u32, Group> = BTreeMap::new();
    let regions = group.create_group("regions")?;
    let mut writer = ChunkWriter::default();
    while reader.next_frame(&mut frame)? {
        let scale = reader.scale_on_rank_0(shift)?;
        if let Some(c) = frame.counters {
            counters = c;
        }
        for &(region, calls) in &frame.counts {
            buffer(&mut buffers, region).untimed += calls;
        }
        for e in &frame.events {
            let b = buffer(&mut buffers, e.region);
            b.starts.push(scale.to_ns(e.start));
            b.ends.push(scale.to_ns(e.end));
            b.threads.push(e.thread);
            if b.threads.len() == CHUNK {
                let groups = RegionGroups {
                    regions: regions.clone(),
                    names: &reader.names().regions,
                };
                let id = e.region;
                let mut make = || -> hdf5::Result<Group> {
                    let g = groups.make(id)?;
                    made.insert(id, g.clone());
                    Ok(g)
                };
                b.queue_full_chunk(&mut make, &mut writer)?;
            }
        }
    }
    let header = reader.header()?;
    let names = reader.take_names();
    let groups = RegionGroups {
        regions,
        names: &names.regions,
    };
    let mut totals = Vec::new();
    for (id, b) in buffers.iter_mut().enumerate() {
        let id = id as u32;
        if b.calls() == 0 && b.untimed == 0 {
            continue;
        }
        let g = match made.remove(&id) {
            Some(g) => g,
            None => groups.make(id)?,
        };
        b.finish(&g, &mut writer)?;
        let mut stats = b.stats;
        stats.add_untimed_calls(b.untimed);
        if b.untimed > 0 {
            attrs::write_i64(&g, "num_calls", stats.calls as i64)?;
        }
        totals.push(RegionTotals {
            id,
            name: groups.name(id),
            stats,
            untimed_calls: b.untimed,
        });
    }
    writer.flush()?;
    for (name, value) in counters.as_attributes() {
        attrs::write_i64(group, name, value)?;
    }
    let thread_names = names.threads;
    if !thread_names.is_empty() {
        let json = serde_json::to_string(&thread_names).unwrap_or_default();
        attrs::write_str(group, "thread_names", &json)?;
    }
    Ok(RankTotals {
        header,
        regions: totals,
        thread_names,
        counters,
        unread_bytes: reader.unread_bytes(),
    })
}

/// Region `id`'s buffer, made if new.
fn buffer(buffers: &mut Vec<RegionBuffer>, id: u32) -> &mut RegionBuffer {
    let i = id as usize;
    if i >= buffers.len() {
        buffers.resize_with(i + 1, RegionBuffer::default);
    }
    &mut buffers[i]
}

#[cfg(test)]
mod tests {
    use crate::merged::{write_merged, OutputSchema, RankInput};
    use crate::metadata::RunFacts;
    use crate::read_profile;
    use crate::stream::{FrameEncoder, StreamHeader, StreamWriter, TickScale};

    /// Calls of each size class the writer treats apart: several full
    /// chunks and a partial one (growing datasets), one compressed chunk,
    /// contiguous, and counts without timestamps.
    const CALLS: [(u32, &str, usize); 3] = [
        (0, "many", 2 * super::CHUNK + 123),
        (1, "some/with slash", super::COMPRESS_FROM + 7),
        (2, "few", 10),
    ];

    #[test]
    fn every_call_of_every_size_class_reads_back_exactly_with_its_totals() {
        let dir = tempfile::tempdir().unwrap();
        let stream = dir.path().join("rank_0.sps");
        let mut w = StreamWriter::create(&stream).unwrap();
        let mut enc = FrameEncoder::default();
        let scale = TickScale::NANOSECONDS;
        enc.header(&StreamHeader {
            rank: 0,
            time_trace: true,
            scale,
        });
        let names: Vec<(u32, &str)> = CALLS.iter().map(|(id, name, _)| (*id, *name)).collect();
        enc.names(
            names
                .into_iter()
                .chain([(3, "counted")])
                .collect::<Vec<_>>()
                .into_iter(),
        );
        let mut expected = Vec::new();
        let mut t = 1_000u64;
        for (id, _, n) in CALLS {
            let calls: Vec<(u32, u64, u64)> = (0..n as u64)
                .map(|i| {
                    t += 10 + i % 7;
                    let call = (id, t, t + 3 + i % 11);
                    t = call.2;
                    call
                })
                .collect();
            // In frames of 10⁴ calls, on threads 1 and 2 alternately.
            for (k, part) in calls.chunks(10_000).enumerate() {
                enc.events(1 + (k % 2) as u32, part, |c| *c);
                w.append(enc.take()).unwrap();
            }
            expected.push(calls);
        }
        enc.counts([(3, 42)].into_iter());
        w.append(enc.take()).unwrap();
        drop(w);

        let out = dir.path().join("out.h5");
        let rank = RankInput {
            rank: 0,
            path: stream,
            shift: Default::default(),
            hostname: "h".into(),
            aggregate: None,
        };
        let facts = RunFacts {
            start_time_ns: 0,
            finalize_time_ns: 0,
            mpi_size: 1,
            counters: vec![],
            labels: vec![],
        };
        let totals = write_merged(&out, &[rank], &facts, OutputSchema::Tree)
            .unwrap()
            .unwrap()
            .pop()
            .unwrap();
        let data = read_profile(&out).unwrap();
        for ((id, name, n), calls) in CALLS.iter().zip(&expected) {
            let region = data.regions.iter().find(|r| r.name == *name).unwrap();
            let events = &region.per_rank[&0];
            let starts: Vec<i64> = calls.iter().map(|c| c.1 as i64).collect();
            let ends: Vec<i64> = calls.iter().map(|c| c.2 as i64).collect();
            assert_eq!(events.starts, starts, "{name}");
            assert_eq!(events.ends, ends, "{name}");
            let threads = events.threads.as_ref().unwrap();
            assert_eq!(threads[0], 1);
            assert_eq!(threads.len(), *n);
            let t = totals.regions.iter().find(|r| r.id == *id).unwrap();
            assert_eq!(t.stats.calls, *n as u64);
            let total: i64 = ends.iter().zip(&starts).map(|(e, s)| e - s).sum();
            assert_eq!(t.stats.total_ns, total, "{name}");
        }
        let counted = data.regions.iter().find(|r| r.name == "counted").unwrap();
        assert_eq!(counted.per_rank[&0].calls(), 42);
        assert_eq!(
            totals
                .regions
                .iter()
                .find(|r| r.id == 3)
                .unwrap()
                .untimed_calls,
            42
        );
    }
}
