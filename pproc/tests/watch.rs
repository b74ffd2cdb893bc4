//! `scope-profiler-pproc watch` as a person uses it: on a program that is
//! running (this test process, recording through the real runtime while
//! the command runs beside it), `--once` twice shows growing counts, and a
//! terminal session (tmux) drives the screen with its keys. Files left by
//! dead, stalled and finished ranks are told apart, and a torn last frame
//! costs nothing but itself.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use scope_profiler::{region, Config, ProfileManager};
use scope_profiler_format::stream::{FrameEncoder, StreamHeader, StreamWriter, TickScale};

/// How long a condition may take to come true before the test fails.
const DEADLINE: Duration = Duration::from_secs(60);

fn pproc() -> &'static str {
    env!("CARGO_BIN_EXE_scope-profiler-pproc")
}

/// Polls `probe` until it returns `Some`, failing after [`DEADLINE`] with
/// `what` and the last thing `describe` says.
fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let began = Instant::now();
    loop {
        match probe() {
            Ok(v) => return v,
            Err(last) if began.elapsed() > DEADLINE => {
                panic!("gave up after {DEADLINE:?} waiting for {what}; last seen:\n{last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// This process records while a test runs: one profiling run at a time.
struct LiveRun {
    stop: Arc<AtomicBool>,
    worker: Option<JoinHandle<()>>,
    run_dir: PathBuf,
    parent: tempfile::TempDir,
    _serial: MutexGuard<'static, ()>,
}

impl LiveRun {
    /// Sets up a run under a fresh directory and starts a thread named
    /// `solver` that calls `solve` (some arithmetic) and `exchange` until
    /// the run is dropped.
    fn start() -> LiveRun {
        static ONE_RUN: Mutex<()> = Mutex::new(());
        let serial = ONE_RUN.lock().unwrap_or_else(PoisonError::into_inner);
        let parent = tempfile::tempdir().unwrap();
        let config = Config::default()
            .file_path(parent.path().join("profile.h5"))
            .print_summary(false)
            .shared_tmp_dir(parent.path());
        ProfileManager::setup(config).unwrap();
        let run_dir = ProfileManager::run_dir().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let worker = std::thread::Builder::new()
            .name("solver".into())
            .spawn(move || {
                while !stopped.load(Ordering::Relaxed) {
                    {
                        let _s = region!("solve");
                        let mut acc = 0u64;
                        for i in 0..20_000u64 {
                            acc = acc.wrapping_add(std::hint::black_box(i));
                        }
                        std::hint::black_box(acc);
                    }
                    let _e = region!("exchange");
                }
            })
            .unwrap();
        LiveRun {
            stop,
            worker: Some(worker),
            run_dir,
            parent,
            _serial: serial,
        }
    }
}

impl Drop for LiveRun {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
        let _ = ProfileManager::finalize();
    }
}

fn run(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(pproc());
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The calls of region `name` in `watch --once`'s table (its second column).
fn calls_in(table: &str, name: &str) -> Option<u64> {
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|cols| cols.first() == Some(&name))
        .and_then(|cols| cols.get(1)?.parse().ok())
}

#[test]
fn once_twice_on_a_running_program_shows_growing_counts() {
    let live = LiveRun::start();
    let dir = live.run_dir.to_str().unwrap();
    let first = wait_for("`solve` in a snapshot", || {
        let out = run(&["watch", "--once", dir], &[]);
        let table = text(&out.stdout);
        match calls_in(&table, "solve") {
            Some(n) if out.status.success() && n > 0 => Ok((n, out)),
            _ => Err(format!("{table}{}", text(&out.stderr))),
        }
    });
    let (first_calls, out) = first;
    let table = text(&out.stdout);
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["region", "calls", "total_s", "avg_us", "calls/s", "share%", "ranks"]
    );
    let row: Vec<&str> = table
        .lines()
        .find(|l| l.starts_with("solve "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(row.len(), 7, "{table}");
    assert!(row[2].parse::<f64>().unwrap() > 0.0, "total_s: {table}");
    assert_eq!(row[6], "1", "one rank: {table}");
    let stderr = text(&out.stderr);
    assert!(stderr.contains("1 rank(s): 1 live"), "{stderr}");
    // The second snapshot of the same running program: more calls.
    let second = wait_for("more `solve` calls", || {
        let out = run(&["watch", "--once", dir], &[]);
        let table = text(&out.stdout);
        match calls_in(&table, "solve") {
            Some(n) if n > first_calls => Ok(n),
            _ => Err(table),
        }
    });
    assert!(second > first_calls);
    // Without a directory: the newest run under $TMPDIR, which is this one.
    let out = run(&["watch", "--once"], &[("TMPDIR", live.parent.path())]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).starts_with(dir), "{}", text(&out.stderr));
    assert!(calls_in(&text(&out.stdout), "solve").unwrap() >= second);
    // Only regions matching --filter.
    let out = run(&["watch", "--once", "--filter", "^exch", dir], &[]);
    let table = text(&out.stdout);
    assert!(calls_in(&table, "exchange").is_some() && calls_in(&table, "solve").is_none());
}

/// A tmux server of its own, killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Starts `command` in a detached 140×40 session; `None` (with the
    /// reason printed) when tmux is not installed.
    fn start(command: &str) -> Option<Tmux> {
        if Command::new("tmux").arg("-V").output().is_err() {
            eprintln!(
                "SKIPPED the tmux test: tmux is not installed (scripts/setup.sh installs it)"
            );
            return None;
        }
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "scope-profiler-watch-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let tmux = Tmux { socket };
        let started = tmux
            .cmd(&["new-session", "-d", "-x", "140", "-y", "40", command])
            .status()
            .unwrap();
        assert!(started.success());
        Some(tmux)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket, "-f", "/dev/null"]).args(args);
        c
    }

    /// The screen as text.
    fn screen(&self) -> String {
        text(&self.cmd(&["capture-pane", "-p"]).output().unwrap().stdout)
    }

    /// Types `keys` (tmux key names: `Enter`, `Escape`, or text).
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys"];
        args.extend_from_slice(keys);
        assert!(self.cmd(&args).status().unwrap().success());
    }

    /// Presses Esc and waits for the prompt to close (the footer lists the
    /// keys again): a key sent right after Esc would read as Alt+key.
    fn escape(&self) {
        self.keys(&["Escape"]);
        self.wait("the prompt closed", |s| s.contains("q quit"));
    }

    /// Polls the screen until `ok` holds for it; returns it.
    fn wait(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        wait_for(what, || {
            let screen = self.screen();
            if ok(&screen) {
                Ok(screen)
            } else {
                Err(screen)
            }
        })
    }

    /// Whether the session (the command in it) still runs.
    fn alive(&self) -> bool {
        self.cmd(&["has-session"])
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]).output();
    }
}

