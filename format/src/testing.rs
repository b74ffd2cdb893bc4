//! Streams and clock shifts for the crate's tests.

use std::path::Path;

use crate::stream::{FrameEncoder, StreamHeader, StreamWriter, TickScale};
use crate::{ClockOffset, ClockShift};

/// Writes a stream of rank `rank` at `path`: its header with `scale`,
/// regions `names` (ids 0, 1, …), then `calls` (region, start and end
/// ticks) of thread 0 in one frame.
pub(crate) fn write_stream(
    path: &Path,
    rank: u32,
    scale: TickScale,
    names: &[&str],
    calls: &[(u32, u64, u64)],
) {
    let mut writer = StreamWriter::create(path).unwrap();
    let mut encoder = FrameEncoder::default();
    encoder.header(&StreamHeader {
        rank,
        time_trace: true,
        scale,
    });
    encoder.names(names.iter().enumerate().map(|(id, n)| (id as u32, *n)));
    encoder.events(0, calls, |c| *c);
    writer.append(encoder.take()).unwrap();
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
