//! A rank's schema-3 part read straight from its stream, in the order the
//! calls were written: what every rank does at a columnar finalize, so its
//! cost is paid once per rank, all ranks at once.
//!
//! A thread's calls reach the stream as they end, so its calls nest on its
//! call stack exactly when, taken in that order, each call holds the
//! earlier calls it overlaps ([`CallStacks`]). Then every call is on its
//! thread's stack and the part needs neither lane placement nor a sort: the
//! calls are grouped by region, a pass a column, and the part is built
//! from the groups ([`RankPart::from_stack_calls`]). Calls that cross (async tasks,
//! spans entered out of order), span lifetimes, untimed counts, calls not
//! written in the order they ended, and ids past the bounds below go
//! through the general path ([`RankPart::build`]), which places them on
//! lanes.

use std::collections::{BTreeMap, BTreeSet};
use std::io;

use crate::columnar::RankPart;
use crate::lanes::is_lifetime;
use crate::merged::RankInput;
use crate::one_value::OneValueOr;
use crate::stream::{Frame, StreamNames, StreamReader};
use crate::{EventColumns, WriteError};

/// Threads beyond which [`CallStacks`] gives up (and the general path
/// places the calls): its stacks are indexed by thread.
const MAX_THREADS: u32 = 1 << 16;

/// Region ids from which the general path groups the calls (by a map
/// rather than by id).
const MAX_REGIONS: u32 = 1 << 20;

/// A rank's calls in stream order, on rank 0's clock, with what decides
/// how its part is built (checked as they are read).
#[derive(Default)]
struct StreamCalls {
    /// Region and thread names, once the stream is read.
    names: StreamNames,
    regions: OneValueOr<u32>,
    threads: OneValueOr<u32>,
    starts: Vec<i64>,
    ends: Vec<i64>,
    /// Regions with untimed calls (counts without timestamps).
    untimed: BTreeSet<u32>,
    /// Whether each thread's calls so far nest on its stack, and each
    /// thread's span.
    stacks: CallStacks,
}

impl StreamCalls {
    /// Every intact frame of `input`'s stream (as [`crate::read_profile`]
    /// reads it: a torn last frame ends the calls).
    fn read(input: &RankInput) -> io::Result<StreamCalls> {
        let mut reader = StreamReader::open(&input.path)?;
        let mut frame = Frame::default();
        let mut calls = StreamCalls::default();
        while reader.next_frame(&mut frame)? {
            let scale = reader.scale_on_rank_0(&input.shift)?;
            let untimed = frame.counts.iter().filter(|&&(_, n)| n > 0);
            calls.untimed.extend(untimed.map(|&(region, _)| region));
            let n = frame.events.len();
            if calls.starts.capacity() - calls.starts.len() < n {
                // A stream's frames are alike: room for the calls its bytes
                // hold at the rate of those read so far, and a sixteenth
                // more, never more than a call per bit left.
                let read = u128::from(reader.read_bytes().max(1));
                let unread = u128::from(reader.unread_bytes());
                let seen = (calls.starts.len() + n) as u128;
                let more = (seen * unread / read + seen / 16).min(unread * 8);
                let more = usize::try_from(more)
                    .unwrap_or(usize::MAX)
                    .saturating_add(n);
                calls.regions.reserve(more);
                calls.threads.reserve(more);
                calls.starts.reserve(more);
                calls.ends.reserve(more);
            }
            // A frame holds each thread's calls as runs: checked a run at
            // a time.
            for run in frame.events.chunk_by(|a, b| a.thread == b.thread) {
                let (first, thread) = (calls.starts.len(), run[0].thread);
                for e in run {
                    calls.regions.push(e.region);
                    calls.threads.push(thread);
                    calls.starts.push(scale.to_ns(e.start));
                    calls.ends.push(scale.to_ns(e.end));
                }
                calls.stacks.take(thread, first, &calls.starts, &calls.ends);
            }
        }
        reader.header()?;
        calls.names = reader.take_names();
        Ok(calls)
    }

