//! Writing the merged profile: a temporary file in the destination
//! directory, renamed into place, so `file_path` is never half-written.

use std::path::{Path, PathBuf};

use crate::config::OutputSchema;
use crate::metadata::{self, RunFacts};
use crate::ranks::ClockShift;
use crate::schema::columnar::ColumnarWriter;
use crate::schema::write::{copy_rank_tree, write_f64_attr, write_i64_attr, write_str_attr};

/// One rank's file and how its timestamps map onto rank 0's clock.
pub struct RankInput {
    /// The rank.
    pub rank: u32,
    /// Its `rank_<N>.h5`.
    pub path: PathBuf,
    /// Its clock offsets (identity for rank 0 and serial runs).
    pub shift: ClockShift,
    /// Its host name.
    pub hostname: String,
}

/// Merges the rank files into `file_path` as schema 1: `/metadata` plus each
/// rank file's tree under `/rank<N>`, timestamps shifted onto rank 0's clock;
/// each rank group keeps its raw clock offsets (`clock_offset_*_ns`,
/// `clock_drift_ns_per_s`) so the shift can be undone.
pub fn write_merged(
    file_path: &Path,
    ranks: &[RankInput],
    facts: &RunFacts,
    schema: OutputSchema,
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
    let written = match schema {
        OutputSchema::Tree => write_tree(&tmp, ranks, facts),
        OutputSchema::Columnar => write_columnar(&tmp, ranks, facts),
    }
    .map_err(|e| e.to_string());
    let renamed = written.and_then(|()| {
        std::fs::rename(&tmp, file_path)
            .map_err(|e| format!("cannot move {} into place: {e}", tmp.display()))
    });
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    renamed
}

fn write_columnar(tmp: &Path, ranks: &[RankInput], facts: &RunFacts) -> hdf5::Result<()> {
    let mut out = ColumnarWriter::create(tmp)?;
    metadata::write(&out.root().create_group("metadata")?, facts)?;
    for input in ranks {
        let src = crate::h5file::open(&input.path)?;
        let shift = input.shift;
        out.append_rank(input.rank, &src, &|t| shift.apply(t))?;
    }
    out.finish()
}

fn write_tree(tmp: &Path, ranks: &[RankInput], facts: &RunFacts) -> hdf5::Result<()> {
    let out = crate::h5file::create(tmp)?;
    metadata::write(&out.create_group("metadata")?, facts)?;
    for input in ranks {
        let src = crate::h5file::open(&input.path)?;
        let group = out.create_group(&format!("rank{}", input.rank))?;
        let shift = input.shift;
        copy_rank_tree(&src, &group, &|t| shift.apply(t))?;
        write_str_attr(&group, "hostname", &input.hostname)?;
        write_i64_attr(&group, "clock_offset_setup_ns", shift.setup.offset_ns)?;
        write_i64_attr(&group, "clock_offset_finalize_ns", shift.finalize.offset_ns)?;
        write_i64_attr(
            &group,
            "clock_rtt_ns",
            shift.setup.rtt_ns.max(shift.finalize.rtt_ns),
        )?;
        write_f64_attr(&group, "clock_drift_ns_per_s", shift.drift_ns_per_s())?;
    }
    out.flush()?;
    out.close()
}
