//! `scope-profiler-pproc watch`: a running job, rank by rank, while it runs.
//!
//! The source is what the job writes anyway: each rank's stream
//! (`rank_<N>.sps`) in the run directory, appended batch by batch. The
//! watcher reads them read-only and lock-free, only what was appended since
//! its last look ([`scope_profiler_format::follow`]), so it costs the job
//! nothing and itself little.
//!
//! The pieces: [`run_dir`] (which directory, which streams), [`tally`] (a
//! rank's calls and time per thread and region), [`status`] (live, stalled,
//! dead), [`model`] (every rank followed; snapshots), [`rows`] (what the
//! tables show: rates, shares, sorting, filtering), [`once`] (the text
//! snapshot), [`app`] (keys), [`view`] (the screen).

pub mod app;
pub mod model;
pub mod once;
pub mod rows;
pub mod run_dir;
pub mod status;
pub mod tally;
pub mod view;

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event};

use crate::error::{PprocError, Result};
use app::App;
use model::{Model, Settings};
use rows::Selection;

/// `--once`: reads every stream in `dir` to its end and returns the
/// snapshot's table (for standard output) and the ranks' states (for
/// standard error); see [`once`].
pub fn snapshot_text(
    dir: &Path,
    settings: Settings,
    selection: &Selection,
) -> Result<(String, String)> {
    let mut model = Model::new(dir, settings);
    let now = Instant::now();
    model.catch_up(now)?;
    let snapshot = model.snapshot(now);
    let rows = rows::region_rows(&snapshot, selection);
    Ok((once::render(&rows), once::rank_report(&snapshot)))
}

/// The screen: refreshes every `interval` until the person quits.
pub fn run_screen(
    dir: &Path,
    settings: Settings,
    selection: Selection,
    interval: Duration,
) -> Result<()> {
    if !std::io::stdout().is_terminal() {
        return Err(PprocError::Terminal(std::io::Error::other(
            "standard output is not a terminal",
        )));
    }
    let mut model = Model::new(dir, settings);
    let mut app = App::new(selection);
    let mut refreshed = Instant::now();
    model.refresh(refreshed)?;
    let mut snapshot = model.snapshot(refreshed);
    let mut terminal = ratatui::try_init().map_err(|e| {
        ratatui::restore();
        PprocError::Terminal(e)
    })?;
    let result = (|| -> Result<()> {
        loop {
            let rows = rows::region_rows(&snapshot, &app.selection).len();
            app.cursor = app.cursor.min(rows.saturating_sub(1));
            terminal
                .draw(|frame| view::draw(frame, &snapshot, &app))
                .map_err(PprocError::Terminal)?;
            let wait = (refreshed + interval).saturating_duration_since(Instant::now());
            if event::poll(wait).map_err(PprocError::Terminal)? {
                if let Event::Key(key) = event::read().map_err(PprocError::Terminal)? {
                    let ranks: Vec<u32> = snapshot.ranks.iter().map(|r| r.rank).collect();
                    app.on_key(key, &ranks, rows);
                    if app.quit {
                        return Ok(());
                    }
                }
            }
            let now = Instant::now();
            if now >= refreshed + interval {
                refreshed = now;
                model.refresh(now)?;
                snapshot = model.snapshot(now);
            }
        }
    })();
    ratatui::restore();
    result
}
