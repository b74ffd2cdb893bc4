//! `ScopeSubscriber`: the dedicated subscriber records the same regions and
//! counts as `region!` and as `ScopeLayer`, filtered, across threads and in
//! a multi-thread runtime.
#![cfg(not(feature = "off"))]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::traced::{
    assert_counts, assert_same_counts_as_region_macros, on_another_thread, run, run_thousand_tasks,
};
use common::{config_in, serial, setup_run};
use scope_profiler::{ProfileManager, ScopeSubscriber};
use tracing::info_span;

#[test]
fn instrumented_functions_give_the_same_regions_as_region_macros() {
    let _s = serial();
    assert_same_counts_as_region_macros(ScopeSubscriber::new());
}

#[test]
fn the_filter_keeps_only_its_spans_and_events_are_harmless() {
    let _s = serial();
    let subscriber = ScopeSubscriber::new()
        .with_target(true)
        .with_filter("solver=debug".parse().unwrap());
    let (summary, _) = run(subscriber, || {
        for _ in 0..5 {
            let _kept = info_span!(target: "solver", "assemble").entered();
            let _too_verbose = tracing::trace_span!(target: "solver", "inner").entered();
            let _other = info_span!(target: "io", "write").entered();
            tracing::info!(target: "solver", "an event is not a region");
        }
        // Not tracked: the current span is unknown, and that is harmless.
        assert!(tracing::Span::current().is_none());
    });
    assert_counts(&summary, &[("solver::assemble", 5)]);
}

#[test]
fn exits_out_of_order_are_matched_by_span_id() {
    let run = setup_run(|c| c);
    tracing::subscriber::with_default(ScopeSubscriber::new(), || {
        // Two spans of one callsite: only their serials tell them apart.
        let spans: Vec<_> = ["first", "second"]
            .iter()
            .map(|which| info_span!("span", which))
            .collect();
        let first = spans[0].enter();
        let second = spans[1].enter();
        drop(first); // exits the first while the second is still entered
        std::hint::black_box((0..1000).sum::<u64>());
        drop(second);
    });
    let summary = ProfileManager::finalize().unwrap();
    assert_counts(&summary, &[("span", 2)]);
    // Each exit closed its own enter: the call that started first ended
    // first, so the two calls are not nested.
    let data = scope_profiler::read_profile(&run.path).unwrap();
    let calls = &data.region("span").unwrap().per_rank[&0];
    assert!(calls.starts[0] <= calls.starts[1], "{calls:?}");
    assert!(calls.ends[0] <= calls.ends[1], "{calls:?}");
}

#[test]
fn spans_entered_before_setup_record_nothing_and_spans_made_before_record_later() {
    let _s = serial();
    let subscriber = Arc::new(ScopeSubscriber::new());
    let (early, still_open) = tracing::subscriber::with_default(subscriber.clone(), || {
        let _before = info_span!("before setup").entered();
        let open = info_span!("entered before setup");
        let guard = open.clone().entered();
        (info_span!("made early"), guard)
    });
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = config_in(&dir);
    ProfileManager::setup(config).unwrap();
    tracing::subscriber::with_default(subscriber, || {
        drop(still_open); // its enter took no clock reading: no call
        let _g = early.enter();
    });
    let summary = ProfileManager::finalize().unwrap();
    assert_counts(&summary, &[("made early", 1)]);
}

#[test]
fn spans_made_on_one_thread_keep_their_names_on_another() {
    let _s = serial();
    let (summary, _) = run(ScopeSubscriber::new(), || {
        let spans = on_another_thread(|| {
            (0..30)
                .map(|i| match i % 3 {
                    0 => info_span!("a"),
                    1 => info_span!("b"),
                    _ => info_span!("c"),
                })
                .collect::<Vec<_>>()
        });
        for span in &spans {
            let _g = span.enter();
        }
    });
    assert_counts(&summary, &[("a", 10), ("b", 10), ("c", 10)]);
}

#[test]
fn a_thousand_concurrent_tokio_tasks_lose_no_records() {
    let _s = serial();
    let polls = Arc::new(AtomicU64::new(0));
    let dispatch = tracing::Dispatch::new(ScopeSubscriber::new());
    // Each poll of the instrumented future is one enter/exit.
    let summary = run_thousand_tasks(&dispatch, Some(&polls));
    // One call per poll, and one more per task: `Instrumented` enters its
    // span to drop the future it wraps.
    assert_eq!(
        summary.region("task").unwrap().stats.calls,
        polls.load(Ordering::Relaxed) + 1000
    );
    assert!(polls.load(Ordering::Relaxed) >= 4000);
    assert_eq!(summary.dropped_events, 0);
}

#[test]
fn spans_of_one_callsite_made_on_different_threads_have_different_ids() {
    tracing::subscriber::with_default(ScopeSubscriber::new(), || {
        let make = || on_another_thread(|| info_span!("same callsite"));
        let (a, b) = (make(), make());
        let (id_a, id_b) = (a.id().unwrap(), b.id().unwrap());
        assert_ne!(id_a, id_b);
    });
}
