//! A check before reading variable-length strings.
//!
//! A vlen string's length is stored in the dataset's raw bytes (4-byte
//! length, then its global-heap id). In a damaged file it can claim
//! gigabytes, and HDF5 1.10 allocates and zeroes a conversion buffer that
//! size before it fails (seen by `reader_fuzz`: 7 GB, 10–60 s per file).
//! HDF5 offers no hook to cap that buffer, so for contiguous datasets we
//! read the raw length fields from the file ourselves and refuse any above
//! the cap. Compact and chunked string datasets are not checked (our
//! writers and the Python package write these columns contiguous).
//!
//! Not covered: a damaged *datatype* whose character size claims gigabytes
//! (HDF5 1.10 does not validate it, ≥ 1.14 rejects it at open); reading such
//! a file still makes libhdf5 allocate that size before it fails.

use std::io::{Read, Seek, SeekFrom};

use hdf5::Dataset;

/// Bytes of one vlen element on disk: u32 length + heap address + index.
const VLEN_ELEMENT: u64 = 16;

/// Fails if any variable-length element of `ds` claims more than `cap`
/// bytes. Returns `Ok` when the layout is not one it can check.
pub fn check_lengths(ds: &Dataset, cap: u64) -> Result<(), String> {
    let n = ds.size() as u64;
    let Some(offset) = ds.offset() else {
        return Ok(());
    };
    if n == 0 || ds.storage_size() != n * VLEN_ELEMENT {
        return Ok(());
    }
    let mut raw = vec![0u8; (n * VLEN_ELEMENT) as usize];
    let read = std::fs::File::open(ds.filename()).and_then(|mut f| {
        f.seek(SeekFrom::Start(offset))
            .and_then(|_| f.read_exact(&mut raw))
    });
    if read.is_err() {
        return Err(
            "its string entries lie past the end of the file; the file is truncated".into(),
        );
    }
    for (i, element) in raw.chunks_exact(VLEN_ELEMENT as usize).enumerate() {
        let len = u32::from_le_bytes([element[0], element[1], element[2], element[3]]) as u64;
        if len > cap {
            return Err(format!(
                "string {i} claims {len} bytes, more than the file can hold; the file is damaged"
            ));
        }
    }
    Ok(())
}
