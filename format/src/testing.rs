//! Streams and clock shifts for the crate's tests.

use std::path::Path;

use crate::stream::{FrameEncoder, StreamHeader, StreamWriter, TickScale};
use crate::{ClockOffset, ClockShift};

/// A call as the tests write it: thread, region id, start and end ticks.
pub(crate) type Call = (u32, u32, u64, u64);

/// Writes a stream of rank `rank` at `path`: a first frame with its header
/// (`scale`), regions `names` (ids 0, 1, …) and thread 1 named "worker",
/// then `calls`, each run of one thread's calls in a frame of its own, in
/// the order given. Returns the writer, for more frames.
pub(crate) fn write_stream(
    path: &Path,
    rank: u32,
    scale: TickScale,
    names: &[&str],
    calls: &[Call],
) -> StreamWriter {
    let mut writer = StreamWriter::create(path).unwrap();
    let mut encoder = FrameEncoder::default();
    encoder.header(&StreamHeader {
        rank,
        time_trace: true,
        scale,
    });
    encoder.names(names.iter().enumerate().map(|(id, n)| (id as u32, *n)));
    encoder.thread(1, "worker");
    writer.append(encoder.take()).unwrap();
    for run in calls.chunk_by(|a, b| a.0 == b.0) {
        encoder.events(run[0].0, run, |c| (c.1, c.2, c.3));
        writer.append(encoder.take()).unwrap();
    }
    writer
}

/// The shift between two measurements, each (rank 0's clock, the rank's
/// offset from it) in ns, with no round trip.
pub(crate) fn shift(setup: (i64, i64), finalize: (i64, i64)) -> ClockShift {
    let offset = |(at_ns, offset_ns)| ClockOffset {
        at_ns,
        offset_ns,
        rtt_ns: 0,
    };
    ClockShift {
        setup: offset(setup),
        finalize: offset(finalize),
    }
}
