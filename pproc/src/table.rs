//! The summary table: per region calls, total, avg, min, max, std, p50/p95
//! (p50/p90/p99 estimated from histograms for an aggregate file) and rank
//! imbalance, filtered and sorted.

use std::fmt::Write as _;

use regex::Regex;

use crate::error::{PprocError, Result};
use crate::profile::{ProfileFile, Stats};
use crate::units::duration;

/// One row of the summary.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Region name.
    pub name: String,
    /// Ranks where the region ran (among those selected).
    pub ranks: usize,
    /// Pooled statistics, ns.
    pub stats: Stats,
    /// Slowest rank over the mean, %.
    pub imbalance_pct: f64,
    /// Start of the region's first timed call on the selected ranks, ns
    /// (`None` for count-only regions).
    pub first_start: Option<i64>,
}

impl Row {
    /// Whether the region's calls have durations: a timed call in the
    /// selection, or (an aggregate file) a non-zero longest call.
    pub fn is_timed(&self) -> bool {
        self.first_start.is_some() || self.stats.max > 0
    }
}

/// Column to sort by (descending, except `start` and `name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SortKey {
    /// Start of the first call, earliest first (count-only regions last,
    /// in file order).
    Start,
    /// Region name, ascending.
    Name,
    /// Number of calls.
    Calls,
    /// Total time.
    Total,
    /// Mean time.
    Avg,
    /// Shortest call.
    Min,
    /// Longest call.
    Max,
    /// Standard deviation.
    Std,
    /// Rank imbalance.
    Imbalance,
}

/// Which regions to keep: names matching any `include` (all when empty) and
/// no `exclude` (regular expressions, searched anywhere in the name).
#[derive(Debug, Default)]
pub struct RegionFilter {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

impl RegionFilter {
    /// Compiles the patterns.
    pub fn new(include: &[String], exclude: &[String]) -> Result<RegionFilter> {
        let compile = |patterns: &[String]| -> Result<Vec<Regex>> {
            patterns
                .iter()
                .map(|p| {
                    Regex::new(p).map_err(|e| PprocError::BadRegex {
                        pattern: p.clone(),
                        message: e.to_string(),
                    })
                })
                .collect()
        };
        Ok(RegionFilter {
            include: compile(include)?,
            exclude: compile(exclude)?,
        })
    }

    /// Whether region `name` is kept.
    pub fn keeps(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(name)))
            && !self.exclude.iter().any(|r| r.is_match(name))
    }
}

/// The summary rows of `file` over `ranks` (all when `None`).
pub fn rows(
    file: &ProfileFile,
    ranks: Option<&[u32]>,
    filter: &RegionFilter,
    sort: SortKey,
) -> Vec<Row> {
    let mut rows: Vec<Row> = file
        .regions()
        .iter()
        .filter(|r| filter.keeps(&r.name))
        .map(|r| Row {
            name: r.name.clone(),
            ranks: r
                .per_rank
                .keys()
                .filter(|k| ranks.is_none_or(|s| s.contains(k)))
                .count(),
            stats: ProfileFile::stats(r, ranks),
            imbalance_pct: ProfileFile::imbalance_pct(r, ranks),
            first_start: r
                .per_rank
                .iter()
                .filter(|(k, _)| ranks.is_none_or(|s| s.contains(k)))
                .filter_map(|(_, events)| events.starts.iter().min().copied())
                .min(),
        })
        .filter(|row| row.ranks > 0)
        .collect();
    let desc = |a: f64, b: f64| b.partial_cmp(&a).unwrap_or(std::cmp::Ordering::Equal);
    match sort {
        SortKey::Start => rows.sort_by_key(|r| (r.first_start.is_none(), r.first_start)),
        SortKey::Name => rows.sort_by(|a, b| a.name.cmp(&b.name)),
        SortKey::Calls => rows.sort_by_key(|r| std::cmp::Reverse(r.stats.calls)),
        SortKey::Total => rows.sort_by_key(|r| std::cmp::Reverse(r.stats.total)),
        SortKey::Avg => rows.sort_by(|a, b| desc(a.stats.avg, b.stats.avg)),
        SortKey::Min => rows.sort_by_key(|r| std::cmp::Reverse(r.stats.min)),
        SortKey::Max => rows.sort_by_key(|r| std::cmp::Reverse(r.stats.max)),
        SortKey::Std => rows.sort_by(|a, b| desc(a.stats.std, b.stats.std)),
        SortKey::Imbalance => rows.sort_by(|a, b| desc(a.imbalance_pct, b.imbalance_pct)),
    }
    rows
}

