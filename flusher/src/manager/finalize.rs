//! Finalize, step by step: stop and drain this rank, wait for every rank,
//! gather the ranks' reports on rank 0, merge the rank files there, and tell
//! every rank how it went. Any failure keeps the run directory and names it.
//! In aggregate mode each rank's statistics reach rank 0 by a collective
//! gather (not through the rank files, which hold only the kept calls).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use scope_profiler_core::{clock, Calibration};
use scope_profiler_format::aggregate::RankAggregate;
use scope_profiler_format::columnar::{self, PartDescription, RankPart, Threads};
use scope_profiler_format::merged::{self, write_merged, OutputSchema, RankInput};
use scope_profiler_format::metadata::{hostname, RunFacts};
use scope_profiler_format::rank_totals::{self, RankTotals};
use scope_profiler_format::stream::{self, TickScale};
use scope_profiler_format::{ClockOffset, ClockShift, WriteError};
use tempfile::TempDir;

use super::Running;
use crate::config::Config;
use crate::drain::{tick_scale, FlushOutcome};
use crate::error::{Error, FinalizeError, ParallelError, Result};
use crate::ranks::RankContext;
use crate::report::{pool, RankReport};
use crate::summary::{several_lanes, RegionSummary, Summary};

impl Running {
    /// Ends the run (see [`ProfileManager::finalize`](super::ProfileManager::finalize)).
    pub(super) fn finalize(self) -> Result<Summary> {
        let Running {
            config,
            session,
            flusher,
            ranks,
            run_dir,
            owned_dir,
            setup_clock,
            calibration,
        } = self;
        let outcome = flusher.finish()?;
        drop(session);
        let rank = ranks.rank();
        warn_of_losses(rank, &outcome);
        let rank_path = run_dir.join(stream::file_name(rank));
        let schema = config.get_output_schema();
        let timed = config.get_time_trace();
        let timeout = config.get_finalize_timeout();
        let keep = |owned: Option<TempDir>, source: FinalizeError| -> Error {
            let kept = owned.map_or_else(|| run_dir.clone(), TempDir::keep);
            say(format!(
                "scope-profiler: rank {rank}: {source}; the rank data is kept in {}",
                kept.display()
            ));
            Error::Output {
                path: config.get_file_path().to_owned(),
                source,
                kept,
            }
        };
        if let Err(e) = ranks.barrier(timeout) {
            return Err(keep(owned_dir, e.into()));
        }
        // A (ticks, ns) pair read together, the closest of five (as at
        // setup): one preempted read would be off by the preemption.
        let now = Calibration::take();
        let finalize_clock = with_conversion_error(
            ranks.measure_clock(),
            tick_scale(&calibration),
            (now.anchor_ticks(), now.anchor_ns()),
        );
        let clocks = [setup_clock, finalize_clock];
        // Rank 0 writing schema 1 totals its own stream on the way (one pass
        // over it, not two); in schema 3 every rank writes its own part and
        // totals it on the way; the other ranks total their streams here, at
        // the rate of the timestamps in the file. In aggregate mode the
        // accumulator has the regions, the stream only the kept calls.
        let totals_on_write =
            schema == OutputSchema::Columnar && timed || rank == 0 && schema == OutputSchema::Tree;
        let shift = ClockShift {
            setup: setup_clock,
            finalize: finalize_clock,
        };
        let regions = match &outcome.aggregate {
            Some(aggregate) => aggregate_summaries(aggregate),
            None if totals_on_write => Vec::new(),
            None => read_totals(&rank_path, &outcome, &shift)
                .as_ref()
                .map(region_summaries)
                .unwrap_or_default(),
        };
        let mut local = rank_summary(regions, &outcome, timed);
        let mut part = None;
        let mut rank_file = outcome
            .rank_file
            .as_ref()
            .map_err(ToString::to_string)
            .copied();
        if schema == OutputSchema::Columnar && rank_file.is_ok() {
            match own_part(rank, &rank_path, clocks) {
                Ok(p) => {
                    if timed {
                        local.regions = part_summaries(&p.description);
                    }
                    part = Some(p);
                }
                Err(e) => rank_file = Err(e.to_string()),
            }
        }
        let report = RankReport {
            hostname: hostname(),
            summary: local.clone(),
            rank_file,
            clocks,
            start_ns: calibration.anchor_ns() - setup_clock.offset_ns,
            part: part.as_ref().map(|p| p.description.clone()),
        };
        let file_path = ranks.output_path(config.get_file_path());
        let mut pooled = None;
        let mut plan = None;
        // Each gather starts with a timed barrier: a rank still building
        // its part is waited for asleep, not by spinning in MPI, and a dead
        // one is an error, not a hang.
        let aggregates = outcome
            .aggregate
            .as_ref()
            .map(|a| ranks.gather_timed(a.encode(), timeout));
        let merged = match ranks.gather_timed(report.encode(), timeout) {
            Err(e) => Err(e.into()),
            Ok(None) => Ok(()),
            Ok(Some(blobs)) => decode_reports(&blobs).and_then(|mut reports| {
                // The counters are pooled now (the file's metadata); the
                // regions again once the writer has totalled rank 0.
                let counters = pool(&reports.iter().map(|r| &r.summary).collect::<Vec<_>>());
                let merge = RankMerge {
                    file_path: &file_path,
                    run_dir: &run_dir,
                    reports: &reports,
                    config: &config,
                    pooled: &counters,
                    aggregates: decode_aggregates(aggregates)?,
                };
                if schema == OutputSchema::Columnar {
                    plan = Some(merge.plan_parts()?);
                } else {
                    let written = merge.write()?;
                    if let Some(totals) = written.as_ref().and_then(|t| t.first()) {
                        reports[0].summary.regions = region_summaries(totals);
                    }
                }
                let per_rank: Vec<&Summary> = reports.iter().map(|r| &r.summary).collect();
                let mut summary = pool(&per_rank);
                summary.schema_1_mixes_lanes =
                    schema == OutputSchema::Tree && several_lanes(&per_rank);
                pooled = Some(summary);
                Ok(())
            }),
        };
        let merged = match schema {
            OutputSchema::Columnar => {
                let parts = PartsFile {
                    ranks: &ranks,
                    tmp: parts_path(&file_path, &run_dir),
                    timeout,
                };
                parts.write(part.as_ref(), merged.map(|()| plan), &file_path)
            }
            _ => merged,
        };
        // A rank that never arrived would keep the outcome's barrier waiting
        // as long again.
        if let Err(e @ FinalizeError::Parallel(ParallelError::Timeout { .. })) = merged {
            return Err(keep(owned_dir, e));
        }
        if let Err(e) = ranks.broadcast_outcome(merged, timeout) {
            return Err(keep(owned_dir, e));
        }
        // The merged file exists. Each rank removes its own stream, so that
        // unlinking the streams (and freeing their cached pages) is spread
        // over the ranks; rank 0 then removes the run directory with what
        // is left in it.
        let _ = std::fs::remove_file(&rank_path);
        drop(owned_dir);
        let mut summary = pooled.unwrap_or(local);
        summary.file = Some(file_path);
        if rank == 0 && config.get_print_summary() {
            print!("{summary}");
        }
        drop(ranks); // finalizes MPI if setup initialized it
        Ok(summary)
    }
}

