//! Runs started by a launcher (`mpirun`, `srun`) without feature `mpi`:
//! each copy would write the same file, so each writes its own.

use std::path::{Path, PathBuf};

/// Environment variables launchers set to the job's size, and to the rank.
const SIZE_VARS: [&str; 4] = [
    "OMPI_COMM_WORLD_SIZE",
    "PMI_SIZE",
    "PMIX_SIZE",
    "SLURM_NTASKS",
];
const RANK_VARS: [&str; 4] = [
    "OMPI_COMM_WORLD_RANK",
    "PMI_RANK",
    "PMIX_RANK",
    "SLURM_PROCID",
];

fn env_number(vars: &[&str]) -> Option<u32> {
    vars.iter()
        .find_map(|v| std::env::var(v).ok()?.trim().parse().ok())
}

/// Where a single-rank process writes its merged file: `file_path` itself,
/// unless a launcher runs several copies, in which case each writes
/// `<stem>.rank<N>.<ext>` (rank 0 warns once) instead of clobbering one file.
pub(super) fn output_path_for_copy(file_path: &Path) -> PathBuf {
    let launched = env_number(&SIZE_VARS).filter(|n| *n > 1);
    let (Some(size), Some(rank)) = (launched, env_number(&RANK_VARS)) else {
        return file_path.to_owned();
    };
    let stem = file_path.file_stem().map_or_else(
        || "profiling_data".into(),
        |s| s.to_string_lossy().into_owned(),
    );
    let name = match file_path.extension() {
        Some(ext) => format!("{stem}.rank{rank}.{}", ext.to_string_lossy()),
        None => format!("{stem}.rank{rank}"),
    };
    let path = file_path.with_file_name(name);
    if rank == 0 {
        eprintln!(
            "scope-profiler: warning: running under a launcher with {size} ranks but built without feature \
             `mpi`: each rank writes its own file ({} for rank 0) instead of one merged file; \
             build with `--features mpi` to merge them",
            path.display()
        );
    }
    path
}
