//! `#[tracing::instrument]` function calls through `registry()` with
//! `ScopeLayer`, beside the same with a no-op layer and with
//! `tracing-chrome`, a layer that only reads the clock twice, and the
//! two-TSC floor; and through `ScopeSubscriber` beside a subscriber that
//! does nothing; in one run.
//!
//! `cargo bench --bench tracing`. Each line is measured after the one
//! before, so on a shared machine drift between them shows up in their
//! differences; `benches/tracing_paired.rs` measures the differences with
//! the layers interleaved.

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::layers::{instrumented, ClockOnlyLayer, NoopLayer, NullSubscriber};
use common::DrainedSession;
use criterion::{criterion_group, criterion_main, Criterion};
use scope_profiler::{ScopeLayer, ScopeSubscriber};
use scope_profiler_core::clock;
use tracing_subscriber::prelude::*;

fn tracing_overhead(c: &mut Criterion) {
    let mut g = c.benchmark_group("instrumented fn call");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));

    g.bench_function("floor: two TSC reads", |b| {
        b.iter(|| black_box((clock::now(), clock::now())))
    });
    tracing::subscriber::with_default(tracing_subscriber::registry().with(NoopLayer), || {
        g.bench_function("registry + no-op layer", |b| {
            b.iter(|| instrumented(black_box(1)))
        });
    });
    tracing::subscriber::with_default(tracing_subscriber::registry().with(ClockOnlyLayer), || {
        g.bench_function("registry + clock-only layer", |b| {
            b.iter(|| instrumented(black_box(1)))
        });
    });
    {
        let _run = DrainedSession::start(true, true);
        tracing::subscriber::with_default(
            tracing_subscriber::registry().with(ScopeLayer::new()),
            || {
                g.bench_function("registry + ScopeLayer (recording)", |b| {
                    b.iter(|| instrumented(black_box(1)))
                });
            },
        );
    }
    tracing::subscriber::with_default(
        tracing_subscriber::registry().with(ScopeLayer::new()),
        || {
            g.bench_function("registry + ScopeLayer (no run set up)", |b| {
                b.iter(|| instrumented(black_box(1)))
            });
        },
    );
    let (chrome, flush) = tracing_chrome::ChromeLayerBuilder::new()
        .writer(std::io::sink())
        .include_args(false)
        .build();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(chrome), || {
        g.bench_function("registry + tracing-chrome", |b| {
            b.iter(|| instrumented(black_box(1)))
        });
    });
    drop(flush);
    tracing::subscriber::with_default(NullSubscriber, || {
        g.bench_function("do-nothing subscriber", |b| {
            b.iter(|| instrumented(black_box(1)))
        });
    });
    {
        let _run = DrainedSession::start(true, true);
        tracing::subscriber::with_default(ScopeSubscriber::new(), || {
            g.bench_function("ScopeSubscriber (recording)", |b| {
                b.iter(|| instrumented(black_box(1)))
            });
        });
    }
    tracing::subscriber::with_default(ScopeSubscriber::new(), || {
        g.bench_function("ScopeSubscriber (no run set up)", |b| {
            b.iter(|| instrumented(black_box(1)))
        });
    });
    g.finish();
}

criterion_group!(benches, tracing_overhead);
criterion_main!(benches);
