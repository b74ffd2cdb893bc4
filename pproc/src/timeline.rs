//! The profile as a flat list of calls, each placed on a lane: the input of
//! Gantt charts, flame graphs and trace exports.
//!
//! A lane is one track of one (rank, thread) on which calls nest properly:
//! two calls on a lane are either disjoint or one holds the other. Every
//! output draws or exports lane by lane, so none ever shows two calls
//! crossing. The lanes of a thread are:
//! - its call stack ([`TrackKind::Stack`]): every call that nests in the
//!   calls before it;
//! - overlap tracks ([`TrackKind::Overlap`]): calls that cross a call of the
//!   stack without nesting in it (async tasks polled on one thread, spans
//!   entered and left out of order), each on the first overlap track where
//!   it nests;
//! - lifetime tracks ([`TrackKind::Lifetime`]): regions named `"… [lifetime]"`
//!   (creation to close of a `tracing` span, `SpanMode::Lifetime`/`Both`),
//!   which span other work rather than call it; they never nest, not even
//!   in each other, and concurrent ones take as many tracks as overlap.
//!
//! The assignment is made once, in [`Timeline::of`], and every output reads
//! it from [`Call::lane`] and [`Call::depth`].

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use crate::palette;
use crate::profile::ProfileFile;

/// The suffix of the regions `tracing`'s lifetime mode records.
pub const LIFETIME_SUFFIX: &str = " [lifetime]";

/// Whether region `name` is a span lifetime (creation to close) rather than
/// a call.
pub fn is_lifetime(name: &str) -> bool {
    name.ends_with(LIFETIME_SUFFIX)
}

/// One region call on one rank and thread, placed on a lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// MPI rank.
    pub rank: u32,
    /// Thread index within the rank (0 where the writer did not record one).
    pub thread: u32,
    /// Index of the call's lane in [`Timeline::lanes`].
    pub lane: usize,
    /// Nesting depth on its lane (0 = outermost).
    pub depth: usize,
    /// Index of the region in [`Timeline::names`].
    pub region: usize,
    /// Start, ns (CLOCK_MONOTONIC).
    pub start: i64,
    /// End, ns; never before `start` (a damaged call's end is its start).
    pub end: i64,
}

/// What a lane holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrackKind {
    /// The thread's call stack.
    Stack,
    /// Calls that cross the thread's stack without nesting in it.
    Overlap,
    /// Span lifetimes (`"… [lifetime]"` regions), never nested.
    Lifetime,
}

/// One track of one (rank, thread): calls on it nest properly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lane {
    /// MPI rank.
    pub rank: u32,
    /// Thread index.
    pub thread: u32,
    /// What the lane holds.
    pub kind: TrackKind,
    /// Which track of this kind on this thread, from 1 (0 for the stack).
    pub index: u32,
}

/// Every selected call, sorted by (lane, start, longest first), so that a
/// parent comes before its children.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// Region names; `Call::region` indexes this.
    pub names: Vec<String>,
    /// Colour of each region (`#rrggbb`), from its place among the file's
    /// regions: the same in every chart of the file.
    pub colours: Vec<String>,
    /// The lanes, ordered by (rank, thread, kind, index).
    pub lanes: Vec<Lane>,
    /// The calls.
    pub calls: Vec<Call>,
    /// Thread names by (rank, thread), where the file has them; others are
    /// called `thread N` ([`Timeline::thread_label`]).
    pub thread_names: BTreeMap<(u32, u32), String>,
}

