//! Files we write open in the real Python package (scope-profiler 0.7.5 from
//! PyPI): `scope-profiler inspect` and `scope_profiler.read_h5` report the
//! same regions and call counts as our summary.
//!
//! The venv is made once under cargo's target tmp dir. Without `python3` the
//! test prints why it is skipped; every other failure (pip, the reader) fails.
#![cfg(not(feature = "off"))]

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{python_venv, setup_run};
use scope_profiler::{region, ProfileManager};

const READ_H5: &str = r#"
import json, sys
import scope_profiler as sp
r = sp.read_h5(sys.argv[1])
print(json.dumps({n: {str(k): int(v.num_calls) for k, v in r._region_dict[n].regions.items()} for n in r._region_dict}))
"#;

#[test]
fn python_package_reads_our_file_with_the_same_regions_and_counts() {
    let Some(venv) = python_venv() else { return };
    let run = setup_run(|c| c);
    for _ in 0..42 {
        let _g = region!("solve");
        for _ in 0..3 {
            let _a = region!("assemble");
        }
    }
    {
        let _io = region!("io");
    }
    for _ in 0..5 {
        let _u = region!("ünïcødé ✓");
    }
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    let _t = region!("threaded");
                }
            });
        }
    });
    for _ in 0..2 {
        let _slash = region!("a/b");
    }
    let summary = ProfileManager::finalize().unwrap();
    let ours: BTreeMap<String, u64> = summary
        .regions
        .iter()
        .map(|r| (r.name.clone(), r.stats.calls))
        .collect();
    assert_eq!(ours.len(), 6);

    // scope_profiler.read_h5: the same names (the '/'-name under its escaped
    // link name, since schema 1 has no other place for it) and counts.
    let theirs: BTreeMap<String, BTreeMap<String, u64>> =
        serde_json::from_str(&common::run_python(&venv, READ_H5, [&run.path])).unwrap();
    let expected: BTreeMap<String, BTreeMap<String, u64>> = ours
        .iter()
        .map(|(name, calls)| {
            let link = if name == "a/b" {
                "a%2Fb".to_string()
            } else {
                name.clone()
            };
            (link, BTreeMap::from([("0".to_string(), *calls)]))
        })
        .collect();
    assert_eq!(theirs, expected);

    // scope-profiler inspect: exits 0 and lists every region with its count.
    let out = Command::new(venv.join("bin/scope-profiler"))
        .args([
            "inspect",
            "--regions-only",
            "--columns",
            "region",
            "calls",
            "--",
        ])
        .arg(&run.path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "inspect failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 rank(s), 6 region(s)"), "{text}");
    for (link, per_rank) in &expected {
        let calls = per_rank["0"];
        let row = text
            .lines()
            .find(|l| {
                l.trim_start_matches(['│', ' ', '└', '─'])
                    .starts_with(link.as_str())
            })
            .unwrap_or_else(|| panic!("{link:?} not in inspect output:\n{text}"));
        let shown = row.trim_end_matches(['│', ' ']).rsplit(' ').next().unwrap();
        assert_eq!(shown, calls.to_string(), "inspect row {row:?}");
    }
}

#[test]
fn columnar_schema_3_output_reads_in_the_python_package_and_ours() {
    let Some(venv) = python_venv() else { return };
    let run = setup_run(|c| c.output_schema(scope_profiler::OutputSchema::Columnar));
    for _ in 0..9 {
        let _g = region!("solve");
        let _h = region!("a/b: any name works");
    }
    std::thread::scope(|s| {
        s.spawn(|| {
            for _ in 0..4 {
                let _t = region!("worker");
            }
        });
    });
    let summary = ProfileManager::finalize().unwrap();

    // Our reader: schema 3, same calls and totals as the summary.
    let data = scope_profiler::read_profile(&run.path).unwrap();
    assert_eq!(data.schema, 3);
    for r in &summary.regions {
        let read = data
            .region(&r.name)
            .unwrap_or_else(|| panic!("{} missing", r.name))
            .stats();
        assert_eq!(
            (read.calls, read.total_ns),
            (r.stats.calls, r.stats.total_ns),
            "{}",
            r.name
        );
    }
    // The Python package: read_h5, and the summary-only reader without fallback.
    let script = r#"
import json, sys
import scope_profiler as sp
from scope_profiler.h5reader import read_h5_summary
full = sp.read_h5(sys.argv[1])
fast = read_h5_summary(sys.argv[1], fallback=False)
out = {}
for name in full._region_dict:
    a = full._region_dict[name].regions[0]
    b = fast._region_dict[name].regions[0]
    out[name] = [int(a.num_calls), int(b.num_calls), int(a.durations_ns.sum()), int(round(b.total_duration * 1e9))]
print(json.dumps(out))
"#;
    let theirs: BTreeMap<String, Vec<i64>> =
        serde_json::from_str(&common::run_python(&venv, script, [&run.path])).unwrap();
    assert_eq!(theirs.len(), 3);
    for r in &summary.regions {
        let row = &theirs[&r.name];
        assert_eq!(row[0], r.stats.calls as i64, "{}", r.name);
        assert_eq!(row[1], r.stats.calls as i64, "{} (summary reader)", r.name);
        assert_eq!(row[2], r.stats.total_ns, "{}", r.name);
        assert!((row[3] - r.stats.total_ns).abs() <= 1, "{}", r.name);
    }
}

