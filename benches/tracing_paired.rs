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
//! `cargo bench --bench tracing_paired -- [ROUNDS]` (default 300 rounds of
//! 10,000 calls per subscriber; a recording session runs throughout).

mod common;

use std::hint::black_box;
use std::time::Instant;

use common::layers::{
    instrumented, CallStartLayer, ClockAndRingLayer, ClockOnlyLayer, NoopLayer, NullSubscriber,
};
use common::DrainedSession;
use scope_profiler::core::clock;
use scope_profiler::{region, ScopeLayer, ScopeSubscriber};
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

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
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
        region_macro
            .iter()
            .zip(&floor)
            .map(|(r, f)| r - f)
            .collect(),
    );
    let floor_ns = median(floor);
    println!("{rounds} rounds of {BLOCK} calls per subscriber, order rotating");
    println!("floor: two TSC reads {floor_ns:.1} ns");
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
    let added = |i: usize, to: &str| {
        median(
            times[i]
                .iter()
                .zip(&times[row(to)])
                .map(|(t, n)| t - n)
                .collect(),
        )
    };
    for (i, (name, _)) in subscribers.iter().enumerate() {
        println!(
            "{name:36} {:7.1} ns per call, adds {:5.1} ns = {:.2}x floor over the no-op layer",
            median(times[i].clone()),
            added(i, NOOP),
            added(i, NOOP) / floor_ns
        );
    }
    println!(
        "ScopeSubscriber adds {:.1} ns = {:.2}x floor over the do-nothing subscriber",
        added(row(SCOPE_SUBSCRIBER), NULL_SUBSCRIBER),
        added(row(SCOPE_SUBSCRIBER), NULL_SUBSCRIBER) / floor_ns
    );
    println!(
        "ScopeLayer's bookkeeping (added over the clock-only layer): {:.1} ns, of which its span mapping and nesting (over the CallStart layer): {:.1} ns",
        added(row(SCOPE_LAYER), CLOCK_ONLY),
        added(row(SCOPE_LAYER), CALL_START)
    );
}
