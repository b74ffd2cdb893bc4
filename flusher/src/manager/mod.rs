//! [`ProfileManager`]: setup, run-time control and finalize of a run.
//!
//! Serial and MPI runs take the same path: every rank writes
//! `rank_<N>.sps` in a run directory rank 0 made; finalize (`finalize.rs`)
//! waits for every rank, rank 0 merges the rank files (timestamps on its
//! clock) into `file_path`, and every rank returns once the file exists.
//! The opt-in signal and panic hooks that call finalize are in `hooks.rs`.

mod finalize;
mod hooks;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use scope_profiler_core::{Calibration, RegionGuard, RegionRegistry, Session};
use scope_profiler_format::{stream, ClockOffset};
use tempfile::TempDir;

use crate::config::Config;
use crate::drain::{DrainSettings, Flusher, Storage};
use crate::error::{Error, Result};
use crate::ranks::RankContext;
use crate::summary::Summary;

struct Running {
    config: Config,
    session: Arc<Session>,
    flusher: Flusher,
    ranks: RankContext,
    /// The run directory; rank 0 owns (and finally removes) it.
    run_dir: PathBuf,
    owned_dir: Option<TempDir>,
    /// This rank's clock offset from rank 0's, measured at setup.
    setup_clock: ClockOffset,
    /// Ticks → ns as the rank's stream converts them; its anchor is when
    /// this rank's run started, on its own clock.
    calibration: Calibration,
}

static RUNNING: Mutex<Option<Running>> = Mutex::new(None);

/// The process's profiling run: [`setup`](Self::setup) starts it,
/// [`finalize`](Self::finalize) drains, writes the file and returns the summary.
pub struct ProfileManager;

impl ProfileManager {
    /// Starts a run. Fails if one is running (call `finalize` first), if
    /// `buffer_limit` is below 2, or if the run directory cannot be made.
    /// With `flush_to_disk` (the default), rank 0 prints the run directory
    /// on stderr, one line, for `scope-profiler-pproc watch`.
    /// With feature `mpi` every rank must call it (it is collective).
    pub fn setup(config: Config) -> Result<()> {
        let mut running = RUNNING.lock().unwrap_or_else(PoisonError::into_inner);
        if running.is_some() {
            return Err(scope_profiler_core::SessionError::AlreadyActive.into());
        }
        if config.get_finalize_on_signal() {
            hooks::finalize_on_signal().map_err(Error::Signals)?;
        }
        if config.get_finalize_on_panic() {
            hooks::finalize_on_panic();
        }
        let keep_rule = config.keep_rule()?;
        let ranks = RankContext::detect()?;
        let parent = config
            .get_shared_tmp_dir()
            .map(ToOwned::to_owned)
            .unwrap_or_else(std::env::temp_dir);
        let mut owned_dir = None;
        let run_dir = ranks.share_dir(|| {
            check_writable(config.get_file_path())?;
            let dir = make_run_dir(&parent)?;
            let path = dir.path().to_owned();
            if config.get_flush_to_disk() {
                eprintln!(
                    "scope-profiler: run directory {0} (follow it live: scope-profiler-pproc watch {0})",
                    path.display()
                );
            }
            owned_dir = Some(dir);
            Ok(path)
        })?;
        let setup_clock = ranks.measure_clock();
        let calibration = Calibration::take();
        let session = Session::begin(config.recorder())?;
        let settings = DrainSettings {
            rank: ranks.rank(),
            calibration,
            rank_path: run_dir.join(stream::file_name(ranks.rank())),
            storage: if config.get_flush_to_disk() {
                Storage::Disk
            } else {
                Storage::Memory
            },
            interval: config.get_flush_interval(),
            aggregate: keep_rule,
        };
        let flusher = Flusher::start(session.clone(), settings).map_err(|e| {
            session.stop();
            Error::FlusherThread(e)
        })?;
        *running = Some(Running {
            config,
            session,
            flusher,
            ranks,
            run_dir,
            owned_dir,
            setup_clock,
            calibration,
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
    /// `flush_to_disk`, appended to this rank's stream: a process killed
    /// after `flush` returns still leaves those calls on disk.
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

    /// The run directory (holding each rank's `rank_<N>.sps`), if set up.
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
        running.finalize()
    }
}

/// Fails unless a file can be created in `file_path`'s directory, so an
/// unwritable output is reported at setup, not after the run.
fn check_writable(file_path: &Path) -> Result<()> {
    let dir = match file_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    tempfile::Builder::new()
        .prefix(".scope-profiler-check")
        .tempfile_in(dir)
        .map(drop)
        .map_err(|source| Error::OutputNotWritable {
            path: file_path.to_owned(),
            source,
        })
}

/// Makes the run directory `scope-profiler-XXXXXX` under `parent`
/// (creating `parent` if needed).
fn make_run_dir(parent: &Path) -> Result<TempDir> {
    let failed = |source| Error::TempDir {
        parent: parent.to_owned(),
        source,
    };
    std::fs::create_dir_all(parent).map_err(failed)?;
    tempfile::Builder::new()
        .prefix("scope-profiler-")
        .tempdir_in(parent)
        .map_err(failed)
}
