//! [`Batch`]: converted events grouped by region, between drain and write.

use scope_profiler_core::{Calibration, Record, RegionId, RegionStats};

/// One region's converted events: three columns, always of one length
/// (only [`Batch`] writes them).
#[derive(Debug, Default, Clone)]
pub struct Columns {
    starts: Vec<i64>,
    ends: Vec<i64>,
    threads: Vec<u32>,
    /// Calls already handed out by [`Batch::summarize_new`].
    summarized: usize,
}

impl Columns {
    /// Start of each call, CLOCK_MONOTONIC ns.
    pub fn starts(&self) -> &[i64] {
        &self.starts
    }

    /// End of each call, CLOCK_MONOTONIC ns.
    pub fn ends(&self) -> &[i64] {
        &self.ends
    }

    /// Thread index of each call.
    pub fn threads(&self) -> &[u32] {
        &self.threads
    }

    /// Calls held: the length of every column.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether no call is held.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }
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
    /// Adds one thread's calls, oldest first, converting ticks with `cal`.
    /// Consecutive calls of one region (a loop's) are appended as one run:
    /// three tight `extend`s instead of three pushes per call.
    pub fn push_records(&mut self, records: &[Record], thread: u32, cal: &Calibration) {
        let mut rest = records;
        while let Some(first) = rest.first() {
            let region = first.region;
            let run = rest
                .iter()
                .position(|r| r.region != region)
                .unwrap_or(rest.len());
            let (calls, later) = rest.split_at(run);
            let c = self.columns_mut(region);
            c.starts.extend(calls.iter().map(|r| cal.to_ns(r.start)));
            c.ends.extend(calls.iter().map(|r| cal.to_ns(r.end)));
            c.threads.extend(std::iter::repeat_n(thread, run));
            rest = later;
        }
    }

    fn columns_mut(&mut self, region: RegionId) -> &mut Columns {
        let i = region.index();
        if i >= self.columns.len() {
            self.columns.resize_with(i + 1, Columns::default);
        }
        let c = &mut self.columns[i];
        if c.starts.is_empty() {
            self.touched.push(region);
        }
        c
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
        self.regions().map(|(_, c)| c.len()).sum()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleaved_regions_keep_their_own_calls_in_order() {
        let cal = Calibration::take();
        let rec = |region, t| Record {
            start: t,
            end: t + 10,
            region: RegionId(region),
        };
        let records = [
            rec(1, 100),
            rec(1, 200),
            rec(0, 300),
            rec(1, 400),
            rec(2, 500),
        ];
        let mut batch = Batch::default();
        batch.push_records(&records, 7, &cal);
        let order: Vec<RegionId> = batch.regions().map(|(id, _)| id).collect();
        assert_eq!(order, [RegionId(1), RegionId(0), RegionId(2)]);
        let (_, ones) = batch.regions().next().unwrap();
        assert_eq!(
            ones.starts(),
            [cal.to_ns(100), cal.to_ns(200), cal.to_ns(400)]
        );
        assert_eq!(ones.threads(), [7, 7, 7]);
        assert_eq!(batch.len(), 5);
        let mut calls = Vec::new();
        batch.summarize_new(|id, stats| calls.push((id, stats.calls)));
        assert_eq!(
            calls,
            [(RegionId(1), 3), (RegionId(0), 1), (RegionId(2), 1)]
        );
        batch.summarize_new(|_, _| panic!("nothing new"));
        batch.clear();
        assert!(batch.is_empty());
    }
}
