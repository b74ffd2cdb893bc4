//! The screen of `watch`, drawn with ratatui from a [`Snapshot`] and the
//! [`App`] state: two header lines (the run, its ranks' states, what the
//! figures cover), the region table (per-rank share columns when the run
//! has few ranks), the ranks (a list, or a heat map of the highlighted
//! region's share per rank when there are many), the threads, and a footer
//! with the keys or the prompt being typed.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Cell, Paragraph, Row, Table, TableState, Wrap};
use ratatui::Frame;

use super::app::{App, Prompt};
use super::model::{RankView, Snapshot, Window};
use super::rows::{region_rows, thread_rows, RegionRow, ThreadRow};
use super::status::{counts, RankStatus};
use crate::table::display_name;
use crate::units::duration;

/// Up to this many ranks, each gets a share column in the region table and
/// a line in the ranks list; past it, the ranks panel is a heat map.
pub const RANK_COLUMNS: usize = 8;

/// The keys, as the footer lists them.
const KEYS: &str =
    "q quit  s sort  / filter  r rank  ←→ previous/next rank  a all ranks  ↑↓ region";

/// Background colours of the heat map, from 0 % share to 100 % and more.
const RAMP: [Color; 8] = [
    Color::Indexed(236),
    Color::Indexed(23),
    Color::Indexed(29),
    Color::Indexed(65),
    Color::Indexed(101),
    Color::Indexed(137),
    Color::Indexed(173),
    Color::Indexed(209),
];

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, snapshot: &Snapshot, app: &App) {
    let area = frame.area();
    let rows = region_rows(snapshot, &app.selection);
    let threads = thread_rows(snapshot, &app.selection);
    let ranks_width = area.width.saturating_mul(3) / 5;
    let bottom = bottom_height(snapshot, threads.len(), ranks_width, area.height);
    let [header, table, lower, footer] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Min(4),
        Constraint::Length(bottom),
        Constraint::Length(1),
    ])
    .areas(area);
    let [ranks_area, threads_area] =
        Layout::horizontal([Constraint::Length(ranks_width), Constraint::Min(10)]).areas(lower);
    frame.render_widget(header_lines(snapshot, app), header);
    let cursor = app.cursor.min(rows.len().saturating_sub(1));
    draw_regions(frame, table, snapshot, app, &rows, cursor);
    let highlighted = rows.get(cursor);
    if snapshot.ranks.len() <= RANK_COLUMNS {
        draw_rank_list(frame, ranks_area, snapshot, app);
    } else {
        draw_heat_map(frame, ranks_area, snapshot, app, highlighted);
    }
    draw_threads(frame, threads_area, snapshot, app, &threads);
    frame.render_widget(footer_line(app), footer);
}

/// Rows the bottom panels take: what the rank list or heat map and the
/// thread list need, at most 40 % of the screen (and never less than 5).
fn bottom_height(snapshot: &Snapshot, threads: usize, ranks_width: u16, screen: u16) -> u16 {
    let n = snapshot.ranks.len();
    let ranks = if n <= RANK_COLUMNS {
        n + 3
    } else {
        let inner = ranks_width.saturating_sub(2) as usize;
        let per_line = ((inner + 1) / (cell_width(snapshot) + 1)).max(1);
        n.div_ceil(per_line) + 3
    };
    let wanted = ranks.max(threads + 3).min(u16::MAX as usize) as u16;
    wanted.clamp(5, (screen * 2 / 5).max(5))
}

/// What the figures cover, as the header says it.
fn window_text(window: Window) -> String {
    match window {
        Window::Interval(d) => format!("rates and shares over the last {:.1} s", d.as_secs_f64()),
        Window::SinceStart => "rates and shares since the run began".into(),
    }
}

