//! [`ProfileManager`]: setup, run-time control and finalize of a run.

use std::sync::{Arc, Mutex, PoisonError};

use scope_profiler_core::{clock, Calibration, RegionGuard, RegionRegistry, Session};
use tempfile::TempDir;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::flusher::{FlushOutcome, Flusher};
use crate::metadata::RunFacts;
use crate::output::write_merged;
use crate::summary::{RegionSummary, Summary};

struct Running {
    config: Config,
    session: Arc<Session>,
    flusher: Flusher,
    temp_dir: TempDir,
    start_time_ns: i64,
}

static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

/// The process's profiling run: [`setup`](Self::setup) starts it,
/// [`finalize`](Self::finalize) drains, writes the file and returns the summary.
pub struct ProfileManager;

impl ProfileManager {
    /// Starts a run. Fails if one is running (call `finalize` first), if
    /// `buffer_limit` is below 2, or if the temporary directory cannot be made.
    pub fn setup(config: Config) -> Result<()> {
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        if running.is_some() {
            return Err(scope_profiler_core::SessionError::AlreadyActive.into());
        }
        let parent = config
            .get_temp_dir()
            .map(ToOwned::to_owned)
            .unwrap_or_else(std::env::temp_dir);
        let temp_dir = tempfile::Builder::new()
            .prefix("scope-profiler-")
            .tempdir_in(&parent)
            .map_err(|source| Error::TempDir { parent, source })?;
        let calibration = Calibration::take();
        let session = Session::begin(config.recorder())?;
        let flusher = Flusher::start(
            session.clone(),
            calibration,
            temp_dir.path().join("rank_0.h5"),
            config.get_flush_to_disk(),
            config.get_flush_interval(),
        );
        let flusher = match flusher {
            Ok(f) => f,
            Err(e) => {
                session.stop();
                return Err(Error::RankFile {
                    path: temp_dir.path().join("rank_0.h5"),
                    message: format!("cannot start the flusher thread: {e}"),
                });
            }
        };
        *running = Some(Running {
            config,
            session,
            flusher,
            temp_dir,
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
        let running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        running.as_ref().ok_or(Error::NotSetUp)?.flusher.flush();
        Ok(())
    }

    /// The run's temporary directory (holding `rank_<N>.h5`), if set up.
    pub fn temp_dir() -> Option<std::path::PathBuf> {
        let running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        running.as_ref().map(|r| r.temp_dir.path().to_owned())
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

    /// Ends the run: stops recording, drains every ring, writes `file_path`
    /// (temporary file + rename), removes the run's temporary directory,
    /// prints the summary (unless disabled) and returns it.
    ///
    /// If `file_path` cannot be written the rank data is kept in the run's
    /// temporary directory and the error names it.
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
            temp_dir,
            start_time_ns,
        } = running;
        let outcome = flusher.finish().map_err(Error::FlusherPanicked)?;
        drop(session);
        if outcome.open_at_finalize > 0 {
            eprintln!(
                "scope-profiler: warning: {} region(s) were still open at finalize; they are not in the profile \
                 and are counted as dropped (open_regions_at_finalize)",
                outcome.open_at_finalize
            );
        }
        let mut summary = summarize(&outcome, config.get_time_trace());
        let facts = RunFacts {
            start_time_ns,
            finalize_time_ns: clock::monotonic_ns(),
            mpi_size: 1,
            counters: vec![
                ("time_trace", config.get_time_trace() as i64),
                ("buffer_limit", config.get_buffer_limit() as i64),
                ("threads", outcome.threads as i64),
                (
                    "dropped_events",
                    (outcome.dropped + outcome.open_at_finalize) as i64,
                ),
                ("open_regions_at_finalize", outcome.open_at_finalize as i64),
                ("blocked_ns", outcome.blocked_ns as i64),
                ("unwritten_events", outcome.unwritten as i64),
            ],
            labels: vec![("overflow_policy", format!("{:?}", config.get_overflow()))],
        };
        let file_path = config.get_file_path().to_owned();
        let merged = outcome
            .rank_file
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|rank_file| write_merged(&file_path, &[(0, rank_file.clone())], &facts));
        if let Err(message) = merged {
            let kept = temp_dir.keep();
            eprintln!(
                "scope-profiler: cannot write {}: {message}; the rank data is kept in {}",
                file_path.display(),
                kept.display()
            );
            return Err(Error::Output {
                path: file_path,
                message,
                kept,
            });
        }
        if outcome.unwritten > 0 {
            eprintln!(
                "scope-profiler: warning: {} events could not be written to the rank file and are missing \
                 from {} (see unwritten_events); the summary still counts them",
                outcome.unwritten,
                file_path.display()
            );
        }
        summary.file = Some(file_path);
        if config.get_print_summary() {
            print!("{summary}");
        }
        Ok(summary)
    }
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
        file: None,
    }
}
