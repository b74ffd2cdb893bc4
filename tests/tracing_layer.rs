//! `ScopeLayer`: tracing spans become regions with the same names and counts
//! as the equivalent `region!` program, in any runtime, filtered or not.
#![cfg(not(feature = "off"))]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::traced::{
    assert_counts, assert_same_counts_as_region_macros, on_another_thread, run, run_thousand_tasks,
};
use common::{config_in, serial, setup_run};
use scope_profiler::{ProfileManager, ScopeLayer, SpanMode};
use tracing::info_span;
use tracing_subscriber::prelude::*;

#[test]
fn instrumented_functions_give_the_same_regions_as_region_macros() {
    let _s = serial();
    assert_same_counts_as_region_macros(tracing_subscriber::registry().with(ScopeLayer::new()));
}

#[test]
fn filtered_out_spans_never_appear() {
    let _s = serial();
    let filter = tracing_subscriber::EnvFilter::new("info");
    let subscriber = tracing_subscriber::registry().with(ScopeLayer::new().with_filter(filter));
    let (summary, _) = run(subscriber, || {
        for _ in 0..5 {
            let _kept = info_span!("kept").entered();
            let _dropped = tracing::trace_span!("too verbose").entered();
        }
    });
    assert_counts(&summary, &[("kept", 5)]);
}

#[test]
fn target_names_and_fmt_layers_compose() {
    let _s = serial();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink))
        .with(ScopeLayer::new().with_target(true));
    let (summary, _) = run(subscriber, || {
        let _span = info_span!(target: "solver", "assemble").entered();
    });
    assert_counts(&summary, &[("solver::assemble", 1)]);
}

#[test]
fn two_scope_layers_naming_differently_each_record_every_call() {
    let _s = serial();
    let subscriber = tracing_subscriber::registry()
        .with(ScopeLayer::new())
        .with(ScopeLayer::new().with_target(true));
    let (summary, _) = run(subscriber, || {
        for _ in 0..50 {
            let _outer = info_span!(target: "solver", "step").entered();
            let _inner = info_span!(target: "solver", "assemble").entered();
        }
    });
    assert_counts(
        &summary,
        &[
            ("assemble", 50),
            ("solver::assemble", 50),
            ("solver::step", 50),
            ("step", 50),
        ],
    );
}

#[test]
fn two_lifetime_layers_in_one_subscriber_each_record_every_span() {
    let _s = serial();
    let subscriber = tracing_subscriber::registry()
        .with(ScopeLayer::new().mode(SpanMode::Lifetime))
        .with(ScopeLayer::new().mode(SpanMode::Both).with_target(true));
    let (summary, _) = run(subscriber, || {
        for _ in 0..30 {
            let _request = info_span!(target: "web", "request").entered();
        }
    });
    assert_counts(
        &summary,
        &[
            ("request", 30),
            ("web::request", 30),
            ("web::request [lifetime]", 30),
        ],
    );
}

#[test]
fn exits_out_of_order_are_matched_by_span_id() {
    let run = setup_run(|c| c);
    tracing::subscriber::with_default(
        tracing_subscriber::registry().with(ScopeLayer::new()),
        || {
            let a = info_span!("first");
            let b = info_span!("second");
            let ga = a.enter();
            let gb = b.enter();
            drop(ga); // exits "first" while "second" is still entered
            std::hint::black_box((0..1000).sum::<u64>());
            drop(gb);
        },
    );
    let summary = ProfileManager::finalize().unwrap();
    assert_counts(&summary, &[("first", 1), ("second", 1)]);
    // Each exit closed its own span: "first" started first and ended first.
    let data = scope_profiler::read_profile(&run.path).unwrap();
    let first = &data.region("first").unwrap().per_rank[&0];
    let second = &data.region("second").unwrap().per_rank[&0];
    assert!(first.starts[0] <= second.starts[0], "{first:?} {second:?}");
    assert!(first.ends[0] <= second.ends[0], "{first:?} {second:?}");
}

