//! [`Flusher`]: the background thread that drains every thread's ring into
//! this rank's stream.
//!
//! Every `flush_interval`, or when a ring passes half full, it encodes each
//! ring's records straight into one frame (region, start gap and duration,
//! bit-packed in raw ticks: no conversion, no grouping, no statistics) and
//! appends the frame to `rank_<N>.sps` with one `write`
//! ([`Storage::Disk`]), or keeps it in memory until finalize
//! ([`Storage::Memory`]). It never stops draining before finalize: if the
//! file cannot be written, it keeps draining, counts the events it could
//! not store, and reports them. Statistics are computed from the stream at
//! finalize.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{JoinHandle, Thread};
use std::time::Duration;

use scope_profiler_core::{Calibration, RegionId, RegionRegistry, RingReader, Session};
use scope_profiler_format::stream::{
    FrameEncoder, RankCounters, StreamHeader, StreamWriter, TickScale,
};

use crate::aggregate::{Accumulator, KeepRule};
use crate::error::{Error, RankFileError};
use scope_profiler_format::aggregate::RankAggregate;

/// What the flusher hands back at finalize.
#[derive(Debug)]
pub struct FlushOutcome {
    /// `Ok` once this rank's stream ([`DrainSettings::rank_path`]) is
    /// complete and closed, or why it is not.
    pub rank_file: Result<(), RankFileError>,
    /// Threads that recorded at least one region.
    pub threads: u32,
    /// Dropped, blocked, open and unwritten counts (also in the stream).
    pub counters: RankCounters,
    /// In aggregate mode, the statistics of every drained call.
    pub aggregate: Option<RankAggregate>,
}

/// Totals carried over from rings whose threads have exited.
#[derive(Default)]
struct Retired {
    dropped: u64,
    blocked_ns: u64,
}

/// Where encoded frames go.
enum Sink {
    /// Appended to the stream file frame by frame ([`Storage::Disk`]).
    File(StreamWriter),
    /// Kept until finalize ([`Storage::Memory`]): the frames, back to back.
    Memory(Vec<u8>),
    /// The file failed: events are counted, not stored.
    Failed(RankFileError),
}

struct Drainer {
    session: Arc<Session>,
    header: StreamHeader,
    rings: Vec<RingReader>,
    retired: Retired,
    encoder: FrameEncoder,
    /// Region ids below this are named in the stream.
    named_regions: usize,
    /// Count-only mode: calls per region since the last frame.
    untimed: Vec<u64>,
    sink: Sink,
    rank_path: PathBuf,
    unwritten: u64,
    /// Aggregate mode: counts every call and hands the stream only the
    /// kept ones.
    aggregate: Option<Accumulator>,
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
    /// and, with `flush_to_disk`, written to the rank's stream (into the
    /// page cache: it survives a killed process, not a power cut); or
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

/// When drained calls reach this rank's stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Storage {
    /// Appended frame by frame while the run goes (`flush_to_disk`): a
    /// killed process leaves every frame written before the kill.
    Disk,
    /// Kept in memory (about 3 bytes a call) and written once at finalize.
    Memory,
}

/// What the flusher needs besides the session.
#[derive(Clone, Debug)]
pub struct DrainSettings {
    /// This rank.
    pub rank: u32,
    /// Ticks → CLOCK_MONOTONIC ns, recorded in the stream's header.
    pub calibration: Calibration,
    /// This rank's stream.
    pub rank_path: PathBuf,
    /// When calls reach it.
    pub storage: Storage,
    /// How often to drain when no ring wakes the flusher.
    pub interval: Duration,
    /// `Some` for aggregate mode: statistics per thread and region, and only
    /// the calls this rule keeps in the stream.
    pub aggregate: Option<KeepRule>,
}

/// The stream's tick scale for `calibration`: what readers convert its
/// ticks with.
pub(crate) fn tick_scale(calibration: &Calibration) -> TickScale {
    TickScale {
        anchor_ticks: calibration.anchor_ticks(),
        anchor_ns: calibration.anchor_ns(),
        ns_per_tick: calibration.ns_per_tick(),
    }
}