/// `measured` with the error of this rank's tick conversion added to its
/// offset, given a (tick, CLOCK_MONOTONIC ns) reading taken together now:
/// the stream's timestamps are ticks converted by `scale`, at the rate
/// calibrated at setup, a few ppm off CLOCK_MONOTONIC, so by finalize they
/// are ahead of (or behind) the rank's clock by that much. The shift, a
/// line between the setup and finalize offsets, then undoes the rate's
/// error along with the ranks' offsets.
fn with_conversion_error(
    measured: ClockOffset,
    scale: TickScale,
    (ticks, now_ns): (u64, i64),
) -> ClockOffset {
    ClockOffset {
        offset_ns: measured.offset_ns + scale.to_ns(ticks).wrapping_sub(now_ns),
        ..measured
    }
}

/// Says on stderr what this rank recorded but could not keep.
fn warn_of_losses(rank: u32, outcome: &FlushOutcome) {
    let c = &outcome.counters;
    if c.open_regions_at_finalize > 0 {
        eprintln!(
            "scope-profiler: warning: rank {rank}: {} region(s) were still open at finalize; they are not in \
             the profile and are counted as dropped (open_regions_at_finalize)",
            c.open_regions_at_finalize
        );
    }
    if c.unwritten_events > 0 {
        eprintln!(
            "scope-profiler: warning: rank {rank}: {} events could not be written to the rank's stream (see \
             unwritten_events); they are not in the profile",
            c.unwritten_events
        );
    }
}

