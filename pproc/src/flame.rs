//! Flame graphs: nesting from the timeline's lanes (so a span lifetime is
//! never nested in itself or in another lifetime), weighted by time in ns,
//! rendered by `inferno` in the regions' colours.
//!
//! A frame's width is its inclusive time (its calls and everything they
//! called), as in every flame graph. Each frame's tooltip says the
//! inclusive and the self time with units; the label on a frame is the
//! region name, cut from the right when the frame is narrow.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::error::{PprocError, Result};
use crate::timeline::Timeline;
use crate::units::duration;

/// Folded stacks (`frame;frame;frame self_ns`), one per distinct stack,
/// sorted. With `per_rank`, each stack starts with a `rank N` frame.
pub fn folded(timeline: &Timeline, per_rank: bool) -> Vec<String> {
    let calls = &timeline.calls;
    // Self time = duration minus the durations of direct children.
    let mut self_ns: Vec<i64> = calls.iter().map(|c| c.end - c.start).collect();
    let mut stack: Vec<usize> = Vec::new();
    let mut paths: Vec<String> = Vec::with_capacity(calls.len());
    let mut lane = None;
    for (i, c) in calls.iter().enumerate() {
        if lane != Some(c.lane) {
            stack.clear();
            lane = Some(c.lane);
        }
        stack.truncate(c.depth);
        if let Some(&parent) = stack.last() {
            self_ns[parent] -= c.end - c.start;
        }
        let frame = frame_name(&timeline.names[c.region]);
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

/// A region name as one frame of a folded stack: `;` separates frames and
/// line breaks end stacks, so they become `:` and spaces.
fn frame_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            ';' => ':',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// The subtitle under the title: what a width means, in which unit.
pub const SUBTITLE: &str =
    "frame width = inclusive time (ns, all calls); hover: inclusive and self time; click: zoom";

/// Renders the flame graph SVG: regions in their timeline colours, frame
/// labels name first, tooltips with inclusive and self time.
pub fn svg(timeline: &Timeline, per_rank: bool, title: &str) -> Result<Vec<u8>> {
    let lines = folded(timeline, per_rank);
    if lines.is_empty() {
        return Err(PprocError::Output(
            "no timed calls to draw a flame graph from".into(),
        ));
    }
    let mut palette = inferno::flamegraph::color::PaletteMap::default();
    // The root frame (`all`, an empty name to inferno) in a quiet grey.
    if let Some(grey) = inferno::flamegraph::color::parse_hex_color("#d0d0d0") {
        palette.insert("", grey);
    }
    for (name, colour) in timeline.names.iter().zip(&timeline.colours) {
        if let Some(colour) = inferno::flamegraph::color::parse_hex_color(colour) {
            palette.insert(frame_name(name), colour);
        }
    }
    let mut options = inferno::flamegraph::Options::default();
    options.title = title.to_owned();
    options.subtitle = Some(SUBTITLE.to_owned());
    // No parentheses: inferno's script takes a frame's label from its
    // tooltip by cutting the last parenthesised group.
    options.count_name = "ns".to_owned();
    options.name_type = "Region:".to_owned();
    options.text_truncate_direction = inferno::flamegraph::TextTruncateDirection::Right;
    options.palette_map = Some(&mut palette);
    let mut out = Vec::new();
    inferno::flamegraph::from_lines(&mut options, lines.iter().map(String::as_str), &mut out)
        .map_err(|e| PprocError::Output(format!("flame graph: {e}")))?;
    let svg = String::from_utf8(out)
        .map_err(|e| PprocError::Output(format!("flame graph is not UTF-8: {e}")))?;
    Ok(with_time_tooltips(&svg, &lines).into_bytes())
}

/// Self time of each frame as inferno lays it out, by (depth, first
/// sample): depth 0 is the root (`all`), a line's frames merge with the
/// previous line's while their paths agree, and the last frame of a line
/// owns its count as self time.
fn self_times(lines: &[String]) -> BTreeMap<(usize, u64), u64> {
    let mut self_ns = BTreeMap::new();
    let mut previous: Vec<&str> = Vec::new();
    let mut starts: Vec<u64> = Vec::new();
    let mut x = 0u64;
    for line in lines {
        let Some((path, count)) = line.rsplit_once(' ') else {
            continue;
        };
        let count: u64 = count.parse().unwrap_or(0);
        let frames: Vec<&str> = path.split(';').collect();
        let shared = frames
            .iter()
            .zip(&previous)
            .take_while(|(a, b)| a == b)
            .count();
        starts.truncate(shared);
        starts.resize(frames.len(), x);
        *self_ns
            .entry((frames.len(), starts[frames.len() - 1]))
            .or_default() += count;
        previous = frames;
        x += count;
    }
    self_ns
}

/// Rewrites each frame's `<title>` to `name (inclusive T, P%; self S)`,
/// times with units. Frames are found as a `<title>` followed by a `<rect>`
/// with inferno's `fg:x`/`fg:w` (first sample, width in samples); their
/// depth is the rank of their `y` from the bottom.
fn with_time_tooltips(svg: &str, lines: &[String]) -> String {
    let self_ns = self_times(lines);
    let total: u64 = self_ns.values().sum();
    let frames = frame_rects(svg);
    let mut ys: Vec<f64> = frames.iter().map(|f| f.y).collect();
    ys.sort_by(|a, b| b.total_cmp(a));
    ys.dedup();
    let mut out = String::with_capacity(svg.len() + frames.len() * 16);
    let mut copied = 0;
    for f in &frames {
        let depth = ys.iter().position(|y| *y == f.y).unwrap_or(0);
        let own = self_ns.get(&(depth, f.x)).copied().unwrap_or(0);
        let name = if depth == 0 { "all" } else { f.name };
        let mut title = String::new();
        let _ = write!(
            title,
            "{name} (inclusive {}, {:.2}%; self {})",
            duration(f.width as f64),
            100.0 * f.width as f64 / total.max(1) as f64,
            duration(own as f64)
        );
        out.push_str(&svg[copied..f.title.0]);
        out.push_str(&title);
        copied = f.title.1;
    }
    out.push_str(&svg[copied..]);
    out
}

/// One frame of inferno's SVG.
struct FrameRect<'a> {
    /// Byte range of the `<title>` text.
    title: (usize, usize),
    /// The region name: the title up to its last ` (`, still XML-escaped.
    name: &'a str,
    /// `y` of the rect.
    y: f64,
    /// `fg:x`: first sample.
    x: u64,
    /// `fg:w`: width in samples.
    width: u64,
}

/// The frames of inferno's SVG, in document order.
fn frame_rects(svg: &str) -> Vec<FrameRect<'_>> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let key = format!(" {name}=\"");
        let at = tag.find(&key)? + key.len();
        Some(tag[at..at + tag[at..].find('"')?].to_owned())
    };
    let mut frames = Vec::new();
    let mut from = 0;
    while let Some(open) = svg[from..].find("<title>") {
        let start = from + open + "<title>".len();
        let Some(len) = svg[start..].find("</title>") else {
            break;
        };
        let end = start + len;
        from = end;
        let rest = &svg[end + "</title>".len()..];
        if !rest.starts_with("<rect") {
            continue;
        }
        let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
        let (Some(y), Some(x), Some(width)) = (
            attr(tag, "y").and_then(|v| v.parse().ok()),
            attr(tag, "fg:x").and_then(|v| v.parse().ok()),
            attr(tag, "fg:w").and_then(|v| v.parse().ok()),
        ) else {
            continue;
        };
        let text = &svg[start..end];
        let name = text.rfind(" (").map_or(text, |i| &text[..i]);
        frames.push(FrameRect {
            title: (start, end),
            name,
            y,
            x,
            width,
        });
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_times_follow_inferno_merging() {
        let lines: Vec<String> = ["a 5", "a;b 3", "a;b;c 2", "d 4"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let s = self_times(&lines);
        assert_eq!(s[&(1, 0)], 5, "a starts at 0");
        assert_eq!(s[&(2, 5)], 3, "b starts after a's own 5");
        assert_eq!(s[&(3, 8)], 2);
        assert_eq!(s[&(1, 10)], 4);
        assert_eq!(s.values().sum::<u64>(), 14);
    }
}
