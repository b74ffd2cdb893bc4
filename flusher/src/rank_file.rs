//! [`RankFile`]: this rank's `rank_<N>.h5`, appended batch by batch.
//!
//! Default (earliest) HDF5 file format and an `H5Fflush` after every batch:
//! a process killed between flushes leaves a file that opens directly and
//! holds every batch flushed before the kill. HDF5's flush itself is not
//! atomic; what a kill inside one leaves, and how the reader and
//! [`crate::repair`] deal with it, is in `docs/performance.md`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hdf5::{File, Group};
use scope_profiler_core::{RegionId, RegionRegistry};

use crate::batch::Batch;
use crate::schema::write::{write_i64_attr, RegionDatasets};

/// The registered name of region `id` (`region#<id>` if it has none).
pub(crate) fn region_name(id: RegionId) -> Arc<str> {
    RegionRegistry::global()
        .name(id)
        .unwrap_or_else(|| format!("region#{}", id.0).into())
}

/// Calls appended before the rank file is closed and opened again. libhdf5
/// keeps every chunk-index B-tree node it has touched in memory (~18 KB
/// each) until the file is closed, whatever its metadata-cache limits
/// (massif: `H5B_create`); a 10⁹-call run grew by 16 MB that way. Reopening
/// every 2²⁴ calls (~256 chunks per dataset) kept a 3×10⁸-call run flat
/// within 0.5 % (`benches/throughput.rs`), at one close and open per 16 M
/// calls.
const REOPEN_EVERY_CALLS: usize = 1 << 24;

/// The open file and its `regions` group.
struct Handles {
    file: File,
    regions: Group,
}

/// This rank's file: `regions/<escaped name>/{start_times,end_times,thread_ids}`.
pub struct RankFile {
    path: PathBuf,
    /// `None` only if reopening failed; every later call then fails too.
    handles: Option<Handles>,
    /// `datasets[id]` is region `id`'s datasets, once it has been written.
    datasets: Vec<Option<RegionDatasets>>,
    /// Calls appended since the file was (re)opened.
    since_open: usize,
    /// [`REOPEN_EVERY_CALLS`], smaller in tests.
    reopen_every: usize,
}

fn handles<'a>(handles: &'a Option<Handles>, path: &Path) -> hdf5::Result<&'a Handles> {
    handles.as_ref().ok_or_else(|| not_reopened(path))
}

/// The error of every call after reopening `path` failed.
fn not_reopened(path: &Path) -> hdf5::Error {
    format!("{} could not be reopened", path.display()).into()
}

impl RankFile {
    /// Creates (truncating) the rank file at `path`.
    pub fn create(path: &Path) -> hdf5::Result<RankFile> {
        let file = crate::h5file::create(path)?;
        let regions = file.create_group("regions")?;
        Ok(RankFile {
            path: path.to_owned(),
            handles: Some(Handles { file, regions }),
            datasets: Vec::new(),
            since_open: 0,
            reopen_every: REOPEN_EVERY_CALLS,
        })
    }

    /// Closes the file and opens it again (see [`REOPEN_EVERY_CALLS`]).
    fn reopen(&mut self) -> hdf5::Result<()> {
        self.datasets.clear();
        // Close before opening: two handles of one file share one cache.
        if let Some(Handles { file, regions }) = self.handles.take() {
            drop(regions);
            file.close()?;
        }
        let file = crate::h5file::open_rw(&self.path)?;
        let regions = file.group("regions")?;
        self.handles = Some(Handles { file, regions });
        self.since_open = 0;
        Ok(())
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends every region's events in `batch`, then flushes the file so a
    /// killed process leaves them readable.
    pub fn append(&mut self, batch: &Batch) -> hdf5::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        for (id, cols) in batch.regions() {
            let name = region_name(id);
            self.append_region(id, &name, cols.starts(), cols.ends(), cols.threads())?;
        }
        handles(&self.handles, &self.path)?.file.flush()?;
        self.since_open += batch.len();
        if self.since_open >= self.reopen_every {
            self.reopen()?;
        }
        Ok(())
    }

    /// Appends calls of region `id`, named `name` (used when the region's
    /// group is first created), without flushing.
    pub fn append_region(
        &mut self,
        id: RegionId,
        name: &str,
        starts: &[i64],
        ends: &[i64],
        threads: &[u32],
    ) -> hdf5::Result<()> {
        self.region(id, name, starts.len())?
            .append(starts, ends, threads)
    }

    /// Records `calls` untimed calls of region `id` (count-only mode).
    pub fn write_call_count(&mut self, id: RegionId, calls: u64) -> hdf5::Result<()> {
        self.region(id, &region_name(id), 0)?
            .write_call_count(calls)
    }

    /// Writes the run's per-rank counters as root attributes and closes the file.
    pub fn finish(self, counters: &[(&str, i64)]) -> hdf5::Result<()> {
        let RankFile {
            path,
            handles,
            datasets,
            ..
        } = self;
        let Some(Handles { file, regions }) = handles else {
            return Err(not_reopened(&path));
        };
        for (name, value) in counters {
            write_i64_attr(&file, name, *value)?;
        }
        file.flush()?;
        drop(datasets);
        drop(regions);
        file.close()
    }

    fn region(
        &mut self,
        id: RegionId,
        name: &str,
        first_batch: usize,
    ) -> hdf5::Result<&mut RegionDatasets> {
        let i = id.index();
        if i >= self.datasets.len() {
            self.datasets.resize_with(i + 1, || None);
        }
        let regions = &handles(&self.handles, &self.path)?.regions;
        let slot = &mut self.datasets[i];
        let datasets = match slot.take() {
            Some(ds) => ds,
            // Written before the file was last reopened.
            None if regions.link_exists(&crate::schema::names::escape(name)) => {
                RegionDatasets::open(regions, name)?
            }
            None => RegionDatasets::create(regions, name, first_batch)?,
        };
        Ok(slot.insert(datasets))
    }
}

#[cfg(test)]
mod tests {
    use scope_profiler_core::{Calibration, Record, RegionRegistry};

    use super::*;

    #[test]
    fn appends_across_reopens_keep_every_call_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rank_0.h5");
        let mut file = RankFile::create(&path).unwrap();
        file.reopen_every = 10;
        let cal = Calibration::take();
        let early = RegionRegistry::global().intern("reopen early");
        let late = RegionRegistry::global().intern("reopen late/new");
        let mut tick = 1_000u64;
        for round in 0..8 {
            let mut records = Vec::new();
            for region in [early, late]
                .into_iter()
                .take(if round < 3 { 1 } else { 2 })
            {
                for _ in 0..4 {
                    records.push(Record {
                        start: tick,
                        end: tick + 5,
                        region,
                    });
                    tick += 10;
                }
            }
            let mut batch = Batch::default();
            batch.push_records(&records, 0, &cal);
            file.append(&batch).unwrap();
        }
        file.finish(&[]).unwrap();
        let data = crate::read_profile(&path).unwrap();
        let early = &data.region("reopen early").unwrap().per_rank[&0];
        let late = &data.region("reopen late/new").unwrap().per_rank[&0];
        assert_eq!((early.calls(), late.calls()), (32, 20));
        assert!(early.starts.windows(2).all(|w| w[0] < w[1]));
        assert!(late.starts.windows(2).all(|w| w[0] < w[1]));
        assert!(data.damage.is_empty());
    }
}
