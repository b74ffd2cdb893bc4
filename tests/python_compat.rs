//! Files we write open in the real Python package (scope-profiler 0.7.5 from
//! PyPI): `scope-profiler inspect` and `scope_profiler.read_h5` report the
//! same regions and call counts as our summary.
//!
//! The venv is made once under cargo's target tmp dir. Without `python3` the
//! test prints why it is skipped; every other failure (pip, the reader) fails.
#![cfg(not(feature = "off"))]

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{pproc_binary, python_venv, run_ok, setup_run};
use scope_profiler::{region, OutputSchema, ProfileData, ProfileManager, ScopeLayer, SpanMode};
use scope_profiler_format::lanes::SCHEMA_1_LANES_NOTE;
use serde_json::Value;

const READ_H5: &str = r#"
import json, sys
import scope_profiler as sp
r = sp.read_h5(sys.argv[1])
print(json.dumps({n: {str(k): int(v.num_calls) for k, v in r._region_dict[n].regions.items()} for n in r._region_dict}))
"#;

#[test]
fn python_package_reads_our_file_with_the_same_regions_and_counts() {
    let Some(venv) = python_venv() else { return };
    let run = setup_run(|c| c);
    for _ in 0..42 {
        let _g = region!("solve");
        for _ in 0..3 {
            let _a = region!("assemble");
        }
    }
    {
        let _io = region!("io");
    }
    for _ in 0..5 {
        let _u = region!("ünïcødé ✓");
    }
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    let _t = region!("threaded");
                }
            });
        }
    });
    for _ in 0..2 {
        let _slash = region!("a/b");
    }
    let summary = ProfileManager::finalize().unwrap();
    let ours: BTreeMap<String, u64> = summary
        .regions
        .iter()
        .map(|r| (r.name.clone(), r.stats.calls))
        .collect();
    assert_eq!(ours.len(), 6);

    // scope_profiler.read_h5: the same names (the '/'-name under its escaped
    // link name, since schema 1 has no other place for it) and counts.
    let theirs: BTreeMap<String, BTreeMap<String, u64>> =
        serde_json::from_str(&common::run_python(&venv, READ_H5, [&run.path])).unwrap();
    let expected: BTreeMap<String, BTreeMap<String, u64>> = ours
        .iter()
        .map(|(name, calls)| {
            let link = if name == "a/b" {
                "a%2Fb".to_string()
            } else {
                name.clone()
            };
            (link, BTreeMap::from([("0".to_string(), *calls)]))
        })
        .collect();
    assert_eq!(theirs, expected);

    // scope-profiler inspect: exits 0 and lists every region with its count.
    let out = Command::new(venv.join("bin/scope-profiler"))
        .args([
            "inspect",
            "--regions-only",
            "--columns",
            "region",
            "calls",
            "--",
        ])
        .arg(&run.path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "inspect failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 rank(s), 6 region(s)"), "{text}");
    for (link, per_rank) in &expected {
        let calls = per_rank["0"];
        let row = text
            .lines()
            .find(|l| {
                l.trim_start_matches(['│', ' ', '└', '─'])
                    .starts_with(link.as_str())
            })
            .unwrap_or_else(|| panic!("{link:?} not in inspect output:\n{text}"));
        let shown = row.trim_end_matches(['│', ' ']).rsplit(' ').next().unwrap();
        assert_eq!(shown, calls.to_string(), "inspect row {row:?}");
    }
}

