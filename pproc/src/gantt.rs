//! Gantt charts: one lane per [`Lane`](crate::timeline::Lane) (a thread's
//! call stack, its async and lifetime tracks), one bar per call, nested
//! calls stacked below their parent, each region in its own colour with a
//! legend, a time axis in round steps with units.
//!
//! [`svg`] is a static picture; [`html`] is an interactive page (wheel to
//! zoom, drag to pan, tooltips) drawn on a canvas by `gantt.js`, which
//! stays fast with 10⁵ calls and more because calls narrower than a pixel
//! are drawn once per pixel column.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use serde_json::json;

use crate::palette::text_colour;
use crate::timeline::Timeline;
use crate::units::{duration, tick_label, ticks};

const WIDTH: f64 = 1200.0;
const ROW: f64 = 18.0;
const LANE_GAP: f64 = 6.0;
const TOP: f64 = 58.0;
const RIGHT_PAD: f64 = 12.0;
/// Average width of a character of the 11 px sans-serif font, px.
const CHAR: f64 = 6.2;

/// XML/HTML text with `<`, `>`, `&` and quotes escaped, control characters
/// made visible.
pub fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() => out.push_str(&c.escape_default().to_string()),
            c => out.push(c),
        }
    }
    out
}

/// `text` cut to at most `chars` characters, an ellipsis marking the cut;
/// `None` when not even three characters and the ellipsis fit (a stub like
/// `f…` says nothing).
fn truncate(text: &str, chars: usize) -> Option<String> {
    if text.chars().count() <= chars {
        return Some(text.to_owned());
    }
    if chars < 4 {
        return None;
    }
    let kept: String = text.chars().take(chars - 1).collect();
    Some(format!("{kept}…"))
}

/// Where times fall on the x axis: the earliest start at the left edge of
/// the plot area, the latest end at its right edge.
struct TimeScale {
    /// Earliest start, ns.
    t0: i64,
    /// Latest end minus `t0`, ns, at least 1.
    span: f64,
    /// Left edge of the plot area (right of the lane labels), px.
    left: f64,
}

impl TimeScale {
    fn of(timeline: &Timeline, left: f64) -> TimeScale {
        let (t0, t1) = timeline.span().unwrap_or((0, 1));
        TimeScale {
            t0,
            span: (t1 - t0).max(1) as f64,
            left,
        }
    }

    /// The x coordinate of `ns` after the first call.
    fn x_rel(&self, ns: f64) -> f64 {
        self.left + ns / self.span * (WIDTH - self.left - RIGHT_PAD)
    }

    /// The x coordinate of time `t` (ns).
    fn x(&self, t: i64) -> f64 {
        self.x_rel((t - self.t0) as f64)
    }
}

/// The vertical layout: lanes stacked from the top, each as many rows tall
/// as its deepest nesting.
struct Rows {
    /// The y of each lane's first row.
    lane_top: Vec<f64>,
    /// Rows of each lane.
    lane_rows: Vec<usize>,
    /// The y just below the last lane.
    bottom: f64,
}

impl Rows {
    fn of(timeline: &Timeline) -> Rows {
        let mut lane_rows = vec![1usize; timeline.lanes.len()];
        for c in &timeline.calls {
            lane_rows[c.lane] = lane_rows[c.lane].max(c.depth + 1);
        }
        let mut lane_top = Vec::with_capacity(lane_rows.len());
        let mut y = TOP;
        for rows in &lane_rows {
            lane_top.push(y);
            y += *rows as f64 * ROW + LANE_GAP;
        }
        Rows {
            lane_top,
            lane_rows,
            bottom: y,
        }
    }
}

/// Width of the lane-label column: the longest label, within 100–320 px.
fn label_width(labels: &[String]) -> f64 {
    let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    (longest as f64 * CHAR + 16.0).clamp(100.0, 320.0)
}

/// One drawn bar: a call, or a run of calls narrower than a pixel that
/// share its pixel column.
struct Bar {
    /// The first call it draws.
    call: usize,
    x: f64,
    y: f64,
    w: f64,
    /// Calls drawn by this bar.
    calls: usize,
}

