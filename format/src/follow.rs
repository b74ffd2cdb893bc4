//! [`StreamFollower`]: reads a rank stream while its writer appends to it.
//!
//! Each [`poll`](StreamFollower::poll) reads only what was appended since
//! the last intact frame, so following a long run costs what the run
//! writes, not the size of its file. The writer is never disturbed: the
//! file is opened read-only, without locks. A frame the writer has not
//! finished (or died writing) is left for the next poll and reported as
//! [`Tail::Partial`]; bytes that are no frame are never skipped over
//! ([`Tail::Damaged`]), as [`StreamReader`]
//! does for a whole file.
//!
//! The file is reopened at every poll: on a shared file system (NFS) an
//! open revalidates the client's cached size and data, so a follower on
//! another node sees what the writer appended (close-to-open consistency).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::stream::{
    parse_items, Frame, StreamReader, FRAME_HEAD, FRAME_MAGIC, HEADER_LINE, MAX_PAYLOAD,
};

/// Bytes read from the file at a time (a frame larger than this is read
/// whole).
const CHUNK: usize = 1 << 20;

/// What follows the last intact frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tail {
    /// Nothing: the file ends where the last intact frame ends.
    Clean,
    /// The start of a frame (or of the first line) whose rest is not in
    /// the file yet: the writer is writing it, or died doing so.
    Partial {
        /// Bytes after the last intact frame.
        bytes: u64,
    },
    /// Bytes where a frame should start that are no intact frame (a wrong
    /// magic number, or a complete payload whose checksum fails). Nothing
    /// after them is read; a shared file system that shows writes out of
    /// order heals by the next poll, a damaged file never does.
    Damaged {
        /// Offset of the bad frame in the file.
        at: u64,
    },
}

/// What one [`StreamFollower::poll`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Intact frames read (and handed to the callback).
    pub frames: u64,
    /// Bytes those frames took in the file.
    pub bytes: u64,
    /// Whether the file's length changed since the previous poll.
    pub grew: bool,
    /// Bytes of complete frames left unread because the poll's budget ran
    /// out: poll again to catch up.
    pub behind: u64,
    /// What follows the last intact frame.
    pub tail: Tail,
}

/// Follows one rank stream (`rank_<N>.sps`) while it is written.
#[derive(Debug)]
pub struct StreamFollower {
    path: PathBuf,
    /// Whether the first line was read and is a stream's, format 1.
    checked: bool,
    /// The last handle opened: kept so a stream whose directory was
    /// removed (the run finished) can still be read to its end.
    file: Option<File>,
    /// Where the next frame starts: the end of the last intact frame (of
    /// the first line before any).
    offset: u64,
    /// The file's length at the previous poll.
    seen_len: u64,
    /// What followed the last intact frame at the previous poll.
    tail: Tail,
    /// Whether the `END` item was read.
    ended: bool,
    /// Bytes the previous poll left unread for its budget.
    behind: u64,
}

impl StreamFollower {
    /// A follower of the stream at `path`; nothing is read before the
    /// first [`poll`](Self::poll).
    pub fn new(path: impl Into<PathBuf>) -> StreamFollower {
        StreamFollower {
            path: path.into(),
            checked: false,
            file: None,
            offset: 0,
            seen_len: 0,
            tail: Tail::Partial { bytes: 0 },
            ended: false,
            behind: 0,
        }
    }

