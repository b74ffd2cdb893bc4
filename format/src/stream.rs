//! The rank stream (`rank_<N>.sps`): what the flusher writes while a run
//! goes, and the only thing it writes. It is both this rank's data and its
//! crash safety: an append-only file of CRC-framed batches, one `write` per
//! batch, so a killed process leaves every batch it reported flushed, and a
//! kill can only tear the frame being written ([`StreamReader`] stops there
//! and says how many bytes it left). Finalize turns the streams into the
//! HDF5 profile ([`crate::merged`]); the reader reads a stream as a profile
//! ([`crate::read_profile`]), so a crashed run's files are usable as they
//! are, and [`crate::repair`] turns one into an HDF5 file for other tools.
//!
//! Times are raw clock ticks, converted to CLOCK_MONOTONIC ns only when the
//! stream is read ([`TickScale`], from the header): the flusher spends no
//! arithmetic on conversion. A call is three numbers: the region id, the
//! gap from the previous call's end to its start (zigzag: nested calls
//! arrive inner first, so it can be negative), and the duration, bit-packed
//! in blocks of 128 calls at the block's widest widths. Calls in a tight
//! loop take about 2 bytes.
//!
//! Layout, little-endian: the line `scope-profiler stream 2\n` (format 1,
//! without `PACKED_EVENTS`, reads too), then frames `{magic "SPSF", payload
//! bytes u32, crc32 u32, payload}`. A payload is a sequence of items, each a
//! kind byte and a body (varints unless noted):
//! - `HEADER` (first frame only): rank u32, time_trace u8, anchor ticks u64,
//!   anchor ns i64, ns per tick f64 (fixed width);
//! - `NAMES`: count, then `{region id, name length, UTF-8 name}`;
//! - `THREAD`: thread index, name length, UTF-8 name;
//! - `EVENTS` (format 1): thread index, count, then per call `{region,
//!   zigzag(start - previous end), end - start}` (the first call's previous
//!   end is 0);
//! - `PACKED_EVENTS`: thread index, count, then the same three numbers per
//!   call in blocks of up to 128 calls: three widths in bits (one byte
//!   each, summing to at most 56, the duration's at least 1) and the calls'
//!   `region | gap << w_region | duration << (w_region + w_gap)` values back
//!   to back, little-endian, padded to a byte; or the byte `0xff` and three
//!   varints per call when the widths add up to more;
//! - `COUNTS`: count, then `{region, calls}`: calls recorded without
//!   timestamps (count-only mode), as increments;
//! - `COUNTERS`: dropped events, blocked ns, regions open at finalize,
//!   events not written;
//! - `END`: the stream was closed by finalize.

use std::collections::BTreeMap;
use std::fs::File;
use std::hint::select_unpredictable;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use crate::ClockShift;

/// The file name of rank `rank`'s stream.
pub fn file_name(rank: u32) -> String {
    format!("rank_{rank}.sps")
}

/// The first line this version writes: format 2 (format 1, read too, lacks
/// the `PACKED_EVENTS` item).
pub(crate) const HEADER_LINE: &[u8] = b"scope-profiler stream 2\n";
/// The first line of format 1.
const HEADER_LINE_1: &[u8] = b"scope-profiler stream 1\n";
const HEADER_PREFIX: &[u8] = b"scope-profiler stream ";
pub(crate) const FRAME_MAGIC: u32 = u32::from_le_bytes(*b"SPSF");
/// Bytes before a frame's payload: magic, length, CRC.
pub(crate) const FRAME_HEAD: usize = 12;
/// Largest payload [`StreamReader`] accepts (a batch is far smaller); a
/// damaged length field cannot make it allocate more.
pub(crate) const MAX_PAYLOAD: usize = 1 << 30;
/// The longest varint of a `u64`.
const MAX_VARINT: usize = 10;

const KIND_HEADER: u8 = 1;
const KIND_NAMES: u8 = 2;
const KIND_THREAD: u8 = 3;
const KIND_EVENTS: u8 = 4;
const KIND_COUNTS: u8 = 5;
const KIND_COUNTERS: u8 = 6;
const KIND_END: u8 = 7;
const KIND_PACKED_EVENTS: u8 = 8;

/// Calls per block of a `PACKED_EVENTS` item: a block's three bit widths
/// are those of its widest region id, start gap and duration.
const BLOCK: usize = 128;
/// A block whose three widths add up to more than this is written as
/// varints (one 64-bit load must hold a call at any bit offset).
const MAX_PACKED_BITS: u32 = 56;
/// The first byte of a block written as varints.
const VARINT_BLOCK: u8 = 0xff;

/// Whether the file at `path` starts like a stream.
pub fn is_stream(path: &Path) -> bool {
    let mut head = [0u8; 22];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head == HEADER_PREFIX)
}

/// Raw clock ticks → CLOCK_MONOTONIC ns: a (ticks, ns) pair taken together
/// at setup, and the clock's scale.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TickScale {
    /// Tick reading at the anchor instant.
    pub anchor_ticks: u64,
    /// CLOCK_MONOTONIC ns at the same instant.
    pub anchor_ns: i64,
    /// Nanoseconds per tick.
    pub ns_per_tick: f64,
}

impl TickScale {
    /// Ticks that are CLOCK_MONOTONIC nanoseconds already (tests and
    /// synthetic streams).
    pub const NANOSECONDS: TickScale = TickScale {
        anchor_ticks: 0,
        anchor_ns: 0,
        ns_per_tick: 1.0,
    };

