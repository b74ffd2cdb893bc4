//! [`RankTotals`]: one pass over a rank's stream for what finalize's
//! summary and the merged file's layout need: per region its name and
//! exact statistics, the threads' names, the rank's counters.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use crate::stream::{Frame, RankCounters, StreamHeader, StreamReader};
use crate::{ClockShift, RegionStats};

/// Durations gathered per region before they are folded into its
/// statistics: the fold is two passes over a slice, no division per call.
const FOLD_EVERY: usize = 4096;

/// One region's totals on one rank.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionTotals {
    /// The region's id in the stream.
    pub id: u32,
    /// Its exact name (`region#<id>` if the stream never named it).
    pub name: String,
    /// Calls with timestamps (ns statistics) plus calls without.
    pub stats: RegionStats,
    /// Of `stats.calls`, those recorded without timestamps.
    pub untimed_calls: u64,
}

/// Everything [`totals`] found in a stream.
#[derive(Clone, Debug, PartialEq)]
pub struct RankTotals {
    /// The stream's header.
    pub header: StreamHeader,
    /// Regions with calls, by id.
    pub regions: Vec<RegionTotals>,
    /// Thread names by thread index (named threads only).
    pub thread_names: BTreeMap<u32, String>,
    /// The rank's counters (zero if the stream was not finalized).
    pub counters: RankCounters,
    /// Bytes after the last intact frame (a frame torn by a kill).
    pub unread_bytes: u64,
}

/// The header of the stream at `path`, from its first frame alone.
pub fn header(path: &Path) -> io::Result<StreamHeader> {
    let mut reader = StreamReader::open(path)?;
    reader.next_frame(&mut Frame::default())?;
    reader.header()
}

/// Reads the stream at `path` once and totals it, its durations at the
/// rate of the timestamps the rank's `shift` puts on rank 0's clock (the
/// shift folded into the stream's tick scale; [`ClockShift::default`] for
/// the stream's own rate).
pub fn totals(path: &Path, shift: &ClockShift) -> io::Result<RankTotals> {
    let mut reader = StreamReader::open(path)?;
    let mut frame = Frame::default();
    let mut per_region: Vec<(RegionStats, u64, Vec<i64>)> = Vec::new();
    let mut counters = RankCounters::default();
    let grow = |per_region: &mut Vec<(RegionStats, u64, Vec<i64>)>, i: usize| {
        if i >= per_region.len() {
            per_region.resize_with(i + 1, || (RegionStats::default(), 0, Vec::new()));
        }
    };
    while reader.next_frame(&mut frame)? {
        let scale = reader.scale_on_rank_0(shift)?;
        for e in &frame.events {
            let i = e.region as usize;
            grow(&mut per_region, i);
            let pending = &mut per_region[i].2;
            pending.push(scale.to_ns(e.end).wrapping_sub(scale.to_ns(e.start)));
            if pending.len() == FOLD_EVERY {
                fold(&mut per_region[i]);
            }
        }
        for &(region, calls) in &frame.counts {
            grow(&mut per_region, region as usize);
            per_region[region as usize].1 += calls;
        }
        if let Some(c) = frame.counters {
            counters = c;
        }
    }
    let header = reader.header()?;
    let names = reader.take_names();
    let regions = per_region
        .into_iter()
        .enumerate()
        .filter_map(|(id, mut r)| {
            fold(&mut r);
            let (mut stats, untimed, _) = r;
            stats.add_untimed_calls(untimed);
            (stats.calls > 0).then(|| RegionTotals {
                id: id as u32,
                name: names
                    .regions
                    .get(&(id as u32))
                    .cloned()
                    .unwrap_or_else(|| format!("region#{id}")),
                stats,
                untimed_calls: untimed,
            })
        })
        .collect();
    Ok(RankTotals {
        header,
        regions,
        thread_names: names.threads,
        counters,
        unread_bytes: reader.unread_bytes(),
    })
}

/// Folds a region's pending durations into its statistics.
fn fold((stats, _, pending): &mut (RegionStats, u64, Vec<i64>)) {
    stats.merge(&RegionStats::of_durations(pending.iter().copied()));
    pending.clear();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::TickScale;
    use crate::testing;

    #[test]
    fn durations_are_at_the_rate_the_shift_gives_the_timestamps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rank_2.sps");
        let scale = TickScale {
            anchor_ticks: 0,
            anchor_ns: 0,
            ns_per_tick: 0.5,
        };
        // 100 calls of 2·10⁸ ticks (0.1 s at the stream's rate).
        let calls: Vec<testing::Call> = (0..100u64)
            .map(|i| (0, 0, i * 300_000_000, i * 300_000_000 + 200_000_000))
            .collect();
        testing::write_stream(&path, 2, scale, &["step"], &calls);
        // The rank's clock gains 100 µs a second on rank 0's.
        let shift = testing::shift((0, 0), (10_000_000_000, 1_000_000));
        let own = totals(&path, &ClockShift::default()).unwrap();
        let shifted = totals(&path, &shift).unwrap();
        let total = |t: &RankTotals| t.regions[0].stats.total_ns;
        assert_eq!(total(&own), 100 * 100_000_000);
        // Each call on rank 0's clock, as the file's timestamps have it.
        let folded = shift.fold_into(scale);
        let expected: i64 = calls
            .iter()
            .map(|&(_, _, s, e)| folded.to_ns(e) - folded.to_ns(s))
            .sum();
        assert_eq!(total(&shifted), expected);
        assert!(
            (total(&own) - expected - 1_000_000).abs() <= 100,
            "{expected}"
        );
    }
}