#[test]
fn columnar_schema_3_output_reads_in_the_python_package_and_ours() {
    let Some(venv) = python_venv() else { return };
    let run = setup_run(|c| c.output_schema(scope_profiler::OutputSchema::Columnar));
    for _ in 0..9 {
        let _g = region!("solve");
        let _h = region!("a/b: any name works");
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..4 {
                let _t = region!("worker");
            }
        });
    });
    let summary = ProfileManager::finalize().unwrap();

    // Our reader: schema 3, same calls and totals as the summary.
    let data = scope_profiler::read_profile(&run.path).unwrap();
    assert_eq!(data.schema, 3);
    for r in &summary.regions {
        let read = data
            .region(&r.name)
            .unwrap_or_else(|| panic!("{} missing", r.name))
            .stats();
        assert_eq!(
            (read.calls, read.total_ns),
            (r.stats.calls, r.stats.total_ns),
            "{}",
            r.name
        );
    }
    // The Python package: read_h5, and the summary-only reader without fallback.
    let script = r#"
import json, sys
import scope_profiler as sp
from scope_profiler.h5reader import read_h5_summary
full = sp.read_h5(sys.argv[1])
fast = read_h5_summary(sys.argv[1], fallback=False)
out = {}
for name in full._region_dict:
    a = full._region_dict[name].regions[0]
    b = fast._region_dict[name].regions[0]
    out[name] = [int(a.num_calls), int(b.num_calls), int(a.durations_ns.sum()), int(round(b.total_duration * 1e9))]
print(json.dumps(out))
"#;
    let theirs: BTreeMap<String, Vec<i64>> =
        serde_json::from_str(&common::run_python(&venv, script, [&run.path])).unwrap();
    assert_eq!(theirs.len(), 3);
    for r in &summary.regions {
        let row = &theirs[&r.name];
        assert_eq!(row[0], r.stats.calls as i64, "{}", r.name);
        assert_eq!(row[1], r.stats.calls as i64, "{} (summary reader)", r.name);
        assert_eq!(row[2], r.stats.total_ns, "{}", r.name);
        assert!((row[3] - r.stats.total_ns).abs() <= 1, "{}", r.name);
    }
}

#[test]
fn aggregate_output_reads_in_the_python_package_with_exact_counts_and_totals() {
    let Some(venv) = python_venv() else { return };
    let run = setup_run(|c| {
        c.output_schema(OutputSchema::Aggregate)
            .trace_regions("^io$")
    });
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..5_000 {
                    let _g = region!("solve");
                    let _h = region!("a/b: any name works");
                }
            });
        }
    });
    for _ in 0..3 {
        let _io = region!("io");
    }
    let summary = ProfileManager::finalize().unwrap();
    assert_eq!(summary.region("solve").unwrap().stats.calls, 10_000);

    // The Python package: read_h5 and the summary-only reader, exact
    // integers from the stored aggregate (count, total ns).
    let script = r#"
import json, sys
import scope_profiler as sp
from scope_profiler.h5reader import read_h5_summary
full = sp.read_h5(sys.argv[1])
fast = read_h5_summary(sys.argv[1], fallback=False)
out = {}
for name in full._region_dict:
    a = full._region_dict[name].regions[0]
    b = fast._region_dict[name].regions[0]
    out[name] = [int(a.num_calls), int(b.num_calls), a.stored_summary["total"], b.stored_summary["total"],
                 a.stored_summary["minimum"], a.stored_summary["maximum"]]
print(json.dumps(out))
"#;
    let theirs: BTreeMap<String, Vec<i64>> =
        serde_json::from_str(&common::run_python(&venv, script, [&run.path])).unwrap();
    assert_eq!(theirs.len(), 3, "{theirs:?}");
    for r in &summary.regions {
        let s = &r.stats;
        let calls = s.calls as i64;
        assert_eq!(
            theirs[&r.name],
            vec![calls, calls, s.total_ns, s.total_ns, s.min_ns, s.max_ns],
            "{}",
            r.name
        );
    }
    // scope-profiler inspect lists the regions with their counts.
    let out = Command::new(venv.join("bin/scope-profiler"))
        .args(["inspect", "--"])
        .arg(&run.path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "inspect failed: {text}");
    assert!(text.contains("1 rank(s), 3 region(s)"), "{text}");
}

