//! The command as a person meets it: what it prints and when, which outputs
//! it refuses, how it ends, and `--diff` as a CI gate.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::{pproc, text, Calls};

fn write(dir: &Path, name: &str, calls: &Calls) -> PathBuf {
    let path = dir.join(name);
    support::write_schema1(&path, calls).unwrap();
    path
}

fn async_file(dir: &Path) -> PathBuf {
    write(dir, "async.h5", &support::async_run(2, 6))
}

#[test]
fn several_exports_in_one_call_are_all_written_without_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let input = async_file(dir.path());
    let outs = [
        ("csv", dir.path().join("a.csv")),
        ("json", dir.path().join("b.json")),
        ("chrome-trace", dir.path().join("c.json")),
        ("Perfetto", dir.path().join("d.PFTRACE")),
    ];
    let mut args = vec![input.to_str().unwrap()];
    for (format, out) in &outs {
        args.extend(["--export", format, out.to_str().unwrap()]);
    }
    let out = pproc(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for (format, path) in &outs {
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        assert!(size > 100, "{format}: {path:?} not written");
    }
    assert_eq!(text(&out.stdout), "", "no summary unless asked");
    assert_eq!(text(&out.stderr).matches("wrote ").count(), 4);

    args.push("--summary");
    let out = pproc(&args);
    assert!(text(&out.stdout).contains("region"), "--summary prints it");
}

