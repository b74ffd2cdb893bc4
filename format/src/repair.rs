//! Repairing what a killed run left: a rank stream becomes an HDF5 file
//! other tools open ([`repair`] converts it), and an HDF5 file whose writer
//! was killed inside a flush gets its end-of-allocation mark moved.
//!
//! HDF5 1.10 writes a flush in rings: the objects first (chunk index,
//! dataset headers), the superblock last. A `SIGKILL` between the two leaves
//! the chunk index pointing at data past the superblock's end-of-allocation
//! mark (EOA), and every HDF5 reader refuses those chunks ("addr overflow").
//! The data itself is on disk: raw chunks are written before the objects
//! that point at them. Setting the EOA to the file's length makes the file
//! readable again, which is what `h5clear --increment=0` does; measured
//! here, one `SIGKILL` in ~100 at random moments of a flush-heavy run lands
//! in that window.
//!
//! Only superblock versions 0 and 1 (the default, earliest file format, which
//! our writer and h5py use) are patched: they carry no checksum. For the
//! newer versions, [`repair`] says to use `h5clear`.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::merged::{write_merged, OutputSchema, RankInput};
use crate::metadata::RunFacts;

const SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// A file's superblock, as far as its end-of-allocation mark goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Superblock {
    /// Version 0 or 1: no checksum, so the mark can be moved in place.
    Patchable {
        /// Byte offset of the EOA field in the file.
        eoa_field: u64,
        /// The base address every stored address is relative to.
        base: u64,
        /// The stored end-of-allocation address (relative to `base`).
        eoa: u64,
    },
    /// Version 2 or later: checksummed, left to `h5clear`.
    Checksummed {
        /// The superblock version.
        version: u8,
    },
}

/// A file's stored end-of-allocation mark against its real length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Allocation {
    /// Absolute end of allocation the superblock records, bytes.
    pub end_of_allocation: u64,
    /// The file's length, bytes.
    pub end_of_file: u64,
}

impl Allocation {
    /// The allocation a superblock records (`eoa` relative to `base`)
    /// against a file of `end_of_file` bytes.
    fn of(base: u64, eoa: u64, end_of_file: u64) -> Allocation {
        Allocation {
            end_of_allocation: base.saturating_add(eoa),
            end_of_file,
        }
    }

    /// True when the file holds bytes past its recorded allocation: the
    /// writer did not finish (or close) its last flush.
    pub fn behind(&self) -> bool {
        self.end_of_allocation < self.end_of_file
    }
}

/// What [`repair`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// A rank stream was converted: `to` (the stream's path with the
    /// extension `.h5`) holds every call it had flushed, as schema 1.
    Converted {
        /// The HDF5 file written.
        to: PathBuf,
        /// Calls it holds.
        calls: u64,
        /// Bytes of a torn last batch (never reported flushed) left out.
        unread_bytes: u64,
    },
    /// The EOA already covered the file; nothing was written.
    NotNeeded(Allocation),
    /// The EOA was moved from `before` to the end of the file.
    Extended {
        /// The allocation found.
        before: Allocation,
    },
}

fn read_superblock(file: &mut File) -> io::Result<Option<Superblock>> {
    let mut head = Vec::with_capacity(64);
    file.take(64).read_to_end(&mut head)?;
    let filled = head.len();
    if filled < 16 || &head[..8] != SIGNATURE {
        return Ok(None);
    }
    let (base_field, size_of_offsets) = match head[8] {
        0 => (24, head[13]),
        1 => (28, head[13]),
        version => return Ok(Some(Superblock::Checksummed { version })),
    };
    if size_of_offsets != 8 {
        return Err(io::Error::other(format!(
            "superblock uses {size_of_offsets}-byte addresses; only 8-byte ones are supported"
        )));
    }
    // Base address, free-space address, end-of-allocation address.
    let eoa_field = base_field + 16;
    if filled < eoa_field + 8 {
        return Err(io::Error::other("superblock is truncated"));
    }
    let u64_at = |at: usize| u64::from_le_bytes(head[at..at + 8].try_into().expect("8 bytes"));
    Ok(Some(Superblock::Patchable {
        eoa_field: eoa_field as u64,
        base: u64_at(base_field),
        eoa: u64_at(eoa_field),
    }))
}

/// The end-of-allocation mark of the HDF5 file at `path` against its length;
/// `None` when it is not an HDF5 file with a version 0/1 superblock at byte 0.
pub fn allocation(path: &Path) -> io::Result<Option<Allocation>> {
    let mut file = File::open(path)?;
    let end_of_file = file.metadata()?.len();
    Ok(match read_superblock(&mut file)? {
        Some(Superblock::Patchable { base, eoa, .. }) => {
            Some(Allocation::of(base, eoa, end_of_file))
        }
        _ => None,
    })
}

