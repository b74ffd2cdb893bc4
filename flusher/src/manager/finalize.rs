//! Finalize, step by step: stop and drain this rank, wait for every rank,
//! gather the ranks' reports on rank 0, merge the rank files there, and tell
//! every rank how it went. Any failure keeps the run directory and names it.
//! In aggregate mode each rank's statistics reach rank 0 by a collective
//! gather (not through the rank files, which hold only the kept calls).

use std::collections::BTreeSet;
use std::path::Path;

use scope_profiler_core::clock;
use scope_profiler_format::aggregate::RankAggregate;
use scope_profiler_format::merged::{write_merged, OutputSchema, RankInput};
use scope_profiler_format::metadata::{hostname, RunFacts};
use scope_profiler_format::rank_totals::{self, RankTotals};
use scope_profiler_format::{stream, ClockShift};
use tempfile::TempDir;

use super::Running;
use crate::config::Config;
use crate::drain::FlushOutcome;
use crate::error::{Error, FinalizeError, ParallelError, Result};
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
            start_time_ns,
        } = self;
        let outcome = flusher.finish()?;
        drop(session);
        let rank = ranks.rank();
        warn_of_losses(rank, &outcome);
        let rank_path = run_dir.join(stream::file_name(rank));
        // Rank 0 writing schema 1 totals its own stream on the way (one pass
        // over it, not two); every other rank totals it here.
        // In aggregate mode the accumulator has the regions, the stream only
        // the kept calls.
        let totals_on_write = rank == 0 && config.get_output_schema() == OutputSchema::Tree;
        let regions = match &outcome.aggregate {
            Some(aggregate) => aggregate_summaries(aggregate),
            None if totals_on_write => Vec::new(),
            None => read_totals(&rank_path, &outcome)
                .as_ref()
                .map(region_summaries)
                .unwrap_or_default(),
        };
        let local = rank_summary(regions, &outcome, config.get_time_trace());
        let timeout = config.get_finalize_timeout();
        let keep = |owned: Option<TempDir>, source: FinalizeError| -> Error {
            let kept = owned.map_or_else(|| run_dir.clone(), TempDir::keep);
            eprintln!(
                "scope-profiler: rank {rank}: {source}; the rank data is kept in {}",
                kept.display()
            );
            Error::Output {
                path: config.get_file_path().to_owned(),
                source,
                kept,
            }
        };
        if let Err(e) = ranks.barrier(timeout) {
            return Err(keep(owned_dir, e.into()));
        }
        let finalize_clock = ranks.measure_clock();
        let report = RankReport {
            hostname: hostname(),
            summary: local.clone(),
            rank_file: outcome
                .rank_file
                .as_ref()
                .map_err(ToString::to_string)
                .copied(),
            clocks: [setup_clock, finalize_clock],
            start_ns: start_time_ns - setup_clock.offset_ns,
        };
        let file_path = ranks.output_path(config.get_file_path());
        let mut pooled = None;
        let aggregates = outcome.aggregate.as_ref().map(|a| ranks.gather(a.encode()));
        let merged = match ranks.gather(report.encode()) {
            Err(e) => Err(e.into()),
            Ok(None) => Ok(()),
            Ok(Some(blobs)) => decode_reports(&blobs).and_then(|mut reports| {
                // The counters are pooled now (the file's metadata); the
                // regions again once the writer has totalled rank 0.
                let counters = pool(&reports.iter().map(|r| &r.summary).collect::<Vec<_>>());
                let written = RankMerge {
                    file_path: &file_path,
                    run_dir: &run_dir,
                    reports: &reports,
                    config: &config,
                    pooled: &counters,
                    aggregates: decode_aggregates(aggregates)?,
                }
                .write()?;
                if let Some(totals) = written.as_ref().and_then(|t| t.first()) {
                    reports[0].summary.regions = region_summaries(totals);
                }
                let per_rank: Vec<&Summary> = reports.iter().map(|r| &r.summary).collect();
                let mut summary = pool(&per_rank);
                summary.schema_1_mixes_lanes =
                    config.get_output_schema() == OutputSchema::Tree && several_lanes(&per_rank);
                pooled = Some(summary);
                Ok(())
            }),
        };
        if let Err(e) = ranks.broadcast_outcome(merged, timeout) {
            return Err(keep(owned_dir, e));
        }
        drop(owned_dir); // rank 0: the merged file exists; remove the rank files
        let mut summary = pooled.unwrap_or(local);
        summary.file = Some(file_path);
        if rank == 0 && config.get_print_summary() {
            print!("{summary}");
        }
        drop(ranks); // finalizes MPI if setup initialized it
        Ok(summary)
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
fn read_totals(rank_path: &Path, outcome: &FlushOutcome) -> Option<RankTotals> {
    outcome.rank_file.as_ref().ok()?;
    rank_totals::totals(rank_path)
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
        let mut aggregates = self.aggregates.take().map(Vec::into_iter);
        let inputs: Vec<RankInput> = self
            .reports
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
            .collect();
        let facts = self.run_facts(&inputs);
        Ok(write_merged(
            self.file_path,
            &inputs,
            &facts,
            self.config.get_output_schema(),
        )?)
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
