//! [`Model`]: every rank stream of a run directory, followed; each
//! [`refresh`](Model::refresh) reads what the ranks appended since the last
//! one, and [`snapshot`](Model::snapshot) says what the views show: per
//! rank, thread and region, the calls and time so far and over the last
//! interval, and each rank's status.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use scope_profiler_format::follow::{StreamFollower, Tail};
use scope_profiler_format::stream::{Frame, RankCounters};

use super::run_dir::rank_streams;
use super::status::{Observation, RankStatus};
use super::tally::{RankTally, Tally};
use crate::error::{PprocError, Result};

/// Bytes a refresh reads at most over all streams (about a second of
/// decoding), shared between them: a long run's backlog is read over several
/// refreshes, so the screen stays responsive.
const BUDGET_PER_REFRESH: u64 = 256 << 20;
/// The least a refresh reads of one stream.
const MIN_BUDGET_PER_STREAM: u64 = 1 << 20;

/// One rank's stream and what it said so far.
struct Rank {
    follower: StreamFollower,
    tally: RankTally,
    /// Per thread, per region: the tally at the previous refresh.
    before: Vec<Vec<Tally>>,
    /// Untimed calls per region at the previous refresh.
    before_untimed: Vec<u64>,
    seen: Observation,
    /// Whether the stream was polled at least once.
    polled: bool,
    /// Bytes of complete frames not read yet (the budget ran out).
    behind: u64,
    /// Why the stream cannot be read; it is not polled again.
    error: Option<String>,
}

impl Rank {
    /// A rank whose stream at `path` was last written at its modification
    /// time (so a file that stopped long ago is not taken for live).
    fn new(path: PathBuf, now: Instant) -> Rank {
        let age = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .unwrap_or_default();
        Rank {
            follower: StreamFollower::new(path),
            tally: RankTally::default(),
            before: Vec::new(),
            before_untimed: Vec::new(),
            seen: Observation {
                ended: false,
                last_growth: now.checked_sub(age).unwrap_or(now),
                tail: Tail::Clean,
                damaged_since: None,
            },
            polled: false,
            behind: 0,
            error: None,
        }
    }
}

/// The interval the "recent" figures of a [`Snapshot`] cover.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Window {
    /// Since the previous refresh.
    Interval(Duration),
    /// Since each rank's setup (the first refresh, and `--once`).
    SinceStart,
}

/// Calls and time.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Amount {
    /// Calls that ended.
    pub calls: u64,
    /// Time inside, ns.
    pub ns: f64,
}

impl Amount {
    fn add(&mut self, other: &Amount) {
        self.calls += other.calls;
        self.ns += other.ns;
    }
}

/// A region (or thread) on one rank: so far, and in the window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Cell {
    /// Since the run began.
    pub total: Amount,
    /// In the snapshot's [`Window`].
    pub recent: Amount,
}

impl Cell {
    fn add(&mut self, other: &Cell) {
        self.total.add(&other.total);
        self.recent.add(&other.recent);
    }
}

/// One rank.
#[derive(Clone, Debug, PartialEq)]
pub struct RankView {
    /// Its number.
    pub rank: u32,
    /// Whether it still writes.
    pub status: RankStatus,
    /// Threads that recorded.
    pub threads: usize,
    /// Bytes of its stream read.
    pub bytes: u64,
    /// Bytes of complete frames not read yet.
    pub behind: u64,
    /// Its share of the window, ns: the interval for a running rank (or one
    /// with calls in it), its time since setup for [`Window::SinceStart`],
    /// 0 when it does not count (finished before the interval).
    pub window_ns: f64,
    /// Calls skipped for ids out of range (a damaged stream).
    pub skipped: u64,
    /// The counters finalize wrote.
    pub counters: Option<RankCounters>,
}

/// One region, by name, over every rank.
#[derive(Clone, Debug, PartialEq)]
pub struct RegionView {
    /// Its name.
    pub name: String,
    /// Whether any of its calls carries time (count-only runs: none).
    pub timed: bool,
    /// Per rank with calls, by rank.
    pub per_rank: Vec<(u32, Cell)>,
}

/// One thread of one rank.
#[derive(Clone, Debug, PartialEq)]
pub struct ThreadView {
    /// The rank.
    pub rank: u32,
    /// Its name (`thread <index>` when unnamed).
    pub name: String,
    /// Per region (index into [`Snapshot::regions`]).
    pub regions: Vec<(usize, Cell)>,
}