    /// `ticks` in CLOCK_MONOTONIC ns: the ticks since the anchor times
    /// `ns_per_tick` taken exactly (its whole part, and its fraction to 64
    /// bits, as 128-bit integer products), truncated toward the anchor, so
    /// within 1 ns of the clock's own 128-bit scaling; a distance from the
    /// anchor past `i64::MAX` ns is `i64::MAX` ns. A scale that is not a
    /// positive finite number converts every reading to `anchor_ns`.
    ///
    /// Integers rather than one float multiply, which rounds the product
    /// before truncating it (off by 1 ns for about one reading in a
    /// thousand) and the ticks beyond 2^53; `data_path`'s read bench runs
    /// at the same speed with either (docs/mpi.md).
    ///
    /// ```
    /// use scope_profiler_format::stream::TickScale;
    /// let scale = TickScale { anchor_ticks: 1_000, anchor_ns: 5_000, ns_per_tick: 0.5 };
    /// assert_eq!(scale.to_ns(3_000), 6_000);
    /// assert_eq!(scale.to_ns(0), 4_500);
    /// ```
    #[inline]
    pub fn to_ns(&self, ticks: u64) -> i64 {
        let per_tick = match self.ns_per_tick {
            p if p.is_finite() && p > 0.0 => p,
            _ => 0.0,
        };
        let whole = per_tick.trunc();
        // Exact: subtracting the whole part and scaling by a power of two
        // lose no bits of a float whose lowest bit is 2^-64 or more.
        let fraction = ((per_tick - whole) * 2f64.powi(64)) as u64;
        let since_anchor = ticks.wrapping_sub(self.anchor_ticks) as i64;
        let magnitude = since_anchor.unsigned_abs();
        let fraction_ns = ((u128::from(magnitude) * u128::from(fraction)) >> 64) as u64;
        let ns = magnitude
            .saturating_mul(whole as u64)
            .saturating_add(fraction_ns)
            .min(i64::MAX as u64) as i64;
        let ns = if since_anchor < 0 { -ns } else { ns };
        self.anchor_ns.wrapping_add(ns)
    }
}

/// What a stream's header says.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StreamHeader {
    /// The rank that wrote it.
    pub rank: u32,
    /// Whether calls carry timestamps (else only counts).
    pub time_trace: bool,
    /// How to convert its ticks.
    pub scale: TickScale,
}

/// A rank's counters, written when finalize closes its stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RankCounters {
    /// Records dropped on full rings.
    pub dropped_events: u64,
    /// Time threads spent waiting on full rings, ns.
    pub blocked_ns: u64,
    /// Regions entered but not exited when recording stopped.
    pub open_regions_at_finalize: u64,
    /// Events recorded but not written because the file failed.
    pub unwritten_events: u64,
}

impl RankCounters {
    /// The counters as `(attribute name, value)` pairs, as files store them.
    pub fn as_attributes(&self) -> [(&'static str, i64); 4] {
        [
            ("dropped_events", self.dropped_events as i64),
            ("blocked_ns", self.blocked_ns as i64),
            (
                "open_regions_at_finalize",
                self.open_regions_at_finalize as i64,
            ),
            ("unwritten_events", self.unwritten_events as i64),
        ]
    }
}

/// Builds one frame at a time in a buffer it keeps, so a steady run
/// encodes without allocating.
#[derive(Debug, Default)]
pub struct FrameEncoder {
    /// `bytes[..len]` is the frame so far (its head is filled by `finish`);
    /// `bytes` only grows, so encoding never zero-fills.
    bytes: Vec<u8>,
    len: usize,
}

impl FrameEncoder {
    /// Makes room for `more` bytes after `len`.
    #[inline]
    fn reserve(&mut self, more: usize) {
        if self.len == 0 {
            self.len = FRAME_HEAD;
        }
        let need = self.len + more;
        if need > self.bytes.len() {
            self.bytes.resize(need.max(2 * self.bytes.len()), 0);
        }
    }

    fn put_bytes(&mut self, bytes: &[u8]) {
        self.reserve(bytes.len());
        self.bytes[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }

    fn put_varint(&mut self, v: u64) {
        self.reserve(MAX_VARINT);
        self.len = put_varint(&mut self.bytes, self.len, v);
    }

    /// The run's header; the first item of the first frame.
    pub fn header(&mut self, header: &StreamHeader) {
        self.put_bytes(&[KIND_HEADER]);
        self.put_bytes(&header.rank.to_le_bytes());
        self.put_bytes(&[header.time_trace as u8]);
        self.put_bytes(&header.scale.anchor_ticks.to_le_bytes());
        self.put_bytes(&header.scale.anchor_ns.to_le_bytes());
        self.put_bytes(&header.scale.ns_per_tick.to_le_bytes());
    }

    /// Names regions: each `(id, name)` in the frame holding its first call
    /// or an earlier one (readers apply a frame's names before its calls).
    pub fn names<'a>(&mut self, names: impl ExactSizeIterator<Item = (u32, &'a str)>) {
        self.put_bytes(&[KIND_NAMES]);
        self.put_varint(names.len() as u64);
        for (id, name) in names {
            self.put_varint(id.into());
            self.put_varint(name.len() as u64);
            self.put_bytes(name.as_bytes());
        }
    }

    /// Names thread `thread`.
    pub fn thread(&mut self, thread: u32, name: &str) {
        self.put_bytes(&[KIND_THREAD]);
        self.put_varint(thread.into());
        self.put_varint(name.len() as u64);
        self.put_bytes(name.as_bytes());
    }

