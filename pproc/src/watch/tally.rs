//! [`RankTally`]: a rank's calls and time per thread and region so far,
//! added up frame by frame as its stream is followed.
//!
//! Region ids and thread indices are dense in a stream (the runtime
//! numbers them from 0), so the counts are vectors indexed by them: one
//! add per call, no lookup. Ids past [`MAX_REGIONS`] or [`MAX_THREADS`]
//! cannot come from the runtime; their calls are counted as skipped.

use scope_profiler_format::stream::{Frame, RankCounters, StreamHeader};

/// Region ids at or above this are skipped (the runtime interns far fewer).
pub const MAX_REGIONS: usize = 1 << 20;
/// Thread indices at or above this are skipped.
pub const MAX_THREADS: usize = 1 << 16;

/// Calls and time of one region on one thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Calls that ended (timed or not).
    pub calls: u64,
    /// Time inside the region, clock ticks (0 for count-only calls).
    pub ticks: u64,
}

impl Tally {
    /// What was added since `before` (an earlier value of the same tally).
    pub fn since(&self, before: &Tally) -> Tally {
        Tally {
            calls: self.calls.saturating_sub(before.calls),
            ticks: self.ticks.wrapping_sub(before.ticks),
        }
    }

    /// Adds `other`.
    pub fn add(&mut self, other: &Tally) {
        self.calls += other.calls;
        self.ticks = self.ticks.wrapping_add(other.ticks);
    }
}

/// One thread of a rank.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadTally {
    /// The thread's name, if the stream named it.
    pub name: Option<String>,
    /// Calls and time by region id.
    pub regions: Vec<Tally>,
}

/// Everything a rank's stream said so far, totalled.
#[derive(Clone, Debug, Default)]
pub struct RankTally {
    /// The stream's header (from its first frame).
    pub header: Option<StreamHeader>,
    /// Region names by id.
    pub names: Vec<Option<String>>,
    /// Threads by index.
    pub threads: Vec<ThreadTally>,
    /// Calls recorded without timestamps (count-only runs), by region id;
    /// the stream does not say on which thread.
    pub untimed: Vec<u64>,
    /// The latest end of a call, ticks.
    pub last_end: Option<u64>,
    /// The rank's counters, once finalize wrote them.
    pub counters: Option<RankCounters>,
    /// Calls skipped for ids out of range.
    pub skipped: u64,
}

/// Grows `v` so that `v[i]` exists.
fn slot<T: Default>(v: &mut Vec<T>, i: usize) -> &mut T {
    if i >= v.len() {
        v.resize_with(i + 1, T::default);
    }
    &mut v[i]
}

impl RankTally {
    /// Adds one frame's items.
    pub fn add(&mut self, frame: &Frame) {
        if self.header.is_none() {
            self.header = frame.header;
        }
        for (id, name) in &frame.names {
            if (*id as usize) < MAX_REGIONS {
                *slot(&mut self.names, *id as usize) = Some(name.clone());
            }
        }
        for (thread, name) in &frame.threads {
            if (*thread as usize) < MAX_THREADS {
                slot(&mut self.threads, *thread as usize).name = Some(name.clone());
            }
        }
        // Events come in runs of one thread (an `EVENTS` item each), in the
        // order they ended: one thread lookup and one latest end per run.
        for run in frame.events.chunk_by(|a, b| a.thread == b.thread) {
            let thread = run[0].thread as usize;
            if thread >= MAX_THREADS {
                self.skipped += run.len() as u64;
                continue;
            }
            let regions = &mut slot(&mut self.threads, thread).regions;
            for e in run {
                let region = e.region as usize;
                if region >= regions.len() {
                    if region >= MAX_REGIONS {
                        self.skipped += 1;
                        continue;
                    }
                    regions.resize(region + 1, Tally::default());
                }
                let tally = &mut regions[region];
                tally.calls += 1;
                tally.ticks = tally.ticks.wrapping_add(e.end.wrapping_sub(e.start));
            }
            self.last_end = self.last_end.max(run.last().map(|e| e.end));
        }
        for &(region, calls) in &frame.counts {
            if (region as usize) < MAX_REGIONS {
                *slot(&mut self.untimed, region as usize) += calls;
            } else {
                self.skipped += calls;
            }
        }
        if frame.counters.is_some() {
            self.counters = frame.counters;
        }
    }