    /// Calls per region id, `None` if an id is [`MAX_REGIONS`] or more.
    fn region_counts(&self) -> Option<Vec<usize>> {
        let mut counts = Vec::new();
        let mut add = |region: u32, n: usize| {
            let r = (region < MAX_REGIONS).then_some(region as usize)?;
            if r >= counts.len() {
                counts.resize(r + 1, 0);
            }
            counts[r] += n;
            Some(())
        };
        match &self.regions {
            OneValueOr::Same { len: 0, .. } => {}
            OneValueOr::Same { value, len, .. } => add(*value, *len)?,
            OneValueOr::Values(regions) => {
                for &region in regions {
                    add(region, 1)?;
                }
            }
        }
        Some(counts)
    }

    /// The name of region `id`.
    fn name(&self, id: u32) -> String {
        self.names
            .regions
            .get(&id)
            .cloned()
            .unwrap_or_else(|| format!("region#{id}"))
    }

    /// Calls per region id, if every call is on its thread's call stack:
    /// all timed, none a span lifetime, on each thread any two calls
    /// disjoint or nested, and region ids few enough to count by id.
    fn counts_if_on_stacks(&self) -> Option<Vec<usize>> {
        if !(self.untimed.is_empty() && self.stacks.all_nest) {
            return None;
        }
        let counts = self.region_counts()?;
        let lifetime = |(&id, name): (&u32, &String)| {
            counts.get(id as usize).is_some_and(|&n| n > 0) && is_lifetime(name)
        };
        (!self.names.regions.iter().any(lifetime)).then_some(counts)
    }

    /// The calls as the general path takes them: one column set per region
    /// with calls, timed or not (a region with only untimed calls has an
    /// empty one), in region id order.
    fn into_regions(self) -> Vec<(String, EventColumns)> {
        let mut columns: BTreeMap<u32, RegionCalls> = BTreeMap::new();
        for &region in &self.untimed {
            columns.entry(region).or_default();
        }
        for (i, (&start, &end)) in self.starts.iter().zip(&self.ends).enumerate() {
            let calls = columns.entry(self.regions.get(i)).or_default();
            calls.starts.push(start);
            calls.ends.push(end);
            calls.threads.push(self.threads.get(i));
        }
        columns
            .into_iter()
            .filter_map(|(region, calls)| {
                Some((
                    self.name(region),
                    EventColumns::from_columns(calls.starts, calls.ends, calls.threads)?,
                ))
            })
            .collect()
    }
}

/// One region's calls, gathered for [`StreamCalls::into_regions`].
#[derive(Default)]
struct RegionCalls {
    starts: Vec<i64>,
    ends: Vec<i64>,
    threads: Vec<u32>,
}

/// Per thread, the calls seen so far that no later call holds (its roots:
/// disjoint, in time order), to check calls taken in the order they ended,
/// and the thread's span (its first start, its last end). The roots are
/// kept as runs of evenly spaced indices into the rank's columns
/// ([`RootRun`], 12 bytes): a loop whose iterations make the same calls
/// (a tight loop's, all roots, or a step's with its sub-calls, one root an
/// iteration) is one run a frame, where a list of indices would take 4
/// bytes a root of fresh pages; a top level of irregular shape takes up to
/// 12 bytes a root.
struct CallStacks {
    threads: Vec<ThreadStack>,
    /// Whether every call taken nested.
    all_nest: bool,
}

/// One thread's part of [`CallStacks`].
#[derive(Clone, Default)]
struct ThreadStack {
    /// The roots below the last one, oldest first. Each ends at or before
    /// the next one starts, and the last at or before `top` starts: their
    /// starts are in order, and a root starting at or after the start of a
    /// call that holds `top` ends by that call's end.
    roots: Vec<RootRun>,
    /// The last root's index, start and end (`None` before the first
    /// call): a tight loop's next call is checked against it alone,
    /// without reading the columns.
    top: Option<(u32, i64, i64)>,
    /// The first start and the last end.
    span: (i64, i64),
}

/// Roots at column indices `first`, `first + step`, … (`len` of them, at
/// least one), in time order.
#[derive(Clone, Copy)]
struct RootRun {
    first: u32,
    step: u32,
    len: u32,
}

impl RootRun {
    /// The index of root `j`.
    #[inline]
    fn at(&self, j: u32) -> usize {
        self.first as usize + self.step as usize * j as usize
    }

