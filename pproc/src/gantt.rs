//! Gantt charts: one lane per (rank, thread), one bar per call, nested calls
//! stacked below their parent, colours fixed per region name.

use std::fmt::Write as _;

use crate::timeline::Timeline;

const WIDTH: f64 = 1200.0;
const LABEL: f64 = 130.0;
const ROW: f64 = 16.0;
const LANE_GAP: f64 = 8.0;
const AXIS: f64 = 40.0;

/// A colour derived from the region name only, so a region has the same
/// colour in every chart.
pub fn colour(name: &str) -> String {
    // FNV-1a: stable across runs and platforms (std's hasher is not).
    let hash = name.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    });
    format!("hsl({}, 62%, 58%)", hash % 360)
}

fn escape_xml(s: &str) -> String {
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

/// Where times fall on the x axis: the earliest start at the left edge of the
/// plot area, the latest end at its right edge.
struct TimeScale {
    /// Earliest start, ns.
    t0: i64,
    /// Latest end minus `t0`, ns, at least 1.
    span: f64,
}

impl TimeScale {
    fn of(timeline: &Timeline) -> TimeScale {
        let (t0, t1) = timeline.span().unwrap_or((0, 1));
        TimeScale {
            t0,
            span: (t1 - t0).max(1) as f64,
        }
    }

    /// The x coordinate of time `t` (ns).
    fn x(&self, t: i64) -> f64 {
        LABEL + (t - self.t0) as f64 / self.span * (WIDTH - LABEL - 10.0)
    }
}

/// The vertical layout: lanes stacked from the top, each as many rows tall
/// as its deepest nesting.
struct Lanes {
    /// (rank, thread) of each lane, top to bottom.
    ids: Vec<(u32, u32)>,
    /// The y of each lane's first row.
    top: Vec<f64>,
    /// The y of each call's bar (its lane's top plus a row per nesting level).
    bar_y: Vec<f64>,
    /// The y just below the last lane.
    bottom: f64,
}

impl Lanes {
    fn of(timeline: &Timeline) -> Lanes {
        let depths = timeline.depths();
        let ids = timeline.lanes();
        let mut lane_rows = vec![1usize; ids.len()];
        let mut lane_of = Vec::with_capacity(timeline.calls.len());
        let mut lane = 0;
        for (i, c) in timeline.calls.iter().enumerate() {
            while ids[lane] != (c.rank, c.thread) {
                lane += 1;
            }
            lane_rows[lane] = lane_rows[lane].max(depths[i] + 1);
            lane_of.push(lane);
        }
        let mut top = Vec::with_capacity(ids.len());
        let mut y = 30.0;
        for rows in &lane_rows {
            top.push(y);
            y += *rows as f64 * ROW + LANE_GAP;
        }
        let bar_y = lane_of
            .iter()
            .zip(&depths)
            .map(|(&lane, &depth)| top[lane] + depth as f64 * ROW)
            .collect();
        Lanes {
            ids,
            top,
            bar_y,
            bottom: y,
        }
    }
}

/// One legend entry: a swatch of the region's colour and its name.
struct Swatch<'a> {
    x: f64,
    y: f64,
    name: &'a str,
}

/// One swatch per region name, in rows from `top` wrapped to the chart
/// width; also the y of the last row.
fn lay_out_legend(names: &[String], top: f64) -> (Vec<Swatch<'_>>, f64) {
    let mut legend = Vec::new();
    let (mut x, mut y) = (LABEL, top);
    for name in names {
        let w = 24.0 + 7.0 * name.chars().count().min(40) as f64;
        if x + w > WIDTH {
            x = LABEL;
            y += 18.0;
        }
        legend.push(Swatch { x, y, name });
        x += w;
    }
    (legend, y)
}

/// The chart as a standalone SVG document: every call is one
/// `<rect class="bar">` with a `<title>` tooltip (name, duration, start).
pub fn svg(timeline: &Timeline, title: &str) -> String {
    let scale = TimeScale::of(timeline);
    let lanes = Lanes::of(timeline);
    let (legend, last_legend_row) = lay_out_legend(&timeline.names, lanes.bottom + AXIS);
    let height = last_legend_row + 24.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(
        out,
        r#"<text x="{LABEL}" y="18" font-size="14">{}</text>"#,
        escape_xml(title)
    );
    write_lane_labels(&mut out, &lanes);
    write_bars(&mut out, timeline, &lanes, &scale);
    write_legend(&mut out, &legend);
    write_axis(&mut out, &scale, lanes.bottom + 10.0);
    out.push_str("</svg>\n");
    out
}