/// Repairs the file at `path` left by a killed run (not one still being
/// written). A rank stream is converted into `<path>.h5` (schema 1, every
/// call it had flushed); the stream is left as it is. An HDF5 file has its
/// end-of-allocation mark moved to the end of the file, in place, when it
/// is behind: never shrunk, nothing else touched. A file that is neither,
/// or has a newer superblock, is refused.
pub fn repair(path: &Path) -> io::Result<Repair> {
    if crate::stream::is_stream(path) {
        return convert_stream(path);
    }
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    let end_of_file = file.metadata()?.len();
    let (eoa_field, base, eoa) = match read_superblock(&mut file)? {
        Some(Superblock::Patchable {
            eoa_field,
            base,
            eoa,
        }) => (eoa_field, base, eoa),
        Some(Superblock::Checksummed { version }) => {
            return Err(io::Error::other(format!(
                "superblock version {version} carries a checksum; repair it with `h5clear --increment=0`"
            )))
        }
        None => {
            return Err(io::Error::other(
                "not an HDF5 file (no superblock at byte 0)",
            ))
        }
    };
    let before = Allocation::of(base, eoa, end_of_file);
    if !before.behind() {
        return Ok(Repair::NotNeeded(before));
    }
    file.seek(SeekFrom::Start(eoa_field))?;
    file.write_all(&(end_of_file - base).to_le_bytes())?;
    file.sync_all()?;
    Ok(Repair::Extended { before })
}

/// Writes the stream at `path` as a schema-1 file beside it.
fn convert_stream(path: &Path) -> io::Result<Repair> {
    let header = crate::rank_totals::header(path)?;
    let to = path.with_extension("h5");
    let rank = RankInput {
        rank: header.rank,
        path: path.to_owned(),
        shift: Default::default(),
        hostname: crate::metadata::hostname(),
        aggregate: None,
    };
    let facts = RunFacts {
        start_time_ns: header.scale.anchor_ns,
        finalize_time_ns: header.scale.anchor_ns,
        mpi_size: 1,
        counters: vec![("repaired_from_stream", 1)],
        labels: vec![],
    };
    let written = write_merged(&to, &[rank], &facts, OutputSchema::Tree);
    let totals = written
        .map_err(io::Error::other)?
        .and_then(|mut ranks| ranks.pop())
        .ok_or_else(|| io::Error::other("the schema-1 writer returned no totals"))?;
    Ok(Repair::Converted {
        to,
        calls: totals.regions.iter().map(|r| r.stats.calls).sum(),
        unread_bytes: totals.unread_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A closed file with one chunked dataset, like a rank file's; returns
    /// it and the byte offset of the dataset's last chunk.
    fn small_file(dir: &Path) -> (std::path::PathBuf, u64) {
        let path = dir.join("f.h5");
        let file = crate::h5file::create(&path).unwrap();
        let ds = file
            .new_dataset::<i64>()
            .chunk(2)
            .shape(4)
            .create("d")
            .unwrap();
        ds.write(&[1i64, 2, 3, 4]).unwrap();
        file.flush().unwrap();
        let last = ds.num_chunks().unwrap() - 1;
        let last_chunk_at = ds.chunk_info(last).unwrap().addr;
        drop((ds, file));
        (path, last_chunk_at)
    }

    #[test]
    fn a_closed_file_needs_no_repair() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = small_file(dir.path());
        let alloc = allocation(&path).unwrap().unwrap();
        assert!(!alloc.behind(), "{alloc:?}");
        assert_eq!(repair(&path).unwrap(), Repair::NotNeeded(alloc));
    }

    #[test]
    fn an_eoa_behind_the_data_is_detected_and_moved_to_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let (path, data_at) = small_file(dir.path());
        // What a kill between HDF5's object ring and its superblock leaves:
        // the recorded allocation ends where the newest chunk starts.
        let mut f = OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(40)).unwrap();
        f.write_all(&data_at.to_le_bytes()).unwrap();
        drop(f);
        assert!(crate::h5file::open(&path)
            .and_then(|f| f.dataset("d")?.read_raw::<i64>())
            .is_err());

        let before = allocation(&path).unwrap().unwrap();
        assert_eq!(before.end_of_allocation, data_at);
        assert!(before.behind());
        assert_eq!(repair(&path).unwrap(), Repair::Extended { before });
        let data: Vec<i64> = crate::h5file::open(&path)
            .unwrap()
            .dataset("d")
            .unwrap()
            .read_raw()
            .unwrap();
        assert_eq!(data, [1, 2, 3, 4]);
    }

    #[test]
    fn a_file_that_is_not_hdf5_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("text.h5");
        std::fs::write(&path, "not hdf5 at all, just some text here").unwrap();
        assert_eq!(allocation(&path).unwrap(), None);
        assert!(repair(&path).is_err());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "not hdf5 at all, just some text here"
        );
    }
}