    /// Thread `thread`'s calls, in the order they ended: `call` gives each
    /// one's `(region, start ticks, end ticks)`. The flusher's whole
    /// per-event work is this loop.
    ///
    /// Calls go in blocks of 128, each bit-packed at the widths of
    /// its widest fields: a tight loop's calls take about 2 bytes, in about
    /// half the instructions of three varints (`benches/data_path.rs`).
    #[inline]
    pub fn events<T>(&mut self, thread: u32, calls: &[T], call: impl Fn(&T) -> (u32, u64, u64)) {
        if calls.is_empty() {
            return;
        }
        self.put_bytes(&[KIND_PACKED_EVENTS]);
        self.put_varint(thread.into());
        self.put_varint(calls.len() as u64);
        let mut previous_end = 0u64;
        let mut fields = [[0u64; 3]; BLOCK];
        for block in calls.chunks(BLOCK) {
            // Room for the worst case, a varint block, and for the 8-byte
            // store past a packed block's last byte: the buffer grows to
            // the frame's size, not to the batch's worst case.
            self.reserve(1 + BLOCK * 3 * MAX_VARINT + 8);
            let mut widest = [0u64; 3];
            for (f, c) in fields.iter_mut().zip(block) {
                let (region, start, end) = call(c);
                *f = [
                    region.into(),
                    zigzag(start.wrapping_sub(previous_end) as i64),
                    end.wrapping_sub(start),
                ];
                previous_end = end;
                widest = [widest[0] | f[0], widest[1] | f[1], widest[2] | f[2]];
            }
            self.len = put_block(&mut self.bytes, self.len, &fields[..block.len()], widest);
        }
    }

    /// Calls recorded without timestamps since the last counts, per region.
    pub fn counts(&mut self, counts: impl ExactSizeIterator<Item = (u32, u64)>) {
        self.put_bytes(&[KIND_COUNTS]);
        self.put_varint(counts.len() as u64);
        for (region, calls) in counts {
            self.put_varint(region.into());
            self.put_varint(calls);
        }
    }

    /// The rank's counters (once, at finalize).
    pub fn counters(&mut self, c: &RankCounters) {
        self.put_bytes(&[KIND_COUNTERS]);
        for v in [
            c.dropped_events,
            c.blocked_ns,
            c.open_regions_at_finalize,
            c.unwritten_events,
        ] {
            self.put_varint(v);
        }
    }

    /// Marks the stream closed by finalize.
    pub fn end(&mut self) {
        self.put_bytes(&[KIND_END]);
    }

    /// Whether no item was added since the last [`take`](Self::take).
    pub fn is_empty(&self) -> bool {
        self.len <= FRAME_HEAD
    }

    /// The finished frame (empty if no item was added), ready for one
    /// `write`; the next item starts a new frame.
    pub fn take(&mut self) -> &[u8] {
        if self.is_empty() {
            self.len = 0;
            return &[];
        }
        let len = std::mem::take(&mut self.len);
        let crc = crc32fast::hash(&self.bytes[FRAME_HEAD..len]);
        self.bytes[0..4].copy_from_slice(&FRAME_MAGIC.to_le_bytes());
        self.bytes[4..8].copy_from_slice(&((len - FRAME_HEAD) as u32).to_le_bytes());
        self.bytes[8..12].copy_from_slice(&crc.to_le_bytes());
        &self.bytes[..len]
    }
}

/// Writes `v` as a LEB128 varint at `out[at..]` (room for [`MAX_VARINT`]
/// bytes is the caller's) and returns the index after it.
#[inline(always)]
fn put_varint(out: &mut [u8], mut at: usize, mut v: u64) -> usize {
    while v >= 0x80 {
        out[at] = v as u8 | 0x80;
        v >>= 7;
        at += 1;
    }
    out[at] = v as u8;
    at + 1
}

/// Writes one block of calls' `[region, zigzag gap, duration]` at
/// `out[at..]`, given the bitwise or of each field over the block, and
/// returns the index after it.
///
/// A packed block is its three bit widths (one byte each; the duration's
/// at least 1, so every call takes a bit), then each call's fields as one
/// `region | gap << w_region | duration << (w_region + w_gap)` value of
/// the three widths' sum, back to back from bit 0 of the first byte,
/// little-endian. Each call is one 8-byte store (overlapping the next):
/// no branch per call.
#[inline(always)]
fn put_block(out: &mut [u8], mut at: usize, fields: &[[u64; 3]], widest: [u64; 3]) -> usize {
    let [region_bits, gap_bits, duration_bits] = widest.map(|v| u64::BITS - v.leading_zeros());
    let duration_bits = duration_bits.max(1);
    let width = region_bits + gap_bits + duration_bits;
    if width > MAX_PACKED_BITS {
        out[at] = VARINT_BLOCK;
        at += 1;
        for v in fields.iter().flatten() {
            at = put_varint(out, at, *v);
        }
        return at;
    }
    out[at..at + 3].copy_from_slice(&[region_bits as u8, gap_bits as u8, duration_bits as u8]);
    at += 3;
    let (gap_shift, duration_shift) = (region_bits, region_bits + gap_bits);
    let pack = |&[region, gap, duration]: &[u64; 3]| {
        region | gap << gap_shift | duration << duration_shift
    };
    let end = at + (fields.len() * width as usize).div_ceil(8);
    if width >= 8 {
        // A byte holds bits of two calls at most: each call's 8-byte store
        // carries the previous call's bits in its first byte, and no value
        // depends on the last iteration's (the loop runs at its
        // instructions' throughput, not a shift-or chain's latency).
        let (mut previous, mut previous_byte, mut bit) = (0u64, at, 0usize);
        for call in fields {
            let (byte, shift) = (at + bit / 8, bit % 8);
            let value = pack(call) << shift;
            let carried = previous >> (8 * (byte - previous_byte));
            out[byte..byte + 8].copy_from_slice(&(value | carried).to_le_bytes());
            (previous, previous_byte) = (value, byte);
            bit += width as usize;
        }
        return end;
    }
    // Narrower calls share bytes with several others: a register holds the
    // last byte's unfinished bits.
    let (mut pending, mut pending_bits) = (0u64, 0u32);
    for call in fields {
        pending |= pack(call) << pending_bits;
        out[at..at + 8].copy_from_slice(&pending.to_le_bytes());
        let bits = pending_bits + width;
        at += (bits / 8) as usize;
        pending >>= bits & !7;
        pending_bits = bits % 8;
    }
    end
}

