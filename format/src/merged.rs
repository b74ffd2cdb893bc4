//! Writing the merged profile from the ranks' streams: a temporary file in
//! the destination directory, renamed into place, so `file_path` is never
//! half-written.

use std::path::{Path, PathBuf};

use crate::aggregate::RankAggregate;
use crate::columnar;
use crate::metadata::{self, RunFacts};
use crate::rank_totals::RankTotals;
use crate::tree::{self, RankWriteError};
use crate::{attrs, ClockShift, WriteError};

pub use crate::stream_part::rank_part;

/// Layout of the merged file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputSchema {
    /// Schema 1: `/rank<N>/regions/<name>/{start_times,end_times}` (read by
    /// scope-profiler 0.2.1 and 0.7.5), compressed with HDF5's built-in
    /// shuffle and deflate filters. Default.
    #[default]
    Tree,
    /// Schema 3, columnar: shared event columns and a fixed-size index (read
    /// by scope-profiler 0.7.5, including its summary-only reader); scales to
    /// many ranks and regions, and any string is a region name as is.
    Columnar,
    /// Statistics per rank, thread and region (calls, total, min, max, mean,
    /// m2, a log-scale duration histogram) instead of every call, plus the
    /// calls the run kept as a trace: the file's size does not grow with the
    /// run's length ([`crate::aggregate`]; scope-profiler 0.7.5 reads the
    /// counts and totals).
    Aggregate,
}

/// One rank's stream and how its timestamps map onto rank 0's clock.
pub struct RankInput {
    /// The rank.
    pub rank: u32,
    /// Its `rank_<N>.sps`.
    pub path: PathBuf,
    /// Its clock offsets (identity for rank 0 and serial runs).
    pub shift: ClockShift,
    /// Its host name.
    pub hostname: String,
    /// What the rank accumulated in aggregate mode; [`OutputSchema::Aggregate`]
    /// computes it from the stream's calls when `None`, the other schemas
    /// ignore it.
    pub aggregate: Option<RankAggregate>,
}

/// Merges the ranks' streams into `file_path`: `/metadata` plus every
/// rank's calls, timestamps shifted onto rank 0's clock. In schema 1 each
/// rank group keeps its raw clock offsets (`clock_offset_*_ns`,
/// `clock_drift_ns_per_s`) so the shift can be undone.
pub fn write_merged(
    file_path: &Path,
    ranks: &[RankInput],
    facts: &RunFacts,
    schema: OutputSchema,
) -> Result<Option<Vec<RankTotals>>, WriteError> {
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
        OutputSchema::Tree => write_tree(&tmp, ranks, facts).map(Some),
        OutputSchema::Columnar => write_columnar(&tmp, ranks, facts).map(|()| None),
        OutputSchema::Aggregate => crate::aggregate::write(&tmp, ranks, facts).map(|()| None),
    };
    let renamed = written.and_then(|totals| {
        std::fs::rename(&tmp, file_path)
            .map(|()| totals)
            .map_err(|source| WriteError::Rename {
                from: tmp.clone(),
                source,
            })
    });
    if renamed.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    renamed
}

fn hdf5_error(path: &Path) -> impl Fn(hdf5::Error) -> WriteError + '_ {
    move |source| WriteError::Hdf5 {
        path: path.to_owned(),
        source,
    }
}

fn write_tree(
    tmp: &Path,
    ranks: &[RankInput],
    facts: &RunFacts,
) -> Result<Vec<RankTotals>, WriteError> {
    let h5 = hdf5_error(tmp);
    let out = crate::h5file::create(tmp).map_err(&h5)?;
    metadata::write(&out.create_group("metadata").map_err(&h5)?, facts).map_err(&h5)?;
    let mut totals = Vec::with_capacity(ranks.len());
    for input in ranks {
        let group = out
            .create_group(&format!("rank{}", input.rank))
            .map_err(&h5)?;
        let rank_totals =
            tree::write_rank(&group, &input.path, &input.shift).map_err(|e| match e {
                RankWriteError::Hdf5(source) => h5(source),
                RankWriteError::Stream(source) => WriteError::Stream {
                    path: input.path.clone(),
                    source,
                },
            })?;
        let shift = input.shift;
        (|| -> hdf5::Result<()> {
            attrs::write_str(&group, "hostname", &input.hostname)?;
            attrs::write_i64(&group, "clock_offset_setup_ns", shift.setup.offset_ns)?;
            attrs::write_i64(&group, "clock_offset_finalize_ns", shift.finalize.offset_ns)?;
            attrs::write_i64(&group, "clock_rtt_ns", shift.rtt_ns())?;
            attrs::write_f64(&group, "clock_drift_ns_per_s", shift.drift_ns_per_s())
        })()
        .map_err(&h5)?;
        totals.push(rank_totals);
    }
    out.flush().map_err(&h5)?;
    out.close().map_err(&h5)?;
    Ok(totals)
}