fn header_lines(snapshot: &Snapshot, app: &App) -> Paragraph<'static> {
    let worst = snapshot
        .ranks
        .iter()
        .map(|r| status_style(&r.status))
        .find(|s| s.bg.is_some())
        .unwrap_or_default();
    let mut first = vec![
        Span::styled(
            "scope-profiler watch ",
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(snapshot.dir.display().to_string()),
        Span::raw("   "),
    ];
    if snapshot.ranks.is_empty() {
        first.push(Span::raw("no rank streams yet"));
    } else {
        first.push(Span::styled(
            format!(
                "{} rank(s): {}",
                snapshot.ranks.len(),
                counts(snapshot.ranks.iter().map(|r| &r.status))
            ),
            worst,
        ));
    }
    let behind: u64 = snapshot.ranks.iter().map(|r| r.behind).sum();
    let mut second = vec![Span::raw(format!(
        "{} · sort: {} · filter: {} · rank: {}",
        window_text(snapshot.window),
        app.selection.sort.name(),
        if app.filter_text.is_empty() {
            "none".to_owned()
        } else {
            format!("/{}/", app.filter_text)
        },
        app.selection
            .rank
            .map_or_else(|| "all".to_owned(), |r| r.to_string()),
    ))];
    if snapshot.dir_gone {
        second.push(Span::styled(
            "   run directory removed: the run finished",
            Style::new().fg(Color::Yellow),
        ));
    }
    if behind > 0 {
        second.push(Span::styled(
            format!("   reading the backlog: {} left", bytes(behind)),
            Style::new().fg(Color::Yellow),
        ));
    }
    Paragraph::new(vec![Line::from(first), Line::from(second)])
}

/// Whether the region table has a share column per rank.
fn per_rank_columns(snapshot: &Snapshot, app: &App) -> bool {
    app.selection.rank.is_none() && (2..=RANK_COLUMNS).contains(&snapshot.ranks.len())
}

fn draw_regions(
    frame: &mut Frame,
    area: Rect,
    snapshot: &Snapshot,
    app: &App,
    rows: &[RegionRow],
    cursor: usize,
) {
    let title = match app.selection.rank {
        Some(r) => format!(" regions — rank {r} "),
        None => " regions — all ranks ".to_owned(),
    };
    let block = Block::bordered().title(title);
    if rows.is_empty() {
        let text = if snapshot.ranks.is_empty() {
            format!(
                "Waiting for rank streams (rank_<N>.sps) in {}. A run writes them from setup on; \
                 with flush_to_disk(false) only at finalize.",
                snapshot.dir.display()
            )
        } else if app.filter_text.is_empty() {
            "No call has ended yet.".to_owned()
        } else {
            format!(
                "No region matches /{}/ (press / to change it).",
                app.filter_text
            )
        };
        frame.render_widget(
            Paragraph::new(text).wrap(Wrap { trim: true }).block(block),
            area,
        );
        return;
    }
    let ranks: Vec<u32> = if per_rank_columns(snapshot, app) {
        snapshot.ranks.iter().map(|r| r.rank).collect()
    } else {
        Vec::new()
    };
    let mut header = vec![
        Cell::from("region"),
        right("calls"),
        right("calls/s"),
        right("total"),
        right("avg"),
        right("share"),
    ];
    let longest = rows.iter().map(|r| display_name(&r.name).chars().count());
    let name_width = longest.max().unwrap_or(0).clamp(12, 48) as u16;
    let mut widths = vec![
        Constraint::Length(name_width),
        Constraint::Length(12),
        Constraint::Length(9),
        Constraint::Length(10),
        Constraint::Length(10),
        Constraint::Length(7),
    ];
    if ranks.is_empty() {
        header.push(right("ranks"));
        widths.push(Constraint::Length(6));
    }
    for r in &ranks {
        header.push(right(&format!("r{r}")));
        widths.push(Constraint::Length(6));
    }
    let body = rows.iter().map(|row| {
        let mut cells = vec![
            Cell::from(display_name(&row.name)),
            right(&row.total.calls.to_string()),
            right(&rate(row.rate)),
            right(&time(row, row.total.ns)),
            right(&row.avg_ns().map_or_else(|| "-".into(), duration)),
            right(&share(row.share)),
        ];
        if ranks.is_empty() {
            cells.push(right(&row.ranks.to_string()));
        }
        for r in &ranks {
            let value = row
                .per_rank
                .iter()
                .find(|(k, _)| k == r)
                .and_then(|(_, s)| *s);
            cells.push(right(&share(value)));
        }
        Row::new(cells)
    });
    let table = Table::new(body, widths)
        .header(Row::new(header).style(Style::new().add_modifier(Modifier::BOLD)))
        .block(block)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected(Some(cursor));
    frame.render_stateful_widget(table, area, &mut state);
}

