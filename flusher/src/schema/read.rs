//! Reading profile files of schema 1, 2 and 3.
//!
//! Schema 1 is a tree (`/rank<N>/regions/<name>/{start_times,end_times}`);
//! schemas 2 and 3 are columnar (`region_table`, `rank_region_index`,
//! `events`), told apart by which event columns exist (absolute
//! `start_times`/`end_times`, or delta-encoded `start_deltas`/`durations`).
//! Every inconsistency becomes a [`ReadError`] naming the file and the
//! problem; no input panics the reader.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use hdf5::types::{TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::{Dataset, File, Group, Location};
use scope_profiler_core::RegionStats;

use super::{names, NEWEST_READABLE_SCHEMA, SCHEMA_ATTRIBUTE};

/// Why a file could not be read: the file and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong, in one sentence.
    pub problem: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.problem)
    }
}

impl std::error::Error for ReadError {}

/// A metadata attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// Signed integer.
    Int(i64),
    /// Unsigned integer.
    UInt(u64),
    /// Floating point.
    Float(f64),
    /// String (any HDF5 string type).
    Str(String),
    /// Anything else (arrays, compounds): its HDF5 type, described.
    Other(String),
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Int(v) => write!(f, "{v}"),
            AttrValue::UInt(v) => write!(f, "{v}"),
            AttrValue::Float(v) => write!(f, "{v}"),
            AttrValue::Str(v) => f.write_str(v),
            AttrValue::Other(v) => write!(f, "<{v}>"),
        }
    }
}

/// One region's calls on one rank.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Events {
    /// Start of each call, ns.
    pub starts: Vec<i64>,
    /// End of each call, ns (same length as `starts`).
    pub ends: Vec<i64>,
    /// Thread index of each call, where the writer recorded it.
    pub threads: Option<Vec<u32>>,
    /// Calls recorded without timestamps (count-only mode).
    pub untimed_calls: u64,
}

impl Events {
    /// Number of calls, timed or not.
    pub fn calls(&self) -> u64 {
        self.starts.len() as u64 + self.untimed_calls
    }

    /// Duration of each timed call, ns.
    pub fn durations(&self) -> impl Iterator<Item = i64> + '_ {
        self.starts
            .iter()
            .zip(&self.ends)
            .map(|(s, e)| e.wrapping_sub(*s))
    }

    /// Statistics of the durations (count-only calls add to `calls` only).
    pub fn stats(&self) -> RegionStats {
        let mut stats = RegionStats::of_calls(&self.starts, &self.ends);
        (0..self.untimed_calls).for_each(|_| stats.add_untimed());
        stats
    }
}

/// One region across ranks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RegionData {
    /// The region's exact name.
    pub name: String,
    /// Calls per rank; ranks where the region never ran are absent.
    pub per_rank: BTreeMap<u32, Events>,
}

impl RegionData {
    /// Statistics pooled over all ranks.
    pub fn stats(&self) -> RegionStats {
        let mut pooled = RegionStats::default();
        self.per_rank
            .values()
            .for_each(|e| pooled.merge(&e.stats()));
        pooled
    }
}

/// What a writer killed inside an HDF5 flush can leave in a tree-layout
/// (schema 1) dataset, and what the reader did about it. The reader never
/// drops data silently: every cut is listed in [`ProfileData::damage`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// HDF5 could not read the dataset whole (its chunk index points at
    /// unwritten metadata); the first `read` of `claimed` entries (maybe
    /// none) were readable chunk by chunk and kept.
    Unreachable {
        /// Dataset path in the file.
        dataset: String,
        /// Entries kept.
        read: u64,
        /// Entries the dataset claims.
        claimed: u64,
    },
    /// The last `dropped` calls have a timestamp of 0, HDF5's fill value for
    /// chunks that were never written; they were dropped.
    NeverWritten {
        /// Region group path in the file.
        region: String,
        /// Calls dropped.
        dropped: u64,
    },
    /// The file holds `bytes` past its recorded end of allocation, where the
    /// unreachable data may be: [`crate::repair::repair`] (`pproc --repair`)
    /// makes them readable.
    AllocationBehind {
        /// Bytes past the recorded allocation.
        bytes: u64,
    },
    /// The run's journal is beside the file and holds every call it
    /// flushed: [`crate::repair::repair`] (`pproc --repair`) rebuilds the
    /// file from it.
    JournalBeside {
        /// The journal.
        journal: PathBuf,
    },
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Damage::Unreachable {
                dataset,
                read,
                claimed,
            } => write!(
                f,
                "{dataset}: only the first {read} of {claimed} entries are reachable \
                 (writer killed inside a flush); the rest is lost"
            ),
            Damage::NeverWritten { region, dropped } => write!(
                f,
                "{region}: the last {dropped} call(s) were never written (writer killed \
                 inside a flush) and are left out"
            ),
            Damage::JournalBeside { journal } => write!(
                f,
                "{} holds every call the run flushed: `scope-profiler-pproc --repair` \
                 rebuilds the file from it",
                journal.display()
            ),
            Damage::AllocationBehind { bytes } => write!(
                f,
                "the file ends {bytes} bytes past its recorded allocation: \
                 `scope-profiler-pproc --repair` (or `h5clear --increment=0`) may make more readable"
            ),
        }
    }
}

