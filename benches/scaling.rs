//! Per-thread cost of a timed region when 1, 2, 4 and 8 threads record at
//! once: each thread has its own ring, so the cost should not grow with the
//! thread count while there are idle cores (on a 2-core machine it does once
//! threads outnumber cores: they then share a core and its TSC reads).
//!
//! `cargo bench --bench scaling`

mod common;

use std::sync::Barrier;
use std::time::{Duration, Instant};

use common::DrainedSession;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use scope_profiler::region;

fn scaling(c: &mut Criterion) {
    let mut g = c.benchmark_group("timed region per thread");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    let _run = DrainedSession::start(true, true);
    for threads in [1usize, 2, 4, 8] {
        g.bench_with_input(
            BenchmarkId::from_parameter(threads),
            &threads,
            |b, &threads| {
                // Every thread runs `iters` regions; the result is the mean of
                // the threads' own elapsed times, i.e. the per-thread cost.
                b.iter_custom(|iters| {
                    let start = Barrier::new(threads);
                    let total: Duration = std::thread::scope(|s| {
                        let handles: Vec<_> = (0..threads)
                            .map(|_| {
                                s.spawn(|| {
                                    start.wait();
                                    let began = Instant::now();
                                    for _ in 0..iters {
                                        let _g = region!("scaling");
                                    }
                                    began.elapsed()
                                })
                            })
                            .collect();
                        handles
                            .into_iter()
                            .map(|h| h.join().unwrap_or_default())
                            .sum()
                    });
                    total / threads as u32
                })
            },
        );
    }
    g.finish();
}

criterion_group!(benches, scaling);
criterion_main!(benches);
