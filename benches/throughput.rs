//! The data path's throughput and memory: T threads record N regions in
//! total with the default configuration, while a sampler reads this
//! process's resident memory. Reports sustained events/s, time threads
//! spent blocked on full rings, the flusher thread's CPU time per event
//! (from `/proc/self/task/*/schedstat`: the rate one core drains), bytes
//! per event written during the run (the rank stream) and in the output,
//! finalize's events/s, and RSS over the run.
//!
//! `cargo bench --bench throughput -- [EVENTS] [THREADS] [--rate=M] [--buffer=N] [--aggregate]`
//! (default 10⁸ from 2 threads). `--aggregate` runs in aggregate mode
//! (`OutputSchema::Aggregate`): the flusher counts each call into its
//! statistics instead of encoding it into the stream.
//!
//! Without `--rate` the threads record as fast as they can (the flusher's
//! ceiling). With `--rate=M` they are paced to M million events/s in
//! total: each thread records 10,000 calls, then sleeps until its
//! schedule says the next 10,000 are due, so the blocked time printed is
//! what an application recording at that rate would see.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use scope_profiler::{region, Config, OutputSchema, ProfileManager};

/// Calls a paced thread records between looks at the clock.
const CHUNK: u64 = 10_000;

/// This process's CPU time (user + system, all threads), seconds.
fn process_cpu_s() -> f64 {
    // SAFETY: FFI; `usage` is a valid, writable `rusage` for the call.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    s(usage.ru_utime) + s(usage.ru_stime)
}

fn rss_mb() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0.0);
    pages * 4096.0 / 1e6
}

/// The command line: `[EVENTS] [THREADS] [--rate=M] [--buffer=N]`.
struct Args {
    events: u64,
    threads: u64,
    /// Offered rate in M events/s in total; `None`: as fast as they can.
    rate: Option<f64>,
    /// Ring size per thread, in events.
    buffer: usize,
    /// Aggregate mode instead of a trace.
    aggregate: bool,
}

impl Args {
    fn parse() -> Args {
        let all: Vec<String> = std::env::args().skip(1).collect();
        let positional: Vec<&String> = all.iter().filter(|a| !a.starts_with("--")).collect();
        let option = |name: &str| {
            all.iter()
                .find_map(|a| a.strip_prefix(name).and_then(|v| v.parse::<f64>().ok()))
        };
        Args {
            events: positional
                .first()
                .and_then(|s| s.parse().ok())
                .unwrap_or(100_000_000),
            threads: positional
                .get(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(2)
                .max(1),
            rate: option("--rate=").filter(|m| *m > 0.0),
            buffer: option("--buffer=").map_or(100_000, |n| n as usize),
            aggregate: all.iter().any(|a| a == "--aggregate"),
        }
    }
}

/// One recording thread: `events` calls, in chunks of [`CHUNK`]; with
/// `chunk_secs`, each chunk is due `chunk_secs` after the one before
/// (counted from `began`) and the thread sleeps while it is ahead.
fn record(events: u64, chunk_secs: Option<f64>, began: Instant) {
    let mut left = events;
    let mut chunks = 0u32;
    while left > 0 {
        let n = left.min(CHUNK);
        for _ in 0..n {
            let _g = region!("throughput");
        }
        left -= n;
        chunks += 1;
        if let Some(secs) = chunk_secs {
            let due = began + Duration::from_secs_f64(secs * f64::from(chunks));
            if let Some(ahead) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(ahead);
            }
        }
    }
}

/// Samples (seconds since `began`, RSS in MB) every 250 ms while all
/// `threads` are `recording`.
fn sample_rss(began: Instant, recording: &AtomicU64, threads: u64) -> Vec<(f64, f64)> {
    let mut samples = Vec::new();
    while recording.load(Ordering::Relaxed) == threads {
        samples.push((began.elapsed().as_secs_f64(), rss_mb()));
        std::thread::sleep(Duration::from_millis(250));
    }
    samples
}

