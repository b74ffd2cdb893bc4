//! The seed's flow: a profiled `compute`, then finalize. The same code runs
//! serially (`cargo run --example mpi_demo`) or under MPI
//! (`cargo build --features mpi --example mpi_demo` then
//! `mpirun -n 4 target/debug/examples/mpi_demo`): no MPI code here.
//!
//! `mpi_demo [OUT.h5] [CALLS] [--panic-rank R] [--tmp DIR] [--timeout S] [--columnar | --aggregate]`: rank r calls
//! `compute` CALLS + r times; `--panic-rank` makes rank R panic before
//! finalize (after flushing), to show what the other ranks do.

use std::time::Duration;

use scope_profiler::{region, Config, OutputSchema, ProfileManager};

fn compute(work: u64) -> u64 {
    let _g = region!("compute");
    (0..work).fold(0u64, |acc, i| acc.wrapping_add(std::hint::black_box(i)))
}

fn main() -> Result<(), scope_profiler::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let positional: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || !args[i - 1].starts_with("--")))
        .map(|(_, a)| a)
        .collect();
    let out = positional
        .first()
        .map_or("profiling_data.h5", |s| s.as_str())
        .to_owned();
    let calls: u64 = positional.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let panic_rank: Option<u32> = flag("--panic-rank").and_then(|s| s.parse().ok());

    let timeout = flag("--timeout")
        .and_then(|s| s.parse().ok())
        .unwrap_or(120);
    let mut config = Config::default()
        .file_path(&out)
        .finalize_timeout(Duration::from_secs(timeout));
    if args.iter().any(|a| a == "--columnar") {
        config = config.output_schema(OutputSchema::Columnar);
    }
    if args.iter().any(|a| a == "--aggregate") {
        config = config.output_schema(OutputSchema::Aggregate);
    }
    if let Some(dir) = flag("--tmp") {
        config = config.shared_tmp_dir(dir);
    }
    ProfileManager::setup(config)?;
    let (rank, size) = ProfileManager::rank_and_size().unwrap_or((0, 1));
    for _ in 0..calls + rank as u64 {
        compute(100_000);
    }
    if panic_rank == Some(rank) {
        ProfileManager::flush()?;
        panic!("rank {rank} of {size} fails on purpose before finalize");
    }
    let summary = ProfileManager::finalize()?;
    if rank == 0 {
        eprintln!("rank 0: wrote {out} with {} rank(s)", summary.ranks);
    }
    Ok(())
}
