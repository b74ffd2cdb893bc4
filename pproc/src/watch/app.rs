//! [`App`]: what the person at the screen chose (sort, filter, rank, the
//! highlighted region, a prompt being typed) and what each key does.
//!
//! Keys: `q` quits (Ctrl-C too); `s` cycles the sort; `/` types a
//! regular expression to filter regions (Enter applies, empty clears, Esc
//! cancels); `r` types a rank to show alone, `←` `→` step through ranks,
//! `a` shows all ranks again; `↑` `↓` (PgUp, PgDn, Home, End) move the
//! highlighted region, whose share per rank the rank heat map shows.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use regex::Regex;

use super::rows::Selection;

/// A line being typed at the bottom of the screen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prompt {
    /// A regular expression for the region filter.
    Filter(String),
    /// A rank number (empty or `a`: all ranks).
    Rank(String),
}

/// The screen's state between refreshes.
#[derive(Debug)]
pub struct App {
    /// Ranks, regions and order shown.
    pub selection: Selection,
    /// The filter's text as typed (empty: none).
    pub filter_text: String,
    /// Index of the highlighted region row.
    pub cursor: usize,
    /// The prompt being typed, if any.
    pub prompt: Option<Prompt>,
    /// A one-line message (a bad regular expression, an unknown rank),
    /// shown until the next key.
    pub message: Option<String>,
    /// Whether the person asked to quit.
    pub quit: bool,
}

impl App {
    /// The state at start: `selection` as the command line set it, and its
    /// filter's text.
    pub fn new(selection: Selection) -> App {
        let filter_text = selection
            .filter
            .as_ref()
            .map(|f| f.as_str().to_owned())
            .unwrap_or_default();
        App {
            selection,
            filter_text,
            cursor: 0,
            prompt: None,
            message: None,
            quit: false,
        }
    }

    /// Handles one key. `ranks` are the run's ranks in order (for `←` `→`
    /// and checking a typed rank), `rows` the number of region rows shown.
    pub fn on_key(&mut self, key: KeyEvent, ranks: &[u32], rows: usize) {
        if key.kind == KeyEventKind::Release {
            return;
        }
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        self.message = None;
        if self.prompt.is_some() {
            self.on_prompt_key(key.code, key.modifiers, ranks);
            return;
        }
        let last = rows.saturating_sub(1);
        match key.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Char('s') => self.selection.sort = self.selection.sort.next(),
            KeyCode::Char('/') | KeyCode::Char('f') => {
                self.prompt = Some(Prompt::Filter(self.filter_text.clone()));
            }
            KeyCode::Char('r') => self.prompt = Some(Prompt::Rank(String::new())),
            KeyCode::Char('a') => self.selection.rank = None,
            KeyCode::Left | KeyCode::Char('h') => self.step_rank(ranks, false),
            KeyCode::Right | KeyCode::Char('l') => self.step_rank(ranks, true),
            KeyCode::Up | KeyCode::Char('k') => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Down | KeyCode::Char('j') => self.cursor = (self.cursor + 1).min(last),
            KeyCode::PageUp => self.cursor = self.cursor.saturating_sub(10),
            KeyCode::PageDown => self.cursor = (self.cursor + 10).min(last),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = last,
            _ => {}
        }
    }

    fn on_prompt_key(&mut self, code: KeyCode, modifiers: KeyModifiers, ranks: &[u32]) {
        let Some(prompt) = &mut self.prompt else {
            return;
        };
        let text = match prompt {
            Prompt::Filter(t) | Prompt::Rank(t) => t,
        };
        match code {
            KeyCode::Esc => self.prompt = None,
            KeyCode::Backspace => {
                text.pop();
            }
            KeyCode::Char(c) if !key_has_control(modifiers) => text.push(c),
            KeyCode::Enter => {
                let prompt = self.prompt.take();
                match prompt {
                    Some(Prompt::Filter(text)) => self.apply_filter(text),
                    Some(Prompt::Rank(text)) => self.apply_rank(text, ranks),
                    None => {}
                }
            }
            _ => {}
        }
    }

    /// Sets the filter to `text` (empty: none); a pattern that does not
    /// compile leaves the prompt open with the error.
    fn apply_filter(&mut self, text: String) {
        if text.is_empty() {
            self.selection.filter = None;
            self.filter_text = text;
            return;
        }
        match Regex::new(&text) {
            Ok(re) => {
                self.selection.filter = Some(re);
                self.filter_text = text;
                self.cursor = 0;
            }
            Err(e) => {
                let first_line = e.to_string().lines().last().unwrap_or_default().to_owned();
                self.message = Some(format!("bad regular expression: {}", first_line.trim()));
                self.prompt = Some(Prompt::Filter(text));
            }
        }
    }

    /// Shows rank `text` alone (empty or `a`: all); an unknown rank leaves
    /// the prompt open with a message.
    fn apply_rank(&mut self, text: String, ranks: &[u32]) {
        let text = text.trim();
        if text.is_empty() || text == "a" || text == "all" {
            self.selection.rank = None;
            return;
        }
        match text.parse::<u32>() {
            Ok(r) if ranks.contains(&r) => {
                self.selection.rank = Some(r);
                self.cursor = 0;
            }
            _ => {
                self.message = Some(match (ranks.first(), ranks.last()) {
                    (Some(a), Some(b)) if a == b => {
                        format!("no rank {text:?}: the run has rank {a}")
                    }
                    (Some(a), Some(b)) => format!("no rank {text:?}: the run has ranks {a}–{b}"),
                    _ => "no rank stream yet".into(),
                });
                self.prompt = Some(Prompt::Rank(text.to_owned()));
            }
        }
    }

    /// `←` / `→`: the previous or next rank; from all ranks, the first or
    /// the last; past either end, all ranks.
    fn step_rank(&mut self, ranks: &[u32], forward: bool) {
        let next = match self.selection.rank {
            None if forward => ranks.first().copied(),
            None => ranks.last().copied(),
            Some(r) => {
                let at = ranks.iter().position(|x| *x == r);
                match (at, forward) {
                    (Some(i), true) => ranks.get(i + 1).copied(),
                    (Some(i), false) => i.checked_sub(1).and_then(|i| ranks.get(i)).copied(),
                    (None, _) => None,
                }
            }
        };
        self.selection.rank = next;
    }
}

