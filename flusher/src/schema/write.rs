//! Writing the schema-1 region tree and metadata attributes.

use hdf5::types::TypeDescriptor;
use hdf5::types::VarLenUnicode;
use hdf5::{Dataset, Group, H5Type, Location};

/// Smallest and largest chunk, in events. Chunks are sized from the first
/// append so that 10⁴ one-call regions stay small on disk and long-running
/// regions append in large chunks (flushing costs nothing measurable for
/// batches ≥ 64 K events, DESIGN.md §4).
const MIN_CHUNK: usize = 64;
const MAX_CHUNK: usize = 65_536;

/// Writes a scalar variable-length UTF-8 string attribute. Strings holding NUL
/// cannot be stored as HDF5 strings and are skipped (returns `Ok(false)`).
pub fn write_str_attr(loc: &Location, name: &str, value: &str) -> hdf5::Result<bool> {
    let Ok(value) = value.parse::<VarLenUnicode>() else {
        return Ok(false);
    };
    loc.new_attr::<VarLenUnicode>()
        .shape(())
        .create(name)?
        .write_scalar(&value)?;
    Ok(true)
}

/// Writes a scalar float64 attribute.
pub fn write_f64_attr(loc: &Location, name: &str, value: f64) -> hdf5::Result<()> {
    loc.new_attr::<f64>()
        .shape(())
        .create(name)?
        .write_scalar(&value)
}

/// Writes a scalar int64 attribute.
pub fn write_i64_attr(loc: &Location, name: &str, value: i64) -> hdf5::Result<()> {
    loc.new_attr::<i64>()
        .shape(())
        .create(name)?
        .write_scalar(&value)
}

/// One region's datasets under a `regions` group, appended batch by batch.
pub struct RegionDatasets {
    group: Group,
    starts: Dataset,
    ends: Dataset,
    threads: Dataset,
    len: usize,
}

impl RegionDatasets {
    /// Creates the group for `name` (escaped) with empty, chunked, resizable
    /// datasets sized for appends of about `first_batch` events.
    pub fn create(regions: &Group, name: &str, first_batch: usize) -> hdf5::Result<Self> {
        let group = regions.create_group(&super::names::escape(name))?;
        write_str_attr(&group, "name", name)?;
        let chunk = first_batch.next_power_of_two().clamp(MIN_CHUNK, MAX_CHUNK);
        let starts = group
            .new_dataset::<i64>()
            .chunk(chunk)
            .shape(0..)
            .create("start_times")?;
        let ends = group
            .new_dataset::<i64>()
            .chunk(chunk)
            .shape(0..)
            .create("end_times")?;
        let threads = group
            .new_dataset::<u32>()
            .chunk(chunk)
            .shape(0..)
            .create("thread_ids")?;
        Ok(RegionDatasets {
            group,
            starts,
            ends,
            threads,
            len: 0,
        })
    }

    /// Opens the datasets of `name` written earlier (after the rank file
    /// was reopened).
    pub fn open(regions: &Group, name: &str) -> hdf5::Result<Self> {
        let group = regions.group(&super::names::escape(name))?;
        let starts = group.dataset("start_times")?;
        let ends = group.dataset("end_times")?;
        let threads = group.dataset("thread_ids")?;
        let len = starts.size().min(ends.size()).min(threads.size());
        Ok(RegionDatasets {
            group,
            starts,
            ends,
            threads,
            len,
        })
    }

    /// Appends one batch. Starts are written first: a process killed part
    /// way leaves `start_times` at most one batch longer than `end_times`,
    /// and readers take the shorter length.
    pub fn append(&mut self, starts: &[i64], ends: &[i64], threads: &[u32]) -> hdf5::Result<()> {
        let n = starts.len().min(ends.len()).min(threads.len());
        if n == 0 {
            return Ok(());
        }
        let (from, to) = (self.len, self.len + n);
        self.starts.resize(to)?;
        self.starts.write_slice(&starts[..n], from..to)?;
        self.ends.resize(to)?;
        self.ends.write_slice(&ends[..n], from..to)?;
        self.threads.resize(to)?;
        self.threads.write_slice(&threads[..n], from..to)?;
        self.len = to;
        Ok(())
    }

    /// Records the call count on the region group (count-only mode writes no
    /// timestamps, only this attribute).
    pub fn write_call_count(&self, calls: u64) -> hdf5::Result<()> {
        write_i64_attr(&self.group, "num_calls", calls as i64)
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
    copy_int_attrs(src, dst)?;
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
            write_str_attr(&to, "name", &super::text(name.as_bytes()))?;
        }
        copy_int_attrs(&from, &to)?;
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

fn copy_int_attrs(from: &Location, to: &Location) -> hdf5::Result<()> {
    for name in from.attr_names()? {
        let attr = from.attr(&name)?;
        if matches!(attr.dtype()?.to_descriptor()?, TypeDescriptor::Integer(_)) && attr.is_scalar()
        {
            write_i64_attr(to, &name, attr.read_scalar::<i64>()?)?;
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
