//! [`Journal`]: every batch's calls, appended to `rank_<N>.h5.journal` before
//! the batch goes into the HDF5 rank file, so that a killed process loses
//! nothing it reported flushed.
//!
//! HDF5's flush is not atomic (see [`crate::repair`]): a kill inside one can
//! leave the rank file's chunk index pointing at nodes that were never
//! written, and then calls flushed long before are out of reach. The journal
//! is a plain append-only file: a frame per batch, each with its length and
//! a CRC-32 of its bytes, written with one `write` before the HDF5 append. A
//! kill can only tear the frame being written, which was not yet reported
//! flushed; [`Journal::read`] stops at the first incomplete or corrupt frame.
//! [`rebuild`] turns a journal back into a rank file (`pproc --repair`).
//! Finalize deletes the journal once the rank file is closed.
//!
//! Layout, little-endian: the header line `scope-profiler journal 2\n`, then
//! frames `{magic u32 = "SPJF", payload bytes u32, crc32 u32, payload}`; a
//! payload is `regions u32` then per region `{id u32, name bytes u32, name,
//! calls u32, starts, durations, thread runs}`. Starts are each the
//! difference to the previous start (the first to 0) and durations are
//! `end - start`, both as zigzag varints; threads are `runs u32` then
//! `{thread, calls}` varint pairs. A call takes 2 bytes when calls are short
//! and back to back, ~6 when they are milliseconds long and apart
//! (`benches/throughput.rs` prints the journal's bytes per event). Bytes
//! are the journal's cost: copying them into the page cache is most of what
//! it costs the flusher (docs/performance.md).

use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use integer_encoding::VarInt;

use crate::deltas::StartDeltas;
use crate::rank_file::RankFile;
use crate::{EventColumns, RegionCalls};

/// The header's text before the format number.
const HEADER_PREFIX: &[u8] = b"scope-profiler journal ";
const HEADER: &[u8] = b"scope-profiler journal 2\n";
const FRAME_MAGIC: u32 = u32::from_le_bytes(*b"SPJF");
/// Largest payload [`Journal::read`] accepts (a batch is far smaller); a
/// damaged length field cannot make it allocate more.
const MAX_PAYLOAD: usize = 1 << 30;