fn draw_rank_list(frame: &mut Frame, area: Rect, snapshot: &Snapshot, app: &App) {
    let rows = snapshot.ranks.iter().map(|r| {
        let picked = app.selection.rank == Some(r.rank);
        let style = if picked {
            Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED)
        } else {
            Style::new()
        };
        Row::new(vec![
            right(&r.rank.to_string()),
            Cell::from(r.status.describe()).style(status_style(&r.status)),
            right(&r.threads.to_string()),
            right(&bytes(r.bytes)),
        ])
        .style(style)
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(5),
            Constraint::Min(10),
            Constraint::Length(7),
            Constraint::Length(9),
        ],
    )
    .header(
        Row::new(vec![
            right("rank"),
            Cell::from("status"),
            right("threads"),
            right("read"),
        ])
        .style(Style::new().add_modifier(Modifier::BOLD)),
    )
    .block(Block::bordered().title(" ranks "));
    frame.render_widget(table, area);
}

/// Characters a heat map cell takes: the rank, a space, five for its value.
fn cell_width(snapshot: &Snapshot) -> usize {
    let last = snapshot.ranks.last().map_or(0, |r| r.rank);
    last.to_string().len() + 6
}

fn draw_heat_map(
    frame: &mut Frame,
    area: Rect,
    snapshot: &Snapshot,
    app: &App,
    region: Option<&RegionRow>,
) {
    let title = match region {
        Some(r) => format!(
            " ranks — share of {} ({}) ",
            display_name(&r.name),
            match snapshot.window {
                Window::Interval(_) => "last interval",
                Window::SinceStart => "since start",
            }
        ),
        None => " ranks ".to_owned(),
    };
    let block = Block::bordered().title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = cell_width(snapshot);
    let rank_width = width - 6;
    let per_line = ((inner.width as usize + 1) / (width + 1)).max(1);
    let shares = |rank: u32| -> Option<f64> {
        region?
            .per_rank
            .iter()
            .find(|(k, _)| *k == rank)
            .and_then(|(_, s)| *s)
    };
    let mut lines: Vec<Line> = snapshot
        .ranks
        .chunks(per_line)
        .map(|chunk| {
            let mut spans = Vec::new();
            for (i, r) in chunk.iter().enumerate() {
                if i > 0 {
                    spans.push(Span::raw(" "));
                }
                let (value, mut style) = heat_cell(r, shares(r.rank));
                if app.selection.rank == Some(r.rank) {
                    style = style.add_modifier(Modifier::BOLD | Modifier::UNDERLINED);
                }
                spans.push(Span::styled(
                    format!("{:>rank_width$} {value:>5}", r.rank),
                    style,
                ));
            }
            Line::from(spans)
        })
        .collect();
    let legend_room = inner.height as usize;
    lines.truncate(legend_room.saturating_sub(1));
    let mut legend = vec![Span::raw("share ")];
    for (i, label) in ["0%", "50%", "≥100%"].iter().enumerate() {
        let color = RAMP[i * (RAMP.len() - 1) / 2];
        legend.push(Span::styled(
            format!(" {label} "),
            Style::new().bg(color).fg(Color::White),
        ));
        legend.push(Span::raw(" "));
    }
    for status in [
        RankStatus::Stalled {
            quiet: Default::default(),
        },
        RankStatus::Dead {
            quiet: Default::default(),
            sign: super::status::DeathSign::TornWrite,
        },
        RankStatus::Finished,
    ] {
        legend.push(Span::styled(
            format!(" {} ", status.word()),
            status_style(&status),
        ));
        legend.push(Span::raw(" "));
    }
    lines.push(Line::from(legend));
    frame.render_widget(Paragraph::new(lines), inner);
}

/// A heat map cell's value (`42%`, or the rank's state when it is not
/// live) and colours.
fn heat_cell(rank: &RankView, share_of_region: Option<f64>) -> (String, Style) {
    if rank.status != RankStatus::Live {
        let word = match rank.status {
            RankStatus::Stalled { .. } => "stall",
            RankStatus::Finished => "done",
            RankStatus::Dead { .. } => "dead",
            RankStatus::Damaged { .. } => "dmg",
            _ => "err",
        };
        return (word.to_owned(), status_style(&rank.status));
    }
    let Some(s) = share_of_region else {
        return ("-".to_owned(), Style::new().bg(RAMP[0]).fg(Color::Gray));
    };
    let step = ((s.clamp(0.0, 1.0) * (RAMP.len() - 1) as f64).round()) as usize;
    let text = format!("{:.0}%", (s * 100.0).min(999.0));
    (text, Style::new().bg(RAMP[step]).fg(Color::White))
}

