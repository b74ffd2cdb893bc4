//! With cargo feature `off`, `region!` and `profile` compile to nothing.
//! Run by CI as `cargo test --features off --test feature_off`.
#![cfg(feature = "off")]

mod common;

use common::{config_in, serial};
use scope_profiler::{profile, region, ProfileManager};

#[test]
fn macros_compiled_off_record_nothing() {
    let _s = serial();
    let dir = tempfile::tempdir().unwrap();
    let (config, _) = config_in(&dir);
    ProfileManager::setup(config).unwrap();
    for _ in 0..10 {
        let g = region!("compiled out");
        assert_eq!(std::mem::size_of_val(&g), 0);
    }
    assert_eq!(profile("closure", || 7), 7);
    let summary = ProfileManager::finalize().unwrap();
    assert!(summary.regions.is_empty(), "{:?}", summary.regions);
}
