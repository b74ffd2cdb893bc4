//! The rows the views show: regions and threads of a [`Snapshot`] over the
//! selected ranks and regions, with rates and shares, sorted.
//!
//! Rate is calls that ended per second of the window. Share is time inside
//! a region per time of the ranks, like `top`'s CPU column: 100 % means
//! one thread of every selected rank was in it the whole window, so a
//! region several threads run at once can pass 100 %, and nested regions
//! each count their own time. A call's time counts when the call ends.

use regex::Regex;

use super::model::{Amount, Cell, Snapshot, Window};

/// Order of the region rows (all descending, except `name`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SortBy {
    /// Time inside so far.
    #[default]
    Total,
    /// Share of the ranks' time in the window.
    Share,
    /// Calls per second in the window.
    Rate,
    /// Calls so far.
    Calls,
    /// Name, ascending.
    Name,
}

impl SortBy {
    /// The next key, for the key that cycles them.
    pub fn next(self) -> SortBy {
        match self {
            SortBy::Total => SortBy::Share,
            SortBy::Share => SortBy::Rate,
            SortBy::Rate => SortBy::Calls,
            SortBy::Calls => SortBy::Name,
            SortBy::Name => SortBy::Total,
        }
    }

    /// Its name as `--sort` takes it.
    pub fn name(self) -> &'static str {
        match self {
            SortBy::Total => "total",
            SortBy::Share => "share",
            SortBy::Rate => "rate",
            SortBy::Calls => "calls",
            SortBy::Name => "name",
        }
    }
}

/// Which ranks and regions the rows cover, and their order.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// One rank, or all when `None`.
    pub rank: Option<u32>,
    /// Regions whose name matches (searched anywhere in it); all when `None`.
    pub filter: Option<Regex>,
    /// Row order.
    pub sort: SortBy,
}

impl Selection {
    fn keeps_rank(&self, rank: u32) -> bool {
        self.rank.is_none_or(|r| r == rank)
    }

    fn keeps_region(&self, name: &str) -> bool {
        self.filter.as_ref().is_none_or(|f| f.is_match(name))
    }
}

/// One region over the selected ranks.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionRow {
    /// Its name.
    pub name: String,
    /// Whether its calls carry time.
    pub timed: bool,
    /// Since the run began.
    pub total: Amount,
    /// Calls per second in the window (`None`: no window yet).
    pub rate: Option<f64>,
    /// Fraction of the ranks' time in the window (`None`: no window).
    pub share: Option<f64>,
    /// Selected ranks where it has calls.
    pub ranks: usize,
    /// Its share on each selected rank, by rank (`None`: the rank had no
    /// window, or no time).
    pub per_rank: Vec<(u32, Option<f64>)>,
}

impl RegionRow {
    /// Mean time per call so far, ns (`None` without calls or time).
    pub fn avg_ns(&self) -> Option<f64> {
        (self.timed && self.total.calls > 0).then(|| self.total.ns / self.total.calls as f64)
    }
}

/// One thread (or, over all ranks, the threads of one name).
#[derive(Clone, Debug, PartialEq)]
pub struct ThreadRow {
    /// The thread's name.
    pub name: String,
    /// Ranks it stands for (1 when one rank is selected).
    pub ranks: usize,
    /// Calls so far in the selected regions.
    pub calls: u64,
    /// Calls per second in the window.
    pub rate: Option<f64>,
    /// The selected region it spent the most time in during the window
    /// (so far, before a window).
    pub busiest: Option<String>,
}

/// The window's length in seconds over the selected ranks (the longest).
fn window_secs(snapshot: &Snapshot, selection: &Selection) -> Option<f64> {
    let secs = match snapshot.window {
        Window::Interval(d) => d.as_secs_f64(),
        Window::SinceStart => {
            snapshot
                .ranks
                .iter()
                .filter(|r| selection.keeps_rank(r.rank))
                .map(|r| r.window_ns)
                .fold(0.0, f64::max)
                / 1e9
        }
    };
    (secs > 0.0).then_some(secs)
}