/// The journal beside the rank file at `rank_file`.
pub fn path_for(rank_file: &Path) -> PathBuf {
    let mut name = rank_file.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

/// An open journal, appended to by the flusher.
pub struct Journal {
    path: PathBuf,
    file: File,
    /// Reused frame buffer: a steady run appends without allocating.
    frame: Vec<u8>,
}

impl Journal {
    /// Creates (truncating) the journal for the rank file at `rank_file`.
    pub fn create(rank_file: &Path) -> io::Result<Journal> {
        let path = path_for(rank_file);
        let mut file = File::create(&path)?;
        file.write_all(HEADER)?;
        Ok(Journal {
            path,
            file,
            frame: Vec::new(),
        })
    }

    /// Where the journal is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one batch, the calls of each region in `regions`, as one
    /// frame with one `write` (into the page cache: it survives a killed
    /// process, not a power cut, like the HDF5 flush).
    pub fn append<'a>(
        &mut self,
        regions: impl ExactSizeIterator<Item = RegionCalls<'a>>,
    ) -> io::Result<()> {
        if regions.len() == 0 {
            return Ok(());
        }
        let f = &mut self.frame;
        f.clear();
        f.extend_from_slice(&[0; 12]); // magic, length, crc: filled below
        f.extend_from_slice(&(regions.len() as u32).to_le_bytes());
        for RegionCalls { id, name, calls } in regions {
            let n = calls.len();
            f.extend_from_slice(&id.to_le_bytes());
            f.extend_from_slice(&(name.len() as u32).to_le_bytes());
            f.extend_from_slice(name.as_bytes());
            f.extend_from_slice(&(n as u32).to_le_bytes());
            let mut deltas = StartDeltas::default();
            put_varints(f, n, calls.starts().iter().map(|s| deltas.encode(*s)));
            put_varints(
                f,
                n,
                calls
                    .ends()
                    .iter()
                    .zip(calls.starts())
                    .map(|(e, s)| e.wrapping_sub(*s)),
            );
            let runs = calls.threads().chunk_by(|a, b| a == b);
            let count = runs.clone().count();
            f.extend_from_slice(&(count as u32).to_le_bytes());
            put_varints(
                f,
                2 * count,
                runs.flat_map(|run| [run[0], run.len() as u32]),
            );
        }
        let payload_len = (f.len() - 12) as u32;
        let crc = crc32fast::hash(&f[12..]);
        f[0..4].copy_from_slice(&FRAME_MAGIC.to_le_bytes());
        f[4..8].copy_from_slice(&payload_len.to_le_bytes());
        f[8..12].copy_from_slice(&crc.to_le_bytes());
        self.file.write_all(f)
    }

    /// Reads the journal at `path`, handing each intact region record to
    /// `sink` in order. Stops at the end or at the first torn or corrupt
    /// frame, and says how many bytes it left unread.
    pub fn read(
        path: &Path,
        mut sink: impl FnMut(JournalRecord) -> io::Result<()>,
    ) -> io::Result<JournalSummary> {
        let mut input = BufReader::new(File::open(path)?);
        let total = input.get_ref().metadata()?.len();
        let mut header = vec![0; HEADER.len()];
        input
            .read_exact(&mut header)
            .ok()
            .filter(|()| header.starts_with(HEADER_PREFIX))
            .ok_or_else(|| io::Error::other("not a scope-profiler journal (bad header)"))?;
        if header != HEADER {
            let format = String::from_utf8_lossy(&header[HEADER_PREFIX.len()..]);
            return Err(io::Error::other(format!(
                "journal format {} was written by another version of scope-profiler; \
                 this one reads format 2",
                format.trim_end()
            )));
        }
        let mut summary = JournalSummary {
            frames: 0,
            calls: 0,
            unread_bytes: 0,
        };
        let mut at = HEADER.len() as u64;
        let mut payload = Vec::new();
        loop {
            let mut head = Vec::with_capacity(12);
            input.by_ref().take(12).read_to_end(&mut head)?;
            if head.len() < 12 {
                break;
            }
            let word = |i: usize| u32::from_le_bytes(head[i..i + 4].try_into().expect("4 bytes"));
            let (magic, len, crc) = (word(0), word(4) as usize, word(8));
            if magic != FRAME_MAGIC || len > MAX_PAYLOAD {
                break;
            }
            payload.clear();
            input.by_ref().take(len as u64).read_to_end(&mut payload)?;
            if payload.len() < len || crc32fast::hash(&payload) != crc {
                break;
            }
            let Some(records) = parse_payload(&payload) else {
                break;
            };
            for record in records {
                summary.calls += record.calls.len() as u64;
                sink(record)?;
            }
            summary.frames += 1;
            at += 12 + len as u64;
        }
        summary.unread_bytes = total.saturating_sub(at);
        Ok(summary)
    }
}

/// What [`Journal::read`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalSummary {
    /// Intact frames read.
    pub frames: u64,
    /// Calls in them.
    pub calls: u64,
    /// Bytes after the last intact frame (a frame torn by a kill).
    pub unread_bytes: u64,
}

/// One region's calls from one journal frame.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalRecord {
    /// The region's id in the run that wrote it.
    pub id: u32,
    /// The region's name.
    pub name: String,
    /// Its calls.
    pub calls: EventColumns,
}

impl JournalRecord {
    /// The record as the writers take it.
    pub fn as_region_calls(&self) -> RegionCalls<'_> {
        RegionCalls {
            id: self.id,
            name: &self.name,
            calls: &self.calls,
        }
    }
}

/// Appends `n` values as varints (zigzag for signed types).
fn put_varints<T: VarInt>(out: &mut Vec<u8>, n: usize, values: impl Iterator<Item = T>) {
    // Room for the longest encoding of each, then cut to what was written.
    let mut at = out.len();
    out.resize(at + n * 10, 0);
    for v in values.take(n) {
        at += v.encode_var(&mut out[at..]);
    }
    out.truncate(at);
}

