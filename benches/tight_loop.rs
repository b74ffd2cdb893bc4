//! A tight loop of tiny regions with the default configuration, against the
//! same loop with two raw TSC reads in place of the region: what a user
//! sees when the profiler has to keep up, flusher and files included.
//!
//! `cargo bench --bench tight_loop -- [CALLS] [--threads=T] [--rounds=R] [--buffer=N]`
//! (default 3·10⁷ calls on 1 thread, 3 rounds). Each round runs the floor
//! loop and the profiled loop back to back (in alternating order) and
//! prints both; the summary gives the median ratio of the pairs. The
//! profiled runs also report the time threads spent blocked on full
//! rings, the flusher thread's CPU time per event, bytes per event
//! written during the run and in the output, finalize's rate, and check
//! that the file holds exactly every call.

mod common;

use std::hint::black_box;
use std::time::Instant;

use scope_profiler::{read_profile, region, Config, ProfileManager};
use scope_profiler_core::clock;

/// A few ns of irregular work: 1 to 4 rounds of xorshift, chosen by the
/// state itself, so the branch predictor cannot learn the loop.
#[inline(always)]
fn work(state: &mut u64) {
    let rounds = 1 + (*state & 3);
    for _ in 0..rounds {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
    }
}

/// Calls per thread of the floor loop: two TSC reads around the work.
fn floor_loop(calls: u64) -> u64 {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..calls {
        let start = clock::now();
        work(&mut state);
        let end = clock::now();
        black_box((start, end));
    }
    state
}

/// The same loop with a region around the work.
fn region_loop(calls: u64) -> u64 {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..calls {
        let _g = region!("tight");
        work(&mut state);
    }
    state
}

/// Seconds `threads` threads take to run `body(calls / threads)` each.
fn timed(threads: u64, calls: u64, body: fn(u64) -> u64) -> f64 {
    let began = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(move || black_box(body(calls / threads)));
        }
    });
    began.elapsed().as_secs_f64()
}

/// What one profiled run measured.
struct Profiled {
    loop_s: f64,
    blocked_s: f64,
    flusher_ns_per_event: f64,
    stream_bytes_per_event: f64,
    output_bytes_per_event: f64,
    finalize_s: f64,
    /// CPU seconds of every thread of the process during finalize.
    finalize_cpu_s: f64,
}

/// CPU seconds this process has used, all threads (`getrusage`).
fn process_cpu_s() -> f64 {
    // SAFETY: `getrusage` writes into the zeroed struct we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn profiled_run(
    threads: u64,
    calls: u64,
    buffer: Option<u64>,
) -> Result<Profiled, scope_profiler::Error> {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let out = dir.path().join("tight.h5");
    let mut config = Config::default()
        .file_path(&out)
        .shared_tmp_dir(dir.path())
        .print_summary(false);
    if let Some(events) = buffer {
        config = config.buffer_limit(events as usize);
    }
    ProfileManager::setup(config)?;
    let loop_s = timed(threads, calls, region_loop);
    ProfileManager::flush()?;
    let flusher_ns = common::thread_cpu_ns("scope-profiler-flusher").unwrap_or(0);
    let stream_bytes = ProfileManager::run_dir()
        .and_then(|d| std::fs::metadata(d.join("rank_0.sps")).ok())
        .map_or(0, |m| m.len());
    let (began, cpu_before) = (Instant::now(), process_cpu_s());
    let summary = ProfileManager::finalize()?;
    let finalize_s = began.elapsed().as_secs_f64();
    let finalize_cpu_s = process_cpu_s() - cpu_before;
    let expected = calls / threads * threads;
    let in_file = read_profile(&out)?
        .region("tight")
        .map_or(0, |r| r.per_rank[&0].calls());
    assert_eq!(in_file, expected, "the file must hold every call");
    assert_eq!(summary.dropped_events, 0, "nothing may be dropped");
    let per_event = |x: f64| x / expected as f64;
    Ok(Profiled {
        loop_s,
        blocked_s: summary.blocked_ns as f64 / 1e9,
        flusher_ns_per_event: per_event(flusher_ns as f64),
        stream_bytes_per_event: per_event(stream_bytes as f64),
        output_bytes_per_event: per_event(std::fs::metadata(&out).map_or(0, |m| m.len()) as f64),
        finalize_s,
        finalize_cpu_s,
    })
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() -> Result<(), scope_profiler::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let option = |name: &str| {
        args.iter()
            .find_map(|a| a.strip_prefix(name).and_then(|v| v.parse::<u64>().ok()))
    };
    let calls: u64 = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(30_000_000);
    let threads = option("--threads=").unwrap_or(1).max(1);
    let rounds = option("--rounds=").unwrap_or(3).max(1);
    let buffer = option("--buffer=");
    println!("{calls} calls on {threads} thread(s), {rounds} rounds");
    let mut ratios = Vec::new();
    let (mut floors, mut loops, mut flusher, mut finalize) = (vec![], vec![], vec![], vec![]);
    for round in 0..rounds {
        // Alternate which goes first, so drift in the machine's speed
        // does not favour one side.
        let (floor_s, p) = if round % 2 == 0 {
            let f = timed(threads, calls, floor_loop);
            (f, profiled_run(threads, calls, buffer)?)
        } else {
            let p = profiled_run(threads, calls, buffer)?;
            (timed(threads, calls, floor_loop), p)
        };
        let ratio = p.loop_s / floor_s;
        println!(
            "round {round}: floor {:.1} M calls/s, profiled {:.1} M calls/s ({ratio:.2}x), blocked {:.3} s, \
             flusher {:.2} ns/event, run writes {:.2} B/event, output {:.2} B/event, finalize {:.2} s ({:.1} M events/s, \
             {:.1} M events per CPU-second)",
            calls as f64 / floor_s / 1e6,
            calls as f64 / p.loop_s / 1e6,
            p.blocked_s,
            p.flusher_ns_per_event,
            p.stream_bytes_per_event,
            p.output_bytes_per_event,
            p.finalize_s,
            calls as f64 / p.finalize_s / 1e6,
            calls as f64 / p.finalize_cpu_s / 1e6,
        );
        ratios.push(ratio);
        floors.push(calls as f64 / floor_s / 1e6);
        loops.push(calls as f64 / p.loop_s / 1e6);
        flusher.push(p.flusher_ns_per_event);
        finalize.push(calls as f64 / p.finalize_s / 1e6);
    }
    println!(
        "median: profiled loop {:.2}x the floor loop ({:.1} vs {:.1} M calls/s), flusher {:.2} ns/event, \
         finalize {:.1} M events/s",
        median(ratios),
        median(loops),
        median(floors),
        median(flusher),
        median(finalize)
    );
    Ok(())
}
