//! The runtime end to end: regions recorded on any thread reach the file and
//! the summary exactly, in every mode.
#![cfg(not(feature = "off"))]

mod common;

use common::{calls_on_rank0, config_in, serial, setup_run};
use scope_profiler::{profile, read_profile, region, Config, OverflowPolicy, ProfileManager};

fn fib(n: u32) -> u64 {
    let _g = region!("fib");
    if n < 2 {
        n as u64
    } else {
        fib(n - 1) + fib(n - 2)
    }
}

#[test]
fn timed_flushed_run_writes_every_call_and_the_summary_agrees() {
    let run = setup_run(|c| c.buffer_limit(64));
    for _ in 0..1_000 {
        let _outer = region!("outer");
        let _inner = region!("inner");
    }
    assert_eq!(fib(15), 610);
    profile("closure", || ());
    let summary = ProfileManager::finalize().unwrap();

    let data = read_profile(&run.path).unwrap();
    let calls = calls_on_rank0(&data);
    // fib(15) makes 1973 calls.
    for (name, expected) in [
        ("outer", 1_000),
        ("inner", 1_000),
        ("fib", 1_973),
        ("closure", 1),
    ] {
        assert_eq!(
            summary.region(name).unwrap().stats.calls,
            expected,
            "summary {name}"
        );
        assert!(
            calls.contains(&(name.to_string(), expected)),
            "file {name}: {calls:?}"
        );
    }
    // The summary's totals are the file's totals.
    for r in &data.regions {
        let s = r.stats();
        let from_summary = summary.region(&r.name).unwrap().stats;
        assert_eq!(
            (s.calls, s.total_ns, s.min_ns, s.max_ns),
            (
                from_summary.calls,
                from_summary.total_ns,
                from_summary.min_ns,
                from_summary.max_ns
            )
        );
    }
    assert_eq!(summary.dropped_events, 0);
}

#[test]
fn nested_regions_lie_inside_their_parent() {
    let run = setup_run(|c| c);
    for _ in 0..50 {
        let _outer = region!("parent");
        std::hint::black_box((0..100).sum::<u64>());
        let _inner = region!("child");
        std::hint::black_box((0..100).sum::<u64>());
    }
    ProfileManager::finalize().unwrap();
    let data = read_profile(&run.path).unwrap();
    let parent = &data.region("parent").unwrap().per_rank[&0];
    let child = &data.region("child").unwrap().per_rank[&0];
    assert_eq!(parent.calls(), 50);
    for i in 0..50 {
        assert!(
            parent.starts[i] <= child.starts[i] && child.ends[i] <= parent.ends[i],
            "call {i}"
        );
        assert!(child.starts[i] <= child.ends[i]);
    }
    // Timestamps are CLOCK_MONOTONIC ns between setup and finalize.
    let start = match data.metadata["start_time_ns"] {
        scope_profiler::AttrValue::Int(v) => v,
        ref v => panic!("{v:?}"),
    };
    let end = match data.metadata["finalize_time_ns"] {
        scope_profiler::AttrValue::Int(v) => v,
        ref v => panic!("{v:?}"),
    };
    assert!(
        parent.starts[0] >= start && parent.ends[49] <= end,
        "{start} {} {} {end}",
        parent.starts[0],
        parent.ends[49]
    );
}

/// A call of 2³² − 1 ticks or more (about 1.4 s on a 3 GHz TSC) does not
/// fit a ring record's duration: its end travels beside the ring. Two such
/// calls, nested, between short ones, keep their own ends and their order.
#[test]
fn calls_too_long_for_a_ring_record_keep_their_ends() {
    use std::time::Instant;
    let wait_s = common::past_a_record_s();
    if wait_s > 10.0 {
        eprintln!("skipped: 2^32 ticks of this clock take {wait_s:.0} s");
        return;
    }
    let run = setup_run(|c| c);
    let outer_began = Instant::now();
    let (middle_within, middle_waited) = {
        let _outer = region!("outer");
        for _ in 0..3 {
            let _g = region!("short");
        }
        let middle_began = Instant::now();
        let waited = {
            let _middle = region!("middle");
            let waited = Instant::now();
            common::wait_past_a_record();
            waited.elapsed()
        };
        let within = middle_began.elapsed();
        for _ in 0..3 {
            let _g = region!("short");
        }
        (within, waited)
    };
    let outer_within = outer_began.elapsed();
    ProfileManager::finalize().unwrap();

    let data = read_profile(&run.path).unwrap();
    let duration = |name: &str| {
        let calls = &data.region(name).unwrap().per_rank[&0];
        assert_eq!(calls.calls(), 1, "{name}");
        calls.durations().next().unwrap()
    };
    let (middle, outer) = (duration("middle"), duration("outer"));
    let slack = 1_000_000; // 1 ms of calibration and conversion
    assert!(
        middle >= middle_waited.as_nanos() as i64 - slack
            && middle <= middle_within.as_nanos() as i64 + slack,
        "middle {middle} ns, waited {middle_waited:?}, within {middle_within:?}"
    );
    assert!(
        outer > middle && outer <= outer_within.as_nanos() as i64 + slack,
        "outer {outer} ns, middle {middle} ns, within {outer_within:?}"
    );
    let short = &data.region("short").unwrap().per_rank[&0];
    assert_eq!(short.calls(), 6);
    assert!(short.durations().all(|d| (0..slack).contains(&d)));
}

