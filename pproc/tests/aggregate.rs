//! Aggregate files (statistics per region, a few kept calls) as the command
//! shows them: percentiles estimated from the histograms, and charts that
//! draw only the kept calls or say there are none.

mod support;

use support::{pproc, text};

use std::path::{Path, PathBuf};

use scope_profiler_format::aggregate::{AggregateRow, RankAggregate};
use scope_profiler_format::histogram::Histogram;
use scope_profiler_format::merged::{write_merged, OutputSchema, RankInput};
use scope_profiler_format::metadata::RunFacts;
use scope_profiler_format::stream::{FrameEncoder, StreamHeader, StreamWriter, TickScale};
use scope_profiler_format::RegionStats;

/// An aggregate file of one rank: `solve` with calls of 1, 2, ... 1000 µs
/// on thread 0, and `kept` (region id, start ns, end ns) as the kept calls
/// (region 0 is `solve`, 1 is `io`).
fn aggregate_file(dir: &Path, name: &str, kept: &[(u32, u64, u64)]) -> PathBuf {
    let stream = dir.join(format!("{name}.sps"));
    let mut encoder = FrameEncoder::default();
    encoder.header(&StreamHeader {
        rank: 0,
        time_trace: true,
        scale: TickScale::NANOSECONDS,
    });
    encoder.names([(0, "solve"), (1, "io")].into_iter());
    encoder.events(0, kept, |c| *c);
    encoder.end();
    let mut writer = StreamWriter::create(&stream).unwrap();
    writer.append(encoder.take()).unwrap();

    let mut rows = Vec::new();
    for (region, durations) in [
        (
            "solve",
            (1..=1000).map(|us| us * 1_000).collect::<Vec<i64>>(),
        ),
        (
            "io",
            kept.iter()
                .filter(|c| c.0 == 1)
                .map(|c| (c.2 - c.1) as i64)
                .collect(),
        ),
    ] {
        let mut stats = RegionStats::default();
        let mut histogram = Histogram::default();
        for d in durations {
            stats.add(d);
            histogram.add(d);
        }
        if stats.calls > 0 {
            rows.push(AggregateRow {
                region: region.into(),
                thread: 0,
                stats,
                histogram,
            });
        }
    }
    let path = dir.join(format!("{name}.h5"));
    let input = RankInput {
        rank: 0,
        path: stream,
        shift: Default::default(),
        hostname: "node".into(),
        aggregate: Some(RankAggregate { rows }),
    };
    let facts = RunFacts {
        start_time_ns: 0,
        finalize_time_ns: 0,
        mpi_size: 1,
        counters: vec![],
        labels: vec![],
    };
    write_merged(&path, &[input], &facts, OutputSchema::Aggregate).unwrap();
    path
}

/// The numbers of `region`'s summary line, in µs where they are times.
fn summary_line<'a>(summary: &'a str, region: &str) -> Vec<&'a str> {
    summary
        .lines()
        .find(|l| l.starts_with(region))
        .unwrap_or_else(|| panic!("{region} not in\n{summary}"))
        .split_whitespace()
        .collect()
}

#[test]
fn the_summary_estimates_p50_p90_p99_from_the_histograms() {
    let dir = tempfile::tempdir().unwrap();
    let path = aggregate_file(dir.path(), "agg", &[]);
    let out = pproc(&[path.to_str().unwrap()]);
    let summary = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        summary.contains("estimated from log-scale histograms"),
        "{summary}"
    );
    let header = summary_line(&summary, "region");
    assert_eq!(&header[8..11], ["p50~", "p90~", "p99~"], "{summary}");
    // solve: 1000 calls of 1..1000 µs: exact count, total, min and max;
    // percentiles within 7 % of numpy's 500.5, 900.1, 990.01 µs.
    let solve = summary_line(&summary, "solve");
    assert_eq!(solve[2], "1000");
    assert_eq!(&solve[3..5], ["500.5", "ms"]);
    for (cell, exact) in [(13, 500.5), (15, 900.1), (17, 990.01)] {
        assert_eq!(solve[cell + 1], "µs", "{summary}");
        let value: f64 = solve[cell].parse().unwrap();
        assert!(
            (value / exact - 1.0).abs() < 0.07,
            "percentile {value} µs vs {exact} µs\n{summary}"
        );
    }
}

#[test]
fn charts_of_an_aggregate_file_without_kept_calls_say_there_are_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = aggregate_file(dir.path(), "none", &[]);
    let gantt = dir.path().join("gantt.html");
    let out = pproc(&[path.to_str().unwrap(), "--gantt", gantt.to_str().unwrap()]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("is an aggregate profile") && stderr.contains("trace_calls_longer_than"),
        "{stderr}"
    );
    assert!(!gantt.exists());
}

#[test]
fn charts_of_an_aggregate_file_draw_the_kept_calls() {
    let dir = tempfile::tempdir().unwrap();
    let kept = [(1, 1_000_000, 3_500_000), (1, 5_000_000, 5_250_000)];
    let path = aggregate_file(dir.path(), "kept", &kept);
    let csv = dir.path().join("kept.csv");
    let out = pproc(&[
        path.to_str().unwrap(),
        "--export",
        "csv",
        csv.to_str().unwrap(),
    ]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("show only the 2 call(s) it kept"),
        "{stderr}"
    );
    let rows: Vec<String> = std::fs::read_to_string(&csv)
        .unwrap()
        .lines()
        .skip(1)
        .map(str::to_owned)
        .collect();
    assert_eq!(
        rows,
        [
            "0,0,io,1000000,3500000,2500000",
            "0,0,io,5000000,5250000,250000"
        ]
    );
}