/// Every rank's report, in rank order; fails if one does not decode.
fn decode_reports(blobs: &[Vec<u8>]) -> std::result::Result<Vec<RankReport>, FinalizeError> {
    blobs
        .iter()
        .map(|b| RankReport::decode(b).ok_or(ParallelError::UnreadableReport.into()))
        .collect()
}

/// Every rank's aggregate, in rank order, from the gather (`None` outside
/// aggregate mode); fails if one does not decode.
fn decode_aggregates(
    gathered: Option<std::result::Result<Option<Vec<Vec<u8>>>, ParallelError>>,
) -> std::result::Result<Option<Vec<RankAggregate>>, FinalizeError> {
    let Some(blobs) = gathered.transpose()?.flatten() else {
        return Ok(None);
    };
    blobs
        .iter()
        .map(|b| RankAggregate::decode(b).ok_or(ParallelError::UnreadableReport.into()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map(Some)
}

/// This rank's stream totalled, or `None` (with a warning) if it cannot be
/// read; `None` too if it could not be written, which the rank file error
/// reports.
fn read_totals(rank_path: &Path, outcome: &FlushOutcome, shift: &ClockShift) -> Option<RankTotals> {
    outcome.rank_file.as_ref().ok()?;
    rank_totals::totals(rank_path, shift)
        .inspect_err(|e| {
            eprintln!(
                "scope-profiler: warning: cannot read {} back for the summary: {e}",
                rank_path.display()
            );
        })
        .ok()
}

/// Every region of `totals`, by region id.
fn region_summaries(totals: &RankTotals) -> Vec<RegionSummary> {
    totals
        .regions
        .iter()
        .map(|r| RegionSummary {
            name: r.name.clone(),
            stats: r.stats,
        })
        .collect()
}

/// Every region of an aggregate, threads pooled, by region id.
fn aggregate_summaries(aggregate: &RankAggregate) -> Vec<RegionSummary> {
    aggregate
        .per_region()
        .into_iter()
        .map(|(name, stats)| RegionSummary {
            name: name.to_owned(),
            stats,
        })
        .collect()
}

/// This rank's summary: its counters and `regions`.
fn rank_summary(regions: Vec<RegionSummary>, outcome: &FlushOutcome, timed: bool) -> Summary {
    let c = &outcome.counters;
    Summary {
        regions,
        timed,
        dropped_events: c.dropped_events,
        open_at_finalize: c.open_regions_at_finalize,
        blocked_ns: c.blocked_ns,
        threads: outcome.threads,
        ranks: 1,
        file: None,
        schema_1_mixes_lanes: false,
    }
}

/// This rank's part of a schema-3 file, from its stream, on rank 0's clock.
fn own_part(
    rank: u32,
    rank_path: &Path,
    clocks: [ClockOffset; 2],
) -> std::result::Result<RankPart, WriteError> {
    merged::rank_part(&RankInput {
        rank,
        path: rank_path.to_owned(),
        shift: ClockShift {
            setup: clocks[0],
            finalize: clocks[1],
        },
        hostname: String::new(),
        aggregate: None,
    })
}

/// Every region of a part, with its statistics.
fn part_summaries(part: &PartDescription) -> Vec<RegionSummary> {
    part.rows
        .iter()
        .map(|r| RegionSummary {
            name: r.name.clone(),
            stats: r.summary.stats(r.count),
        })
        .collect()
}

/// Where the ranks write the schema-3 file before it is renamed into
/// place: beside it, named after the run directory every rank shares.
fn parts_path(file_path: &Path, run_dir: &Path) -> PathBuf {
    let name = file_path.file_name().unwrap_or_default().to_string_lossy();
    let run = run_dir.file_name().unwrap_or_default().to_string_lossy();
    file_path.with_file_name(format!(".{name}.{run}.tmp"))
}

/// For fault tests (`tests/mpi.rs`): `<rank>:<step>` makes that rank exit
/// at once, without finalizing MPI, at that step of writing a schema-3
/// file: `sizes` (before it sends its chunks' sizes) or `write` (before it
/// writes its chunks).
const EXIT_AT_ENV: &str = "SCOPE_PROFILER_TEST_EXIT_AT";

/// Exits this process if [`EXIT_AT_ENV`] names this rank and `step`.
fn exit_if_asked(rank: u32, step: &str) {
    if std::env::var(EXIT_AT_ENV).is_ok_and(|v| v == format!("{rank}:{step}")) {
        say(format!(
            "scope-profiler: rank {rank}: exiting before '{step}' ({EXIT_AT_ENV})"
        ));
        std::process::exit(134);
    }
}

/// What rank 0 decided about the schema-3 file from every rank's report.
struct PartsPlan {
    facts: RunFacts,
    parts: Vec<PartDescription>,
    /// Events per chunk of the event columns.
    chunk: u64,
}

/// The schema-3 file every rank writes its part of: `tmp`, renamed into
/// place once every part is written. Every step waits at most `timeout`
/// for the other ranks; rank 0's failure reaches every rank.
struct PartsFile<'a> {
    ranks: &'a RankContext,
    tmp: PathBuf,
    timeout: Duration,
}

impl PartsFile<'_> {
    /// Every rank (`part`: its own, `None` if it could not build it) takes
    /// part: rank 0 broadcasts the chunk size of its `plan` (or its error),
    /// every rank compresses its part in chunks of that size and sends rank
    /// 0 their sizes, rank 0 creates the file with every chunk's space
    /// reserved and scatters each rank its chunks' addresses, each rank
    /// writes its chunks there, and once every rank has, rank 0 renames the
    /// file to `file_path`. Rank 0 removes the file if any step fails.
    fn write(
        &self,
        part: Option<&RankPart>,
        plan: std::result::Result<Option<PartsPlan>, FinalizeError>,
        file_path: &Path,
    ) -> std::result::Result<(), FinalizeError> {
        let written = self.write_steps(part, plan, file_path);
        if written.is_err() && self.ranks.rank() == 0 {
            let _ = std::fs::remove_file(&self.tmp);
        }
        written
    }

    fn write_steps(
        &self,
        part: Option<&RankPart>,
        plan: std::result::Result<Option<PartsPlan>, FinalizeError>,
        file_path: &Path,
    ) -> std::result::Result<(), FinalizeError> {
        let (ranks, rank, timeout) = (self.ranks, self.ranks.rank(), self.timeout);
        let (chunk, plan) = match plan {
            Ok(Some(plan)) => (Ok(plan.chunk.to_le_bytes().to_vec()), Some(plan)),
            Ok(None) => (Ok(Vec::new()), None),
            Err(e) => (Err(e), None),
        };
        let chunk = ranks.broadcast_result(chunk, timeout)?;
        let chunk = u64::from_le_bytes(
            chunk
                .try_into()
                .map_err(|_| ParallelError::UnreadableReport)?,
        );
        let threads = match ranks.threads_per_rank() {
            1 => Threads::One,
            _ => Threads::Pool,
        };
        let compressed = part.map(|p| p.compress(chunk, threads));
        exit_if_asked(rank, "sizes");
        let sizes = compressed.as_ref().map(|c| u32_bytes(&c.sizes()));
        // An empty message: this rank has no part (rank 0 knows why).
        let gathered = ranks.gather_timed(sizes.unwrap_or_default(), timeout)?;
        let addresses = match (gathered, plan) {
            (Some(sizes), Some(plan)) => self.create(&plan, &sizes),
            (Some(_), None) => Err(ParallelError::UnreadableReport.into()),
            (None, _) => Ok(Vec::new()), // not rank 0: ignored by the scatter
        };
        let addresses = ranks.scatter_result(addresses, timeout)?;
        exit_if_asked(rank, "write");
        let written = match (&compressed, u64_words(&addresses)) {
            (Some(part), Some(at)) => {
                part.write(&self.tmp, &at)
                    .map_err(|source| WriteError::Stream {
                        path: self.tmp.clone(),
                        source,
                    })
            }
            _ => Err(WriteError::Stream {
                path: self.tmp.clone(),
                source: std::io::Error::other("no part or no chunk addresses for it"),
            }),
        };
        let failed = written.as_ref().err().map(ToString::to_string);
        let everyone = ranks.first_failure(failed, timeout)?;
        if rank != 0 {
            return written.map_err(Into::into);
        }
        if let Some((rank, message)) = everyone {
            return Err(FinalizeError::PartNotWritten { rank, message });
        }
        std::fs::rename(&self.tmp, file_path).map_err(|source| {
            WriteError::Rename {
                from: self.tmp.clone(),
                source,
            }
            .into()
        })
    }

    /// Rank 0: creates the file for `plan` with each rank's chunks (of the
    /// sizes in `sizes`, in rank order) reserved; returns each rank's chunk
    /// addresses as bytes.
    fn create(
        &self,
        plan: &PartsPlan,
        sizes: &[Vec<u8>],
    ) -> std::result::Result<Vec<Vec<u8>>, FinalizeError> {
        let sizes = sizes
            .iter()
            .zip(&plan.parts)
            .map(
                |(bytes, part)| match bytes.is_empty() && part.events() > 0 {
                    true => Err(FinalizeError::PartNotWritten {
                        rank: part.rank,
                        message: "it has no compressed part".into(),
                    }),
                    false => Ok(bytes
                        .chunks_exact(4)
                        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                        .collect()),
                },
            )
            .collect::<std::result::Result<Vec<Vec<u32>>, _>>()?;
        let addresses =
            columnar::create_file(&self.tmp, &plan.facts, &plan.parts, plan.chunk, &sizes)
                .map_err(|source| WriteError::Hdf5 {
                    path: self.tmp.clone(),
                    source,
                })?;
        Ok(addresses
            .iter()
            .map(|a| a.iter().flat_map(|x| x.to_le_bytes()).collect())
            .collect())
    }
}

