//! [`ProfileManager`]: setup, run-time control and finalize of a run.
//!
//! Serial and MPI runs take the same path: every rank writes
//! `rank_<N>.h5` in a run directory rank 0 made; finalize waits for every
//! rank, rank 0 merges the rank files (timestamps on its clock) into
//! `file_path`, and every rank returns once the file exists.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use scope_profiler_core::{clock, Calibration, RegionGuard, RegionRegistry, Session};
use tempfile::TempDir;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::flusher::{FlushOutcome, Flusher};
use crate::merge::{pool, RankReport};
use crate::metadata::{hostname, RunFacts};
use crate::output::{write_merged, RankInput};
use crate::ranks::{ClockOffset, ClockShift, RankContext};
use crate::summary::{RegionSummary, Summary};

struct Running {
    config: Config,
    session: Arc<Session>,
    flusher: Flusher,
    ranks: RankContext,
    /// The run directory; rank 0 owns (and finally removes) it.
    run_dir: PathBuf,
    owned_dir: Option<TempDir>,
    /// Clock offsets measured at setup (rank 0: one per rank).
    setup_clocks: Vec<ClockOffset>,
    start_time_ns: i64,
}

static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

/// The process's profiling run: [`setup`](Self::setup) starts it,
/// [`finalize`](Self::finalize) drains, writes the file and returns the summary.
pub struct ProfileManager;

impl ProfileManager {
    /// Starts a run. Fails if one is running (call `finalize` first), if
    /// `buffer_limit` is below 2, or if the run directory cannot be made.
    /// With feature `mpi` every rank must call it (it is collective).
    pub fn setup(config: Config) -> Result<()> {
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        if running.is_some() {
            return Err(scope_profiler_core::SessionError::AlreadyActive.into());
        }
        if config.get_finalize_on_signal() {
            crate::emergency::finalize_on_signal().map_err(Error::Signals)?;
        }
        if config.get_finalize_on_panic() {
            crate::emergency::finalize_on_panic();
        }
        let ranks = RankContext::detect().map_err(Error::Parallel)?;
        let parent = config
            .get_shared_tmp_dir()
            .map(ToOwned::to_owned)
            .unwrap_or_else(std::env::temp_dir);
        let mut owned_dir = None;
        let run_dir = ranks
            .share_dir(|| {
                std::fs::create_dir_all(&parent)
                    .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                let dir = tempfile::Builder::new()
                    .prefix("scope-profiler-")
                    .tempdir_in(&parent)
                    .map_err(|e| {
                        format!("cannot create a directory under {}: {e}", parent.display())
                    })?;
                let path = dir.path().to_owned();
                owned_dir = Some(dir);
                Ok(path)
            })
            .map_err(Error::Parallel)?;
        let setup_clocks = ranks.measure_clocks();
        let calibration = Calibration::take();
        let session = Session::begin(config.recorder())?;
        let rank_path = run_dir.join(format!("rank_{}.h5", ranks.rank()));
        let flusher = Flusher::start(
            session.clone(),
            calibration,
            rank_path.clone(),
            config.get_flush_to_disk(),
            config.get_crash_journal(),
            config.get_flush_interval(),
        );
        let flusher = match flusher {
            Ok(f) => f,
            Err(e) => {
                session.stop();
                return Err(Error::RankFile {
                    path: rank_path,
                    message: format!("cannot start the flusher thread: {e}"),
                });
            }
        };
        *running = Some(Running {
            config,
            session,
            flusher,
            ranks,
            run_dir,
            owned_dir,
            setup_clocks,
            start_time_ns: calibration.anchor_ns(),
        });
        Ok(())
    }

    /// Whether a run is set up and not yet finalized.
    pub fn is_setup() -> bool {
        RUNNING
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }

    /// Like [`is_setup`](Self::is_setup), but `false` instead of waiting if
    /// another call holds the run (for the panic hook, which may run while
    /// this thread holds it).
    pub(crate) fn is_setup_now() -> bool {
        match RUNNING.try_lock() {
            Ok(running) => running.is_some(),
            Err(std::sync::TryLockError::Poisoned(running)) => running.into_inner().is_some(),
            Err(std::sync::TryLockError::WouldBlock) => false,
        }
    }

    /// Turns recording on or off without ending the run.
    pub fn set_active(on: bool) -> Result<()> {
        let running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        let running = running.as_ref().ok_or(Error::NotSetUp)?;
        running.session.set_active(on);
        Ok(())
    }

