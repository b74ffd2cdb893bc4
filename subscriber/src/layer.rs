//! [`ScopeLayer`]: a `tracing_subscriber::Layer` over the registry.
//!
//! What the layer uses of `tracing`, and when:
//! - `on_new_span` / `on_enter`: a span's region id comes from a per-thread
//!   map keyed by the callsite's `&'static Metadata` pointer, filled on the
//!   thread's first span of that callsite; no string is hashed and no lock is
//!   taken. `on_new_span` also notes the new span's region in a small
//!   per-thread table by span id, so entering a span created on the same
//!   thread (every `#[instrument]` call) needs no registry look-up; spans
//!   from other threads are looked up. On-CPU mode stores nothing in the
//!   span's extensions.
//! - `on_enter` / `on_exit` ([`SpanMode::OnCpu`], the default): each
//!   enter/exit pair on a thread is one call (on-CPU time). A future polled
//!   many times under `.instrument(span)` gives one call per poll. Exits are
//!   matched to enters by span id, so out-of-order exits are fine; an exit
//!   with no enter on this thread (entered before setup, or on another
//!   thread) records nothing.
//! - `on_new_span` / `on_close` ([`SpanMode::Lifetime`]): creation to close is
//!   one call, whichever threads create and close the span (the call is
//!   written by the closing thread), so a request's wall time is visible.
//!
//! Before `ProfileManager::setup` (and after `finalize`) nothing is recorded:
//! `on_new_span` and `on_enter` return after one load, `on_exit` after
//! looking at this thread's (then empty) stack of entered spans; in on-CPU
//! mode `on_close` does nothing at all.

use std::cell::RefCell;

use scope_profiler_core::{session, CallStart, RegionId};
use tracing_core::span::{Attributes, Id};
use tracing_core::{Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

use crate::callsites::{CallsiteRegions, Naming, SpanRegions};
use crate::local::{with_local, EnteredStack};
use crate::SpanMode;

/// A `tracing_subscriber::Layer` recording spans as scope-profiler regions.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScopeLayer {
    mode: SpanMode,
    with_target: bool,
}

/// Stored in a span's extensions at creation, in the lifetime modes only.
///
/// One entry per lifetime-tracking `ScopeLayer` in the subscriber: nearly
/// always one (`first`, no allocation beyond the extension's); each layer's
/// close takes one entry, so with several every region still gets its call.
struct Lifetimes {
    first: (RegionId, CallStart),
    more: Vec<(RegionId, CallStart)>,
}

/// Slots of the per-thread cache of recently created spans.
const RECENT_SPANS: usize = 16;

/// A span created on this thread while recording, and its on-CPU region.
#[derive(Clone, Copy)]
struct RecentSpan {
    /// `Id::into_u64`; 0 (never a span id) marks an empty slot.
    id: u64,
    region: RegionId,
    /// [`RecentSpan::tag`] of the activation and naming it was stored under.
    tag: u32,
}

impl RecentSpan {
    const EMPTY: RecentSpan = RecentSpan {
        id: 0,
        region: RegionId(0),
        tag: 0,
    };

    /// [`Recording::activation`](session::Recording::activation) and the
    /// storing layer's `with_target` in one word: two `ScopeLayer`s in one
    /// subscriber that name regions differently do not share entries.
    fn tag(activation: u32, with_target: bool) -> u32 {
        activation << 1 | u32::from(with_target)
    }
}

/// What the layer keeps per thread, in one thread-local so a callback pays
/// for one thread-local access; fixed size with no destructor (see
/// `local`): 1.3 KB in every thread of the process, which the assertions
/// below keep true.
struct ThreadSpans {
    /// Region ids per callsite.
    callsites: CallsiteRegions,
    /// Spans this thread created, by id (direct-mapped): `on_enter` of a
    /// span created on the same thread (every `#[instrument]` call) finds
    /// its region here instead of looking the span up in the registry.
    recent: [RecentSpan; RECENT_SPANS],
    /// Spans entered on this thread and not yet exited.
    entered: EnteredStack<(RegionId, CallStart)>,
}

impl ThreadSpans {
    fn slot(id: u64) -> usize {
        id as usize % RECENT_SPANS
    }

    /// The on-CPU region of span `id` if this thread created it during the
    /// current activation.
    ///
    /// Sound with tracing-subscriber's `Registry` without forgetting spans
    /// at close: an id is handed out again only after its span closed, and
    /// only to a span created on the same thread (each thread allocates from
    /// its own slab shard; a new thread that inherits a shard starts with an
    /// empty table). That new span's `on_new_span` overwrites the slot while
    /// recording; one created while recording was off cannot match, since
    /// the activation count changes before recording resumes. A span this
    /// layer is filtered out of is never entered here either.
    fn recent(&self, id: &Id, tag: u32) -> Option<RegionId> {
        let id = id.into_u64();
        let hit = self.recent[Self::slot(id)];
        (hit.id == id && hit.tag == tag).then_some(hit.region)
    }