#[test]
fn aggregate_output_reads_in_the_python_package_with_exact_counts_and_totals() {
    let Some(venv) = python_venv() else { return };
    let run = setup_run(|c| {
        c.output_schema(scope_profiler::OutputSchema::Aggregate)
            .trace_regions("^io$")
    });
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..5_000 {
                    let _g = region!("solve");
                    let _h = region!("a/b: any name works");
                }
            });
        }
    });
    for _ in 0..3 {
        let _io = region!("io");
    }
    let summary = ProfileManager::finalize().unwrap();
    assert_eq!(summary.region("solve").unwrap().stats.calls, 10_000);

    // The Python package: read_h5 and the summary-only reader, exact
    // integers from the stored aggregate (count, total ns).
    let script = r#"
import json, sys
import scope_profiler as sp
from scope_profiler.h5reader import read_h5_summary
full = sp.read_h5(sys.argv[1])
fast = read_h5_summary(sys.argv[1], fallback=False)
out = {}
for name in full._region_dict:
    a = full._region_dict[name].regions[0]
    b = fast._region_dict[name].regions[0]
    out[name] = [int(a.num_calls), int(b.num_calls), a.stored_summary["total"], b.stored_summary["total"],
                 a.stored_summary["minimum"], a.stored_summary["maximum"]]
print(json.dumps(out))
"#;
    let theirs: BTreeMap<String, Vec<i64>> =
        serde_json::from_str(&common::run_python(&venv, script, [&run.path])).unwrap();
    assert_eq!(theirs.len(), 3, "{theirs:?}");
    for r in &summary.regions {
        let s = &r.stats;
        let calls = s.calls as i64;
        assert_eq!(
            theirs[&r.name],
            vec![calls, calls, s.total_ns, s.total_ns, s.min_ns, s.max_ns],
            "{}",
            r.name
        );
    }
    // scope-profiler inspect lists the regions with their counts.
    let out = Command::new(venv.join("bin/scope-profiler"))
        .args(["inspect", "--"])
        .arg(&run.path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "inspect failed: {text}");
    assert!(text.contains("1 rank(s), 3 region(s)"), "{text}");
}

#[test]
fn our_reader_reads_the_python_packages_aggregate_files() {
    let Some(venv) = python_venv() else { return };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("python_aggregate.h5");
    let script = r#"
import json, sys
from scope_profiler import ProfileManager
import scope_profiler as sp
ProfileManager.setup(file_path=sys.argv[1], aggregation_mode=True)
for _ in range(7):
    with ProfileManager.region("solve"):
        for _ in range(3):
            with ProfileManager.region("inner"):
                pass
ProfileManager.finalize()
r = sp.read_h5(sys.argv[1])
print(json.dumps({n: [r._region_dict[n].regions[0].stored_summary[k] for k in ("count", "total", "minimum", "maximum")]
                  for n in r._region_dict}))
"#;
    let text = common::run_python(&venv, script, [&path]);
    let json = text.lines().rev().find(|l| l.starts_with('{')).unwrap();
    let theirs: BTreeMap<String, Vec<i64>> = serde_json::from_str(json).unwrap();
    let data = scope_profiler::read_profile(&path).unwrap();
    assert_eq!(data.ranks, vec![0]);
    for (name, expected_calls) in [("solve", 7), ("inner", 21)] {
        let region = data.region(name).unwrap();
        let s = region.stats();
        assert_eq!(
            vec![s.calls as i64, s.total_ns, s.min_ns, s.max_ns],
            theirs[name],
            "{name}"
        );
        assert_eq!(s.calls, expected_calls);
        assert!(region.aggregate[&0].pooled.histogram.is_none());
        assert!(region.per_rank[&0].starts.is_empty());
    }
}
