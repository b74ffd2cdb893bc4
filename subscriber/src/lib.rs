//! `tracing` spans as scope-profiler regions, two ways:
//!
//! - [`ScopeLayer`], a `tracing_subscriber::Layer`: add it to
//!   `registry()` beside `fmt`, `EnvFilter` and any other layer, and every
//!   span the subscriber enables becomes a region. It offers
//!   [`SpanMode::Lifetime`] for wall time across awaits and threads.
//! - [`ScopeSubscriber`], a subscriber of its own, for when profiling is
//!   all the subscriber is for: no registry and no per-span storage (a
//!   span's id carries its region), so an `#[instrument]` call costs the
//!   two clock reads and one ring write over what `tracing` itself costs,
//!   and less than `registry()` with a layer that does nothing.
//!
//! Either way `#[tracing::instrument]` functions and
//! `info_span!(..).entered()` scopes are profiled with no other change:
//!
//! ```
//! use tracing_subscriber::prelude::*;
//! use scope_profiler_subscriber::{ScopeLayer, ScopeSubscriber};
//!
//! let subscriber = tracing_subscriber::registry().with(ScopeLayer::new());
//! tracing::subscriber::with_default(subscriber, || {
//!     let _span = tracing::info_span!("solve").entered(); // a region once ProfileManager::setup ran
//! });
//! tracing::subscriber::with_default(ScopeSubscriber::new(), || {
//!     let _span = tracing::info_span!("solve").entered(); // the same region
//! });
//! ```

mod callsites;
mod layer;
mod local;
mod subscriber;

pub use layer::ScopeLayer;
pub use subscriber::ScopeSubscriber;

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