    fn remember(&mut self, id: &Id, region: RegionId, tag: u32) {
        let id = id.into_u64();
        self.recent[Self::slot(id)] = RecentSpan { id, region, tag };
    }
}

thread_local! {
    static THREAD_SPANS: RefCell<ThreadSpans> = const {
        RefCell::new(ThreadSpans {
            callsites: CallsiteRegions::new(),
            recent: [RecentSpan::EMPTY; RECENT_SPANS],
            entered: EnteredStack::new((RegionId(0), CallStart::inactive()), &ENTERED_SPILL),
        })
    };
    /// `ThreadSpans::entered` past its inline entries.
    static ENTERED_SPILL: RefCell<Vec<(u64, (RegionId, CallStart))>> =
        const { RefCell::new(Vec::new()) };
}

const _: () = assert!(!std::mem::needs_drop::<ThreadSpans>());
const _: () = assert!(std::mem::size_of::<RefCell<ThreadSpans>>() <= 1536);

impl ScopeLayer {
    /// A layer with region name = span name, on-CPU mode.
    pub fn new() -> Self {
        ScopeLayer::default()
    }

    /// Chooses which interval of a span is a call.
    pub fn mode(mut self, mode: SpanMode) -> Self {
        self.mode = mode;
        self
    }

    /// Names regions `target::name` instead of `name`.
    pub fn with_target(mut self, on: bool) -> Self {
        self.with_target = on;
        self
    }

    fn naming(&self) -> Naming {
        Naming {
            with_target: self.with_target,
            separate_lifetimes: self.mode == SpanMode::Both,
        }
    }

    #[inline(always)]
    fn regions_for(
        &self,
        spans: &mut ThreadSpans,
        metadata: &'static Metadata<'static>,
    ) -> SpanRegions {
        spans.callsites.get(metadata, self.naming())
    }

    /// The on-CPU region of a span this thread did not note at creation,
    /// from the registry: out of line, so `on_enter` stays small.
    #[inline(never)]
    fn foreign_span_region<S>(
        &self,
        spans: &mut ThreadSpans,
        id: &Id,
        ctx: Context<'_, S>,
    ) -> Option<RegionId>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let metadata = ctx.metadata(id)?;
        Some(self.regions_for(spans, metadata).on_cpu)
    }

    /// Stores the start of span `id`'s lifetime call in its extensions.
    #[inline(never)]
    fn start_lifetime<S>(region: RegionId, id: &Id, ctx: Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let (Some(span), Some(created)) = (ctx.span(id), CallStart::now()) else {
            return;
        };
        let mut extensions = span.extensions_mut();
        match extensions.get_mut::<Lifetimes>() {
            Some(lifetimes) => lifetimes.more.push((region, created)),
            None => extensions.insert(Lifetimes {
                first: (region, created),
                more: Vec::new(),
            }),
        }
    }

    fn tracks_on_cpu(&self) -> bool {
        self.mode != SpanMode::Lifetime
    }

    fn tracks_lifetime(&self) -> bool {
        self.mode != SpanMode::OnCpu
    }
}

impl<S> Layer<S> for ScopeLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    #[inline(always)]
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(recording) = session::recording() else {
            return;
        };
        let regions = with_local(&THREAD_SPANS, |spans| {
            let regions = self.regions_for(spans, attrs.metadata());
            if self.tracks_on_cpu() {
                let tag = RecentSpan::tag(recording.activation(), self.with_target);
                spans.remember(id, regions.on_cpu, tag);
            }
            regions
        });
        if let (true, Some(regions)) = (self.tracks_lifetime(), regions) {
            Self::start_lifetime(regions.lifetime, id, ctx);
        }
    }

    #[inline(always)]
    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if !self.tracks_on_cpu() {
            return;
        }
        let Some(recording) = session::recording() else {
            return;
        };
        with_local(&THREAD_SPANS, |spans| {
            let tag = RecentSpan::tag(recording.activation(), self.with_target);
            let region = match spans.recent(id, tag) {
                Some(region) => region,
                // Created on another thread, or before recording started.
                None => match self.foreign_span_region(spans, id, ctx) {
                    Some(region) => region,
                    None => return,
                },
            };
            let start = CallStart::at(recording);
            spans.entered.push(id.into_u64(), (region, start));
        });
    }

    #[inline(always)]
    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        if !self.tracks_on_cpu() {
            return;
        }
        let open = with_local(&THREAD_SPANS, |spans| spans.entered.take(id.into_u64()));
        if let Some(Some((region, start))) = open {
            start.finish(region);
        }
    }

    #[inline(always)]
    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        // On-CPU mode needs nothing at close (see `ThreadSpans::recent`).
        if !self.tracks_lifetime() {
            return;
        }
        let Some(span) = ctx.span(&id) else { return };
        let mut extensions = span.extensions_mut();
        let lifetime = extensions
            .get_mut::<Lifetimes>()
            .and_then(|lifetimes| lifetimes.more.pop())
            .or_else(|| extensions.remove::<Lifetimes>().map(|l| l.first));
        drop(extensions);
        if let Some((region, created)) = lifetime {
            created.finish(region);
        }
    }
}
