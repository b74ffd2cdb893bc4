//! The reader API and the `scope-profiler-pproc` command on the Python
//! package's reference files and on files we write.

mod support;

use support::{pproc, text};

use std::path::{Path, PathBuf};

use scope_profiler_pproc::table::{self, RegionFilter, SortKey};
use scope_profiler_pproc::{flame, ProfileFile, Timeline};

fn reference(kind: &str, file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/reference")
        .join(kind)
        .join(file)
}

/// (file, region, calls, total ns, min, max, std, p50, p95, p99, imbalance %)
/// as computed by scope-profiler 0.7.5 (`read_h5`, numpy) for these files.
type Golden = (
    &'static str,
    &'static str,
    u64,
    i64,
    i64,
    i64,
    f64,
    f64,
    f64,
    f64,
    f64,
);
const GOLDEN: &[Golden] = &[
    (
        "seed_mpi4_v0.2.1_schema1.h5",
        "compute",
        4,
        108876996,
        15290623,
        42911395,
        10155805.7,
        25337489.0,
        40711909.0,
        42471497.8,
        57.6509,
    ),
    (
        "c_api_v0.7.5_schema2.h5",
        "solve",
        20,
        2342272,
        113689,
        165717,
        11412.9,
        113699.0,
        124034.8,
        157380.6,
        0.0,
    ),
    (
        "c_api_v0.7.5_schema2.h5",
        "assemble",
        20,
        917649,
        45488,
        49935,
        1167.5,
        45498.0,
        48802.6,
        49708.5,
        0.0,
    ),
    (
        "c_api_v0.7.5_schema2.h5",
        "checkpoint",
        2,
        24417,
        12208,
        12209,
        0.5,
        12208.5,
        12209.0,
        12209.0,
        0.0,
    ),
    (
        "mpi4_v0.7.5_schema3.h5",
        "compute",
        4,
        28440884,
        3010901,
        19144048,
        6948049.8,
        3142967.5,
        16752080.6,
        18665654.5,
        169.2469,
    ),
];

#[test]
fn summary_numbers_match_the_python_package() {
    for &(file, region, calls, total, min, max, std, p50, p95, p99, imbalance) in GOLDEN {
        let f = ProfileFile::open(reference("python-written", file)).unwrap();
        let rows = table::rows(&f, None, &RegionFilter::default(), SortKey::Start);
        let row = rows.iter().find(|r| r.name == region).unwrap();
        let s = row.stats;
        assert_eq!(
            (s.calls, s.total, s.min, s.max),
            (calls, total, min, max),
            "{file} {region}"
        );
        for (ours, theirs, what) in [
            (s.std, std, "std"),
            (s.p50, p50, "p50"),
            (s.p95, p95, "p95"),
            (s.p99, p99, "p99"),
        ] {
            assert!(
                (ours - theirs).abs() <= 0.06 + theirs.abs() * 1e-9,
                "{file} {region} {what}: {ours} vs {theirs}"
            );
        }
        assert!(
            (row.imbalance_pct - imbalance).abs() < 1e-3,
            "{file} {region} imbalance {}",
            row.imbalance_pct
        );
        assert!((s.avg - total as f64 / calls as f64).abs() < 1e-6);
    }
}

#[test]
fn the_reader_api_answers_per_rank() {
    let f = ProfileFile::open(reference("python-written", "seed_mpi4_v0.2.1_schema1.h5")).unwrap();
    assert_eq!(f.ranks(), &[0, 1, 2, 3]);
    assert_eq!(f.region_names(), vec!["compute"]);
    let per_rank = ProfileFile::stats_per_rank(f.region("compute").unwrap(), None);
    assert_eq!(per_rank[&2].total, 42911395);
    assert!(f
        .region("nope")
        .unwrap_err()
        .to_string()
        .contains("no region \"nope\""));
    assert!(f.metadata().contains_key("mpi_size"));
}