impl Timeline {
    /// The calls of `file` on `ranks` (all when `None`) whose region `keep`
    /// accepts, placed on lanes.
    pub fn of(file: &ProfileFile, ranks: Option<&[u32]>, keep: impl Fn(&str) -> bool) -> Timeline {
        let regions = file.regions();
        let mut names = Vec::new();
        let mut colours = Vec::new();
        let mut raw = Vec::new();
        for (file_index, region) in regions.iter().enumerate() {
            if !keep(&region.name) {
                continue;
            }
            let index = names.len();
            names.push(region.name.clone());
            colours.push(palette::colour(file_index, regions.len()));
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
                    raw.push(RawCall {
                        rank: *rank,
                        thread,
                        region: index,
                        start: *start,
                        end: (*end).max(*start),
                    });
                }
            }
        }
        let mut timeline = Timeline::from_calls(names, colours, raw);
        timeline.thread_names = file.thread_names().clone();
        timeline
    }

    /// Places `raw` calls on lanes and sorts them.
    fn from_calls(names: Vec<String>, colours: Vec<String>, mut raw: Vec<RawCall>) -> Timeline {
        raw.sort_by_key(|c| (c.rank, c.thread, c.start, Reverse(c.end), c.region));
        let lifetime: Vec<bool> = names.iter().map(|n| is_lifetime(n)).collect();
        let mut placed: Vec<(Lane, usize, RawCall)> = Vec::with_capacity(raw.len());
        let mut start = 0;
        while start < raw.len() {
            let thread = (raw[start].rank, raw[start].thread);
            let end = start
                + raw[start..]
                    .iter()
                    .take_while(|c| (c.rank, c.thread) == thread)
                    .count();
            place_thread(&raw[start..end], &lifetime, &mut placed);
            start = end;
        }
        let lanes: Vec<Lane> = placed
            .iter()
            .map(|(lane, ..)| *lane)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let lane_index: BTreeMap<Lane, usize> =
            lanes.iter().enumerate().map(|(i, l)| (*l, i)).collect();
        let mut calls: Vec<Call> = placed
            .into_iter()
            .map(|(lane, depth, c)| Call {
                rank: c.rank,
                thread: c.thread,
                lane: lane_index[&lane],
                depth,
                region: c.region,
                start: c.start,
                end: c.end,
            })
            .collect();
        calls.sort_by_key(|c| (c.lane, c.start, Reverse(c.end), c.depth));
        Timeline {
            names,
            colours,
            lanes,
            calls,
            thread_names: BTreeMap::new(),
        }
    }

    /// Earliest start and latest end, ns.
    pub fn span(&self) -> Option<(i64, i64)> {
        let start = self.calls.iter().map(|c| c.start).min()?;
        let end = self.calls.iter().map(|c| c.end).max()?;
        Some((start, end))
    }

    /// The name of thread `thread` of rank `rank`: its recorded name where
    /// the file has one, else `thread N`. Every output names threads
    /// through this function.
    pub fn thread_label(&self, rank: u32, thread: u32) -> String {
        self.thread_names
            .get(&(rank, thread))
            .cloned()
            .unwrap_or_else(|| format!("thread {thread}"))
    }

    /// The name of `lane` within its rank: the thread's name, then which
    /// track of it (`thread 3`, `thread 3 · async 1`, `thread 3 · lifetimes 2`).
    pub fn track_label(&self, lane: &Lane) -> String {
        let thread = self.thread_label(lane.rank, lane.thread);
        match lane.kind {
            TrackKind::Stack => thread,
            TrackKind::Overlap => format!("{thread} · async {}", lane.index),
            TrackKind::Lifetime => format!("{thread} · lifetimes {}", lane.index),
        }
    }

    /// The full name of `lane`: `rank R · ` and its [`Timeline::track_label`].
    pub fn lane_label(&self, lane: &Lane) -> String {
        format!("rank {} · {}", lane.rank, self.track_label(lane))
    }

    /// Begin/end events in time order, lane by lane, properly nested (what
    /// evented formats need). `visit(lane, region, at, is_begin)`, with
    /// `lane` an index into [`Timeline::lanes`].
    pub fn nested_events(&self, mut visit: impl FnMut(usize, usize, i64, bool)) {
        let mut open: Vec<(usize, i64)> = Vec::new(); // (region, end)
        let mut lane = None;
        for c in &self.calls {
            if lane != Some(c.lane) {
                if let Some(previous) = lane {
                    while let Some((region, end)) = open.pop() {
                        visit(previous, region, end, false);
                    }
                }
                lane = Some(c.lane);
            }
            while open.len() > c.depth {
                if let Some((region, end)) = open.pop() {
                    visit(c.lane, region, end, false);
                }
            }
            visit(c.lane, c.region, c.start, true);
            open.push((c.region, c.end));
        }
        if let Some(last) = lane {
            while let Some((region, end)) = open.pop() {
                visit(last, region, end, false);
            }
        }
    }

    /// Nesting depth of each call on its lane (0 = outermost), in call order.
    pub fn depths(&self) -> Vec<usize> {
        self.calls.iter().map(|c| c.depth).collect()
    }
}

/// A call before it is placed on a lane.
#[derive(Clone, Copy, Debug)]
struct RawCall {
    rank: u32,
    thread: u32,
    region: usize,
    start: i64,
    end: i64,
}