    /// The stream followed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes of intact frames (and the first line) read so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Whether the stream's `END` item (written by finalize) was read.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Reads the frames appended since the last poll, in order, handing
    /// each intact one to `on_frame`, and stops after about `budget` bytes
    /// (at least one frame) so a large backlog is read over several polls.
    /// `buf` and `frame` are scratch space a caller shares between
    /// followers, so memory does not grow with their number: `buf` holds at
    /// most one chunk (1 MiB) or one frame, whichever is larger.
    ///
    /// Fails if the file cannot be opened or read, if it is not a stream
    /// (or a newer format), or if a frame with a valid checksum does not
    /// parse (the file was not written by scope-profiler).
    pub fn poll(
        &mut self,
        budget: u64,
        buf: &mut Vec<u8>,
        frame: &mut Frame,
        on_frame: impl FnMut(&Frame),
    ) -> io::Result<Progress> {
        let mut file = self.reopen()?;
        let read = self.read_new(&mut file, budget, buf, frame, on_frame);
        self.file = Some(file);
        read
    }

    fn read_new(
        &mut self,
        file: &mut File,
        budget: u64,
        buf: &mut Vec<u8>,
        frame: &mut Frame,
        mut on_frame: impl FnMut(&Frame),
    ) -> io::Result<Progress> {
        let len = file.metadata()?.len();
        let grew = len != self.seen_len;
        self.seen_len = len;
        let mut progress = Progress {
            frames: 0,
            bytes: 0,
            grew,
            behind: 0,
            tail: self.tail,
        };
        if !self.checked {
            let mut start = [0u8; HEADER_LINE.len()];
            let got = file.read(&mut start)?;
            if got < start.len() && HEADER_LINE.starts_with(&start[..got]) {
                // The writer is writing the first line.
                self.tail = Tail::Partial { bytes: len };
                progress.tail = self.tail;
                return Ok(progress);
            }
            // The reader's own check of the first line, with its messages.
            StreamReader::open(&self.path)?;
            self.checked = true;
            self.offset = HEADER_LINE.len() as u64;
        } else if !grew && self.behind == 0 && !matches!(self.tail, Tail::Damaged { .. }) {
            // Nothing new (damaged bytes are read again: a shared file
            // system may show them whole now).
            return Ok(progress);
        }
        file.seek(SeekFrom::Start(self.offset))?;
        // `buf[at..filled]` holds the file's bytes from `self.offset` on.
        let (mut at, mut filled) = (0usize, 0usize);
        self.behind = 0;
        self.tail = loop {
            let left = len - self.offset;
            if left == 0 {
                break Tail::Clean;
            }
            if progress.bytes >= budget {
                self.behind = left;
                break Tail::Partial { bytes: left };
            }
            let need = match frame_size(&buf[at..filled]) {
                FrameSize::Head(size) => size,
                FrameSize::NotAFrame => break Tail::Damaged { at: self.offset },
            };
            if need as u64 > left {
                break Tail::Partial { bytes: left };
            }
            if filled - at < need {
                // Keep what is buffered of this frame; read up to a chunk
                // (or the whole frame) more.
                buf.copy_within(at..filled, 0);
                filled -= at;
                at = 0;
                let want = (need.max(CHUNK) as u64).min(left) as usize;
                if buf.len() < want {
                    buf.resize(want, 0);
                }
                file.read_exact(&mut buf[filled..want])?;
                filled = want;
                continue;
            }
            let head = &buf[at..at + FRAME_HEAD];
            let crc = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
            let payload = &buf[at + FRAME_HEAD..at + need];
            if crc32fast::hash(payload) != crc {
                break Tail::Damaged { at: self.offset };
            }
            frame.clear();
            parse_items(payload, frame).ok_or_else(|| {
                io::Error::other(format!(
                    "{}: frame at byte {} has a valid checksum but items that do not parse; \
                     the file was not written by scope-profiler",
                    self.path.display(),
                    self.offset
                ))
            })?;
            on_frame(frame);
            self.ended |= frame.end;
            self.offset += need as u64;
            at += need;
            progress.frames += 1;
            progress.bytes += need as u64;
        };
        progress.behind = self.behind;
        progress.tail = self.tail;
        Ok(progress)
    }

