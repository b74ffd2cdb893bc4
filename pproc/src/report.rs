//! `--report OUT.html`: one self-contained page (no file or network
//! access) with the summary as a sortable table, a per-rank imbalance
//! chart, the interactive Gantt chart and the flame graph, every region in
//! the same colour throughout.

use std::fmt::Write as _;

use base64::Engine as _;

use crate::gantt::{self, escape_xml};
use crate::profile::ProfileFile;
use crate::table::{display_name, Row};
use crate::timeline::Timeline;
use crate::units::duration;

/// What a report shows.
pub struct Report<'a> {
    /// The file.
    pub file: &'a ProfileFile,
    /// The selected ranks (`None`: all).
    pub ranks: Option<&'a [u32]>,
    /// The summary rows, in the order the table starts in.
    pub rows: &'a [Row],
    /// The selected calls.
    pub timeline: &'a Timeline,
    /// The flame graph SVG, if there were timed calls to draw one from.
    pub flame_svg: Option<&'a [u8]>,
}

/// At most this many regions in the imbalance chart (those with the most
/// total time).
const IMBALANCE_REGIONS: usize = 12;

/// The report page.
pub fn html(report: &Report<'_>) -> String {
    let file = report.file;
    let title = format!("Profile report: {}", file.path().display());
    let rank_count = report.ranks.map_or(file.ranks().len(), <[u32]>::len);
    let flame = match report.flame_svg {
        Some(svg) => format!(
            r#"<iframe class="flame" title="flame graph" style="height:{}px" src="data:image/svg+xml;base64,{}"></iframe>"#,
            svg_height(svg).map_or(560.0, |h| h + 4.0),
            base64::engine::general_purpose::STANDARD.encode(svg)
        ),
        None => "<p>No timed calls: nothing to draw.</p>".to_owned(),
    };
    format!(
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>{STYLE}{gantt_style}</style>
</head><body>
<h1>{title}</h1>
<p class="facts">{facts}</p>
<nav><a href="#summary">Summary</a> · <a href="#imbalance">Per-rank imbalance</a> · <a href="#timeline">Timeline</a> · <a href="#flame">Flame graph</a></nav>
<h2 id="summary">Summary</h2>
<p class="note">{regions} regions over {rank_count} rank(s). Click a column heading to sort by it; click again to reverse.</p>
{table}
<h2 id="imbalance">Per-rank imbalance</h2>
{imbalance}
<h2 id="timeline">Timeline</h2>
{kept_note}{gantt}
<h2 id="flame">Flame graph</h2>
{flame}
<script>
{table_script}
{gantt_script}
{gantt_init}</script>
</body></html>
"##,
        title = escape_xml(&title),
        gantt_style = gantt::STYLE,
        facts = facts(report, rank_count),
        regions = report.rows.len(),
        table = table(report),
        imbalance = imbalance_chart(report),
        kept_note = kept_note(report),
        gantt = gantt::fragment(report.timeline, "gantt"),
        table_script = TABLE_SCRIPT,
        gantt_script = gantt::SCRIPT,
        gantt_init = gantt::init_script("gantt"),
    )
}

/// The `height` of the root `<svg>` element of `svg`, px.
fn svg_height(svg: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(svg).ok()?;
    let root = &text[text.find("<svg")?..];
    let root = &root[..root.find('>')?];
    let at = root.find(" height=\"")? + " height=\"".len();
    root[at..at + root[at..].find('"')?].parse().ok()
}