#[test]
fn our_reader_reads_the_python_packages_aggregate_files() {
    let Some(venv) = python_venv() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("python_aggregate.h5");
    let script = r#"
import json, sys
from scope_profiler import ProfileManager
import scope_profiler as sp
ProfileManager.setup(file_path=sys.argv[1], aggregation_mode=True)
for _ in range(7):
    with ProfileManager.region("solve"):
        for _ in range(3):
            with ProfileManager.region("inner"):
                pass
ProfileManager.finalize()
r = sp.read_h5(sys.argv[1])
print(json.dumps({n: [r._region_dict[n].regions[0].stored_summary[k] for k in ("count", "total", "minimum", "maximum")]
                  for n in r._region_dict}))
"#;
    let text = common::run_python(&venv, script, [&path]);
    let json = text.lines().rev().find(|l| l.starts_with('{')).unwrap();
    let theirs: BTreeMap<String, Vec<i64>> = serde_json::from_str(json).unwrap();
    let data = scope_profiler::read_profile(&path).unwrap();
    assert_eq!(data.ranks, vec![0]);
    for (name, expected_calls) in [("solve", 7), ("inner", 21)] {
        let region = data.region(name).unwrap();
        let s = region.stats();
        assert_eq!(
            vec![s.calls as i64, s.total_ns, s.min_ns, s.max_ns],
            theirs[name],
            "{name}"
        );
        assert_eq!(s.calls, expected_calls);
        assert!(region.aggregate[&0].pooled.histogram.is_none());
        assert!(region.per_rank[&0].starts.is_empty());
    }
}

/// Threads whose calls overlap in time and an async thread whose spans
/// cross, recorded through `region!` and the tracing layer (`Both` mode):
/// - `worker-0..2`: 6 `outer` calls holding 3 `inner` each; their first
///   `outer` calls overlap across the threads (each starts before the
///   previous thread's ends), so in one lane per rank they would cross;
/// - `async-main` (a tokio current-thread runtime): 4 `upload` tasks whose
///   lifetimes cross (created in order, closed in order), polled as
///   `upload`; then two `held` spans entered across an await, so the
///   second crosses the first (on-CPU calls and lifetimes);
/// - the test's own thread: `main` around all of it.
fn concurrent_program() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::{Arc, Barrier};
    use tracing::Instrument;
    use tracing_subscriber::prelude::*;

    async fn until(flag: &AtomicBool) {
        while !flag.load(SeqCst) {
            tokio::task::yield_now().await;
        }
    }

    /// A `held` span entered across an await until `flag` is set; sets
    /// `done` once it has left the span and closed it.
    async fn held(flag: &AtomicBool, done: Option<&AtomicBool>) {
        let span = tracing::info_span!("held");
        let entered = span.enter();
        until(flag).await;
        drop(entered);
        drop(span);
        if let Some(done) = done {
            done.store(true, SeqCst);
        }
    }

    const WORKERS: usize = 3;
    let _main = region!("main");
    let staircase = Barrier::new(WORKERS);
    std::thread::scope(|s| {
        for k in 0..WORKERS {
            let staircase = &staircase;
            std::thread::Builder::new()
                .name(format!("worker-{k}"))
                .spawn_scoped(s, move || {
                    // Phase k opens this thread's first `outer`, phase
                    // k + WORKERS closes it.
                    let mut first = None;
                    for phase in 0..2 * WORKERS {
                        staircase.wait();
                        if phase == k {
                            first = Some(region!("outer"));
                            for _ in 0..3 {
                                let _i = region!("inner");
                            }
                        }
                        if phase == k + WORKERS {
                            first = None;
                        }
                    }
                    assert!(first.is_none());
                    for _ in 0..5 {
                        let _o = region!("outer");
                        for _ in 0..3 {
                            let _i = region!("inner");
                        }
                    }
                })
                .unwrap();
        }
        std::thread::Builder::new()
            .name("async-main".into())
            .spawn_scoped(s, || {
                let layer = ScopeLayer::new().mode(SpanMode::Both);
                let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
                let _d = tracing::dispatcher::set_default(&dispatch);
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .unwrap();
                runtime.block_on(async {
                    let go: Vec<Arc<AtomicBool>> =
                        (0..4).map(|_| Arc::new(AtomicBool::new(false))).collect();
                    let uploads: Vec<_> = go
                        .iter()
                        .map(|go| {
                            let go = go.clone();
                            let task = async move { until(&go).await }
                                .instrument(tracing::info_span!("upload"));
                            tokio::spawn(task)
                        })
                        .collect();
                    for (go, upload) in go.iter().zip(uploads) {
                        go.store(true, SeqCst);
                        upload.await.unwrap();
                    }
                    let (go_a, go_b, a_done) = (
                        AtomicBool::new(false),
                        AtomicBool::new(false),
                        AtomicBool::new(false),
                    );
                    let drive = async {
                        tokio::task::yield_now().await;
                        go_a.store(true, SeqCst);
                        until(&a_done).await;
                        go_b.store(true, SeqCst);
                    };
                    tokio::join!(held(&go_a, Some(&a_done)), held(&go_b, None), drive);
                });
            })
            .unwrap();
    });
}

