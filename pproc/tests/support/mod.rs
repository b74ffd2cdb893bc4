//! Profiles written straight in the schema-1 layout
//! (`/rank<N>/regions/<name>/{start_times,end_times,thread_ids}`), so tests
//! and the `async_profile` example control every call, crossing ones
//! included. Shared by the tests and `examples/async_profile.rs`.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use scope_profiler_format::hdf5;

/// One call: (thread, start ns, end ns).
pub type RawCall = (u32, i64, i64);

/// Calls by rank, then by region name.
pub type Calls = BTreeMap<u32, BTreeMap<String, Vec<RawCall>>>;

/// Writes `calls` as a schema-1 profile at `path`.
pub fn write_schema1(path: &Path, calls: &Calls) -> hdf5::Result<()> {
    let file = scope_profiler_format::h5file::create(path)?;
    let metadata = file.create_group("metadata")?;
    metadata
        .new_attr::<i64>()
        .shape(())
        .create("mpi_size")?
        .write_scalar(&(calls.len() as i64))?;
    for (rank, regions) in calls {
        for (name, region_calls) in regions {
            let group = file.create_group(&format!("rank{rank}/regions/{name}"))?;
            let column =
                |f: fn(&RawCall) -> i64| -> Vec<i64> { region_calls.iter().map(f).collect() };
            for (dataset, values) in [
                ("start_times", column(|c| c.1)),
                ("end_times", column(|c| c.2)),
            ] {
                group
                    .new_dataset::<i64>()
                    .shape(values.len())
                    .create(dataset)?
                    .write(values.as_slice())?;
            }
            let threads: Vec<u32> = region_calls.iter().map(|c| c.0).collect();
            group
                .new_dataset::<u32>()
                .shape(threads.len())
                .create("thread_ids")?
                .write(threads.as_slice())?;
        }
    }
    Ok(())
}

/// A run of an async program on `ranks` ranks, `steps` steps each:
/// - thread 0: `main` holding every `step`, each holding `compute` then
///   `exchange` (rank r computes (1 + r/4) times as long: imbalance);
/// - thread 1: an `upload` task started every step that lives three steps
///   (`upload [lifetime]`, so three are alive at once) and is polled once a
///   step on this thread (`upload`);
/// - thread 2: `fetch` spans held across an await, each from one step to
///   the middle of the next: each crosses the one before it.
pub fn async_run(ranks: u32, steps: i64) -> Calls {
    const STEP: i64 = 1_000_000;
    let mut calls = Calls::new();
    for rank in 0..ranks {
        let regions = calls.entry(rank).or_default();
        let mut add = |name: &str, call: RawCall| {
            regions.entry(name.to_owned()).or_default().push(call);
        };
        let t0 = 5_000_000_000 + rank as i64 * 1_500;
        add("main", (0, t0, t0 + steps * STEP + 10_000));
        for s in 0..steps {
            let start = t0 + 5_000 + s * STEP;
            let compute = STEP / 2 * (4 + rank as i64) / 8;
            add("step", (0, start, start + STEP - 20_000));
            add("compute", (0, start + 1_000, start + 1_000 + compute));
            add(
                "exchange",
                (0, start + 2_000 + compute, start + STEP - 30_000),
            );
            add(
                "upload [lifetime]",
                (1, start + 100, start + 3 * STEP - 50_000),
            );
            add(
                "upload",
                (1, start + 200_000, start + 260_000 + (s % 5) * 10_000),
            );
            add("fetch", (2, start + 300_000, start + STEP + STEP / 2));
            add("decode", (2, start + 310_000, start + 400_000));
        }
    }
    calls
}

/// Number of calls in `calls`.
pub fn count(calls: &Calls) -> usize {
    calls
        .values()
        .flat_map(|regions| regions.values())
        .map(Vec::len)
        .sum()
}

/// Runs `scope-profiler-pproc` with `args` (tests only: the binary's path
/// is known to integration tests).
#[cfg(test)]
pub fn pproc(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_scope-profiler-pproc"))
        .args(args)
        .output()
        .unwrap()
}

/// Runs [`pproc`] and fails the test unless it succeeds.
#[cfg(test)]
pub fn pproc_ok(args: &[&str]) {
    let out = pproc(args);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// [`async_run`] with `steps` steps on 2 ranks, written as `async.h5` in `dir`.
pub fn async_file(dir: &Path, steps: i64) -> std::path::PathBuf {
    let path = dir.join("async.h5");
    write_schema1(&path, &async_run(2, steps)).unwrap();
    path
}
