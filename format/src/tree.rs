//! Writing the schema-1 region tree: `regions/<escaped name>/{start_times,
//! end_times,thread_ids}`, appended batch by batch in a rank file and
//! copied, shifted onto rank 0's clock, into the merged file.

use hdf5::types::VarLenUnicode;
use hdf5::{Dataset, Group, H5Type};

use crate::append::AppendableColumns;
use crate::{attrs, names};

/// Smallest and largest chunk, in events. Chunks are sized from the first
/// append so that 10⁴ one-call regions stay small on disk and long-running
/// regions append in large chunks (flushing costs nothing measurable for
/// batches ≥ 64 K events, DESIGN.md §4).
const MIN_CHUNK: usize = 64;
const MAX_CHUNK: usize = 65_536;

/// The datasets of one region, in the order [`AppendableColumns`] writes them.
const COLUMNS: [&str; 3] = ["start_times", "end_times", "thread_ids"];

/// One region's datasets under a `regions` group, appended batch by batch.
pub struct RegionDatasets {
    group: Group,
    columns: AppendableColumns,
}

impl RegionDatasets {
    /// Creates the group for `name` (escaped) with empty, chunked, resizable
    /// datasets sized for appends of about `first_batch` events.
    pub fn create(regions: &Group, name: &str, first_batch: usize) -> hdf5::Result<Self> {
        let group = regions.create_group(&names::escape(name))?;
        attrs::write_str(&group, "name", name)?;
        let chunk = first_batch.next_power_of_two().clamp(MIN_CHUNK, MAX_CHUNK);
        let columns = AppendableColumns::create(&group, COLUMNS, chunk)?;
        Ok(RegionDatasets { group, columns })
    }

    /// Opens the datasets of `name` written earlier (after the rank file
    /// was reopened).
    pub fn open(regions: &Group, name: &str) -> hdf5::Result<Self> {
        let group = regions.group(&names::escape(name))?;
        let columns = AppendableColumns::open(&group, COLUMNS)?;
        Ok(RegionDatasets { group, columns })
    }

    /// Appends one batch. Starts are written first: a process killed part
    /// way leaves `start_times` at most one batch longer than the others,
    /// and readers take the shorter length.
    pub fn append(&mut self, starts: &[i64], ends: &[i64], threads: &[u32]) -> hdf5::Result<()> {
        self.columns.append(starts, ends, threads)
    }

    /// Records the call count on the region group (count-only mode writes no
    /// timestamps, only this attribute).
    pub fn write_call_count(&self, calls: u64) -> hdf5::Result<()> {
        attrs::write_i64(&self.group, "num_calls", calls as i64)
    }
}

/// Events copied per slab when merging, bounding the merge's memory to
/// about 16 MB whatever a region's size.
const COPY_SLAB: usize = 1 << 20;

/// Copies a rank file's tree (root attributes and `regions/`) under `dst`,
/// writing each dataset contiguous at its exact length. A rank file's
/// datasets are chunked for appending; the merged file needs no spare
/// chunks, which keeps 10⁴ one-call regions at a few KB each.
///
/// `shift` maps each timestamp onto the merged file's clock (rank 0's).
pub fn copy_rank_tree(src: &Group, dst: &Group, shift: &dyn Fn(i64) -> i64) -> hdf5::Result<()> {
    attrs::copy_ints(src, dst)?;
    let Ok(src_regions) = src.group("regions") else {
        return Ok(());
    };
    let dst_regions = dst.create_group("regions")?;
    for link in src_regions.member_names()? {
        let from = src_regions.group(&link)?;
        let to = dst_regions.create_group(&link)?;
        if let Ok(name) = from
            .attr("name")
            .and_then(|a| a.read_scalar::<VarLenUnicode>())
        {
            attrs::write_str(&to, "name", &crate::text(name.as_bytes()))?;
        }
        attrs::copy_ints(&from, &to)?;
        let starts = from.dataset("start_times")?;
        let ends = from.dataset("end_times")?;
        // A killed writer can leave start_times longer: keep whole calls only.
        let n = starts.size().min(ends.size());
        copy_dataset::<i64>(&starts, &to, "start_times", n, |t| *t = shift(*t))?;
        copy_dataset::<i64>(&ends, &to, "end_times", n, |t| *t = shift(*t))?;
        if let Ok(threads) = from.dataset("thread_ids") {
            copy_dataset::<u32>(&threads, &to, "thread_ids", n.min(threads.size()), |_| {})?;
        }
    }
    Ok(())
}

fn copy_dataset<T: H5Type>(
    from: &Dataset,
    to: &Group,
    name: &str,
    n: usize,
    map: impl Fn(&mut T),
) -> hdf5::Result<()> {
    let out = to.new_dataset::<T>().shape(n).create(name)?;
    let mut at = 0;
    while at < n {
        let end = (at + COPY_SLAB).min(n);
        let mut slab = from.read_slice_1d::<T, _>(at..end)?;
        slab.iter_mut().for_each(&map);
        out.write_slice(&slab, at..end)?;
        at = end;
    }
    Ok(())
}