/// Calls per thread, by thread name, as our reader reads `data` (rank 0).
fn calls_per_thread(data: &ProfileData) -> BTreeMap<String, u64> {
    let mut calls = BTreeMap::new();
    for region in &data.regions {
        let Some(events) = region.per_rank.get(&0) else {
            continue;
        };
        for thread in events.threads.as_deref().unwrap_or_default() {
            let name = data
                .thread_names
                .get(&(0, *thread))
                .cloned()
                .unwrap_or_else(|| format!("thread {thread}"));
            *calls.entry(name).or_default() += 1;
        }
    }
    calls
}

/// The thread a lane label of scope-profiler 0.7.5 names: the label itself
/// for a thread lane, what follows `" on "` for a task lane.
fn thread_of_lane<'a>(label: &'a str, threads: &BTreeMap<String, u64>) -> &'a str {
    if threads.contains_key(label) {
        return label;
    }
    label
        .rsplit_once(" on ")
        .map_or(label, |(_, thread)| thread)
}

/// Lanes and calls per thread name: (lanes, calls).
type LaneCounts = BTreeMap<String, (usize, u64)>;

/// Runs `scope-profiler export KIND file -o DIR` and returns the one file
/// it wrote.
fn export(venv: &std::path::Path, kind: &str, file: &std::path::Path) -> std::path::PathBuf {
    let out = file.with_extension(kind);
    run_ok(
        Command::new(venv.join("bin/scope-profiler"))
            .args(["export", kind])
            .arg(file)
            .arg("-o")
            .arg(&out),
    );
    let written: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(written.len(), 1, "{written:?}");
    written[0].clone()
}

/// The speedscope export's profiles per thread; fails unless every
/// profile's events are in time order and balanced (each close ends the
/// frame on top).
fn speedscope_lanes(doc: &Value, threads: &BTreeMap<String, u64>) -> LaneCounts {
    let mut lanes = LaneCounts::new();
    for profile in doc["profiles"].as_array().unwrap() {
        let name = profile["name"].as_str().unwrap();
        let label = name.strip_prefix("rank 0 - ").unwrap_or(name);
        let mut open = Vec::new();
        let mut last = f64::MIN;
        let mut calls = 0;
        for event in profile["events"].as_array().unwrap() {
            let at = event["at"].as_f64().unwrap();
            assert!(at >= last, "{name}: time goes back at {event}");
            last = at;
            match event["type"].as_str().unwrap() {
                "O" => {
                    open.push(event["frame"].clone());
                    calls += 1;
                }
                _ => assert_eq!(open.pop().as_ref(), Some(&event["frame"]), "{name}"),
            }
        }
        assert!(open.is_empty(), "{name}: unclosed frames");
        let entry = lanes
            .entry(thread_of_lane(label, threads).to_owned())
            .or_default();
        *entry = (entry.0 + 1, entry.1 + calls);
    }
    lanes
}

