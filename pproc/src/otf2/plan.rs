//! [`Plan`]: which OTF2 location each call goes to, and the ENTER/LEAVE
//! events of each location in the order OTF2 needs. Pure Rust: no OTF2
//! library involved, so it is built and tested without the `otf2` feature.
//!
//! OTF2 events on one location must nest like a call stack. Calls on one
//! (rank, thread) lane usually do, but not always: a region that is kept
//! open across other calls (the subscriber's `"<name> [lifetime]"` regions,
//! an async task's span) overlaps its neighbours without containing them.
//! Such a call goes to another *track* of the same thread, and each track
//! becomes a location of its own. The assignment is greedy in start order:
//! a call goes to the first track on which, once every call that ended by
//! its start is closed, it is outermost or inside the innermost open call.
//! A lane whose calls nest properly stays one track.

use std::cmp::Reverse;
use std::ops::Range;

use crate::timeline::{Call, Timeline};

/// One OTF2 location: one track of one thread of one rank.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// Index in [`Plan::groups`] of the location group (rank) it belongs to.
    pub group: usize,
    /// MPI rank.
    pub rank: u32,
    /// Thread index within the rank.
    pub thread: u32,
    /// 0 for the thread's own call stack; 1, 2, … for calls that overlap
    /// it without nesting.
    pub track: u32,
    /// Its calls, as a range of [`Plan::order`].
    calls: Range<usize>,
}

impl Location {
    /// Number of calls on this location (each gives one ENTER and one LEAVE).
    pub fn calls(&self) -> usize {
        self.calls.len()
    }

    /// The location's display name: `thread T`, or `thread T (overlapping
    /// calls K)` for track K > 0.
    pub fn name(&self) -> String {
        if self.track == 0 {
            format!("thread {}", self.thread)
        } else {
            format!("thread {} (overlapping calls {})", self.thread, self.track)
        }
    }
}

/// ENTER or LEAVE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The call starts.
    Enter,
    /// The call ends.
    Leave,
}

/// One event on one location.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// ENTER or LEAVE.
    pub kind: EventKind,
    /// Index of the region in [`Timeline::names`].
    pub region: usize,
    /// ns, CLOCK_MONOTONIC, as in the profile.
    pub time: i64,
}

/// The locations of a timeline and the calls on each.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// Ranks, ascending, one location group each; a group's id is its index.
    pub groups: Vec<u32>,
    /// Locations ordered by (rank, thread, track); a location's id is its index.
    pub locations: Vec<Location>,
    /// Indices into `Timeline::calls`, grouped by location; within a
    /// location, in (start, longest first) order.
    order: Vec<usize>,
}

/// A call's end, or its start when the profile has it ending before it
/// starts (damaged input): such a call is kept, with zero length.
fn end_of(call: &Call) -> i64 {
    call.end.max(call.start)
}

impl Plan {
    /// Plans `timeline`'s locations: one group per rank in `ranks` or with
    /// calls (ranks without calls get a group and no location), then per
    /// lane one location per track. Does not assume `timeline.calls` is
    /// sorted.
    pub fn of(timeline: &Timeline, ranks: &[u32]) -> Plan {
        let calls = &timeline.calls;
        let mut by_lane: Vec<usize> = (0..calls.len()).collect();
        by_lane.sort_by_key(|&i| {
            let c = &calls[i];
            (c.rank, c.thread, c.start, Reverse(end_of(c)), i)
        });
        let tracks = assign_tracks(calls, &by_lane);

        let mut groups: Vec<u32> = ranks
            .iter()
            .copied()
            .chain(calls.iter().map(|c| c.rank))
            .collect();
        groups.sort_unstable();
        groups.dedup();

        // Group by (rank, thread, track); the sort is stable, so each
        // location keeps its calls in start order.
        let mut order: Vec<(u32, usize)> = by_lane.iter().map(|&i| (tracks[i], i)).collect();
        order.sort_by_key(|&(track, i)| (calls[i].rank, calls[i].thread, track));
        let mut locations: Vec<Location> = Vec::new();
        for (at, &(track, i)) in order.iter().enumerate() {
            let c = &calls[i];
            match locations.last_mut() {
                Some(l) if (l.rank, l.thread, l.track) == (c.rank, c.thread, track) => {
                    l.calls.end = at + 1;
                }
                _ => locations.push(Location {
                    group: groups.binary_search(&c.rank).unwrap_or_default(),
                    rank: c.rank,
                    thread: c.thread,
                    track,
                    calls: at..at + 1,
                }),
            }
        }
        Plan {
            groups,
            locations,
            order: order.into_iter().map(|(_, i)| i).collect(),
        }
    }