/// Schema 3 from the streams: each rank's part built from its stream
/// (16 to 24 bytes a call in memory, one rank at a time) and compressed, the file
/// laid out from the parts' descriptions and chunk sizes, then each part's
/// chunks written at their addresses. Ranks are read twice (once to count
/// their events, which sets the chunk size, once to compress) unless there
/// is one.
fn write_columnar(tmp: &Path, ranks: &[RankInput], facts: &RunFacts) -> Result<(), WriteError> {
    let h5 = hdf5_error(tmp);
    let mut kept = None;
    let mut descriptions = Vec::with_capacity(ranks.len());
    for input in ranks {
        let part = rank_part(input)?;
        descriptions.push(part.description.clone());
        if ranks.len() == 1 {
            kept = Some(part);
        }
    }
    let counts: Vec<u64> = descriptions.iter().map(|d| d.events()).collect();
    let chunk = columnar::chunk_events(&counts);
    let compressed = ranks
        .iter()
        .map(|input| {
            let part = match kept.take() {
                Some(part) => part,
                None => rank_part(input)?,
            };
            Ok(part.compress(chunk, columnar::Threads::Pool))
        })
        .collect::<Result<Vec<_>, WriteError>>()?;
    let sizes: Vec<Vec<u32>> = compressed.iter().map(|c| c.sizes()).collect();
    let addresses = columnar::create_file(tmp, facts, &descriptions, chunk, &sizes).map_err(&h5)?;
    for (part, at) in compressed.iter().zip(&addresses) {
        part.write(tmp, at).map_err(|source| WriteError::Stream {
            path: tmp.to_owned(),
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream::TickScale;
    use crate::{read_profile, testing};

    #[test]
    fn every_schema_puts_a_ranks_timestamps_on_rank_0s_clock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rank_1.sps");
        let scale = TickScale {
            anchor_ticks: 1 << 40,
            anchor_ns: 5_000_000_000,
            ns_per_tick: 0.384_615_4,
        };
        let calls: Vec<testing::Call> = (0..1000u64)
            .map(|i| {
                (
                    0,
                    0,
                    (1 << 40) + i * 3_000_000,
                    (1 << 40) + i * 3_000_000 + 1_000 + i,
                )
            })
            .collect();
        testing::write_stream(&path, 1, scale, &["solve"], &calls);
        // 40 µs behind rank 0 at setup, 70 µs at finalize 1.2 s later.
        let shift = testing::shift((4_900_000_000, 40_000), (6_100_000_000, 70_000));
        let input = RankInput {
            rank: 1,
            path,
            shift,
            hostname: "node".into(),
            aggregate: None,
        };
        let facts = RunFacts {
            start_time_ns: 4_900_000_000,
            finalize_time_ns: 6_100_000_000,
            mpi_size: 2,
            counters: Vec::new(),
            labels: Vec::new(),
        };
        for schema in [
            OutputSchema::Tree,
            OutputSchema::Columnar,
            OutputSchema::Aggregate,
        ] {
            let out = dir.path().join(format!("{schema:?}.h5"));
            write_merged(&out, std::slice::from_ref(&input), &facts, schema).unwrap();
            let read = read_profile(&out).unwrap();
            let events = &read.regions[0].per_rank[&1];
            assert_eq!(events.starts.len(), calls.len());
            for (i, &(_, _, start, end)) in calls.iter().enumerate() {
                for (got, ticks) in [(events.starts[i], start), (events.ends[i], end)] {
                    let want = shift.apply(scale.to_ns(ticks));
                    assert!(
                        (got - want).abs() <= 2,
                        "{schema:?}: call {i} at {got}, {want} on rank 0's clock"
                    );
                }
            }
        }
    }
}