/// Places the calls of one (rank, thread), sorted by (start, longest
/// first), on that thread's lanes: each call on the first stack or overlap
/// track where it nests in the calls still open there, lifetimes on the
/// lowest free lifetime track. Pushes (lane, depth, call) to `placed`.
fn place_thread(calls: &[RawCall], lifetime: &[bool], placed: &mut Vec<(Lane, usize, RawCall)>) {
    // Per stack/overlap track, the ends of the calls open on it, outermost
    // first; track 0 is the call stack.
    let mut stacks: Vec<Vec<i64>> = Vec::new();
    // Lifetime tracks: those in use as (end, track), those free again.
    let mut busy: BinaryHeap<Reverse<(i64, u32)>> = BinaryHeap::new();
    let mut free: BTreeSet<u32> = BTreeSet::new();
    let mut lifetime_tracks = 0u32;
    for c in calls {
        let lane = |kind, index| Lane {
            rank: c.rank,
            thread: c.thread,
            kind,
            index,
        };
        if lifetime[c.region] {
            while let Some(&Reverse((end, track))) = busy.peek() {
                if end > c.start {
                    break;
                }
                busy.pop();
                free.insert(track);
            }
            let track = free.pop_first().unwrap_or_else(|| {
                lifetime_tracks += 1;
                lifetime_tracks
            });
            busy.push(Reverse((c.end, track)));
            placed.push((lane(TrackKind::Lifetime, track), 0, *c));
            continue;
        }
        let mut home = None;
        for (track, open) in stacks.iter_mut().enumerate() {
            // Calls that ended by this start are closed.
            while open
                .last()
                .is_some_and(|end| *end <= c.start && *end < c.end)
            {
                open.pop();
            }
            if open.last().is_none_or(|end| *end >= c.end) {
                home = Some(track);
                break;
            }
        }
        let track = home.unwrap_or_else(|| {
            stacks.push(Vec::new());
            stacks.len() - 1
        });
        let depth = stacks[track].len();
        stacks[track].push(c.end);
        let lane = if track == 0 {
            lane(TrackKind::Stack, 0)
        } else {
            lane(TrackKind::Overlap, track as u32)
        };
        placed.push((lane, depth, *c));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeline(names: &[&str], calls: &[(u32, usize, i64, i64)]) -> Timeline {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let colours = vec!["#000000".to_owned(); names.len()];
        let raw = calls
            .iter()
            .map(|&(thread, region, start, end)| RawCall {
                rank: 0,
                thread,
                region,
                start,
                end,
            })
            .collect();
        Timeline::from_calls(names, colours, raw)
    }

    /// No two calls on one lane cross: each pair is disjoint or nested.
    fn assert_no_crossing(t: &Timeline) {
        for (i, a) in t.calls.iter().enumerate() {
            for b in &t.calls[i + 1..] {
                if a.lane != b.lane {
                    continue;
                }
                let disjoint = a.end <= b.start || b.end <= a.start;
                let nested = (a.start <= b.start && b.end <= a.end)
                    || (b.start <= a.start && a.end <= b.end);
                assert!(disjoint || nested, "{a:?} crosses {b:?}");
            }
        }
    }

    #[test]
    fn nested_calls_share_the_stack_lane_with_depths() {
        let t = timeline(
            &["outer", "inner"],
            &[(0, 0, 0, 100), (0, 1, 10, 20), (0, 1, 30, 40)],
        );
        assert_eq!(t.lanes.len(), 1);
        assert_eq!(t.lanes[0].kind, TrackKind::Stack);
        assert_eq!(t.depths(), vec![0, 1, 1]);
    }

    #[test]
    fn crossing_calls_move_to_an_overlap_lane() {
        // a [0, 10) and b [5, 15) cross; c [12, 14) nests in b only.
        let t = timeline(
            &["a", "b", "c"],
            &[(0, 0, 0, 10), (0, 1, 5, 15), (0, 2, 12, 14)],
        );
        assert_no_crossing(&t);
        let kinds: Vec<TrackKind> = t.lanes.iter().map(|l| l.kind).collect();
        assert_eq!(kinds, vec![TrackKind::Stack, TrackKind::Overlap]);
        let b = t.calls.iter().find(|c| c.region == 1).unwrap();
        assert_eq!(t.lanes[b.lane].kind, TrackKind::Overlap);
        assert_eq!(
            t.lane_label(&t.lanes[b.lane]),
            "rank 0 · thread 0 · async 1"
        );
    }

    #[test]
    fn lifetimes_never_nest_and_concurrent_ones_get_their_own_lanes() {
        // Two overlapping lifetimes, one inside the other, and a poll.
        let t = timeline(
            &["upload [lifetime]", "upload"],
            &[
                (0, 0, 0, 100),
                (0, 0, 10, 50),
                (0, 0, 60, 90),
                (0, 1, 20, 30),
            ],
        );
        assert_no_crossing(&t);
        let lifetimes: Vec<&Call> = t.calls.iter().filter(|c| c.region == 0).collect();
        assert!(lifetimes.iter().all(|c| c.depth == 0));
        let lanes: BTreeSet<usize> = lifetimes.iter().map(|c| c.lane).collect();
        assert_eq!(lanes.len(), 2, "the third lifetime reuses the freed track");
        let poll = t.calls.iter().find(|c| c.region == 1).unwrap();
        assert_eq!(t.lanes[poll.lane].kind, TrackKind::Stack);
        assert_eq!(poll.depth, 0, "a poll is not nested under a lifetime");
    }

    #[test]
    fn nested_events_are_balanced_and_in_time_order_per_lane() {
        let t = timeline(
            &["a", "b", "x [lifetime]"],
            &[
                (0, 0, 0, 10),
                (0, 1, 5, 15),
                (1, 2, 0, 30),
                (1, 2, 5, 25),
                (1, 0, 7, 8),
            ],
        );
        let mut per_lane: BTreeMap<usize, Vec<(i64, bool)>> = BTreeMap::new();
        t.nested_events(|lane, _, at, begin| per_lane.entry(lane).or_default().push((at, begin)));
        assert_eq!(per_lane.len(), t.lanes.len());
        for events in per_lane.values() {
            assert!(events.windows(2).all(|w| w[0].0 <= w[1].0));
            let mut open = 0i32;
            for (_, begin) in events {
                open += if *begin { 1 } else { -1 };
                assert!(open >= 0);
            }
            assert_eq!(open, 0);
        }
    }
}
