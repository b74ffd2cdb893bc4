//! Compressed chunks written directly: HDF5's shuffle + deflate filters
//! applied by us, in parallel, and handed to HDF5 finished
//! (`H5Dwrite_chunk`, [`ChunkWriter`]), or handed back as bytes
//! ([`compress`]) to a writer that puts them in the file itself (schema 3's
//! parts, each written by its rank). Every HDF5 reader decodes these two
//! built-in filters; HDF5 itself would run them one chunk at a time under
//! its global lock.
//!
//! Deflate is zlib-rs at level 1 with the run-length strategy: on shuffled
//! timestamps (constant high bytes, noisy low ones) it compresses within a
//! few percent of the default strategy at several times its speed
//! (docs/performance.md).

use std::cell::RefCell;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use hdf5::{Dataset, Group};
use zlib_rs::{compress_bound, Deflate, DeflateConfig, DeflateFlush, Method, Status, Strategy};

/// Events per chunk of a large dataset (512 KB of int64s).
pub const CHUNK: usize = 1 << 16;

/// Chunks queued or being compressed at once: enough to keep every core
/// busy while the caller decodes, few enough to bound memory (16 chunks of
/// at most 512 KB, plus one compressed copy per worker).
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

/// Compresses and writes chunks on rayon's pool while the caller goes on
/// (decoding the next ones): at most `IN_FLIGHT` chunks at a time,
/// [`push`](Self::push) waiting for room. Every chunk pushed is written (or
/// its failure reported) by [`flush`](Self::flush), which a drop also
/// waits for, so no write outlives the writer.
#[derive(Default)]
pub struct ChunkWriter {
    state: Arc<InFlight>,
}

/// Chunks not yet written, the first failure, and value buffers the
/// workers are done with, shared with the workers.
#[derive(Default)]
struct InFlight {
    count: Mutex<usize>,
    changed: Condvar,
    failure: Mutex<Option<String>>,
    spare: Mutex<SpareBuffers>,
}

/// Emptied int64 and uint32 chunk buffers, for reuse.
type SpareBuffers = (Vec<Vec<i64>>, Vec<Vec<u32>>);

