//! A long run in aggregate mode: millions of small calls become statistics
//! per thread and region (the file stays a few tens of KB however long the
//! run), while every checkpoint and every step slower than 2 ms is kept as
//! a full trace.
//!
//! `cargo run --release --example aggregate -- [steps] [output.h5]`, then
//! `cargo run --release -p scope-profiler-pproc -- aggregate.h5` (the
//! summary, percentiles from histograms) or `... -- aggregate.h5 --gantt
//! kept.html` (the kept calls).

use std::time::Duration;

use scope_profiler::{read_profile, region, Config, OutputSchema, ProfileManager};

/// One time step: a little arithmetic, and every 50,000th step a slow one
/// (what a production run's rare stalls look like).
fn step(i: u64, u: &mut [f64]) {
    let _g = region!("step");
    if i % 50_000 == 49_999 {
        std::thread::sleep(Duration::from_millis(3));
    }
    for x in u.iter_mut() {
        *x = 0.5 * (*x + 1.0);
    }
}

fn main() -> Result<(), scope_profiler::Error> {
    let mut args = std::env::args().skip(1);
    let steps: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let path = args.next().unwrap_or_else(|| "aggregate.h5".into());
    ProfileManager::setup(
        Config::default()
            .file_path(&path)
            .output_schema(OutputSchema::Aggregate)
            .trace_regions("^checkpoint$")
            .trace_calls_longer_than(Duration::from_millis(2)),
    )?;
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                let mut u = vec![0.0; 16];
                for i in 0..steps {
                    step(i, &mut u);
                    if i % 200_000 == 0 {
                        let _c = region!("checkpoint");
                        std::hint::black_box(u.iter().sum::<f64>());
                    }
                }
            });
        }
    });
    ProfileManager::finalize()?;

    let profile = read_profile(&path)?;
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    for region in &profile.regions {
        let kept: usize = region.per_rank.values().map(|e| e.starts.len()).sum();
        println!(
            "{}: {} calls, {} kept as a trace",
            region.name,
            region.stats().calls,
            kept
        );
    }
    println!("{path}: {bytes} bytes");
    Ok(())
}
