//! Exports: Chrome/Perfetto trace JSON, speedscope, CSV and a JSON summary.

use std::io::Write;

use std::collections::BTreeMap;

use scope_profiler_format::AttrValue;
use serde_json::{json, Value};

use crate::error::{PprocError, Result};
use crate::profile::ProfileFile;
use crate::table::Row;
use crate::timeline::{Timeline, TrackKind};

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Trace Event JSON (chrome://tracing, Perfetto UI): pid = rank, tid =
    /// thread (async and lifetime lanes get tids of their own).
    ChromeTrace,
    /// speedscope's evented profiles, one per lane (rank, thread, track).
    Speedscope,
    /// Perfetto's protobuf trace (ui.perfetto.dev), for traces past 10⁶ events.
    Perfetto,
    /// One line per call: rank, thread, region, start_ns, end_ns, duration_ns.
    Csv,
    /// The summary table and metadata as JSON.
    Json,
    /// An OTF2 archive directory (Vampir, Scalasca): see [`crate::otf2`].
    Otf2,
}

impl Format {
    /// The format called `name` (any case: `chrome-trace`, `Perfetto`, …).
    pub fn parse(name: &str) -> Result<Format> {
        <Format as clap::ValueEnum>::from_str(name, true).map_err(|_| {
            PprocError::Output(format!(
                "unknown export format {name:?}: use chrome-trace, perfetto, speedscope, csv, json or otf2"
            ))
        })
    }

    /// The format's name on the command line (`chrome-trace`, …).
    pub fn name(self) -> &'static str {
        match self {
            Format::ChromeTrace => "chrome-trace",
            Format::Speedscope => "speedscope",
            Format::Perfetto => "perfetto",
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Otf2 => "otf2",
        }
    }

    /// The file name extensions an export of this format may have (compared
    /// without regard to case); empty for a directory (`otf2`).
    pub fn extensions(self) -> &'static [&'static str] {
        match self {
            Format::ChromeTrace | Format::Speedscope | Format::Json => &["json"],
            Format::Perfetto => &["pftrace", "perfetto-trace", "pb"],
            Format::Csv => &["csv"],
            Format::Otf2 => &[],
        }
    }
}

/// The Trace Event thread id of each lane of `timeline`: a thread's stack
/// lane keeps the thread's index; its async and lifetime lanes take ids
/// above every thread index of their rank.
pub fn chrome_tids(timeline: &Timeline) -> Vec<u32> {
    let mut max_thread: BTreeMap<u32, u32> = BTreeMap::new();
    for lane in &timeline.lanes {
        let max = max_thread.entry(lane.rank).or_default();
        *max = (*max).max(lane.thread);
    }
    let mut next: BTreeMap<u32, u32> = BTreeMap::new();
    timeline
        .lanes
        .iter()
        .map(|lane| {
            if lane.kind == TrackKind::Stack {
                return lane.thread;
            }
            let n = next.entry(lane.rank).or_default();
            *n += 1;
            max_thread[&lane.rank].saturating_add(*n)
        })
        .collect()
}

/// Writes the Trace Event JSON: one complete (`"X"`) event per call, times
/// in µs from the first call, plus `process_name`/`thread_name` metadata.
/// Each lane is a thread of its own ([`chrome_tids`]), so no two events on
/// one thread cross.
pub fn chrome_trace(
    timeline: &Timeline,
    out: &mut impl Write,
    mut progress: impl FnMut(u64),
) -> std::io::Result<()> {
    let t0 = timeline.span().map_or(0, |s| s.0);
    let tids = chrome_tids(timeline);
    out.write_all(b"{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n")?;
    let mut first = true;
    let mut named_ranks = Vec::new();
    for (i, (lane, tid)) in timeline.lanes.iter().zip(&tids).enumerate() {
        let rank = lane.rank;
        let mut meta = Vec::new();
        if !named_ranks.contains(&rank) {
            named_ranks.push(rank);
            meta.push(json!({"name": "process_name", "ph": "M", "pid": rank, "tid": tid, "args": {"name": format!("rank {rank}")}}));
        }
        meta.push(json!({"name": "thread_name", "ph": "M", "pid": rank, "tid": tid, "args": {"name": timeline.track_label(lane)}}));
        meta.push(json!({"name": "thread_sort_index", "ph": "M", "pid": rank, "tid": tid, "args": {"sort_index": i}}));
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
            "tid": tids[c.lane],
        });
        serde_json::to_writer(&mut *out, &event)?;
        if i % 65_536 == 0 {
            progress(i as u64);
        }
    }
    out.write_all(b"\n]}\n")
}