/// The calls shown on the screen's row for `name` (the number after it).
fn screen_calls(screen: &str, name: &str) -> Option<u64> {
    screen.lines().find_map(|l| {
        let cells: Vec<&str> = l
            .split(|c: char| c == '│' || c.is_whitespace())
            .filter(|c| !c.is_empty())
            .collect();
        let at = cells.iter().position(|c| *c == name)?;
        cells.get(at + 1)?.parse().ok()
    })
}

#[test]
fn the_screen_follows_a_running_program_and_answers_its_keys() {
    let live = LiveRun::start();
    let command = format!("{} watch {}", pproc(), live.run_dir.display());
    let Some(tmux) = Tmux::start(&command) else {
        return;
    };
    let screen = tmux.wait("the screen with `solve` and the live rank", |s| {
        s.contains("1 rank(s): 1 live") && screen_calls(s, "solve").is_some_and(|n| n > 0)
    });
    assert!(
        screen.contains(&live.run_dir.display().to_string()),
        "{screen}"
    );
    assert!(screen.contains("threads"), "{screen}");
    assert!(screen.contains("solver"), "the thread's name: {screen}");
    assert!(screen.contains("q quit"), "the keys are listed: {screen}");
    let before = screen_calls(&screen, "solve").unwrap();
    // It refreshes by itself: the counts grow, and rates appear.
    tmux.wait("growing counts", |s| {
        screen_calls(s, "solve").is_some_and(|n| n > before) && s.contains("over the last")
    });
    // `/` filters by regular expression.
    tmux.keys(&["/", "exch", "Enter"]);
    let screen = tmux.wait("the filter applied", |s| s.contains("filter: /exch/"));
    assert!(screen_calls(&screen, "exchange").is_some(), "{screen}");
    assert_eq!(
        screen_calls(&screen, "solve"),
        None,
        "filtered out: {screen}"
    );
    // A bad pattern is refused with a message, the old filter stays.
    tmux.keys(&["/", "BSpace", "BSpace", "BSpace", "BSpace", "(", "Enter"]);
    let screen = tmux.wait("the bad pattern refused", |s| {
        s.contains("bad regular expression")
    });
    assert!(screen.contains("filter: /exch/"), "{screen}");
    tmux.escape();
    tmux.keys(&["/", "BSpace", "BSpace", "BSpace", "BSpace", "Enter"]);
    tmux.wait("the filter cleared", |s| {
        s.contains("filter: none") && screen_calls(s, "solve").is_some()
    });
    // `s` sorts by another column; `r` picks a rank.
    tmux.keys(&["s"]);
    tmux.wait("sorted by share", |s| s.contains("sort: share"));
    tmux.keys(&["r", "0", "Enter"]);
    tmux.wait("rank 0 alone", |s| {
        s.contains("rank: 0") && s.contains("regions — rank 0")
    });
    tmux.keys(&["r", "7", "Enter"]);
    tmux.wait("an unknown rank refused", |s| s.contains("no rank \"7\""));
    tmux.escape();
    tmux.keys(&["a"]);
    tmux.wait("all ranks again", |s| s.contains("rank: all"));
    tmux.keys(&["q"]);
    wait_for("the command to quit on q", || {
        if tmux.alive() {
            Err(tmux.screen())
        } else {
            Ok(())
        }
    });
}