impl InFlight {
    /// Waits until fewer than `limit` chunks are in flight. On one of
    /// rayon's workers (finalize called from a parallel task) it first runs
    /// queued tasks itself, so a one-thread pool cannot deadlock.
    fn wait_below(&self, limit: usize) {
        if rayon::current_thread_index().is_some() {
            while *self.count.lock().unwrap_or_else(PoisonError::into_inner) >= limit
                && rayon::yield_now() == Some(rayon::Yield::Executed)
            {}
        }
        let mut count = self.count.lock().unwrap_or_else(PoisonError::into_inner);
        while *count >= limit {
            count = self
                .changed
                .wait(count)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Keeps `values`' buffer for a later chunk.
    fn recycle(&self, values: ChunkValues) {
        let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
        match values {
            ChunkValues::I64(mut v) => {
                v.clear();
                spare.0.push(v);
            }
            ChunkValues::U32(mut v) => {
                v.clear();
                spare.1.push(v);
            }
        }
    }

    fn done(&self, result: hdf5::Result<()>) {
        if let Err(e) = result {
            let mut failure = self.failure.lock().unwrap_or_else(PoisonError::into_inner);
            failure.get_or_insert_with(|| e.to_string());
        }
        *self.count.lock().unwrap_or_else(PoisonError::into_inner) -= 1;
        self.changed.notify_all();
    }
}

impl ChunkWriter {
    /// Hands `chunk` to a worker, first waiting while `IN_FLIGHT` are.
    pub fn push(&mut self, chunk: PendingChunk) -> hdf5::Result<()> {
        self.state.wait_below(IN_FLIGHT);
        *self
            .state
            .count
            .lock()
            .unwrap_or_else(PoisonError::into_inner) += 1;
        let state = Arc::clone(&self.state);
        rayon::spawn(move || {
            let written = compress_and_write(&chunk);
            state.recycle(chunk.values);
            state.done(written);
        });
        Ok(())
    }

    /// An empty buffer for a chunk of int64 values, with room for
    /// [`CHUNK`]: one a worker is done with when there is one (no
    /// allocation, no page faults, no growth by copying).
    pub fn i64_buffer(&self) -> Vec<i64> {
        self.spare(|s| s.0.pop())
    }

    /// [`i64_buffer`](Self::i64_buffer) for uint32 values.
    pub fn u32_buffer(&self) -> Vec<u32> {
        self.spare(|s| s.1.pop())
    }

    /// A spare buffer `take` finds, else a new one of [`CHUNK`] values.
    fn spare<T>(&self, take: impl FnOnce(&mut SpareBuffers) -> Option<Vec<T>>) -> Vec<T> {
        let mut spare = self
            .state
            .spare
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        take(&mut spare).unwrap_or_else(|| Vec::with_capacity(CHUNK))
    }

    /// Waits until every chunk pushed is written; the first failure, if any.
    pub fn flush(&mut self) -> hdf5::Result<()> {
        self.state.wait_below(1);
        let failure = self
            .state
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match failure {
            Some(message) => Err(message.into()),
            None => Ok(()),
        }
    }
}

impl Drop for ChunkWriter {
    fn drop(&mut self) {
        self.state.wait_below(1);
    }
}

/// The compressed output's first size.
const MIN_OUTPUT: usize = 1 << 16;

/// A worker's shuffled bytes, compressed output and deflate state, reused
/// from chunk to chunk for the thread's life: the shuffle buffer is sized
/// once, the output grows (zeroed) only when a chunk needs more than it
/// has, and the state (about 300 KB) is reset, not allocated and freed for
/// every chunk.
struct Compressor {
    shuffled: Vec<u8>,
    out: Vec<u8>,
    deflate: Deflate,
}

thread_local! {
    static COMPRESSOR: RefCell<Compressor> = RefCell::new(Compressor {
        shuffled: Vec::new(),
        out: Vec::new(),
        deflate: Deflate::new_with_config(DEFLATE),
    });
}

/// One chunk's values, borrowed: what [`compress`] takes.
#[derive(Clone, Copy)]
pub enum ChunkSlice<'a> {
    /// For an int64 dataset.
    I64(&'a [i64]),
    /// For a uint32 dataset.
    U32(&'a [u32]),
    /// For an int32 dataset.
    I32(&'a [i32]),
}

impl<'a> ChunkSlice<'a> {
    /// Values held.
    pub fn len(self) -> usize {
        match self {
            ChunkSlice::I64(v) => v.len(),
            ChunkSlice::U32(v) => v.len(),
            ChunkSlice::I32(v) => v.len(),
        }
    }

    /// Whether no value is held.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }

    /// The values in `range`.
    pub fn slice(self, range: std::ops::Range<usize>) -> ChunkSlice<'a> {
        match self {
            ChunkSlice::I64(v) => ChunkSlice::I64(&v[range]),
            ChunkSlice::U32(v) => ChunkSlice::U32(&v[range]),
            ChunkSlice::I32(v) => ChunkSlice::I32(&v[range]),
        }
    }

    /// The one value every value equals (as an `i64`); `None` if they
    /// differ or there are none.
    pub fn one_value(self) -> Option<i64> {
        fn same<T: Copy + PartialEq + Into<i64>>(v: &[T]) -> Option<i64> {
            let first = *v.first()?;
            v.iter().all(|x| *x == first).then(|| first.into())
        }
        match self {
            ChunkSlice::I64(v) => same(v),
            ChunkSlice::U32(v) => same(v),
            ChunkSlice::I32(v) => same(v),
        }
    }
}

impl ChunkValues {
    fn as_slice(&self) -> ChunkSlice<'_> {
        match self {
            ChunkValues::I64(v) => ChunkSlice::I64(v),
            ChunkValues::U32(v) => ChunkSlice::U32(v),
        }
    }
}

/// `values` as HDF5 stores a chunk of `len` values (`len >= values.len()`;
/// the values past them zeros) with the shuffle and deflate filters: the
/// bytes `H5Dread_chunk` returns and `H5Dwrite_chunk` takes.
pub fn compress(values: ChunkSlice<'_>, len: usize) -> Vec<u8> {
    with_compressed(values, len, <[u8]>::to_vec)
}

/// Shuffles and deflates `values` as a chunk of `len` values (what HDF5's
/// filters would) into this thread's buffers and hands `f` the result.
fn with_compressed<R>(values: ChunkSlice<'_>, len: usize, f: impl FnOnce(&[u8]) -> R) -> R {
    COMPRESSOR.with_borrow_mut(|compressor| {
        let Compressor {
            shuffled,
            out,
            deflate,
        } = compressor;
        let shuffled = match values {
            ChunkSlice::I64(v) => shuffle_i64(v, len, shuffled),
            ChunkSlice::U32(v) => shuffle_4(v, len, u32::to_le_bytes, shuffled),
            ChunkSlice::I32(v) => shuffle_4(v, len, i32::to_le_bytes, shuffled),
        };
        // The output grows to what the chunks need (a tight loop's 2 MB
        // chunk deflates to about 60 KB), not to deflate's bound for
        // every chunk: fewer fresh pages to fault in and zero.
        deflate.reset();
        loop {
            let (read, written) = (deflate.total_in() as usize, deflate.total_out() as usize);
            let status =
                deflate.compress(&shuffled[read..], &mut out[written..], DeflateFlush::Finish);
            match status {
                Ok(Status::StreamEnd) => break,
                Ok(status) => {
                    let bound = compress_bound(shuffled.len()).max(MIN_OUTPUT);
                    assert!(
                        out.len() < bound,
                        "deflate did not finish in its bound: {status:?}"
                    );
                    out.resize((2 * out.len()).clamp(MIN_OUTPUT, bound), 0);
                }
                Err(e) => unreachable!("deflate refused a whole buffer: {}", e.as_str()),
            }
        }
        f(&out[..deflate.total_out() as usize])
    })
}

/// Shuffles and deflates `chunk` (what HDF5's filters would) and writes it.
fn compress_and_write(chunk: &PendingChunk) -> hdf5::Result<()> {
    let values = chunk.values.as_slice();
    with_compressed(values, values.len(), |bytes| {
        write_chunk(&chunk.dataset, chunk.offset, bytes)
    })
}

/// HDF5's shuffle filter's output for a chunk of `len` values of `SIZE`
/// bytes, as its `SIZE` byte planes (byte `j` of value `i` goes to
/// `planes[j][i]`), in `buffer` (grown once, never zero-filled again), each
/// plane zero from value `n` on.
fn planes<const SIZE: usize>(buffer: &mut Vec<u8>, n: usize, len: usize) -> [&mut [u8]; SIZE] {
    if buffer.len() < len * SIZE {
        buffer.resize(len * SIZE, 0);
    }
    let mut rest = &mut buffer[..len * SIZE];
    std::array::from_fn(|_| {
        let (plane, tail) = std::mem::take(&mut rest).split_at_mut(len);
        plane[n..].fill(0);
        rest = tail;
        plane
    })
}

/// Shuffles `values` (little-endian bytes `bytes(v)`), the first being
/// value `first` of the chunk, into `planes`.
fn shuffle_into<T: Copy, const SIZE: usize>(
    values: &[T],
    first: usize,
    bytes: impl Fn(T) -> [u8; SIZE],
    planes: &mut [&mut [u8]; SIZE],
) {
    for (i, v) in values.iter().enumerate() {
        for (plane, byte) in planes.iter_mut().zip(bytes(*v)) {
            plane[first + i] = byte;
        }
    }
}

/// [`shuffle_into`] a chunk of `len` 4-byte values. Returns the shuffled bytes.
fn shuffle_4<'b, T: Copy>(
    values: &[T],
    len: usize,
    bytes: impl Fn(T) -> [u8; 4],
    buffer: &'b mut Vec<u8>,
) -> &'b [u8] {
    let mut planes = planes::<4>(buffer, values.len(), len);
    shuffle_into(values, 0, bytes, &mut planes);
    &buffer[..4 * len]
}

