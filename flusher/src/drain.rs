//! [`Flusher`]: the background thread that drains every thread's ring.
//!
//! Every `flush_interval`, or when a ring passes half full, it takes each
//! ring's records, converts ticks to CLOCK_MONOTONIC ns, updates the running
//! per-region statistics, and either appends the batch to this rank's file
//! (`flush_to_disk`) or keeps it in memory for finalize. It never stops
//! draining before finalize: if the file cannot be written, it keeps
//! draining, counts the events it could not store, and reports them.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use scope_profiler_core::{Calibration, RegionId, RegionRegistry, RingReader, Session};
use scope_profiler_format::journal::{self, Journal};
use scope_profiler_format::rank_file::RankFile;
use scope_profiler_format::RegionStats;

use crate::batch::Batch;
use crate::error::{Error, RankFileError};

/// What the flusher hands back at finalize.
pub struct FlushOutcome {
    /// Per-region statistics, indexed by region id (exact: every call counted).
    pub stats: Vec<RegionStats>,
    /// `Ok` once this rank's file ([`DrainSettings::rank_path`]) is
    /// complete and closed, or why it is not.
    pub rank_file: Result<(), RankFileError>,
    /// Threads that recorded at least one region.
    pub threads: u32,
    /// Records dropped on full rings (policy `Drop`, or `Block` at shutdown).
    pub dropped: u64,
    /// Nanoseconds threads spent waiting for room (policy `Block`).
    pub blocked_ns: u64,
    /// Regions entered but not exited when recording stopped.
    pub open_at_finalize: u64,
    /// Events recorded but not written because the file failed.
    pub unwritten: u64,
}

/// Opens the journal beside `rank_path`; a journal that cannot be created
/// is reported and done without (the rank file is still written).
fn open_journal(rank_path: &std::path::Path) -> Option<Journal> {
    Journal::create(rank_path)
        .map_err(|e| {
            eprintln!(
                "scope-profiler: cannot create {}: {e}; a killed run may lose flushed calls",
                journal::path_for(rank_path).display()
            )
        })
        .ok()
}

/// Totals carried over from rings whose threads have exited.
#[derive(Default)]
struct Retired {
    dropped: u64,
    blocked_ns: u64,
}

/// Where drained events go.
enum Sink {
    /// Appended per batch to the rank file (`flush_to_disk = true`), after
    /// the journal when there is one.
    File(RankFile, Option<Journal>),
    /// Kept in the drainer's batch until finalize (`flush_to_disk = false`).
    Memory,
    /// The file failed: events are counted, not stored.
    Failed(RankFileError),
}

struct Drainer {
    session: Arc<Session>,
    calibration: Calibration,
    rings: Vec<RingReader>,
    retired: Retired,
    stats: Vec<RegionStats>,
    batch: Batch,
    sink: Sink,
    rank_path: PathBuf,
    unwritten: u64,
}

/// Count of completed drain rounds, for [`Flusher::flush`] to wait on.
#[derive(Default)]
struct Rounds {
    done: Mutex<u64>,
    advanced: Condvar,
}

impl Rounds {
    fn complete_one(&self) {
        *self.done.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.advanced.notify_all();
    }
}

/// Sets its flag when dropped.
struct StopOnExit(Arc<AtomicBool>);