    /// Blocks until every region recorded before the call is drained and, with
    /// `flush_to_disk`, appended to this rank's file and flushed: a process
    /// killed after `flush` returns still leaves those events on disk.
    pub fn flush() -> Result<()> {
        // Wait without holding RUNNING: other threads may pause, ask for the
        // run directory or finalize meanwhile.
        let waiter = {
            let running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
            running.as_ref().ok_or(Error::NotSetUp)?.flusher.waiter()
        };
        waiter.flush();
        Ok(())
    }

    /// The run directory (holding `rank_<N>.h5`), if set up.
    pub fn run_dir() -> Option<PathBuf> {
        let running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        running.as_ref().map(|r| r.run_dir.clone())
    }

    /// This process's MPI rank and the job's size (`(0, 1)` serially), if set up.
    pub fn rank_and_size() -> Option<(u32, u32)> {
        let running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        running.as_ref().map(|r| (r.ranks.rank(), r.ranks.size()))
    }

    /// Opens region `name` on this thread. After this thread's first call
    /// with `name` it neither locks nor allocates (one hash lookup); `region!`
    /// is cheaper still. With recording off it returns at once.
    pub fn profile_region(name: &str) -> RegionGuard {
        if !scope_profiler_core::session::is_recording() {
            return RegionGuard::inactive();
        }
        RegionGuard::enter(RegionRegistry::global().lookup(name))
    }

    /// Ends the run: stops recording, drains every ring, waits for every rank,
    /// and on rank 0 writes `file_path` (temporary file + rename, timestamps
    /// on rank 0's clock), removes the run directory and prints the summary
    /// pooled over ranks (unless disabled). Every rank returns once the file
    /// exists; rank 0 returns the pooled summary, other ranks their own.
    ///
    /// If the file cannot be written, or a rank never reaches finalize within
    /// `finalize_timeout`, the rank files stay in the run directory and the
    /// error names it.
    pub fn finalize() -> Result<Summary> {
        let running = RUNNING
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or(Error::NotSetUp)?;
        let Running {
            config,
            session,
            flusher,
            ranks,
            run_dir,
            owned_dir,
            setup_clocks,
            start_time_ns,
        } = running;
        let outcome = flusher.finish().map_err(Error::FlusherPanicked)?;
        drop(session);
        let rank = ranks.rank();
        if outcome.open_at_finalize > 0 {
            eprintln!(
                "scope-profiler: warning: rank {rank}: {} region(s) were still open at finalize; they are not in \
                 the profile and are counted as dropped (open_regions_at_finalize)",
                outcome.open_at_finalize
            );
        }
        if outcome.unwritten > 0 {
            eprintln!(
                "scope-profiler: warning: rank {rank}: {} events could not be written to the rank file (see \
                 unwritten_events); the summary still counts them",
                outcome.unwritten
            );
        }
        let local = summarize(&outcome, config.get_time_trace());
        let timeout = config.get_finalize_timeout();
        let keep = |owned: Option<TempDir>, message: String| -> Error {
            let kept = owned.map_or_else(|| run_dir.clone(), TempDir::keep);
            eprintln!(
                "scope-profiler: rank {rank}: {message}; the rank data is kept in {}",
                kept.display()
            );
            Error::Output {
                path: config.get_file_path().to_owned(),
                message,
                kept,
            }
        };
        if let Err(message) = ranks.barrier(timeout) {
            return Err(keep(owned_dir, message));
        }
        let finalize_clocks = ranks.measure_clocks();
        let report = RankReport {
            hostname: hostname(),
            summary: local.clone(),
            rank_file: outcome.rank_file.clone(),
        };
        let file_path = ranks.output_path(config.get_file_path());
        let gathered = ranks.gather(report.encode());
        let mut pooled = None;
        let merged = match gathered {
            Err(message) => Err(message),
            Ok(None) => Ok(()),
            Ok(Some(blobs)) => {
                let reports: Vec<RankReport> =
                    blobs.iter().filter_map(|b| RankReport::decode(b)).collect();
                if reports.len() != blobs.len() {
                    Err("a rank sent an unreadable finalize report".to_owned())
                } else {
                    let summary = pool(&reports.iter().map(|r| &r.summary).collect::<Vec<_>>());
                    let merged = RankMerge {
                        file_path: &file_path,
                        run_dir: &run_dir,
                        reports: &reports,
                        setup_clocks: &setup_clocks,
                        finalize_clocks: &finalize_clocks,
                        config: &config,
                        pooled: &summary,
                        start_time_ns,
                    }
                    .write();
                    pooled = Some(summary);
                    merged
                }
            }
        };
        if let Err(message) = ranks.broadcast_outcome(merged, timeout) {
            return Err(keep(owned_dir, message));
        }
        drop(owned_dir); // rank 0: the merged file exists; remove the rank files
        let mut summary = pooled.unwrap_or(local);
        summary.file = Some(file_path);
        if rank == 0 && config.get_print_summary() {
            print!("{summary}");
        }
        drop(ranks); // finalizes MPI if setup initialized it
        Ok(summary)
    }
}

