//! What each rank reports to rank 0 at finalize, and the pooled summary.

use serde_json::{json, Value};

use scope_profiler_format::{ClockOffset, RegionStats};

use crate::summary::{RegionSummary, Summary};

/// One rank's end-of-run report, sent to rank 0 as JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct RankReport {
    /// The rank's host name.
    pub hostname: String,
    /// The rank's summary (per-region statistics and counters).
    pub summary: Summary,
    /// `Err` if the rank's file could not be written.
    pub rank_file: Result<(), String>,
    /// Its clock offset from rank 0's, measured at setup and at finalize.
    pub clocks: [ClockOffset; 2],
    /// When its run started (its setup), on rank 0's clock, ns.
    pub start_ns: i64,
}

fn clock_json(c: &ClockOffset) -> Value {
    json!([c.at_ns, c.offset_ns, c.rtt_ns])
}

fn clock_from(v: &Value) -> Option<ClockOffset> {
    let a = v.as_array()?;
    Some(ClockOffset {
        at_ns: a.first()?.as_i64()?,
        offset_ns: a.get(1)?.as_i64()?,
        rtt_ns: a.get(2)?.as_i64()?,
    })
}

fn stats_json(s: &RegionStats) -> Value {
    json!([s.calls, s.total_ns, s.min_ns, s.max_ns, s.mean, s.m2])
}

fn stats_from(v: &Value) -> Option<RegionStats> {
    let a = v.as_array()?;
    Some(RegionStats {
        calls: a.first()?.as_u64()?,
        total_ns: a.get(1)?.as_i64()?,
        min_ns: a.get(2)?.as_i64()?,
        max_ns: a.get(3)?.as_i64()?,
        mean: a.get(4)?.as_f64()?,
        m2: a.get(5)?.as_f64()?,
    })
}

impl RankReport {
    /// The report as bytes.
    pub fn encode(&self) -> Vec<u8> {
        let s = &self.summary;
        json!({
            "hostname": self.hostname,
            "timed": s.timed,
            "regions": s.regions.iter().map(|r| json!([r.name, stats_json(&r.stats)])).collect::<Vec<_>>(),
            "dropped": s.dropped_events,
            "open": s.open_at_finalize,
            "blocked_ns": s.blocked_ns,
            "threads": s.threads,
            "rank_file_error": self.rank_file.as_ref().err(),
            "clocks": self.clocks.iter().map(clock_json).collect::<Vec<_>>(),
            "start_ns": self.start_ns,
        })
        .to_string()
        .into_bytes()
    }

    /// Reads a report; `None` if the bytes are not one.
    pub fn decode(bytes: &[u8]) -> Option<RankReport> {
        let v: Value = serde_json::from_slice(bytes).ok()?;
        let regions = v["regions"]
            .as_array()?
            .iter()
            .map(|r| {
                Some(RegionSummary {
                    name: r.get(0)?.as_str()?.to_owned(),
                    stats: stats_from(r.get(1)?)?,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(RankReport {
            hostname: v["hostname"].as_str()?.to_owned(),
            summary: Summary {
                regions,
                timed: v["timed"].as_bool()?,
                dropped_events: v["dropped"].as_u64()?,
                open_at_finalize: v["open"].as_u64()?,
                blocked_ns: v["blocked_ns"].as_u64()?,
                threads: v["threads"].as_u64()? as u32,
                ranks: 1,
                file: None,
                schema_1_mixes_lanes: false,
            },
            rank_file: match v["rank_file_error"].as_str() {
                Some(e) => Err(e.to_owned()),
                None => Ok(()),
            },
            clocks: [clock_from(&v["clocks"][0])?, clock_from(&v["clocks"][1])?],
            start_ns: v["start_ns"].as_i64()?,
        })
    }
}

/// Pools every rank's summary: statistics merged per region name (exactly),
/// counters added, regions in first-seen order.
pub fn pool(summaries: &[&Summary]) -> Summary {
    let mut pooled = Summary {
        timed: summaries.iter().all(|s| s.timed),
        ranks: summaries.len() as u32,
        ..Summary::default()
    };
    for s in summaries {
        for r in &s.regions {
            match pooled.regions.iter_mut().find(|p| p.name == r.name) {
                Some(p) => p.stats.merge(&r.stats),
                None => pooled.regions.push(r.clone()),
            }
        }
        pooled.dropped_events += s.dropped_events;
        pooled.open_at_finalize += s.open_at_finalize;
        pooled.blocked_ns += s.blocked_ns;
        pooled.threads += s.threads;
    }
    pooled
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_survives_encoding_and_pooling_is_exact() {
        let mut a = RegionStats::default();
        [5, 9].iter().for_each(|&d| a.add(d));
        let mut b = RegionStats::default();
        [7].iter().for_each(|&d| b.add(d));
        let summary = |stats| Summary {
            regions: vec![RegionSummary {
                name: "x/y".into(),
                stats,
            }],
            timed: true,
            threads: 1,
            ranks: 1,
            ..Summary::default()
        };
        let report = RankReport {
            hostname: "node1".into(),
            summary: summary(a),
            rank_file: Err("disk full".into()),
            clocks: [
                ClockOffset {
                    at_ns: 5,
                    offset_ns: -7,
                    rtt_ns: 900,
                },
                ClockOffset::default(),
            ],
            start_ns: 123,
        };
        assert_eq!(RankReport::decode(&report.encode()), Some(report));
        let pooled = pool(&[&summary(a), &summary(b)]);
        assert_eq!(pooled.ranks, 2);
        assert_eq!(
            (
                pooled.regions[0].stats.calls,
                pooled.regions[0].stats.total_ns
            ),
            (3, 21)
        );
        assert!(RankReport::decode(b"not json").is_none());
    }
}
