//! Our reader against files written by the real Python package (0.2.1 and
//! 0.7.5): same regions, ranks, call counts and total durations as
//! `scope_profiler.read_h5` reports for them; every malformed file is a clear
//! error naming the file.

use std::path::PathBuf;

use scope_profiler_format::read_profile;

fn reference(kind: &str, file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/reference")
        .join(kind)
        .join(file)
}

type Expected = (
    &'static str,
    &'static [(&'static str, &'static [(u32, u64, i64)])],
);

/// (file, [(region, [(rank, calls, total ns)])]) as printed by scope-profiler
/// 0.7.5's `read_h5` (`num_calls`, `durations_ns.sum()`).
const EXPECTED: &[Expected] = &[
    (
        "c_api_v0.7.5_schema2.h5",
        &[
            ("solve", &[(0, 20, 2342272)]),
            ("assemble", &[(0, 20, 917649)]),
            ("checkpoint", &[(0, 2, 24417)]),
            ("fibonacci", &[(0, 1, 34892)]),
            ("fib_call", &[(0, 465, 232798)]),
        ],
    ),
    (
        "mpi4_v0.7.5_schema3.h5",
        &[(
            "compute",
            &[
                (0, 1, 3088336),
                (1, 1, 19144048),
                (2, 1, 3197599),
                (3, 1, 3010901),
            ],
        )],
    ),
    (
        "seed_mpi4_v0.2.1_schema1.h5",
        &[(
            "compute",
            &[
                (0, 1, 28248155),
                (1, 1, 22426823),
                (2, 1, 42911395),
                (3, 1, 15290623),
            ],
        )],
    ),
    (
        "seed_serial_v0.2.1_schema1.h5",
        &[("compute", &[(0, 1, 3065772)])],
    ),
    (
        "serial_v0.7.5_schema3.h5",
        &[("compute", &[(0, 1, 3113744)])],
    ),
    (
        "special_names_v0.7.5_schema3.h5",
        &[
            ("scope_profiler.session", &[(0, 1, 236362)]),
            ("a/b", &[(0, 1, 1262)]),
            ("with space", &[(0, 1, 591)]),
            ("ünïcødé ✓", &[(0, 1, 521)]),
            ("dots.and:colons", &[(0, 1, 781)]),
            ("rank0", &[(0, 1, 721)]),
            ("", &[(0, 1, 491)]),
            ("tab\tnl\n", &[(0, 1, 721)]),
        ],
    ),
    ("upstream_fixture_schema1.h5", &[("solve", &[(0, 3, 33)])]),
    ("upstream_fixture_schema2.h5", &[("solve", &[(0, 3, 33)])]),
    ("upstream_fixture_schema3.h5", &[("solve", &[(0, 3, 33)])]),
];

#[test]
fn every_python_written_file_reads_like_the_python_reader() {
    for (file, regions) in EXPECTED {
        let data =
            read_profile(reference("python-written", file)).unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = data.regions.iter().map(|r| r.name.as_str()).collect();
        let expected_names: Vec<&str> = regions.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, expected_names, "{file}: region names and order");
        for (name, per_rank) in regions.iter() {
            let region = data.region(name).unwrap();
            let got: Vec<(u32, u64, i64)> = region
                .per_rank
                .iter()
                .map(|(rank, ev)| (*rank, ev.calls(), ev.stats().total_ns))
                .collect();
            assert_eq!(got, per_rank.to_vec(), "{file}: region {name:?}");
        }
        let max_rank = regions
            .iter()
            .flat_map(|(_, r)| r.iter().map(|x| x.0))
            .max()
            .unwrap();
        assert_eq!(
            data.ranks,
            (0..=max_rank).collect::<Vec<_>>(),
            "{file}: ranks"
        );
    }
}

#[test]
fn schema_versions_are_reported() {
    for (file, schema) in [
        ("upstream_fixture_schema1.h5", 1),
        ("upstream_fixture_schema2.h5", 2),
        ("upstream_fixture_schema3.h5", 3),
        ("c_api_v0.7.5_schema2.h5", 2),
    ] {
        assert_eq!(
            read_profile(reference("python-written", file))
                .unwrap()
                .schema,
            schema,
            "{file}"
        );
    }
}

#[test]
fn every_malformed_file_is_a_clear_error_naming_the_file() {
    for (file, says) in [
        (
            "truncated_events.h5",
            "claims 6 recorded events but its event columns hold 3",
        ),
        ("overlapping_offsets.h5", "overlapping region rows"),
        ("bad_schema_4.h5", "upgrade"),
        ("tags_not_json.h5", "not valid JSON"),
        ("region_id_out_of_range.h5", "points to region id"),
        (
            "v3_no_schema_attr.h5",
            "no scope_profiler_schema root attribute",
        ),
    ] {
        let err = read_profile(reference("malformed", file)).expect_err(file);
        let text = err.to_string();
        assert!(
            text.contains(file),
            "{file}: error does not name the file: {text}"
        );
        assert!(text.contains(says), "{file}: expected {says:?} in: {text}");
    }
}

#[test]
fn a_file_that_is_not_hdf5_or_not_ours_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let text_file = dir.path().join("notes.h5");
    std::fs::write(&text_file, "just text").unwrap();
    let err = read_profile(&text_file).unwrap_err().to_string();
    assert!(err.contains("not a readable HDF5 file"), "{err}");

    let foreign = dir.path().join("foreign.h5");
    let f = hdf5::File::create(&foreign).unwrap();
    f.new_dataset::<f64>()
        .shape(3)
        .create("temperature")
        .unwrap();
    drop(f);
    let err = read_profile(&foreign).unwrap_err().to_string();
    assert!(err.contains("not a scope-profiler profile"), "{err}");

    let missing = read_profile(dir.path().join("nope.h5"))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("no such file"), "{missing}");
}

#[test]
fn a_truncated_copy_of_a_reference_file_never_panics() {
    let src = std::fs::read(reference("python-written", "mpi4_v0.7.5_schema3.h5")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for cut in [0, 8, 512, 2048, src.len() / 2, src.len() - 1] {
        let path = dir.path().join(format!("cut_{cut}.h5"));
        std::fs::write(&path, &src[..cut]).unwrap();
        // Ok or Err are both acceptable; a panic fails the test.
        let _ = read_profile(&path);
    }
}