/// The chrome-trace export's lanes (`tid`s, named by `thread_name`
/// events) per thread; fails if two `X` events of one lane cross.
fn chrome_trace_lanes(doc: &Value, threads: &BTreeMap<String, u64>) -> LaneCounts {
    let events = doc["traceEvents"].as_array().unwrap();
    let mut label_of = BTreeMap::new();
    let mut spans: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
    for e in events {
        match e["ph"].as_str().unwrap() {
            "M" if e["name"] == "thread_name" => {
                label_of.insert(
                    e["tid"].as_u64().unwrap(),
                    e["args"]["name"].as_str().unwrap(),
                );
            }
            "X" => {
                let ts = e["ts"].as_f64().unwrap();
                spans
                    .entry(e["tid"].as_u64().unwrap())
                    .or_default()
                    .push((ts, ts + e["dur"].as_f64().unwrap()));
            }
            _ => {}
        }
    }
    let mut lanes = LaneCounts::new();
    for (tid, mut calls) in spans {
        // Sorted by start, longest first: each call must end by the end of
        // every call still open when it starts (1 ns of float slack).
        calls.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
        let mut open: Vec<f64> = Vec::new();
        for (start, end) in &calls {
            while open.last().is_some_and(|e| *e <= start + 1e-3) {
                open.pop();
            }
            if let Some(outer) = open.last() {
                assert!(
                    end <= &(outer + 1e-3),
                    "tid {tid}: [{start}, {end}] crosses a call ending at {outer}"
                );
            }
            open.push(*end);
        }
        let label = label_of[&tid];
        let entry = lanes
            .entry(thread_of_lane(label, threads).to_owned())
            .or_default();
        *entry = (entry.0 + 1, entry.1 + calls.len() as u64);
    }
    lanes
}

