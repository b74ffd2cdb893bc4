//! [`RankStatus`]: whether a rank is still writing its stream, and if not,
//! what its file says about why.
//!
//! A rank's flusher appends a frame whenever its threads ended a call since
//! the last one (every 10 ms by default), and finalize closes the stream
//! with an `END` item. So a file that stops growing without `END` belongs
//! to a rank that stopped recording: stalled (hung, or in a long stretch
//! without regions), or dead when its file shows it: a frame torn by a kill
//! that never completes, or other ranks finalized while it did not.

use std::time::{Duration, Instant};

use scope_profiler_format::follow::Tail;

/// What is known about a rank's stream when its status is decided.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observation {
    /// Whether the stream's `END` item was read (finalize closed it).
    pub ended: bool,
    /// When the file was last seen growing (its modification time before
    /// the watcher saw it grow).
    pub last_growth: Instant,
    /// What follows the last intact frame.
    pub tail: Tail,
    /// Since when the tail has been [`Tail::Damaged`] at the same offset.
    pub damaged_since: Option<Instant>,
}

/// Why a rank is taken for dead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeathSign {
    /// Its last frame is torn and was never completed: the process was
    /// killed inside a write.
    TornWrite,
    /// Other ranks finalized their streams; this one never did.
    OthersFinished,
}

/// A rank's state, as the watcher shows it.
#[derive(Clone, Debug, PartialEq)]
pub enum RankStatus {
    /// Its stream grew within the stall limit.
    Live,
    /// No new frame for `quiet`, no `END`: hung, or recording nothing.
    Stalled {
        /// Time since the file last grew.
        quiet: Duration,
    },
    /// No new frame for `quiet`, and its file says it will not write again.
    Dead {
        /// Time since the file last grew.
        quiet: Duration,
        /// What says so.
        sign: DeathSign,
    },
    /// Finalize closed its stream (`END`).
    Finished,
    /// Bytes that are no frame stopped the reading at byte `at`, for longer
    /// than the stall limit: nothing after them can be trusted.
    Damaged {
        /// Offset of the bad bytes.
        at: u64,
    },
    /// The stream could not be read.
    Unreadable(String),
}

impl RankStatus {
    /// Decides a rank's status at `now` from `seen`: stalled or dead once
    /// its file has not grown for `stall_after`; dead rather than stalled
    /// when its last frame is torn or `others_finished`.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// use scope_profiler_format::follow::Tail;
    /// use scope_profiler_pproc::watch::status::{DeathSign, Observation, RankStatus};
    /// let t0 = Instant::now();
    /// let seen = Observation { ended: false, last_growth: t0, tail: Tail::Clean, damaged_since: None };
    /// let limit = Duration::from_secs(5);
    /// assert_eq!(RankStatus::of(&seen, t0 + Duration::from_secs(1), limit, false), RankStatus::Live);
    /// let later = t0 + Duration::from_secs(9);
    /// assert_eq!(
    ///     RankStatus::of(&seen, later, limit, false),
    ///     RankStatus::Stalled { quiet: Duration::from_secs(9) }
    /// );
    /// assert!(matches!(
    ///     RankStatus::of(&seen, later, limit, true),
    ///     RankStatus::Dead { sign: DeathSign::OthersFinished, .. }
    /// ));
    /// ```
    pub fn of(
        seen: &Observation,
        now: Instant,
        stall_after: Duration,
        others_finished: bool,
    ) -> RankStatus {
        if seen.ended {
            return RankStatus::Finished;
        }
        if let (Tail::Damaged { at }, Some(since)) = (seen.tail, seen.damaged_since) {
            if now.saturating_duration_since(since) >= stall_after {
                return RankStatus::Damaged { at };
            }
        }
        let quiet = now.saturating_duration_since(seen.last_growth);
        if quiet < stall_after {
            return RankStatus::Live;
        }
        let sign = match seen.tail {
            Tail::Partial { bytes } if bytes > 0 => Some(DeathSign::TornWrite),
            _ if others_finished => Some(DeathSign::OthersFinished),
            _ => None,
        };
        match sign {
            Some(sign) => RankStatus::Dead { quiet, sign },
            None => RankStatus::Stalled { quiet },
        }
    }

