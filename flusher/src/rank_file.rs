//! [`RankFile`]: this rank's `rank_<N>.h5`, appended batch by batch.
//!
//! Default (earliest) HDF5 file format and an `H5Fflush` after every batch:
//! a process killed between flushes leaves a file that opens directly and
//! holds every batch flushed before the kill. HDF5's flush itself is not
//! atomic; what a kill inside one leaves, and how the reader and
//! [`crate::repair`] deal with it, is in `docs/performance.md`.

use std::path::{Path, PathBuf};

use hdf5::{File, Group};
use scope_profiler_core::{RegionId, RegionRegistry};

use crate::batch::Batch;
use crate::schema::write::{write_i64_attr, RegionDatasets};

/// The registered name of region `id` (`region#<id>` if it has none).
pub(crate) fn region_name(id: RegionId) -> String {
    RegionRegistry::global()
        .name(id)
        .map_or_else(|| format!("region#{}", id.0), |n| n.to_string())
}

/// This rank's file: `regions/<escaped name>/{start_times,end_times,thread_ids}`.
pub struct RankFile {
    path: PathBuf,
    file: File,
    regions: Group,
    /// `datasets[id]` is region `id`'s datasets, once it has been written.
    datasets: Vec<Option<RegionDatasets>>,
}

impl RankFile {
    /// Creates (truncating) the rank file at `path`.
    pub fn create(path: &Path) -> hdf5::Result<RankFile> {
        let file = crate::h5file::create(path)?;
        let regions = file.create_group("regions")?;
        Ok(RankFile {
            path: path.to_owned(),
            file,
            regions,
            datasets: Vec::new(),
        })
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
            self.append_region(id, &name, &cols.starts, &cols.ends, &cols.threads)?;
        }
        self.file.flush()
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
        for (name, value) in counters {
            write_i64_attr(&self.file, name, *value)?;
        }
        let RankFile {
            file,
            regions,
            datasets,
            ..
        } = self;
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
        let slot = &mut self.datasets[i];
        let datasets = match slot.take() {
            Some(ds) => ds,
            None => RegionDatasets::create(&self.regions, name, first_batch)?,
        };
        Ok(slot.insert(datasets))
    }
}