#[test]
fn spans_before_setup_record_nothing_and_do_not_break_later_runs() {
    let _s = serial();
    let subscriber = Arc::new(tracing_subscriber::registry().with(ScopeLayer::new()));
    let sub = subscriber.clone();
    // No run: spans cost a layer call and record nothing.
    tracing::subscriber::with_default(sub.clone(), || {
        let _early = info_span!("before setup").entered();
    });
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = config_in(&dir);
    ProfileManager::setup(config).unwrap();
    // Created before setup, entered after: recorded from the enter.
    let early = tracing::subscriber::with_default(sub.clone(), || info_span!("made early"));
    tracing::subscriber::with_default(sub, || {
        let _g = early.enter();
    });
    let summary = ProfileManager::finalize().unwrap();
    assert_counts(&summary, &[("made early", 1)]);
}

#[test]
fn spans_made_while_paused_keep_their_own_names_after_resume() {
    let _s = serial();
    let subscriber = tracing_subscriber::registry().with(ScopeLayer::new());
    let (summary, _) = run(subscriber, || {
        // Fill this thread's table of recent spans, then make spans it
        // never sees (recording off) and enter them once recording is on.
        for _ in 0..100 {
            let _g = info_span!("while on").entered();
        }
        ProfileManager::set_active(false).unwrap();
        let unseen: Vec<_> = (0..20).map(|_| info_span!("made while off")).collect();
        ProfileManager::set_active(true).unwrap();
        for span in &unseen {
            let _g = span.enter();
        }
        for _ in 0..100 {
            let _g = info_span!("while on").entered();
        }
    });
    assert_counts(&summary, &[("made while off", 20), ("while on", 200)]);
}

#[test]
fn reused_span_slots_and_spans_from_other_threads_keep_their_names() {
    let _s = serial();
    let subscriber = tracing_subscriber::registry().with(ScopeLayer::new());
    let (summary, _) = run(subscriber, || {
        // The registry hands a closed span's slot to the next span: "a"
        // and "b" take turns in the same slots, so a span table keyed by
        // anything less than the full id (or trusting a closed span's
        // entry) would credit calls to the wrong name.
        for i in 0..1000 {
            let _g = if i % 2 == 0 {
                info_span!("a").entered()
            } else {
                info_span!("b").entered()
            };
        }
        // Spans created on another thread are entered here: their ids
        // were never noted by this thread.
        let foreign: Vec<tracing::Span> =
            on_another_thread(|| (0..40).map(|_| info_span!("made elsewhere")).collect());
        for span in &foreign {
            let _g = span.enter();
            let _inner = info_span!("a").entered();
        }
    });
    assert_counts(&summary, &[("a", 540), ("b", 500), ("made elsewhere", 40)]);
}

#[test]
fn a_span_created_on_one_thread_and_closed_on_another_is_one_lifetime_call() {
    let _s = serial();
    let subscriber = tracing_subscriber::registry().with(ScopeLayer::new().mode(SpanMode::Both));
    let (summary, _) = run(subscriber, || {
        let span = info_span!("request");
        let dispatch = tracing::dispatcher::get_default(|d| d.clone());
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                span.in_scope(|| std::hint::black_box(1));
                drop(span); // closes on this thread
            })
        })
        .join()
        .unwrap();
    });
    assert_counts(&summary, &[("request", 1), ("request [lifetime]", 1)]);
    let life = summary.region("request [lifetime]").unwrap().stats;
    let cpu = summary.region("request").unwrap().stats;
    assert!(life.total_ns >= cpu.total_ns);
}

/// Counts `on_enter` calls for spans named "task": the number of polls.
struct PollCounter(Arc<AtomicU64>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PollCounter
where
    S: for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_enter(&self, id: &tracing::span::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        if ctx.span(id).is_some_and(|s| s.name() == "task") {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[test]
fn a_thousand_concurrent_tokio_tasks_lose_no_records() {
    let _s = serial();
    let polls = Arc::new(AtomicU64::new(0));
    let subscriber = tracing_subscriber::registry()
        .with(ScopeLayer::new().mode(SpanMode::Both))
        .with(PollCounter(polls.clone()));
    let summary = run_thousand_tasks(&tracing::Dispatch::new(subscriber), None);
    assert_eq!(summary.region("task [lifetime]").unwrap().stats.calls, 1000);
    // One on-CPU call per poll, as counted by an independent layer.
    assert_eq!(
        summary.region("task").unwrap().stats.calls,
        polls.load(Ordering::Relaxed)
    );
    assert!(polls.load(Ordering::Relaxed) >= 4000);
    assert_eq!(summary.dropped_events, 0);
}