/// The page's own style sheet.
const STYLE: &str = r#"
body { font-family: sans-serif; margin: 16px 24px; color: #222; }
h1 { font-size: 20px; margin: 0 0 6px; } h2 { font-size: 16px; margin: 28px 0 6px; border-bottom: 1px solid #ddd; }
.facts, .note { color: #555; font-size: 13px; margin: 4px 0; }
nav { font-size: 14px; margin: 8px 0; }
table.summary { border-collapse: collapse; font-size: 13px; }
table.summary th, table.summary td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; white-space: nowrap; }
table.summary th { cursor: pointer; background: #f3f4f6; position: sticky; top: 0; user-select: none; }
table.summary th:first-child, table.summary td:first-child { text-align: left; }
table.summary th[aria-sort="ascending"]::after { content: " \25B2"; }
table.summary th[aria-sort="descending"]::after { content: " \25BC"; }
table.summary span.swatch { display: inline-block; width: 11px; height: 11px; margin-right: 6px; vertical-align: -1px; }
iframe.flame { width: 100%; border: 1px solid #ddd; }
svg.imbalance text { font: 12px sans-serif; }
"#;

/// Sorts `table.summary` by the clicked column: numbers by each cell's
/// `data-v`, names as text.
const TABLE_SCRIPT: &str = r#"
for (const table of document.querySelectorAll("table.summary")) {
  const heads = Array.from(table.tHead.rows[0].cells);
  heads.forEach((th, col) => th.addEventListener("click", () => {
    const descending = th.getAttribute("aria-sort") !== "descending";
    heads.forEach(h => h.removeAttribute("aria-sort"));
    th.setAttribute("aria-sort", descending ? "descending" : "ascending");
    const key = tr => { const td = tr.cells[col]; return td.dataset.v !== undefined ? parseFloat(td.dataset.v) : td.textContent; };
    const rows = Array.from(table.tBodies[0].rows);
    rows.sort((a, b) => { const x = key(a), y = key(b); const c = x < y ? -1 : x > y ? 1 : 0; return descending ? -c : c; });
    for (const tr of rows) table.tBodies[0].appendChild(tr);
  }));
}
"#;

/// For an aggregate file, a note that the charts show only the calls it
/// kept as a trace.
fn kept_note(report: &Report<'_>) -> String {
    if !report.file.is_aggregate() {
        return String::new();
    }
    format!(
        "<p class=\"note\">Aggregate profile: it holds statistics per region, not calls; the \
         timeline and the flame graph show only the {} call(s) the run kept as a trace, the \
         summary counts every call.</p>",
        report.timeline.calls.len()
    )
}

/// One line of facts about the run: schema, ranks, host, time.
fn facts(report: &Report<'_>, rank_count: usize) -> String {
    let file = report.file;
    let mut facts = format!(
        "schema {} · {} rank(s) · {} calls on {} lanes",
        file.schema(),
        rank_count,
        report.timeline.calls.len(),
        report.timeline.lanes.len()
    );
    for key in ["hostname", "timestamp", "scope_profiler_version"] {
        if let Some(value) = file.metadata().get(key) {
            let _ = write!(facts, " · {key} {}", escape_xml(&value.to_string()));
        }
    }
    facts
}

/// The colour of region `name` in the report's charts.
fn colour_of<'a>(timeline: &'a Timeline, name: &str) -> &'a str {
    timeline
        .names
        .iter()
        .position(|n| n == name)
        .map_or("#999999", |i| timeline.colours[i].as_str())
}

/// The summary table; each time cell's `data-v` holds ns for sorting.
fn table(report: &Report<'_>) -> String {
    let mut out = String::from(
        r#"<table class="summary"><thead><tr><th>region</th><th>ranks</th><th>calls</th><th>total</th><th>avg</th><th>min</th><th>max</th><th>std</th><th>p50</th><th>p95</th><th>imbalance</th></tr></thead><tbody>"#,
    );
    for row in report.rows {
        let s = &row.stats;
        let timed = row.is_timed();
        let time = |ns: f64| {
            if timed {
                format!(r#"<td data-v="{ns}">{}</td>"#, duration(ns))
            } else {
                r#"<td data-v="-1">-</td>"#.to_owned()
            }
        };
        let _ = write!(
            out,
            r#"<tr><td><span class="swatch" style="background:{}"></span>{}</td><td data-v="{}">{}</td><td data-v="{}">{}</td>{}{}{}{}{}{}{}<td data-v="{:.4}">{:.1} %</td></tr>"#,
            colour_of(report.timeline, &row.name),
            escape_xml(&display_name(&row.name)),
            row.ranks,
            row.ranks,
            s.calls,
            s.calls,
            time(s.total as f64),
            time(s.avg),
            time(s.min as f64),
            time(s.max as f64),
            time(s.std),
            time(s.p50),
            time(s.p95),
            row.imbalance_pct,
            row.imbalance_pct
        );
    }
    out.push_str("</tbody></table>");
    out
}

/// Per region (the [`IMBALANCE_REGIONS`] with the most time), a column of
/// its total per rank, scaled to its slowest rank, with the mean dashed.
fn imbalance_chart(report: &Report<'_>) -> String {
    const WIDTH: f64 = 1100.0;
    const LABEL: f64 = 300.0;
    const ROW: f64 = 56.0;
    const BAR_HEIGHT: f64 = 40.0;
    let mut rows: Vec<&Row> = report.rows.iter().filter(|r| r.is_timed()).collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.stats.total));
    rows.truncate(IMBALANCE_REGIONS);
    if rows.is_empty() {
        return "<p>No timed calls.</p>".to_owned();
    }
    let ranks: Vec<u32> = report
        .ranks
        .map_or_else(|| report.file.ranks().to_vec(), <[u32]>::to_vec);
    if ranks.len() < 2 {
        return "<p class=\"note\">One rank: nothing to compare.</p>".to_owned();
    }
    let height = rows.len() as f64 * ROW + 30.0;
    let mut out = format!(
        r#"<p class="note">Total time of each region on each rank (the {IMBALANCE_REGIONS} regions with the most time), each region scaled to its slowest rank; dashed: the mean over ranks. Imbalance = slowest rank over the mean.</p>
<svg class="imbalance" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}">"#
    );
    let plot = WIDTH - LABEL - 90.0;
    let slot = plot / ranks.len().max(1) as f64;
    for (i, row) in rows.iter().enumerate() {
        let top = 8.0 + i as f64 * ROW;
        let Ok(region) = report.file.region(&row.name) else {
            continue;
        };
        let per_rank = ProfileFile::stats_per_rank(region, report.ranks);
        let totals: Vec<(u32, i64)> = ranks
            .iter()
            .map(|r| (*r, per_rank.get(r).map_or(0, |s| s.total)))
            .collect();
        let max = totals.iter().map(|t| t.1).max().unwrap_or(0).max(1);
        let with_time: Vec<i64> = totals.iter().map(|t| t.1).filter(|t| *t > 0).collect();
        let mean = with_time.iter().sum::<i64>() as f64 / with_time.len().max(1) as f64;
        let slowest = totals.iter().max_by_key(|t| t.1).map_or(0, |t| t.0);
        let colour = colour_of(report.timeline, &row.name);
        let name: String = display_name(&row.name).chars().take(40).collect();
        let verdict = if row.imbalance_pct > 0.05 {
            format!(
                "imbalance {:.1} % · slowest rank {slowest}",
                row.imbalance_pct
            )
        } else {
            "balanced".to_owned()
        };
        let _ = write!(
            out,
            r##"<text x="0" y="{:.1}" font-weight="bold">{}</text><text x="0" y="{:.1}" fill="#555">{verdict}</text>"##,
            top + 16.0,
            escape_xml(&name),
            top + 34.0,
        );
        let base = top + BAR_HEIGHT + 4.0;
        for (k, (rank, total)) in totals.iter().enumerate() {
            let h = *total as f64 / max as f64 * BAR_HEIGHT;
            let x = LABEL + k as f64 * slot;
            let _ = write!(
                out,
                r#"<rect x="{x:.2}" y="{:.2}" width="{:.2}" height="{h:.2}" fill="{colour}"><title>rank {rank}: {}</title></rect>"#,
                base - h,
                (slot * 0.8).max(1.0),
                duration(*total as f64)
            );
        }
        let mean_y = base - mean / max as f64 * BAR_HEIGHT;
        let _ = write!(
            out,
            r##"<line x1="{LABEL}" x2="{:.1}" y1="{mean_y:.2}" y2="{mean_y:.2}" stroke="#222" stroke-dasharray="4 3"/><line x1="{LABEL}" x2="{:.1}" y1="{base:.1}" y2="{base:.1}" stroke="#bbb"/><text x="{:.1}" y="{:.1}" fill="#555">max {}</text>"##,
            LABEL + plot,
            LABEL + plot,
            LABEL + plot + 8.0,
            top + 16.0,
            duration(max as f64)
        );
    }
    // Rank numbers under the columns, as many as fit.
    let every = (28.0 / slot).ceil().max(1.0) as usize;
    let label_y = 8.0 + rows.len() as f64 * ROW + 8.0;
    for (k, rank) in ranks.iter().enumerate().step_by(every) {
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{label_y:.1}" fill="#555" text-anchor="middle">{rank}</text>"##,
            LABEL + (k as f64 + 0.4) * slot
        );
    }
    let _ = write!(
        out,
        r##"<text x="{:.1}" y="{label_y:.1}" fill="#555">rank</text></svg>"##,
        LABEL + plot + 8.0
    );
    out
}
