//! [`ScopeSubscriber`]: a `tracing` subscriber that only profiles.

use std::cell::RefCell;
use std::num::NonZeroU64;
use std::sync::atomic::{AtomicU32, Ordering};

use scope_profiler_core::{CallStart, RegionId};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::subscriber::Interest;
use tracing_core::{Event, Metadata, Subscriber};
use tracing_subscriber::filter::Targets;

use crate::callsites::{CallsiteRegions, Naming};
use crate::local::{with_local, EnteredStack};

/// A `tracing` subscriber that records spans as regions and does nothing
/// else: `#[instrument]` functions at close to [`region!`] cost.
///
/// Use it instead of `registry().with(ScopeLayer::new())` when profiling is
/// all the subscriber is for. It keeps no per-span data: a span's id carries
/// its region, so entering a span is one clock read and one push onto the
/// thread's stack of entered spans, and exiting it is the other clock read
/// and one ring write. What it does not do, and [`ScopeLayer`] does:
/// compose with other layers (`fmt`, `EnvFilter`), lifetime mode, and
/// `Span::current()` (it reports that it does not track the current span).
/// Events are disabled at their callsites, so `info!` and friends cost
/// what a disabled event costs.
///
/// Each enter → exit on a thread is one call, as in [`SpanMode::OnCpu`];
/// exits are matched to enters by span id; before
/// `ProfileManager::setup` and after `finalize`, entering a span is one
/// load. Spans of one region are told apart by a 32-bit serial that threads
/// take from a shared counter in blocks, so ids are unique among live spans
/// until one region has made 2^32 spans.
///
/// ```
/// use scope_profiler_subscriber::ScopeSubscriber;
///
/// tracing::subscriber::with_default(ScopeSubscriber::new(), || {
///     let _span = tracing::info_span!("solve").entered();
/// });
/// ```
///
/// [`region!`]: https://docs.rs/scope-profiler/latest/scope_profiler/macro.region.html
/// [`ScopeLayer`]: crate::ScopeLayer
/// [`SpanMode::OnCpu`]: crate::SpanMode::OnCpu
#[derive(Clone, Debug, Default)]
pub struct ScopeSubscriber {
    with_target: bool,
    filter: Option<Targets>,
}

/// The id of every span this subscriber cannot name (made from inside one
/// of its own callbacks, while its thread state is borrowed). Its upper
/// half is 0, which no recorded span's is.
const UNRECORDED: u64 = 1;

/// Serials a thread takes from [`NEXT_SERIALS`] at a time.
const SERIAL_BLOCK: u32 = 1 << 16;

/// The first serial no thread has taken yet.
static NEXT_SERIALS: AtomicU32 = AtomicU32::new(0);

/// A span's id: its on-CPU region plus one in the upper half, its serial in
/// the lower.
#[inline(always)]
fn span_id(region: RegionId, serial: u32) -> Id {
    let id = (u64::from(region.0) + 1) << 32 | u64::from(serial);
    // Never 0: the upper half is at least 1.
    Id::from_non_zero_u64(NonZeroU64::new(id).unwrap_or(NonZeroU64::MIN))
}

/// The region of a span id made by [`span_id`]; `None` for [`UNRECORDED`].
fn region_of(id: u64) -> Option<RegionId> {
    match id >> 32 {
        0 => None,
        region => Some(RegionId(region as u32 - 1)),
    }
}

/// What the subscriber keeps per thread: fixed size with no destructor, so
/// reaching it is cheap (see `local`), and 0.8 KB in every thread of the
/// process; the assertions below keep it so.
struct ThreadState {
    callsites: CallsiteRegions,
    /// The next serial this thread hands out, and the end of its block.
    serial: u32,
    serial_end: u32,
    /// Spans entered on this thread while recording, not yet exited.
    entered: EnteredStack<CallStart>,
}

impl ThreadState {
    /// A serial for a new span.
    #[inline(always)]
    fn next_serial(&mut self) -> u32 {
        if self.serial == self.serial_end {
            self.take_serials();
        }
        let serial = self.serial;
        self.serial = serial.wrapping_add(1);
        serial
    }

    #[cold]
    fn take_serials(&mut self) {
        self.serial = NEXT_SERIALS.fetch_add(SERIAL_BLOCK, Ordering::Relaxed);
        self.serial_end = self.serial.wrapping_add(SERIAL_BLOCK);
    }
}

thread_local! {
    static THREAD_STATE: RefCell<ThreadState> = const {
        RefCell::new(ThreadState {
            callsites: CallsiteRegions::new(),
            serial: 0,
            serial_end: 0,
            entered: EnteredStack::new(CallStart::inactive(), &ENTERED_SPILL),
        })
    };
    /// `ThreadState::entered` past its inline entries.
    static ENTERED_SPILL: RefCell<Vec<(u64, CallStart)>> = const { RefCell::new(Vec::new()) };
}

const _: () = assert!(!std::mem::needs_drop::<ThreadState>());
const _: () = assert!(std::mem::size_of::<RefCell<ThreadState>>() <= 1024);

impl ScopeSubscriber {
    /// A subscriber with region name = span name, recording every span.
    pub fn new() -> Self {
        ScopeSubscriber::default()
    }

    /// Names regions `target::name` instead of `name`.
    pub fn with_target(mut self, on: bool) -> Self {
        self.with_target = on;
        self
    }

    /// Records only the spans `filter` enables (for example
    /// `"my_crate=debug".parse::<Targets>()`); the others are disabled at
    /// their callsites and cost what a disabled span costs.
    pub fn with_filter(mut self, filter: Targets) -> Self {
        self.filter = Some(filter);
        self
    }

    fn records(&self, metadata: &Metadata<'_>) -> bool {
        metadata.is_span()
            && self
                .filter
                .as_ref()
                .is_none_or(|f| f.would_enable(metadata.target(), metadata.level()))
    }
}

impl Subscriber for ScopeSubscriber {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        if self.records(metadata) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.records(metadata)
    }

    #[inline(always)]
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let naming = Naming {
            with_target: self.with_target,
            separate_lifetimes: false,
        };
        with_local(&THREAD_STATE, |state| {
            let regions = state.callsites.get(span.metadata(), naming);
            span_id(regions.on_cpu, state.next_serial())
        })
        .unwrap_or_else(|| Id::from_u64(UNRECORDED))
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, _: &Event<'_>) {}

    #[inline(always)]
    fn enter(&self, span: &Id) {
        let id = span.into_u64();
        if region_of(id).is_none() {
            return;
        }
        if let Some(start) = CallStart::now() {
            with_local(&THREAD_STATE, |state| state.entered.push(id, start));
        }
    }

    #[inline(always)]
    fn exit(&self, span: &Id) {
        let id = span.into_u64();
        let Some(region) = region_of(id) else { return };
        if let Some(Some(start)) = with_local(&THREAD_STATE, |state| state.entered.take(id)) {
            start.finish(region);
        }
    }
}