/// The region rows over `selection`, sorted.
pub fn region_rows(snapshot: &Snapshot, selection: &Selection) -> Vec<RegionRow> {
    let secs = window_secs(snapshot, selection);
    let window_ns = |rank: u32| {
        snapshot
            .ranks
            .iter()
            .find(|r| r.rank == rank)
            .map_or(0.0, |r| r.window_ns)
    };
    let selected_time: f64 = snapshot
        .ranks
        .iter()
        .filter(|r| selection.keeps_rank(r.rank))
        .map(|r| r.window_ns)
        .sum();
    let mut rows: Vec<RegionRow> = snapshot
        .regions
        .iter()
        .filter(|r| selection.keeps_region(&r.name))
        .filter_map(|region| {
            let mut sum = Cell::default();
            let mut per_rank = Vec::new();
            for (rank, cell) in &region.per_rank {
                if !selection.keeps_rank(*rank) {
                    continue;
                }
                sum.total.calls += cell.total.calls;
                sum.total.ns += cell.total.ns;
                sum.recent.calls += cell.recent.calls;
                sum.recent.ns += cell.recent.ns;
                let w = window_ns(*rank);
                per_rank.push((*rank, (w > 0.0 && region.timed).then(|| cell.recent.ns / w)));
            }
            (!per_rank.is_empty()).then(|| RegionRow {
                name: region.name.clone(),
                timed: region.timed,
                total: sum.total,
                rate: secs.map(|s| sum.recent.calls as f64 / s),
                share: (selected_time > 0.0 && region.timed).then(|| sum.recent.ns / selected_time),
                ranks: per_rank.len(),
                per_rank,
            })
        })
        .collect();
    let desc = |a: Option<f64>, b: Option<f64>| {
        b.unwrap_or(-1.0)
            .partial_cmp(&a.unwrap_or(-1.0))
            .unwrap_or(std::cmp::Ordering::Equal)
    };
    match selection.sort {
        SortBy::Total => rows.sort_by(|a, b| {
            desc(Some(a.total.ns), Some(b.total.ns)).then(b.total.calls.cmp(&a.total.calls))
        }),
        SortBy::Share => rows.sort_by(|a, b| desc(a.share, b.share)),
        SortBy::Rate => rows.sort_by(|a, b| desc(a.rate, b.rate)),
        SortBy::Calls => rows.sort_by_key(|r| std::cmp::Reverse(r.total.calls)),
        SortBy::Name => rows.sort_by(|a, b| a.name.cmp(&b.name)),
    }
    rows
}

/// Threads grouped for [`thread_rows`]: (name, ranks, calls, recent calls,
/// time per region index).
type ThreadGroup = (String, usize, u64, u64, Vec<(usize, f64, f64)>);

/// The thread rows over `selection`: each thread of the selected rank, or
/// over all ranks one row per thread name. In order of calls so far.
pub fn thread_rows(snapshot: &Snapshot, selection: &Selection) -> Vec<ThreadRow> {
    let secs = window_secs(snapshot, selection);
    let mut groups: Vec<ThreadGroup> = Vec::new();
    for thread in &snapshot.threads {
        if !selection.keeps_rank(thread.rank) {
            continue;
        }
        let group = match groups.iter().position(|g| g.0 == thread.name) {
            Some(i) if selection.rank.is_none() => i,
            _ => {
                groups.push((thread.name.clone(), 0, 0, 0, Vec::new()));
                groups.len() - 1
            }
        };
        let g = &mut groups[group];
        g.1 += 1;
        for (index, cell) in &thread.regions {
            if !selection.keeps_region(&snapshot.regions[*index].name) {
                continue;
            }
            g.2 += cell.total.calls;
            g.3 += cell.recent.calls;
            match g.4.iter_mut().find(|(i, _, _)| i == index) {
                Some(t) => {
                    t.1 += cell.recent.ns;
                    t.2 += cell.total.ns;
                }
                None => g.4.push((*index, cell.recent.ns, cell.total.ns)),
            }
        }
    }
    let mut rows: Vec<ThreadRow> = groups
        .into_iter()
        .filter(|g| g.2 > 0)
        .map(|(name, ranks, calls, recent, times)| {
            let busiest = times
                .iter()
                .filter(|t| t.1 > 0.0 || t.2 > 0.0)
                .max_by(|a, b| {
                    (a.1, a.2)
                        .partial_cmp(&(b.1, b.2))
                        .unwrap_or(std::cmp::Ordering::Equal)
                })
                .map(|t| snapshot.regions[t.0].name.clone());
            ThreadRow {
                name,
                ranks,
                calls,
                rate: secs.map(|s| recent as f64 / s),
                busiest,
            }
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.calls));
    rows
}
