//! Exports: Chrome/Perfetto trace JSON, speedscope, CSV and a JSON summary.

use std::io::Write;

use serde_json::{json, Value};

use crate::profile::ProfileFile;
use crate::table::Row;
use crate::timeline::Timeline;

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Trace Event JSON (chrome://tracing, Perfetto UI): pid = rank, tid = thread.
    ChromeTrace,
    /// speedscope's evented profiles, one per rank and thread.
    Speedscope,
    /// One line per call: rank, thread, region, start_ns, end_ns, duration_ns.
    Csv,
    /// The summary table and metadata as JSON.
    Json,
}

/// Writes the Trace Event JSON: one complete (`"X"`) event per call, times
/// in µs from the first call, plus `process_name`/`thread_name` metadata.
pub fn chrome_trace(
    timeline: &Timeline,
    out: &mut impl Write,
    mut progress: impl FnMut(u64),
) -> std::io::Result<()> {
    let t0 = timeline.span().map_or(0, |s| s.0);
    out.write_all(b"{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n")?;
    let mut first = true;
    for (rank, thread) in timeline.lanes() {
        let meta = [
            json!({"name": "process_name", "ph": "M", "pid": rank, "tid": thread, "args": {"name": format!("rank {rank}")}}),
            json!({"name": "thread_name", "ph": "M", "pid": rank, "tid": thread, "args": {"name": format!("thread {thread}")}}),
        ];
        for m in meta {
            if !first {
                out.write_all(b",\n")?;
            }
            first = false;
            serde_json::to_writer(&mut *out, &m)?;
        }
    }
    for (i, c) in timeline.calls.iter().enumerate() {
        if !first {
            out.write_all(b",\n")?;
        }
        first = false;
        let event = json!({
            "name": timeline.names[c.region],
            "cat": "region",
            "ph": "X",
            "ts": (c.start - t0) as f64 / 1e3,
            "dur": (c.end - c.start) as f64 / 1e3,
            "pid": c.rank,
            "tid": c.thread,
        });
        serde_json::to_writer(&mut *out, &event)?;
        if i % 65_536 == 0 {
            progress(i as u64);
        }
    }
    out.write_all(b"\n]}\n")
}

/// speedscope's file format: shared frames, one evented profile per lane.
/// Calls that overlap their parent's end are clamped to it, since evented
/// profiles must nest.
pub fn speedscope(timeline: &Timeline, name: &str) -> Value {
    let frames: Vec<Value> = timeline
        .names
        .iter()
        .map(|n| json!({ "name": n }))
        .collect();
    let mut profiles = Vec::new();
    let depths = timeline.depths();
    for (rank, thread) in timeline.lanes() {
        let lane: Vec<usize> = (0..timeline.calls.len())
            .filter(|i| (timeline.calls[*i].rank, timeline.calls[*i].thread) == (rank, thread))
            .collect();
        let mut events = Vec::new();
        let mut open: Vec<(usize, i64)> = Vec::new(); // (frame, end)
        for &i in &lane {
            let c = &timeline.calls[i];
            while open.len() > depths[i] {
                let (frame, end) = open.pop().unwrap_or_default();
                events.push(json!({"type": "C", "frame": frame, "at": end}));
            }
            let end = open
                .last()
                .map_or(c.end, |(_, parent_end)| c.end.min(*parent_end));
            events.push(json!({"type": "O", "frame": c.region, "at": c.start}));
            open.push((c.region, end));
        }
        while let Some((frame, end)) = open.pop() {
            events.push(json!({"type": "C", "frame": frame, "at": end}));
        }
        let start = lane.first().map_or(0, |i| timeline.calls[*i].start);
        let end = lane
            .iter()
            .map(|i| timeline.calls[*i].end)
            .max()
            .unwrap_or(start);
        profiles.push(json!({
            "type": "evented",
            "name": format!("rank {rank} · thread {thread}"),
            "unit": "nanoseconds",
            "startValue": start,
            "endValue": end,
            "events": events,
        }));
    }
    json!({
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "name": name,
        "exporter": concat!("scope-profiler-pproc ", env!("CARGO_PKG_VERSION")),
        "shared": { "frames": frames },
        "profiles": profiles,
    })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// One CSV line per call, with a header.
pub fn csv(timeline: &Timeline, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "rank,thread,region,start_ns,end_ns,duration_ns")?;
    for c in &timeline.calls {
        writeln!(
            out,
            "{},{},{},{},{},{}",
            c.rank,
            c.thread,
            csv_field(&timeline.names[c.region]),
            c.start,
            c.end,
            c.end - c.start
        )?;
    }
    Ok(())
}

/// The summary rows, ranks and metadata as JSON (durations in ns).
pub fn summary_json(file: &ProfileFile, rows: &[Row]) -> Value {
    let metadata: serde_json::Map<String, Value> = file
        .metadata()
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.to_string())))
        .collect();
    json!({
        "file": file.path().display().to_string(),
        "schema": file.schema(),
        "ranks": file.ranks(),
        "metadata": metadata,
        "regions": rows.iter().map(|r| json!({
            "name": r.name,
            "ranks": r.ranks,
            "calls": r.stats.calls,
            "total_ns": r.stats.total,
            "avg_ns": r.stats.avg,
            "min_ns": r.stats.min,
            "max_ns": r.stats.max,
            "std_ns": r.stats.std,
            "p50_ns": r.stats.p50,
            "p95_ns": r.stats.p95,
            "p99_ns": r.stats.p99,
            "imbalance_pct": r.imbalance_pct,
        })).collect::<Vec<_>>(),
    })
}
