//! Compressed chunks written directly: HDF5's shuffle + deflate filters
//! applied by us, in parallel, and handed to HDF5 finished
//! (`H5Dwrite_chunk`). Every HDF5 reader decodes these two built-in filters;
//! HDF5 itself would run them one chunk at a time under its global lock.
//!
//! Deflate is zlib-rs at level 1 with the run-length strategy: on shuffled
//! timestamps (constant high bytes, noisy low ones) it compresses within a
//! few percent of the default strategy at several times its speed
//! (docs/performance.md).

use hdf5::{Dataset, Group};
use rayon::prelude::*;
use zlib_rs::{compress_bound, compress_slice, DeflateConfig, Method, Strategy};

/// Events per chunk of a large dataset (512 KB of int64s).
pub const CHUNK: usize = 1 << 16;

/// Chunks compressed together, in parallel, before they are written.
const IN_FLIGHT: usize = 16;

const DEFLATE: DeflateConfig = DeflateConfig {
    level: 1,
    method: Method::Deflated,
    window_bits: 15,
    mem_level: 8,
    strategy: Strategy::Rle,
};

/// Creates the 1-D dataset `name` of `len` integers of `element` bytes
/// (8: int64, 4: uint32) under `group`, chunked by `min(len, CHUNK)` with
/// the shuffle and deflate filters, for [`ChunkWriter`].
pub fn create_dataset(
    group: &Group,
    name: &str,
    element: usize,
    len: usize,
) -> hdf5::Result<Dataset> {
    let builder = integers(group, element);
    builder
        .shape(len)
        .chunk(len.clamp(1, CHUNK))
        .shuffle()
        .deflate(1)
        .create(name)
}

/// Creates the same dataset empty, growing without bound, chunked by
/// [`CHUNK`] (resize it before writing a chunk past its end).
pub fn create_growing_dataset(group: &Group, name: &str, element: usize) -> hdf5::Result<Dataset> {
    integers(group, element)
        .shape(0..)
        .chunk(CHUNK)
        .shuffle()
        .deflate(1)
        .create(name)
}

/// Creates the same dataset contiguous and unfiltered (for few values).
pub fn create_plain_dataset(
    group: &Group,
    name: &str,
    element: usize,
    len: usize,
) -> hdf5::Result<Dataset> {
    integers(group, element).shape(len).create(name)
}

/// A dataset builder for int64 (`element` 8) or uint32 values.
fn integers(group: &Group, element: usize) -> hdf5::DatasetBuilderEmpty {
    if element == 8 {
        group.new_dataset::<i64>()
    } else {
        group.new_dataset::<u32>()
    }
}

/// A chunk's values, padded with zeros to the full chunk size.
pub enum ChunkValues {
    /// For an int64 dataset.
    I64(Vec<i64>),
    /// For a uint32 dataset.
    U32(Vec<u32>),
}

/// One chunk, waiting to be compressed and written.
pub struct PendingChunk {
    /// The dataset (made by [`create_dataset`]).
    pub dataset: Dataset,
    /// The chunk's first element.
    pub offset: u64,
    /// Its values.
    pub values: ChunkValues,
}

/// Collects chunks and writes them, compressed in parallel, 16
/// at a time (so memory stays bounded whatever the file's size).
#[derive(Default)]
pub struct ChunkWriter {
    pending: Vec<PendingChunk>,
}

impl ChunkWriter {
    /// Queues `chunk`, writing the queue when it is full.
    pub fn push(&mut self, chunk: PendingChunk) -> hdf5::Result<()> {
        self.pending.push(chunk);
        if self.pending.len() >= IN_FLIGHT {
            self.flush()?;
        }
        Ok(())
    }

    /// Compresses every queued chunk (in parallel) and writes them.
    pub fn flush(&mut self) -> hdf5::Result<()> {
        let compressed: Vec<Vec<u8>> = self
            .pending
            .par_iter()
            .map(|c| match &c.values {
                ChunkValues::I64(v) => compress(&shuffle(v, |x, j| (x >> (8 * j)) as u8)),
                ChunkValues::U32(v) => compress(&shuffle(v, |x, j| (x >> (8 * j)) as u8)),
            })
            .collect();
        for (chunk, data) in self.pending.drain(..).zip(compressed) {
            write_chunk(&chunk.dataset, chunk.offset, &data)?;
        }
        Ok(())
    }
}

/// Deflates shuffled bytes (zlib format, what HDF5's deflate filter reads).
fn compress(shuffled: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; compress_bound(shuffled.len())];
    let (written, _) = compress_slice(&mut out, shuffled, DEFLATE);
    let len = written.len();
    out.truncate(len);
    out
}

/// HDF5's shuffle filter on little-endian values of `size_of::<T>()`
/// bytes: byte `j` of value `i` goes to `j * n + i`; `byte(v, j)` is byte
/// `j` of `v`. One pass per byte plane, so each writes a contiguous run.
fn shuffle<T: Copy>(values: &[T], byte: impl Fn(T, usize) -> u8) -> Vec<u8> {
    let size = std::mem::size_of::<T>();
    let mut out = Vec::with_capacity(std::mem::size_of_val(values));
    for j in 0..size {
        out.extend(values.iter().map(|v| byte(*v, j)));
    }
    out
}

/// Hands HDF5 one finished chunk of `dataset`, starting at element `offset`.
fn write_chunk(dataset: &Dataset, offset: u64, data: &[u8]) -> hdf5::Result<()> {
    let offsets = [offset];
    let status = hdf5::sync::sync(|| {
        // SAFETY: FFI call under HDF5's global lock (`sync`). `dataset.id()`
        // is a valid open dataset id for the call's duration (we hold the
        // `Dataset`); `offsets` holds one coordinate for the 1-D dataset and
        // `data` is `data.len()` readable bytes; HDF5 copies both before
        // returning. Filter mask 0: every filter of the dataset was applied.
        unsafe {
            hdf5_sys::h5d::H5Dwrite_chunk(
                dataset.id(),
                hdf5_sys::h5p::H5P_DEFAULT,
                0,
                offsets.as_ptr(),
                data.len(),
                data.as_ptr().cast(),
            )
        }
    });
    if status < 0 {
        return Err(format!("H5Dwrite_chunk failed at element {offset}").into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_written_directly_read_back_through_hdf5s_own_filters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chunks.h5");
        let file = crate::h5file::create(&path).unwrap();
        let n = CHUNK + 1000; // one full chunk and a partial one
        let values: Vec<i64> = (0..n as i64)
            .map(|i| 1_000_000_000_000 + i * 37 + i % 5)
            .collect();
        let ds = create_dataset(&file, "t", 8, n).unwrap();
        let mut writer = ChunkWriter::default();
        for (k, part) in values.chunks(CHUNK).enumerate() {
            let mut chunk = part.to_vec();
            chunk.resize(CHUNK, 0);
            writer
                .push(PendingChunk {
                    dataset: ds.clone(),
                    offset: (k * CHUNK) as u64,
                    values: ChunkValues::I64(chunk),
                })
                .unwrap();
        }
        writer.flush().unwrap();
        drop((ds, file));
        let back: Vec<i64> = crate::h5file::open(&path)
            .unwrap()
            .dataset("t")
            .unwrap()
            .read_raw()
            .unwrap();
        assert_eq!(back, values);
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(size < (n * 8 / 3) as u64, "{size} bytes: not compressed");
    }
}