/// speedscope's file format: shared frames, one evented profile per lane
/// (a thread's stack, its async lanes and its lifetime lanes apart), so
/// events never go back in time within a profile.
pub fn speedscope(timeline: &Timeline, name: &str) -> Value {
    let frames: Vec<Value> = timeline
        .names
        .iter()
        .map(|n| json!({ "name": n }))
        .collect();
    /// Lane index, its events, first start, last end.
    type Profile = (usize, Vec<Value>, i64, i64);
    let mut profiles: Vec<Profile> = Vec::new();
    timeline.nested_events(|lane, region, at, begin| {
        if profiles.last().is_none_or(|p| p.0 != lane) {
            profiles.push((lane, Vec::new(), at, at));
        }
        if let Some(p) = profiles.last_mut() {
            p.1.push(json!({"type": if begin { "O" } else { "C" }, "frame": region, "at": at}));
            p.3 = p.3.max(at);
        }
    });
    let profiles: Vec<Value> = profiles
        .into_iter()
        .map(|(lane, events, start, end)| {
            json!({
                "type": "evented",
                "name": timeline.lane_label(&timeline.lanes[lane]),
                "unit": "nanoseconds",
                "startValue": start,
                "endValue": end,
                "events": events,
            })
        })
        .collect();
    json!({
        "$schema": "https://www.speedscope.app/file-format-schema.json",
        "name": name,
        "exporter": concat!("scope-profiler-pproc ", env!("CARGO_PKG_VERSION")),
        "shared": { "frames": frames },
        "profiles": profiles,
    })
}

/// Perfetto's protobuf trace format (what ui.perfetto.dev loads natively;
/// unlike JSON it stays fast past 10⁶ events): one process track per rank,
/// one track per lane (a thread track for each thread's stack, a named
/// track beside it for each async or lifetime lane), a slice begin/end pair
/// per call.
/// Packets are streamed as the repeated `Trace.packet` field, so the trace
/// is never held in memory whole.
pub fn perfetto(
    timeline: &Timeline,
    out: &mut impl Write,
    progress: impl FnMut(u64),
) -> std::io::Result<()> {
    write_track_descriptors(timeline, out)?;
    write_slice_packets(timeline, out, progress)
}

/// The packets' `trusted_packet_sequence_id`: one writer, one sequence.
const PERFETTO_SEQUENCE: u32 = 1;

/// The uuid of rank `rank`'s process track.
fn process_uuid(rank: u32) -> u64 {
    1 + rank as u64
}

/// The uuid of the track of lane `lane` (an index into
/// [`Timeline::lanes`]): at least 2³², so apart from the process tracks'
/// for ranks below 2³² − 1.
fn lane_uuid(lane: usize) -> u64 {
    (1u64 << 32) + lane as u64
}

/// Writes `packet` as one `Trace.packet` field: tag, varint length, bytes.
fn write_packet(
    out: &mut dyn Write,
    packet: &perfetto_protos::trace_packet::TracePacket,
) -> std::io::Result<()> {
    use protobuf::Message;
    let bytes = packet.write_to_bytes().map_err(std::io::Error::other)?;
    // Field 1 (Trace.packet), wire type 2 (length-delimited).
    let mut header = vec![0x0a];
    let mut len = bytes.len() as u64;
    loop {
        let byte = (len & 0x7f) as u8;
        len >>= 7;
        if len == 0 {
            header.push(byte);
            break;
        }
        header.push(byte | 0x80);
    }
    out.write_all(&header)?;
    out.write_all(&bytes)
}

