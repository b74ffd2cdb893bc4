//! `--diff BASE CANDIDATE`: per-region comparison for CI gates.
//!
//! A region is a regression when it is in both files, got slower by more
//! than [`Thresholds::max_regression_pct`] of its base total, and its total
//! in one of the files reaches [`Thresholds::min_total_ns`] (below that a
//! change is noise: a 3 µs region taking 8 µs says nothing).

use std::fmt::Write as _;

use crate::profile::ProfileFile;
use crate::table::{display_name, RegionFilter};
use crate::units::duration;

/// When a change counts as a regression.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Thresholds {
    /// Allowed slow-down, % of the base total.
    pub max_regression_pct: f64,
    /// Noise floor: regions whose total stays below this in both files,
    /// ns, are never regressions.
    pub min_total_ns: i64,
}

/// One region's change from base to candidate (pooled over the selected
/// ranks).
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

    /// Whether the region's total is below the noise floor in both files.
    pub fn below_noise_floor(&self, thresholds: &Thresholds) -> bool {
        self.base_total
            .max(self.candidate_total)
            .is_none_or(|t| t < thresholds.min_total_ns)
    }

    /// Whether the change is a regression under `thresholds`.
    pub fn is_regression(&self, thresholds: &Thresholds) -> bool {
        !self.below_noise_floor(thresholds)
            && self
                .change_pct()
                .is_some_and(|p| p > thresholds.max_regression_pct)
    }
}

/// Every region of either file that `filter` keeps, base order first,
/// pooled over `ranks` (all when `None`).
pub fn compare(
    base: &ProfileFile,
    candidate: &ProfileFile,
    ranks: Option<&[u32]>,
    filter: &RegionFilter,
) -> Vec<Change> {
    let mut names: Vec<&str> = base.region_names();
    for n in candidate.region_names() {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    let stats = |file: &ProfileFile, name: &str| {
        let region = file.region(name).ok()?;
        let on_selected_ranks = region
            .per_rank
            .keys()
            .any(|r| ranks.is_none_or(|s| s.contains(r)));
        on_selected_ranks.then(|| ProfileFile::stats(region, ranks))
    };
    names
        .into_iter()
        .filter(|name| filter.keeps(name))
        .filter_map(|name| {
            let (b, c) = (stats(base, name), stats(candidate, name));
            if b.is_none() && c.is_none() {
                return None;
            }
            Some(Change {
                name: name.to_owned(),
                base_total: b.map(|s| s.total),
                candidate_total: c.map(|s| s.total),
                calls: (b.map_or(0, |s| s.calls), c.map_or(0, |s| s.calls)),
            })
        })
        .collect()
}

/// The comparison as text (totals with automatic units); regressions are
/// marked `REGRESSION`, changes under the noise floor `(noise)`.
pub fn render(changes: &[Change], thresholds: &Thresholds) -> String {
    let mut out = String::new();
    let width = changes
        .iter()
        .map(|c| display_name(&c.name).chars().count())
        .max()
        .unwrap_or(0)
        .max(6);
    let _ = writeln!(
        out,
        "{:<width$}  {:>12}  {:>12}  {:>9}",
        "region", "base", "candidate", "change"
    );
    for c in changes {
        let total = |t: Option<i64>| t.map_or("-".to_owned(), |t| duration(t as f64));
        let change = match (c.change_pct(), c.base_total, c.candidate_total) {
            (Some(p), _, _) => format!("{p:+.1}%"),
            (None, None, Some(_)) => "added".into(),
            (None, Some(_), None) => "removed".into(),
            _ => "-".into(),
        };
        let flag = if c.is_regression(thresholds) {
            "  REGRESSION"
        } else if c.below_noise_floor(thresholds) && c.change_pct().is_some() {
            "  (noise)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:<width$}  {:>12}  {:>12}  {:>9}{flag}",
            display_name(&c.name),
            total(c.base_total),
            total(c.candidate_total),
            change
        );
    }
    out
}

/// Regions that are regressions under `thresholds`.
pub fn regressions<'a>(changes: &'a [Change], thresholds: &Thresholds) -> Vec<&'a Change> {
    changes
        .iter()
        .filter(|c| c.is_regression(thresholds))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(base: i64, candidate: i64) -> Change {
        Change {
            name: "r".into(),
            base_total: Some(base),
            candidate_total: Some(candidate),
            calls: (1, 1),
        }
    }

    #[test]
    fn a_slow_down_under_the_noise_floor_is_no_regression() {
        let t = Thresholds {
            max_regression_pct: 10.0,
            min_total_ns: 100_000,
        };
        assert!(!change(3_000, 8_000).is_regression(&t));
        assert!(change(3_000, 8_000).below_noise_floor(&t));
        assert!(
            change(90_000, 200_000).is_regression(&t),
            "the candidate reaches the floor"
        );
        assert!(!change(1_000_000, 1_050_000).is_regression(&t), "5% < 10%");
        assert!(change(1_000_000, 1_150_000).is_regression(&t));
        let added = Change {
            base_total: None,
            ..change(0, 5_000_000)
        };
        assert!(!added.is_regression(&t));
    }
}
