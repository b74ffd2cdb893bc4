//! Real `mpirun` runs of the examples (feature `mpi`): four ranks merge into
//! one file the Python package reads, clocks are aligned, a rank that
//! crashes before or during finalize does not hang the others and the rank
//! data survives.
//!
//! Run by CI as `cargo build --features mpi --examples && cargo test --features mpi --test mpi`
//! (a plain `cargo test --features mpi` builds the examples too).
#![cfg(all(feature = "mpi", not(feature = "off")))]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{python_venv, run_python};
use scope_profiler::read_profile;

fn example(name: &str) -> PathBuf {
    // tests run from target/<profile>/deps; examples are built beside it.
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{path:?} not built: run `cargo build --features mpi --examples` first"
    );
    path
}

/// Fails the test with the job's exit status and stderr unless it exited 0.
fn assert_succeeded(run: &Output) {
    assert!(
        run.status.success(),
        "{}:\n{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
}

fn mpirun(n: u32, args: &[&std::ffi::OsStr], limit: Duration) -> (Output, Duration) {
    mpirun_with(n, args, &[], limit)
}

/// [`mpirun`] with `env` set for every rank.
fn mpirun_with(
    n: u32,
    args: &[&std::ffi::OsStr],
    env: &[(&str, &str)],
    limit: Duration,
) -> (Output, Duration) {
    // One job at a time: on a 2-core machine two oversubscribed jobs starve
    // each other and the clock test measures the scheduler instead.
    static ONE_JOB: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = ONE_JOB
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let began = Instant::now();
    let child = Command::new("mpirun")
        .args([
            "--oversubscribe",
            "--allow-run-as-root",
            "-n",
            &n.to_string(),
        ])
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mpirun (Debian: openmpi-bin) is installed");
    let id = child.id();
    // A watchdog: a hung job is killed, and the test then fails on its output.
    let watchdog = std::thread::spawn(move || {
        let step = Duration::from_millis(100);
        let mut waited = Duration::ZERO;
        while waited < limit {
            std::thread::sleep(step);
            waited += step;
            if !Path::new(&format!("/proc/{id}")).exists() {
                return;
            }
        }
        let _ = Command::new("kill").args(["-9", &id.to_string()]).status();
    });
    let out = child.wait_with_output().unwrap();
    let _ = watchdog.join();
    (out, began.elapsed())
}

#[test]
fn four_ranks_merge_into_one_file_the_python_package_reads() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("merged.h5");
    let tmp = dir.path().join("run");
    let (run, _) = mpirun(
        4,
        &[
            example("mpi_demo").as_os_str(),
            out.as_os_str(),
            "7".as_ref(),
            "--tmp".as_ref(),
            tmp.as_os_str(),
        ],
        Duration::from_secs(120),
    );
    assert_succeeded(&run);
    let data = read_profile(&out).unwrap();
    assert_eq!(data.ranks, vec![0, 1, 2, 3]);
    let compute = data.region("compute").unwrap();
    for rank in 0..4u32 {
        assert_eq!(
            compute.per_rank[&rank].calls(),
            7 + rank as u64,
            "rank {rank}"
        );
    }
    let meta = |k: &str| data.metadata.get(k).map(|v| v.to_string());
    assert_eq!(meta("mpi_size").as_deref(), Some("4"));
    assert_eq!(meta("num_nodes").as_deref(), Some("1"));
    // Rank 0 printed the pooled summary, once; the run directory is gone.
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(stdout.matches("Region: compute").count(), 1, "{stdout}");
    assert!(stdout.contains("Total Calls : 34"), "{stdout}");
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "run directory left in {tmp:?}"
    );

    let Some(venv) = python_venv() else { return };
    let script = "import sys, scope_profiler as sp\nr = sp.read_h5(sys.argv[1])\n\
                  print(r.num_ranks if hasattr(r, 'num_ranks') else r._num_ranks, \
                  sorted((k, v.num_calls) for k, v in r._region_dict['compute'].regions.items()))";
    assert_eq!(
        run_python(&venv, script, [&out]).trim(),
        "4 [(0, 7), (1, 8), (2, 9), (3, 10)]"
    );
    let inspect = Command::new(venv.join("bin/scope-profiler"))
        .arg("inspect")
        .arg(&out)
        .output()
        .unwrap();
    assert!(inspect.status.success());
    assert!(String::from_utf8_lossy(&inspect.stdout).contains("4 rank(s), 1 region(s)"));
}