/// What the views show, taken after a refresh.
#[derive(Clone, Debug, PartialEq)]
pub struct Snapshot {
    /// The run directory.
    pub dir: PathBuf,
    /// Whether the directory is gone (finalize removes it).
    pub dir_gone: bool,
    /// What "recent" covers.
    pub window: Window,
    /// Every rank, by rank.
    pub ranks: Vec<RankView>,
    /// Every region, by name.
    pub regions: Vec<RegionView>,
    /// Every thread, by rank then index.
    pub threads: Vec<ThreadView>,
}

/// How long a rank may go without writing before it is stalled.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// See [`RankStatus::of`].
    pub stall_after: Duration,
}

/// The followed run.
pub struct Model {
    dir: PathBuf,
    settings: Settings,
    ranks: BTreeMap<u32, Rank>,
    buf: Vec<u8>,
    frame: Frame,
    /// When the last refresh ran.
    last: Option<Instant>,
    /// Time between the last two refreshes.
    interval: Option<Duration>,
    /// Whether the directory was listed once and then vanished.
    dir_gone: bool,
    /// Whether a stream had a backlog left at the last refresh.
    was_behind: bool,
}

impl Model {
    /// A model of the run in `dir`; nothing is read before
    /// [`refresh`](Self::refresh).
    pub fn new(dir: &Path, settings: Settings) -> Model {
        Model {
            dir: dir.to_owned(),
            settings,
            ranks: BTreeMap::new(),
            buf: Vec::new(),
            frame: Frame::default(),
            last: None,
            interval: None,
            dir_gone: false,
            was_behind: false,
        }
    }

    /// The run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Lists the directory for new streams, reads what every stream
    /// appended since the last refresh (256 MiB at most, shared) and updates each
    /// rank's status. A stream that cannot be read is marked unreadable;
    /// only a directory that cannot be listed is an error.
    pub fn refresh(&mut self, now: Instant) -> Result<()> {
        let streams = rank_streams(&self.dir).map_err(|source| PprocError::Follow {
            path: self.dir.clone(),
            source,
        })?;
        self.dir_gone = !self.dir.exists();
        for (rank, path) in streams {
            self.ranks
                .entry(rank)
                .or_insert_with(|| Rank::new(path, now));
        }
        let (buf, frame) = (&mut self.buf, &mut self.frame);
        let budget =
            (BUDGET_PER_REFRESH / self.ranks.len().max(1) as u64).max(MIN_BUDGET_PER_STREAM);
        for rank in self.ranks.values_mut() {
            rank.before = rank
                .tally
                .threads
                .iter()
                .map(|t| t.regions.clone())
                .collect();
            rank.before_untimed.clone_from(&rank.tally.untimed);
            if rank.error.is_some() {
                continue;
            }
            let tally = &mut rank.tally;
            match rank.follower.poll(budget, buf, frame, |f| tally.add(f)) {
                Ok(progress) => {
                    if progress.grew && rank.polled {
                        rank.seen.last_growth = now;
                    }
                    rank.seen.damaged_since = match (progress.tail, rank.seen.tail) {
                        (Tail::Damaged { at }, Tail::Damaged { at: was }) if at == was => {
                            rank.seen.damaged_since
                        }
                        (Tail::Damaged { .. }, _) => Some(now),
                        _ => None,
                    };
                    rank.seen.tail = progress.tail;
                    rank.seen.ended = rank.follower.ended();
                    rank.behind = progress.behind;
                }
                Err(e) => rank.error = Some(e.to_string()),
            }
            rank.polled = true;
        }
        // While a backlog is read, what a refresh reads is not what the
        // ranks did in the interval: figures stay "since the start" until
        // one refresh after it is read.
        let behind = self.ranks.values().any(|r| r.behind > 0);
        self.interval = match self.last {
            Some(t) if !behind && !self.was_behind => Some(now.saturating_duration_since(t)),
            _ => None,
        };
        self.was_behind = behind;
        self.last = Some(now);
        Ok(())
    }

    /// Refreshes until every stream is read to its end (for `--once`).
    pub fn catch_up(&mut self, now: Instant) -> Result<()> {
        self.refresh(now)?;
        while self
            .ranks
            .values()
            .any(|r| r.behind > 0 && r.error.is_none())
        {
            self.refresh(now)?;
        }
        // One look at the whole run: rates since each rank's start.
        self.interval = None;
        Ok(())
    }