    /// Visits location `location`'s events in order: per call an ENTER at
    /// its start and a LEAVE at its end, properly nested (a call that
    /// starts where its parent starts is entered after it; one that ends
    /// where its parent ends is left before it), timestamps never
    /// decreasing. Visits nothing for an index out of range.
    pub fn events(&self, timeline: &Timeline, location: usize, mut visit: impl FnMut(Event)) {
        let Some(l) = self.locations.get(location) else {
            return;
        };
        // (region, end) of the open calls, innermost last.
        let mut open: Vec<(usize, i64)> = Vec::new();
        for &i in &self.order[l.calls.clone()] {
            let Some(c) = timeline.calls.get(i) else {
                continue;
            };
            while let Some(&(region, end)) = open.last() {
                if end > c.start {
                    break;
                }
                open.pop();
                visit(Event {
                    kind: EventKind::Leave,
                    region,
                    time: end,
                });
            }
            visit(Event {
                kind: EventKind::Enter,
                region: c.region,
                time: c.start,
            });
            open.push((c.region, end_of(c)));
        }
        while let Some((region, end)) = open.pop() {
            visit(Event {
                kind: EventKind::Leave,
                region,
                time: end,
            });
        }
    }
}

/// The track of each call (indexed like `calls`), given the calls' indices
/// in (rank, thread, start, longest first) order.
fn assign_tracks(calls: &[Call], by_lane: &[usize]) -> Vec<u32> {
    let mut tracks = vec![0u32; calls.len()];
    // Per track of the current lane, the ends of its open calls, innermost
    // last. Invariant: each stack's ends never increase towards the top
    // (every call is inside the one below it).
    let mut stacks: Vec<Vec<i64>> = Vec::new();
    let mut lane = None;
    for &i in by_lane {
        let c = &calls[i];
        if lane != Some((c.rank, c.thread)) {
            stacks.clear();
            lane = Some((c.rank, c.thread));
        }
        let end = end_of(c);
        let mut placed = None;
        for (k, stack) in stacks.iter_mut().enumerate() {
            // Calls that ended by this start are closed for good: later
            // calls start no earlier. The invariant makes the ended ones
            // exactly a top segment of the stack.
            while stack.last().is_some_and(|&e| e <= c.start) {
                stack.pop();
            }
            // The open innermost call started no later (start order), so
            // this call is inside it iff it ends no later.
            if stack.last().is_none_or(|&e| end <= e) {
                stack.push(end);
                placed = Some(k);
                break;
            }
        }
        let k = placed.unwrap_or_else(|| {
            stacks.push(vec![end]);
            stacks.len() - 1
        });
        tracks[i] = u32::try_from(k).unwrap_or(u32::MAX);
    }
    tracks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(thread: u32, region: usize, start: i64, end: i64) -> Call {
        Call {
            rank: 0,
            thread,
            region,
            start,
            end,
            lane: 0,
            depth: 0,
        }
    }

    fn timeline(calls: Vec<Call>) -> Timeline {
        Timeline {
            names: vec!["a".into(), "b".into(), "c".into(), "d [lifetime]".into()],
            colours: Vec::new(),
            lanes: Vec::new(),
            calls,
            thread_names: Default::default(),
        }
    }

    /// Events of every location as (kind, region, time), `E`/`L`.
    fn events(t: &Timeline, plan: &Plan) -> Vec<Vec<(char, usize, i64)>> {
        (0..plan.locations.len())
            .map(|l| {
                let mut out = Vec::new();
                plan.events(t, l, |e| {
                    let k = if e.kind == EventKind::Enter { 'E' } else { 'L' };
                    out.push((k, e.region, e.time));
                });
                out
            })
            .collect()
    }

    #[test]
    fn nested_calls_with_equal_timestamps_nest_outer_first() {
        // a [0, 10] holds b [0, 10] (same bounds) holds c [0, 4].
        let t = timeline(vec![call(0, 2, 0, 4), call(0, 1, 0, 10), call(0, 0, 0, 10)]);
        let plan = Plan::of(&t, &[0]);
        assert_eq!(plan.locations.len(), 1);
        let ev = events(&t, &plan);
        // Equal intervals keep file order: region 1 is listed first.
        assert_eq!(
            ev[0],
            vec![
                ('E', 1, 0),
                ('E', 0, 0),
                ('E', 2, 0),
                ('L', 2, 4),
                ('L', 0, 10),
                ('L', 1, 10)
            ]
        );
    }

    #[test]
    fn sequential_calls_touching_leave_before_enter() {
        let t = timeline(vec![call(0, 0, 0, 5), call(0, 1, 5, 9)]);
        let plan = Plan::of(&t, &[0]);
        assert_eq!(
            events(&t, &plan)[0],
            vec![('E', 0, 0), ('L', 0, 5), ('E', 1, 5), ('L', 1, 9)]
        );
    }

    #[test]
    fn overlapping_lifetime_gets_its_own_location() {
        // a [0, 100] on thread 0; the lifetime d [10, 200] outlives it; b
        // and c run inside a and after it.
        let t = timeline(vec![
            call(0, 0, 0, 100),
            call(0, 3, 10, 200),
            call(0, 1, 20, 30),
            call(0, 2, 150, 160),
        ]);
        let plan = Plan::of(&t, &[0]);
        let names: Vec<String> = plan.locations.iter().map(Location::name).collect();
        assert_eq!(names, ["thread 0", "thread 0 (overlapping calls 1)"]);
        let ev = events(&t, &plan);
        assert_eq!(
            ev[0],
            vec![
                ('E', 0, 0),
                ('E', 1, 20),
                ('L', 1, 30),
                ('L', 0, 100),
                ('E', 2, 150),
                ('L', 2, 160)
            ]
        );
        assert_eq!(ev[1], vec![('E', 3, 10), ('L', 3, 200)]);
    }

    #[test]
    fn recursion_nests_on_one_location() {
        // fib(3) [0, 50] ⊃ fib(2) [1, 30] ⊃ fib(1) [2, 10], fib(0) [11, 20]; fib(1) [31, 49].
        let t = timeline(vec![
            call(0, 0, 0, 50),
            call(0, 0, 1, 30),
            call(0, 0, 2, 10),
            call(0, 0, 11, 20),
            call(0, 0, 31, 49),
        ]);
        let plan = Plan::of(&t, &[0]);
        assert_eq!(plan.locations.len(), 1);
        let ev = events(&t, &plan);
        let depth = ev[0].iter().fold((0i32, 0i32), |(d, max), e| {
            let d = if e.0 == 'E' { d + 1 } else { d - 1 };
            (d, max.max(d))
        });
        assert_eq!(depth, (0, 3));
    }

    #[test]
    fn groups_cover_ranks_without_calls_and_locations_are_per_thread() {
        let mut calls = vec![call(0, 0, 0, 5), call(2, 0, 1, 3)];
        calls.push(Call {
            rank: 3,
            ..call(0, 1, 0, 1)
        });
        let t = timeline(calls);
        let plan = Plan::of(&t, &[0, 1, 2, 3]);
        assert_eq!(plan.groups, [0, 1, 2, 3]);
        let lanes: Vec<(usize, u32, u32)> = plan
            .locations
            .iter()
            .map(|l| (l.group, l.rank, l.thread))
            .collect();
        assert_eq!(lanes, [(0, 0, 0), (0, 0, 2), (3, 3, 0)]);
    }

    #[test]
    fn damaged_call_ending_before_it_starts_is_kept_with_zero_length() {
        let t = timeline(vec![call(0, 0, 10, 3)]);
        let plan = Plan::of(&t, &[0]);
        assert_eq!(events(&t, &plan)[0], vec![('E', 0, 10), ('L', 0, 10)]);
    }

    #[test]
    fn every_call_gives_one_enter_and_one_leave_in_time_order() {
        // A pseudo-random mix of nested and overlapping calls on 3 threads.
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut calls = Vec::new();
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let start = (x % 1000) as i64;
            let len = ((x >> 20) % 200) as i64;
            calls.push(call(
                (x >> 40) as u32 % 3,
                (x >> 50) as usize % 4,
                start,
                start + len,
            ));
        }
        let t = timeline(calls);
        let plan = Plan::of(&t, &[0]);
        let ev = events(&t, &plan);
        assert_eq!(ev.iter().map(Vec::len).sum::<usize>(), 4000);
        for location in &ev {
            let mut stack = Vec::new();
            for w in location.windows(2) {
                assert!(w[0].2 <= w[1].2, "time goes back: {w:?}");
            }
            for &(k, region, _) in location {
                if k == 'E' {
                    stack.push(region);
                } else {
                    assert_eq!(stack.pop(), Some(region));
                }
            }
            assert!(stack.is_empty());
        }
    }
}
