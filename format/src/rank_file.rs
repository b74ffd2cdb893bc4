//! [`RankFile`]: this rank's `rank_<N>.h5`, appended batch by batch.
//!
//! Default (earliest) HDF5 file format and an `H5Fflush` after every batch:
//! a process killed between flushes leaves a file that opens directly and
//! holds every batch flushed before the kill. HDF5's flush itself is not
//! atomic; what a kill inside one leaves, and how the reader and
//! [`crate::repair`] deal with it, is in `docs/performance.md`.

use std::path::{Path, PathBuf};

use hdf5::{File, Group};

use crate::tree::RegionDatasets;
use crate::{attrs, names, RegionCalls};

/// Calls appended before the rank file is closed and opened again. libhdf5
/// keeps every chunk-index B-tree node it has touched in memory (~18 KB
/// each, massif: `H5B_create`) until the file is closed, whatever its
/// metadata-cache limits, so a long run's memory would grow with its
/// length. Reopening every 2²⁴ calls (~256 chunks per dataset) keeps it flat
/// at one close and open per 16 M calls (`benches/throughput.rs`,
/// docs/performance.md).
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

    /// Appends one batch, the calls of each region in `regions`, then
    /// flushes the file so a killed process leaves them readable.
    pub fn append<'a>(
        &mut self,
        regions: impl IntoIterator<Item = RegionCalls<'a>>,
    ) -> hdf5::Result<()> {
        let mut appended = 0;
        for region in regions {
            appended += region.calls.len();
            self.append_region(region)?;
        }
        if appended == 0 {
            return Ok(());
        }
        handles(&self.handles, &self.path)?.file.flush()?;
        self.since_open += appended;
        if self.since_open >= self.reopen_every {
            self.reopen()?;
        }
        Ok(())
    }

    /// Appends one region's calls (its name is used when the region's group
    /// is first created), without flushing.
    pub fn append_region(&mut self, region: RegionCalls<'_>) -> hdf5::Result<()> {
        let calls = region.calls;
        self.region(region.id, region.name, calls.len())?.append(
            calls.starts(),
            calls.ends(),
            calls.threads(),
        )
    }

    /// Records `calls` untimed calls of region `id`, named `name`
    /// (count-only mode).
    pub fn write_call_count(&mut self, id: u32, name: &str, calls: u64) -> hdf5::Result<()> {
        self.region(id, name, 0)?.write_call_count(calls)
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
            attrs::write_i64(&file, name, *value)?;
        }
        file.flush()?;
        drop(datasets);
        drop(regions);
        file.close()
    }

    fn region(
        &mut self,
        id: u32,
        name: &str,
        first_batch: usize,
    ) -> hdf5::Result<&mut RegionDatasets> {
        let i = id as usize;
        if i >= self.datasets.len() {
            self.datasets.resize_with(i + 1, || None);
        }
        let regions = &handles(&self.handles, &self.path)?.regions;
        let slot = &mut self.datasets[i];
        let datasets = match slot.take() {
            Some(ds) => ds,
            // Written before the file was last reopened.
            None if regions.link_exists(&names::escape(name)) => {
                RegionDatasets::open(regions, name)?
            }
            None => RegionDatasets::create(regions, name, first_batch)?,
        };
        Ok(slot.insert(datasets))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventColumns;

    #[test]
    fn appends_across_reopens_keep_every_call_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rank_0.h5");
        let mut file = RankFile::create(&path).unwrap();
        file.reopen_every = 10;
        let mut tick = 1_000i64;
        let mut four_calls = || {
            let starts: Vec<i64> = (0..4).map(|i| tick + 10 * i).collect();
            tick += 40;
            let ends = starts.iter().map(|s| s + 5).collect();
            EventColumns::from_columns(starts, ends, vec![0; 4]).unwrap()
        };
        for round in 0..8 {
            let early = four_calls();
            let late = four_calls();
            let mut batch = vec![RegionCalls {
                id: 0,
                name: "reopen early",
                calls: &early,
            }];
            if round >= 3 {
                batch.push(RegionCalls {
                    id: 1,
                    name: "reopen late/new",
                    calls: &late,
                });
            }
            file.append(batch).unwrap();
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