#[inline(always)]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline(always)]
fn unzigzag(v: u64) -> i64 {
    (v >> 1) as i64 ^ -((v & 1) as i64)
}

/// A stream file open for appending frames.
pub struct StreamWriter {
    file: File,
}

impl StreamWriter {
    /// Creates (truncating) the stream at `path` and writes its first line.
    pub fn create(path: &Path) -> io::Result<StreamWriter> {
        let mut file = File::create(path)?;
        file.write_all(HEADER_LINE)?;
        Ok(StreamWriter { file })
    }

    /// Appends `frame` (from [`FrameEncoder::take`]) with one `write`, into
    /// the page cache: it survives a killed process, not a power cut.
    pub fn append(&mut self, frame: &[u8]) -> io::Result<()> {
        if frame.is_empty() {
            return Ok(());
        }
        self.file.write_all(frame)
    }
}

/// One call read back from a stream, in ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamEvent {
    /// The thread index.
    pub thread: u32,
    /// The region id (named by an earlier `NAMES` item).
    pub region: u32,
    /// Start, ticks.
    pub start: u64,
    /// End, ticks.
    pub end: u64,
}

/// The items of one frame, decoded. Reused from frame to frame.
#[derive(Debug, Default)]
pub struct Frame {
    /// The header, in the first frame.
    pub header: Option<StreamHeader>,
    /// Region names introduced.
    pub names: Vec<(u32, String)>,
    /// Threads named.
    pub threads: Vec<(u32, String)>,
    /// Calls, in the order written.
    pub events: Vec<StreamEvent>,
    /// Untimed call increments per region.
    pub counts: Vec<(u32, u64)>,
    /// The rank's counters, in the last frame of a finalized stream.
    pub counters: Option<RankCounters>,
    /// Whether this frame closes the stream.
    pub end: bool,
}

impl Frame {
    pub(crate) fn clear(&mut self) {
        self.header = None;
        self.names.clear();
        self.threads.clear();
        self.events.clear();
        self.counts.clear();
        self.counters = None;
        self.end = false;
    }
}

/// Reads a stream frame by frame, stopping at its end or at the first torn
/// or corrupt frame.
pub struct StreamReader {
    input: BufReader<File>,
    total: u64,
    /// Bytes consumed by intact frames (and the first line).
    intact: u64,
    payload: Vec<u8>,
    stopped: bool,
    /// The first intact frame's header.
    header: Option<StreamHeader>,
    /// What the intact frames so far named.
    names: StreamNames,
}

/// The region and thread names a stream's frames give, by id.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamNames {
    /// Region names by region id.
    pub regions: BTreeMap<u32, String>,
    /// Thread names by thread index (named threads only).
    pub threads: BTreeMap<u32, String>,
}

impl StreamReader {
    /// Opens the stream at `path`; fails if it is not one, or is a format
    /// this version does not read.
    pub fn open(path: &Path) -> io::Result<StreamReader> {
        // Small frames come 64 KB to a read; reads into a large frame's
        // payload longer than the buffer bypass it (std's `BufReader`).
        let mut input = BufReader::with_capacity(1 << 16, File::open(path)?);
        let total = input.get_ref().metadata()?.len();
        let mut line = vec![0; HEADER_LINE.len()];
        input
            .read_exact(&mut line)
            .ok()
            .filter(|()| line.starts_with(HEADER_PREFIX))
            .ok_or_else(|| io::Error::other("not a scope-profiler rank stream (bad first line)"))?;
        if line != HEADER_LINE && line != HEADER_LINE_1 {
            let format = String::from_utf8_lossy(&line[HEADER_PREFIX.len()..]);
            return Err(io::Error::other(format!(
                "rank stream format {} was written by a newer scope-profiler; upgrade to read it \
                 (this one reads formats 1 and 2)",
                format.trim_end()
            )));
        }
        Ok(StreamReader {
            input,
            total,
            intact: HEADER_LINE.len() as u64,
            payload: Vec::new(),
            stopped: false,
            header: None,
            names: StreamNames::default(),
        })
    }

    /// Decodes the next intact frame into `frame`; `false` at the end or at
    /// a torn or corrupt frame (see [`unread_bytes`](Self::unread_bytes)).
    /// A frame whose CRC matches but whose items do not parse is an error:
    /// the file was not written by scope-profiler.
    pub fn next_frame(&mut self, frame: &mut Frame) -> io::Result<bool> {
        frame.clear();
        if self.stopped {
            return Ok(false);
        }
        let mut head = [0u8; FRAME_HEAD];
        if self.input.read_exact(&mut head).is_err() {
            self.stopped = true;
            return Ok(false);
        }
        let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
        let (magic, len, crc) = (word(0), word(4) as usize, word(8));
        if magic != FRAME_MAGIC || len > MAX_PAYLOAD {
            self.stopped = true;
            return Ok(false);
        }
        self.payload.clear();
        self.input
            .by_ref()
            .take(len as u64)
            .read_to_end(&mut self.payload)?;
        if self.payload.len() < len || crc32fast::hash(&self.payload) != crc {
            self.stopped = true;
            return Ok(false);
        }
        parse_items(&self.payload, frame).ok_or_else(|| {
            io::Error::other(format!(
                "frame at byte {} has a valid checksum but items that do not parse; \
                 the file was not written by scope-profiler",
                self.intact
            ))
        })?;
        if self.intact == HEADER_LINE.len() as u64 {
            self.header = frame.header;
        }
        self.names.regions.extend(frame.names.iter().cloned());
        self.names.threads.extend(frame.threads.iter().cloned());
        self.intact += (FRAME_HEAD + len) as u64;
        Ok(true)
    }

    /// The region and thread names of the intact frames read so far.
    pub fn names(&self) -> &StreamNames {
        &self.names
    }

    /// Takes the names out of the reader (for after the last frame).
    pub fn take_names(&mut self) -> StreamNames {
        std::mem::take(&mut self.names)
    }

