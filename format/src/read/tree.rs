//! Reading schema 1, the tree layout: `/rank<N>/regions/<name>/...`, or a
//! rank file's `regions/` at its root. A tree written by a killed process
//! is read as far as it is reachable; every cut is listed as [`Damage`].

use std::collections::BTreeMap;

use hdf5::Group;

use super::datasets::{int_dataset, read_ints};
use super::{Damage, Events, Problem, ProfileData, Reader, RegionData};
use crate::attrs::{self, AttrValue};
use crate::{names, SCHEMA_ATTRIBUTE};

impl Reader<'_> {
    /// Schema 1: every rank group's regions, in the order the file lists them.
    pub(super) fn read_tree(&self, data: &mut ProfileData) -> Result<(), Problem> {
        let mut order: Vec<String> = Vec::new();
        let mut regions: BTreeMap<String, RegionData> = BTreeMap::new();
        for (rank, group_name) in self.rank_groups()? {
            data.ranks.push(rank);
            let group = self
                .file
                .group(if group_name.is_empty() {
                    "/"
                } else {
                    &group_name
                })
                .map_err(|e| format!("/{group_name} is not a group: {e}"))?;
            if let Ok(AttrValue::Str(json)) = group.attr("thread_names").map(|a| attrs::value(&a)) {
                data.thread_names
                    .extend(super::parse_thread_names(rank, &json));
            }
            let Ok(regions_group) = group.group("regions") else {
                continue;
            };
            let links = regions_group
                .member_names()
                .map_err(|e| format!("cannot list /{group_name}/regions: {e}"))?;
            for link in links {
                let where_ = if group_name.is_empty() {
                    format!("/regions/{link}")
                } else {
                    format!("/{group_name}/regions/{link}")
                };
                let region_group = regions_group
                    .group(&link)
                    .map_err(|e| format!("{where_} is not a group: {e}"))?;
                let name = names::stored_name(&region_group, &link);
                let events = read_tree_events(&region_group, &where_, &mut data.damage)
                    .map_err(|e| format!("{where_}: {e}"))?;
                let entry = regions.entry(name.clone()).or_insert_with(|| {
                    order.push(name.clone());
                    RegionData {
                        name: name.clone(),
                        per_rank: BTreeMap::new(),
                        aggregate: BTreeMap::new(),
                    }
                });
                entry.per_rank.insert(rank, events);
            }
        }
        data.regions = order
            .into_iter()
            .filter_map(|n| regions.remove(&n))
            .collect();
        Ok(())
    }

    /// The rank groups, `(rank, group name)` by rank: `/rank<N>`, or the
    /// root (named `""`) of a rank file on its own. A file with neither must
    /// at least have `/metadata` to count as a profile.
    fn rank_groups(&self) -> Result<Vec<(u32, String)>, Problem> {
        let members = self
            .file
            .member_names()
            .map_err(|e| format!("cannot list the root group: {e}"))?;
        let mut ranks: Vec<(u32, String)> = members
            .iter()
            .filter_map(|m| Some((m.strip_prefix("rank")?.parse::<u32>().ok()?, m.clone())))
            .collect();
        ranks.sort();
        if ranks.is_empty() && members.iter().any(|m| m == "regions") {
            // A rank file on its own (`rank_<N>.h5`): its tree is at the root.
            ranks.push((0, String::new()));
        }
        if !ranks.is_empty() {
            return Ok(ranks);
        }
        if members
            .iter()
            .any(|m| m == "region_table" || m == "rank_region_index")
        {
            return Err(format!(
                "has the columnar layout (region_table, rank_region_index) but no \
                 {SCHEMA_ATTRIBUTE} root attribute, so its schema is unknown; the file is damaged \
                 or was written by a tool that does not follow the scope-profiler schema"
            ));
        }
        if !members.iter().any(|m| m == "metadata") {
            return Err(
                "is HDF5 but not a scope-profiler profile: no /metadata, no /rank<N> groups, no columnar index"
                    .into(),
            );
        }
        Ok(ranks)
    }
}

fn read_tree_events(
    group: &Group,
    where_: &str,
    damage: &mut Vec<Damage>,
) -> Result<Events, Problem> {
    let mut events = Events::default();
    if group.link_exists("start_times") || group.link_exists("end_times") {
        let mut read = |name: &str| -> Result<Vec<i64>, Problem> {
            let (values, claimed) = read_ints_salvaging(group, name)?;
            if values.len() as u64 != claimed {
                damage.push(Damage::Unreachable {
                    dataset: format!("{where_}/{name}"),
                    read: values.len() as u64,
                    claimed,
                });
            }
            Ok(values)
        };
        let starts = read("start_times")?;
        let ends = read("end_times")?;
        // A killed writer can leave start_times one batch longer, and the
        // newest chunks unwritten: they read as HDF5's fill value, 0, which
        // no CLOCK_MONOTONIC timestamp of a running system is.
        let shorter = starts.len().min(ends.len());
        let n = (0..shorter)
            .rev()
            .find(|&i| starts[i] != 0 && ends[i] != 0)
            .map_or(0, |i| i + 1);
        if n < shorter {
            damage.push(Damage::NeverWritten {
                region: where_.to_owned(),
                dropped: (shorter - n) as u64,
            });
        }
        events.starts = starts;
        events.ends = ends;
        events.starts.truncate(n);
        events.ends.truncate(n);
        if group.link_exists("thread_ids") {
            if let Ok(mut threads) = read_ints::<u32>(group, "", "thread_ids") {
                if threads.len() >= n {
                    threads.truncate(n);
                    events.threads = Some(threads);
                }
            }
        }
    }
    if let Ok(attr) = group.attr("num_calls") {
        if let AttrValue::Int(calls) = attrs::value(&attr) {
            let timed = events.starts.len() as i64;
            events.untimed_calls = calls.saturating_sub(timed).max(0) as u64;
        }
    }
    Ok(events)
}

/// Reads a 1-D `int64` tree dataset and the length it claims. When HDF5
/// cannot read it whole but it is chunked, reads it chunk by chunk up to the
/// first unreadable chunk (possibly none): what a writer killed inside a
/// flush leaves reachable. The other regions of the file stay readable.
fn read_ints_salvaging(group: &Group, name: &str) -> Result<(Vec<i64>, u64), Problem> {
    let (ds, label) = int_dataset(group, "", name)?;
    let claimed = ds.size() as u64;
    let problem = match ds.read_raw::<i64>() {
        Ok(values) => return Ok((values, claimed)),
        Err(e) => format!("cannot read {label}: {e}"),
    };
    let Some(&chunk) = ds.chunk().as_deref().and_then(|c| c.first()) else {
        return Err(problem);
    };
    let mut values = Vec::new();
    let mut at = 0;
    while at < ds.size() {
        let end = (at + chunk.max(1)).min(ds.size());
        match ds.read_slice_1d::<i64, _>(at..end) {
            Ok(part) => values.extend(part.iter()),
            Err(_) => break,
        }
        at = end;
    }
    Ok((values, claimed))
}
