//! Code instrumented with `tracing`, profiled by `ScopeSubscriber` with no
//! other change: every `#[instrument]` function is a region.
//!
//! `cargo run --release --example traced -- [iterations] [output.h5]`

use scope_profiler::{read_profile, Config, ProfileManager, ScopeSubscriber};
use tracing::instrument;

#[instrument(skip(a, x, out))]
fn mat_vec(a: &[f64], x: &[f64], out: &mut [f64]) {
    let n = x.len();
    for (i, o) in out.iter_mut().enumerate() {
        *o = a[i * n..(i + 1) * n]
            .iter()
            .zip(x)
            .map(|(a, x)| a * x)
            .sum();
    }
}

#[instrument(skip(x, y))]
fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(x, y)| x * y).sum()
}

/// A few steepest-descent iterations on a diagonally dominant system.
#[instrument(skip(a, b))]
fn solve(a: &[f64], b: &[f64], iterations: usize) -> Vec<f64> {
    let n = b.len();
    let (mut x, mut ax) = (vec![0.0; n], vec![0.0; n]);
    for _ in 0..iterations {
        mat_vec(a, &x, &mut ax);
        let r: Vec<f64> = b.iter().zip(&ax).map(|(b, ax)| b - ax).collect();
        mat_vec(a, &r, &mut ax);
        let step = dot(&r, &r) / dot(&r, &ax).max(f64::MIN_POSITIVE);
        for (x, r) in x.iter_mut().zip(&r) {
            *x += step * r;
        }
    }
    x
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let iterations: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(200);
    let path = args.next().unwrap_or_else(|| "traced.h5".into());
    // Only this program's spans (target `traced`) at info or above become
    // regions; events are off.
    tracing::subscriber::set_global_default(
        ScopeSubscriber::new().with_filter("traced=info".parse()?),
    )?;
    ProfileManager::setup(Config::default().file_path(&path))?;

    let n = 256;
    let a: Vec<f64> = (0..n * n)
        .map(|k| {
            if k / n == k % n {
                n as f64
            } else {
                1.0 / (1 + k % 7) as f64
            }
        })
        .collect();
    let b = vec![1.0; n];
    let x = solve(&a, &b, iterations);

    let summary = ProfileManager::finalize()?;
    let calls = |name: &str| summary.region(name).map_or(0, |r| r.stats.calls);
    println!(
        "x[0] = {:.6}; wrote {path}: solve {} call, mat_vec {} calls, dot {} calls; read back {} regions",
        x[0],
        calls("solve"),
        calls("mat_vec"),
        calls("dot"),
        read_profile(&path)?.regions.len(),
    );
    Ok(())
}