    /// The stream's header, which its first frame carries: an error if no
    /// intact frame was read yet, or if the first had no header.
    pub fn header(&self) -> io::Result<StreamHeader> {
        match self.header {
            Some(header) => Ok(header),
            None if self.intact > HEADER_LINE.len() as u64 => {
                Err(io::Error::other("the stream's first frame has no header"))
            }
            None => Err(io::Error::other(
                "the stream holds no intact frame (the run was killed before its first flush)",
            )),
        }
    }

    /// The header's tick scale with a rank's `shift` folded in: its ticks
    /// straight to rank 0's clock ([`ClockShift::fold_into`];
    /// [`ClockShift::default`] for the rank's own clock).
    pub fn scale_on_rank_0(&self, shift: &ClockShift) -> io::Result<TickScale> {
        Ok(shift.fold_into(self.header()?.scale))
    }

    /// Bytes of the intact frames read so far (and the first line).
    pub fn read_bytes(&self) -> u64 {
        self.intact
    }

    /// Bytes after the last intact frame read so far: not read yet, or,
    /// once [`next_frame`](Self::next_frame) has returned `false`, a frame
    /// torn by a kill.
    pub fn unread_bytes(&self) -> u64 {
        self.total.saturating_sub(self.intact)
    }
}

/// A cursor over a payload; every read fails rather than panics at the end.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn fixed8(&mut self) -> Option<[u8; 8]> {
        self.take(8)?.try_into().ok()
    }

    #[inline(always)]
    fn varint(&mut self) -> Option<u64> {
        // One byte is the common case (ids, gaps and durations in a loop).
        if let Some((&first, rest)) = self.0.split_first() {
            if first < 0x80 {
                self.0 = rest;
                return Some(first.into());
            }
        }
        let mut v = 0u64;
        for (i, b) in self.0.iter().take(MAX_VARINT).enumerate() {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.0 = &self.0[i + 1..];
                return Some(v);
            }
        }
        None
    }

    fn u32(&mut self) -> Option<u32> {
        u32::try_from(self.varint()?).ok()
    }

    fn text(&mut self) -> Option<String> {
        let len = usize::try_from(self.varint()?).ok()?;
        Some(String::from_utf8_lossy(self.take(len)?).into_owned())
    }
}

/// Decodes `n` calls of `thread` from the start of `bytes` onto `events`;
/// returns the bytes they took, `None` if they do not parse.
///
/// Finalize's per-event work starts here. Values of one or two bytes (a
/// loop's ids, gaps and durations, irregularly mixed) are read from one
/// 2-byte load without a data-dependent branch; longer ones, and the last
/// bytes of the payload, go through [`Cursor::varint`].
fn decode_events(
    bytes: &[u8],
    n: usize,
    thread: u32,
    events: &mut Vec<StreamEvent>,
) -> Option<usize> {
    let mut at = 0;
    let mut previous_end = 0u64;
    let value = |at: &mut usize| -> Option<u64> {
        if let Some(&[low, high]) = bytes.get(*at..*at + 2) {
            if low & high & 0x80 == 0 {
                let two = low >= 0x80;
                let low = u64::from(low & 0x7f);
                *at += select_unpredictable(two, 2, 1);
                return Some(select_unpredictable(two, low | u64::from(high) << 7, low));
            }
        }
        let mut rest = Cursor(&bytes[*at..]);
        let v = rest.varint()?;
        *at = bytes.len() - rest.0.len();
        Some(v)
    };
    for _ in 0..n {
        let region = u32::try_from(value(&mut at)?).ok()?;
        let start = previous_end.wrapping_add(unzigzag(value(&mut at)?) as u64);
        let end = start.wrapping_add(value(&mut at)?);
        previous_end = end;
        events.push(StreamEvent {
            thread,
            region,
            start,
            end,
        });
    }
    Some(at)
}

/// Decodes a `PACKED_EVENTS` body of `n` calls of `thread` (see
/// [`put_block`]) from the start of `bytes` onto `events`; returns the
/// bytes it took, `None` if it does not parse.
///
/// Finalize's per-event work starts here: per call one 8-byte load, a
/// shift and three masks (the load is zero-padded only at the payload's
/// end).
fn decode_packed_events(
    bytes: &[u8],
    n: usize,
    thread: u32,
    events: &mut Vec<StreamEvent>,
) -> Option<usize> {
    let mut at = 0;
    let mut previous_end = 0u64;
    let mut left = n;
    while left > 0 {
        let calls = left.min(BLOCK);
        left -= calls;
        let mut push = |region: u64, gap: u64, duration: u64| -> Option<()> {
            let start = previous_end.wrapping_add(unzigzag(gap) as u64);
            let end = start.wrapping_add(duration);
            previous_end = end;
            events.push(StreamEvent {
                thread,
                region: u32::try_from(region).ok()?,
                start,
                end,
            });
            Some(())
        };
        if *bytes.get(at)? == VARINT_BLOCK {
            let mut rest = Cursor(&bytes[at + 1..]);
            for _ in 0..calls {
                push(rest.varint()?, rest.varint()?, rest.varint()?)?;
            }
            at = bytes.len() - rest.0.len();
            continue;
        }
        let [region_bits, gap_bits, duration_bits] = bytes
            .get(at..at + 3)?
            .try_into()
            .map(|w: [u8; 3]| w.map(u32::from))
            .ok()?;
        let width = region_bits + gap_bits + duration_bits;
        if duration_bits == 0 || width > MAX_PACKED_BITS {
            return None;
        }
        at += 3;
        let body_len = (calls * width as usize).div_ceil(8);
        let body = bytes.get(at..at + body_len)?;
        let mask = |bits: u32| (1u64 << bits) - 1;
        let (call_mask, region_mask, gap_mask) = (mask(width), mask(region_bits), mask(gap_bits));
        let (gap_shift, duration_shift) = (region_bits, region_bits + gap_bits);
        let mut bit = 0usize;
        for _ in 0..calls {
            let byte = bit / 8;
            let word = match body.get(byte..byte + 8) {
                Some(word) => u64::from_le_bytes(word.try_into().ok()?),
                None => {
                    let mut padded = [0u8; 8];
                    let tail = body.get(byte..)?;
                    padded[..tail.len()].copy_from_slice(tail);
                    u64::from_le_bytes(padded)
                }
            };
            let value = (word >> (bit % 8)) & call_mask;
            push(
                value & region_mask,
                (value >> gap_shift) & gap_mask,
                value >> duration_shift,
            )?;
            bit += width as usize;
        }
        at += body_len;
    }
    Some(at)
}