impl Flusher {
    /// Starts the flusher thread for `session`.
    pub fn start(session: Arc<Session>, settings: DrainSettings) -> std::io::Result<Flusher> {
        let DrainSettings {
            rank,
            calibration,
            rank_path,
            storage,
            interval,
            aggregate,
        } = settings;
        let sink = match storage {
            Storage::Disk => match StreamWriter::create(&rank_path) {
                Ok(file) => Sink::File(file),
                Err(source) => Sink::Failed(RankFileError::Create {
                    path: rank_path.clone(),
                    source,
                }),
            },
            Storage::Memory => Sink::Memory(Vec::new()),
        };
        let header = StreamHeader {
            rank,
            time_trace: session.config().time_trace,
            scale: tick_scale(&calibration),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let mut encoder = FrameEncoder::default();
        encoder.header(&header);
        let mut drainer = Drainer {
            session: session.clone(),
            header,
            rings: Vec::new(),
            retired: Retired::default(),
            encoder,
            named_regions: 0,
            untimed: Vec::new(),
            sink,
            rank_path,
            unwritten: 0,
            aggregate: aggregate
                .map(|rule| Accumulator::new(rule, header.scale, header.time_trace)),
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

impl Drainer {
    /// Drains every ring once into one frame and stores it.
    fn drain_once(&mut self) {
        self.adopt_new_rings();
        let timed = self.header.time_trace;
        let (encoder, untimed) = (&mut self.encoder, &mut self.untimed);
        let mut events = 0;
        let trace_rings = match &mut self.aggregate {
            Some(accumulator) => {
                events = accumulator.drain(&mut self.rings, encoder);
                &mut [][..]
            }
            None => &mut self.rings[..],
        };
        for ring in trace_rings {
            let thread = ring.thread_index();
            ring.drain(|records, ends| {
                if timed {
                    encoder.events(thread, records, |r| (r.region.0, r.start, ends.end(r)));
                    events += records.len() as u64;
                    return;
                }
                for r in records {
                    let i = r.region.index();
                    if i >= untimed.len() {
                        untimed.resize(i + 1, 0);
                    }
                    untimed[i] += 1;
                }
            });
        }
        self.name_new_regions();
        if !timed && self.untimed.iter().any(|c| *c > 0) {
            let counts = self.untimed.iter().enumerate().filter(|(_, c)| **c > 0);
            let counts: Vec<(u32, u64)> = counts.map(|(i, c)| (i as u32, *c)).collect();
            self.encoder.counts(counts.into_iter());
            self.untimed.iter_mut().for_each(|c| *c = 0);
        }
        let retired = &mut self.retired;
        self.rings.retain(|ring| {
            if !ring.is_finished() {
                return true;
            }
            retired.dropped += ring.counters().dropped.load(Ordering::Relaxed);
            retired.blocked_ns += ring.counters().blocked_ns.load(Ordering::Relaxed);
            false
        });
        self.store_frame(events);
    }

    /// Takes the rings registered since the last round, naming their
    /// threads in this frame.
    fn adopt_new_rings(&mut self) {
        for ring in self.session.take_new_rings() {
            if let Some(name) = ring.thread_name() {
                self.encoder.thread(ring.thread_index(), name);
            }
            self.rings.push(ring);
        }
    }

    /// Names, in this frame, every region interned since the last one.
    /// Read after the drain, the registry covers every id drained: a
    /// record's region is interned before it is pushed.
    fn name_new_regions(&mut self) {
        let registry = RegionRegistry::global();
        let interned = registry.len();
        if interned > self.named_regions {
            let names: Vec<(u32, std::sync::Arc<str>)> = (self.named_regions..interned)
                .map(|i| (i as u32, registry.name_or_placeholder(RegionId(i as u32))))
                .collect();
            self.encoder
                .names(names.iter().map(|(id, name)| (*id, &**name)));
            self.named_regions = interned;
        }
    }

    /// Writes the frame built so far, holding `events` calls.
    fn store_frame(&mut self, events: u64) {
        let frame = self.encoder.take();
        match &mut self.sink {
            Sink::File(file) => {
                if let Err(source) = file.append(frame) {
                    let failure = RankFileError::Write {
                        path: self.rank_path.clone(),
                        source,
                    };
                    eprintln!(
                        "scope-profiler: {failure}; events from now on are counted, not stored"
                    );
                    self.unwritten += events;
                    self.sink = Sink::Failed(failure);
                }
            }
            Sink::Memory(frames) => frames.extend_from_slice(frame),
            Sink::Failed(_) => self.unwritten += events,
        }
    }

    /// The final drain: runs after the session stopped, so no region enters.
    fn finish(mut self) -> FlushOutcome {
        self.adopt_new_rings();
        // Read `open` before the last drain: a region exiting now pushes
        // before it decrements, so its record is either drained below or was
        // counted here (never neither).
        let open: u64 = self
            .rings
            .iter()
            .map(|r| r.counters().open.load(Ordering::Relaxed) as u64)
            .sum();
        self.drain_once();
        let mut counters = RankCounters {
            dropped_events: self.retired.dropped,
            blocked_ns: self.retired.blocked_ns,
            open_regions_at_finalize: open,
            unwritten_events: self.unwritten,
        };
        for ring in &self.rings {
            counters.dropped_events += ring.counters().dropped.load(Ordering::Relaxed);
            counters.blocked_ns += ring.counters().blocked_ns.load(Ordering::Relaxed);
        }
        self.encoder.counters(&counters);
        self.encoder.end();
        FlushOutcome {
            rank_file: self.close_stream(),
            threads: self.session.thread_count(),
            counters,
            aggregate: self.aggregate.take().map(Accumulator::finish),
        }
    }

    /// Writes the last frame (and, with [`Storage::Memory`], every frame
    /// before it) and closes the stream.
    fn close_stream(&mut self) -> Result<(), RankFileError> {
        let path = self.rank_path.clone();
        let last = self.encoder.take();
        let sink = std::mem::replace(&mut self.sink, Sink::Memory(Vec::new()));
        let written = match sink {
            Sink::File(mut file) => file.append(last),
            Sink::Memory(frames) => StreamWriter::create(&path).and_then(|mut file| {
                file.append(&frames)?;
                file.append(last)
            }),
            Sink::Failed(failure) => return Err(failure),
        };
        written.map_err(|source| RankFileError::Write { path, source })
    }
}