/// Decodes a payload whose CRC matched; `None` if its structure is still
/// inconsistent (a journal written by something else).
fn parse_payload(mut p: &[u8]) -> Option<Vec<JournalRecord>> {
    fn take<'b>(p: &mut &'b [u8], n: usize) -> Option<&'b [u8]> {
        let (head, rest) = p.split_at_checked(n)?;
        *p = rest;
        Some(head)
    }
    fn u32_of(p: &mut &[u8]) -> Option<u32> {
        Some(u32::from_le_bytes(take(p, 4)?.try_into().ok()?))
    }
    fn varint<T: VarInt>(p: &mut &[u8]) -> Option<T> {
        let (v, len) = T::decode_var(p)?;
        take(p, len)?;
        Some(v)
    }
    let regions = u32_of(&mut p)?;
    let mut out = Vec::new();
    for _ in 0..regions {
        let id = u32_of(&mut p)?;
        let name_len = u32_of(&mut p)? as usize;
        let name = String::from_utf8_lossy(take(&mut p, name_len)?).into_owned();
        let n = u32_of(&mut p)? as usize;
        // Every call takes at least two bytes: a damaged count cannot make
        // the vectors below allocate more than the payload could fill.
        if n > p.len() / 2 {
            return None;
        }
        let mut deltas = StartDeltas::default();
        let starts = (0..n)
            .map(|_| Some(deltas.decode(varint::<i64>(&mut p)?)))
            .collect::<Option<Vec<i64>>>()?;
        let ends = starts
            .iter()
            .map(|s| Some(s.wrapping_add(varint::<i64>(&mut p)?)))
            .collect::<Option<Vec<i64>>>()?;
        let mut threads = Vec::with_capacity(n);
        for _ in 0..u32_of(&mut p)? {
            let (thread, calls) = (varint::<u32>(&mut p)?, varint::<u32>(&mut p)? as usize);
            if calls > n - threads.len() {
                return None;
            }
            threads.extend(std::iter::repeat_n(thread, calls));
        }
        out.push(JournalRecord {
            id,
            name,
            calls: EventColumns::from_columns(starts, ends, threads)?,
        });
    }
    p.is_empty().then_some(out)
}

