//! Region names ⇄ dense `u32` ids.
//!
//! Interning takes a lock and may allocate, so it happens once per call site
//! ([`RegionSlot`]) or once per thread and name ([`RegionRegistry::lookup`]),
//! never per region call. Ids are process-wide and stable across sessions.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

/// A region's dense id: the index of its name in the registry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct RegionId(pub u32);

impl RegionId {
    /// The id as an index into per-region tables.
    #[inline]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

#[derive(Default)]
struct Names {
    /// `by_id[id]` is the name of region `id`; never shrinks.
    by_id: Vec<Arc<str>>,
    /// Inverse of `by_id`.
    by_name: HashMap<Arc<str>, RegionId>,
}

/// The process-wide table of region names.
pub struct RegionRegistry {
    names: RwLock<Names>,
}

static REGISTRY: LazyLock<RegionRegistry> = LazyLock::new(|| RegionRegistry {
    names: RwLock::new(Names::default()),
});

thread_local! {
    /// Per-thread name → id cache for [`RegionRegistry::lookup`]: after a
    /// thread's first use of a name, looking it up again neither locks nor
    /// allocates.
    static LOOKUP_CACHE: RefCell<HashMap<Box<str>, RegionId>> = RefCell::new(HashMap::new());
}

impl RegionRegistry {
    /// The process-wide registry.
    pub fn global() -> &'static RegionRegistry {
        &REGISTRY
    }

    /// Returns the id of `name`, adding it if new. Any string is a valid name
    /// (empty, `/`, unicode, control characters): the file layer escapes it.
    pub fn intern(&self, name: &str) -> RegionId {
        if let Some(id) = self.read().by_name.get(name) {
            return *id;
        }
        let mut names = self.names.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(id) = names.by_name.get(name) {
            return *id;
        }
        let id = RegionId(u32::try_from(names.by_id.len()).unwrap_or(u32::MAX - 1));
        let name: Arc<str> = Arc::from(name);
        names.by_id.push(name.clone());
        names.by_name.insert(name, id);
        id
    }

    /// Like [`intern`](Self::intern), through a per-thread cache: after this
    /// thread's first call with `name`, it hashes `name` once and does not
    /// lock or allocate.
    pub fn lookup(&self, name: &str) -> RegionId {
        let cached = LOOKUP_CACHE.try_with(|cache| cache.borrow().get(name).copied());
        match cached {
            Ok(Some(id)) => id,
            Ok(None) => {
                let id = self.intern(name);
                let _ = LOOKUP_CACHE.try_with(|cache| cache.borrow_mut().insert(name.into(), id));
                id
            }
            // The thread is being torn down: no cache, go to the table.
            Err(_) => self.intern(name),
        }
    }

    /// The name of `id`, if it was interned.
    pub fn name(&self, id: RegionId) -> Option<Arc<str>> {
        self.read().by_id.get(id.index()).cloned()
    }

    /// The name of `id`, or `region#<id>` for an id never interned (what
    /// the files and the summary show for it).
    pub fn name_or_placeholder(&self, id: RegionId) -> Arc<str> {
        self.name(id)
            .unwrap_or_else(|| format!("region#{}", id.0).into())
    }

    /// Regions interned so far: every id below this has a name.
    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    /// Whether no region was interned yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Names> {
        self.names.read().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A per-call-site cache of one region's id, as made by `region!`.
///
/// The first [`id`](Self::id) interns the name; every later call is one
/// relaxed load.
pub struct RegionSlot {
    name: &'static str,
    /// `UNSET` until the first `id()`, then the interned id forever.
    id: AtomicU32,
}

const UNSET: u32 = u32::MAX;

impl RegionSlot {
    /// A slot for `name`; `const` so it can live in a `static`.
    pub const fn new(name: &'static str) -> Self {
        RegionSlot {
            name,
            id: AtomicU32::new(UNSET),
        }
    }

    /// The region's id, interning it on first use.
    ///
    /// ```
    /// use scope_profiler_core::{RegionRegistry, RegionSlot};
    /// static SLOT: RegionSlot = RegionSlot::new("solve");
    /// assert_eq!(SLOT.id(), RegionRegistry::global().intern("solve"));
    /// ```
    #[inline]
    pub fn id(&self) -> RegionId {
        // Relaxed: the id is a plain value; every thread that races to set it
        // interns the same name and stores the same id.
        let id = self.id.load(Ordering::Relaxed);
        if id != UNSET {
            return RegionId(id);
        }
        self.resolve()
    }

    #[cold]
    #[inline(never)]
    fn resolve(&self) -> RegionId {
        let id = RegionRegistry::global().intern(self.name);
        self.id.store(id.0, Ordering::Relaxed);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_name_gets_the_same_id_from_every_path() {
        let reg = RegionRegistry::global();
        let a = reg.intern("registry-test-a");
        assert_eq!(reg.intern("registry-test-a"), a);
        assert_eq!(reg.lookup("registry-test-a"), a);
        static SLOT: RegionSlot = RegionSlot::new("registry-test-a");
        assert_eq!(SLOT.id(), a);
        assert_ne!(reg.intern("registry-test-b"), a);
        assert_eq!(reg.name(a).as_deref(), Some("registry-test-a"));
    }

    #[test]
    fn any_string_is_a_name() {
        let reg = RegionRegistry::global();
        for name in ["", "a/b", ".", "..", "%", "ünïcødé ✓", "tab\tnl\n"] {
            let id = reg.intern(name);
            assert_eq!(reg.name(id).as_deref(), Some(name));
        }
    }
}