    /// Region `id`'s name (`region#<id>` if the stream has not named it).
    pub fn name(&self, id: usize) -> String {
        match self.names.get(id) {
            Some(Some(name)) => name.clone(),
            _ => format!("region#{id}"),
        }
    }

    /// Thread `index`'s name (`thread <index>` if the stream has not named it).
    pub fn thread_name(&self, index: usize) -> String {
        match self.threads.get(index).and_then(|t| t.name.as_ref()) {
            Some(name) => name.clone(),
            None => format!("thread {index}"),
        }
    }

    /// Nanoseconds per clock tick (1 before the header is read).
    pub fn ns_per_tick(&self) -> f64 {
        self.header.map_or(1.0, |h| h.scale.ns_per_tick)
    }

    /// Time from the rank's setup to the end of its latest call, ns.
    pub fn elapsed_ns(&self) -> Option<f64> {
        let header = self.header?;
        let end = header.scale.to_ns(self.last_end?);
        Some(end.saturating_sub(header.scale.anchor_ns).max(0) as f64)
    }

    /// Calls and ticks per region id, summed over threads (untimed calls
    /// included).
    pub fn per_region(&self) -> Vec<Tally> {
        let mut sums: Vec<Tally> = Vec::new();
        for thread in &self.threads {
            for (id, t) in thread.regions.iter().enumerate() {
                slot(&mut sums, id).add(t);
            }
        }
        for (id, calls) in self.untimed.iter().enumerate() {
            slot(&mut sums, id).calls += calls;
        }
        sums
    }
}

#[cfg(test)]
mod tests {
    use scope_profiler_format::stream::{StreamEvent, TickScale};

    use super::*;

    #[test]
    fn frames_add_up_per_thread_and_region_and_bad_ids_are_skipped() {
        let mut tally = RankTally::default();
        let mut frame = Frame {
            header: Some(StreamHeader {
                rank: 0,
                time_trace: true,
                scale: TickScale {
                    anchor_ticks: 100,
                    anchor_ns: 1_000,
                    ns_per_tick: 2.0,
                },
            }),
            names: vec![(0, "solve".into()), (1, "io".into())],
            threads: vec![(1, "worker".into())],
            ..Frame::default()
        };
        let call = |thread, region, start, end| StreamEvent {
            thread,
            region,
            start,
            end,
        };
        frame.events = vec![
            call(0, 0, 100, 110),
            call(1, 0, 105, 125),
            call(0, 1, 130, 131),
            call(0, u32::MAX, 0, 1),
        ];
        frame.counts = vec![(1, 5)];
        tally.add(&frame);
        tally.add(&Frame {
            events: vec![call(0, 0, 200, 300)],
            ..Frame::default()
        });
        assert_eq!(
            tally.threads[0].regions[0],
            Tally {
                calls: 2,
                ticks: 110
            }
        );
        assert_eq!(
            tally.threads[1].regions[0],
            Tally {
                calls: 1,
                ticks: 20
            }
        );
        assert_eq!(tally.per_region()[1], Tally { calls: 6, ticks: 1 });
        assert_eq!(tally.skipped, 1);
        assert_eq!(
            (tally.name(1), tally.name(7)),
            ("io".into(), "region#7".into())
        );
        assert_eq!(tally.thread_name(1), "worker");
        assert_eq!(tally.thread_name(0), "thread 0");
        // Setup at tick 100 (1 000 ns); the latest end at tick 300.
        assert_eq!(tally.elapsed_ns(), Some(400.0));
    }
}
