//! Calls that overlap on one thread without nesting (crossing spans, task
//! lifetimes) never cross on one lane of any output.

mod support;

use std::collections::BTreeMap;

use scope_profiler_pproc::{flame, ProfileFile, Timeline, TrackKind};

/// Panics unless every two intervals are disjoint or nested.
fn assert_no_crossing(what: &str, intervals: &[(f64, f64)]) {
    for (i, a) in intervals.iter().enumerate() {
        for b in &intervals[i + 1..] {
            let disjoint = a.1 <= b.0 || b.1 <= a.0;
            let nested = (a.0 <= b.0 && b.1 <= a.1) || (b.0 <= a.0 && a.1 <= b.1);
            assert!(disjoint || nested, "{what}: {a:?} crosses {b:?}");
        }
    }
}

/// Every call of the async run as (region, start, end), sorted.
fn input_calls() -> Vec<(String, i64, i64)> {
    let mut calls: Vec<(String, i64, i64)> = support::async_run(2, 12)
        .values()
        .flat_map(|regions| regions.iter())
        .flat_map(|(name, calls)| calls.iter().map(move |c| (name.clone(), c.1, c.2)))
        .collect();
    calls.sort();
    calls
}

/// The calls an evented stream (begin?, at, name; ends may name nothing)
/// stands for, each end closing the innermost open call; panics unless
/// time never goes back and every call is closed.
fn calls_of_events(what: &str, events: &[(bool, i64, String)]) -> Vec<(String, i64, i64)> {
    let mut open: Vec<(String, i64)> = Vec::new();
    let mut calls = Vec::new();
    let mut last = i64::MIN;
    for (begin, at, name) in events {
        assert!(*at >= last, "{what}: time goes back at {at}");
        last = *at;
        if *begin {
            open.push((name.clone(), *at));
        } else {
            let (opened, start) = open.pop().expect("an end with nothing open");
            assert!(
                name.is_empty() || *name == opened,
                "{what}: closes {name}, not {opened}"
            );
            calls.push((opened, start, *at));
        }
    }
    assert!(open.is_empty(), "{what}: {} calls left open", open.len());
    calls
}

#[test]
fn the_input_really_has_crossing_calls_on_one_thread() {
    let dir = tempfile::tempdir().unwrap();
    let file = ProfileFile::open(support::async_file(dir.path(), 12)).unwrap();
    let fetch = &file.region("fetch").unwrap().per_rank[&0];
    // Consecutive fetches on thread 2 cross: the second starts inside the
    // first and ends after it.
    assert!(fetch.starts[1] < fetch.ends[0] && fetch.ends[1] > fetch.ends[0]);
    let timeline = Timeline::of(&file, None, |_| true);
    let kinds: Vec<TrackKind> = timeline.lanes.iter().map(|l| l.kind).collect();
    assert!(kinds.contains(&TrackKind::Overlap) && kinds.contains(&TrackKind::Lifetime));
    // Every output below draws per lane; each lane is crossing-free.
    let mut per_lane: BTreeMap<usize, Vec<(f64, f64)>> = BTreeMap::new();
    for c in &timeline.calls {
        per_lane
            .entry(c.lane)
            .or_default()
            .push((c.start as f64, c.end as f64));
    }
    for (lane, calls) in per_lane {
        assert_no_crossing(&format!("lane {lane}"), &calls);
    }
}

#[test]
fn chrome_trace_gives_each_lane_its_own_named_thread() {
    let dir = tempfile::tempdir().unwrap();
    let input = support::async_file(dir.path(), 12);
    let out = dir.path().join("trace.json");
    support::pproc_ok(&[
        input.to_str().unwrap(),
        "--export",
        "chrome-trace",
        out.to_str().unwrap(),
    ]);
    let trace: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    let mut per_thread: BTreeMap<(u64, u64), Vec<(f64, f64)>> = BTreeMap::new();
    for e in events.iter().filter(|e| e["ph"] == "X") {
        let ts = e["ts"].as_f64().unwrap();
        per_thread
            .entry((e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap()))
            .or_default()
            .push((ts, ts + e["dur"].as_f64().unwrap()));
    }
    let calls: usize = per_thread.values().map(Vec::len).sum();
    assert_eq!(calls, support::count(&support::async_run(2, 12)));
    for (thread, intervals) in &per_thread {
        assert_no_crossing(&format!("chrome-trace pid/tid {thread:?}"), intervals);
    }
    let names: Vec<&str> = events
        .iter()
        .filter(|e| e["name"] == "thread_name")
        .map(|e| e["args"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), per_thread.len(), "every thread is named");
    assert!(names.contains(&"thread 2 · async 1"), "{names:?}");
    assert!(names.contains(&"thread 1 · lifetimes 3"), "{names:?}");
}