/// [`shuffle_into`] a chunk of `len` int64 values, eight at a time: an 8×8
/// byte transpose in registers (three rounds of masked swaps) and one
/// 8-byte store per plane instead of eight byte stores. Returns the
/// shuffled bytes.
fn shuffle_i64<'b>(values: &[i64], len: usize, buffer: &'b mut Vec<u8>) -> &'b [u8] {
    let n = values.len();
    let mut planes = planes::<8>(buffer, n, len);
    let blocks = values.chunks_exact(8);
    let tail = blocks.remainder();
    for (b, block) in blocks.enumerate() {
        let mut x: [u64; 8] = std::array::from_fn(|i| block[i] as u64);
        for (shift, mask, pairs) in [
            (32, 0x0000_0000_ffff_ffff_u64, [0, 1, 2, 3]),
            (16, 0x0000_ffff_0000_ffff, [0, 1, 4, 5]),
            (8, 0x00ff_00ff_00ff_00ff, [0, 2, 4, 6]),
        ] {
            let step = shift / 8;
            for i in pairs {
                let t = ((x[i] >> shift) ^ x[i + step]) & mask;
                x[i + step] ^= t;
                x[i] ^= t << shift;
            }
        }
        for (plane, word) in planes.iter_mut().zip(x) {
            plane[8 * b..8 * b + 8].copy_from_slice(&word.to_le_bytes());
        }
    }
    shuffle_into(tail, n - tail.len(), |v| v.to_le_bytes(), &mut planes);
    &buffer[..8 * len]
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
    fn the_transposing_shuffle_equals_the_byte_by_byte_one() {
        let mut rng = fastrand::Rng::with_seed(3);
        for (n, len) in [
            (0, 0),
            (1, 1),
            (7, 7),
            (8, 8),
            (13, 13),
            (64, 64),
            (1001, 1001),
            (13, 40),
        ] {
            let values: Vec<i64> = (0..n).map(|_| rng.i64(..)).collect();
            let mut expected = vec![0; 8 * len];
            for (i, v) in values.iter().enumerate() {
                for (j, byte) in v.to_le_bytes().into_iter().enumerate() {
                    expected[j * len + i] = byte;
                }
            }
            let mut buffer = vec![0xAA; 3 + 8 * len]; // reused: stale bytes past the values
            assert_eq!(
                shuffle_i64(&values, len, &mut buffer),
                &expected[..],
                "{n} values in a chunk of {len}"
            );
        }
    }

    #[test]
    fn chunks_written_directly_read_back_through_hdf5s_own_filters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chunks.h5");
        let file = crate::h5file::create(&path).unwrap();
        let n = CHUNK + 1000; // one full chunk and a partial one
        let mut rng = fastrand::Rng::with_seed(9);
        // Timestamps (a chunk deflates to a few KB) and random values,
        // which deflate to more than the output's first size, so that it
        // grows mid-stream.
        let columns: [Vec<i64>; 2] = [
            (0..n as i64)
                .map(|i| 1_000_000_000_000 + i * 37 + i % 5)
                .collect(),
            (0..n).map(|_| rng.i64(..)).collect(),
        ];
        let mut writer = ChunkWriter::default();
        for (name, values) in ["t", "random"].iter().zip(&columns) {
            let ds = create_dataset(&file, name, 8, n).unwrap();
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
        }
        writer.flush().unwrap();
        drop(file);
        let file = crate::h5file::open(&path).unwrap();
        for (name, values) in ["t", "random"].iter().zip(&columns) {
            let back: Vec<i64> = file.dataset(name).unwrap().read_raw().unwrap();
            assert_eq!(&back, values, "{name}");
        }
        let stored = |name: &str| file.dataset(name).unwrap().storage_size();
        assert!(stored("t") < (n * 8 / 3) as u64, "not compressed");
        assert!(
            stored("random") > MIN_OUTPUT as u64,
            "the output never grew"
        );
    }
}