#[test]
fn the_default_command_prints_the_summary_and_rank_selection_filters_it() {
    let file = reference("python-written", "seed_mpi4_v0.2.1_schema1.h5");
    let out = pproc(&[file.to_str().unwrap(), "--ranks", "0", "2"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    // Ranks 0 and 2: 28248155 + 42911395 ns.
    assert!(
        stdout.contains("2 rank(s)") && stdout.contains("71.16 ms"),
        "{stdout}"
    );
    for spec in [&["0-3"][..], &["1-2,3", "0"], &["0 1 2 3"]] {
        let mut args = vec![file.to_str().unwrap(), "--ranks"];
        args.extend_from_slice(spec);
        let out = pproc(&args);
        assert!(
            text(&out.stdout).contains("4 rank(s)"),
            "{spec:?}: {}",
            text(&out.stdout)
        );
    }
}

#[test]
fn unknown_ranks_list_the_ranks_that_exist() {
    let file = reference("python-written", "seed_mpi4_v0.2.1_schema1.h5");
    let out = pproc(&[file.to_str().unwrap(), "--ranks", "2-5"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("no rank(s) [4, 5]") && err.contains("[0, 1, 2, 3]"),
        "{err}"
    );
    let out = pproc(&[file.to_str().unwrap(), "--ranks", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("bad rank specification"));
}

#[test]
fn bad_inputs_are_one_line_and_exit_code_2() {
    let dir = tempfile::tempdir().unwrap();
    let not_hdf5 = dir.path().join("notes.h5");
    std::fs::write(&not_hdf5, "text").unwrap();
    let mut cases: Vec<(PathBuf, &str)> = vec![
        (dir.path().join("missing.h5"), "no such file"),
        (not_hdf5, "not a readable HDF5 file"),
        (
            reference("malformed", "truncated_events.h5"),
            "claims 6 recorded events",
        ),
        (
            reference("malformed", "overlapping_offsets.h5"),
            "overlapping",
        ),
        (reference("malformed", "bad_schema_4.h5"), "upgrade"),
        (reference("malformed", "tags_not_json.h5"), "not valid JSON"),
        (
            reference("malformed", "region_id_out_of_range.h5"),
            "region id",
        ),
        (
            reference("malformed", "v3_no_schema_attr.h5"),
            "scope_profiler_schema",
        ),
    ];
    let src = std::fs::read(reference("python-written", "mpi4_v0.7.5_schema3.h5")).unwrap();
    let cut = dir.path().join("cut.h5");
    std::fs::write(&cut, &src[..src.len() / 2]).unwrap();
    cases.push((cut, "cut.h5"));
    for (path, says) in cases {
        let out = pproc(&[path.to_str().unwrap()]);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{path:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{path:?}: {err}");
        assert!(
            err.contains(says) && err.contains(path.file_name().unwrap().to_str().unwrap()),
            "{path:?}: {err}"
        );
    }
    let out = pproc(&[
        reference("python-written", "serial_v0.7.5_schema3.h5")
            .to_str()
            .unwrap(),
        "--include",
        "(",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("bad regular expression"));
}

/// A file of ours with two threads and nesting.
fn threaded_profile(dir: &Path) -> PathBuf {
    use scope_profiler::{region, Config, ProfileManager};
    // One profiling run per process at a time.
    static RUN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_run = RUN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let path = dir.join("threaded.h5");
    ProfileManager::setup(
        Config::default()
            .file_path(&path)
            .print_summary(false)
            .shared_tmp_dir(dir),
    )
    .unwrap();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..25 {
                    let _outer = region!("outer <&>");
                    std::hint::black_box((0..2000).sum::<u64>());
                    let _inner = region!("inner");
                    std::hint::black_box((0..2000).sum::<u64>());
                }
            });
        }
    });
    ProfileManager::finalize().unwrap();
    path
}

#[test]
fn a_file_killed_inside_a_flush_is_named_and_repair_makes_it_readable() {
    use std::io::{Seek, SeekFrom, Write};
    let dir = tempfile::tempdir().unwrap();
    // A rank file's layout: chunked, resizable datasets at /regions/<name>.
    let path = dir.path().join("rank_0.h5");
    let p = path.to_str().unwrap();
    let file = scope_profiler_format::h5file::create(&path).unwrap();
    let region = file.create_group("regions/inner").unwrap();
    let starts: Vec<i64> = (1..=50).map(|i| i * 100).collect();
    let ends: Vec<i64> = starts.iter().map(|s| s + 40).collect();
    let mut last_chunk_at = 0;
    for (name, values) in [("start_times", &starts), ("end_times", &ends)] {
        let ds = region
            .new_dataset::<i64>()
            .chunk(16)
            .shape(50..)
            .create(name)
            .unwrap();
        ds.write(values.as_slice()).unwrap();
        file.flush().unwrap();
        last_chunk_at = ds.chunk_info(ds.num_chunks().unwrap() - 1).unwrap().addr;
    }
    drop((region, file));
    // What a SIGKILL between HDF5's object ring and its superblock leaves:
    // the recorded allocation (superblock v0, byte 40) ends where the newest
    // chunk starts.
    let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.seek(SeekFrom::Start(40)).unwrap();
    f.write_all(&last_chunk_at.to_le_bytes()).unwrap();
    drop(f);

    // The reader keeps the reachable chunks, says what is cut and how to
    // get it back.
    let out = pproc(&[p]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("end_times: only the first 48 of 50"),
        "{stderr}"
    );
    assert!(stderr.contains("--repair"), "{stderr}");

    let out = pproc(&["--repair", p]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("repaired"),
        "{}",
        text(&out.stderr)
    );
    let inner = text(&out.stdout)
        .lines()
        .find(|l| l.trim_start().starts_with("inner"))
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(inner.contains(" 50 "), "all 50 calls back: {inner:?}");

    let out = pproc(&["--repair", p]);
    assert!(text(&out.stderr).contains("no repair needed"));
}

#[test]
fn gantt_chart_flame_graph_and_exports_describe_every_call() {
    let dir = tempfile::tempdir().unwrap();
    let profile = threaded_profile(dir.path());
    let out_dir = dir.path();
    let svg = out_dir.join("gantt.svg");
    let html = out_dir.join("gantt.html");
    let flame_svg = out_dir.join("flame.svg");
    let trace = out_dir.join("trace.json");
    let p = profile.to_str().unwrap();
    for args in [
        vec![
            p,
            "--gantt",
            svg.to_str().unwrap(),
            "--flame",
            flame_svg.to_str().unwrap(),
        ],
        vec![
            p,
            "--gantt",
            html.to_str().unwrap(),
            "--export",
            "chrome-trace",
            trace.to_str().unwrap(),
        ],
    ] {
        let out = pproc(&args);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    // Gantt SVG: valid XML, its bars draw every call (100), two lanes.
    let doc = std::fs::read_to_string(&svg).unwrap();
    let xml = roxmltree::Document::parse(&doc).unwrap();
    let drawn: usize = xml
        .descendants()
        .filter(|n| n.attribute("class") == Some("bar"))
        .map(|n| n.attribute("data-calls").unwrap().parse::<usize>().unwrap())
        .sum();
    assert_eq!(drawn, 100);
    let lanes = xml
        .descendants()
        .filter(|n| n.attribute("class") == Some("lane"))
        .count();
    assert_eq!(lanes, 2);
    // Gantt page: a canvas and the data of every call.
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<canvas"), "no canvas");
    let data = page
        .split("<script type=\"application/json\" id=\"gantt-data\">")
        .nth(1)
        .and_then(|rest| rest.split("</script>").next())
        .unwrap();
    let data: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(data["calls"]["start"].as_array().unwrap().len(), 100);
    assert_eq!(data["lanes"].as_array().unwrap().len(), 2);
    // Chrome trace: JSON with one complete event per call, pid = rank, tid = thread.
    let trace: serde_json::Value = serde_json::from_slice(&std::fs::read(&trace).unwrap()).unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    let complete: Vec<_> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(complete.len(), 100);
    let tids: std::collections::BTreeSet<u64> = complete
        .iter()
        .map(|e| e["tid"].as_u64().unwrap())
        .collect();
    assert_eq!(tids.len(), 2);
    assert!(complete
        .iter()
        .all(|e| e["pid"] == 0 && e["dur"].as_f64().unwrap() >= 0.0));
    // Flame graph: an SVG naming both frames.
    let flame = std::fs::read_to_string(&flame_svg).unwrap();
    assert!(
        flame.contains("<svg") && flame.contains("inner"),
        "flame graph lacks frames"
    );
}

#[test]
fn flame_stacks_follow_nesting_and_self_time_adds_up() {
    let dir = tempfile::tempdir().unwrap();
    let file = ProfileFile::open(threaded_profile(dir.path())).unwrap();
    let timeline = Timeline::of(&file, None, |_| true);
    let folded = flame::folded(&timeline, false);
    let stacks: Vec<&str> = folded
        .iter()
        .map(|l| l.rsplit_once(' ').unwrap().0)
        .collect();
    assert_eq!(stacks, vec!["outer <&>", "outer <&>;inner"]);
    let self_total: i64 = folded
        .iter()
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<i64>().unwrap())
        .sum();
    let outer_total = ProfileFile::stats(file.region("outer <&>").unwrap(), None).total;
    assert_eq!(
        self_total, outer_total,
        "self times of a tree add up to its roots' time"
    );
}

#[test]
fn speedscope_csv_and_json_exports() {
    let dir = tempfile::tempdir().unwrap();
    let profile = threaded_profile(dir.path());
    let p = profile.to_str().unwrap();
    let (ss, csv, json) = (
        dir.path().join("p.speedscope.json"),
        dir.path().join("p.csv"),
        dir.path().join("p.json"),
    );
    for (format, out) in [("speedscope", &ss), ("csv", &csv), ("json", &json)] {
        let o = pproc(&[p, "--export", format, out.to_str().unwrap()]);
        assert!(o.status.success(), "{format}: {}", text(&o.stderr));
    }
    let ss: serde_json::Value = serde_json::from_slice(&std::fs::read(ss).unwrap()).unwrap();
    let profiles = ss["profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 2);
    for prof in profiles {
        let events = prof["events"].as_array().unwrap();
        assert_eq!(events.iter().filter(|e| e["type"] == "O").count(), 50);
        assert_eq!(events.iter().filter(|e| e["type"] == "C").count(), 50);
        let ats: Vec<i64> = events.iter().map(|e| e["at"].as_i64().unwrap()).collect();
        assert!(
            ats.windows(2).all(|w| w[0] <= w[1]),
            "speedscope events out of order"
        );
    }
    let csv = std::fs::read_to_string(csv).unwrap();
    assert_eq!(csv.lines().count(), 101);
    assert!(csv.lines().nth(1).unwrap().split(',').count() == 6);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    assert_eq!(json["regions"].as_array().unwrap().len(), 2);
    assert_eq!(
        json["regions"][0]["calls"].as_u64().unwrap()
            + json["regions"][1]["calls"].as_u64().unwrap(),
        100
    );
}

#[test]
fn diff_exits_1_on_a_regression_and_0_otherwise() {
    let slow = reference("python-written", "seed_mpi4_v0.2.1_schema1.h5"); // compute: 108.9 ms
    let fast = reference("python-written", "mpi4_v0.7.5_schema3.h5"); // compute: 28.4 ms
    let out = pproc(&["--diff", fast.to_str().unwrap(), slow.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("+282.8%") && text(&out.stdout).contains("REGRESSION"),
        "{}",
        text(&out.stdout)
    );
    let out = pproc(&["--diff", slow.to_str().unwrap(), fast.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    let out = pproc(&[
        "--diff",
        fast.to_str().unwrap(),
        slow.to_str().unwrap(),
        "--max-regression",
        "300",
    ]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn perfetto_export_is_a_valid_trace_with_a_slice_per_call() {
    use perfetto_protos::trace::Trace;
    use perfetto_protos::track_event::track_event::Type;
    use protobuf::Message;

    let dir = tempfile::tempdir().unwrap();
    let profile = threaded_profile(dir.path());
    let out = dir.path().join("trace.pftrace");
    let o = pproc(&[
        profile.to_str().unwrap(),
        "--export",
        "perfetto",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let trace = Trace::parse_from_bytes(&std::fs::read(&out).unwrap()).unwrap();
    let events: Vec<_> = trace
        .packet
        .iter()
        .filter(|p| p.has_track_event())
        .map(|p| p.track_event())
        .collect();
    let begins: Vec<_> = events
        .iter()
        .filter(|e| e.type_() == Type::TYPE_SLICE_BEGIN)
        .collect();
    let ends = events
        .iter()
        .filter(|e| e.type_() == Type::TYPE_SLICE_END)
        .count();
    assert_eq!((begins.len(), ends), (100, 100));
    assert_eq!(begins.iter().filter(|e| e.name() == "inner").count(), 50);
    // Two thread tracks under one process track.
    let tracks: Vec<_> = trace
        .packet
        .iter()
        .filter(|p| p.has_track_descriptor())
        .map(|p| p.track_descriptor())
        .collect();
    assert_eq!(tracks.iter().filter(|t| t.thread.is_some()).count(), 2);
    assert_eq!(tracks.iter().filter(|t| t.process.is_some()).count(), 1);
    // Timestamps never go backwards within the sequence.
    let times: Vec<u64> = trace
        .packet
        .iter()
        .filter(|p| p.has_track_event())
        .map(|p| p.timestamp())
        .collect();
    let lanes_sorted = times.windows(2).filter(|w| w[1] < w[0]).count();
    assert!(
        lanes_sorted <= 1,
        "time goes back {lanes_sorted} times (only allowed between the two thread lanes)"
    );
}
