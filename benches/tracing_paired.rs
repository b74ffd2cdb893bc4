//! What each layer adds to an `#[instrument]` call, measured with the
//! subscribers interleaved: every round times one block of calls through
//! each subscriber (in a rotating order) and one block of two-TSC floors,
//! and the added cost is the median over rounds of each round's difference
//! to the no-op layer. Drift on a shared machine (other tenants, frequency)
//! moves a whole round and cancels out; it does not between the separate
//! criterion measurements of `benches/tracing.rs`.
//!
//! Each round also times `region!` beside the floor: what recording costs
//! without `tracing`, under the same conditions.
//!
//! A second estimate uses only the fastest rounds: each row's 2nd-percentile
//! block time, less the reference row's, over the floor's. Other tenants'
//! interference only ever adds time, and on this VM it comes in states that
//! last seconds and stretch every tracing row for a whole run, which the
//! paired median cannot cancel; the fastest rounds are those it touched
//! least (the minimum-based estimator of Chen and Revels, "Robust
//! benchmarking in noisy environments", 2016). Both are printed.
//!
//! `cargo bench --bench tracing_paired -- [ROUNDS]` (default 300 rounds of
//! 10,000 calls per subscriber; a recording session runs throughout).

mod common;

use std::hint::black_box;
use std::time::Instant;

use common::layers::{
    instrumented, CallStartLayer, ClockAndRingLayer, ClockOnlyLayer, NoopLayer, NullSubscriber,
};
use common::DrainedSession;
use scope_profiler::{region, ScopeLayer, ScopeSubscriber};
use scope_profiler_core::clock;
use tracing::Dispatch;
use tracing_subscriber::prelude::*;

/// Calls per block.
const BLOCK: u32 = 10_000;
/// Names of the rows compared against each other.
const NOOP: &str = "registry + no-op layer";
const CLOCK_ONLY: &str = "registry + clock-only layer";
const CALL_START: &str = "registry + CallStart layer";
const SCOPE_LAYER: &str = "registry + ScopeLayer (recording)";
const NULL_SUBSCRIBER: &str = "do-nothing subscriber";
const SCOPE_SUBSCRIBER: &str = "ScopeSubscriber (recording)";

/// Nanoseconds per call of `body`, over one block.
fn per_call(mut body: impl FnMut()) -> f64 {
    let began = Instant::now();
    for _ in 0..BLOCK {
        body();
    }
    began.elapsed().as_nanos() as f64 / f64::from(BLOCK)
}

/// The `per_mille`/1000 quantile of `values`.
fn quantile(values: &[f64], per_mille: usize) -> f64 {
    let mut values = values.to_vec();
    values.sort_by(f64::total_cmp);
    values[values.len() * per_mille / 1000]
}

fn median(values: &[f64]) -> f64 {
    quantile(values, 500)
}

/// The fastest rounds' block time (see the module doc).
fn fastest(values: &[f64]) -> f64 {
    quantile(values, 20)
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(300)
        .max(1);
    let _run = DrainedSession::start(true, true);
    let subscribers = [
        (
            NOOP,
            Dispatch::new(tracing_subscriber::registry().with(NoopLayer)),
        ),
        (
            CLOCK_ONLY,
            Dispatch::new(tracing_subscriber::registry().with(ClockOnlyLayer)),
        ),
        (
            "registry + clock-and-ring layer",
            Dispatch::new(tracing_subscriber::registry().with(ClockAndRingLayer)),
        ),
        (
            CALL_START,
            Dispatch::new(tracing_subscriber::registry().with(CallStartLayer)),
        ),
        (
            SCOPE_LAYER,
            Dispatch::new(tracing_subscriber::registry().with(ScopeLayer::new())),
        ),
        (NULL_SUBSCRIBER, Dispatch::new(NullSubscriber)),
        (SCOPE_SUBSCRIBER, Dispatch::new(ScopeSubscriber::new())),
    ];
    let call = || {
        black_box(instrumented(black_box(1)));
    };
    // Warm-up: caches, the layer's per-thread tables, the ring.
    for (_, dispatch) in &subscribers {
        tracing::dispatcher::with_default(dispatch, || per_call(call));
    }
    let mut floor = Vec::with_capacity(rounds);
    let mut region_macro = Vec::with_capacity(rounds);
    let mut times = vec![Vec::with_capacity(rounds); subscribers.len()];
    for round in 0..rounds {
        floor.push(per_call(|| {
            black_box((clock::now(), clock::now()));
        }));
        region_macro.push(per_call(|| {
            let _g = region!("instrumented");
            black_box(1);
        }));
        for k in 0..subscribers.len() {
            let i = (round + k) % subscribers.len();
            let dispatch = &subscribers[i].1;
            times[i].push(tracing::dispatcher::with_default(dispatch, || {
                per_call(call)
            }));
        }
    }
    let region_over_floor = median(
        &region_macro
            .iter()
            .zip(&floor)
            .map(|(r, f)| r - f)
            .collect::<Vec<_>>(),
    );
    let floor_ns = median(&floor);
    let fastest_floor_ns = fastest(&floor);
    println!("{rounds} rounds of {BLOCK} calls per subscriber, order rotating");
    println!("floor: two TSC reads {floor_ns:.1} ns (fastest rounds {fastest_floor_ns:.1} ns)");
    println!(
        "region! (no tracing) adds {region_over_floor:.1} ns = {:.2}x floor over the floor itself",
        region_over_floor / floor_ns
    );
    let row = |name: &str| {
        subscribers
            .iter()
            .position(|(n, _)| *n == name)
            .expect("a row of the table")
    };
    // What row `i` adds over row `to`, in floors: median of the rounds'
    // differences, and from the fastest rounds.
    let added = |i: usize, to: &str| {
        let to = &times[row(to)];
        let paired: Vec<f64> = times[i].iter().zip(to).map(|(t, n)| t - n).collect();
        let paired = median(&paired);
        let fastest = fastest(&times[i]) - fastest(to);
        (paired, paired / floor_ns, fastest / fastest_floor_ns)
    };
    for (i, (name, _)) in subscribers.iter().enumerate() {
        let (ns, x, fastest_x) = added(i, NOOP);
        println!(
            "{name:36} {:7.1} ns per call, adds {ns:5.1} ns = {x:.2}x floor over the no-op layer (fastest rounds {fastest_x:.2}x)",
            median(&times[i]),
        );
    }
    let (ns, x, fastest_x) = added(row(SCOPE_SUBSCRIBER), NULL_SUBSCRIBER);
    println!(
        "ScopeSubscriber adds {ns:.1} ns = {x:.2}x floor over the do-nothing subscriber (fastest rounds {fastest_x:.2}x)"
    );
    println!(
        "ScopeLayer's bookkeeping (added over the clock-only layer): {:.1} ns, of which its span mapping and nesting (over the CallStart layer): {:.1} ns",
        added(row(SCOPE_LAYER), CLOCK_ONLY).0,
        added(row(SCOPE_LAYER), CALL_START).0
    );
}
