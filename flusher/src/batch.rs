//! [`Batch`]: one drain's converted calls grouped by region, between the
//! rings and the writers.

use std::sync::Arc;

use scope_profiler_core::{Calibration, Record, RegionId, RegionRegistry};
use scope_profiler_format::{EventColumns, RegionCalls, RegionStats};

/// Calls grouped by region. Clearing keeps the allocations, so a steady run
/// converts without allocating.
#[derive(Debug, Default)]
pub struct Batch {
    /// `columns[id]`: region `id`'s calls in this batch.
    columns: Vec<EventColumns>,
    /// `names[id]`: region `id`'s name, looked up once per run and region.
    names: Vec<Arc<str>>,
    /// `summarized[id]`: calls of region `id` already handed out by
    /// [`summarize_new`](Self::summarize_new).
    summarized: Vec<usize>,
    /// Regions with at least one call, in first-touched order.
    touched: Vec<RegionId>,
}

impl Batch {
    /// Adds one thread's calls, oldest first, converting ticks with `cal`.
    /// Consecutive calls of one region (a loop's) are appended as one run.
    pub fn push_records(&mut self, records: &[Record], thread: u32, cal: &Calibration) {
        let mut rest = records;
        while let Some(first) = rest.first() {
            let region = first.region;
            let run = rest
                .iter()
                .position(|r| r.region != region)
                .unwrap_or(rest.len());
            let (calls, later) = rest.split_at(run);
            self.columns_mut(region).extend_thread_run(
                calls,
                thread,
                |r| cal.to_ns(r.start),
                |r| cal.to_ns(r.end),
            );
            rest = later;
        }
    }

    fn columns_mut(&mut self, region: RegionId) -> &mut EventColumns {
        let i = region.index();
        if i >= self.columns.len() {
            self.grow_to(i + 1);
        }
        let c = &mut self.columns[i];
        if c.is_empty() {
            self.touched.push(region);
        }
        c
    }

    /// Makes room for region ids below `len`, naming the new ones.
    #[cold]
    fn grow_to(&mut self, len: usize) {
        let registry = RegionRegistry::global();
        for id in self.columns.len()..len {
            self.names
                .push(registry.name_or_placeholder(RegionId(id as u32)));
        }
        self.columns.resize_with(len, EventColumns::default);
        self.summarized.resize(len, 0);
    }

    /// The regions with calls, in first-touched order, as the writers take
    /// them.
    pub fn regions(&self) -> impl ExactSizeIterator<Item = RegionCalls<'_>> + Clone {
        self.touched.iter().map(|id| RegionCalls {
            id: id.0,
            name: &self.names[id.index()],
            calls: &self.columns[id.index()],
        })
    }

    /// Hands `sink` the statistics of each region's calls added since the
    /// last call (or the last [`clear`](Self::clear)).
    pub fn summarize_new(&mut self, mut sink: impl FnMut(RegionId, RegionStats)) {
        for id in &self.touched {
            let (c, from) = (&self.columns[id.index()], &mut self.summarized[id.index()]);
            if *from < c.len() {
                sink(
                    *id,
                    RegionStats::of_calls(&c.starts()[*from..], &c.ends()[*from..]),
                );
                *from = c.len();
            }
        }
    }

    /// Total calls held.
    pub fn len(&self) -> usize {
        self.regions().map(|r| r.calls.len()).sum()
    }

    /// Whether no call is held.
    pub fn is_empty(&self) -> bool {
        self.touched.is_empty()
    }

    /// Empties the batch, keeping capacity.
    pub fn clear(&mut self) {
        for id in self.touched.drain(..) {
            self.columns[id.index()].clear();
            self.summarized[id.index()] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_regions_keep_their_own_calls_in_order() {
        let cal = Calibration::take();
        let registry = RegionRegistry::global();
        let [a, b, c] = ["batch a", "batch b/c", "batch d"].map(|n| registry.intern(n));
        let rec = |region, t| Record {
            start: t,
            end: t + 10,
            region,
        };
        let records = [
            rec(b, 100),
            rec(b, 200),
            rec(a, 300),
            rec(b, 400),
            rec(c, 500),
        ];
        let mut batch = Batch::default();
        batch.push_records(&records, 7, &cal);
        let order: Vec<(u32, &str)> = batch.regions().map(|r| (r.id, r.name)).collect();
        assert_eq!(
            order,
            [(b.0, "batch b/c"), (a.0, "batch a"), (c.0, "batch d")]
        );
        let bs = batch.regions().next().unwrap().calls;
        assert_eq!(
            bs.starts(),
            [cal.to_ns(100), cal.to_ns(200), cal.to_ns(400)]
        );
        assert_eq!(bs.threads(), [7, 7, 7]);
        assert_eq!(batch.len(), 5);
        let mut calls = Vec::new();
        batch.summarize_new(|id, stats| calls.push((id, stats.calls)));
        assert_eq!(calls, [(b, 3), (a, 1), (c, 1)]);
        batch.summarize_new(|_, _| panic!("nothing new"));
        batch.clear();
        assert!(batch.is_empty());
    }
}