    /// Opens the file anew (see the module doc); if it is gone (the run
    /// finished and its directory was removed), the last handle.
    fn reopen(&mut self) -> io::Result<File> {
        let named =
            |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", self.path.display()));
        match File::open(&self.path) {
            Ok(file) => Ok(file),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.file.take().ok_or_else(|| named(e))
            }
            Err(e) => Err(named(e)),
        }
    }
}

/// What the bytes at a frame's start say about it.
enum FrameSize {
    /// The frame takes this many bytes, head and payload (a head's size
    /// when fewer bytes than a head are at hand).
    Head(usize),
    /// A head with the wrong magic number or an impossible length.
    NotAFrame,
}

/// Reads the head at the start of `bytes`.
fn frame_size(bytes: &[u8]) -> FrameSize {
    let Some(head) = bytes.get(..FRAME_HEAD) else {
        return FrameSize::Head(FRAME_HEAD);
    };
    let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    let len = word(4) as usize;
    if word(0) != FRAME_MAGIC || len > MAX_PAYLOAD {
        return FrameSize::NotAFrame;
    }
    FrameSize::Head(FRAME_HEAD + len)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::stream::{FrameEncoder, StreamHeader, StreamWriter, TickScale};

    /// A frame of `calls` calls of region 0 on thread 1 (with the header
    /// and the region's name when `first`).
    fn frame_bytes(enc: &mut FrameEncoder, first: bool, calls: u64) -> Vec<u8> {
        if first {
            enc.header(&StreamHeader {
                rank: 3,
                time_trace: true,
                scale: TickScale::NANOSECONDS,
            });
            enc.names([(0, "step")].into_iter());
        }
        let c: Vec<(u32, u64, u64)> = (0..calls).map(|i| (0, i * 10, i * 10 + 5)).collect();
        enc.events(1, &c, |c| *c);
        enc.take().to_vec()
    }

    /// Polls once with `budget`; the calls read.
    fn poll_calls(f: &mut StreamFollower, budget: u64) -> (usize, Progress) {
        let (mut buf, mut frame) = (Vec::new(), Frame::default());
        let mut calls = 0;
        let p = f
            .poll(budget, &mut buf, &mut frame, |fr| calls += fr.events.len())
            .unwrap();
        (calls, p)
    }

    #[test]
    fn only_frames_appended_since_the_last_poll_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rank_3.sps");
        let mut w = StreamWriter::create(&path).unwrap();
        let mut enc = FrameEncoder::default();
        let mut f = StreamFollower::new(&path);
        let (calls, p) = poll_calls(&mut f, u64::MAX);
        assert_eq!(
            (calls, p.tail),
            (0, Tail::Clean),
            "a stream with no frame yet"
        );
        w.append(&frame_bytes(&mut enc, true, 7)).unwrap();
        w.append(&frame_bytes(&mut enc, false, 5)).unwrap();
        let (calls, p) = poll_calls(&mut f, u64::MAX);
        assert_eq!(
            (calls, p.frames, p.grew, p.tail),
            (12, 2, true, Tail::Clean)
        );
        let (calls, p) = poll_calls(&mut f, u64::MAX);
        assert_eq!((calls, p.frames, p.grew), (0, 0, false));
        w.append(&frame_bytes(&mut enc, false, 4)).unwrap();
        assert_eq!(poll_calls(&mut f, u64::MAX).0, 4);
        assert_eq!(f.offset(), std::fs::metadata(&path).unwrap().len());
        assert!(!f.ended());
        enc.end();
        w.append(enc.take()).unwrap();
        poll_calls(&mut f, u64::MAX);
        assert!(f.ended());
    }

    #[test]
    fn a_torn_frame_is_read_once_its_writer_completes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rank_3.sps");
        let mut enc = FrameEncoder::default();
        let first = frame_bytes(&mut enc, true, 3);
        let second = frame_bytes(&mut enc, false, 9);
        let mut file = std::fs::File::create(&path).unwrap();
        // The first line itself arrives in two writes.
        file.write_all(&HEADER_LINE[..5]).unwrap();
        let mut f = StreamFollower::new(&path);
        assert_eq!(
            poll_calls(&mut f, u64::MAX).1.tail,
            Tail::Partial { bytes: 5 }
        );
        file.write_all(&HEADER_LINE[5..]).unwrap();
        file.write_all(&first).unwrap();
        for cut in [5, FRAME_HEAD + 2] {
            file.write_all(&second[..cut]).unwrap();
            let (calls, p) = poll_calls(&mut f, u64::MAX);
            assert_eq!(p.tail, Tail::Partial { bytes: cut as u64 });
            assert_eq!(calls, if cut == 5 { 3 } else { 0 });
            // The same bytes again: nothing new is read.
            assert_eq!(poll_calls(&mut f, u64::MAX).1.frames, 0);
            file.set_len(file.metadata().unwrap().len() - cut as u64)
                .unwrap();
            file.seek(SeekFrom::End(0)).unwrap();
        }
        file.write_all(&second).unwrap();
        let (calls, p) = poll_calls(&mut f, u64::MAX);
        assert_eq!((calls, p.tail), (9, Tail::Clean));
    }

    #[test]
    fn a_backlog_is_read_over_several_polls_within_the_budget() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rank_3.sps");
        let mut w = StreamWriter::create(&path).unwrap();
        let mut enc = FrameEncoder::default();
        let mut frame_len = 0;
        for i in 0..10 {
            let bytes = frame_bytes(&mut enc, i == 0, 100);
            frame_len = bytes.len() as u64;
            w.append(&bytes).unwrap();
        }
        let mut f = StreamFollower::new(&path);
        let (mut total, mut polls) = (0, 0);
        loop {
            let (calls, p) = poll_calls(&mut f, 3 * frame_len);
            total += calls;
            polls += 1;
            if p.behind == 0 {
                assert_eq!(p.tail, Tail::Clean);
                break;
            }
            assert!(p.grew || polls > 1);
        }
        assert_eq!(total, 1000);
        assert!(polls >= 3, "{polls} polls");
    }

    #[test]
    fn damaged_bytes_stop_the_follower_and_are_never_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rank_3.sps");
        let mut w = StreamWriter::create(&path).unwrap();
        let mut enc = FrameEncoder::default();
        w.append(&frame_bytes(&mut enc, true, 2)).unwrap();
        let good = std::fs::metadata(&path).unwrap().len();
        let mut bad = frame_bytes(&mut enc, false, 2);
        let last = bad.len() - 1;
        bad[last] ^= 0x10;
        w.append(&bad).unwrap();
        w.append(&frame_bytes(&mut enc, false, 50)).unwrap();
        let mut f = StreamFollower::new(&path);
        let (calls, p) = poll_calls(&mut f, u64::MAX);
        assert_eq!((calls, p.tail), (2, Tail::Damaged { at: good }));
        assert_eq!(poll_calls(&mut f, u64::MAX).0, 0);
        std::fs::write(&path, b"not a stream").unwrap();
        let mut other = StreamFollower::new(&path);
        let (mut buf, mut frame) = (Vec::new(), Frame::default());
        assert!(other.poll(u64::MAX, &mut buf, &mut frame, |_| ()).is_err());
    }

    #[test]
    fn a_stream_whose_directory_is_removed_is_read_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rank_3.sps");
        let mut w = StreamWriter::create(&path).unwrap();
        let mut enc = FrameEncoder::default();
        w.append(&frame_bytes(&mut enc, true, 2)).unwrap();
        let mut f = StreamFollower::new(&path);
        assert_eq!(poll_calls(&mut f, u64::MAX).0, 2);
        w.append(&frame_bytes(&mut enc, false, 6)).unwrap();
        enc.end();
        w.append(enc.take()).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(poll_calls(&mut f, u64::MAX).0, 6);
        assert!(f.ended());
    }
}
