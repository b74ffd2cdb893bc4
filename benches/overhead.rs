//! Cost of one region enter+exit in each mode, beside the physical floor,
//! all in one criterion run so the ratios hold on a noisy shared VM.
//!
//! The hot path is measured against a drain thread that empties the rings and
//! discards the records: the flusher's conversion and HDF5 work run on
//! another thread and are not part of what a region costs the recording
//! thread (issue 6's throughput bench measures them).
//!
//! `cargo bench --bench overhead`

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::DrainedSession;
use criterion::{criterion_group, criterion_main, Criterion};
use scope_profiler::{region, ProfileManager};
use scope_profiler_core::{clock, Record, RegionId};

fn overhead(c: &mut Criterion) {
    let mut g = c.benchmark_group("region enter+exit");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));

    g.bench_function("baseline: empty iteration", |b| b.iter(|| black_box(0u64)));
    g.bench_function("floor: two TSC reads", |b| {
        b.iter(|| {
            let start = clock::now();
            let end = clock::now();
            black_box((start, end))
        })
    });
    let mut slot = [Record::default(); 1];
    g.bench_function("floor: two TSC reads + 16-byte store", |b| {
        b.iter(|| {
            let start = clock::now();
            let end = clock::now();
            slot[0] = Record {
                start,
                duration: end.wrapping_sub(start) as u32,
                region: RegionId(1),
            };
            black_box(&mut slot);
        })
    });
    g.bench_function("std::time::Instant pair", |b| {
        b.iter(|| {
            let start = std::time::Instant::now();
            black_box(start.elapsed())
        })
    });

    g.bench_function("region! no session", |b| {
        b.iter(|| {
            let _g = region!("bench");
        })
    });
    {
        let _run = DrainedSession::start(true, false);
        g.bench_function("region! disabled (profiling_activated=false)", |b| {
            b.iter(|| {
                let _g = region!("bench");
            })
        });
    }
    {
        let _run = DrainedSession::start(false, true);
        g.bench_function("region! count-only (time_trace=false)", |b| {
            b.iter(|| {
                let _g = region!("bench");
            })
        });
    }
    {
        let _run = DrainedSession::start(true, true);
        g.bench_function("region! timed", |b| {
            b.iter(|| {
                let _g = region!("bench");
            })
        });
        g.bench_function("profile_region(name) timed", |b| {
            b.iter(|| {
                let _g = ProfileManager::profile_region("bench");
            })
        });
    }
    peers(&mut g);
    g.finish();
}

/// Discards fastrace's finished spans (the cost measured is recording them).
struct DiscardSpans;

impl fastrace::collector::Reporter for DiscardSpans {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        black_box(spans);
    }
}

/// Peers, in the same run: fastrace `LocalSpan` and puffin scopes, each
/// batched 100 per root span / frame (their intended use) and reported per span.
fn peers(g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    use fastrace::prelude::*;
    fastrace::set_reporter(DiscardSpans, fastrace::collector::Config::default());
    g.bench_function("fastrace LocalSpan (100 per root)", |b| {
        b.iter_custom(|iters| {
            let began = std::time::Instant::now();
            let mut left = iters;
            while left > 0 {
                let n = left.min(100);
                let root = Span::root("root", SpanContext::random());
                let _parent = root.set_local_parent();
                for _ in 0..n {
                    let _s = LocalSpan::enter_with_local_parent("bench");
                }
                left -= n;
            }
            began.elapsed()
        })
    });
    puffin::set_scopes_on(true);
    g.bench_function("puffin profile_scope! (100 per frame)", |b| {
        b.iter_custom(|iters| {
            let began = std::time::Instant::now();
            let mut left = iters;
            while left > 0 {
                let n = left.min(100);
                for _ in 0..n {
                    puffin::profile_scope!("bench");
                }
                puffin::GlobalProfiler::lock().new_frame();
                left -= n;
            }
            began.elapsed()
        })
    });
    puffin::set_scopes_on(false);
}

criterion_group!(benches, overhead);
criterion_main!(benches);