impl Drop for StopOnExit {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Handle to the running flusher thread.
pub struct Flusher {
    waiter: FlushWaiter,
    session: Arc<Session>,
    handle: JoinHandle<FlushOutcome>,
}

/// Waits for the flusher's drain rounds: cloned out of a [`Flusher`] so a
/// caller can wait without holding whatever lock guards the `Flusher`.
#[derive(Clone)]
pub struct FlushWaiter {
    stop: Arc<AtomicBool>,
    rounds: Arc<Rounds>,
    thread: Thread,
}

impl FlushWaiter {
    /// Returns once every record pushed before this call has been drained
    /// and, with `flush_to_disk`, appended to the rank file and flushed; or
    /// at once when the flusher is stopping (finalize drains everything).
    pub fn flush(&self) {
        let rounds = &self.rounds;
        let mut done = rounds.done.lock().unwrap_or_else(PoisonError::into_inner);
        // The round running now may have passed our records' rings already;
        // the one after it starts after this call, so it drains them.
        let target = *done + 2;
        while *done < target && !self.stop.load(Ordering::Acquire) {
            self.thread.unpark();
            done = rounds
                .advanced
                .wait_timeout(done, Duration::from_millis(50))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// When drained calls reach this rank's file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// Appended batch by batch while the run goes (`flush_to_disk`), after
    /// the crash journal when `crash_journal` is set.
    Disk {
        /// Append every batch to `<rank file>.journal` first.
        crash_journal: bool,
    },
    /// Kept in memory and written once at finalize.
    Memory,
}

/// What the flusher needs besides the session.
#[derive(Clone, Debug)]
pub struct DrainSettings {
    /// Ticks → CLOCK_MONOTONIC ns.
    pub calibration: Calibration,
    /// This rank's file.
    pub rank_path: PathBuf,
    /// When calls reach it.
    pub storage: Storage,
    /// How often to drain when no ring wakes the flusher.
    pub interval: Duration,
}

impl Flusher {
    /// Starts the flusher thread for `session`.
    pub fn start(session: Arc<Session>, settings: DrainSettings) -> std::io::Result<Flusher> {
        let DrainSettings {
            calibration,
            rank_path,
            storage,
            interval,
        } = settings;
        let sink = match storage {
            Storage::Disk { crash_journal } => match RankFile::create(&rank_path) {
                Ok(file) => Sink::File(
                    file,
                    crash_journal.then(|| open_journal(&rank_path)).flatten(),
                ),
                Err(source) => Sink::Failed(RankFileError::Create {
                    path: rank_path.clone(),
                    source,
                }),
            },
            Storage::Memory => Sink::Memory,
        };
        let stop = Arc::new(AtomicBool::new(false));
        let mut drainer = Drainer {
            session: session.clone(),
            calibration,
            rings: Vec::new(),
            retired: Retired::default(),
            stats: Vec::new(),
            batch: Batch::default(),
            sink,
            rank_path,
            unwritten: 0,
        };
        let thread_stop = stop.clone();
        let rounds = Arc::new(Rounds::default());
        let thread_rounds = rounds.clone();
        let handle = std::thread::Builder::new()
            .name("scope-profiler-flusher".into())
            .spawn(move || {
                // Set `stop` however this thread ends (a panic included), so
                // a `FlushWaiter` never waits for rounds that cannot come.
                let _stopped = StopOnExit(thread_stop.clone());
                drainer.session.set_flusher(std::thread::current());
                // Acquire: pairs with the Release in `finish`; everything the
                // finalizing thread did before (stopping the session) is seen.
                while !thread_stop.load(Ordering::Acquire) {
                    drainer.drain_once();
                    thread_rounds.complete_one();
                    std::thread::park_timeout(interval);
                }
                drainer.finish()
            })?;
        Ok(Flusher {
            waiter: FlushWaiter {
                stop,
                rounds,
                thread: handle.thread().clone(),
            },
            session,
            handle,
        })
    }

    /// A waiter for [`FlushWaiter::flush`], usable without this handle.
    pub fn waiter(&self) -> FlushWaiter {
        self.waiter.clone()
    }

    /// Stops the session's recording, drains every ring one last time,
    /// closes the rank file and returns what was recorded.
    pub fn finish(self) -> Result<FlushOutcome, Error> {
        self.session.stop();
        self.waiter.stop.store(true, Ordering::Release);
        self.handle.thread().unpark();
        self.handle.join().map_err(|panic| {
            Error::FlusherPanicked(
                panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into()),
            )
        })
    }
}

/// Region `id`'s entry of `stats`, indexed by region id, grown as needed.
fn stats_of(stats: &mut Vec<RegionStats>, id: RegionId) -> &mut RegionStats {
    let i = id.index();
    if i >= stats.len() {
        stats.resize(i + 1, RegionStats::default());
    }
    &mut stats[i]
}

impl Drainer {
    /// Drains every ring once and stores the batch.
    fn drain_once(&mut self) {
        self.rings.extend(self.session.take_new_rings());
        let timed = self.session.config().time_trace;
        for ring in &mut self.rings {
            let thread = ring.thread_index();
            let (stats, batch, cal) = (&mut self.stats, &mut self.batch, &self.calibration);
            ring.drain(|records| {
                if timed {
                    batch.push_records(records, thread, cal);
                    return;
                }
                for r in records {
                    stats_of(stats, r.region).add_untimed();
                }
            });
        }
        // Statistics per region and drain, not per call: two passes over
        // the batch's columns, no division per call.
        let stats = &mut self.stats;
        self.batch
            .summarize_new(|id, new| stats_of(stats, id).merge(&new));
        let retired = &mut self.retired;
        self.rings.retain(|ring| {
            if !ring.is_finished() {
                return true;
            }
            retired.dropped += ring.counters().dropped.load(Ordering::Relaxed);
            retired.blocked_ns += ring.counters().blocked_ns.load(Ordering::Relaxed);
            false
        });
        self.store_batch();
    }