/// A track descriptor per rank (process `rank N`, pid N + 1, children in
/// lane order) before that rank's first lane, then one per lane, child of
/// its rank's track: a thread track (`thread T`) for a thread's stack, a
/// named track (`thread T · async 1`) for its other lanes.
fn write_track_descriptors(timeline: &Timeline, out: &mut impl Write) -> std::io::Result<()> {
    use perfetto_protos::process_descriptor::ProcessDescriptor;
    use perfetto_protos::thread_descriptor::ThreadDescriptor;
    use perfetto_protos::trace_packet::TracePacket;
    use perfetto_protos::track_descriptor::{
        track_descriptor::ChildTracksOrdering, TrackDescriptor,
    };

    let mut ranks_seen = Vec::new();
    for (i, lane) in timeline.lanes.iter().enumerate() {
        let rank = lane.rank;
        let pid = rank as i32 + 1;
        if !ranks_seen.contains(&rank) {
            ranks_seen.push(rank);
            let mut process = ProcessDescriptor::new();
            process.set_pid(pid);
            process.set_process_name(format!("rank {rank}"));
            let mut track = TrackDescriptor::new();
            track.set_uuid(process_uuid(rank));
            track.set_child_ordering(ChildTracksOrdering::EXPLICIT);
            track.process = Some(process).into();
            let mut packet = TracePacket::new();
            packet.set_track_descriptor(track);
            write_packet(out, &packet)?;
        }
        let mut track = TrackDescriptor::new();
        track.set_uuid(lane_uuid(i));
        track.set_parent_uuid(process_uuid(rank));
        track.set_sibling_order_rank(i32::try_from(i).unwrap_or(i32::MAX));
        if lane.kind == TrackKind::Stack {
            let mut descriptor = ThreadDescriptor::new();
            descriptor.set_pid(pid);
            descriptor.set_tid(((rank as i32) << 16) + lane.thread as i32 + 1);
            descriptor.set_thread_name(timeline.track_label(lane));
            track.thread = Some(descriptor).into();
        } else {
            track.set_name(timeline.track_label(lane));
        }
        let mut packet = TracePacket::new();
        packet.set_track_descriptor(track);
        write_packet(out, &packet)?;
    }
    Ok(())
}

/// A slice begin and end packet per call on its lane's thread track, properly
/// nested ([`Timeline::nested_events`]); stops at the first write error.
/// Calls `progress` with the number of calls done about every 65 536 calls.
fn write_slice_packets(
    timeline: &Timeline,
    out: &mut impl Write,
    mut progress: impl FnMut(u64),
) -> std::io::Result<()> {
    use perfetto_protos::trace_packet::TracePacket;
    use perfetto_protos::track_event::{track_event, TrackEvent};

    let mut result = Ok(());
    let mut written = 0u64;
    timeline.nested_events(|lane, region, at, begin| {
        if result.is_err() {
            return;
        }
        let mut event = TrackEvent::new();
        event.set_track_uuid(lane_uuid(lane));
        if begin {
            event.set_type(track_event::Type::TYPE_SLICE_BEGIN);
            event.set_name(timeline.names[region].clone());
        } else {
            event.set_type(track_event::Type::TYPE_SLICE_END);
        }
        let mut packet = TracePacket::new();
        packet.set_timestamp(at.max(0) as u64);
        packet.set_trusted_packet_sequence_id(PERFETTO_SEQUENCE);
        packet.set_track_event(event);
        result = write_packet(out, &packet);
        written += 1;
        if written.is_multiple_of(131_072) {
            progress(written / 2);
        }
    });
    result
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

/// A metadata attribute as typed JSON: numbers as numbers, strings holding
/// a JSON array or object (hostnames, clock offsets) as that value, other
/// strings as strings.
fn attr_json(value: &AttrValue) -> Value {
    match value {
        AttrValue::Int(v) => json!(v),
        AttrValue::UInt(v) => json!(v),
        AttrValue::Float(v) => json!(v),
        AttrValue::Str(s) => {
            let t = s.trim_start();
            if t.starts_with('[') || t.starts_with('{') {
                if let Ok(parsed) = serde_json::from_str::<Value>(s) {
                    return parsed;
                }
            }
            Value::String(s.clone())
        }
        AttrValue::Other(s) => Value::String(s.clone()),
    }
}

/// The summary rows, ranks and metadata as JSON (durations in ns, numbers
/// as numbers).
pub fn summary_json(file: &ProfileFile, rows: &[Row]) -> Value {
    let metadata: serde_json::Map<String, Value> = file
        .metadata()
        .iter()
        .map(|(k, v)| (k.clone(), attr_json(v)))
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
            "first_start_ns": r.first_start,
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