fn main() -> Result<(), scope_profiler::Error> {
    let Args {
        events,
        threads,
        rate,
        buffer,
        aggregate,
    } = Args::parse();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("throughput.h5");
    ProfileManager::setup(
        Config::default()
            .file_path(&out)
            .shared_tmp_dir(dir.path())
            .buffer_limit(buffer)
            .output_schema(if aggregate {
                OutputSchema::Aggregate
            } else {
                OutputSchema::Tree
            })
            .print_summary(false),
    )?;
    // Sampling stops when the first thread finishes recording: from then
    // on threads exit and free their rings, which is not the run's memory.
    let recording = AtomicU64::new(threads);
    let began = Instant::now();
    // Seconds per chunk at one thread's share of the rate.
    let chunk_secs = rate.map(|m| CHUNK as f64 * threads as f64 / (m * 1e6));
    let (samples, produced) = std::thread::scope(|s| {
        let sampler = s.spawn(|| sample_rss(began, &recording, threads));
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let recording = &recording;
                s.spawn(move || {
                    record(events / threads, chunk_secs, began);
                    recording.fetch_sub(1, Ordering::Relaxed);
                })
            })
            .collect();
        workers.into_iter().for_each(|w| w.join().expect("worker"));
        let produced = began.elapsed().as_secs_f64();
        ProfileManager::flush().expect("flush");
        (sampler.join().expect("sampler"), produced)
    });
    let recorded = began.elapsed().as_secs_f64();
    let flusher_cpu_ns = common::thread_cpu_ns("scope-profiler-flusher");
    // Finalize deletes the run directory: measure the stream now.
    let stream_bytes = ProfileManager::run_dir()
        .and_then(|d| std::fs::metadata(d.join("rank_0.sps")).ok())
        .map_or(0, |m| m.len());
    let cpu_before = process_cpu_s();
    let summary = ProfileManager::finalize()?;
    let total = began.elapsed().as_secs_f64();
    let finalize_cpu = process_cpu_s() - cpu_before;
    let calls = summary.region("throughput").map_or(0, |r| r.stats.calls);
    let bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    let warm: Vec<f64> = samples
        .iter()
        .filter(|(t, _)| *t > 1.0)
        .map(|(_, r)| *r)
        .collect();
    let (lo, hi) = warm
        .iter()
        .fold((f64::MAX, 0.0f64), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    println!(
        "events {calls} from {threads} threads, ring {buffer} events per thread, {}, {}",
        if aggregate { "aggregate mode" } else { "trace" },
        rate.map_or("as fast as they can".to_owned(), |m| format!(
            "paced to {m} M events/s in total"
        ))
    );
    println!(
        "threads done recording after {produced:.2} s: {:.1} M events/s offered",
        calls as f64 / produced / 1e6
    );
    println!(
        "recorded and flushed in {recorded:.2} s: {:.1} M events/s sustained",
        calls as f64 / recorded / 1e6
    );
    println!(
        "finalize (stream into the output file) {:.2} s: {:.1} M events/s; \
         {finalize_cpu:.2} s of CPU ({:.1} M events per CPU-second, {:.1} cores busy)",
        total - recorded,
        calls as f64 / (total - recorded) / 1e6,
        calls as f64 / finalize_cpu / 1e6,
        finalize_cpu / (total - recorded)
    );
    println!(
        "blocked on full rings: {:.3} s in total; dropped {}",
        summary.blocked_ns as f64 / 1e9,
        summary.dropped_events
    );
    if let Some(ns) = flusher_cpu_ns {
        let per_event = ns as f64 / calls.max(1) as f64;
        println!(
            "flusher thread on a CPU {:.2} s: {per_event:.1} ns per event, so a core of its own drains {:.0} M events/s",
            ns as f64 / 1e9,
            1e3 / per_event
        );
    }
    println!(
        "written during the run (rank stream): {:.2} bytes per event; output file: {:.2} bytes per event",
        stream_bytes as f64 / calls.max(1) as f64,
        bytes as f64 / calls.max(1) as f64
    );
    if !warm.is_empty() {
        println!(
            "RSS after 1 s: {lo:.1}..{hi:.1} MB over {} samples ({:+.1} %)",
            warm.len(),
            (hi / lo - 1.0) * 100.0
        );
    }
    Ok(())
}