/// The bars of every call, calls under a pixel wide merged with the bar
/// already drawn in their pixel column on their row.
fn bars(timeline: &Timeline, rows: &Rows, scale: &TimeScale) -> Vec<Bar> {
    let mut bars: Vec<Bar> = Vec::with_capacity(timeline.calls.len());
    // Per depth of the current lane: the last bar drawn and its pixel.
    let mut last: Vec<Option<(usize, i64)>> = Vec::new();
    let mut lane = usize::MAX;
    for (i, c) in timeline.calls.iter().enumerate() {
        if c.lane != lane {
            lane = c.lane;
            last.clear();
        }
        if last.len() <= c.depth {
            last.resize(c.depth + 1, None);
        }
        let (x0, x1) = (scale.x(c.start), scale.x(c.end));
        let pixel = x0.floor() as i64;
        if x1 - x0 < 1.0 {
            if let Some((bar, last_pixel)) = last[c.depth] {
                if last_pixel == pixel {
                    bars[bar].calls += 1;
                    continue;
                }
            }
        }
        last[c.depth] = Some((bars.len(), x1.floor() as i64));
        bars.push(Bar {
            call: i,
            x: x0,
            y: rows.lane_top[c.lane] + c.depth as f64 * ROW,
            w: (x1 - x0).max(1.0),
            calls: 1,
        });
    }
    bars
}

/// The chart as a standalone SVG document: each bar is a
/// `<rect class="bar" data-calls="N">` with a `<title>` tooltip (name,
/// duration, start, lane); N > 1 where calls under a pixel wide share it.
pub fn svg(timeline: &Timeline, title: &str) -> String {
    let labels: Vec<String> = timeline
        .lanes
        .iter()
        .map(|l| timeline.lane_label(l))
        .collect();
    let scale = TimeScale::of(timeline, label_width(&labels));
    let rows = Rows::of(timeline);
    let legend_top = rows.bottom + 34.0;
    let (legend, legend_bottom) = lay_out_legend(timeline, legend_top);
    let height = legend_bottom + 12.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        out,
        r##"<rect width="100%" height="100%" fill="#fff"/><text x="6" y="18" font-size="14" font-weight="bold">{}</text><text x="6" y="34" fill="#555">{} calls on {} lanes · time since the first call</text>"##,
        escape_xml(title),
        timeline.calls.len(),
        timeline.lanes.len()
    );
    write_lanes(&mut out, &rows, &labels, scale.left);
    write_axis(&mut out, &scale, TOP - 4.0, rows.bottom, true);
    write_axis(&mut out, &scale, rows.bottom, TOP - 4.0, false);
    write_bars(&mut out, timeline, &bars(timeline, &rows, &scale), &scale);
    write_legend(&mut out, &legend);
    out.push_str("</svg>\n");
    out
}

/// Each lane's label at its left, a shaded band for every other lane and a
/// rule above each.
fn write_lanes(out: &mut String, rows: &Rows, labels: &[String], left: f64) {
    let chars = ((left - 12.0) / CHAR) as usize;
    for (i, (label, top)) in labels.iter().zip(&rows.lane_top).enumerate() {
        let height = rows.lane_rows[i] as f64 * ROW + LANE_GAP;
        let band_top = top - LANE_GAP / 2.0;
        if i % 2 == 1 {
            let _ = writeln!(
                out,
                r##"<rect x="0" y="{band_top:.1}" width="{WIDTH}" height="{height:.1}" fill="#f6f7f9"/>"##
            );
        }
        let shown = truncate(label, chars).unwrap_or_default();
        let _ = writeln!(
            out,
            r##"<text class="lane" x="6" y="{:.1}"><title>{}</title>{}</text><line x1="0" x2="{WIDTH}" y1="{band_top:.1}" y2="{band_top:.1}" stroke="#ccc"/>"##,
            top + ROW / 2.0 + 4.0,
            escape_xml(label),
            escape_xml(&shown)
        );
    }
}