/// The column headings of [`render`]'s table before the percentiles.
const LEADING: [&str; 8] = [
    "region", "ranks", "calls", "total", "avg", "min", "max", "std",
];

/// A percentile column: its heading and where its value is.
type PercentileColumn = (&'static str, fn(&Stats) -> f64);

/// Which percentiles the table shows: of every call, p50 and p95; estimated
/// from an aggregate file's histograms, p50, p90 and p99 (marked `~`).
fn percentile_columns(estimated: bool) -> &'static [PercentileColumn] {
    if estimated {
        &[
            ("p50~", |s| s.p50),
            ("p90~", |s| s.p90),
            ("p99~", |s| s.p99),
        ]
    } else {
        &[("p50", |s| s.p50), ("p95", |s| s.p95)]
    }
}

/// Renders rows as an aligned text table (times with automatic units).
/// When the percentiles are estimated from histograms (an aggregate file),
/// the line under the title says so.
pub fn render(title: &str, rows: &[Row]) -> String {
    let estimated = rows.iter().any(|r| r.stats.estimated);
    let percentiles = percentile_columns(estimated);
    let header: Vec<&str> = LEADING
        .iter()
        .copied()
        .chain(percentiles.iter().map(|(name, _)| *name))
        .chain(["imbalance [%]"])
        .collect();
    let body: Vec<Vec<String>> = rows.iter().map(|r| cells(r, percentiles)).collect();
    let widths = column_widths(&header, &body);
    let mut out = String::new();
    let _ = writeln!(out, "{title}");
    if estimated {
        let _ = writeln!(
            out,
            "aggregate profile: ~ percentiles are estimated from log-scale histograms (within about 6 %)"
        );
    }
    let _ = writeln!(out, "{}", aligned_line(header.iter().copied(), &widths));
    let _ = writeln!(
        out,
        "{}",
        "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1))
    );
    for row in &body {
        let _ = writeln!(
            out,
            "{}",
            aligned_line(row.iter().map(String::as_str), &widths)
        );
    }
    out
}

/// The cells of one row, in the header's order; times are `-` for a
/// count-only region, and where unknown (NaN, see [`duration`]).
fn cells(r: &Row, percentiles: &[PercentileColumn]) -> Vec<String> {
    let s = &r.stats;
    let time = |ns: f64| {
        if r.is_timed() {
            duration(ns)
        } else {
            "-".to_owned()
        }
    };
    let mut cells = vec![
        display_name(&r.name),
        r.ranks.to_string(),
        s.calls.to_string(),
        time(s.total as f64),
        time(s.avg),
        time(s.min as f64),
        time(s.max as f64),
        time(s.std),
    ];
    cells.extend(percentiles.iter().map(|(_, value)| time(value(s))));
    cells.push(format!("{:.2}", r.imbalance_pct));
    cells
}

/// Each column's width in characters: its widest cell or heading.
fn column_widths(header: &[&str], body: &[Vec<String>]) -> Vec<usize> {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in body {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    widths
}

/// One line of the table: the first column left-aligned, the others
/// right-aligned two spaces apart, no trailing spaces.
fn aligned_line<'a>(cells: impl Iterator<Item = &'a str>, widths: &[usize]) -> String {
    let mut s = String::new();
    for (i, (cell, w)) in cells.zip(widths).enumerate() {
        let pad = w - cell.chars().count();
        if i == 0 {
            let _ = write!(s, "{cell}{}", " ".repeat(pad));
        } else {
            let _ = write!(s, "  {}{cell}", " ".repeat(pad));
        }
    }
    s.trim_end().to_owned()
}

/// A region name made printable on one line (control characters escaped).
pub fn display_name(name: &str) -> String {
    if name.is_empty() {
        return "\"\"".into();
    }
    name.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}