/// A whole profile file, read into memory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileData {
    /// Where it was read from.
    pub path: PathBuf,
    /// Schema version (1, 2 or 3).
    pub schema: i64,
    /// `/metadata` attributes.
    pub metadata: BTreeMap<String, AttrValue>,
    /// Ranks in the file, ascending.
    pub ranks: Vec<u32>,
    /// Regions in the order the file lists them.
    pub regions: Vec<RegionData>,
    /// What a killed writer left damaged and how it was read; empty for a
    /// file that was closed (or flushed) cleanly.
    pub damage: Vec<Damage>,
}

impl ProfileData {
    /// The region called `name`.
    pub fn region(&self, name: &str) -> Option<&RegionData> {
        self.regions.iter().find(|r| r.name == name)
    }
}

/// Reads the profile file at `path`.
pub fn read_profile(path: impl AsRef<Path>) -> Result<ProfileData, ReadError> {
    let path = path.as_ref();
    let fail = |problem: String| ReadError {
        path: path.to_owned(),
        problem,
    };
    if !path.exists() {
        return Err(fail("no such file".into()));
    }
    let file = crate::h5file::open(path).map_err(|e| {
        fail(with_repair_hint(
            path,
            format!(
                "not a readable HDF5 file (a run killed while writing its final file leaves a truncated one): {e}"
            ),
        ))
    })?;
    let reader = Reader { path, file: &file };
    let mut data = reader
        .read()
        .map_err(|problem| fail(with_repair_hint(path, problem)))?;
    if !data.damage.is_empty() {
        data.damage.extend(way_out(path));
    }
    Ok(data)
}

/// Adds the way out ([`way_out`]) to a read failure.
fn with_repair_hint(path: &Path, problem: Problem) -> Problem {
    match way_out(path) {
        Some(way) => format!("{problem}; {way}"),
        None => problem,
    }
}

/// How to recover a file whose writer was killed inside a flush (see
/// [`crate::repair`]): its journal if it has one beside it, else a stale
/// allocation mark to move; `None` when neither applies.
fn way_out(path: &Path) -> Option<Damage> {
    let journal = crate::journal::path_for(path);
    if journal.exists() {
        return Some(Damage::JournalBeside { journal });
    }
    let alloc = crate::repair::allocation(path).ok()??;
    alloc.behind().then(|| Damage::AllocationBehind {
        bytes: alloc.end_of_file - alloc.end_of_allocation,
    })
}

struct Reader<'a> {
    path: &'a Path,
    file: &'a File,
}

type Problem = String;