#[test]
fn quiet_prints_nothing_but_still_writes() {
    let dir = tempfile::tempdir().unwrap();
    let input = async_file(dir.path());
    let csv = dir.path().join("calls.csv");
    let i = input.to_str().unwrap();
    let out = pproc(&[i, "--quiet", "--export", "csv", csv.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(
        (text(&out.stdout), text(&out.stderr)),
        (String::new(), String::new())
    );
    assert!(csv.exists());
    let out = pproc(&[i, "-q"]);
    assert_eq!(text(&out.stdout), "");
}

#[test]
fn a_closed_stdout_ends_the_command_quietly_with_0() {
    let dir = tempfile::tempdir().unwrap();
    let input = async_file(dir.path());
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader); // every write to the pipe now fails with EPIPE
    let out = Command::new(env!("CARGO_BIN_EXE_scope-profiler-pproc"))
        .arg(&input)
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
}

#[test]
fn output_extensions_are_checked_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let input = async_file(dir.path());
    let i = input.to_str().unwrap();
    let d = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    for (args, says) in [
        (vec!["--gantt", &d("g.png")], ".svg or .html"),
        (vec!["--flame", &d("f.png")], ".svg"),
        (vec!["--report", &d("r.svg")], ".html"),
        (vec!["--export", "perfetto", &d("t.json")], ".pftrace"),
        (vec!["--export", "csv", &d("t.txt")], ".csv"),
        (
            vec!["--gantt", &d("g.svg"), "--export", "bogus", &d("x.json")],
            "unknown export format",
        ),
        (
            vec!["--flame", &d("f.svg"), "--export", "csv", &d("x.png")],
            ".csv",
        ),
    ] {
        let mut all = vec![i];
        all.extend(args.iter().copied());
        let out = pproc(&all);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let written: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n != "async.h5")
        .collect();
    assert!(written.is_empty(), "refused runs wrote {written:?}");

    // Extensions in any case.
    let page = d("GANTT.HTML");
    let out = pproc(&[i, "--gantt", &page]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(std::fs::read_to_string(&page)
        .unwrap()
        .starts_with("<!DOCTYPE html>"));
}

#[test]
fn json_summary_is_typed() {
    let dir = tempfile::tempdir().unwrap();
    let input = async_file(dir.path());
    {
        let file = scope_profiler_format::h5file::open_rw(&input).unwrap();
        let metadata = file.group("metadata").unwrap();
        scope_profiler_format::attrs::write_str(
            &metadata,
            "clock_offsets",
            r#"[{"rank":0,"setup_offset_ns":0},{"rank":1,"setup_offset_ns":-1250}]"#,
        )
        .unwrap();
        scope_profiler_format::attrs::write_str(&metadata, "hostname", "node-7").unwrap();
    }
    let json = dir.path().join("s.json");
    let out = pproc(&[
        input.to_str().unwrap(),
        "--export",
        "json",
        json.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let metadata = &doc["metadata"];
    assert_eq!(metadata["mpi_size"], serde_json::json!(2));
    assert_eq!(metadata["hostname"], serde_json::json!("node-7"));
    assert_eq!(
        metadata["clock_offsets"][1]["setup_offset_ns"],
        serde_json::json!(-1250)
    );
    let first = &doc["regions"][0];
    assert!(first["total_ns"].is_i64() && first["calls"].is_u64() && first["avg_ns"].is_f64());
}

#[test]
fn the_summary_lists_regions_by_first_call_with_readable_units() {
    let dir = tempfile::tempdir().unwrap();
    let mut calls = Calls::new();
    let rank = calls.entry(0).or_default();
    // Named against the alphabet: "zz" runs first, "aa" later; "tiny" is
    // a 300 ns region.
    rank.insert("aa_later".into(), vec![(0, 5_000, 2_005_000)]);
    rank.insert("zz_first".into(), vec![(0, 1_000, 4_000)]);
    rank.insert("tiny".into(), vec![(0, 3_000_000, 3_000_300)]);
    let input = write(dir.path(), "order.h5", &calls);
    let out = pproc(&[input.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    let order: Vec<&str> = stdout
        .lines()
        .skip(3)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(order, vec!["zz_first", "aa_later", "tiny"], "{stdout}");
    assert!(
        stdout.contains("300 ns") && stdout.contains("2.000 ms"),
        "{stdout}"
    );
    assert!(!stdout.contains("0.000000"), "{stdout}");
    let out = pproc(&[input.to_str().unwrap(), "--sort", "name"]);
    assert!(text(&out.stdout)
        .lines()
        .nth(3)
        .unwrap()
        .starts_with("aa_later"));
}

/// `support::async_run(ranks, 6)` with rank 1's `compute` calls `factor`
/// times as long.
fn slower_rank_1(ranks: u32, factor: i64) -> Calls {
    let mut calls = support::async_run(ranks, 6);
    if let Some(compute) = calls.get_mut(&1).and_then(|r| r.get_mut("compute")) {
        for call in compute {
            call.2 = call.1 + (call.2 - call.1) * factor;
        }
    }
    calls
}

#[test]
fn diff_honours_the_rank_and_region_selection() {
    let dir = tempfile::tempdir().unwrap();
    let base = write(dir.path(), "base.h5", &support::async_run(2, 6));
    let slow = write(dir.path(), "slow.h5", &slower_rank_1(2, 2));
    let (b, s) = (base.to_str().unwrap(), slow.to_str().unwrap());
    let out = pproc(&["--diff", b, s]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let regression = text(&out.stdout);
    let flagged: Vec<&str> = regression
        .lines()
        .filter(|l| l.contains("REGRESSION"))
        .collect();
    assert_eq!(flagged.len(), 1, "{regression}");
    assert!(flagged[0].starts_with("compute"), "{regression}");
    for selection in [
        &["--ranks", "0"][..],
        &["--include", "^step$"],
        &["--exclude", "comp"],
    ] {
        let mut args = vec!["--diff", b, s];
        args.extend_from_slice(selection);
        let out = pproc(&args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{selection:?}: {}",
            text(&out.stdout)
        );
        if selection[0] != "--ranks" {
            assert!(!text(&out.stdout).contains("compute"), "{selection:?}");
        }
    }
    let out = pproc(&["--diff", b, s, "--ranks", "0-3"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no rank(s) [2, 3]"));
}

#[test]
fn diff_warns_when_the_files_have_different_rank_counts() {
    let dir = tempfile::tempdir().unwrap();
    let one = write(dir.path(), "one.h5", &support::async_run(1, 6));
    let two = write(dir.path(), "two.h5", &support::async_run(2, 6));
    let out = pproc(&["--diff", one.to_str().unwrap(), two.to_str().unwrap()]);
    let err = text(&out.stderr);
    assert!(
        err.contains("warning") && err.contains("has 1 rank(s)") && err.contains("has 2"),
        "{err}"
    );
    let out = pproc(&[
        "--diff",
        one.to_str().unwrap(),
        two.to_str().unwrap(),
        "--ranks",
        "0",
    ]);
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn diff_has_a_noise_floor() {
    let dir = tempfile::tempdir().unwrap();
    let tiny = |ns: i64| -> Calls {
        let mut calls = Calls::new();
        let rank = calls.entry(0).or_default();
        rank.insert("tiny".into(), vec![(0, 1_000, 1_000 + ns)]);
        rank.insert("big".into(), vec![(0, 10_000, 10_000 + 50_000_000)]);
        calls
    };
    let base = write(dir.path(), "base.h5", &tiny(3_000));
    let candidate = write(dir.path(), "candidate.h5", &tiny(8_000));
    let (b, c) = (base.to_str().unwrap(), candidate.to_str().unwrap());
    let out = pproc(&["--diff", b, c]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "3 µs → 8 µs is noise: {}",
        text(&out.stdout)
    );
    assert!(text(&out.stdout).contains("(noise)"));
    let out = pproc(&["--diff", b, c, "--min-total", "0"]);
    assert_eq!(out.status.code(), Some(1), "without a floor it counts");
    let out = pproc(&[
        "--diff",
        b,
        c,
        "--min-total",
        "1us",
        "--max-regression",
        "200",
    ]);
    assert_eq!(out.status.code(), Some(0), "+167% is under 200%");
    let out = pproc(&["--diff", b, c, "--min-total", "12"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unit"), "{}", text(&out.stderr));
}

#[test]
fn help_documents_the_exit_codes() {
    let help = text(&pproc(&["--help"]).stdout);
    assert!(help.contains("Exit codes:"), "{help}");
    for line in ["0  success", "1  --diff", "2  error"] {
        assert!(help.contains(line), "{line}: {help}");
    }
}