/// Decodes a payload into `frame`; `None` if it does not parse.
pub(crate) fn parse_items(payload: &[u8], frame: &mut Frame) -> Option<()> {
    let mut p = Cursor(payload);
    while let Some(kind) = p.byte() {
        match kind {
            KIND_HEADER => {
                let rank = u32::from_le_bytes(p.take(4)?.try_into().ok()?);
                let time_trace = p.byte()? != 0;
                let anchor_ticks = u64::from_le_bytes(p.fixed8()?);
                let anchor_ns = i64::from_le_bytes(p.fixed8()?);
                let ns_per_tick = f64::from_le_bytes(p.fixed8()?);
                frame.header = Some(StreamHeader {
                    rank,
                    time_trace,
                    scale: TickScale {
                        anchor_ticks,
                        anchor_ns,
                        ns_per_tick,
                    },
                });
            }
            KIND_NAMES => {
                for _ in 0..p.varint()? {
                    let id = p.u32()?;
                    frame.names.push((id, p.text()?));
                }
            }
            KIND_THREAD => {
                let thread = p.u32()?;
                frame.threads.push((thread, p.text()?));
            }
            KIND_EVENTS => {
                let thread = p.u32()?;
                let n = usize::try_from(p.varint()?).ok()?;
                // Every event takes at least three bytes: a damaged count
                // cannot make the vector below allocate more than the
                // payload could fill.
                if n > p.0.len() / 3 {
                    return None;
                }
                frame.events.reserve(n);
                let used = decode_events(p.0, n, thread, &mut frame.events)?;
                p.take(used)?;
            }
            KIND_PACKED_EVENTS => {
                let thread = p.u32()?;
                let n = usize::try_from(p.varint()?).ok()?;
                // Every call takes at least a bit.
                if n / 8 > p.0.len() {
                    return None;
                }
                frame.events.reserve(n);
                let used = decode_packed_events(p.0, n, thread, &mut frame.events)?;
                p.take(used)?;
            }
            KIND_COUNTS => {
                for _ in 0..p.varint()? {
                    let region = p.u32()?;
                    frame.counts.push((region, p.varint()?));
                }
            }
            KIND_COUNTERS => {
                frame.counters = Some(RankCounters {
                    dropped_events: p.varint()?,
                    blocked_ns: p.varint()?,
                    open_regions_at_finalize: p.varint()?,
                    unwritten_events: p.varint()?,
                });
            }
            KIND_END => frame.end = true,
            _ => return None,
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCALE: TickScale = TickScale::NANOSECONDS;

    /// `since · ns_per_tick` truncated toward zero, computed exactly from
    /// the float's mantissa and exponent.
    fn exact_ns(since: i64, ns_per_tick: f64) -> i64 {
        let bits = ns_per_tick.to_bits();
        let exponent = ((bits >> 52) & 0x7ff) as i32 - 1075;
        let mantissa = i128::from((bits & ((1 << 52) - 1)) | (1 << 52));
        let product = i128::from(since) * mantissa;
        let magnitude = if exponent >= 0 {
            product.abs() << exponent
        } else {
            product.abs() >> -exponent
        };
        (product.signum() * magnitude) as i64
    }

    #[test]
    fn ticks_convert_exactly_at_any_distance_from_the_anchor() {
        let mut rng = fastrand::Rng::with_seed(7);
        for ns_per_tick in [0.384_615_384_615_4, 1.0, 0.999_999_7, 2.5, 1.0 / 3.0, 37.25] {
            for _ in 0..2_000 {
                let since = rng.i64(-(1 << 44)..1 << 44) >> rng.u32(0..40);
                let scale = TickScale {
                    anchor_ticks: 1 << 60,
                    anchor_ns: 123_456_789,
                    ns_per_tick,
                };
                let ticks = (1u64 << 60).wrapping_add(since as u64);
                assert_eq!(
                    scale.to_ns(ticks) - 123_456_789,
                    exact_ns(since, ns_per_tick),
                    "{since} ticks at {ns_per_tick} ns"
                );
            }
        }
    }

    #[test]
    fn distances_past_the_range_of_nanoseconds_saturate() {
        let scale = |ns_per_tick| TickScale {
            anchor_ticks: 1 << 63,
            anchor_ns: 0,
            ns_per_tick,
        };
        assert_eq!(scale(2.5).to_ns((1 << 63) + (1 << 62)), i64::MAX);
        assert_eq!(scale(2.5).to_ns(1 << 62), -i64::MAX);
        assert_eq!(scale(2.5).to_ns(0), -i64::MAX, "i64::MIN ticks away");
        assert_eq!(scale(1e30).to_ns((1 << 63) + 5), i64::MAX);
        assert_eq!(scale(1e30).to_ns((1 << 63) - 5), -i64::MAX);
        assert_eq!(scale(1e30).to_ns(1 << 63), 0);
    }

    #[test]
    fn a_scale_that_is_not_a_positive_number_converts_to_the_anchor() {
        for ns_per_tick in [f64::NAN, f64::INFINITY, -1.0, 0.0] {
            let scale = TickScale {
                anchor_ticks: 5,
                anchor_ns: 42,
                ns_per_tick,
            };
            assert_eq!([scale.to_ns(0), scale.to_ns(u64::MAX)], [42, 42]);
        }
    }

    /// A stream at `path` with a header, names and `frames` event frames of
    /// `per_frame` calls each on thread 3.
    fn write_stream(path: &Path, frames: u64, per_frame: u64) {
        let mut w = StreamWriter::create(path).unwrap();
        let mut enc = FrameEncoder::default();
        enc.header(&StreamHeader {
            rank: 2,
            time_trace: true,
            scale: SCALE,
        });
        enc.names([(0, "a/b"), (1, "ünï")].into_iter());
        enc.thread(3, "worker-3");
        w.append(enc.take()).unwrap();
        for f in 0..frames {
            let calls: Vec<(u32, u64, u64)> = (0..per_frame)
                .map(|i| {
                    let t = 1_000_000 + (f * per_frame + i) * 100;
                    ((i % 2) as u32, t, t + 40)
                })
                .collect();
            enc.events(3, &calls, |c| *c);
            w.append(enc.take()).unwrap();
        }
    }

    fn read_all(path: &Path) -> io::Result<(Vec<Frame>, u64)> {
        let mut r = StreamReader::open(path)?;
        let mut frames = Vec::new();
        let mut f = Frame::default();
        while r.next_frame(&mut f)? {
            frames.push(std::mem::take(&mut f));
        }
        Ok((frames, r.unread_bytes()))
    }

    #[test]
    fn calls_of_every_magnitude_read_back_exactly() {
        // Ids, gaps and durations from one byte to ten, backwards gaps
        // included, so both the 2-byte paths and the general one run.
        let mut rng = fastrand::Rng::with_seed(11);
        let mut t = 0u64;
        let calls: Vec<(u32, u64, u64)> = (0..50_000)
            .map(|_| {
                let bits = rng.u32(0..64);
                let magnitude = |rng: &mut fastrand::Rng| rng.u64(..) >> bits;
                let region = (magnitude(&mut rng) >> 32) as u32;
                let start = t
                    .wrapping_add(magnitude(&mut rng))
                    .wrapping_sub(rng.u64(0..3));
                let end = start.wrapping_add(magnitude(&mut rng));
                t = end;
                (region, start, end)
            })
            .collect();
        let mut enc = FrameEncoder::default();
        enc.events(5, &calls, |c| *c);
        let payload = &enc.take()[FRAME_HEAD..];
        let mut frame = Frame::default();
        parse_items(payload, &mut frame).unwrap();
        let back: Vec<(u32, u64, u64)> = frame
            .events
            .iter()
            .map(|e| (e.region, e.start, e.end))
            .collect();
        assert_eq!(back, calls);
        assert!(frame.events.iter().all(|e| e.thread == 5));
    }

    #[test]
    fn every_item_reads_back_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file_name(2));
        let mut w = StreamWriter::create(&path).unwrap();
        let mut enc = FrameEncoder::default();
        enc.header(&StreamHeader {
            rank: 2,
            time_trace: false,
            scale: TickScale {
                anchor_ticks: 7,
                anchor_ns: -3,
                ns_per_tick: 0.37,
            },
        });
        // Nested calls arrive inner first (starts go backwards), and the
        // clock may sit anywhere in its range.
        let calls = [
            (5u32, u64::MAX - 100, u64::MAX - 50),
            (6, u64::MAX - 200, u64::MAX - 10),
            (5, 1, 2),
            (u32::MAX, 0, 0),
        ];
        enc.events(9, &calls, |c| *c);
        enc.counts([(4, 1u64 << 40)].into_iter());
        let counters = RankCounters {
            dropped_events: 1,
            blocked_ns: 2,
            open_regions_at_finalize: 3,
            unwritten_events: u64::MAX,
        };
        enc.counters(&counters);
        enc.end();
        w.append(enc.take()).unwrap();
        assert!(enc.take().is_empty(), "a taken frame starts anew");
        drop(w);
        assert!(is_stream(&path));
        let (frames, unread) = read_all(&path).unwrap();
        assert_eq!((frames.len(), unread), (1, 0));
        let f = &frames[0];
        assert_eq!(f.header.unwrap().scale.ns_per_tick, 0.37);
        let back: Vec<(u32, u64, u64)> = f
            .events
            .iter()
            .map(|e| (e.region, e.start, e.end))
            .collect();
        assert_eq!(back, calls);
        assert!(f.events.iter().all(|e| e.thread == 9));
        assert_eq!(f.counts, [(4, 1 << 40)]);
        assert_eq!(f.counters, Some(counters));
        assert!(f.end);
    }

    /// `calls` encoded into one payload and decoded back.
    fn round_trip(calls: &[(u32, u64, u64)]) -> Vec<(u32, u64, u64)> {
        let mut enc = FrameEncoder::default();
        enc.events(0, calls, |c| *c);
        let mut frame = Frame::default();
        parse_items(&enc.take()[FRAME_HEAD..], &mut frame).unwrap();
        frame
            .events
            .iter()
            .map(|e| (e.region, e.start, e.end))
            .collect()
    }

    #[test]
    fn packed_blocks_of_every_width_read_back_exactly() {
        // Every split of 1 to 56 bits among region, gap and duration, with
        // calls at each field's full width and below it, over two whole
        // blocks and a partial one: both packing loops (under and from 8
        // bits a call) and block boundaries.
        let mut rng = fastrand::Rng::with_seed(5);
        for region_bits in 0..=20u32 {
            for gap_bits in 0..=20u32 {
                for duration_bits in [1u32, 2, 7, 8, 9, 16, 20] {
                    if region_bits + gap_bits + duration_bits > MAX_PACKED_BITS {
                        continue;
                    }
                    let mut value = |bits: u32| match bits {
                        0 => 0,
                        _ => rng.u64(..1 << bits) | (u64::from(rng.bool()) << (bits - 1)),
                    };
                    let mut previous_end = 1u64 << 40;
                    let calls: Vec<(u32, u64, u64)> = (0..2 * BLOCK + 37)
                        .map(|_| {
                            let region = value(region_bits) as u32;
                            let start = previous_end.wrapping_add(value(gap_bits) >> 1);
                            let end = start + value(duration_bits);
                            previous_end = end;
                            (region, start, end)
                        })
                        .collect();
                    assert_eq!(
                        round_trip(&calls),
                        calls,
                        "widths {region_bits}/{gap_bits}/{duration_bits}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_format_1_stream_reads() {
        // Format 1 wrote calls as three varints each (`EVENTS`); crashed
        // runs' files of that version stay readable.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(file_name(0));
        let calls = [
            (1u32, 1000u64, 1200u64),
            (0, 900, 1500),
            (300, 1_600, 1_601),
        ];
        let mut payload = vec![KIND_EVENTS, 4, calls.len() as u8];
        let mut previous_end = 0u64;
        for (region, start, end) in calls {
            for v in [
                u64::from(region),
                zigzag(start.wrapping_sub(previous_end) as i64),
                end - start,
            ] {
                let mut bytes = [0u8; MAX_VARINT];
                let n = put_varint(&mut bytes, 0, v);
                payload.extend_from_slice(&bytes[..n]);
            }
            previous_end = end;
        }
        let mut file = HEADER_LINE_1.to_vec();
        file.extend_from_slice(&FRAME_MAGIC.to_le_bytes());
        file.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        file.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        file.extend_from_slice(&payload);
        std::fs::write(&path, file).unwrap();
        let (frames, unread) = read_all(&path).unwrap();
        let back: Vec<(u32, u64, u64)> = frames[0]
            .events
            .iter()
            .map(|e| (e.region, e.start, e.end))
            .collect();
        assert_eq!((back, unread), (calls.to_vec(), 0));
        assert!(frames[0].events.iter().all(|e| e.thread == 4));
    }

    #[test]
    fn a_tight_loop_takes_about_two_bytes_a_call() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rank_0.sps");
        write_stream(&path, 10, 10_000);
        let bytes = std::fs::metadata(&path).unwrap().len();
        // Region 1 bit, gap 7, duration 6: 14 bits a call.
        assert!(bytes < 100_000 * 2, "{bytes} bytes for 100 000 calls");
        let (frames, _) = read_all(&path).unwrap();
        assert_eq!(frames[0].names, [(0, "a/b".into()), (1, "ünï".into())]);
        assert_eq!(frames[0].threads, [(3, "worker-3".into())]);
        let events: usize = frames.iter().map(|f| f.events.len()).sum();
        assert_eq!(events, 100_000);
    }

    #[test]
    fn a_torn_or_corrupt_frame_ends_the_read_and_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rank_0.sps");
        write_stream(&path, 3, 50);
        let bytes = std::fs::read(&path).unwrap();
        // A kill in the middle of the last write: the frames before count.
        std::fs::write(&path, &bytes[..bytes.len() - 7]).unwrap();
        let (frames, unread) = read_all(&path).unwrap();
        assert_eq!(frames.len(), 3);
        assert!(unread > 0);
        // A flipped byte in the first event frame: nothing after it is trusted.
        let mut flipped = bytes.clone();
        let second_frame = HEADER_LINE.len() + FRAME_HEAD + 40;
        flipped[second_frame + 30] ^= 0x40;
        std::fs::write(&path, &flipped).unwrap();
        let (frames, unread) = read_all(&path).unwrap();
        assert!(frames.len() < 4 && unread > 0, "{} frames", frames.len());
        std::fs::write(&path, b"not a stream at all").unwrap();
        assert!(StreamReader::open(&path).is_err());
        std::fs::write(&path, b"scope-profiler stream 9\n").unwrap();
        let err = StreamReader::open(&path).err().unwrap().to_string();
        assert!(err.contains("upgrade"), "{err}");
    }

    #[test]
    fn the_reader_keeps_the_names_of_intact_frames_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rank_0.sps");
        write_stream(&path, 0, 0);
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        let mut enc = FrameEncoder::default();
        enc.names([(2, "later")].into_iter());
        w.write_all(enc.take()).unwrap();
        enc.names([(3, "torn")].into_iter());
        enc.thread(5, "torn");
        let torn = enc.take();
        w.write_all(&torn[..torn.len() - 1]).unwrap();
        drop(w);
        let mut reader = StreamReader::open(&path).unwrap();
        let mut frame = Frame::default();
        while reader.next_frame(&mut frame).unwrap() {}
        let names = reader.take_names();
        let regions: Vec<(u32, &str)> = names.regions.iter().map(|(i, n)| (*i, &**n)).collect();
        assert_eq!(regions, [(0, "a/b"), (1, "ünï"), (2, "later")]);
        assert_eq!(names.threads, BTreeMap::from([(3, "worker-3".to_string())]));
        assert_eq!(*reader.names(), StreamNames::default(), "taken out");
    }

    #[test]
    fn mutated_payloads_are_decoded_or_rejected_never_a_panic() {
        let mut enc = FrameEncoder::default();
        enc.names([(0, "fuzzed")].into_iter());
        let calls: Vec<(u32, u64, u64)> = (0..50).map(|i| (0, i * 100, i * 100 + 40)).collect();
        enc.events(1, &calls, |c| *c);
        enc.counts([(0, 3)].into_iter());
        let payload = enc.take()[FRAME_HEAD..].to_vec();
        let mut frame = Frame::default();
        assert!(parse_items(&payload, &mut frame).is_some());
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
            frame.clear();
            // Decoded or refused; a panic fails the test.
            let _ = parse_items(&p, &mut frame);
        }
    }
}
