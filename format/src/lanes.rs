//! Lanes: the tracks of one thread on which its calls nest properly, the
//! shape every timeline reader needs (a call stack is only defined where
//! any two calls are disjoint or one holds the other).
//!
//! A thread's calls go, in (start, longest first) order:
//! - on its call stack ([`TrackKind::Stack`]) when they nest in the calls
//!   open there;
//! - else on the first overlap track ([`TrackKind::Overlap`]) where they
//!   nest: calls that cross the stack (futures polled on one thread, spans
//!   entered and left out of order);
//! - span lifetimes (regions named `"… [lifetime]"`, creation to close of a
//!   `tracing` span in `SpanMode::Lifetime`/`Both`) on the lowest free
//!   lifetime track ([`TrackKind::Lifetime`]): they span other work rather
//!   than call it, so they never nest, not even in each other.
//!
//! These are the lanes `scope-profiler-pproc` draws and exports, and the
//! columnar writer stores them as scope-profiler 0.7.5's thread and task
//! lanes ([`RankLanes`]).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use rayon::slice::ParallelSliceMut;

use crate::read::RegionData;

/// The suffix of the regions `tracing`'s lifetime mode records.
pub const LIFETIME_SUFFIX: &str = " [lifetime]";

/// Whether region `name` is a span lifetime (creation to close) rather than
/// a call.
pub fn is_lifetime(name: &str) -> bool {
    name.ends_with(LIFETIME_SUFFIX)
}

/// What finalize's summary and `scope-profiler-pproc` say, once, about a
/// schema-1 file for which [`several_lanes`] holds.
pub const SCHEMA_1_LANES_NOTE: &str = "note: scope-profiler 0.7.5 reads a schema-1 file's threads and \
     span lifetimes as one call stack per rank (its exports fail with NestingError where their calls \
     cross); profile with `Config::output_schema(OutputSchema::Columnar)` for a file in which it tells \
     them apart";

/// Whether a rank of `regions` holds calls of several threads, or a span
/// lifetime has calls: lanes that scope-profiler 0.7.5 reads only from a
/// columnar file (`events/thread_ids`, `events/task_ids`), never from
/// schema 1.
pub fn several_lanes(regions: &[RegionData]) -> bool {
    let mut first_thread: BTreeMap<u32, u32> = BTreeMap::new();
    regions.iter().any(|region| {
        region.per_rank.iter().any(|(rank, events)| {
            if is_lifetime(&region.name) && !events.starts.is_empty() {
                return true;
            }
            let threads = events.threads.as_deref().unwrap_or_default();
            threads
                .iter()
                .any(|t| *first_thread.entry(*rank).or_insert(*t) != *t)
        })
    })
}

/// What a track of a thread holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrackKind {
    /// The thread's call stack.
    Stack,
    /// Calls that cross the thread's stack without nesting in it.
    Overlap,
    /// Span lifetimes (`"… [lifetime]"` regions), never nested.
    Lifetime,
}

/// Where one call goes on its thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placement {
    /// The kind of track.
    pub kind: TrackKind,
    /// Which track of that kind, from 1 (0 for the stack).
    pub index: u32,
    /// Nesting depth on the track (0 = outermost; always 0 for lifetimes).
    pub depth: usize,
}

/// Places the calls of one thread, handed over in (start, longest first)
/// order: on every track, any two calls it placed are disjoint or nested.
#[derive(Debug, Default)]
pub struct ThreadPlacer {
    /// Per stack/overlap track, the ends of the calls open on it,
    /// outermost first; track 0 is the call stack.
    stacks: Vec<Vec<i64>>,
    /// Lifetime tracks in use, as (end of the call on it, track).
    busy: BinaryHeap<Reverse<(i64, u32)>>,
    /// Lifetime tracks free again.
    free: BTreeSet<u32>,
    /// Lifetime tracks made so far.
    lifetime_tracks: u32,
}

