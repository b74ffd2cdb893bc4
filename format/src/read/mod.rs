//! Reading profile files of schema 1, 2 and 3.
//!
//! Schema 1 is a tree (`/rank<N>/regions/<name>/{start_times,end_times}`,
//! `tree.rs`); schemas 2 and 3 are columnar (`region_table`,
//! `rank_region_index`, `events`, `columnar.rs`); the aggregate layout
//! (`storage_layout = "aggregate"`) is `aggregate.rs`. Every inconsistency becomes
//! a [`ReadError`] naming the file and the problem; no input panics the
//! reader.

mod aggregate;
mod columnar;
mod datasets;
mod stream;
mod tree;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use hdf5::File;

pub use crate::aggregate::RegionAggregate;
pub use crate::attrs::AttrValue;
use crate::{attrs, ClockShift, RegionStats, NEWEST_READABLE_SCHEMA, SCHEMA_ATTRIBUTE};

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
    /// Calls per rank; ranks where the region never ran are absent. In an
    /// aggregate file, the calls the run kept as a trace (maybe none).
    pub per_rank: BTreeMap<u32, Events>,
    /// Aggregate files only: the region's statistics per rank, over every
    /// call (kept or not); empty for other files.
    pub aggregate: BTreeMap<u32, RegionAggregate>,
}

impl RegionData {
    /// Statistics pooled over all ranks (in an aggregate file, of every
    /// call, not only the kept ones).
    pub fn stats(&self) -> RegionStats {
        let mut pooled = RegionStats::default();
        if !self.aggregate.is_empty() {
            self.aggregate
                .values()
                .for_each(|a| pooled.merge(&a.pooled.stats));
            return pooled;
        }
        self.per_rank
            .values()
            .for_each(|e| pooled.merge(&e.stats()));
        pooled
    }
}

/// What a killed writer left, and what the reader did about it: a rank
/// stream's torn last frame or missing end, or what a kill inside an HDF5
/// flush leaves in a schema-1 dataset. The reader never drops data
/// silently: every cut is listed in [`ProfileData::damage`].
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
    /// A rank stream ends in `bytes` of a frame that a kill tore; the
    /// calls in it were not yet reported flushed.
    TornFrame {
        /// Bytes after the last intact frame.
        bytes: u64,
    },
    /// A rank stream that finalize never closed: the process was killed or
    /// is still running; calls after its last flush are not in it.
    Unfinished,
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
            Damage::TornFrame { bytes } => write!(
                f,
                "the stream ends in {bytes} bytes of a batch torn by a kill (not yet reported \
                 flushed); every batch before it is read"
            ),
            Damage::Unfinished => f.write_str(
                "the stream was not closed by finalize (the run was killed or is still \
                 running): it holds the calls flushed so far",
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
    /// Thread names by (rank, thread index), where the writer recorded
    /// them (threads named when they first recorded); others have none.
    pub thread_names: BTreeMap<(u32, u32), String>,
}

/// Thread names of `rank` from the JSON object (`{"0": "main", ...}`) our
/// writer stores; anything else yields none.
pub(crate) fn parse_thread_names(rank: u32, json: &str) -> BTreeMap<(u32, u32), String> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str(json) else {
        return BTreeMap::new();
    };
    map.into_iter()
        .filter_map(|(k, v)| Some(((rank, k.parse().ok()?), v.as_str()?.to_owned())))
        .collect()
}

impl ProfileData {
    /// The region called `name`.
    pub fn region(&self, name: &str) -> Option<&RegionData> {
        self.regions.iter().find(|r| r.name == name)
    }
}

/// Reads the profile at `path`: an HDF5 file of schema 1, 2 or 3, or a
/// rank stream (`rank_<N>.sps`) left in a run directory.
pub fn read_profile(path: impl AsRef<Path>) -> Result<ProfileData, ReadError> {
    let path = path.as_ref();
    let fail = |problem: String| ReadError {
        path: path.to_owned(),
        problem,
    };
    if !path.exists() {
        return Err(fail("no such file".into()));
    }
    if crate::stream::is_stream(path) {
        return stream::read_stream(path, &ClockShift::default()).map_err(fail);
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

/// The rank stream at `path` read as [`read_profile`] reads it, its
/// timestamps put on rank 0's clock by the rank's `shift`.
pub(crate) fn read_rank_stream(path: &Path, shift: &ClockShift) -> Result<ProfileData, ReadError> {
    stream::read_stream(path, shift).map_err(|problem| ReadError {
        path: path.to_owned(),
        problem,
    })
}

/// Adds the way out ([`way_out`]) to a read failure.
fn with_repair_hint(path: &Path, problem: Problem) -> Problem {
    match way_out(path) {
        Some(way) => format!("{problem}; {way}"),
        None => problem,
    }
}

/// How to recover an HDF5 file whose writer was killed inside a flush
/// (see [`crate::repair`]): a stale allocation mark to move; `None` when
/// that does not apply.
fn way_out(path: &Path) -> Option<Damage> {
    let alloc = crate::repair::allocation(path).ok()??;
    alloc.behind().then(|| Damage::AllocationBehind {
        bytes: alloc.end_of_file - alloc.end_of_allocation,
    })
}

/// One open file being read.
struct Reader<'a> {
    path: &'a Path,
    file: &'a File,
}

/// What is wrong with a file, in one sentence (without the file's name).
type Problem = String;

impl Reader<'_> {
    fn read(&self) -> Result<ProfileData, Problem> {
        let schema = self.schema_version()?;
        let metadata = match self.file.group("metadata") {
            Ok(g) => attrs::read_all(&g),
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
        } else if aggregate::is_aggregate(self.file) {
            self.read_aggregate(&mut data)?;
        } else {
            self.read_columnar(&mut data)?;
        }
        Ok(data)
    }

    fn schema_version(&self) -> Result<i64, Problem> {
        let Ok(attr) = self.file.attr(SCHEMA_ATTRIBUTE) else {
            return Ok(1);
        };
        let version = match attrs::value(&attr) {
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
}
