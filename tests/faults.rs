//! Faults: an unwritable output keeps the data, a killed process leaves a
//! readable rank file holding every flushed event.
#![cfg(not(feature = "off"))]

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{serial, setup_run};
use scope_profiler::{read_profile, region, Config, Error, ProfileManager};
use scope_profiler_format::repair::{self, Repair};

#[test]
fn an_unwritable_file_path_fails_setup_with_one_clear_line() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("does/not/exist/profile.h5");
    let config = Config::default()
        .file_path(&missing)
        .shared_tmp_dir(dir.path());
    let err = ProfileManager::setup(config).unwrap_err();
    assert!(matches!(err, Error::OutputNotWritable { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");
    assert!(!ProfileManager::is_setup());
}

#[test]
fn a_file_path_that_vanishes_before_finalize_keeps_the_rank_data() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let missing_dir = out_dir.join("profile.h5");
    let config = Config::default()
        .file_path(&missing_dir)
        .print_summary(false)
        .shared_tmp_dir(dir.path());
    ProfileManager::setup(config).unwrap();
    std::fs::remove_dir(&out_dir).unwrap();
    for _ in 0..123 {
        let _g = region!("precious");
    }
    // While the run goes, every flushed batch is in the rank's stream,
    // readable as a profile that says it is not finished.
    ProfileManager::flush().unwrap();
    let stream = ProfileManager::run_dir().unwrap().join("rank_0.sps");
    let running = read_profile(&stream).unwrap();
    assert_eq!(
        running.region("precious").unwrap().per_rank[&0].calls(),
        123
    );
    assert_eq!(running.damage, [scope_profiler::Damage::Unfinished]);
    let err = ProfileManager::finalize().unwrap_err();
    let Error::Output { path, kept, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(path, &missing_dir);
    assert!(
        err.to_string().contains(&kept.display().to_string()),
        "{err}"
    );
    let data = read_profile(kept.join("rank_0.sps")).unwrap();
    assert_eq!(data.region("precious").unwrap().per_rank[&0].calls(), 123);
    assert!(
        data.damage.is_empty(),
        "closed by finalize: {:?}",
        data.damage
    );
    assert!(!missing_dir.exists());
}

#[test]
fn a_successful_run_leaves_no_temporary_files() {
    let run = setup_run(|c| c);
    let temp = ProfileManager::run_dir().unwrap();
    {
        let _g = region!("tidy");
    }
    ProfileManager::finalize().unwrap();
    assert!(!temp.exists(), "run directory {temp:?} left behind");
    let left: Vec<_> = std::fs::read_dir(run.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, vec![run.path.file_name().unwrap().to_owned()]);
}

/// Child side of `killed_writer_leaves_readable_file`: records, flushes,
/// reports how many calls are on disk, and keeps recording until killed.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("SCOPE_PROFILER_CRASH_CHILD") else {
        return;
    };
    let config = Config::default()
        .file_path(format!("{dir}/never.h5"))
        .shared_tmp_dir(&dir)
        .buffer_limit(4096);
    ProfileManager::setup(config).unwrap();
    println!(
        "rank file {}",
        ProfileManager::run_dir()
            .unwrap()
            .join("rank_0.sps")
            .display()
    );
    // Bounded: if the parent never kills us, stop after 1000 rounds (10⁷
    // events, 200 MB) instead of filling the disk.
    for round in 1..=1_000u64 {
        for _ in 0..10_000 {
            let _g = region!("until killed");
        }
        ProfileManager::flush().unwrap();
        println!("flushed {}", round * 10_000);
    }
}

#[test]
fn killed_writer_leaves_readable_file() {
    let dir = tempfile::tempdir().unwrap();
    // 20 SIGKILLs at pseudo-random moments: after the k-th reported flush
    // plus 0-3 ms, i.e. anywhere inside recording, draining or appending.
    let mut rng = fastrand::Rng::with_seed(0x2545_f491_4f6c_dd1d);
    let mut killed = Vec::new();
    let mut torn = 0;
    for _ in 0..20 {
        let kill_after = rng.usize(1..=5);
        let extra = Duration::from_micros(rng.u64(..3_000));
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("SCOPE_PROFILER_CRASH_CHILD", dir.path())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap())
            .lines()
            .map_while(Result::ok);
        let rank_file = lines
            .find_map(|l| l.split_once("rank file ").map(|(_, p)| p.to_owned()))
            .unwrap();
        // `by_ref`: the pipe stays open until the kill, so the child dies of
        // SIGKILL mid-work, not of a write to a closed pipe.
        let flushed: u64 = lines
            .by_ref()
            .filter_map(|l| l.strip_prefix("flushed ").and_then(|n| n.parse().ok()))
            .nth(kill_after - 1)
            .unwrap();
        // Not synchronisation: a random offset, so the kill lands mid-work.
        std::thread::sleep(extra);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        drop(lines);
        let data = read_profile(&rank_file).unwrap_or_else(|e| panic!("after SIGKILL: {e}"));
        let events = &data.region("until killed").unwrap().per_rank[&0];
        assert!(
            events
                .starts
                .iter()
                .zip(&events.ends)
                .all(|(&s, &e)| 0 < s && s <= e),
            "{rank_file}: an event that was never recorded"
        );
        assert!(
            events.calls() >= flushed,
            "{rank_file}: {} on disk < {flushed} reported flushed ({:?})",
            events.calls(),
            data.damage
        );
        assert!(data.damage.contains(&scope_profiler::Damage::Unfinished));
        if data
            .damage
            .iter()
            .any(|d| matches!(d, scope_profiler::Damage::TornFrame { .. }))
        {
            torn += 1;
        }
        // `--repair` converts the stream into an HDF5 file with the same calls.
        let Ok(Repair::Converted { to, calls, .. }) = repair::repair(Path::new(&rank_file)) else {
            panic!("{rank_file}: not converted");
        };
        assert_eq!(calls, events.calls());
        let converted = read_profile(&to).unwrap();
        assert_eq!(
            converted.region("until killed").unwrap().per_rank[&0],
            *events
        );
        killed.push((to.display().to_string(), flushed));
    }
    println!("of 20 killed streams, {torn} ended in a torn batch");
    // h5py (HDF5 of the Python package) reads every converted file too.
    let Some(venv) = common::python_venv() else {
        return;
    };
    let script = "import sys, h5py\nfor path, flushed in zip(sys.argv[1::2], sys.argv[2::2]):\n    \
                  f = h5py.File(path, 'r')\n    r = f['rank0/regions/until killed']\n    \
                  n = min(len(r['start_times']), len(r['end_times']))\n    assert n >= int(flushed), (path, n, flushed)\n    \
                  assert (r['start_times'][:n] > 0).all(), path\nprint('ok')";
    let args = killed
        .iter()
        .flat_map(|(path, flushed)| [path.clone(), flushed.to_string()]);
    common::run_python(&venv, script, args);
}