impl Reader<'_> {
    fn read(&self) -> Result<ProfileData, Problem> {
        let schema = self.schema_version()?;
        let metadata = match self.file.group("metadata") {
            Ok(g) => read_attrs(&g),
            Err(_) => BTreeMap::new(),
        };
        let mut data = ProfileData {
            path: self.path.to_owned(),
            schema,
            metadata,
            ..ProfileData::default()
        };
        if schema == 1 {
            self.read_tree(&mut data)?;
        } else {
            self.read_columnar(&mut data)?;
        }
        Ok(data)
    }

    fn schema_version(&self) -> Result<i64, Problem> {
        let Ok(attr) = self.file.attr(SCHEMA_ATTRIBUTE) else {
            return Ok(1);
        };
        let version = match attr_value(&attr) {
            AttrValue::Int(v) => v,
            AttrValue::UInt(v) => i64::try_from(v).unwrap_or(i64::MAX),
            other => {
                return Err(format!(
                    "root attribute {SCHEMA_ATTRIBUTE} must be an integer, found {other}"
                ))
            }
        };
        if version < 1 {
            return Err(format!(
                "unsupported schema version {version}: versions start at 1"
            ));
        }
        if version > NEWEST_READABLE_SCHEMA {
            return Err(format!(
                "written with schema version {version}, newer than this reader supports \
                 (up to {NEWEST_READABLE_SCHEMA}); upgrade scope-profiler to read it"
            ));
        }
        Ok(version)
    }

    /// Schema 1: `/rank<N>/regions/<name>/...`.
    fn read_tree(&self, data: &mut ProfileData) -> Result<(), Problem> {
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
        if ranks.is_empty() {
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
        }
        let mut order: Vec<String> = Vec::new();
        let mut regions: BTreeMap<String, RegionData> = BTreeMap::new();
        for (rank, group_name) in &ranks {
            data.ranks.push(*rank);
            let group = self
                .file
                .group(if group_name.is_empty() {
                    "/"
                } else {
                    group_name
                })
                .map_err(|e| format!("/{group_name} is not a group: {e}"))?;
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
                    }
                });
                entry.per_rank.insert(*rank, events);
            }
        }
        data.regions = order
            .into_iter()
            .filter_map(|n| regions.remove(&n))
            .collect();
        Ok(())
    }

    /// Schemas 2 and 3: shared event columns sliced by a per-(rank, region) index.
    fn read_columnar(&self, data: &mut ProfileData) -> Result<(), Problem> {
        let table = self
            .file
            .group("region_table")
            .map_err(|_| format!("schema {} file has no region_table group", data.schema))?;
        let names = read_strings(&dataset(&table, "region_table", "names")?)
            .map_err(|e| format!("region_table/names: {e}"))?;
        let index = self
            .file
            .group("rank_region_index")
            .map_err(|_| format!("schema {} file has no rank_region_index group", data.schema))?;
        const REQUIRED: [&str; 8] = [
            "region_ids",
            "ranks",
            "event_offsets",
            "event_counts",
            "source_lines",
            "source_files",
            "source_texts",
            "tags",
        ];
        let missing: Vec<&str> = REQUIRED
            .iter()
            .copied()
            .filter(|n| !index.link_exists(n))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "rank_region_index is missing dataset(s): {}",
                missing.join(", ")
            ));
        }
        let region_ids: Vec<u32> = read_ints(&index, "rank_region_index", "region_ids")?;
        let row_ranks: Vec<u32> = read_ints(&index, "rank_region_index", "ranks")?;
        let offsets: Vec<u64> = read_ints(&index, "rank_region_index", "event_offsets")?;
        let counts: Vec<u64> = read_ints(&index, "rank_region_index", "event_counts")?;
        let tags = read_strings(&dataset(&index, "rank_region_index", "tags")?)
            .map_err(|e| format!("rank_region_index/tags: {e}"))?;
        let rows = region_ids.len();
        for (name, len) in [
            ("ranks", row_ranks.len()),
            ("event_offsets", offsets.len()),
            ("event_counts", counts.len()),
            ("tags", tags.len()),
        ] {
            if len != rows {
                return Err(format!(
                    "rank_region_index/{name} has {len} rows but region_ids has {rows}"
                ));
            }
        }
        for (row, tag) in tags.iter().enumerate() {
            let text = if tag.is_empty() { "[]" } else { tag.as_str() };
            match serde_json::from_str::<serde_json::Value>(text) {
                Ok(serde_json::Value::Array(_)) => {}
                Ok(other) => {
                    return Err(format!(
                        "rank_region_index/tags row {row} is JSON but not a list: {other}"
                    ))
                }
                Err(e) => {
                    return Err(format!(
                        "rank_region_index/tags row {row} is not valid JSON ({e}): {tag:?}"
                    ))
                }
            }
        }
        for (row, id) in region_ids.iter().enumerate() {
            if *id as usize >= names.len() {
                return Err(format!(
                    "rank_region_index row {row} points to region id {id}, but region_table/names holds only {} names",
                    names.len()
                ));
            }
        }
        let mut seen = HashSet::new();
        for row in 0..rows {
            if !seen.insert((region_ids[row], row_ranks[row])) {
                return Err(format!(
                    "rank_region_index has two rows for region {:?} on rank {}",
                    names[region_ids[row] as usize], row_ranks[row]
                ));
            }
        }

        let events = self
            .file
            .group("events")
            .map_err(|_| format!("schema {} file has no events group", data.schema))?;
        let delta_encoded = events.link_exists("start_deltas");
        let (first, second) = if delta_encoded {
            ("start_deltas", "durations")
        } else {
            ("start_times", "end_times")
        };
        let col_a: Vec<i64> = read_ints(&events, "events", first)?;
        let col_b: Vec<i64> = read_ints(&events, "events", second)?;
        let thread_col: Option<Vec<u32>> = if events.link_exists("thread_ids") {
            read_ints(&events, "events", "thread_ids").ok()
        } else {
            None
        };
        let held = col_a.len().min(col_b.len()) as u64;
        // Each row's [offset, offset + count) must lie inside the columns and
        // rows must not share events.
        let mut spans: Vec<(u64, u64)> = Vec::with_capacity(rows);
        for row in 0..rows {
            let end = offsets[row].saturating_add(counts[row]);
            spans.push((offsets[row], end));
        }
        if let Some(max_end) = spans.iter().map(|s| s.1).max() {
            if max_end > held {
                return Err(format!(
                    "claims {max_end} recorded events but its event columns hold {held}; the file is truncated or damaged"
                ));
            }
        }
        let mut sorted = spans.clone();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[1].0 < w[0].1) {
            return Err(
                "has overlapping region rows in its event index; the file is damaged".into(),
            );
        }

        let mut ranks: BTreeSet<u32> = row_ranks.iter().copied().collect();
        if !ranks.is_empty() {
            if let Some(AttrValue::Int(size)) = data.metadata.get("mpi_size") {
                ranks.extend(0..(*size).clamp(0, 1 << 20) as u32);
            }
        }
        let mut regions: Vec<RegionData> = Vec::new();
        let mut slot_of: BTreeMap<u32, usize> = BTreeMap::new();
        for row in 0..rows {
            let (from, to) = (spans[row].0 as usize, spans[row].1 as usize);
            let (starts, ends) = if delta_encoded {
                let mut starts = Vec::with_capacity(to - from);
                let mut acc: i64 = 0;
                for d in &col_a[from..to] {
                    acc = acc.wrapping_add(*d);
                    starts.push(acc);
                }
                let ends = starts
                    .iter()
                    .zip(&col_b[from..to])
                    .map(|(s, d)| s.wrapping_add(*d))
                    .collect();
                (starts, ends)
            } else {
                (col_a[from..to].to_vec(), col_b[from..to].to_vec())
            };
            let threads = thread_col
                .as_ref()
                .filter(|t| t.len() >= to)
                .map(|t| t[from..to].to_vec());
            let id = region_ids[row];
            let slot = *slot_of.entry(id).or_insert_with(|| {
                regions.push(RegionData {
                    name: names[id as usize].clone(),
                    per_rank: BTreeMap::new(),
                });
                regions.len() - 1
            });
            regions[slot].per_rank.insert(
                row_ranks[row],
                Events {
                    starts,
                    ends,
                    threads,
                    untimed_calls: 0,
                },
            );
        }
        // The file's region order is region_table order.
        regions.sort_by_key(|r| names.iter().position(|n| *n == r.name));
        data.ranks = ranks.into_iter().collect();
        data.regions = regions;
        Ok(())
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
        if let AttrValue::Int(calls) = attr_value(&attr) {
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

/// Opens a dataset, refusing one whose claimed size no file of this size
/// could hold (a damaged header would otherwise make us allocate and read
/// gigabytes of fill values): at most 1024× the file's bytes, or 64 MiB.
fn dataset(group: &Group, group_name: &str, name: &str) -> Result<Dataset, Problem> {
    let label = if group_name.is_empty() {
        name.to_owned()
    } else {
        format!("{group_name}/{name}")
    };
    let ds = group
        .dataset(name)
        .map_err(|_| format!("{label} is missing or not a dataset"))?;
    let file_bytes = group.file().map(|f| f.size()).unwrap_or(0);
    let element = ds.dtype().map(|t| t.size()).unwrap_or(1).max(1) as u64;
    let claimed = (ds.size() as u64).saturating_mul(element);
    let limit = file_bytes.saturating_mul(1024).max(64 << 20);
    if claimed > limit {
        return Err(format!(
            "{label} claims {} elements ({claimed} bytes), more than a {file_bytes}-byte file can hold; the file is damaged",
            ds.size()
        ));
    }
    Ok(ds)
}

/// Reads a 1-D integer dataset, converting to `T` (HDF5 converts between
/// integer types and fails on non-integers).
fn read_ints<T: hdf5::H5Type>(
    group: &Group,
    group_name: &str,
    name: &str,
) -> Result<Vec<T>, Problem> {
    let (ds, label) = int_dataset(group, group_name, name)?;
    ds.read_raw::<T>()
        .map_err(|e| format!("cannot read {label}: {e}"))
}

/// Opens a 1-D integer dataset (see [`dataset`]) and names it.
fn int_dataset(group: &Group, group_name: &str, name: &str) -> Result<(Dataset, String), Problem> {
    let ds = dataset(group, group_name, name)?;
    let label = if group_name.is_empty() {
        name.to_owned()
    } else {
        format!("{group_name}/{name}")
    };
    if ds.ndim() != 1 {
        return Err(format!(
            "{label} must be one-dimensional, has shape {:?}",
            ds.shape()
        ));
    }
    match ds.dtype().and_then(|t| t.to_descriptor()) {
        Ok(TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_)) => Ok((ds, label)),
        Ok(other) => Err(format!("{label} must hold integers, holds {other}")),
        Err(e) => Err(format!("{label} has an unreadable type: {e}")),
    }
}

