//! Any string is a region name: it reaches the file exactly, escaped as an
//! HDF5 link name with the original in the `name` attribute.
#![cfg(not(feature = "off"))]

mod common;

use common::{config_in, serial, setup_run};
use scope_profiler::{read_profile, ProfileManager};

#[test]
fn awkward_names_round_trip_exactly() {
    let _s = serial();
    let long = "x".repeat(10_000);
    let names: Vec<String> = [
        "",
        "/",
        "a/b",
        "a/b/c",
        ".",
        "..",
        "...",
        "%",
        "%2F",
        "100%/sure",
        "ünïcødé ✓",
        "tab\tnl\n",
        "with space",
        "rank0",
        "regions",
        "dots.and:colons",
        "nul\0inside",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([long.clone()])
    .collect();
    let dir = tempfile::tempdir().unwrap();
    let (config, path) = config_in(&dir);
    ProfileManager::setup(config).unwrap();
    for (i, name) in names.iter().enumerate() {
        for _ in 0..=i {
            let _g = ProfileManager::profile_region(name);
        }
    }
    let summary = ProfileManager::finalize().unwrap();
    let data = read_profile(&path).unwrap();
    assert_eq!(data.regions.len(), names.len());
    for (i, name) in names.iter().enumerate() {
        let calls = (i + 1) as u64;
        assert_eq!(
            summary.region(name).map(|r| r.stats.calls),
            Some(calls),
            "summary {name:?}"
        );
        let region = data
            .region(name)
            .unwrap_or_else(|| panic!("{name:?} not in file"));
        assert_eq!(region.per_rank[&0].calls(), calls, "{name:?}");
    }
    // No name created nested groups: every region is a direct child.
    let file = scope_profiler_format::h5file::open(&path).unwrap();
    let links = file.group("rank0/regions").unwrap().member_names().unwrap();
    assert_eq!(links.len(), names.len());
    assert!(
        links.contains(&"a%2Fb".to_string())
            && links.contains(&"%".to_string())
            && links.contains(&"%2E".to_string())
    );
}

#[test]
fn ten_thousand_distinct_regions() {
    let run = setup_run(|c| c);
    let names: Vec<String> = (0..10_000).map(|i| format!("region {i:05}")).collect();
    for name in &names {
        let _g = ProfileManager::profile_region(name);
    }
    for name in names.iter().step_by(2) {
        let _g = ProfileManager::profile_region(name);
    }
    let summary = ProfileManager::finalize().unwrap();
    assert_eq!(summary.regions.len(), 10_000);
    let data = read_profile(&run.path).unwrap();
    assert_eq!(data.regions.len(), 10_000);
    for (i, region) in data.regions.iter().enumerate() {
        let expected = if region.name[7..].parse::<usize>().unwrap() % 2 == 0 {
            2
        } else {
            1
        };
        assert_eq!(
            region.per_rank[&0].calls(),
            expected,
            "{} (#{i})",
            region.name
        );
    }
    // Ten thousand one-call regions keep the file small (chunks sized to use).
    let size = std::fs::metadata(&run.path).unwrap().len();
    assert!(size < 32 << 20, "file is {size} bytes");
    eprintln!("10 000 regions: {size} bytes");
}
