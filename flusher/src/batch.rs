//! [`Batch`]: converted events grouped by region, between drain and write.

use scope_profiler_core::{RegionId, RegionStats};

/// One region's converted events.
#[derive(Debug, Default, Clone)]
pub struct Columns {
    /// Start of each call, CLOCK_MONOTONIC ns.
    pub starts: Vec<i64>,
    /// End of each call, CLOCK_MONOTONIC ns.
    pub ends: Vec<i64>,
    /// Thread index of each call.
    pub threads: Vec<u32>,
    /// Calls already handed out by [`Batch::summarize_new`].
    summarized: usize,
}

/// Events grouped by region. Clearing keeps the allocations, so a steady run
/// converts without allocating.
#[derive(Debug, Default)]
pub struct Batch {
    columns: Vec<Columns>,
    /// Regions with at least one event, in first-touched order.
    touched: Vec<RegionId>,
}

impl Batch {
    /// Adds one call.
    #[inline]
    pub fn push(&mut self, region: RegionId, start: i64, end: i64, thread: u32) {
        let i = region.index();
        if i >= self.columns.len() {
            self.columns.resize_with(i + 1, Columns::default);
        }
        let c = &mut self.columns[i];
        if c.starts.is_empty() {
            self.touched.push(region);
        }
        c.starts.push(start);
        c.ends.push(end);
        c.threads.push(thread);
    }

    /// Regions with events and their columns, in first-touched order.
    pub fn regions(&self) -> impl Iterator<Item = (RegionId, &Columns)> {
        self.touched
            .iter()
            .map(|id| (*id, &self.columns[id.index()]))
    }

    /// Hands `sink` the statistics of each region's calls added since the
    /// last call (or the last [`clear`](Self::clear)).
    pub fn summarize_new(&mut self, mut sink: impl FnMut(RegionId, RegionStats)) {
        for id in &self.touched {
            let c = &mut self.columns[id.index()];
            let from = c.summarized;
            if from < c.starts.len() {
                sink(
                    *id,
                    RegionStats::of_calls(&c.starts[from..], &c.ends[from..]),
                );
                c.summarized = c.starts.len();
            }
        }
    }

    /// Total events held.
    pub fn len(&self) -> usize {
        self.regions().map(|(_, c)| c.starts.len()).sum()
    }

    /// Whether no event is held.
    pub fn is_empty(&self) -> bool {
        self.touched.is_empty()
    }

    /// Empties the batch, keeping capacity.
    pub fn clear(&mut self) {
        for id in self.touched.drain(..) {
            let c = &mut self.columns[id.index()];
            c.starts.clear();
            c.ends.clear();
            c.threads.clear();
            c.summarized = 0;
        }
    }
}