/// Reads a 1-D dataset of strings, refusing variable-length entries longer
/// than 1024× the file's size (or 64 MiB): see [`super::vlen`].
fn read_strings(ds: &Dataset) -> Result<Vec<String>, Problem> {
    let file_bytes = ds.file().map(|f| f.size()).unwrap_or(0);
    super::vlen::check_lengths(ds, file_bytes.saturating_mul(1024).max(64 << 20))?;
    if let Ok(v) = ds.read_raw::<VarLenUnicode>() {
        return Ok(v.iter().map(|s| super::text(s.as_bytes())).collect());
    }
    ds.read_raw::<VarLenAscii>()
        .map(|v| v.iter().map(|s| super::text(s.as_bytes())).collect())
        .map_err(|e| format!("is not a list of strings: {e}"))
}

fn read_attrs(loc: &Location) -> BTreeMap<String, AttrValue> {
    let mut out = BTreeMap::new();
    for name in loc.attr_names().unwrap_or_default() {
        if let Ok(attr) = loc.attr(&name) {
            out.insert(name, attr_value(&attr));
        }
    }
    out
}

fn attr_value(attr: &hdf5::Attribute) -> AttrValue {
    let descriptor = match attr.dtype().and_then(|t| t.to_descriptor()) {
        Ok(d) => d,
        Err(e) => return AttrValue::Other(format!("unreadable type: {e}")),
    };
    if !attr.is_scalar() {
        return AttrValue::Other(format!("array of {descriptor}"));
    }
    let value = match &descriptor {
        TypeDescriptor::Integer(_) => attr.read_scalar::<i64>().map(AttrValue::Int),
        TypeDescriptor::Unsigned(_) => attr.read_scalar::<u64>().map(AttrValue::UInt),
        TypeDescriptor::Float(_) => attr.read_scalar::<f64>().map(AttrValue::Float),
        TypeDescriptor::Boolean => attr.read_scalar::<bool>().map(|b| AttrValue::Int(b as i64)),
        TypeDescriptor::VarLenUnicode => attr
            .read_scalar::<VarLenUnicode>()
            .map(|s| AttrValue::Str(super::text(s.as_bytes()))),
        TypeDescriptor::VarLenAscii => attr
            .read_scalar::<VarLenAscii>()
            .map(|s| AttrValue::Str(super::text(s.as_bytes()))),
        other => {
            return read_fixed_string(attr).unwrap_or_else(|| AttrValue::Other(other.to_string()))
        }
    };
    value.unwrap_or_else(|e| AttrValue::Other(format!("{descriptor}: {e}")))
}

fn read_fixed_string(attr: &hdf5::Attribute) -> Option<AttrValue> {
    use hdf5::types::{FixedAscii, FixedUnicode};
    if let Ok(s) = attr.read_scalar::<FixedUnicode<1024>>() {
        return Some(AttrValue::Str(super::text(s.as_bytes())));
    }
    attr.read_scalar::<FixedAscii<1024>>()
        .ok()
        .map(|s| AttrValue::Str(super::text(s.as_bytes())))
}
