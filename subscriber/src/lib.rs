//! [`ScopeLayer`]: `tracing` spans as scope-profiler regions.
//!
//! Add the layer to a `tracing_subscriber::registry()` and every span the
//! subscriber enables becomes a region: `#[tracing::instrument]` functions and
//! `info_span!(..).entered()` scopes are profiled with no other change.
//!
//! ```
//! use tracing_subscriber::prelude::*;
//! use scope_profiler_subscriber::ScopeLayer;
//!
//! let subscriber = tracing_subscriber::registry().with(ScopeLayer::new());
//! tracing::subscriber::with_default(subscriber, || {
//!     let _span = tracing::info_span!("solve").entered(); // a region once ProfileManager::setup ran
//! });
//! ```
//!
//! What the layer uses of `tracing`, and when:
//! - `on_enter`: the span's region id comes from a per-thread map keyed by
//!   the callsite's `&'static Metadata` pointer, filled on the thread's first
//!   span of that callsite; no string is hashed and no lock is taken per
//!   enter, and on-CPU mode stores nothing in the span's extensions.
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
//! `on_new_span` and `on_enter` return after one relaxed load, `on_exit`
//! after looking at this thread's (then empty) list of entered spans.

use std::cell::RefCell;

use rustc_hash::FxHashMap;
use scope_profiler_core::{session, CallStart, RegionId, RegionRegistry};
use tracing_core::span::{Attributes, Id};
use tracing_core::{Metadata, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

/// Which span interval becomes a region call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SpanMode {
    /// Each enter → exit on a thread is one call (on-CPU time). Default.
    #[default]
    OnCpu,
    /// Creation → close is one call (wall time, across threads and awaits).
    Lifetime,
    /// Both: on-CPU calls under the span's name, lifetimes under
    /// `"<name> [lifetime]"`.
    Both,
}

/// A `tracing_subscriber::Layer` recording spans as scope-profiler regions.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScopeLayer {
    mode: SpanMode,
    with_target: bool,
}

/// The region ids of one callsite.
#[derive(Clone, Copy, Debug)]
struct SpanRegions {
    on_cpu: RegionId,
    lifetime: RegionId,
}

/// Stored in a span's extensions at creation, in the lifetime modes only.
struct Lifetime {
    region: RegionId,
    created: CallStart,
}

/// Key of the per-thread callsite cache: the callsite's metadata address and
/// the naming options that change its region ids.
type CallsiteKey = (usize, bool, bool);

thread_local! {
    /// Region ids per callsite, per thread: after a thread's first span of a
    /// callsite, finding its region is one pointer hash.
    static CALLSITES: RefCell<FxHashMap<CallsiteKey, SpanRegions>> = RefCell::new(FxHashMap::default());
    /// Spans entered on this thread and not yet exited, oldest first.
    static ENTERED: RefCell<Vec<(Id, RegionId, CallStart)>> = const { RefCell::new(Vec::new()) };
}

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

    fn regions_for(&self, metadata: &'static Metadata<'static>) -> SpanRegions {
        let key = (
            metadata as *const Metadata<'static> as usize,
            self.with_target,
            self.mode == SpanMode::Both,
        );
        let cached = CALLSITES.try_with(|c| c.borrow().get(&key).copied());
        if let Ok(Some(regions)) = cached {
            return regions;
        }
        let regions = self.intern(metadata);
        let _ = CALLSITES.try_with(|c| c.borrow_mut().insert(key, regions));
        regions
    }

    #[cold]
    fn intern(&self, metadata: &'static Metadata<'static>) -> SpanRegions {
        let name = if self.with_target {
            format!("{}::{}", metadata.target(), metadata.name())
        } else {
            metadata.name().to_owned()
        };
        let registry = RegionRegistry::global();
        let on_cpu = registry.intern(&name);
        let lifetime = match self.mode {
            SpanMode::Both => registry.intern(&format!("{name} [lifetime]")),
            _ => on_cpu,
        };
        SpanRegions { on_cpu, lifetime }
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
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !self.tracks_lifetime() || !session::is_recording() {
            return;
        }
        let Some(span) = ctx.span(id) else { return };
        let region = self.regions_for(attrs.metadata()).lifetime;
        if let Some(created) = CallStart::now() {
            span.extensions_mut().insert(Lifetime { region, created });
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        if !self.tracks_on_cpu() || !session::is_recording() {
            return;
        }
        let Some(metadata) = ctx.metadata(id) else {
            return;
        };
        let region = self.regions_for(metadata).on_cpu;
        if let Some(start) = CallStart::now() {
            let _ =
                ENTERED.try_with(|entered| entered.borrow_mut().push((id.clone(), region, start)));
        }
    }

    fn on_exit(&self, id: &Id, _ctx: Context<'_, S>) {
        if !self.tracks_on_cpu() {
            return;
        }
        let open = ENTERED.try_with(|entered| {
            let mut entered = entered.borrow_mut();
            // Usually the last one; out-of-order exits are matched by id.
            let at = entered.iter().rposition(|(open, _, _)| open == id)?;
            Some(entered.remove(at))
        });
        if let Ok(Some((_, region, start))) = open {
            start.finish(region);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if !self.tracks_lifetime() {
            return;
        }
        let Some(span) = ctx.span(&id) else { return };
        let lifetime = span.extensions_mut().remove::<Lifetime>();
        if let Some(Lifetime { region, created }) = lifetime {
            created.finish(region);
        }
    }
}
