//! Merge cost at finalize: every rank records `EVENTS` region calls and
//! waits for the others at an `MPI_Barrier` (the program initializes MPI,
//! so waiting for the slowest rank to finish recording is not counted),
//! then rank 0 reports how long `finalize` took (drain, barrier, merge,
//! rename), the CPU time its process spent in it and the page faults it
//! took (every thread: `getrusage`), and the merged file's size.
//!
//! `mpirun -n N target/release/examples/merge_bench EVENTS tree|columnar OUT.h5 [REGIONS]`
//! (REGIONS 1 to 3: the calls go to that many regions in turn; 1 by default)
//! (feature `mpi`; `scripts/merge-bench.sh` runs the table in docs/mpi.md).

use std::time::Instant;

use scope_profiler::mpi;
use scope_profiler::mpi::collective::CommunicatorCollectives;
use scope_profiler::{region, Config, OutputSchema, ProfileManager};

fn main() -> Result<(), scope_profiler::Error> {
    let universe = mpi::initialize().expect("MPI initializes once");
    let mut args = std::env::args().skip(1);
    let events: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let schema = match args.next().as_deref() {
        Some("columnar") => OutputSchema::Columnar,
        _ => OutputSchema::Tree,
    };
    let out = args.next().unwrap_or_else(|| "merge_bench.h5".into());
    let regions: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .clamp(1, 3);
    ProfileManager::setup(
        Config::default()
            .file_path(&out)
            .print_summary(false)
            .output_schema(schema)
            .buffer_limit(1 << 18),
    )?;
    let (rank, size) = ProfileManager::rank_and_size().unwrap_or((0, 1));
    for i in 0..events {
        match i % regions {
            0 => drop(region!("work")),
            1 => drop(region!("more work")),
            _ => drop(region!("other work")),
        }
    }
    universe.world().barrier();
    let (began, before) = (Instant::now(), usage());
    ProfileManager::finalize()?;
    if rank == 0 {
        let after = usage();
        let (wall, cpu) = (began.elapsed(), after.cpu_s - before.cpu_s);
        let faults = after.page_faults - before.page_faults;
        let bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
        println!(
            "ranks={size} schema={schema:?} events_per_rank={events} finalize_s={:.3} rank0_cpu_s={cpu:.3} rank0_page_faults={faults} file_mb={:.1}",
            wall.as_secs_f64(),
            bytes as f64 / 1e6
        );
    }
    Ok(())
}

/// What this process (all its threads) has used so far.
struct Usage {
    /// User plus system CPU time, s.
    cpu_s: f64,
    /// Page faults served without I/O (fresh or cached pages).
    page_faults: i64,
}

/// This process's usage so far (`getrusage(RUSAGE_SELF)`).
fn usage() -> Usage {
    // SAFETY: `getrusage` fills the `rusage` we pass, which lives for the
    // call; RUSAGE_SELF is a valid `who`.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    Usage {
        cpu_s: s(usage.ru_utime) + s(usage.ru_stime),
        page_faults: usage.ru_minflt,
    }
}