    /// What the views show now.
    pub fn snapshot(&self, now: Instant) -> Snapshot {
        let others_finished = self.ranks.values().any(|r| r.seen.ended);
        let window = match self.interval {
            Some(d) if !d.is_zero() => Window::Interval(d),
            _ => Window::SinceStart,
        };
        let mut regions: Vec<RegionView> = Vec::new();
        let mut by_name: HashMap<String, usize> = HashMap::new();
        let mut threads = Vec::new();
        let mut ranks = Vec::new();
        for (&number, rank) in &self.ranks {
            let status = match &rank.error {
                Some(e) => RankStatus::Unreadable(e.clone()),
                None => RankStatus::of(&rank.seen, now, self.settings.stall_after, others_finished),
            };
            let tally = &rank.tally;
            let ns_per_tick = tally.ns_per_tick();
            let timed = tally.header.is_none_or(|h| h.time_trace);
            let mut index_of = |id: usize| -> usize {
                let name = tally.name(id);
                *by_name.entry(name.clone()).or_insert_with(|| {
                    regions.push(RegionView {
                        name,
                        timed: false,
                        per_rank: Vec::new(),
                    });
                    regions.len() - 1
                })
            };
            let mut rank_cells: BTreeMap<usize, Cell> = BTreeMap::new();
            let mut recent_calls = 0;
            for (t, thread) in tally.threads.iter().enumerate() {
                let before = rank.before.get(t);
                let mut cells = Vec::new();
                for (id, now_tally) in thread.regions.iter().enumerate() {
                    if now_tally.calls == 0 {
                        continue;
                    }
                    let was = before.and_then(|b| b.get(id)).copied().unwrap_or_default();
                    let cell = cell_of(now_tally, &was, window, ns_per_tick);
                    recent_calls += cell.recent.calls;
                    let index = index_of(id);
                    rank_cells.entry(index).or_default().add(&cell);
                    cells.push((index, cell));
                }
                if !cells.is_empty() {
                    threads.push(ThreadView {
                        rank: number,
                        name: tally.thread_name(t),
                        regions: cells,
                    });
                }
            }
            for (id, &calls) in tally.untimed.iter().enumerate() {
                if calls == 0 {
                    continue;
                }
                let was = rank.before_untimed.get(id).copied().unwrap_or(0);
                let now_tally = Tally { calls, ticks: 0 };
                let was = Tally {
                    calls: was,
                    ticks: 0,
                };
                let cell = cell_of(&now_tally, &was, window, ns_per_tick);
                recent_calls += cell.recent.calls;
                rank_cells.entry(index_of(id)).or_default().add(&cell);
            }
            for (index, cell) in rank_cells {
                let region = &mut regions[index];
                region.timed |= timed && cell.total.ns > 0.0;
                region.per_rank.push((number, cell));
            }
            let window_ns = match window {
                Window::Interval(d) if status.is_running() || recent_calls > 0 => {
                    d.as_secs_f64() * 1e9
                }
                Window::Interval(_) => 0.0,
                Window::SinceStart => tally.elapsed_ns().unwrap_or(0.0),
            };
            ranks.push(RankView {
                rank: number,
                status,
                threads: tally
                    .threads
                    .iter()
                    .filter(|t| t.regions.iter().any(|r| r.calls > 0))
                    .count(),
                bytes: rank.follower.offset(),
                behind: rank.behind,
                window_ns,
                skipped: tally.skipped,
                counters: tally.counters,
            });
        }
        let mut order: Vec<usize> = (0..regions.len()).collect();
        order.sort_by(|&a, &b| regions[a].name.cmp(&regions[b].name));
        let mut new_index = vec![0; regions.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old] = new;
        }
        for thread in &mut threads {
            for (index, _) in &mut thread.regions {
                *index = new_index[*index];
            }
        }
        let mut slots: Vec<Option<RegionView>> = regions.into_iter().map(Some).collect();
        let regions = order.iter().filter_map(|&i| slots[i].take()).collect();
        Snapshot {
            dir: self.dir.clone(),
            dir_gone: self.dir_gone,
            window,
            ranks,
            regions,
            threads,
        }
    }
}

/// A tally's cell: `now` in total, what it gained since `was` as recent
/// (all of it since the start for [`Window::SinceStart`]).
fn cell_of(now: &Tally, was: &Tally, window: Window, ns_per_tick: f64) -> Cell {
    let amount = |t: &Tally| Amount {
        calls: t.calls,
        ns: t.ticks as f64 * ns_per_tick,
    };
    let recent = match window {
        Window::Interval(_) => now.since(was),
        Window::SinceStart => *now,
    };
    Cell {
        total: amount(now),
        recent: amount(&recent),
    }
}