#[test]
fn in_memory_mode_writes_everything_at_finalize() {
    let run = setup_run(|c| c.flush_to_disk(false).buffer_limit(16));
    let rank_file = ProfileManager::run_dir().unwrap().join("rank_0.h5");
    for _ in 0..5_000 {
        let _g = region!("kept");
    }
    ProfileManager::flush().unwrap();
    assert!(
        !rank_file.exists(),
        "flush_to_disk(false) must not write during the run"
    );
    ProfileManager::finalize().unwrap();
    let data = read_profile(&run.path).unwrap();
    assert_eq!(calls_on_rank0(&data), vec![("kept".to_string(), 5_000)]);
    assert_eq!(
        data.region("kept").unwrap().per_rank[&0].starts.len(),
        5_000
    );
}

#[test]
fn count_only_mode_counts_calls_without_timestamps() {
    let run = setup_run(|c| c.time_trace(false));
    for _ in 0..777 {
        let _g = region!("counted");
    }
    let summary = ProfileManager::finalize().unwrap();
    assert_eq!(summary.region("counted").unwrap().stats.calls, 777);
    assert_eq!(summary.region("counted").unwrap().stats.total_ns, 0);
    let data = read_profile(&run.path).unwrap();
    let events = &data.region("counted").unwrap().per_rank[&0];
    assert_eq!((events.calls(), events.starts.len()), (777, 0));
}

#[test]
fn disabled_and_runtime_switch_record_only_while_active() {
    let run = setup_run(|c| c.profiling_activated(false));
    for _ in 0..100 {
        let g = region!("switched");
        assert!(!g.is_recording());
    }
    ProfileManager::set_active(true).unwrap();
    for _ in 0..10 {
        let _g = region!("switched");
    }
    ProfileManager::set_active(false).unwrap();
    for _ in 0..100 {
        let _g = region!("switched");
    }
    let summary = ProfileManager::finalize().unwrap();
    assert_eq!(summary.region("switched").unwrap().stats.calls, 10);
    assert_eq!(
        calls_on_rank0(&read_profile(&run.path).unwrap()),
        vec![("switched".to_string(), 10)]
    );
}

#[test]
fn a_guard_dropped_by_a_panic_still_records_its_region() {
    let run = setup_run(|c| c);
    let caught = std::panic::catch_unwind(|| {
        let _g = region!("panicking");
        panic!("user code failed");
    });
    assert!(caught.is_err());
    let caught = std::panic::catch_unwind(|| profile("panicking closure", || panic!("again")));
    assert!(caught.is_err());
    ProfileManager::finalize().unwrap();
    let calls = calls_on_rank0(&read_profile(&run.path).unwrap());
    assert_eq!(
        calls,
        vec![
            ("panicking".to_string(), 1),
            ("panicking closure".to_string(), 1)
        ]
    );
}

#[test]
fn sixteen_threads_on_small_rings_lose_nothing() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let (config, path) = config_in(&dir);
    // 256-event rings: every thread fills its ring many times over, so the
    // Block policy and the half-full wake-ups are exercised.
    ProfileManager::setup(config.buffer_limit(256).overflow(OverflowPolicy::Block)).unwrap();
    std::thread::scope(|s| {
        for _ in 0..16 {
            s.spawn(|| {
                for _ in 0..20_000 {
                    let _g = region!("threaded");
                }
            });
        }
    });
    let summary = ProfileManager::finalize().unwrap();
    assert_eq!(summary.region("threaded").unwrap().stats.calls, 320_000);
    assert_eq!(summary.dropped_events, 0);
    assert_eq!(summary.threads, 16);
    let data = read_profile(&path).unwrap();
    let events = &data.region("threaded").unwrap().per_rank[&0];
    assert_eq!(events.calls(), 320_000);
    // Each of the 16 threads contributed exactly its 20 000 calls.
    let mut per_thread = [0u32; 16];
    for t in events.threads.as_ref().unwrap() {
        per_thread[*t as usize] += 1;
    }
    assert_eq!(per_thread, [20_000; 16]);
}

#[test]
fn drop_policy_counts_every_record_it_drops() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = config_in(&dir);
    ProfileManager::setup(
        config
            .buffer_limit(4)
            .overflow(OverflowPolicy::Drop)
            .flush_interval(std::time::Duration::from_secs(3600)),
    )
    .unwrap();
    for _ in 0..10_000 {
        let _g = region!("lossy");
    }
    let summary = ProfileManager::finalize().unwrap();
    let kept = summary.region("lossy").map_or(0, |r| r.stats.calls);
    assert!(summary.dropped_events > 0, "a 4-slot ring must overflow");
    assert_eq!(kept + summary.dropped_events, 10_000);
}

