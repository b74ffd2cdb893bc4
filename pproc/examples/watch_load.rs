//! Writes the rank streams of a made-up running job, as its flushers would:
//! every 10 ms each rank appends one frame of calls (two threads, five
//! regions, some nested), for `seconds`, then closes its stream. For
//! measuring what `scope-profiler-pproc watch` costs while it follows many
//! ranks (`scripts/watch-cost.sh`).
//!
//! `cargo run --release -p scope-profiler-pproc --example watch_load -- DIR [ranks] [calls/s per rank] [seconds]`
//!
//! The streams go to `DIR/scope-profiler-load/`; the directory is printed.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use scope_profiler_format::stream::{FrameEncoder, StreamHeader, StreamWriter, TickScale};

/// How often each rank appends a frame (the flusher's default interval).
const FRAME_EVERY: Duration = Duration::from_millis(10);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let parent = PathBuf::from(
        args.next()
            .ok_or("usage: watch_load DIR [ranks] [calls/s] [seconds]")?,
    );
    let ranks: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(64);
    let rate: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let seconds: u64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(60);
    let dir = parent.join("scope-profiler-load");
    std::fs::create_dir_all(&dir)?;
    println!("{}", dir.display());
    let names = ["step", "compute", "exchange", "io", "reduce"];
    let mut writers = Vec::new();
    let mut encoder = FrameEncoder::default();
    for rank in 0..ranks {
        let mut w = StreamWriter::create(&dir.join(format!("rank_{rank}.sps")))?;
        encoder.header(&StreamHeader {
            rank,
            time_trace: true,
            scale: TickScale::NANOSECONDS,
        });
        encoder.names(names.iter().enumerate().map(|(i, n)| (i as u32, *n)));
        encoder.thread(0, "main");
        encoder.thread(1, "io");
        w.append(encoder.take())?;
        writers.push(w);
    }
    // Per frame and rank: calls on thread 0 (step holding compute and
    // exchange, inner calls first, as they end) and a tenth on thread 1.
    let per_frame = (rate * FRAME_EVERY.as_millis() as u64 / 1000).max(4);
    let steps = per_frame * 9 / 10 / 3;
    let io_calls = per_frame - steps * 3;
    let began = Instant::now();
    let mut clock = 0u64;
    let mut next = began;
    while began.elapsed() < Duration::from_secs(seconds) {
        for (rank, w) in writers.iter_mut().enumerate() {
            let skew = rank as u64 * 7;
            let mut main = Vec::with_capacity(steps as usize * 3);
            for s in 0..steps {
                let t = clock + s * 3_000 + skew;
                main.push((1u32, t + 10, t + 1_800));
                main.push((2, t + 1_810, t + 2_900));
                main.push((0, t, t + 2_950));
            }
            encoder.events(0, &main, |c| *c);
            let io: Vec<(u32, u64, u64)> = (0..io_calls)
                .map(|i| {
                    let t = clock + i * 9_000 + skew;
                    (3 + (i % 2) as u32, t, t + 4_000)
                })
                .collect();
            encoder.events(1, &io, |c| *c);
            w.append(encoder.take())?;
        }
        clock += steps * 3_000;
        next += FRAME_EVERY;
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    for w in &mut writers {
        encoder.end();
        w.append(encoder.take())?;
    }
    Ok(())
}