/// What rank 0 needs to merge every rank's file into `file_path`.
struct RankMerge<'a> {
    file_path: &'a std::path::Path,
    run_dir: &'a std::path::Path,
    reports: &'a [RankReport],
    setup_clocks: &'a [ClockOffset],
    finalize_clocks: &'a [ClockOffset],
    config: &'a Config,
    pooled: &'a Summary,
    start_time_ns: i64,
}

impl RankMerge<'_> {
    /// Writes the merged file, or says which rank's file is incomplete.
    fn write(&self) -> std::result::Result<(), String> {
        let RankMerge {
            file_path,
            run_dir,
            reports,
            setup_clocks,
            finalize_clocks,
            config,
            pooled,
            start_time_ns,
        } = *self;
        if let Some((rank, Err(e))) = reports
            .iter()
            .enumerate()
            .map(|(r, rep)| (r, &rep.rank_file))
            .find(|(_, f)| f.is_err())
        {
            return Err(format!("rank {rank}'s file is incomplete: {e}"));
        }
        let inputs: Vec<RankInput> = reports
            .iter()
            .enumerate()
            .map(|(r, report)| RankInput {
                rank: r as u32,
                path: run_dir.join(format!("rank_{r}.h5")),
                shift: ClockShift {
                    setup: setup_clocks.get(r).copied().unwrap_or_default(),
                    finalize: finalize_clocks.get(r).copied().unwrap_or_default(),
                },
                hostname: report.hostname.clone(),
            })
            .collect();
        let hostnames: Vec<&str> = reports.iter().map(|r| r.hostname.as_str()).collect();
        let nodes = hostnames.iter().collect::<BTreeSet<_>>().len();
        let facts = RunFacts {
            start_time_ns,
            finalize_time_ns: clock::monotonic_ns(),
            mpi_size: reports.len() as i64,
            counters: vec![
                ("num_nodes", nodes as i64),
                ("time_trace", config.get_time_trace() as i64),
                ("buffer_limit", config.get_buffer_limit() as i64),
                ("threads", pooled.threads as i64),
                (
                    "dropped_events",
                    (pooled.dropped_events + pooled.open_at_finalize) as i64,
                ),
                ("open_regions_at_finalize", pooled.open_at_finalize as i64),
                ("blocked_ns", pooled.blocked_ns as i64),
            ],
            labels: vec![
                ("overflow_policy", format!("{:?}", config.get_overflow())),
                (
                    "hostnames",
                    serde_json::to_string(&hostnames).unwrap_or_default(),
                ),
                ("clock_offsets", clock_offsets_json(&inputs)),
            ],
        };
        write_merged(file_path, &inputs, &facts, config.get_output_schema())
    }
}

/// Every rank's raw clock offsets, so the shift onto rank 0's clock can be
/// undone whatever the schema.
fn clock_offsets_json(inputs: &[RankInput]) -> String {
    let rows: Vec<serde_json::Value> = inputs
        .iter()
        .map(|i| {
            serde_json::json!({
                "rank": i.rank,
                "setup_offset_ns": i.shift.setup.offset_ns,
                "setup_at_ns": i.shift.setup.at_ns,
                "finalize_offset_ns": i.shift.finalize.offset_ns,
                "finalize_at_ns": i.shift.finalize.at_ns,
                "rtt_ns": i.shift.setup.rtt_ns.max(i.shift.finalize.rtt_ns),
                "drift_ns_per_s": i.shift.drift_ns_per_s(),
            })
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

fn summarize(outcome: &FlushOutcome, timed: bool) -> Summary {
    let names = RegionRegistry::global().names();
    let regions = outcome
        .stats
        .iter()
        .enumerate()
        .filter(|(_, s)| s.calls > 0)
        .map(|(i, s)| RegionSummary {
            name: names
                .get(i)
                .map_or_else(|| format!("region#{i}"), |n| n.to_string()),
            stats: *s,
        })
        .collect();
    Summary {
        regions,
        timed,
        dropped_events: outcome.dropped,
        open_at_finalize: outcome.open_at_finalize,
        blocked_ns: outcome.blocked_ns,
        threads: outcome.threads,
        ranks: 1,
        file: None,
    }
}
