//! Programs written twice, with `#[instrument]` and with `region!`, and the
//! runs and helpers the tracing tests share.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use scope_profiler::{region, ProfileManager, Summary};
use tracing::instrument::WithSubscriber;
use tracing::{info_span, instrument, Instrument};

use super::setup_in_temp_dir;

/// Calls per region name.
pub fn counts(summary: &Summary) -> BTreeMap<String, u64> {
    summary
        .regions
        .iter()
        .map(|r| (r.name.clone(), r.stats.calls))
        .collect()
}

/// Asserts that `summary` has exactly the regions `expected`, with those
/// call counts.
#[track_caller]
pub fn assert_counts(summary: &Summary, expected: &[(&str, u64)]) {
    let expected: BTreeMap<String, u64> = expected
        .iter()
        .map(|(name, calls)| (name.to_string(), *calls))
        .collect();
    assert_eq!(counts(summary), expected);
}

/// Runs `body` under `subscriber` in a fresh profiling run; its summary.
pub fn run<R>(
    subscriber: impl tracing::Subscriber + Send + Sync + 'static,
    body: impl FnOnce() -> R,
) -> (Summary, R) {
    let _dir = setup_in_temp_dir(|c| c);
    let out = tracing::subscriber::with_default(subscriber, body);
    (ProfileManager::finalize().unwrap(), out)
}

#[instrument]
pub fn traced_leaf(i: u32) -> u32 {
    i * 2
}

#[instrument]
pub fn traced_parent(n: u32) -> u32 {
    (0..n).map(traced_leaf).sum()
}

#[instrument]
pub fn traced_recursive(depth: u32) -> u32 {
    if depth == 0 {
        0
    } else {
        1 + traced_recursive(depth - 1)
    }
}

pub fn plain_leaf(i: u32) -> u32 {
    let _g = region!("traced_leaf");
    i * 2
}

pub fn plain_parent(n: u32) -> u32 {
    let _g = region!("traced_parent");
    (0..n).map(plain_leaf).sum()
}

pub fn plain_recursive(depth: u32) -> u32 {
    let _g = region!("traced_recursive");
    if depth == 0 {
        0
    } else {
        1 + plain_recursive(depth - 1)
    }
}

/// Recursion depth of the shared program: past the 32 entered spans a
/// thread keeps inline, so the spill path runs too.
const DEEP: u32 = 40;

/// Runs one program written with `#[instrument]` under `subscriber` and
/// written with `region!`, and checks both give the same regions and counts.
pub fn assert_same_counts_as_region_macros(
    subscriber: impl tracing::Subscriber + Send + Sync + 'static,
) {
    let (traced, _) = run(subscriber, || {
        for _ in 0..20 {
            traced_parent(7);
        }
        traced_recursive(DEEP)
    });
    let (plain, _) = run(tracing_subscriber::registry(), || {
        for _ in 0..20 {
            plain_parent(7);
        }
        plain_recursive(DEEP)
    });
    assert_eq!(counts(&traced), counts(&plain));
    assert_eq!(counts(&traced)["traced_leaf"], 140);
    assert_eq!(counts(&traced)["traced_recursive"], u64::from(DEEP) + 1);
}

/// Runs `make` on a new thread under this thread's default subscriber and
/// returns what it made (spans, typically).
pub fn on_another_thread<R: Send + 'static>(make: impl FnOnce() -> R + Send + 'static) -> R {
    let dispatch = tracing::dispatcher::get_default(|d| d.clone());
    std::thread::spawn(move || tracing::dispatcher::with_default(&dispatch, make))
        .join()
        .unwrap()
}

/// Counts the polls of the future it wraps.
struct CountPolls<F> {
    inner: Pin<Box<F>>,
    polls: Arc<AtomicU64>,
}

impl<F: Future> Future for CountPolls<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, Ordering::Relaxed);
        self.inner.as_mut().poll(cx)
    }
}

/// A profiling run (1,024-record rings) in which 1,000 tasks on a 4-worker
/// tokio runtime, each a future under `.instrument(info_span!("task"))` that
/// yields three times, run under `dispatch`; its summary. With `polls`,
/// each instrumented future's polls are counted there.
pub fn run_thousand_tasks(dispatch: &tracing::Dispatch, polls: Option<&Arc<AtomicU64>>) -> Summary {
    let _dir = setup_in_temp_dir(|c| c.buffer_limit(1024));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    runtime.block_on(
        async {
            let tasks: Vec<_> = (0..1000u64)
                .map(|i| {
                    let task = async move {
                        for _ in 0..3 {
                            tokio::task::yield_now().await;
                        }
                        i
                    }
                    .instrument(info_span!("task"));
                    let task: Pin<Box<dyn Future<Output = u64> + Send>> = match polls {
                        Some(polls) => Box::pin(CountPolls {
                            inner: Box::pin(task),
                            polls: polls.clone(),
                        }),
                        None => Box::pin(task),
                    };
                    tokio::spawn(task.with_subscriber(dispatch.clone()))
                })
                .collect();
            for t in tasks {
                t.await.unwrap();
            }
        }
        .with_subscriber(dispatch.clone()),
    );
    drop(runtime);
    ProfileManager::finalize().unwrap()
}