    /// Takes `index` (later than every root) as the run's next root if it
    /// is one (a run of one root takes any, which sets the step); whether
    /// it did.
    #[inline]
    fn push(&mut self, index: u32) -> bool {
        if self.len == 1 {
            self.step = index - self.first;
        } else if self.at(self.len) != index as usize {
            return false;
        }
        self.len += 1;
        true
    }

    /// How many of the run's roots start before `start`, by bisection (the
    /// roots' starts are in order).
    fn starting_before(&self, start: i64, starts: &[i64]) -> u32 {
        let (mut low, mut high) = (0, self.len);
        while low < high {
            let middle = low + (high - low) / 2;
            if starts[self.at(middle)] < start {
                low = middle + 1;
            } else {
                high = middle;
            }
        }
        low
    }
}

impl Default for CallStacks {
    fn default() -> Self {
        CallStacks {
            threads: Vec::new(),
            all_nest: true,
        }
    }
}

impl CallStacks {
    /// Takes the calls of `starts` and `ends` from index `first` on, all
    /// `thread`'s, in order (a call ending before it starts counts as
    /// ending at its start); clears [`all_nest`](Self::all_nest) if one
    /// crosses an earlier call of the thread, if one ends before one that
    /// it does not hold (then the order is not the order of ends and
    /// nothing is concluded), or if the thread index is [`MAX_THREADS`] or
    /// more or a call's index 2^32 − 1 or more.
    ///
    /// The thread's last root, its last run of roots and its span are
    /// locals while the calls are taken, stored back once per run, not
    /// per call.
    fn take(&mut self, thread: u32, first: usize, starts: &[i64], ends: &[i64]) {
        let CallStacks { threads, all_nest } = self;
        if !*all_nest {
            return;
        }
        if thread >= MAX_THREADS || starts.len() > u32::MAX as usize {
            *all_nest = false;
            return;
        }
        let t = thread as usize;
        if t >= threads.len() {
            threads.resize(t + 1, ThreadStack::default());
        }
        let stack = &mut threads[t];
        let (mut top, mut span) = (stack.top, stack.span);
        let mut last_run = stack.roots.pop();
        for (i, (&start, &end)) in starts.iter().zip(ends).enumerate().skip(first) {
            let (index, end) = (i as u32, end.max(start));
            let Some((top_index, top_start, top_end)) = top else {
                (top, span) = (Some((index, start, end)), (start, end));
                continue;
            };
            span = (span.0.min(start), span.1.max(end));
            if top_end <= start {
                // After the last root: the common case.
                if !last_run.as_mut().is_some_and(|run| run.push(top_index)) {
                    let run = RootRun {
                        first: top_index,
                        step: 0,
                        len: 1,
                    };
                    stack.roots.extend(last_run.replace(run));
                }
                top = Some((index, start, end));
                continue;
            }
            if !(top_start >= start && top_end <= end) {
                *all_nest = false;
                return;
            }
            // The call holds the last root, and so every root that starts
            // at or after its start: it replaces them.
            stack.roots.extend(last_run.take());
            while let Some(run) = stack.roots.last_mut() {
                let kept = run.starting_before(start, starts);
                if kept > 0 {
                    run.len = kept;
                    break;
                }
                stack.roots.pop();
            }
            last_run = stack.roots.pop();
            // The last root left starts before the call: it must end by then.
            if last_run.is_some_and(|run| ends[run.at(run.len - 1)] > start) {
                *all_nest = false;
                return;
            }
            top = Some((index, start, end));
        }
        stack.roots.extend(last_run);
        (stack.top, stack.span) = (top, span);
    }

    /// Each thread with calls and its span.
    fn spans(&self) -> BTreeMap<u32, (i64, i64)> {
        let threads = self.threads.iter().enumerate();
        threads
            .filter(|(_, stack)| stack.top.is_some())
            .map(|(t, stack)| (t as u32, stack.span))
            .collect()
    }
}

