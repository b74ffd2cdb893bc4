//! [`Summary`]: what finalize returns and prints.

use std::fmt;
use std::path::PathBuf;

use scope_profiler_format::lanes::{is_lifetime, SCHEMA_1_LANES_NOTE};
use scope_profiler_format::RegionStats;

/// One region's totals over the run.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionSummary {
    /// The region's name.
    pub name: String,
    /// Calls and duration statistics (ns).
    pub stats: RegionStats,
}

/// The run's summary: per region calls, total, average, min, max and
/// standard deviation, plus what was lost or left open.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Regions in first-recorded order (region id order).
    pub regions: Vec<RegionSummary>,
    /// Whether durations were recorded (`time_trace`).
    pub timed: bool,
    /// Records dropped on full rings.
    pub dropped_events: u64,
    /// Regions still open when recording stopped (counted as dropped).
    pub open_at_finalize: u64,
    /// Time threads spent waiting on full rings, ns.
    pub blocked_ns: u64,
    /// Threads that recorded (over all ranks).
    pub threads: u32,
    /// Ranks pooled into this summary.
    pub ranks: u32,
    /// The profile written, if it was.
    pub file: Option<PathBuf>,
    /// Whether the file is schema 1 (`OutputSchema::Tree`) and a rank
    /// holds calls of several threads or span lifetimes, which
    /// scope-profiler 0.7.5 reads as one call stack: the printed summary
    /// then ends with a note saying so, once.
    pub schema_1_mixes_lanes: bool,
}

/// Whether a rank of `ranks` (one summary each) recorded on several
/// threads or recorded span lifetimes (`"… [lifetime]"` regions).
pub(crate) fn several_lanes(ranks: &[&Summary]) -> bool {
    ranks
        .iter()
        .any(|s| s.threads > 1 || s.regions.iter().any(|r| is_lifetime(&r.name)))
}

impl Summary {
    /// The summary line of region `name`.
    pub fn region(&self, name: &str) -> Option<&RegionSummary> {
        self.regions.iter().find(|r| r.name == name)
    }
}

fn seconds(ns: f64) -> f64 {
    ns / 1e9
}

/// The Python package's 0.2.1 summary layout, one block per region.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.regions {
            let s = &r.stats;
            let timed = self.timed && s.calls > 0;
            let (total, avg, min, max, std) = if timed {
                (
                    seconds(s.total_ns as f64),
                    seconds(s.mean_ns()),
                    seconds(s.min_ns as f64),
                    seconds(s.max_ns as f64),
                    seconds(s.std_dev_ns()),
                )
            } else {
                (0.0, 0.0, 0.0, 0.0, 0.0)
            };
            writeln!(f, "Region: {}", r.name)?;
            writeln!(f, "  Total Calls : {}", s.calls)?;
            writeln!(f, "  Total Time  : {total} s")?;
            writeln!(f, "  Avg Time    : {avg} s")?;
            writeln!(f, "  Min Time    : {min} s")?;
            writeln!(f, "  Max Time    : {max} s")?;
            writeln!(f, "  Std Dev     : {std} s")?;
            writeln!(f, "{}", "-".repeat(40))?;
        }
        if self.dropped_events > 0 || self.open_at_finalize > 0 {
            writeln!(
                f,
                "Dropped events: {} on full buffers, {} regions still open at finalize",
                self.dropped_events, self.open_at_finalize
            )?;
        }
        if self.schema_1_mixes_lanes {
            writeln!(f, "{SCHEMA_1_LANES_NOTE}")?;
        }
        Ok(())
    }
}