/// Whether a key was pressed with Control or Alt (not text to type).
fn key_has_control(modifiers: KeyModifiers) -> bool {
    modifiers.intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::rows::SortBy;

    fn press(app: &mut App, code: KeyCode, ranks: &[u32]) {
        app.on_key(KeyEvent::from(code), ranks, 5);
    }

    fn type_text(app: &mut App, text: &str, ranks: &[u32]) {
        for c in text.chars() {
            press(app, KeyCode::Char(c), ranks);
        }
        press(app, KeyCode::Enter, ranks);
    }

    #[test]
    fn keys_sort_filter_pick_a_rank_and_quit() {
        let ranks = [0, 1, 2, 3];
        let mut app = App::new(Selection::default());
        press(&mut app, KeyCode::Char('s'), &ranks);
        assert_eq!(app.selection.sort, SortBy::Share);
        press(&mut app, KeyCode::Char('/'), &ranks);
        type_text(&mut app, "so(lve", &ranks);
        assert!(app
            .message
            .as_deref()
            .unwrap()
            .contains("bad regular expression"));
        assert_eq!(
            app.prompt,
            Some(Prompt::Filter("so(lve".into())),
            "kept to fix"
        );
        press(&mut app, KeyCode::Backspace, &ranks);
        press(&mut app, KeyCode::Backspace, &ranks);
        press(&mut app, KeyCode::Backspace, &ranks);
        press(&mut app, KeyCode::Backspace, &ranks);
        type_text(&mut app, "lve|step", &ranks);
        assert_eq!(app.filter_text, "solve|step");
        assert!(app.selection.filter.as_ref().unwrap().is_match("step"));
        press(&mut app, KeyCode::Char('r'), &ranks);
        type_text(&mut app, "9", &ranks);
        assert!(
            app.message.as_deref().unwrap().contains("0–3"),
            "{:?}",
            app.message
        );
        press(&mut app, KeyCode::Esc, &ranks);
        assert_eq!(
            (app.prompt.clone(), app.quit),
            (None, false),
            "Esc leaves the prompt"
        );
        press(&mut app, KeyCode::Char('r'), &ranks);
        type_text(&mut app, "2", &ranks);
        assert_eq!(app.selection.rank, Some(2));
        press(&mut app, KeyCode::Right, &ranks);
        assert_eq!(app.selection.rank, Some(3));
        press(&mut app, KeyCode::Right, &ranks);
        assert_eq!(app.selection.rank, None, "past the last rank: all");
        press(&mut app, KeyCode::Left, &ranks);
        assert_eq!(app.selection.rank, Some(3));
        press(&mut app, KeyCode::Char('a'), &ranks);
        assert_eq!(app.selection.rank, None);
        for _ in 0..9 {
            press(&mut app, KeyCode::Down, &ranks);
        }
        assert_eq!(app.cursor, 4, "stops at the last row");
        press(&mut app, KeyCode::Char('q'), &ranks);
        assert!(app.quit);
    }
}
