//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, MutexGuard, PoisonError};

use scope_profiler::{Config, ProfileData, ProfileManager};
use scope_profiler_core::{clock, Calibration};

pub mod traced;

/// One profiling run per process at a time: tests in a file share the
/// process-wide `ProfileManager`, so each takes this lock for its whole run.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A fresh directory and a config writing `profile.h5` into it, quiet.
pub fn config_in(dir: &tempfile::TempDir) -> (Config, PathBuf) {
    let path = dir.path().join("profile.h5");
    let config = Config::default()
        .file_path(&path)
        .print_summary(false)
        .shared_tmp_dir(dir.path());
    (config, path)
}

/// A profiling run set up in a fresh temp dir (removed on drop) with the
/// [`config_in`] config changed by `configure`. The caller holds the
/// [`serial`] lock; [`setup_run`] takes it too.
pub struct RunDir {
    /// The file the run writes at finalize.
    pub path: PathBuf,
    pub dir: tempfile::TempDir,
}

/// Sets up a run in a fresh temp dir; see [`RunDir`].
pub fn setup_in_temp_dir(configure: impl FnOnce(Config) -> Config) -> RunDir {
    let dir = tempfile::tempdir().unwrap();
    let (config, path) = config_in(&dir);
    ProfileManager::setup(configure(config)).unwrap();
    RunDir { path, dir }
}

/// One test's profiling run: holds the [`serial`] lock and the temp dir
/// (removed before the lock is released) the run writes into.
pub struct TestRun {
    /// The file the run writes at finalize.
    pub path: PathBuf,
    pub dir: tempfile::TempDir,
    _serial: MutexGuard<'static, ()>,
}

/// Takes the [`serial`] lock and sets up a run in a fresh temp dir.
pub fn setup_run(configure: impl FnOnce(Config) -> Config) -> TestRun {
    let serial = serial();
    let RunDir { path, dir } = setup_in_temp_dir(configure);
    TestRun {
        path,
        dir,
        _serial: serial,
    }
}

/// Calls per region name on rank 0.
pub fn calls_on_rank0(data: &ProfileData) -> Vec<(String, u64)> {
    data.regions
        .iter()
        .map(|r| (r.name.clone(), r.per_rank.get(&0).map_or(0, |e| e.calls())))
        .collect()
}

/// A venv with scope-profiler 0.7.5 and h5py, made once under cargo's target
/// tmp dir. `None` (with the reason printed) only when python3 is missing;
/// a failing venv or pip fails the test.
pub fn python_venv() -> Option<PathBuf> {
    // Tests of one binary run in parallel: make the venv once per process.
    static VENV: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    VENV.get_or_init(make_python_venv).clone()
}

fn make_python_venv() -> Option<PathBuf> {
    let have_python = Command::new("python3")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have_python {
        eprintln!(
            "SKIPPED python_compat: python3 is not installed, so the Python package cannot be run"
        );
        return None;
    }
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("compat-venv");
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args([
            "-c",
            "import scope_profiler, h5py; assert scope_profiler.__version__ == '0.7.5'",
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ready {
        let made = Command::new("python3")
            .args(["-m", "venv", "--clear"])
            .arg(&venv)
            .status()
            .unwrap();
        assert!(
            made.success(),
            "python3 -m venv failed (Debian needs python3-venv)"
        );
        let pip = Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "scope-profiler==0.7.5", "h5py"])
            .status()
            .unwrap();
        assert!(
            pip.success(),
            "pip install scope-profiler==0.7.5 h5py failed"
        );
    }
    Some(venv)
}

/// Runs `script` with the venv's Python and `args`; fails the test with
/// Python's stderr unless it exits 0, and returns its stdout.
pub fn run_python<I, A>(venv: &Path, script: &str, args: I) -> String
where
    I: IntoIterator<Item = A>,
    A: AsRef<std::ffi::OsStr>,
{
    let out = Command::new(venv.join("bin/python"))
        .args(["-c", script])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `scope-profiler-pproc` binary, built by `cargo build` (a no-op when
/// it is up to date; cargo does not hold its build lock while tests run).
pub fn pproc_binary() -> PathBuf {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY
        .get_or_init(|| {
            let out = Command::new(env!("CARGO"))
                .args([
                    "build",
                    "--quiet",
                    "--message-format=json",
                    "--package",
                    "scope-profiler-pproc",
                    "--bin",
                    "scope-profiler-pproc",
                ])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "cargo build of scope-profiler-pproc failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
                .find_map(|m| Some(PathBuf::from(m.get("executable")?.as_str()?)))
                .expect("cargo reported no scope-profiler-pproc executable")
        })
        .clone()
}

/// Runs `command`; fails the test with its stderr unless it exits 0, and
/// returns its stdout and stderr.
pub fn run_ok(command: &mut Command) -> (String, String) {
    let out = command.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "{command:?} failed:\n{stdout}{stderr}"
    );
    (stdout, stderr)
}

/// Ticks a call must last to outgrow a ring record's duration (2³² − 1
/// ticks), by an eighth of 2³², so that a duration cut at 2³² is far off.
pub const PAST_A_RECORD: u64 = (1 << 32) + (1 << 29);

/// Seconds [`PAST_A_RECORD`] ticks take on this machine's clock (a 3 GHz
/// TSC: 1.6 s; an ARM system counter at 24 MHz: minutes).
pub fn past_a_record_s() -> f64 {
    PAST_A_RECORD as f64 * Calibration::take().ns_per_tick() / 1e9
}

/// Waits until [`PAST_A_RECORD`] ticks have passed on the clock the records
/// use (not for another thread).
pub fn wait_past_a_record() {
    let start = clock::now();
    while clock::now().wrapping_sub(start) <= PAST_A_RECORD {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