/// A rank stream in `dir` with `frames` frames of `calls` calls each of
/// `step` (10 µs each), closed by finalize when `end`, its last frame torn
/// (half of it written) when `torn`, and last modified a minute ago.
fn write_rank(dir: &Path, rank: u32, frames: u64, calls: u64, end: bool, torn: bool) {
    let path = dir.join(format!("rank_{rank}.sps"));
    let mut w = StreamWriter::create(&path).unwrap();
    let mut enc = FrameEncoder::default();
    enc.header(&StreamHeader {
        rank,
        time_trace: true,
        scale: TickScale::NANOSECONDS,
    });
    enc.names([(0, "step")].into_iter());
    enc.thread(0, "main");
    for f in 0..frames {
        let batch: Vec<(u32, u64, u64)> = (0..calls)
            .map(|i| {
                let t = (f * calls + i) * 20_000;
                (0, t, t + 10_000)
            })
            .collect();
        enc.events(0, &batch, |c| *c);
        w.append(enc.take()).unwrap();
    }
    if end {
        enc.end();
        w.append(enc.take()).unwrap();
    }
    if torn {
        enc.events(0, &[(0u32, 1u64, 2u64)], |c| *c);
        let frame = enc.take().to_vec();
        w.append(&frame[..frame.len() / 2]).unwrap();
    }
    drop(w);
    let minute_ago = SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options()
        .append(true)
        .open(&path)
        .unwrap()
        .set_modified(minute_ago)
        .unwrap();
}

#[test]
fn dead_stalled_and_finished_ranks_are_told_apart_and_a_torn_frame_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    write_rank(dir.path(), 0, 3, 100, true, false);
    write_rank(dir.path(), 1, 2, 100, false, true);
    write_rank(dir.path(), 2, 4, 100, false, false);
    let out = run(&["watch", "--once", dir.path().to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("3 rank(s): 2 dead, 1 finished"), "{stderr}");
    assert!(
        stderr.contains("rank 1: dead: killed inside a write"),
        "{stderr}"
    );
    assert!(
        stderr.contains("rank 2: dead: other ranks finished"),
        "{stderr}"
    );
    // Every intact frame counts, the torn one does not: 300 + 200 + 400.
    let table = text(&out.stdout);
    assert_eq!(calls_in(&table, "step"), Some(900), "{table}");
    let row: Vec<&str> = table.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[2], "0.009000", "900 calls of 10 µs: {table}");
    assert_eq!(row[3], "10.000", "avg µs: {table}");
    assert_eq!(row[6], "3", "{table}");
    // One rank, not finished, file quiet for a minute: stalled.
    let quiet = tempfile::tempdir().unwrap();
    write_rank(quiet.path(), 4, 1, 10, false, false);
    let out = run(&["watch", "--once", quiet.path().to_str().unwrap()], &[]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("rank 4: stalled: no new data for"),
        "{stderr}"
    );
    assert_eq!(calls_in(&text(&out.stdout), "step"), Some(10));
}

