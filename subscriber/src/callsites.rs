//! Per-thread cache from a callsite to its region ids.
//!
//! A callsite's regions are interned once per thread and naming (a string is
//! formatted and hashed then, never again): after that, finding them is one
//! comparison with the last callsite looked up, or one pointer hash.

use std::cell::RefCell;

use rustc_hash::{FxBuildHasher, FxHashMap};
use scope_profiler_core::{RegionId, RegionRegistry};
use tracing_core::Metadata;

use crate::local::with_local;

/// How spans are named as regions; part of the cache key, so two layers or
/// subscribers naming differently on one thread do not share entries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Naming {
    /// `target::name` instead of `name`.
    pub(crate) with_target: bool,
    /// Lifetime calls get their own region, `"<name> [lifetime]"`.
    pub(crate) separate_lifetimes: bool,
}

/// The region ids of one callsite.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SpanRegions {
    pub(crate) on_cpu: RegionId,
    pub(crate) lifetime: RegionId,
}

impl Naming {
    /// The naming in the two low bits of a [`Key`].
    fn bits(self) -> usize {
        usize::from(self.with_target) | usize::from(self.separate_lifetimes) << 1
    }
}

/// The callsite's metadata address with the naming in its two low bits
/// (free: `Metadata` holds pointers, so its address is a multiple of at
/// least 4), so a cache hit is one comparison. Never 0.
type Key = usize;

const _: () = assert!(std::mem::align_of::<Metadata<'static>>() >= 4);

fn key(metadata: &'static Metadata<'static>, naming: Naming) -> Key {
    metadata as *const Metadata<'static> as usize | naming.bits()
}

/// One thread's most recent callsite and its regions; the rest are in
/// [`CALLSITE_MAP`]. Fixed size and no destructor, so the thread-locals of
/// the layer and the subscriber that hold one need none (see `local`).
pub(crate) struct CallsiteRegions {
    /// Checked first: a loop over one `#[instrument]` function finds its
    /// regions with one comparison. Key 0 (no callsite) until the first.
    last_key: Key,
    last: SpanRegions,
}

thread_local! {
    /// Every callsite this thread has looked up, under each naming: shared
    /// by all layers and subscribers on the thread (the naming is in the
    /// key).
    static CALLSITE_MAP: RefCell<FxHashMap<Key, SpanRegions>> =
        const { RefCell::new(FxHashMap::with_hasher(FxBuildHasher)) };
}

impl CallsiteRegions {
    pub(crate) const fn new() -> Self {
        CallsiteRegions {
            last_key: 0,
            last: SpanRegions {
                on_cpu: RegionId(0),
                lifetime: RegionId(0),
            },
        }
    }

    /// The regions of the callsite of `metadata` under `naming`.
    #[inline(always)]
    pub(crate) fn get(
        &mut self,
        metadata: &'static Metadata<'static>,
        naming: Naming,
    ) -> SpanRegions {
        let key = key(metadata, naming);
        if key == self.last_key {
            return self.last;
        }
        self.lookup(key, metadata, naming)
    }

    /// [`get`](Self::get) when the callsite is not the last one: out of
    /// line, so the common path stays small. Without the map (thread
    /// exiting, or a callback inside this one) the name is interned again,
    /// which gives the same regions.
    #[inline(never)]
    fn lookup(
        &mut self,
        key: Key,
        metadata: &'static Metadata<'static>,
        naming: Naming,
    ) -> SpanRegions {
        let regions = with_local(&CALLSITE_MAP, |map| {
            *map.entry(key).or_insert_with(|| intern(metadata, naming))
        })
        .unwrap_or_else(|| intern(metadata, naming));
        self.last_key = key;
        self.last = regions;
        regions
    }
}

#[cold]
fn intern(metadata: &'static Metadata<'static>, naming: Naming) -> SpanRegions {
    let name = if naming.with_target {
        format!("{}::{}", metadata.target(), metadata.name())
    } else {
        metadata.name().to_owned()
    };
    let registry = RegionRegistry::global();
    let on_cpu = registry.intern(&name);
    let lifetime = if naming.separate_lifetimes {
        registry.intern(&format!("{name} [lifetime]"))
    } else {
        on_cpu
    };
    SpanRegions { on_cpu, lifetime }
}