impl ThreadPlacer {
    /// Places the call `start..end` (`end >= start`), a span lifetime when
    /// `lifetime`.
    #[inline]
    pub fn place(&mut self, start: i64, end: i64, lifetime: bool) -> Placement {
        if lifetime {
            while let Some(&Reverse((busy_until, track))) = self.busy.peek() {
                if busy_until > start {
                    break;
                }
                self.busy.pop();
                self.free.insert(track);
            }
            let index = self.free.pop_first().unwrap_or_else(|| {
                self.lifetime_tracks += 1;
                self.lifetime_tracks
            });
            self.busy.push(Reverse((end, index)));
            return Placement {
                kind: TrackKind::Lifetime,
                index,
                depth: 0,
            };
        }
        let mut home = None;
        for (track, open) in self.stacks.iter_mut().enumerate() {
            // Calls that ended by this start are closed.
            while open.last().is_some_and(|e| *e <= start && *e < end) {
                open.pop();
            }
            if open.last().is_none_or(|e| *e >= end) {
                home = Some(track);
                break;
            }
        }
        let track = home.unwrap_or_else(|| {
            self.stacks.push(Vec::new());
            self.stacks.len() - 1
        });
        let depth = self.stacks[track].len();
        self.stacks[track].push(end);
        Placement {
            kind: if track == 0 {
                TrackKind::Stack
            } else {
                TrackKind::Overlap
            },
            index: track as u32,
            depth,
        }
    }
}

/// One region's calls on one rank, as [`RankLanes::place`] takes them.
#[derive(Clone, Copy, Debug)]
pub struct RegionCalls<'a> {
    /// Whether the region is a span lifetime ([`is_lifetime`]).
    pub lifetime: bool,
    /// Start of each call, ns.
    pub starts: &'a [i64],
    /// End of each call, ns (same length).
    pub ends: &'a [i64],
    /// Thread index of each call (same length).
    pub threads: &'a [u32],
}

/// One track of one thread and the calls on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Track {
    /// Thread index.
    pub thread: u32,
    /// What the track holds.
    pub kind: TrackKind,
    /// Which track of that kind, from 1 (0 for the stack).
    pub index: u32,
    /// Calls on it.
    pub calls: u64,
    /// Start of its first call, ns.
    pub first_start: i64,
    /// End of its last call, ns.
    pub last_end: i64,
}

/// One rank's calls placed on lanes: which track each call is on, and the
/// tracks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RankLanes {
    /// Every track with a call, ordered by (thread, kind, index).
    pub tracks: Vec<Track>,
    /// Per call, its track (an index into `tracks`), the regions' calls one
    /// region after the other in the order given.
    pub track_of: Vec<u32>,
}

impl RankLanes {
    /// Places the calls of `regions` (one rank) on their threads' tracks,
    /// each thread's calls in (start, longest first, region, call) order: the
    /// order, and so the lanes, that `scope-profiler-pproc` gives them. A
    /// call ending before it starts is placed as if it ended at its start.
    pub fn place(regions: &[RegionCalls<'_>]) -> RankLanes {
        let mut offsets = Vec::with_capacity(regions.len() + 1);
        offsets.push(0usize);
        for r in regions {
            let n = r.starts.len().min(r.ends.len()).min(r.threads.len());
            offsets.push(offsets[offsets.len() - 1] + n);
        }
        let total = offsets[regions.len()];
        let at = |region: u32, call: usize| {
            let r = &regions[region as usize];
            let start = r.starts[call];
            (r.threads[call], start, Reverse(r.ends[call].max(start)))
        };
        // One region's calls on one thread usually come in order already:
        // then they are placed as they come, in one pass, without an index
        // to sort; the first call out of order starts over with one.
        let mut placing = Placing::new(regions, offsets.as_slice(), total);
        let mut previous = None;
        let in_order = regions.iter().enumerate().all(|(region, r)| {
            let n = offsets[region + 1] - offsets[region];
            let calls = r.starts[..n].iter().zip(&r.ends[..n]).zip(&r.threads[..n]);
            calls.enumerate().all(|(call, ((&start, &end), &thread))| {
                let key = (thread, start, Reverse(end.max(start)));
                if previous.is_some_and(|p| p > key) {
                    return false;
                }
                previous = Some(key);
                placing.place(region as u32, call, key);
                true
            })
        });
        if !in_order {
            placing = Placing::new(regions, offsets.as_slice(), total);
            let mut order: Vec<(u32, usize)> = Vec::with_capacity(total);
            for region in 0..regions.len() {
                let n = offsets[region + 1] - offsets[region];
                order.extend((0..n).map(|call| (region as u32, call)));
            }
            order.par_sort_unstable_by(|a, b| at(a.0, a.1).cmp(&at(b.0, b.1)).then(a.cmp(b)));
            for &(region, call) in &order {
                placing.place(region, call, at(region, call));
            }
        }
        let Placing {
            used,
            slot,
            mut track_of,
            ..
        } = placing;
        let renumber: Vec<u32> = {
            let mut by_key = vec![0u32; used.len()];
            for (new, old) in slot.values().enumerate() {
                by_key[*old as usize] = new as u32;
            }
            by_key
        };
        if renumber.iter().enumerate().any(|(i, r)| i as u32 != *r) {
            track_of.iter_mut().for_each(|t| *t = renumber[*t as usize]);
        }
        let tracks = slot.values().map(|old| used[*old as usize]).collect();
        RankLanes { tracks, track_of }
    }
}

/// [`RankLanes::place`]'s state while it places a rank's calls, thread
/// after thread, each thread's in (start, longest first) order.
struct Placing<'a> {
    regions: &'a [RegionCalls<'a>],
    /// Where each region's calls start among the rank's.
    offsets: &'a [usize],
    /// Tracks in the order first used.
    used: Vec<Track>,
    /// Each track's index in `used`, by (thread, kind, index).
    slot: BTreeMap<(u32, TrackKind, u32), u32>,
    /// Per call, its track's index in `used`.
    track_of: Vec<u32>,
    /// The current thread's placer.
    placer: ThreadPlacer,
    thread: Option<u32>,
    /// The last call's track: most calls go on the same one.
    last: Option<((u32, TrackKind, u32), u32)>,
}