/// Writes the rank file at `rank_file` anew from its journal: into a
/// temporary file beside it, renamed over it when complete (the damaged file
/// is kept as `<rank_file>.damaged`). Returns what the journal held.
pub fn rebuild(rank_file: &Path) -> io::Result<JournalSummary> {
    let journal = path_for(rank_file);
    let tmp = PathBuf::from(format!("{}.rebuilding", rank_file.display()));
    let mut out = RankFile::create(&tmp).map_err(io::Error::other)?;
    let summary = Journal::read(&journal, |r| {
        out.append_region(r.as_region_calls())
            .map_err(io::Error::other)
    })?;
    out.finish(&[("rebuilt_from_journal", 1)])
        .map_err(io::Error::other)?;
    if rank_file.exists() {
        std::fs::rename(rank_file, format!("{}.damaged", rank_file.display()))?;
    }
    std::fs::rename(&tmp, rank_file)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new journal for `rank_0.h5` in a fresh temporary directory.
    fn new_journal() -> (tempfile::TempDir, std::path::PathBuf, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let rank = dir.path().join("rank_0.h5");
        let journal = Journal::create(&rank).unwrap();
        (dir, rank, journal)
    }

    /// `calls` calls on thread 3, 100 ns apart from `first`, 40 ns long.
    fn calls(first: i64, calls: i64) -> EventColumns {
        let starts: Vec<i64> = (0..calls).map(|i| first + 100 * i).collect();
        let ends = starts.iter().map(|s| s + 40).collect();
        EventColumns::from_columns(starts, ends, vec![3; calls as usize]).unwrap()
    }

    /// Appends one frame holding region `name`'s `calls`.
    fn append(journal: &mut Journal, name: &str, calls: &EventColumns) {
        let region = RegionCalls { id: 1, name, calls };
        journal.append(std::iter::once(region)).unwrap();
    }

    fn calls_per_region(path: &Path) -> (Vec<(String, usize)>, JournalSummary) {
        let mut seen = Vec::new();
        let summary = Journal::read(path, |r| {
            assert_eq!(r.calls.threads(), vec![3; r.calls.len()]);
            seen.push((r.name, r.calls.len()));
            Ok(())
        })
        .unwrap();
        (seen, summary)
    }

    #[test]
    fn batches_read_back_in_order_and_a_torn_or_corrupt_frame_ends_the_read() {
        let (_dir, rank, mut journal) = new_journal();
        append(&mut journal, "journal a", &calls(1_000, 5));
        append(&mut journal, "journal b/c", &calls(9_000, 3));
        drop(journal);
        let path = path_for(&rank);
        let (seen, summary) = calls_per_region(&path);
        assert_eq!(seen, [("journal a".into(), 5), ("journal b/c".into(), 3)]);
        assert_eq!(
            (summary.frames, summary.calls, summary.unread_bytes),
            (2, 8, 0)
        );

        // A kill in the middle of the second write: only the first counts.
        let len = std::fs::metadata(&path).unwrap().len();
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..len as usize - 7]).unwrap();
        let (seen, summary) = calls_per_region(&path);
        assert_eq!(seen, [("journal a".into(), 5)]);
        assert!(summary.unread_bytes > 0);

        // A flipped byte in the first frame's payload: nothing is trusted.
        let mut bytes = bytes.clone();
        bytes[HEADER.len() + 20] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        let (seen, _) = calls_per_region(&path);
        assert!(seen.is_empty(), "{seen:?}");

        std::fs::write(&path, b"not a journal").unwrap();
        assert!(Journal::read(&path, |_| Ok(())).is_err());
    }

    #[test]
    fn every_value_reads_back_exactly_in_a_few_bytes_per_call() {
        let (_dir, rank, mut journal) = new_journal();
        // Nested calls arrive inner first (starts go backwards), threads
        // alternate, and the clock may sit anywhere in its range.
        let (mut starts, mut ends, mut threads) = (Vec::new(), Vec::new(), Vec::new());
        for (first, thread) in [(1_000_000i64, 0u32), (2_000_000, 7), (i64::MAX / 2, 0)] {
            for i in 0..1000i64 {
                starts.push(first + 30 * i - if i % 3 == 0 { 25 } else { 0 });
                ends.push(first + 30 * i + 20);
                threads.push(thread);
            }
        }
        let cols = EventColumns::from_columns(starts, ends, threads).unwrap();
        append(&mut journal, "journal exact", &cols);
        drop(journal);

        let mut read = Vec::new();
        Journal::read(&path_for(&rank), |r| {
            read.push(r);
            Ok(())
        })
        .unwrap();
        assert_eq!(read.len(), 1);
        assert_eq!(read[0].calls, cols);
        let bytes = std::fs::metadata(path_for(&rank)).unwrap().len();
        assert!(bytes < 3000 * 6, "{bytes} bytes for 3000 calls");
    }

    #[test]
    fn another_format_is_named_and_a_well_framed_bad_payload_ends_the_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rank_0.h5.journal");
        std::fs::write(&path, b"scope-profiler journal 1\nSPJF...").unwrap();
        let err = Journal::read(&path, |_| Ok(())).unwrap_err().to_string();
        assert!(err.contains("journal format 1"), "{err}");

        // A frame whose CRC matches but whose payload claims more calls
        // than it holds: rejected, nothing allocated for the claim.
        let mut payload = Vec::new();
        for word in [1u32, 5, 1] {
            payload.extend_from_slice(&word.to_le_bytes()); // regions, id, name bytes
        }
        payload.push(b'x');
        payload.extend_from_slice(&u32::MAX.to_le_bytes()); // calls
        payload.extend_from_slice(&[2, 2, 0, 0, 0, 0]);
        let mut bytes = HEADER.to_vec();
        bytes.extend_from_slice(&FRAME_MAGIC.to_le_bytes());
        bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        bytes.extend_from_slice(&payload);
        std::fs::write(&path, &bytes).unwrap();
        let summary = Journal::read(&path, |_| panic!("nothing is valid")).unwrap();
        assert_eq!((summary.frames, summary.calls), (0, 0));
        assert!(summary.unread_bytes > 0);
    }

    #[test]
    fn mutated_payloads_are_decoded_or_rejected_never_a_panic() {
        let (_dir, _rank, mut journal) = new_journal();
        append(&mut journal, "fuzzed", &calls(1_000, 50));
        let payload = journal.frame[12..].to_vec();
        assert!(parse_payload(&payload).is_some());
        let mut rng = fastrand::Rng::with_seed(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let mut p = payload.clone();
            for _ in 0..rng.usize(1..=4) {
                let at = rng.usize(..p.len());
                match rng.u8(..3) {
                    0 => p[at] ^= 1 << rng.u8(..8),
                    1 => p[at] = 0xff,
                    _ => p.truncate(at),
                }
                if p.is_empty() {
                    break;
                }
            }
            // Decoded or refused; a panic fails the test.
            let _ = parse_payload(&p);
        }
    }

    #[test]
    fn rebuild_writes_every_journaled_call_into_a_readable_rank_file() {
        let (dir, rank, mut journal) = new_journal();
        append(&mut journal, "rebuilt", &calls(1_000, 4));
        append(&mut journal, "rebuilt", &calls(50_000, 6));
        drop(journal);
        std::fs::write(&rank, b"a rank file the kill left unreadable").unwrap();

        let summary = rebuild(&rank).unwrap();
        assert_eq!(summary.calls, 10);
        let data = crate::read_profile(&rank).unwrap();
        let events = &data.region("rebuilt").unwrap().per_rank[&0];
        assert_eq!(events.calls(), 10);
        assert_eq!(events.starts[4], 50_000);
        assert!(events.starts.windows(2).all(|w| w[0] < w[1]));
        assert!(data.damage.is_empty());
        assert_eq!(
            std::fs::read(dir.path().join("rank_0.h5.damaged")).unwrap(),
            b"a rank file the kill left unreadable"
        );
    }
}