    fn store_batch(&mut self) {
        if self.batch.is_empty() || matches!(self.sink, Sink::Memory) {
            return;
        }
        match &mut self.sink {
            Sink::File(file, journal) => {
                // Journal first: what the rank file holds, the journal holds.
                if let Some(j) = journal {
                    if let Err(e) = j.append(self.batch.regions()) {
                        eprintln!(
                            "scope-profiler: writing {} failed: {e}; going on without it",
                            j.path().display()
                        );
                        *journal = None;
                    }
                }
                if let Err(source) = file.append(self.batch.regions()) {
                    let failure = RankFileError::Write {
                        path: file.path().to_owned(),
                        source,
                    };
                    eprintln!(
                        "scope-profiler: {failure}; events from now on are counted, not stored"
                    );
                    self.unwritten += self.batch.len() as u64;
                    self.sink = Sink::Failed(failure);
                }
                self.batch.clear();
            }
            Sink::Memory => {}
            Sink::Failed(_) => {
                self.unwritten += self.batch.len() as u64;
                self.batch.clear();
            }
        }
    }

    /// The final drain: runs after the session stopped, so no region enters.
    fn finish(mut self) -> FlushOutcome {
        self.rings.extend(self.session.take_new_rings());
        // Read `open` before the last drain: a region exiting now pushes
        // before it decrements, so its record is either drained below or was
        // counted here (never neither).
        let open_at_finalize: u64 = self
            .rings
            .iter()
            .map(|r| r.counters().open.load(Ordering::Relaxed) as u64)
            .sum();
        self.drain_once();
        let mut dropped = self.retired.dropped;
        let mut blocked_ns = self.retired.blocked_ns;
        for ring in &self.rings {
            dropped += ring.counters().dropped.load(Ordering::Relaxed);
            blocked_ns += ring.counters().blocked_ns.load(Ordering::Relaxed);
        }
        let counters = [
            ("dropped_events", dropped as i64),
            ("blocked_ns", blocked_ns as i64),
            ("open_regions_at_finalize", open_at_finalize as i64),
            ("unwritten_events", self.unwritten as i64),
        ];
        let (rank_file, journal) = self.close_rank_file(&counters);
        // The rank file is complete and closed: its journal has done its job.
        if let (Ok(()), Some(journal)) = (&rank_file, journal) {
            let _ = std::fs::remove_file(journal.path());
        }
        FlushOutcome {
            stats: self.stats,
            rank_file,
            threads: self.session.thread_count(),
            dropped,
            blocked_ns,
            open_at_finalize,
            unwritten: self.unwritten,
        }
    }

    /// Writes what is still to be written (the whole run with
    /// `Storage::Memory`, call counts in count-only mode) and the rank's
    /// `counters`, and closes the rank file. Returns how that went and the
    /// journal, which is removed only if it did.
    fn close_rank_file(
        &mut self,
        counters: &[(&str, i64)],
    ) -> (Result<(), RankFileError>, Option<Journal>) {
        let path = self.rank_path.clone();
        let write_failed = |source| RankFileError::Write {
            path: path.clone(),
            source,
        };
        let sink = std::mem::replace(&mut self.sink, Sink::Memory);
        let (file, journal) = match sink {
            Sink::File(file, journal) => (Ok(file), journal),
            Sink::Memory => (
                RankFile::create(&self.rank_path)
                    .and_then(|mut file| file.append(self.batch.regions()).map(|()| file))
                    .map_err(write_failed),
                None,
            ),
            Sink::Failed(failure) => (Err(failure), None),
        };
        let timed = self.session.config().time_trace;
        let registry = RegionRegistry::global();
        let closed = file.and_then(|mut file| {
            if !timed {
                for (i, s) in self.stats.iter().enumerate().filter(|(_, s)| s.calls > 0) {
                    let name = registry.name_or_placeholder(RegionId(i as u32));
                    file.write_call_count(i as u32, &name, s.calls)
                        .map_err(write_failed)?;
                }
            }
            file.finish(counters).map_err(write_failed)
        });
        (closed, journal)
    }
}