/// Rank `input.rank`'s part of a columnar file, from its stream.
pub fn rank_part(input: &RankInput) -> Result<RankPart, WriteError> {
    let mut calls = StreamCalls::read(input).map_err(|source| WriteError::Stream {
        path: input.path.clone(),
        source,
    })?;
    let Some(counts) = calls.counts_if_on_stacks() else {
        let thread_names = std::mem::take(&mut calls.names.threads);
        return Ok(RankPart::build(
            input.rank,
            calls.into_regions(),
            &thread_names,
        ));
    };
    let rows: Vec<(String, u64)> = (0..counts.len())
        .filter(|&r| counts[r] > 0)
        .map(|r| (calls.name(r as u32), counts[r] as u64))
        .collect();
    let spans = calls.stacks.spans();
    let (starts, ends, threads) = if rows.len() <= 1 {
        (calls.starts, calls.ends, calls.threads)
    } else {
        // Grouped by region (ids ascending), keeping their order, a column
        // at a time: the ends into the memory the starts leave, so the
        // grouping takes one column of fresh pages, not two.
        let regions = &calls.regions;
        let starts = grouped(&calls.starts, regions, &counts, vec![0; calls.starts.len()]);
        let ends = grouped(&calls.ends, regions, &counts, calls.starts);
        let threads = match calls.threads {
            OneValueOr::Values(threads) => {
                OneValueOr::Values(grouped(&threads, regions, &counts, vec![0; threads.len()]))
            }
            same => same,
        };
        (starts, ends, threads)
    };
    Ok(RankPart::from_stack_calls(
        input.rank,
        rows,
        starts,
        ends,
        threads,
        spans,
        &calls.names.threads,
    ))
}

