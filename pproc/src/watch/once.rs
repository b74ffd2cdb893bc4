//! `watch --once`: one plain-text snapshot of a running job, for scripts
//! and tests.
//!
//! Standard output is a header line, then one row per region: its name, its
//! calls so far, total time (s), mean time per call (µs), calls per second
//! and share of the ranks' time (%) since setup, and the number of ranks
//! with calls. Every value is one token (`-` when unknown, e.g. times of a
//! count-only run), so a script takes a row's last six fields as values
//! and the rest as the name. What each rank is doing goes to standard error.

use std::fmt::Write as _;

use super::model::Snapshot;
use super::rows::RegionRow;
use super::status::{counts, RankStatus};
use crate::table::display_name;

/// The column headings, in order.
pub const HEADER: [&str; 7] = [
    "region", "calls", "total_s", "avg_us", "calls/s", "share%", "ranks",
];

/// The table: [`HEADER`], then a line per row, columns aligned.
pub fn render(rows: &[RegionRow]) -> String {
    let dash = || "-".to_owned();
    let body: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                display_name(&r.name),
                r.total.calls.to_string(),
                if r.timed {
                    format!("{:.6}", r.total.ns / 1e9)
                } else {
                    dash()
                },
                r.avg_ns()
                    .map_or_else(dash, |ns| format!("{:.3}", ns / 1e3)),
                r.rate.map_or_else(dash, |v| format!("{v:.1}")),
                r.share.map_or_else(dash, |v| format!("{:.1}", v * 100.0)),
                r.ranks.to_string(),
            ]
        })
        .collect();
    let mut widths = HEADER.map(|h| h.chars().count());
    for row in &body {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: [&str; 7]| {
        let _ = write!(out, "{:<w$}", cells[0], w = widths[0]);
        for (cell, w) in cells.iter().zip(&widths).skip(1) {
            let _ = write!(out, "  {cell:>w$}", w = *w);
        }
        out.push('\n');
    };
    line(HEADER);
    for row in &body {
        line(row.each_ref().map(String::as_str));
    }
    out
}

/// The ranks' state for standard error: the directory and the counts, then
/// one line per rank that is not live or finished (and one per rank whose
/// stream was damaged or whose calls were skipped).
pub fn rank_report(snapshot: &Snapshot) -> String {
    let mut out = format!(
        "{}: {} rank(s): {}",
        snapshot.dir.display(),
        snapshot.ranks.len(),
        counts(snapshot.ranks.iter().map(|r| &r.status))
    );
    if snapshot.ranks.is_empty() {
        out.push_str(
            " (no rank_<N>.sps yet: the run has not set up, or keeps its batches in memory)",
        );
    }
    out.push('\n');
    for r in &snapshot.ranks {
        if !matches!(r.status, RankStatus::Live | RankStatus::Finished) {
            let _ = writeln!(out, "  rank {}: {}", r.rank, r.status.describe());
        }
        if r.skipped > 0 {
            let _ = writeln!(
                out,
                "  rank {}: {} call(s) with impossible ids skipped",
                r.rank, r.skipped
            );
        }
    }
    out
}