#[test]
fn a_thread_that_exits_with_a_full_ring_loses_nothing() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let (config, path) = config_in(&dir);
    // The flusher only drains when woken or at finalize: the thread's records
    // are still in its ring when it exits.
    ProfileManager::setup(
        config
            .buffer_limit(100_000)
            .flush_interval(std::time::Duration::from_secs(3600)),
    )
    .unwrap();
    std::thread::spawn(|| {
        for _ in 0..40_000 {
            let _g = region!("short-lived");
        }
    })
    .join()
    .unwrap();
    let summary = ProfileManager::finalize().unwrap();
    assert_eq!(summary.region("short-lived").unwrap().stats.calls, 40_000);
    assert_eq!(
        calls_on_rank0(&read_profile(&path).unwrap()),
        vec![("short-lived".to_string(), 40_000)]
    );
}

#[test]
fn setup_twice_is_an_error_and_the_first_run_survives() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let (config, path) = config_in(&dir);
    ProfileManager::setup(config.clone()).unwrap();
    {
        let _g = region!("first run");
    }
    let err = ProfileManager::setup(config).unwrap_err();
    assert!(err.to_string().contains("already running"), "{err}");
    let summary = ProfileManager::finalize().unwrap();
    assert_eq!(summary.region("first run").unwrap().stats.calls, 1);
    assert!(path.exists());
}

#[test]
fn finalize_without_setup_is_an_error() {
    let _s = serial();
    let err = ProfileManager::finalize().unwrap_err();
    assert!(matches!(err, scope_profiler::Error::NotSetUp), "{err}");
    assert!(err.to_string().contains("setup"));
    assert!(ProfileManager::flush().is_err());
    // Regions without a run are free and record nothing.
    let g = region!("no run");
    assert!(!g.is_recording());
}

#[test]
fn a_region_open_at_finalize_is_counted_as_dropped() {
    let run = setup_run(|c| c);
    {
        let _closed = region!("closed");
    }
    let still_open = region!("left open");
    let summary = ProfileManager::finalize().unwrap();
    drop(still_open);
    assert_eq!(summary.open_at_finalize, 1);
    assert!(summary.region("left open").is_none());
    let data = read_profile(&run.path).unwrap();
    assert_eq!(
        data.metadata["open_regions_at_finalize"],
        scope_profiler::AttrValue::Int(1)
    );
    assert_eq!(
        data.metadata["dropped_events"],
        scope_profiler::AttrValue::Int(1)
    );
    assert_eq!(calls_on_rank0(&data), vec![("closed".to_string(), 1)]);
}

#[test]
fn runs_can_follow_each_other_in_one_process() {
    let _s = serial();
    for round in 0..3u64 {
        let dir = tempfile::tempdir().unwrap();
        let (config, path) = config_in(&dir);
        ProfileManager::setup(config).unwrap();
        for _ in 0..=round {
            let _g = region!("again");
        }
        ProfileManager::finalize().unwrap();
        assert_eq!(
            calls_on_rank0(&read_profile(&path).unwrap()),
            vec![("again".to_string(), round + 1)]
        );
    }
}

#[test]
fn the_config_defaults_are_the_python_packages() {
    let c = Config::default();
    assert!(c.get_profiling_activated() && c.get_time_trace() && c.get_flush_to_disk());
    assert_eq!(c.get_buffer_limit(), 100_000);
    assert_eq!(c.get_file_path(), std::path::Path::new("profiling_data.h5"));
    assert_eq!(c.get_overflow(), OverflowPolicy::Block);
}

#[test]
fn thread_names_reach_the_stream_and_the_profile() {
    let run = setup_run(|c| c);
    std::thread::Builder::new()
        .name("worker-7".into())
        .spawn(|| {
            let _g = region!("named thread");
        })
        .unwrap()
        .join()
        .unwrap();
    std::thread::spawn(|| {
        let _g = region!("unnamed thread");
    })
    .join()
    .unwrap();
    ProfileManager::flush().unwrap();
    let stream = read_profile(ProfileManager::run_dir().unwrap().join("rank_0.sps")).unwrap();
    ProfileManager::finalize().unwrap();
    let file = read_profile(&run.path).unwrap();
    for data in [&stream, &file] {
        let named = data.region("named thread").unwrap().per_rank[&0]
            .threads
            .clone()
            .unwrap()[0];
        let unnamed = data.region("unnamed thread").unwrap().per_rank[&0]
            .threads
            .clone()
            .unwrap()[0];
        assert_eq!(
            data.thread_names.get(&(0, named)).map(String::as_str),
            Some("worker-7")
        );
        assert_eq!(data.thread_names.get(&(0, unnamed)), None);
    }
}