/// `values` (one per call, in stream order) grouped by the calls'
/// `regions`, ids ascending, each region's in their order, written over
/// `into` (as long as `values`); `counts` holds the calls per region id.
fn grouped<T: Copy>(
    values: &[T],
    regions: &OneValueOr<u32>,
    counts: &[usize],
    mut into: Vec<T>,
) -> Vec<T> {
    let mut next: Vec<usize> = counts
        .iter()
        .scan(0, |at, &n| {
            *at += n;
            Some(*at - n)
        })
        .collect();
    for (i, &value) in values.iter().enumerate() {
        let slot = &mut next[regions.get(i) as usize];
        into[*slot] = value;
        *slot += 1;
    }
    into
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;
    use crate::stream::{FrameEncoder, StreamWriter, TickScale};
    use crate::testing::{self, Call};
    use crate::ClockShift;

    /// A stream of rank 3 at `path` in ticks of 1 ns (see
    /// [`testing::write_stream`]).
    fn write_stream(path: &Path, names: &[&str], calls: &[Call]) -> StreamWriter {
        testing::write_stream(path, 3, TickScale::NANOSECONDS, names, calls)
    }

    /// Rank 3's stream at `path`, on rank 0's clock.
    fn rank_3(path: PathBuf) -> RankInput {
        RankInput {
            rank: 3,
            path,
            shift: ClockShift::default(),
            hostname: String::new(),
            aggregate: None,
        }
    }

    /// Reads `calls` back through the stack path and the general one;
    /// asserts both parts are the same and returns whether the stack path
    /// took them.
    fn both_paths(names: &[&str], calls: &[Call]) -> bool {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rank_3.sps");
        write_stream(&path, names, calls);
        let input = rank_3(path);
        let part = rank_part(&input).unwrap();
        let read = StreamCalls::read(&input).unwrap();
        let on_stacks = read.counts_if_on_stacks().is_some();
        let names = read.names.threads.clone();
        let general = RankPart::build(3, read.into_regions(), &names);
        assert_eq!(part.description, general.description);
        assert_eq!(part.columns(), general.columns());
        assert_eq!(part.description.events(), calls.len() as u64);
        on_stacks
    }

    /// Calls of `threads` threads, each a random call stack (depth < 4)
    /// over `regions` regions, written as they end, threads in turns.
    fn nested_calls(seed: u64, threads: u32, regions: u32, per_thread: usize) -> Vec<Call> {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut runs = Vec::new();
        for thread in 0..threads {
            let (mut now, mut open, mut done) = (1_000 + u64::from(thread), Vec::new(), Vec::new());
            while done.len() < per_thread {
                now += rng.u64(0..50);
                if open.len() < 3 && rng.bool() {
                    open.push((rng.u32(0..regions), now));
                } else if let Some((region, start)) = open.pop() {
                    done.push((thread, region, start, now));
                }
            }
            runs.push(done);
        }
        let mut calls = Vec::new();
        for turn in (0..per_thread).step_by(100) {
            for run in &runs {
                calls.extend_from_slice(&run[turn..(turn + 100).min(run.len())]);
            }
        }
        calls
    }

    #[test]
    fn nested_calls_of_several_regions_and_threads_take_the_stack_path_to_the_same_part() {
        for seed in 0..20 {
            let regions = 1 + seed as u32 % 4;
            let calls = nested_calls(seed, 1 + seed as u32 % 3, regions, 1000);
            let names = ["a", "b/c", "d", "e"];
            assert!(
                both_paths(&names[..regions as usize], &calls),
                "seed {seed}"
            );
        }
    }

    #[test]
    fn a_region_with_only_untimed_calls_keeps_its_row_with_no_events() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rank_3.sps");
        let mut writer = write_stream(&path, &["timed", "counted"], &[(0, 0, 10, 20)]);
        let mut encoder = FrameEncoder::default();
        encoder.counts([(1, 5)].into_iter());
        writer.append(encoder.take()).unwrap();
        drop(writer);
        let input = rank_3(path.clone());
        let part = rank_part(&input).unwrap();
        let rows: Vec<(&str, u64)> = part
            .description
            .rows
            .iter()
            .map(|r| (r.name.as_str(), r.count))
            .collect();
        // The reader's view of the same stream: every region with calls,
        // timed or not, and its timed calls.
        let read = crate::read_profile(&path).unwrap();
        let expected: Vec<(&str, u64)> = read
            .regions
            .iter()
            .map(|r| (r.name.as_str(), r.per_rank[&3].starts.len() as u64))
            .collect();
        assert_eq!(rows, expected);
        assert_eq!(rows, [("timed", 1), ("counted", 0)]);
        assert_eq!(part.description.events(), 1);
    }

    #[test]
    fn a_one_thread_one_region_stream_is_read_as_times_only() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rank_3.sps");
        write_stream(&path, &["a"], &nested_calls(1, 1, 1, 1000));
        let read = StreamCalls::read(&rank_3(path)).unwrap();
        assert_eq!(read.regions.repeated(), Some(0));
        assert_eq!(read.threads.repeated(), Some(0));
        assert_eq!(read.starts.len(), 1000);
    }

    /// Whether calls taken in this order nest on their threads' stacks, by
    /// definition: on each thread every call is after each earlier one or
    /// holds it (a call ending before it starts ends at its start).
    fn nest_by_definition(calls: &[Call]) -> bool {
        let span = |c: &Call| (c.2 as i64, (c.3 as i64).max(c.2 as i64));
        calls.iter().enumerate().all(|(j, later)| {
            let (s, e) = span(later);
            calls[..j].iter().filter(|c| c.0 == later.0).all(|earlier| {
                let (es, ee) = span(earlier);
                ee <= s || (s <= es && ee <= e)
            })
        })
    }

    #[test]
    fn the_stack_check_agrees_with_the_definition_on_random_calls() {
        let mut rng = fastrand::Rng::with_seed(5);
        let (mut nesting, mut crossing) = (0, 0);
        for seed in 0..20_000 {
            // Nested calls of one to three threads, interleaved in blocks
            // of one to five, some then moved: zero lengths, reversed ends,
            // crossings and out-of-order ends.
            let mut runs: Vec<Vec<Call>> = (0..1 + seed % 3)
                .map(|t| {
                    let calls = nested_calls(seed as u64 * 3 + t as u64, 1, 2, 20);
                    calls.into_iter().map(|c| (t, c.1, c.2, c.3)).collect()
                })
                .collect();
            let mut calls = Vec::new();
            while runs.iter().any(|r| !r.is_empty()) {
                let thread = rng.usize(..runs.len());
                let run = &mut runs[thread];
                let block = rng.usize(1..6).min(run.len());
                calls.extend(run.drain(..block));
            }
            for _ in 0..rng.usize(0..3) {
                let i = rng.usize(..calls.len());
                calls[i].2 = rng.u64(900..1300);
                calls[i].3 = calls[i].2 + rng.u64(0..60) - rng.u64(0..4).min(calls[i].2);
            }
            let stacks = take_in_runs(&calls);
            let expected = nest_by_definition(&calls);
            assert_eq!(stacks.all_nest, expected, "{calls:?}");
            if expected {
                nesting += 1;
                for (t, (first, last)) in stacks.spans() {
                    let mine = calls.iter().filter(|c| c.0 == t);
                    let want_first = mine.clone().map(|c| c.2 as i64).min().unwrap();
                    let want_last = mine.map(|c| c.3.max(c.2) as i64).max().unwrap();
                    assert_eq!((first, last), (want_first, want_last), "{calls:?}");
                }
            } else {
                crossing += 1;
            }
        }
        assert!(
            nesting > 2_000 && crossing > 2_000,
            "{nesting} / {crossing}"
        );
    }

    /// `calls` taken by the stack check a thread's run of calls at a time,
    /// as a frame's are.
    fn take_in_runs(calls: &[Call]) -> CallStacks {
        let mut stacks = CallStacks::default();
        let (mut starts, mut ends) = (Vec::new(), Vec::new());
        for run in calls.chunk_by(|a, b| a.0 == b.0) {
            let first = starts.len();
            starts.extend(run.iter().map(|c| c.2 as i64));
            ends.extend(run.iter().map(|c| c.3 as i64));
            stacks.take(run[0].0, first, &starts, &ends);
        }
        stacks
    }

    /// The roots the stack check keeps for `calls`, as runs, per thread.
    fn root_runs(calls: &[Call]) -> Vec<usize> {
        let stacks = take_in_runs(calls);
        assert!(stacks.all_nest);
        stacks.threads.iter().map(|t| t.roots.len()).collect()
    }

    #[test]
    fn a_loop_of_one_shape_keeps_its_roots_as_one_run() {
        // A flat loop: every call a root.
        let flat: Vec<Call> = (0..1000).map(|i| (0, 0, 10 * i, 10 * i + 5)).collect();
        assert_eq!(root_runs(&flat), [1]);
        // Each iteration a step holding a child: the child ends first.
        let steps: Vec<Call> = (0..1000)
            .flat_map(|i| [(0, 1, 10 * i + 1, 10 * i + 4), (0, 0, 10 * i, 10 * i + 5)])
            .collect();
        assert_eq!(root_runs(&steps), [1]);
        // Two threads' flat loops, call by call.
        let two: Vec<Call> = (0..2000)
            .map(|i| (i as u32 % 2, 0, 10 * i, 10 * i + 5))
            .collect();
        assert_eq!(root_runs(&two), [1, 1]);
    }

    #[test]
    fn crossing_calls_lifetimes_out_of_order_ends_and_large_ids_take_the_general_path() {
        // Two calls of one thread that cross: 10..30 and 20..40.
        assert!(!both_paths(&["a", "b"], &[(0, 0, 10, 30), (0, 1, 20, 40)]));
        // A call written before an earlier call it does not hold.
        assert!(!both_paths(&["a"], &[(0, 0, 50, 60), (0, 0, 10, 20)]));
        // A span lifetime.
        assert!(!both_paths(
            &["a", "a [lifetime]"],
            &[(0, 0, 10, 20), (0, 1, 5, 30)]
        ));
        // A region id too large to count calls by id, with another region
        // or alone; the largest that is not.
        assert!(!both_paths(
            &["a"],
            &[(0, 0, 10, 20), (0, MAX_REGIONS, 30, 40)]
        ));
        assert!(!both_paths(&["a"], &[(0, MAX_REGIONS, 10, 20)]));
        assert!(both_paths(
            &["a"],
            &[(0, MAX_REGIONS - 1, 10, 20), (0, 0, 30, 40)]
        ));
        // The same calls on two threads do not cross.
        assert!(both_paths(&["a", "b"], &[(0, 0, 10, 30), (1, 1, 20, 40)]));
    }
}
