//! The instrumented function and reference layers the tracing benches share.

use std::cell::{Cell, RefCell};
use std::hint::black_box;

use scope_profiler_core::CallStart;
use scope_profiler_core::RegionId;
use tracing::span::Id;
use tracing_subscriber::layer::Context;

/// The function every tracing bench calls.
#[tracing::instrument]
pub fn instrumented(x: u64) -> u64 {
    black_box(x)
}

/// A layer that does nothing: the cost of `registry()` itself.
pub struct NoopLayer;
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for NoopLayer {}

thread_local! {
    static ENTERED_AT: Cell<u64> = const { Cell::new(0) };
}

/// The least a layer that times spans can do: read the clock in `on_enter`
/// and again in `on_exit`, keeping nothing but the last start.
pub struct ClockOnlyLayer;
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ClockOnlyLayer {
    fn on_enter(&self, _: &Id, _: Context<'_, S>) {
        ENTERED_AT.with(|t| t.set(scope_profiler_core::clock::now()));
    }
    fn on_exit(&self, _: &Id, _: Context<'_, S>) {
        ENTERED_AT.with(|t| black_box(scope_profiler_core::clock::now().wrapping_sub(t.get())));
    }
}

/// A subscriber that enables every span and does nothing with it: the cost
/// of `tracing` itself (span construction, dispatch, the guard).
pub struct NullSubscriber;
impl tracing::Subscriber for NullSubscriber {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &tracing::Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

/// Records of [`ClockAndRingLayer`] per thread: an `rtrb` ring (the crate
/// our rings use), emptied in place when full.
type LocalRing = (rtrb::Producer<[u64; 2]>, rtrb::Consumer<[u64; 2]>);

thread_local! {
    static RING: RefCell<Option<LocalRing>> = const { RefCell::new(None) };
}

/// The least a recording layer can do: read the clock in `on_enter` and
/// `on_exit` and push a 16-byte record into a thread-local `rtrb` ring,
/// with no span → region mapping, no nesting and no session checks.
pub struct ClockAndRingLayer;
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for ClockAndRingLayer {
    fn on_enter(&self, _: &Id, _: Context<'_, S>) {
        ENTERED_AT.with(|t| t.set(scope_profiler_core::clock::now()));
    }
    fn on_exit(&self, _: &Id, _: Context<'_, S>) {
        let end = scope_profiler_core::clock::now();
        let start = ENTERED_AT.with(Cell::get);
        RING.with(|ring| {
            let mut ring = ring.borrow_mut();
            let (producer, consumer) = ring.get_or_insert_with(|| rtrb::RingBuffer::new(1 << 16));
            if producer
                .push([start, end.wrapping_sub(start) << 32 | 7])
                .is_err()
            {
                while consumer.pop().is_ok() {}
            }
        });
    }
}

thread_local! {
    static CALL: Cell<Option<CallStart>> = const { Cell::new(None) };
}

/// [`ClockAndRingLayer`] through core's recording path: a [`CallStart`] in
/// `on_enter`, [`CallStart::finish`] into the session's ring in `on_exit`,
/// with no span → region mapping and no nesting. Between this row and
/// `ScopeLayer` is what the layer's own bookkeeping costs; between this
/// row and the clock-and-ring one is core's path.
pub struct CallStartLayer;
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CallStartLayer {
    fn on_enter(&self, _: &Id, _: Context<'_, S>) {
        CALL.with(|call| call.set(CallStart::now()));
    }
    fn on_exit(&self, _: &Id, _: Context<'_, S>) {
        if let Some(call) = CALL.with(Cell::take) {
            call.finish(RegionId(0));
        }
    }
}