#[test]
fn speedscope_profiles_nest_and_never_go_back_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let input = support::async_file(dir.path(), 12);
    let out = dir.path().join("p.speedscope.json");
    support::pproc_ok(&[
        input.to_str().unwrap(),
        "--export",
        "speedscope",
        out.to_str().unwrap(),
    ]);
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let profiles = doc["profiles"].as_array().unwrap();
    assert_eq!(profiles.len(), 14, "7 lanes on each of 2 ranks");
    let frames = doc["shared"]["frames"].as_array().unwrap();
    let mut calls = Vec::new();
    for p in profiles {
        let events: Vec<(bool, i64, String)> = p["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                let frame = e["frame"].as_u64().unwrap() as usize;
                (
                    e["type"] == "O",
                    e["at"].as_i64().unwrap(),
                    frames[frame]["name"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        calls.extend(calls_of_events(p["name"].as_str().unwrap(), &events));
    }
    calls.sort();
    assert_eq!(
        calls,
        input_calls(),
        "every call, with its own start and end"
    );
}

#[test]
fn perfetto_slices_nest_on_every_track() {
    use perfetto_protos::trace::Trace;
    use perfetto_protos::track_event::track_event::Type;
    use protobuf::Message;

    let dir = tempfile::tempdir().unwrap();
    let input = support::async_file(dir.path(), 12);
    let out = dir.path().join("trace.pftrace");
    support::pproc_ok(&[
        input.to_str().unwrap(),
        "--export",
        "perfetto",
        out.to_str().unwrap(),
    ]);
    let trace = Trace::parse_from_bytes(&std::fs::read(&out).unwrap()).unwrap();
    let mut per_track: BTreeMap<u64, Vec<(bool, i64, String)>> = BTreeMap::new();
    let mut names: Vec<String> = Vec::new();
    for p in &trace.packet {
        if p.has_track_event() {
            let e = p.track_event();
            let begin = e.type_() == Type::TYPE_SLICE_BEGIN;
            // Slice ends carry no name: they close the innermost slice.
            per_track.entry(e.track_uuid()).or_default().push((
                begin,
                p.timestamp() as i64,
                e.name().to_owned(),
            ));
        } else if p.has_track_descriptor() {
            let t = p.track_descriptor();
            if t.thread.is_some() {
                names.push(t.thread.thread_name().to_owned());
            } else if t.process.is_none() {
                names.push(t.name().to_owned());
            }
        }
    }
    assert_eq!(per_track.len(), 14);
    let mut calls = Vec::new();
    for (track, events) in &per_track {
        calls.extend(calls_of_events(&format!("track {track}"), events));
    }
    calls.sort();
    assert_eq!(
        calls,
        input_calls(),
        "every call, with its own start and end"
    );
    assert!(names.iter().any(|n| n == "thread 2 · async 1"), "{names:?}");
}

#[test]
fn the_flame_graph_never_nests_a_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    let file = ProfileFile::open(support::async_file(dir.path(), 12)).unwrap();
    let timeline = Timeline::of(&file, None, |_| true);
    let folded = flame::folded(&timeline, false);
    let lifetime_stacks: Vec<&str> = folded
        .iter()
        .map(|l| l.rsplit_once(' ').unwrap().0)
        .filter(|stack| stack.contains("[lifetime]"))
        .collect();
    assert_eq!(lifetime_stacks, vec!["upload [lifetime]"]);
    // Self time still adds up to every root call's time.
    let self_total: i64 = folded
        .iter()
        .map(|l| l.rsplit_once(' ').unwrap().1.parse::<i64>().unwrap())
        .sum();
    let root_total: i64 = timeline
        .calls
        .iter()
        .filter(|c| c.depth == 0)
        .map(|c| c.end - c.start)
        .sum();
    assert_eq!(self_total, root_total);
}

#[test]
fn gantt_lanes_are_named_for_their_thread_and_track() {
    let dir = tempfile::tempdir().unwrap();
    let input = support::async_file(dir.path(), 12);
    let out = dir.path().join("gantt.svg");
    support::pproc_ok(&[input.to_str().unwrap(), "--gantt", out.to_str().unwrap()]);
    let doc = std::fs::read_to_string(&out).unwrap();
    let xml = roxmltree::Document::parse(&doc).unwrap();
    let lanes: Vec<String> = xml
        .descendants()
        .filter(|n| n.attribute("class") == Some("lane"))
        .map(|n| {
            n.children()
                .find(|c| c.has_tag_name("title"))
                .and_then(|t| t.text())
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(lanes.len(), 14);
    for expected in [
        "rank 0 · thread 0",
        "rank 0 · thread 1 · lifetimes 1",
        "rank 0 · thread 1 · lifetimes 3",
        "rank 1 · thread 2 · async 1",
    ] {
        assert!(lanes.iter().any(|l| l == expected), "{expected}: {lanes:?}");
    }
}