#[test]
fn python_exports_show_the_threads_and_async_lanes_of_our_columnar_file() {
    let Some(venv) = python_venv() else { return };
    let run = setup_run(|c| c.output_schema(OutputSchema::Columnar));
    concurrent_program();
    let summary = ProfileManager::finalize().unwrap();
    assert!(!summary.to_string().contains(SCHEMA_1_LANES_NOTE));

    // Our reader: the thread names, and every call on the thread it ran on.
    let data = scope_profiler::read_profile(&run.path).unwrap();
    let this_thread = std::thread::current().name().unwrap().to_owned();
    let threads = calls_per_thread(&data);
    let names: Vec<&str> = threads.keys().map(String::as_str).collect();
    let mut expected_names = vec![
        "async-main",
        "worker-0",
        "worker-1",
        "worker-2",
        &this_thread,
    ];
    expected_names.sort();
    assert_eq!(names, expected_names);
    for worker in ["worker-0", "worker-1", "worker-2"] {
        assert_eq!(threads[worker], 6 + 18, "{worker}");
    }
    assert_eq!(threads[&this_thread], 1);
    let async_calls: u64 = ["upload", "upload [lifetime]", "held", "held [lifetime]"]
        .iter()
        .map(|n| summary.region(n).unwrap().stats.calls)
        .sum();
    assert_eq!(threads["async-main"], async_calls);
    assert_eq!(summary.region("upload [lifetime]").unwrap().stats.calls, 4);
    assert_eq!(summary.region("held").unwrap().stats.calls, 2);

    // Each thread is one lane, except async-main: its stack, one overlap
    // track (the second `held` crosses the first) and four lifetime tracks
    // (the four uploads live at once; the `held` lifetimes reuse two).
    let expected: LaneCounts = threads
        .iter()
        .map(|(name, calls)| {
            let lanes = if name == "async-main" { 6 } else { 1 };
            (name.clone(), (lanes, *calls))
        })
        .collect();

    // scope-profiler 0.7.5 reads our thread and task tables...
    let script = r#"
import json, sys
import scope_profiler as sp
r = sp.read_h5(sys.argv[1])
threads = {t.index: t.name for t in r.threads[0]}
print(json.dumps({
    "threads": sorted(threads.values()),
    "tasks": [[t.kind, t.name, threads[t.thread_index]] for t in r.tasks[0]],
}))
"#;
    let lanes: Value =
        serde_json::from_str(&common::run_python(&venv, script, [&run.path])).unwrap();
    assert_eq!(lanes["threads"], serde_json::json!(expected_names));
    let mut tasks = vec![serde_json::json!(["async", "async 1", "async-main"])];
    tasks.extend(
        (1..=4).map(|i| serde_json::json!(["lifetime", format!("lifetimes {i}"), "async-main"])),
    );
    assert_eq!(lanes["tasks"], Value::Array(tasks));

    // ... and its exports show exactly those lanes and calls.
    let speedscope: Value =
        serde_json::from_slice(&std::fs::read(export(&venv, "speedscope", &run.path)).unwrap())
            .unwrap();
    assert_eq!(
        speedscope_lanes(&speedscope, &threads),
        expected,
        "speedscope"
    );
    let trace: Value =
        serde_json::from_slice(&std::fs::read(export(&venv, "chrome-trace", &run.path)).unwrap())
            .unwrap();
    assert_eq!(
        chrome_trace_lanes(&trace, &threads),
        expected,
        "chrome-trace"
    );
    let prof = export(&venv, "prof", &run.path);
    let script = r#"
import json, pstats, sys
stats = pstats.Stats(sys.argv[1]).stats
calls = {}
for (_, _, name), (_, nc, _, _, _) in stats.items():
    calls[name] = calls.get(name, 0) + nc
print(json.dumps(calls))
"#;
    let per_frame: BTreeMap<String, u64> =
        serde_json::from_str(&common::run_python(&venv, script, [&prof])).unwrap();
    let mut per_region: BTreeMap<String, u64> = BTreeMap::new();
    for (frame, calls) in per_frame {
        let region = frame.rsplit(" > ").next().unwrap().to_owned();
        *per_region.entry(region).or_default() += calls;
    }
    for r in &summary.regions {
        assert_eq!(
            per_region.get(&r.name),
            Some(&r.stats.calls),
            "prof: {}",
            r.name
        );
    }
}

