//! `--diff BASE CANDIDATE`: per-region comparison for CI gates.

use std::fmt::Write as _;

use crate::profile::ProfileFile;
use crate::table::display_name;

/// One region's change from base to candidate (pooled over ranks).
#[derive(Clone, Debug, PartialEq)]
pub struct Change {
    /// Region name.
    pub name: String,
    /// Total ns in the base, if present there.
    pub base_total: Option<i64>,
    /// Total ns in the candidate, if present there.
    pub candidate_total: Option<i64>,
    /// Calls in base and candidate.
    pub calls: (u64, u64),
}

impl Change {
    /// Change of total time, % of the base (`None` unless in both with base > 0).
    pub fn change_pct(&self) -> Option<f64> {
        match (self.base_total, self.candidate_total) {
            (Some(b), Some(c)) if b > 0 => Some((c - b) as f64 / b as f64 * 100.0),
            _ => None,
        }
    }
}

/// Every region of either file, base order first.
pub fn compare(base: &ProfileFile, candidate: &ProfileFile) -> Vec<Change> {
    let mut names: Vec<&str> = base.region_names();
    for n in candidate.region_names() {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let b = base.region(name).ok().map(|r| ProfileFile::stats(r, None));
            let c = candidate
                .region(name)
                .ok()
                .map(|r| ProfileFile::stats(r, None));
            Change {
                name: name.to_owned(),
                base_total: b.map(|s| s.total),
                candidate_total: c.map(|s| s.total),
                calls: (b.map_or(0, |s| s.calls), c.map_or(0, |s| s.calls)),
            }
        })
        .collect()
}

/// The comparison as text; regressions above `max_regression` % are marked.
pub fn render(changes: &[Change], max_regression: f64) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<32} {:>14} {:>14} {:>10}",
        "region", "base [s]", "candidate [s]", "change"
    );
    for c in changes {
        let secs = |t: Option<i64>| t.map_or("-".to_owned(), |t| format!("{:.6}", t as f64 / 1e9));
        let change = match (c.change_pct(), c.base_total, c.candidate_total) {
            (Some(p), _, _) => format!("{p:+.1}%"),
            (None, None, Some(_)) => "added".into(),
            (None, Some(_), None) => "removed".into(),
            _ => "-".into(),
        };
        let flag = if c.change_pct().is_some_and(|p| p > max_regression) {
            "  REGRESSION"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:<32} {:>14} {:>14} {:>10}{flag}",
            display_name(&c.name),
            secs(c.base_total),
            secs(c.candidate_total),
            change
        );
    }
    out
}

/// Regions slower than `max_regression` % in the candidate.
pub fn regressions(changes: &[Change], max_regression: f64) -> Vec<&Change> {
    changes
        .iter()
        .filter(|c| c.change_pct().is_some_and(|p| p > max_regression))
        .collect()
}