#[test]
fn four_ranks_merge_into_columnar_schema_3() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("columnar.h5");
    let (run, _) = mpirun(
        4,
        &[
            example("mpi_demo").as_os_str(),
            out.as_os_str(),
            "3".as_ref(),
            "--columnar".as_ref(),
        ],
        Duration::from_secs(120),
    );
    assert_succeeded(&run);
    let data = read_profile(&out).unwrap();
    assert_eq!((data.schema, data.ranks.clone()), (3, vec![0, 1, 2, 3]));
    let compute = data.region("compute").unwrap();
    let calls: Vec<u64> = (0..4).map(|r| compute.per_rank[&r].calls()).collect();
    assert_eq!(calls, vec![3, 4, 5, 6]);
    let Some(venv) = python_venv() else { return };
    let script = "import sys\nfrom scope_profiler.h5reader import read_h5_summary\n\
                  r = read_h5_summary(sys.argv[1], fallback=False)\n\
                  print(sorted((k, v.num_calls) for k, v in r._region_dict['compute'].regions.items()))";
    assert_eq!(
        run_python(&venv, script, [&out]).trim(),
        "[(0, 3), (1, 4), (2, 5), (3, 6)]"
    );
}

#[test]
fn sixteen_ranks_write_their_own_parts_of_one_columnar_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("parts.h5");
    let (run, _) = mpirun(
        16,
        &[
            example("mpi_demo").as_os_str(),
            out.as_os_str(),
            "20".as_ref(),
            "--columnar".as_ref(),
        ],
        Duration::from_secs(300),
    );
    assert_succeeded(&run);
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(
        left,
        vec![std::ffi::OsString::from("parts.h5")],
        "temporary files left"
    );
    let data = read_profile(&out).unwrap();
    assert_eq!((data.schema, data.ranks.len()), (3, 16));
    let compute = data.region("compute").unwrap();
    let start = data.metadata["start_time_ns"]
        .to_string()
        .parse::<i64>()
        .unwrap();
    for rank in 0..16u32 {
        let events = &compute.per_rank[&rank];
        assert_eq!(events.calls(), 20 + rank as u64, "rank {rank}");
        assert!(
            events
                .starts
                .iter()
                .zip(&events.ends)
                .all(|(s, e)| start <= *s && s <= e),
            "rank {rank}"
        );
    }
    let Some(venv) = python_venv() else { return };
    let script = "import sys, scope_profiler as sp\nr = sp.read_h5(sys.argv[1])\n\
                  print(sorted((k, v.num_calls) for k, v in r._region_dict['compute'].regions.items()))";
    let expected: Vec<String> = (0..16).map(|r| format!("({r}, {})", 20 + r)).collect();
    assert_eq!(
        run_python(&venv, script, [&out]).trim(),
        format!("[{}]", expected.join(", "))
    );
}

#[test]
fn the_same_binary_runs_without_mpirun() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("serial.h5");
    let run = Command::new(example("mpi_demo"))
        .arg(&out)
        .arg("3")
        .output()
        .unwrap();
    assert_succeeded(&run);
    let data = read_profile(&out).unwrap();
    assert_eq!(data.ranks, vec![0]);
    assert_eq!(data.region("compute").unwrap().per_rank[&0].calls(), 3);
}

#[test]
fn ranks_on_one_node_share_its_clock_and_barrier_rounds_end_together() {
    let setup_offset = barrier_rounds_end_together("per-node");
    assert_eq!(setup_offset, (0, 0), "one node: no offset, no round trip");
}

#[test]
fn ranks_measured_by_ping_pong_end_barrier_rounds_together() {
    let (_, rtt) = barrier_rounds_end_together("per-rank");
    assert!(rtt > 0, "rank 1 was not measured");
}

