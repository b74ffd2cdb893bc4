//! Writing the merged profile: a temporary file in the destination
//! directory, renamed into place, so `file_path` is never half-written.

use std::path::{Path, PathBuf};

use crate::columnar::ColumnarWriter;
use crate::metadata::{self, RunFacts};
use crate::{attrs, tree, ClockShift, WriteError};

/// Layout of the merged file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputSchema {
    /// Schema 1: `/rank<N>/regions/<name>/{start_times,end_times}` (read by
    /// scope-profiler 0.2.1 and 0.7.5). Default.
    #[default]
    Tree,
    /// Schema 3, columnar: shared event columns and a fixed-size index (read
    /// by scope-profiler 0.7.5, including its summary-only reader); scales to
    /// many ranks and regions, and any string is a region name as is.
    Columnar,
}

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

/// Merges the rank files into `file_path`: `/metadata` plus every rank's
/// events, timestamps shifted onto rank 0's clock. In schema 1 each rank
/// group keeps its raw clock offsets (`clock_offset_*_ns`,
/// `clock_drift_ns_per_s`) so the shift can be undone.
pub fn write_merged(
    file_path: &Path,
    ranks: &[RankInput],
    facts: &RunFacts,
    schema: OutputSchema,
) -> Result<(), WriteError> {
    let dir = match file_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let file_name = file_path
        .file_name()
        .ok_or_else(|| WriteError::NotAFile(file_path.to_owned()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        file_name.to_string_lossy(),
        std::process::id()
    ));
    let written = match schema {
        OutputSchema::Tree => write_tree(&tmp, ranks, facts),
        OutputSchema::Columnar => write_columnar(&tmp, ranks, facts),
    }
    .map_err(|source| WriteError::Hdf5 {
        path: file_path.to_owned(),
        source,
    });
    let renamed = written.and_then(|()| {
        std::fs::rename(&tmp, file_path).map_err(|source| WriteError::Rename {
            from: tmp.clone(),
            source,
        })
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
        tree::copy_rank_tree(&src, &group, &|t| shift.apply(t))?;
        attrs::write_str(&group, "hostname", &input.hostname)?;
        attrs::write_i64(&group, "clock_offset_setup_ns", shift.setup.offset_ns)?;
        attrs::write_i64(&group, "clock_offset_finalize_ns", shift.finalize.offset_ns)?;
        attrs::write_i64(&group, "clock_rtt_ns", shift.rtt_ns())?;
        attrs::write_f64(&group, "clock_drift_ns_per_s", shift.drift_ns_per_s())?;
    }
    out.flush()?;
    out.close()
}