    /// One word for tables and counts: `live`, `stalled`, `dead`,
    /// `finished`, `damaged`, `unreadable`.
    pub fn word(&self) -> &'static str {
        match self {
            RankStatus::Live => "live",
            RankStatus::Stalled { .. } => "stalled",
            RankStatus::Dead { .. } => "dead",
            RankStatus::Finished => "finished",
            RankStatus::Damaged { .. } => "damaged",
            RankStatus::Unreadable(_) => "unreadable",
        }
    }

    /// Whether the rank is still expected to write (live or stalled).
    pub fn is_running(&self) -> bool {
        matches!(self, RankStatus::Live | RankStatus::Stalled { .. })
    }

    /// A short explanation, e.g. `stalled: no new data for 12 s`.
    pub fn describe(&self) -> String {
        let secs = |d: &Duration| d.as_secs();
        match self {
            RankStatus::Live => "live".into(),
            RankStatus::Stalled { quiet } => {
                format!("stalled: no new data for {} s", secs(quiet))
            }
            RankStatus::Dead {
                quiet,
                sign: DeathSign::TornWrite,
            } => format!(
                "dead: killed inside a write (a torn last frame, {} s ago)",
                secs(quiet)
            ),
            RankStatus::Dead {
                quiet,
                sign: DeathSign::OthersFinished,
            } => format!(
                "dead: other ranks finished, this one never did (no new data for {} s)",
                secs(quiet)
            ),
            RankStatus::Finished => "finished".into(),
            RankStatus::Damaged { at } => format!("damaged: unreadable from byte {at} on"),
            RankStatus::Unreadable(why) => format!("unreadable: {why}"),
        }
    }
}

/// How many ranks are in each state, most common first, e.g.
/// `3 live, 1 stalled`.
///
/// ```
/// use scope_profiler_pproc::watch::status::{counts, RankStatus};
/// let ranks = [RankStatus::Live, RankStatus::Finished, RankStatus::Live];
/// assert_eq!(counts(ranks.iter()), "2 live, 1 finished");
/// ```
pub fn counts<'a>(statuses: impl Iterator<Item = &'a RankStatus>) -> String {
    let mut words: Vec<(&str, usize)> = Vec::new();
    for status in statuses {
        match words.iter_mut().find(|(w, _)| *w == status.word()) {
            Some((_, n)) => *n += 1,
            None => words.push((status.word(), 1)),
        }
    }
    words.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    let parts: Vec<String> = words.iter().map(|(w, n)| format!("{n} {w}")).collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Duration = Duration::from_secs(5);

    fn seen(t0: Instant, tail: Tail) -> Observation {
        Observation {
            ended: false,
            last_growth: t0,
            tail,
            damaged_since: None,
        }
    }

    #[test]
    fn a_torn_frame_that_never_completes_is_a_dead_rank() {
        let t0 = Instant::now();
        let torn = seen(t0, Tail::Partial { bytes: 40 });
        assert_eq!(
            RankStatus::of(&torn, t0 + Duration::from_secs(2), LIMIT, false),
            RankStatus::Live,
            "a frame being written is normal"
        );
        assert_eq!(
            RankStatus::of(&torn, t0 + Duration::from_secs(6), LIMIT, false),
            RankStatus::Dead {
                quiet: Duration::from_secs(6),
                sign: DeathSign::TornWrite
            }
        );
    }

    #[test]
    fn end_wins_and_damage_shows_only_once_it_lasts() {
        let t0 = Instant::now();
        let mut s = seen(t0, Tail::Damaged { at: 99 });
        s.damaged_since = Some(t0);
        let soon = t0 + Duration::from_secs(1);
        assert_eq!(RankStatus::of(&s, soon, LIMIT, false), RankStatus::Live);
        let late = t0 + Duration::from_secs(5);
        assert_eq!(
            RankStatus::of(&s, late, LIMIT, false),
            RankStatus::Damaged { at: 99 }
        );
        s.ended = true;
        assert_eq!(RankStatus::of(&s, late, LIMIT, true), RankStatus::Finished);
        assert!(!RankStatus::Finished.is_running());
        assert!(RankStatus::Stalled { quiet: LIMIT }.is_running());
    }
}