/// Runs `mpi_clock` on two ranks with `SCOPE_PROFILER_CLOCK_SYNC=sync`,
/// checks that the rounds' ends agree on rank 0's clock, and returns rank
/// 1's setup offset and round trip as the file records them.
fn barrier_rounds_end_together(sync: &str) -> (i64, i64) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("clock.h5");
    let (run, _) = mpirun_with(
        2,
        &[example("mpi_clock").as_os_str(), out.as_os_str()],
        &[("SCOPE_PROFILER_CLOCK_SYNC", sync)],
        Duration::from_secs(120),
    );
    assert_succeeded(&run);
    let data = read_profile(&out).unwrap();
    let barrier = data.region("barrier").unwrap();
    let (r0, r1) = (&barrier.per_rank[&0], &barrier.per_rank[&1]);
    assert_eq!((r0.calls(), r1.calls()), (20, 20));
    // A wrong clock offset moves every round's ends apart by the same
    // amount; a rank descheduled right after the barrier (2 cores, 4+
    // threads, a busy CI machine) moves only that round's, by milliseconds.
    // So the quietest quarter of the rounds must end within 50 µs, plus half
    // the ping-pong's round trip: the offset it measured is known only to
    // within that.
    let file = scope_profiler_format::h5file::open(&out).unwrap();
    let rank1 = file.group("rank1").unwrap();
    let read = |name: &str| rank1.attr(name).unwrap().read_scalar::<i64>().unwrap();
    let (setup_offset, rtt) = (read("clock_offset_setup_ns"), read("clock_rtt_ns"));
    // Both ranks read one CLOCK_MONOTONIC: a measured offset lies within
    // half the round trip of zero.
    assert!(
        setup_offset.abs() <= rtt / 2 + 1,
        "offset {setup_offset} ns, round trip {rtt} ns"
    );
    let mut spreads: Vec<i64> = (0..20).map(|i| (r0.ends[i] - r1.ends[i]).abs()).collect();
    spreads.sort_unstable();
    assert!(
        spreads[5] < 50_000 + rtt / 2,
        "25th-percentile spread {} ns (round trip {rtt} ns); all: {spreads:?}",
        spreads[5]
    );
    // After the first barrier the ranks sleep 5 ms apart before most rounds:
    // the starts differ, so equal ends are the barrier, not chance.
    let apart = (1..20)
        .filter(|&i| (r0.starts[i] - r1.starts[i]).abs() > 1_000_000)
        .count();
    assert!(apart >= 10, "only {apart} rounds started > 1 ms apart");
    // The run starts no later than any call.
    let start = data.metadata["start_time_ns"]
        .to_string()
        .parse::<i64>()
        .unwrap();
    assert!(start <= r0.starts[0].min(r1.starts[0]), "start {start}");
    // The raw offsets are kept so the shift can be undone.
    for attr in ["clock_offset_finalize_ns", "clock_drift_ns_per_s"] {
        assert!(rank1.attr(attr).is_ok(), "rank1 lacks {attr}");
    }
    (setup_offset, rtt)
}

#[test]
fn a_rank_that_panics_does_not_hang_the_others_and_data_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never.h5");
    let tmp = dir.path().join("run");
    let (run, took) = mpirun(
        4,
        &[
            example("mpi_demo").as_os_str(),
            out.as_os_str(),
            "5".as_ref(),
            "--panic-rank".as_ref(),
            "1".as_ref(),
            "--timeout".as_ref(),
            "3".as_ref(),
            "--tmp".as_ref(),
            tmp.as_os_str(),
        ],
        Duration::from_secs(90),
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(took < Duration::from_secs(60), "took {took:?}");
    assert!(
        stderr.contains("not every rank reached finalize within 3 s"),
        "{stderr}"
    );
    assert!(!out.exists());
    // Every rank's data, the crashed rank's flushed part included, is on disk.
    let run_dir = std::fs::read_dir(&tmp)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(stderr.contains(&run_dir.display().to_string()), "{stderr}");
    for rank in 0..4u64 {
        let data = read_profile(run_dir.join(format!("rank_{rank}.sps"))).unwrap();
        assert_eq!(
            data.region("compute").unwrap().per_rank[&(rank as u32)].calls(),
            5 + rank,
            "rank {rank}"
        );
    }
}