/// A time axis along `y` with round ticks (1-2-5 steps, automatic unit),
/// labels above (`labels_above`) or below it and grid lines to `grid_to`.
fn write_axis(out: &mut String, scale: &TimeScale, y: f64, grid_to: f64, labels_above: bool) {
    let plot = WIDTH - scale.left - RIGHT_PAD;
    let (step, ticks) = ticks(scale.span, (plot / 90.0) as usize);
    let _ = writeln!(
        out,
        r##"<line x1="{:.1}" x2="{:.1}" y1="{y:.1}" y2="{y:.1}" stroke="#999"/>"##,
        scale.left,
        WIDTH - RIGHT_PAD
    );
    for t in ticks {
        let x = scale.x_rel(t);
        let (label_y, tick_to) = if labels_above {
            (y - 6.0, y - 4.0)
        } else {
            (y + 16.0, y + 4.0)
        };
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" x2="{x:.1}" y1="{y:.1}" y2="{grid_to:.1}" stroke="#e6e6e6"/><line x1="{x:.1}" x2="{x:.1}" y1="{y:.1}" y2="{tick_to:.1}" stroke="#999"/><text class="tick" x="{x:.1}" y="{label_y:.1}" text-anchor="middle">{}</text>"##,
            tick_label(t, step, scale.span)
        );
    }
}

/// The bars with their tooltips, and the region's name inside each bar
/// wide enough for three characters.
fn write_bars(out: &mut String, timeline: &Timeline, bars: &[Bar], scale: &TimeScale) {
    for bar in bars {
        let c = &timeline.calls[bar.call];
        let name = &timeline.names[c.region];
        let colour = &timeline.colours[c.region];
        let more = if bar.calls > 1 {
            format!(" (+{} more calls in this pixel)", bar.calls - 1)
        } else {
            String::new()
        };
        let w = if bar.w > 3.0 { bar.w - 1.0 } else { bar.w };
        let _ = write!(
            out,
            r#"<rect class="bar" data-calls="{}" x="{:.2}" y="{:.1}" width="{w:.2}" height="{:.1}" fill="{colour}"><title>{} — {} (at {}, {}){more}</title></rect>"#,
            bar.calls,
            bar.x,
            bar.y + 1.0,
            ROW - 2.0,
            escape_xml(name),
            duration((c.end - c.start) as f64),
            duration((c.start - scale.t0) as f64),
            escape_xml(&timeline.lane_label(&timeline.lanes[c.lane])),
        );
        if let Some(label) =
            truncate(name, ((bar.w - 6.0) / CHAR) as usize).filter(|_| bar.w > 24.0)
        {
            let _ = write!(
                out,
                r#"<text x="{:.2}" y="{:.1}" fill="{}" pointer-events="none">{}</text>"#,
                bar.x + 3.0,
                bar.y + ROW / 2.0 + 4.0,
                text_colour(colour),
                escape_xml(&label)
            );
        }
        out.push('\n');
    }
}

/// One legend entry: a swatch of the region's colour and its name.
struct Swatch<'a> {
    x: f64,
    y: f64,
    name: &'a str,
    colour: &'a str,
}

/// One swatch per region with calls, in rows from `top` wrapped to the
/// chart width; also the y below the last row.
fn lay_out_legend(timeline: &Timeline, top: f64) -> (Vec<Swatch<'_>>, f64) {
    let used: BTreeSet<usize> = timeline.calls.iter().map(|c| c.region).collect();
    let mut legend = Vec::new();
    let (mut x, mut y) = (6.0, top);
    for region in used {
        let name = &timeline.names[region];
        let w = 28.0 + CHAR * name.chars().count().min(48) as f64;
        if x + w > WIDTH && x > 6.0 {
            x = 6.0;
            y += 18.0;
        }
        legend.push(Swatch {
            x,
            y,
            name,
            colour: &timeline.colours[region],
        });
        x += w;
    }
    (legend, y + 18.0)
}

