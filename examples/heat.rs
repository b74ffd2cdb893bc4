//! A small 1-D heat-equation solver, profiled: the example the README's first command runs.
//!
//! `cargo run --release --example heat -- [steps] [output.h5]`

use scope_profiler::{profile, read_profile, region, Config, ProfileManager};

fn laplacian(u: &[f64], out: &mut [f64]) {
    let _g = region!("laplacian");
    for i in 1..u.len() - 1 {
        out[i] = u[i - 1] - 2.0 * u[i] + u[i + 1];
    }
}

fn step(u: &mut [f64], scratch: &mut [f64], dt: f64) {
    let _g = region!("step");
    laplacian(u, scratch);
    let _u = region!("update");
    for (x, d) in u.iter_mut().zip(scratch.iter()) {
        *x += dt * d;
    }
}

fn main() -> Result<(), scope_profiler::Error> {
    let mut args = std::env::args().skip(1);
    let steps: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(2_000);
    let path = args.next().unwrap_or_else(|| "profiling_data.h5".into());
    ProfileManager::setup(Config::default().file_path(&path))?;

    let n = 4_096;
    let mut u: Vec<f64> = (0..n).map(|i| if i == n / 2 { 1.0 } else { 0.0 }).collect();
    let mut scratch = vec![0.0; n];
    {
        let _solve = region!("solve");
        for s in 0..steps {
            step(&mut u, &mut scratch, 0.25);
            if s % 500 == 0 {
                profile("checkpoint", || std::hint::black_box(u.iter().sum::<f64>()));
            }
        }
    }
    // Two worker threads, to show per-thread rings.
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                for _ in 0..1_000 {
                    let _g = region!("worker");
                    let mut acc = 0u64;
                    for i in 0..5_000u64 {
                        acc = acc.wrapping_add(std::hint::black_box(i));
                    }
                    std::hint::black_box(acc);
                }
            });
        }
    });
    let summary = ProfileManager::finalize()?;

    // Read the file back, as a post-processing script would.
    let profile = read_profile(&path)?;
    let step = profile.region("step").map(|r| r.stats());
    println!(
        "wrote {path}: {} regions, {} ranks; `step` read back: {} calls, {:.3} ms in total (summary said {})",
        profile.regions.len(),
        profile.ranks.len(),
        step.map_or(0, |s| s.calls),
        step.map_or(0.0, |s| s.total_ns as f64 / 1e6),
        summary.region("step").map_or(0, |r| r.stats.calls),
    );
    Ok(())
}