impl<'a> Placing<'a> {
    fn new(regions: &'a [RegionCalls<'a>], offsets: &'a [usize], total: usize) -> Self {
        Placing {
            regions,
            offsets,
            used: Vec::new(),
            slot: BTreeMap::new(),
            track_of: vec![0u32; total],
            placer: ThreadPlacer::default(),
            thread: None,
            last: None,
        }
    }

    /// Places call `call` of region `region`: (thread, start, longest first).
    #[inline]
    fn place(
        &mut self,
        region: u32,
        call: usize,
        (t, start, Reverse(end)): (u32, i64, Reverse<i64>),
    ) {
        if self.thread != Some(t) {
            self.placer = ThreadPlacer::default();
            self.thread = Some(t);
        }
        let lifetime = self.regions[region as usize].lifetime;
        let p = self.placer.place(start, end, lifetime);
        let key = (t, p.kind, p.index);
        let id = match self.last {
            Some((k, id)) if k == key => id,
            _ => {
                let used = &mut self.used;
                *self.slot.entry(key).or_insert_with(|| {
                    used.push(Track {
                        thread: t,
                        kind: p.kind,
                        index: p.index,
                        calls: 0,
                        first_start: start,
                        last_end: end,
                    });
                    used.len() as u32 - 1
                })
            }
        };
        self.last = Some((key, id));
        let track = &mut self.used[id as usize];
        track.calls += 1;
        track.last_end = track.last_end.max(end);
        self.track_of[self.offsets[region as usize] + call] = id;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Calls of one region on one thread: (start, end).
    fn region(lifetime: bool, calls: &[(i64, i64)], thread: u32) -> Region {
        (
            lifetime,
            calls.iter().map(|c| c.0).collect(),
            calls.iter().map(|c| c.1).collect(),
            vec![thread; calls.len()],
        )
    }

    /// A region's (lifetime, starts, ends, threads).
    type Region = (bool, Vec<i64>, Vec<i64>, Vec<u32>);

    fn place(regions: &[Region]) -> RankLanes {
        let calls: Vec<RegionCalls<'_>> = regions
            .iter()
            .map(|(lifetime, starts, ends, threads)| RegionCalls {
                lifetime: *lifetime,
                starts,
                ends,
                threads,
            })
            .collect();
        RankLanes::place(&calls)
    }

    /// (kind, index) of each call's track.
    fn kinds(lanes: &RankLanes) -> Vec<(TrackKind, u32)> {
        lanes
            .track_of
            .iter()
            .map(|t| {
                let t = &lanes.tracks[*t as usize];
                (t.kind, t.index)
            })
            .collect()
    }

    #[test]
    fn nested_calls_stay_on_the_stack_and_crossing_ones_move_to_an_overlap_track() {
        // a [0, 10) holds b [2, 4); c [5, 15) crosses a; e [7, 9) nests in
        // both, so it stays on the stack; d [12, 14) starts after a ended,
        // so the stack is free for it again.
        let lanes = place(&[
            region(false, &[(0, 10), (5, 15)], 0),
            region(false, &[(2, 4), (12, 14), (7, 9)], 0),
        ]);
        use TrackKind::*;
        assert_eq!(
            kinds(&lanes),
            vec![(Stack, 0), (Overlap, 1), (Stack, 0), (Stack, 0), (Stack, 0)]
        );
        assert_eq!(lanes.tracks.len(), 2);
        assert_eq!(
            (
                lanes.tracks[1].calls,
                lanes.tracks[1].first_start,
                lanes.tracks[1].last_end
            ),
            (1, 5, 15)
        );
        assert_eq!(
            (
                lanes.tracks[0].calls,
                lanes.tracks[0].first_start,
                lanes.tracks[0].last_end
            ),
            (4, 0, 14)
        );
    }

    #[test]
    fn concurrent_lifetimes_take_a_track_each_and_reuse_freed_ones() {
        let lanes = place(&[region(true, &[(0, 100), (10, 50), (60, 90)], 0)]);
        use TrackKind::*;
        assert_eq!(
            kinds(&lanes),
            vec![(Lifetime, 1), (Lifetime, 2), (Lifetime, 2)]
        );
    }

    #[test]
    fn threads_have_their_own_tracks_ordered_by_thread_kind_and_index() {
        let lanes = place(&[
            region(true, &[(0, 10)], 2),
            region(false, &[(0, 10), (5, 15)], 1),
            region(false, &[(3, 4)], 0),
        ]);
        let order: Vec<(u32, TrackKind, u32, u64)> = lanes
            .tracks
            .iter()
            .map(|t| (t.thread, t.kind, t.index, t.calls))
            .collect();
        use TrackKind::*;
        assert_eq!(
            order,
            vec![
                (0, Stack, 0, 1),
                (1, Stack, 0, 1),
                (1, Overlap, 1, 1),
                (2, Lifetime, 1, 1)
            ]
        );
        assert_eq!(lanes.track_of, vec![3, 1, 2, 0]);
    }

    #[test]
    fn several_threads_on_a_rank_or_a_lifetime_are_several_lanes() {
        use crate::read::Events;
        let on = |rank: u32, threads: &[u32]| {
            let events = Events {
                starts: vec![0; threads.len()],
                ends: vec![1; threads.len()],
                threads: Some(threads.to_vec()),
                untimed_calls: 0,
            };
            (rank, events)
        };
        let region = |name: &str, ranks: Vec<(u32, Events)>| RegionData {
            name: name.into(),
            per_rank: ranks.into_iter().collect(),
            ..RegionData::default()
        };
        // One thread per rank (thread 1 on rank 1 is another rank's).
        let one = vec![
            region("a", vec![on(0, &[0, 0]), on(1, &[1])]),
            region("b", vec![on(0, &[0])]),
        ];
        assert!(!several_lanes(&one));
        let threads = vec![
            region("a", vec![on(0, &[0])]),
            region("b", vec![on(0, &[2])]),
        ];
        assert!(several_lanes(&threads));
        let lifetime = vec![region("x [lifetime]", vec![on(0, &[0])])];
        assert!(several_lanes(&lifetime));
        let never_ran = vec![region("x [lifetime]", vec![on(0, &[])])];
        assert!(!several_lanes(&never_ran));
    }

    #[test]
    fn calls_ending_before_they_start_are_placed_as_points() {
        let lanes = place(&[region(false, &[(10, 5), (0, 20)], 0)]);
        assert_eq!(lanes.tracks.len(), 1);
        assert_eq!(lanes.tracks[0].last_end, 20);
    }
}
