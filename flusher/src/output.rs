//! Writing the merged profile: a temporary file in the destination
//! directory, renamed into place, so `file_path` is never half-written.

use std::path::{Path, PathBuf};

use crate::metadata::{self, RunFacts};
use crate::schema::write::copy_rank_tree;

/// Merges `rank_files` (rank, path) into `file_path` as schema 1:
/// `/metadata` plus each rank file's tree under `/rank<N>`.
pub fn write_merged(
    file_path: &Path,
    rank_files: &[(u32, PathBuf)],
    facts: &RunFacts,
) -> Result<(), String> {
    let dir = match file_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let file_name = file_path
        .file_name()
        .ok_or_else(|| format!("{} names a directory, not a file", file_path.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let written = write_into(&tmp, rank_files, facts).map_err(|e| e.to_string());
    let renamed = written.and_then(|()| {
        std::fs::rename(&tmp, file_path)
            .map_err(|e| format!("cannot move {} into place: {e}", tmp.display()))
    });
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    renamed
}

fn write_into(tmp: &Path, rank_files: &[(u32, PathBuf)], facts: &RunFacts) -> hdf5::Result<()> {
    let out = crate::h5file::create(tmp)?;
    metadata::write(&out.create_group("metadata")?, facts)?;
    for (rank, path) in rank_files {
        let src = crate::h5file::open(path)?;
        copy_rank_tree(&src, &out.create_group(&format!("rank{rank}"))?)?;
    }
    out.flush()?;
    out.close()
}