/// `values` as little-endian bytes.
fn u32_bytes(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Little-endian `u64`s from `bytes`; `None` if their length is not a
/// multiple of 8.
fn u64_words(bytes: &[u8]) -> Option<Vec<u64>> {
    let words = bytes.chunks_exact(8);
    if !words.remainder().is_empty() {
        return None;
    }
    Some(
        words
            .map(|w| u64::from_le_bytes(w.try_into().unwrap_or_default()))
            .collect(),
    )
}

/// What rank 0 needs to merge every rank's file into `file_path`.
struct RankMerge<'a> {
    file_path: &'a Path,
    run_dir: &'a Path,
    reports: &'a [RankReport],
    config: &'a Config,
    pooled: &'a Summary,
    /// Aggregate mode: every rank's statistics, in rank order.
    aggregates: Option<Vec<RankAggregate>>,
}

impl RankMerge<'_> {
    /// Writes the merged file, or says which rank's file is incomplete;
    /// returns the ranks' totals when the writer computes them.
    fn write(mut self) -> std::result::Result<Option<Vec<RankTotals>>, FinalizeError> {
        self.check_rank_files()?;
        let inputs = self.inputs();
        let facts = self.run_facts(&inputs);
        Ok(write_merged(
            self.file_path,
            &inputs,
            &facts,
            self.config.get_output_schema(),
        )?)
    }

    /// Fails on the first rank whose file is incomplete.
    fn check_rank_files(&self) -> std::result::Result<(), FinalizeError> {
        if let Some((rank, Err(message))) = self
            .reports
            .iter()
            .enumerate()
            .map(|(r, rep)| (r, &rep.rank_file))
            .find(|(_, f)| f.is_err())
        {
            return Err(FinalizeError::RankFileIncomplete {
                rank: rank as u32,
                message: message.clone(),
            });
        }
        Ok(())
    }

    /// Every rank's stream, clock shift and (in aggregate mode) statistics.
    fn inputs(&mut self) -> Vec<RankInput> {
        let mut aggregates = self.aggregates.take().map(Vec::into_iter);
        self.reports
            .iter()
            .enumerate()
            .map(|(r, report)| RankInput {
                rank: r as u32,
                path: self.run_dir.join(stream::file_name(r as u32)),
                shift: ClockShift {
                    setup: report.clocks[0],
                    finalize: report.clocks[1],
                },
                hostname: report.hostname.clone(),
                aggregate: aggregates.as_mut().and_then(Iterator::next),
            })
            .collect()
    }

    /// What the schema-3 file will hold: every rank's part described (or
    /// which rank's file or part is missing), the run's facts, and the
    /// event columns' chunk size for the parts' events.
    fn plan_parts(mut self) -> std::result::Result<PartsPlan, FinalizeError> {
        self.check_rank_files()?;
        let parts: Vec<PartDescription> = self
            .reports
            .iter()
            .enumerate()
            .map(|(r, report)| {
                report
                    .part
                    .clone()
                    .ok_or(FinalizeError::RankFileIncomplete {
                        rank: r as u32,
                        message: "its part of the file was not built".into(),
                    })
            })
            .collect::<std::result::Result<_, _>>()?;
        let inputs = self.inputs();
        let facts = self.run_facts(&inputs);
        let counts: Vec<u64> = parts.iter().map(PartDescription::events).collect();
        Ok(PartsPlan {
            facts,
            parts,
            chunk: columnar::chunk_events(&counts),
        })
    }

    /// `/metadata`'s facts: the run's times, size, counters and settings.
    fn run_facts(&self, inputs: &[RankInput]) -> RunFacts {
        let (config, pooled) = (self.config, self.pooled);
        let hostnames: Vec<&str> = self.reports.iter().map(|r| r.hostname.as_str()).collect();
        let nodes = hostnames.iter().collect::<BTreeSet<_>>().len();
        let mut kept_calls = Vec::new();
        if config.get_output_schema() == OutputSchema::Aggregate {
            if let Some(pattern) = config.get_trace_regions() {
                kept_calls.push(("trace_regions", pattern.to_owned()));
            }
            if let Some(threshold) = config.get_trace_calls_longer_than() {
                kept_calls.push((
                    "trace_calls_longer_than_ns",
                    threshold.as_nanos().to_string(),
                ));
            }
        }
        RunFacts {
            // The earliest rank's start: a rank set up before rank 0 records
            // calls before rank 0's start.
            start_time_ns: self
                .reports
                .iter()
                .map(|r| r.start_ns)
                .min()
                .unwrap_or_default(),
            finalize_time_ns: clock::monotonic_ns(),
            mpi_size: self.reports.len() as i64,
            counters: vec![
                ("num_nodes", nodes as i64),
                ("time_trace", config.get_time_trace() as i64),
                ("buffer_limit", config.get_buffer_limit() as i64),
                ("threads", pooled.threads as i64),
                (
                    "dropped_events",
                    (pooled.dropped_events + pooled.open_at_finalize) as i64,
                ),
                ("open_regions_at_finalize", pooled.open_at_finalize as i64),
                ("blocked_ns", pooled.blocked_ns as i64),
            ],
            labels: vec![
                ("overflow_policy", format!("{:?}", config.get_overflow())),
                (
                    "hostnames",
                    serde_json::to_string(&hostnames).unwrap_or_default(),
                ),
                ("clock_offsets", clock_offsets_json(inputs)),
            ]
            .into_iter()
            .chain(kept_calls)
            .collect(),
        }
    }
}

