//! The profile as a flat list of calls, the input of Gantt charts, flame
//! graphs and trace exports.

use crate::profile::ProfileFile;

/// One region call on one rank and thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// MPI rank.
    pub rank: u32,
    /// Thread index within the rank (0 where the writer did not record one).
    pub thread: u32,
    /// Index of the region in [`Timeline::names`].
    pub region: usize,
    /// Start, ns (CLOCK_MONOTONIC).
    pub start: i64,
    /// End, ns.
    pub end: i64,
}

/// Every selected call, sorted by (rank, thread, start, longest first).
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// Region names; `Call::region` indexes this.
    pub names: Vec<String>,
    /// The calls.
    pub calls: Vec<Call>,
}

impl Timeline {
    /// The calls of `file` on `ranks` (all when `None`) whose region `keep` accepts.
    pub fn of(file: &ProfileFile, ranks: Option<&[u32]>, keep: impl Fn(&str) -> bool) -> Timeline {
        let mut timeline = Timeline::default();
        for region in file.regions().iter().filter(|r| keep(&r.name)) {
            let index = timeline.names.len();
            timeline.names.push(region.name.clone());
            for (rank, events) in &region.per_rank {
                if ranks.is_some_and(|r| !r.contains(rank)) {
                    continue;
                }
                for (i, (start, end)) in events.starts.iter().zip(&events.ends).enumerate() {
                    let thread = events
                        .threads
                        .as_ref()
                        .and_then(|t| t.get(i))
                        .copied()
                        .unwrap_or(0);
                    timeline.calls.push(Call {
                        rank: *rank,
                        thread,
                        region: index,
                        start: *start,
                        end: *end,
                    });
                }
            }
        }
        timeline
            .calls
            .sort_by_key(|c| (c.rank, c.thread, c.start, std::cmp::Reverse(c.end)));
        timeline
    }

    /// Earliest start and latest end, ns.
    pub fn span(&self) -> Option<(i64, i64)> {
        let start = self.calls.iter().map(|c| c.start).min()?;
        let end = self.calls.iter().map(|c| c.end).max()?;
        Some((start, end))
    }

    /// The (rank, thread) lanes, in order.
    pub fn lanes(&self) -> Vec<(u32, u32)> {
        let mut lanes: Vec<(u32, u32)> = self.calls.iter().map(|c| (c.rank, c.thread)).collect();
        lanes.dedup();
        lanes
    }

    /// Begin/end events in time order per lane, properly nested (what evented
    /// formats need): a call that outlives its parent is clamped to the
    /// parent's end. `visit(lane, region, at, is_begin)`.
    pub fn nested_events(&self, mut visit: impl FnMut((u32, u32), usize, i64, bool)) {
        let depths = self.depths();
        let mut open: Vec<(usize, i64)> = Vec::new(); // (region, end)
        let mut lane = None;
        for (i, c) in self.calls.iter().enumerate() {
            let this_lane = (c.rank, c.thread);
            if lane != Some(this_lane) {
                if let Some(previous) = lane {
                    while let Some((region, end)) = open.pop() {
                        visit(previous, region, end, false);
                    }
                }
                lane = Some(this_lane);
            }
            while open.len() > depths[i] {
                if let Some((region, end)) = open.pop() {
                    visit(this_lane, region, end, false);
                }
            }
            let end = open
                .last()
                .map_or(c.end, |(_, parent_end)| c.end.min(*parent_end));
            visit(this_lane, c.region, c.start, true);
            open.push((c.region, end));
        }
        if let Some(last) = lane {
            while let Some((region, end)) = open.pop() {
                visit(last, region, end, false);
            }
        }
    }

    /// Nesting depth of each call within its lane (0 = outermost), from the
    /// timestamps: a call is inside the previous open call that ends no
    /// earlier than it does.
    pub fn depths(&self) -> Vec<usize> {
        let mut depths = vec![0; self.calls.len()];
        let mut stack: Vec<usize> = Vec::new();
        let mut lane = None;
        for (i, c) in self.calls.iter().enumerate() {
            if lane != Some((c.rank, c.thread)) {
                stack.clear();
                lane = Some((c.rank, c.thread));
            }
            while let Some(&top) = stack.last() {
                if self.calls[top].end >= c.end && self.calls[top].start <= c.start {
                    break;
                }
                stack.pop();
            }
            depths[i] = stack.len();
            stack.push(i);
        }
        depths
    }
}