/// Colours of a rank's state: none when live.
fn status_style(status: &RankStatus) -> Style {
    match status {
        RankStatus::Live => Style::new(),
        RankStatus::Stalled { .. } => Style::new().bg(Color::Yellow).fg(Color::Black),
        RankStatus::Finished => Style::new().bg(Color::DarkGray).fg(Color::White),
        RankStatus::Dead { .. } | RankStatus::Damaged { .. } | RankStatus::Unreadable(_) => {
            Style::new().bg(Color::Red).fg(Color::White)
        }
    }
}

fn draw_threads(
    frame: &mut Frame,
    area: Rect,
    snapshot: &Snapshot,
    app: &App,
    threads: &[ThreadRow],
) {
    let all = app.selection.rank.is_none() && snapshot.ranks.len() > 1;
    let title = match app.selection.rank {
        Some(r) => format!(" threads — rank {r} "),
        None if all => " threads — all ranks, by name ".to_owned(),
        None => " threads ".to_owned(),
    };
    let mut header = vec![Cell::from("thread")];
    let mut widths = vec![Constraint::Min(8)];
    if all {
        header.push(right("ranks"));
        widths.push(Constraint::Length(5));
    }
    header.extend([right("calls"), right("calls/s"), Cell::from("busiest")]);
    widths.extend([
        Constraint::Length(10),
        Constraint::Length(8),
        Constraint::Min(8),
    ]);
    let rows = threads.iter().map(|t| {
        let mut cells = vec![Cell::from(display_name(&t.name))];
        if all {
            cells.push(right(&t.ranks.to_string()));
        }
        cells.extend([
            right(&t.calls.to_string()),
            right(&rate(t.rate)),
            Cell::from(t.busiest.as_deref().map_or_else(String::new, display_name)),
        ]);
        Row::new(cells)
    });
    let table = Table::new(rows, widths)
        .header(Row::new(header).style(Style::new().add_modifier(Modifier::BOLD)))
        .block(Block::bordered().title(title));
    frame.render_widget(table, area);
}

fn footer_line(app: &App) -> Paragraph<'static> {
    let line = match (&app.prompt, &app.message) {
        (Some(prompt), message) => {
            let (label, text) = match prompt {
                Prompt::Filter(t) => (
                    "filter regions (regex; Enter applies, empty clears, Esc cancels): ",
                    t,
                ),
                Prompt::Rank(t) => ("show rank (number; empty = all; Esc cancels): ", t),
            };
            let mut spans = vec![
                Span::styled(label, Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(format!("{text}▏")),
            ];
            if let Some(m) = message {
                spans.push(Span::styled(format!("  {m}"), Style::new().fg(Color::Red)));
            }
            Line::from(spans)
        }
        (None, Some(m)) => Line::styled(m.clone(), Style::new().fg(Color::Red)),
        (None, None) => Line::styled(KEYS, Style::new().fg(Color::Gray)),
    };
    Paragraph::new(line)
}

fn right(text: &str) -> Cell<'static> {
    Cell::from(Line::from(text.to_owned()).right_aligned())
}

/// A time of `row`, or `-` for a count-only region.
fn time(row: &RegionRow, ns: f64) -> String {
    if row.timed {
        duration(ns)
    } else {
        "-".into()
    }
}

/// Calls per second, short: `950.0`, `12.3k`, `4.56M`.
fn rate(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if v < 1e3 => format!("{v:.1}"),
        Some(v) if v < 1e6 => format!("{:.1}k", v / 1e3),
        Some(v) if v < 1e9 => format!("{:.2}M", v / 1e6),
        Some(v) => format!("{:.2}G", v / 1e9),
    }
}

fn share(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.1}%", v * 100.0))
}

fn bytes(n: u64) -> String {
    let n = n as f64;
    match n {
        _ if n < 1e3 => format!("{n:.0} B"),
        _ if n < 1e6 => format!("{:.1} kB", n / 1e3),
        _ if n < 1e9 => format!("{:.1} MB", n / 1e6),
        _ => format!("{:.2} GB", n / 1e9),
    }
}