/// Every rank's raw clock offsets, so the shift onto rank 0's clock can be
/// undone whatever the schema.
fn clock_offsets_json(inputs: &[RankInput]) -> String {
    let rows: Vec<serde_json::Value> = inputs
        .iter()
        .map(|i| {
            serde_json::json!({
                "rank": i.rank,
                "setup_offset_ns": i.shift.setup.offset_ns,
                "setup_at_ns": i.shift.setup.at_ns,
                "finalize_offset_ns": i.shift.finalize.offset_ns,
                "finalize_at_ns": i.shift.finalize.at_ns,
                "rtt_ns": i.shift.rtt_ns(),
                "drift_ns_per_s": i.shift.drift_ns_per_s(),
            })
        })
        .collect();
    serde_json::Value::Array(rows).to_string()
}

/// Writes `line` and a newline to stderr with one `write`: the ranks of a
/// job share mpirun's pipe, and a line written in pieces (as `eprintln!`
/// writes its arguments) can be cut by another rank's.
fn say(mut line: String) {
    use std::io::Write;
    line.push('\n');
    let _ = std::io::stderr().write_all(line.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A clock whose ticks are calibrated 3 ppm fast: with the error at
    /// finalize in its offset, the shift puts every converted timestamp
    /// back on CLOCK_MONOTONIC, on a rank 5 µs behind rank 0 as on rank 0.
    #[test]
    fn the_conversion_rate_error_is_undone_by_the_shift() {
        let scale = TickScale {
            anchor_ticks: 1_000,
            anchor_ns: 50_000,
            ns_per_tick: 1.000_003,
        };
        let true_ns = |ticks: u64| 50_000 + (ticks - 1_000) as i64;
        let end_ticks = 1_000 + 10_000_000_000; // 10 s later
        for rank_offset in [0, -5_000] {
            let setup = ClockOffset {
                at_ns: 50_000,
                offset_ns: rank_offset,
                rtt_ns: 0,
            };
            let measured = ClockOffset {
                at_ns: true_ns(end_ticks) - rank_offset,
                ..setup
            };
            let finalize = with_conversion_error(measured, scale, (end_ticks, true_ns(end_ticks)));
            let error = finalize.offset_ns - rank_offset;
            assert!((error - 30_000).abs() <= 1, "3 ppm of 10 s: {error}");
            let shift = ClockShift { setup, finalize };
            for ticks in [1_000, 2_500_000_000, 7_000_000_000, end_ticks] {
                let on_rank_0 = true_ns(ticks) - rank_offset;
                assert!(
                    (shift.apply(scale.to_ns(ticks)) - on_rank_0).abs() <= 1,
                    "{ticks} ticks on a rank {rank_offset} ns off"
                );
            }
            let uncorrected = ClockShift {
                setup,
                finalize: measured,
            };
            let late =
                uncorrected.apply(scale.to_ns(end_ticks)) - (true_ns(end_ticks) - rank_offset);
            assert!(late >= 29_999, "without it the last call is {late} ns late");
        }
    }
}