/// Each legend swatch with its region's name beside it.
fn write_legend(out: &mut String, legend: &[Swatch<'_>]) {
    for Swatch { x, y, name, colour } in legend {
        let shown = truncate(name, 48).unwrap_or_default();
        let _ = writeln!(
            out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="12" height="12" fill="{colour}"/><text class="legend" x="{:.1}" y="{:.1}">{}</text>"#,
            x + 16.0,
            y + 10.0,
            escape_xml(&shown)
        );
    }
}

/// What `gantt.js` draws: region names and colours, lanes (label, rows)
/// and the calls as columns (lane, depth, region, start and duration in ns
/// after the first call).
pub fn chart_data(timeline: &Timeline) -> serde_json::Value {
    let t0 = timeline.span().map_or(0, |s| s.0);
    let mut rows = vec![1usize; timeline.lanes.len()];
    for c in &timeline.calls {
        rows[c.lane] = rows[c.lane].max(c.depth + 1);
    }
    let lanes: Vec<_> = timeline
        .lanes
        .iter()
        .zip(&rows)
        .map(|(lane, rows)| json!({"label": timeline.lane_label(lane), "rows": rows}))
        .collect();
    let column = |f: &dyn Fn(&crate::timeline::Call) -> i64| -> Vec<i64> {
        timeline.calls.iter().map(f).collect()
    };
    json!({
        "names": timeline.names,
        "colours": timeline.colours,
        "lanes": lanes,
        "span": timeline.span().map_or(1, |(a, b)| (b - a).max(1)),
        "calls": {
            "lane": column(&|c| c.lane as i64),
            "depth": column(&|c| c.depth as i64),
            "region": column(&|c| c.region as i64),
            "start": column(&|c| c.start - t0),
            "dur": column(&|c| c.end - c.start),
        },
    })
}

/// `value` as JSON safe inside a `<script>` element: every `<` escaped.
pub fn script_json(value: &serde_json::Value) -> String {
    value.to_string().replace('<', "\\u003c")
}

/// The chart's script (`gantt.js`): defines `ganttChart(root, data)`.
pub const SCRIPT: &str = include_str!("gantt.js");

/// The chart's style sheet.
pub const STYLE: &str = r#"
.gantt { position: relative; }
.gantt-tools { margin: 4px 0; font-size: 13px; color: #444; }
.gantt-tools button { font-size: 13px; margin-right: 4px; }
.gantt-canvas { display: block; user-select: none; }
.gantt-tip { position: fixed; pointer-events: none; background: #222; color: #fff; padding: 4px 7px;
  border-radius: 3px; font: 12px sans-serif; white-space: pre; display: none; z-index: 10; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 8px 0; font: 12px sans-serif; }
.legend span.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 5px; vertical-align: -1px; }
"#;

/// The chart as a fragment of a page: tools, canvas, tooltip and legend in
/// an element with id `id`, and the data it draws. The page must include
/// [`STYLE`] and [`SCRIPT`] once and call `ganttChart` on it
/// ([`init_script`]).
pub fn fragment(timeline: &Timeline, id: &str) -> String {
    let mut legend = String::new();
    let used: BTreeSet<usize> = timeline.calls.iter().map(|c| c.region).collect();
    for region in used {
        let _ = write!(
            legend,
            r#"<span><span class="swatch" style="background:{}"></span>{}</span>"#,
            timeline.colours[region],
            escape_xml(&timeline.names[region])
        );
    }
    format!(
        r#"<div class="gantt" id="{id}">
<div class="gantt-tools"><button data-zoom="in" title="zoom in">+</button><button data-zoom="out" title="zoom out">&minus;</button><button data-zoom="reset">reset</button>
axis: time since the first call · wheel: zoom at the cursor (over the lane names: scroll the page) · drag or shift+wheel: pan · double-click: reset · hover a bar: region, duration, start</div>
<canvas class="gantt-canvas"></canvas><div class="gantt-tip"></div>
<div class="legend">{legend}</div>
</div>
<script type="application/json" id="{id}-data">{}</script>
"#,
        script_json(&chart_data(timeline))
    )
}

/// The call that draws the chart of [`fragment`] `id`.
pub fn init_script(id: &str) -> String {
    format!(
        "ganttChart(document.getElementById('{id}'), JSON.parse(document.getElementById('{id}-data').textContent));\n"
    )
}

/// The chart as an interactive HTML page: wheel to zoom, drag to pan,
/// tooltips, legend.
pub fn html(timeline: &Timeline, title: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body {{ font-family: sans-serif; margin: 12px; }} h1 {{ font-size: 18px; margin: 0 0 4px; }}
{style}</style>
</head><body>
<h1>{title}</h1>
<div>{calls} calls on {lanes} lanes</div>
{fragment}<script>
{script}
{init}</script>
</body></html>
"#,
        title = escape_xml(title),
        style = STYLE,
        calls = timeline.calls.len(),
        lanes = timeline.lanes.len(),
        fragment = fragment(timeline, "gantt"),
        script = SCRIPT,
        init = init_script("gantt"),
    )
}