#[test]
fn bad_arguments_and_missing_runs_are_one_clear_line() {
    let empty = tempfile::tempdir().unwrap();
    let out = run(&["watch", "--once", empty.path().to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.contains("no run directory"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = run(&["watch", "--once", "--filter", "(", "."], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("bad regular expression") && err.contains("unclosed group"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    // The screen needs a terminal; a pipe gets told to use --once.
    let run_dir = empty.path().join("scope-profiler-x");
    std::fs::create_dir(&run_dir).unwrap();
    let out = run(&["watch", run_dir.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--once"),
        "{}",
        text(&out.stderr)
    );
}

/// The screen drawn into a `width`×`height` buffer, as lines of text.
fn drawn(
    snapshot: &scope_profiler_pproc::watch::model::Snapshot,
    app: &scope_profiler_pproc::watch::app::App,
    width: u16,
    height: u16,
) -> String {
    use ratatui::backend::TestBackend;
    let mut terminal = ratatui::Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| scope_profiler_pproc::watch::view::draw(frame, snapshot, app))
        .unwrap();
    let buffer = terminal.backend().buffer();
    let cells: Vec<&str> = buffer.content.iter().map(|c| c.symbol()).collect();
    cells
        .chunks(width as usize)
        .map(|line| line.concat())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn many_ranks_get_a_heat_map_marking_dead_and_stalled_ranks() {
    use scope_profiler_pproc::watch::{app::App, model, rows::Selection};
    let dir = tempfile::tempdir().unwrap();
    for rank in 0..12 {
        // Rank 3 was killed inside a write, rank 4 went quiet (both a
        // minute ago); the others wrote just now.
        write_rank(dir.path(), rank, 2, 50 + rank as u64, false, rank == 3);
        if rank != 3 && rank != 4 {
            std::fs::File::options()
                .append(true)
                .open(dir.path().join(format!("rank_{rank}.sps")))
                .unwrap()
                .set_modified(SystemTime::now())
                .unwrap();
        }
    }
    let settings = model::Settings {
        stall_after: Duration::from_secs(5),
    };
    let mut m = model::Model::new(dir.path(), settings);
    let now = Instant::now();
    m.refresh(now).unwrap();
    let snapshot = m.snapshot(now);
    let mut app = App::new(Selection::default());
    let screen = drawn(&snapshot, &app, 120, 40);
    assert!(
        screen.contains("12 rank(s): 10 live, 1 dead, 1 stalled"),
        "{screen}"
    );
    assert!(
        screen.contains("ranks — share of step (since start)"),
        "{screen}"
    );
    // Rank 0: 100 calls of 10 µs in 2 ms of run (its last call's end).
    assert!(screen.contains(" 0   50%"), "{screen}");
    assert!(screen.contains(" 3  dead"), "{screen}");
    assert!(screen.contains(" 4 stall"), "{screen}");
    assert!(
        !screen.contains(" r0 "),
        "no per-rank columns for 12 ranks: {screen}"
    );
    // The region table sums the ranks: (2 frames) × (50 + … + 61) calls.
    let calls: u64 = (0..12u64).map(|r| 2 * (50 + r)).sum();
    assert!(screen.contains(&format!("step  {calls}")) || screen.contains(&calls.to_string()));
    // Rank 7 alone: its threads and its calls only.
    app.selection.rank = Some(7);
    let screen = drawn(&snapshot, &app, 120, 40);
    assert!(screen.contains("regions — rank 7"), "{screen}");
    assert!(screen.contains("threads — rank 7"), "{screen}");
    assert!(screen.contains("114"), "2 × 57 calls: {screen}");
    // A small terminal still draws (no panic), keys at the bottom.
    let screen = drawn(&snapshot, &app, 60, 12);
    assert!(
        screen.lines().last().unwrap().starts_with("q quit"),
        "{screen}"
    );
}
