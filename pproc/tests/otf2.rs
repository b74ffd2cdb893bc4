//! `--export otf2`: archives checked with OTF2's own reader, `otf2-print`
//! (Debian: otf2-tools): a 4-rank profile written by a real `mpirun`, the
//! Python package's 4-rank and recursive files, and overlapping calls.
//!
//! Run by CI as `cargo build --features mpi --example mpi_demo` at the
//! repository root, then `cargo test -p scope-profiler-pproc --features otf2 --test otf2`.
#![cfg(feature = "otf2")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use scope_profiler_pproc::otf2;
use scope_profiler_pproc::{Call, ProfileFile, Timeline};

fn reference(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/reference/python-written")
        .join(file)
}

fn run(program: &str, args: &[&std::ffi::OsStr]) -> Output {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (Debian: otf2-tools, openmpi-bin): {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `scope-profiler-pproc FILE --export otf2 DIR`; its stderr.
fn export(file: &Path, dir: &Path) -> String {
    let out = run(
        env!("CARGO_BIN_EXE_scope-profiler-pproc"),
        &[
            file.as_os_str(),
            "--export".as_ref(),
            "otf2".as_ref(),
            dir.as_os_str(),
        ],
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One ENTER or LEAVE as `otf2-print` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    enter: bool,
    location: u64,
    time: u64,
    region: String,
}

/// The ENTER/LEAVE lines of `otf2-print ARCHIVE`, in file order; fails on
/// any other event kind (a BufferFlush would mean the flush callbacks are
/// wrong).
fn events(archive: &Path) -> Vec<Event> {
    let out = run("otf2-print", &[archive.as_os_str()]);
    let text = String::from_utf8_lossy(&out.stdout);
    let body = text
        .split("--------------------------------------------------------------------------------\n")
        .nth(1)
        .unwrap_or_default();
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut fields = line.split_whitespace();
            let kind = fields.next().unwrap();
            assert!(
                kind == "ENTER" || kind == "LEAVE",
                "unexpected event: {line}"
            );
            let location = fields.next().unwrap().parse().unwrap();
            let time = fields.next().unwrap().parse().unwrap();
            let (_, rest) = line.split_once("Region: \"").unwrap();
            let (region, _) = rest.rsplit_once("\" <").unwrap();
            Event {
                enter: kind == "ENTER",
                location,
                time,
                region: region.to_owned(),
            }
        })
        .collect()
}

/// `otf2-print -G ARCHIVE`'s definition lines.
fn definitions(archive: &Path) -> String {
    let out = run("otf2-print", &["-G".as_ref(), archive.as_os_str()]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Checks each location's events nest like a call stack (a LEAVE closes
/// the innermost open region) with time never going back; returns the
/// deepest nesting seen.
fn assert_nested(events: &[Event]) -> usize {
    let mut per_location: BTreeMap<u64, Vec<&Event>> = BTreeMap::new();
    for e in events {
        per_location.entry(e.location).or_default().push(e);
    }
    let mut deepest = 0;
    for (location, events) in per_location {
        let mut open: Vec<&str> = Vec::new();
        let mut last = 0;
        for e in events {
            assert!(
                e.time >= last,
                "location {location}: time goes back at {e:?}"
            );
            last = e.time;
            if e.enter {
                open.push(&e.region);
                deepest = deepest.max(open.len());
            } else {
                assert_eq!(
                    open.pop(),
                    Some(e.region.as_str()),
                    "location {location}: {e:?}"
                );
            }
        }
        assert!(open.is_empty(), "location {location}: left open {open:?}");
    }
    deepest
}

/// Checks the archive of `file` against the file: per region exactly one
/// ENTER and one LEAVE per call, proper nesting, one location group
/// `MPI Rank N` per rank and a region definition per region. Returns the
/// events.
fn assert_matches_profile(file: &Path, archive: &Path) -> Vec<Event> {
    let profile = ProfileFile::open(file).unwrap();
    let events = events(archive);
    for region in profile.regions() {
        let calls: usize = region.per_rank.values().map(|e| e.starts.len()).sum();
        let of = |enter| {
            events
                .iter()
                .filter(|e| e.enter == enter && e.region == region.name)
                .count()
        };
        assert_eq!(of(true), calls, "ENTERs of {}", region.name);
        assert_eq!(of(false), calls, "LEAVEs of {}", region.name);
    }
    let calls: usize = Timeline::of(&profile, None, |_| true).calls.len();
    assert_eq!(events.len(), 2 * calls);
    assert_nested(&events);

    let defs = definitions(archive);
    let groups: Vec<&str> = defs
        .lines()
        .filter(|l| l.starts_with("LOCATION_GROUP "))
        .collect();
    assert_eq!(groups.len(), profile.ranks().len(), "{defs}");
    for rank in profile.ranks() {
        let name = format!("Name: \"MPI Rank {rank}\"");
        assert!(
            groups.iter().any(|g| g.contains(&name)),
            "no {name}: {defs}"
        );
    }
    let regions: BTreeSet<&str> = defs
        .lines()
        .filter(|l| l.starts_with("REGION "))
        .filter_map(|l| {
            l.split_once("Name: \"")?
                .1
                .split_once("\" <")
                .map(|(n, _)| n)
        })
        .collect();
    for name in profile.region_names() {
        assert!(regions.contains(name), "no region {name:?}: {defs}");
    }
    assert!(defs.contains("Ticks per Seconds: 1000000000"), "{defs}");
    events
}

/// `target/debug/examples/mpi_demo`, which CI builds with `--features mpi`
/// at the repository root.
fn mpi_demo() -> PathBuf {
    // Tests run from target/<profile>/deps; examples are built beside it.
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/mpi_demo");
    assert!(
        path.exists(),
        "{path:?} not built: run `cargo build --features mpi --example mpi_demo` at the repository root first"
    );
    path
}

#[test]
fn four_rank_mpirun_profile_gives_one_enter_and_leave_per_call() {
    let dir = tempfile::tempdir().unwrap();
    let h5 = dir.path().join("mpi4.h5");
    let out = Command::new("mpirun")
        .args(["--allow-run-as-root", "--oversubscribe", "-n", "4"])
        .arg(mpi_demo())
        .arg(&h5)
        .arg("5")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .expect("mpirun (Debian: openmpi-bin) is installed");
    assert!(
        out.status.success(),
        "mpirun: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let profile = ProfileFile::open(&h5).unwrap();
    assert_eq!(
        profile.ranks(),
        [0, 1, 2, 3],
        "mpi_demo built without --features mpi?"
    );

    let archive_dir = dir.path().join("otf2");
    let said = export(&h5, &archive_dir);
    let anchor = archive_dir.join("traces.otf2");
    assert!(said.contains("wrote OTF2 archive"), "{said}");
    let events = assert_matches_profile(&h5, &anchor);
    // Rank r calls `compute` 5 + r times: 26 calls, each on its rank's
    // one location.
    assert_eq!(events.len(), 2 * 26);
    let locations: BTreeSet<u64> = events.iter().map(|e| e.location).collect();
    assert_eq!(locations.len(), 4);
}

#[test]
fn python_four_rank_file_exports_four_groups() {
    let dir = tempfile::tempdir().unwrap();
    let file = reference("mpi4_v0.7.5_schema3.h5");
    export(&file, dir.path());
    assert_matches_profile(&file, &dir.path().join("traces.otf2"));
}

#[test]
fn recursive_and_nested_calls_nest_on_one_location() {
    let dir = tempfile::tempdir().unwrap();
    let file = reference("c_api_v0.7.5_schema2.h5");
    export(&file, dir.path());
    let events = assert_matches_profile(&file, &dir.path().join("traces.otf2"));
    // fibonacci recurses through fib_call: deeper than fibonacci + one call.
    assert!(assert_nested(&events) > 3);
    let locations: BTreeSet<u64> = events.iter().map(|e| e.location).collect();
    assert_eq!(locations.len(), 1);
}

#[test]
fn overlapping_lifetimes_get_locations_of_their_own() {
    let call = |region, start, end| Call {
        rank: 0,
        thread: 0,
        region,
        start,
        end,
        lane: 0,
        depth: 0,
    };
    // `step` calls on thread 0; two `task [lifetime]` calls outlive the
    // step they start in, and overlap each other.
    let timeline = Timeline {
        names: vec!["step".into(), "task [lifetime]".into(), "inner".into()],
        calls: vec![
            call(0, 1_000, 2_000),
            call(1, 1_500, 4_500),
            call(2, 1_600, 1_700),
            call(0, 2_000, 3_000),
            call(1, 2_500, 5_000),
            call(0, 3_000, 4_000),
            call(2, 3_000, 4_000),
        ],
        colours: Vec::new(),
        lanes: Vec::new(),
        thread_names: Default::default(),
    };
    let dir = tempfile::tempdir().unwrap();
    let done = otf2::export(&timeline, &[0, 1], "test-host", dir.path(), |_| {}).unwrap();
    assert_eq!((done.ranks, done.locations, done.events), (2, 3, 14));
    let events = events(&done.anchor);
    assert_eq!(events.len(), 14);
    assert_nested(&events);
    let on = |location| {
        events
            .iter()
            .filter(|e| e.location == location)
            .map(|e| (e.enter, e.region.as_str()))
            .collect::<Vec<_>>()
    };
    // Thread 0 keeps its own stack; each lifetime sits on a location of its own.
    assert!(on(0).iter().all(|(_, r)| *r != "task [lifetime]"));
    assert_eq!(
        on(1),
        [(true, "task [lifetime]"), (false, "task [lifetime]")]
    );
    assert_eq!(
        on(2),
        [(true, "task [lifetime]"), (false, "task [lifetime]")]
    );
    // inner [3000, 4000] starts and ends with the third step: nested inside it.
    let zero: Vec<&Event> = events.iter().filter(|e| e.location == 0).collect();
    let names: Vec<(bool, &str)> = zero[6..]
        .iter()
        .map(|e| (e.enter, e.region.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            (true, "step"),
            (true, "inner"),
            (false, "inner"),
            (false, "step")
        ]
    );

    let defs = definitions(&done.anchor);
    assert!(
        defs.contains("\"thread 0 (overlapping calls 2)\""),
        "{defs}"
    );
    assert!(
        defs.contains("\"MPI Rank 1\""),
        "a rank without calls keeps its group: {defs}"
    );
    assert!(defs.contains("Global Offset: 1000, Length: 4000"), "{defs}");
    assert!(defs.contains("\"test-host\""), "{defs}");
}

#[test]
fn existing_archive_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = reference("c_api_v0.7.5_schema2.h5");
    export(&file, dir.path());
    let anchor = dir.path().join("traces.otf2");
    let before = std::fs::read(&anchor).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scope-profiler-pproc"))
        .arg(&file)
        .args(["--export", "otf2"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&dir.path().display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("already holds an OTF2 archive"), "{stderr}");
    assert_eq!(std::fs::read(&anchor).unwrap(), before);
}

#[test]
fn unwritable_output_is_one_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, b"").unwrap();
    let target = blocker.join("archive");
    let timeline = Timeline::default();
    let err = otf2::export(&timeline, &[0], "m", &target, |_| {}).unwrap_err();
    let message = err.to_string();
    assert!(message.contains(&target.display().to_string()), "{message}");
    assert!(!message.contains('\n'), "{message}");
}