/// Each lane's name at its left and a rule above it.
fn write_lane_labels(out: &mut String, lanes: &Lanes) {
    for ((rank, thread), top) in lanes.ids.iter().zip(&lanes.top) {
        let _ = writeln!(
            out,
            r##"<text class="lane" x="4" y="{:.1}">rank {rank} · thread {thread}</text><line x1="{LABEL}" x2="{WIDTH}" y1="{:.1}" y2="{:.1}" stroke="#ddd"/>"##,
            top + ROW - 4.0,
            top - 2.0,
            top - 2.0
        );
    }
}

/// One bar per call, at least half a unit wide, with its tooltip.
fn write_bars(out: &mut String, timeline: &Timeline, lanes: &Lanes, scale: &TimeScale) {
    for (c, by) in timeline.calls.iter().zip(&lanes.bar_y) {
        let name = &timeline.names[c.region];
        let (bx, bw) = (
            scale.x(c.start),
            (scale.x(c.end) - scale.x(c.start)).max(0.5),
        );
        let _ = writeln!(
            out,
            r#"<rect class="bar" x="{bx:.2}" y="{by:.1}" width="{bw:.2}" height="{:.1}" fill="{}"><title>{} — {:.6} s (at {:.6} s, rank {}, thread {})</title></rect>"#,
            ROW - 2.0,
            colour(name),
            escape_xml(name),
            (c.end - c.start) as f64 / 1e9,
            (c.start - scale.t0) as f64 / 1e9,
            c.rank,
            c.thread
        );
    }
}

/// Each legend swatch with its region's name beside it.
fn write_legend(out: &mut String, legend: &[Swatch<'_>]) {
    for Swatch { x, y, name } in legend {
        let _ = writeln!(
            out,
            r#"<rect x="{x:.1}" y="{y:.1}" width="12" height="12" fill="{}"/><text class="legend" x="{:.1}" y="{:.1}">{}</text>"#,
            colour(name),
            x + 16.0,
            y + 10.0,
            escape_xml(name)
        );
    }
}

/// The time axis at height `y`: seconds from the first call, six ticks.
fn write_axis(out: &mut String, scale: &TimeScale, y: f64) {
    let _ = writeln!(
        out,
        r#"<line x1="{LABEL}" x2="{WIDTH}" y1="{y}" y2="{y}" stroke="black"/>"#
    );
    for k in 0..=5 {
        let t = scale.t0 + (scale.span * k as f64 / 5.0) as i64;
        let tx = scale.x(t);
        let _ = writeln!(
            out,
            r#"<line x1="{tx:.1}" x2="{tx:.1}" y1="{y}" y2="{:.1}" stroke="black"/><text x="{tx:.1}" y="{:.1}" text-anchor="{}">{:.6} s</text>"#,
            y + 5.0,
            y + 18.0,
            if k == 5 { "end" } else { "middle" },
            (t - scale.t0) as f64 / 1e9
        );
    }
}

/// The chart as an HTML page: the SVG plus mouse-wheel zoom (horizontal),
/// drag to pan, and a tooltip per bar.
pub fn html(timeline: &Timeline, title: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:8px}} #chart{{overflow:hidden;border:1px solid #ccc;cursor:grab}}
#tip{{position:fixed;pointer-events:none;background:#222;color:#fff;padding:3px 6px;border-radius:3px;font-size:12px;display:none}}</style>
</head><body>
<p>Wheel: zoom in time · drag: pan · hover a bar for its region and duration.</p>
<div id="chart">{svg}</div><div id="tip"></div>
<script>
const svg = document.querySelector('#chart svg');
const full = svg.viewBox.baseVal; let vx = full.x, vw = full.width;
function apply() {{ svg.setAttribute('viewBox', vx + ' ' + full.y + ' ' + vw + ' ' + full.height); }}
svg.addEventListener('wheel', e => {{ e.preventDefault();
  const r = svg.getBoundingClientRect(); const fx = (e.clientX - r.left) / r.width; const at = vx + fx * vw;
  vw = Math.min(full.width, Math.max(1, vw * (e.deltaY > 0 ? 1.25 : 0.8))); vx = at - fx * vw; apply(); }});
let drag = null;
svg.addEventListener('mousedown', e => drag = {{x: e.clientX, vx}});
window.addEventListener('mouseup', () => drag = null);
window.addEventListener('mousemove', e => {{ if (drag) {{ const r = svg.getBoundingClientRect();
  vx = drag.vx - (e.clientX - drag.x) / r.width * vw; apply(); }} }});
const tip = document.getElementById('tip');
for (const bar of svg.querySelectorAll('rect.bar')) {{
  const text = bar.querySelector('title').textContent;
  bar.addEventListener('mousemove', e => {{ tip.textContent = text; tip.style.display = 'block';
    tip.style.left = (e.clientX + 12) + 'px'; tip.style.top = (e.clientY + 12) + 'px'; }});
  bar.addEventListener('mouseleave', () => tip.style.display = 'none');
}}
</script></body></html>
"#,
        title = escape_xml(title),
        svg = svg(timeline, title)
    )
}
