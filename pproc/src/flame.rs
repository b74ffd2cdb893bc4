//! Flame graphs from nesting reconstructed from timestamps, weighted by self
//! time in ns, rendered by `inferno`.

use std::collections::BTreeMap;

use crate::error::{PprocError, Result};
use crate::timeline::Timeline;

/// Folded stacks (`frame;frame;frame self_ns`), one per distinct stack. With
/// `per_rank`, each stack starts with a `rank N` frame.
pub fn folded(timeline: &Timeline, per_rank: bool) -> Vec<String> {
    let depths = timeline.depths();
    let calls = &timeline.calls;
    // Self time = duration minus the durations of direct children.
    let mut self_ns: Vec<i64> = calls.iter().map(|c| (c.end - c.start).max(0)).collect();
    let mut stack: Vec<usize> = Vec::new();
    let mut paths: Vec<String> = Vec::with_capacity(calls.len());
    let mut lane = None;
    for (i, c) in calls.iter().enumerate() {
        if lane != Some((c.rank, c.thread)) {
            stack.clear();
            lane = Some((c.rank, c.thread));
        }
        stack.truncate(depths[i]);
        if let Some(&parent) = stack.last() {
            self_ns[parent] -= (c.end - c.start).max(0);
        }
        let frame = timeline.names[c.region].replace(';', ":");
        let path = match stack.last() {
            Some(&parent) => format!("{};{frame}", paths[parent]),
            None if per_rank => format!("rank {};{frame}", c.rank),
            None => frame,
        };
        paths.push(path);
        stack.push(i);
    }
    let mut totals: BTreeMap<&str, i64> = BTreeMap::new();
    for (path, ns) in paths.iter().zip(&self_ns) {
        *totals.entry(path.as_str()).or_default() += (*ns).max(0);
    }
    totals
        .into_iter()
        .filter(|(_, ns)| *ns > 0)
        .map(|(p, ns)| format!("{p} {ns}"))
        .collect()
}

/// Renders the flame graph SVG.
pub fn svg(timeline: &Timeline, per_rank: bool, title: &str) -> Result<Vec<u8>> {
    let lines = folded(timeline, per_rank);
    if lines.is_empty() {
        return Err(PprocError::Output(
            "no timed calls to draw a flame graph from".into(),
        ));
    }
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_owned();
    options.count_name = "ns (self time)".to_owned();
    let mut out = Vec::new();
    inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut out)
        .map_err(|e| PprocError::Output(format!("flame graph: {e}")))?;
    Ok(out)
}