/// Child side of `a_launcher_without_feature_mpi_gets_per_rank_files`.
#[test]
fn launcher_child() {
    let Ok(dir) = std::env::var("SCOPE_PROFILER_LAUNCHER_CHILD") else {
        return;
    };
    let config = Config::default()
        .file_path(format!("{dir}/profile.h5"))
        .shared_tmp_dir(&dir)
        .print_summary(false);
    ProfileManager::setup(config).unwrap();
    {
        let _g = region!("per rank");
    }
    let summary = ProfileManager::finalize().unwrap();
    println!("wrote {}", summary.file.unwrap().display());
}

#[cfg(not(feature = "mpi"))]
#[test]
fn a_launcher_without_feature_mpi_gets_per_rank_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for rank in [0, 2] {
        let out = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "launcher_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("SCOPE_PROFILER_LAUNCHER_CHILD", dir.path())
            .env("OMPI_COMM_WORLD_SIZE", "4")
            .env("OMPI_COMM_WORLD_RANK", rank.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        outputs.push(out);
    }
    // Each rank wrote its own file instead of clobbering profile.h5.
    for rank in [0, 2] {
        let file = dir.path().join(format!("profile.rank{rank}.h5"));
        let data = read_profile(&file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(data.region("per rank").unwrap().per_rank[&0].calls(), 1);
    }
    assert!(!dir.path().join("profile.h5").exists());
    // Rank 0 warned, once; rank 2 did not repeat it.
    let warning = "built without feature `mpi`";
    assert_eq!(
        String::from_utf8_lossy(&outputs[0].stderr)
            .matches(warning)
            .count(),
        1
    );
    assert_eq!(
        String::from_utf8_lossy(&outputs[1].stderr)
            .matches(warning)
            .count(),
        0
    );
}

/// Child side of the SIGTERM and panic tests: records, says so, then waits
/// to be signalled (bounded) or panics.
#[test]
fn emergency_child() {
    let Ok(mode) = std::env::var("SCOPE_PROFILER_EMERGENCY_CHILD") else {
        return;
    };
    let dir = std::env::var("SCOPE_PROFILER_EMERGENCY_DIR").unwrap();
    let config = Config::default()
        .file_path(format!("{dir}/emergency.h5"))
        .shared_tmp_dir(&dir)
        .print_summary(false)
        .finalize_on_signal(mode == "signal")
        .finalize_on_panic(mode == "panic");
    ProfileManager::setup(config).unwrap();
    for _ in 0..321 {
        let _g = region!("before the end");
    }
    if mode == "panic" {
        panic!("user code fails");
    }
    println!("ready");
    // Bounded wait for the parent's SIGTERM.
    std::thread::sleep(Duration::from_secs(60));
}

fn spawn_emergency_child(mode: &str, dir: &std::path::Path) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "emergency_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SCOPE_PROFILER_EMERGENCY_CHILD", mode)
        .env("SCOPE_PROFILER_EMERGENCY_DIR", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[test]
fn sigterm_finalizes_when_asked_to() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_emergency_child("signal", dir.path());
    let mut lines = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok);
    assert!(lines.any(|l| l.contains("ready")));
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + 15), "exit status {status:?}");
    let data = read_profile(dir.path().join("emergency.h5")).unwrap();
    assert_eq!(
        data.region("before the end").unwrap().per_rank[&0].calls(),
        321
    );
}

#[test]
fn a_panic_finalizes_when_asked_to() {
    let dir = tempfile::tempdir().unwrap();
    let status = spawn_emergency_child("panic", dir.path()).wait().unwrap();
    assert!(!status.success());
    let data = read_profile(dir.path().join("emergency.h5")).unwrap();
    assert_eq!(
        data.region("before the end").unwrap().per_rank[&0].calls(),
        321
    );
}