#[test]
fn a_schema_1_file_of_several_threads_says_once_that_python_needs_columnar() {
    let Some(venv) = python_venv() else { return };
    let tree = setup_run(|c| c);
    concurrent_program();
    let summary = ProfileManager::finalize().unwrap();
    let printed = summary.to_string();
    assert_eq!(printed.matches(SCHEMA_1_LANES_NOTE).count(), 1, "{printed}");
    // What the note is about: 0.7.5 reads the threads' crossing calls as
    // one call stack and its speedscope export fails.
    let out = Command::new(venv.join("bin/scope-profiler"))
        .args(["export", "speedscope"])
        .arg(&tree.path)
        .arg("-o")
        .arg(tree.dir.path().join("speedscope"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("NestingError"), "{stderr}");

    let (stdout, stderr) = run_ok(Command::new(pproc_binary()).arg(&tree.path));
    assert_eq!(stderr.matches(SCHEMA_1_LANES_NOTE).count(), 1, "{stderr}");
    assert!(!stdout.contains(SCHEMA_1_LANES_NOTE), "{stdout}");
    let (_, quiet) = run_ok(Command::new(pproc_binary()).arg("--quiet").arg(&tree.path));
    assert_eq!(quiet, "");
    drop(tree);

    // The same program in schema 3, or one thread in schema 1: no note.
    let columnar = setup_run(|c| c.output_schema(OutputSchema::Columnar));
    concurrent_program();
    let summary = ProfileManager::finalize().unwrap();
    assert!(!summary.to_string().contains(SCHEMA_1_LANES_NOTE));
    let (stdout, stderr) = run_ok(Command::new(pproc_binary()).arg(&columnar.path));
    assert!(
        !stdout.contains("note:") && !stderr.contains("note:"),
        "{stdout}{stderr}"
    );
    drop(columnar);
    let one_thread = setup_run(|c| c);
    for _ in 0..3 {
        let _g = region!("solve");
    }
    let summary = ProfileManager::finalize().unwrap();
    assert!(!summary.to_string().contains(SCHEMA_1_LANES_NOTE));
    let (stdout, stderr) = run_ok(Command::new(pproc_binary()).arg(&one_thread.path));
    assert!(
        !stdout.contains("note:") && !stderr.contains("note:"),
        "{stdout}{stderr}"
    );
}

#[test]
fn every_hdf5_string_form_h5py_writes_reads_in_our_reader_and_in_pproc() {
    let Some(venv) = python_venv() else { return };
    let dir = tempfile::tempdir().unwrap();
    let written: Value = serde_json::from_str(&common::run_python(
        &venv,
        include_str!("common/string_forms.py"),
        [dir.path()],
    ))
    .unwrap();
    let files = written["files"].as_object().unwrap();
    assert_eq!(files.len(), 16, "8 string forms × schemas 1 and 3");
    for (path, expected) in files {
        let regions: BTreeMap<String, u64> =
            serde_json::from_value(expected["regions"].clone()).unwrap();
        let threads: BTreeMap<String, String> =
            serde_json::from_value(expected["threads"].clone()).unwrap();
        let hostname = expected["hostname"].as_str().unwrap();

        let data = scope_profiler::read_profile(path).unwrap_or_else(|e| panic!("{e}"));
        let read: BTreeMap<String, u64> = common::calls_on_rank0(&data).into_iter().collect();
        assert_eq!(read, regions, "{path}");
        let names: BTreeMap<String, String> = data
            .thread_names
            .iter()
            .map(|((rank, thread), name)| (format!("{rank}:{thread}"), name.clone()))
            .collect();
        assert_eq!(names, threads, "{path}");
        assert_eq!(
            data.metadata.get("hostname"),
            Some(&scope_profiler::AttrValue::Str(hostname.into())),
            "{path}"
        );

        let (summary, trace) = (format!("{path}.json"), format!("{path}.trace.json"));
        run_ok(Command::new(pproc_binary()).args([
            path.as_str(),
            "--quiet",
            "--export",
            "json",
            &summary,
            "--export",
            "chrome-trace",
            &trace,
        ]));
        let summary: Value = serde_json::from_slice(&std::fs::read(&summary).unwrap()).unwrap();
        let shown: BTreeMap<String, u64> = summary["regions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_owned(),
                    r["calls"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(shown, regions, "pproc {path}");
        assert_eq!(summary["metadata"]["hostname"], hostname, "pproc {path}");
        let trace: Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
        let lanes: Vec<&str> = trace["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["name"] == "thread_name")
            .map(|e| e["args"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            lanes,
            threads.values().map(String::as_str).collect::<Vec<_>>(),
            "pproc {path}"
        );
    }

    // A string column that holds numbers: one error naming it, never a panic.
    let broken = written["bad"].as_object().unwrap();
    assert_eq!(broken.len(), 3);
    for (path, column) in broken {
        let column = column.as_str().unwrap();
        let error = scope_profiler::read_profile(path).unwrap_err().to_string();
        assert!(
            error.contains(column) && error.contains("not strings"),
            "{error}"
        );
        let out = Command::new(pproc_binary()).arg(path).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(column) && !stderr.contains("panicked"),
            "{stderr}"
        );
    }
}