#[test]
fn a_rank_that_dies_while_the_parts_are_written_does_not_hang_the_others() {
    // Before it sends its chunks' sizes (rank 0 waits to lay the file out),
    // and once the file is laid out (rank 0 waits for its part).
    for step in ["sizes", "write"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("never.h5");
        let tmp = dir.path().join("run");
        let exit_at = format!("2:{step}");
        let (run, took) = mpirun_with(
            4,
            &[
                example("mpi_demo").as_os_str(),
                out.as_os_str(),
                "5".as_ref(),
                "--columnar".as_ref(),
                "--timeout".as_ref(),
                "3".as_ref(),
                "--tmp".as_ref(),
                tmp.as_os_str(),
            ],
            // Let the other ranks run on after rank 2 dies, as they would
            // where the launcher does not end the job first.
            &[
                ("SCOPE_PROFILER_TEST_EXIT_AT", &exit_at),
                ("OMPI_MCA_orte_abort_on_non_zero_status", "0"),
            ],
            Duration::from_secs(90),
        );
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(took < Duration::from_secs(60), "{step}: took {took:?}");
        assert!(
            stderr.contains(&format!("rank 2: exiting before '{step}'")),
            "{step}: {stderr}"
        );
        for rank in [0, 1, 3] {
            assert!(
                stderr.contains(&format!(
                    "rank {rank}: not every rank reached finalize within 3 s"
                )),
                "{step}, rank {rank}: {stderr}"
            );
        }
        // No file, not even the one the parts were being written into.
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("run")], "{step}");
        // Every rank's data, the dead rank's included, is kept.
        let run_dir = std::fs::read_dir(&tmp)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        for rank in 0..4u64 {
            let data = read_profile(run_dir.join(format!("rank_{rank}.sps"))).unwrap();
            assert_eq!(
                data.region("compute").unwrap().per_rank[&(rank as u32)].calls(),
                5 + rank,
                "{step}, rank {rank}"
            );
        }
    }
}

#[test]
fn four_ranks_combine_their_aggregates_by_a_gather_not_by_rank_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("aggregate.h5");
    let tmp = dir.path().join("run");
    let (run, _) = mpirun(
        4,
        &[
            example("mpi_demo").as_os_str(),
            out.as_os_str(),
            "5".as_ref(),
            "--aggregate".as_ref(),
            "--tmp".as_ref(),
            tmp.as_os_str(),
        ],
        Duration::from_secs(120),
    );
    assert_succeeded(&run);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(stdout.contains("Total Calls : 26"), "{stdout}");
    let data = read_profile(&out).unwrap();
    assert_eq!((data.schema, data.ranks.clone()), (3, vec![0, 1, 2, 3]));
    let compute = data.region("compute").unwrap();
    for rank in 0..4u32 {
        let a = &compute.aggregate[&rank];
        assert_eq!(a.pooled.stats.calls, 5 + rank as u64, "rank {rank}");
        assert_eq!(a.threads.len(), 1, "rank {rank}: one thread recorded");
        let histogram = a.pooled.histogram.as_ref().unwrap();
        assert_eq!(histogram.calls(), 5 + rank as u64, "rank {rank}");
        assert!(compute.per_rank[&rank].starts.is_empty(), "no call kept");
    }
    // No call was kept, so the rank streams held none: the counts above
    // reached rank 0 by the gather. The run directory is gone.
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    let Some(venv) = python_venv() else { return };
    let script = "import sys, scope_profiler as sp\nr = sp.read_h5(sys.argv[1])\n\
                  print(sorted((k, v.num_calls) for k, v in r._region_dict['compute'].regions.items()))";
    assert_eq!(
        run_python(&venv, script, [&out]).trim(),
        "[(0, 5), (1, 6), (2, 7), (3, 8)]"
    );
}
