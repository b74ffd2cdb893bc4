//! Which directory `watch` follows, and which rank streams are in it.
//!
//! A run makes `scope-profiler-XXXXXX` under its `shared_tmp_dir`
//! (`$TMPDIR` or `/tmp` by default) and prints its path at setup; each rank
//! writes `rank_<N>.sps` there.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::error::{PprocError, Result};

/// The prefix of a run directory's name.
const RUN_DIR_PREFIX: &str = "scope-profiler-";

/// The rank a stream's file name says: `rank_12.sps` → 12.
///
/// ```
/// use scope_profiler_pproc::watch::run_dir::rank_of;
/// assert_eq!(rank_of("rank_12.sps"), Some(12));
/// assert_eq!(rank_of("rank_x.sps"), None);
/// assert_eq!(rank_of("rank_1.h5"), None);
/// ```
pub fn rank_of(file_name: &str) -> Option<u32> {
    file_name
        .strip_prefix("rank_")?
        .strip_suffix(".sps")?
        .parse()
        .ok()
}

/// The rank streams in `dir`, by rank. A directory that is gone has none.
pub fn rank_streams(dir: &Path) -> std::io::Result<Vec<(u32, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut streams = Vec::new();
    for entry in entries {
        let entry = entry?;
        if let Some(rank) = entry.file_name().to_str().and_then(rank_of) {
            streams.push((rank, entry.path()));
        }
    }
    streams.sort_unstable();
    Ok(streams)
}

/// The directory to follow: `given` when it holds rank streams (or is a run
/// directory that has none yet); the newest run directory under `given`
/// (or under the system's temp dir when `None`) otherwise. A stream file
/// given stands for its directory.
pub fn resolve(given: Option<&Path>) -> Result<PathBuf> {
    let Some(given) = given else {
        return newest_run_under(&std::env::temp_dir());
    };
    if given.is_file() {
        let dir = given.parent().filter(|p| !p.as_os_str().is_empty());
        return Ok(dir.unwrap_or(Path::new(".")).to_owned());
    }
    if !given.is_dir() {
        return Err(PprocError::NoRun(format!(
            "{}: no such directory",
            given.display()
        )));
    }
    let is_run_dir = given
        .file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(RUN_DIR_PREFIX));
    let has_streams = !rank_streams(given)
        .map_err(|e| follow_error(given, e))?
        .is_empty();
    if has_streams || is_run_dir {
        return Ok(given.to_owned());
    }
    newest_run_under(given)
}

/// The `scope-profiler-*` directory under `parent` modified last: the run
/// that set up last (setup creates the rank streams in it).
fn newest_run_under(parent: &Path) -> Result<PathBuf> {
    let entries = std::fs::read_dir(parent).map_err(|e| follow_error(parent, e))?;
    let newest = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(RUN_DIR_PREFIX))
        .filter_map(|e| {
            let meta = e.metadata().ok().filter(|m| m.is_dir())?;
            Some((meta.modified().unwrap_or(SystemTime::UNIX_EPOCH), e.path()))
        })
        .max();
    newest.map(|(_, dir)| dir).ok_or_else(|| {
        PprocError::NoRun(format!(
            "no run directory ({RUN_DIR_PREFIX}*) under {}: is a run going? At setup a run \
             prints its directory on stderr; pass it: scope-profiler-pproc watch DIR",
            parent.display()
        ))
    })
}

fn follow_error(path: &Path, source: std::io::Error) -> PprocError {
    PprocError::Follow {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_run_directory_is_chosen_and_a_run_directory_is_kept() {
        let parent = tempfile::tempdir().unwrap();
        let err = resolve(Some(parent.path())).unwrap_err().to_string();
        assert!(err.contains("no run directory"), "{err}");
        let old = parent.path().join("scope-profiler-old");
        let new = parent.path().join("scope-profiler-new");
        std::fs::create_dir(&old).unwrap();
        std::fs::create_dir(&new).unwrap();
        std::fs::write(old.join("rank_0.sps"), b"").unwrap();
        // `new` set up last.
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        std::fs::File::open(&new)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert_eq!(resolve(Some(parent.path())).unwrap(), new);
        assert_eq!(resolve(Some(&new)).unwrap(), new, "an empty run dir");
        assert_eq!(resolve(Some(&old)).unwrap(), old);
        assert_eq!(resolve(Some(&old.join("rank_0.sps"))).unwrap(), old);
        assert!(resolve(Some(&parent.path().join("missing"))).is_err());
        std::fs::write(new.join("rank_3.sps"), b"").unwrap();
        std::fs::write(new.join("rank_1.sps"), b"").unwrap();
        std::fs::write(new.join("notes.txt"), b"").unwrap();
        let ranks: Vec<u32> = rank_streams(&new).unwrap().iter().map(|r| r.0).collect();
        assert_eq!(ranks, [1, 3]);
        assert!(rank_streams(&parent.path().join("gone"))
            .unwrap()
            .is_empty());
    }
}
