//! Clock alignment check: the program initializes MPI itself (the profiler
//! must use its world and leave MPI alone), ranks start at different times
//! and sleep different amounts, and a region around each `MPI_Barrier` must
//! end at about the same instant on every rank in the merged file.
//!
//! `mpirun -n 2 target/debug/examples/mpi_clock OUT.h5` (feature `mpi`).

use std::time::Duration;

use scope_profiler::mpi;
use scope_profiler::mpi::collective::CommunicatorCollectives;
use scope_profiler::mpi::topology::Communicator;
use scope_profiler::{region, Config, ProfileManager};

fn main() -> Result<(), scope_profiler::Error> {
    let universe = mpi::initialize().expect("MPI initializes once");
    let world = universe.world();
    let rank = world.rank() as u64;
    std::thread::sleep(Duration::from_millis(30 * rank));
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "profiling_data.h5".into());
    ProfileManager::setup(Config::default().file_path(&out).print_summary(false))?;
    for round in 0..20u64 {
        std::thread::sleep(Duration::from_millis(5 * ((rank + round) % 3)));
        let _g = region!("barrier");
        world.barrier();
    }
    ProfileManager::finalize()?;
    // MPI is still ours: use it once more, then let `universe` finalize it.
    world.barrier();
    Ok(())
}
