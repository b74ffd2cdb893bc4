//! [`AppendableColumns`]: the columnar file's per-event columns in one
//! group, chunked and resizable, grown together by each append.

use hdf5::{Dataset, Group};

/// The `events` columns of a columnar file, always of one length:
/// `start_deltas`, `durations` (int64), `thread_ids` (uint32), `task_ids`
/// (int32, fill value -1) and `await_ns` (int64, fill value 0).
///
/// `task_ids` is written only where a slab holds a task (a slab of -1 is
/// left to the fill value), and `await_ns` never: HDF5 stores no chunk that
/// was never written, so a run without async lanes pays nothing for either,
/// and every reader sees the fill values.
pub(crate) struct AppendableColumns {
    starts: Dataset,
    durations: Dataset,
    threads: Dataset,
    tasks: Dataset,
    awaits: Dataset,
    /// Entries in each.
    len: usize,
}

/// A call outside every task (`events/task_ids`), as scope-profiler 0.7.5
/// writes it.
pub(crate) const NO_TASK: i32 = -1;

impl AppendableColumns {
    /// Creates the empty columns under `group`, chunked by `chunk` entries.
    pub(crate) fn create(group: &Group, chunk: usize) -> hdf5::Result<Self> {
        let int = |name: &str| {
            group
                .new_dataset::<i64>()
                .chunk(chunk)
                .shape(0..)
                .create(name)
        };
        Ok(AppendableColumns {
            starts: int("start_deltas")?,
            durations: int("durations")?,
            threads: group
                .new_dataset::<u32>()
                .chunk(chunk)
                .shape(0..)
                .create("thread_ids")?,
            tasks: group
                .new_dataset::<i32>()
                .chunk(chunk)
                .shape(0..)
                .fill_value(NO_TASK)
                .create("task_ids")?,
            awaits: group
                .new_dataset::<i64>()
                .chunk(chunk)
                .shape(0..)
                .fill_value(0i64)
                .create("await_ns")?,
            len: 0,
        })
    }

    /// Appends the first `n` entries of each slice, `n` the shortest
    /// length. `start_deltas` is written first: a process killed part way
    /// leaves it at most one append longer than the others, and readers
    /// take the shorter length.
    pub(crate) fn append(
        &mut self,
        deltas: &[i64],
        durations: &[i64],
        threads: &[u32],
        tasks: &[i32],
    ) -> hdf5::Result<()> {
        let n = deltas
            .len()
            .min(durations.len())
            .min(threads.len())
            .min(tasks.len());
        if n == 0 {
            return Ok(());
        }
        let (from, to) = (self.len, self.len + n);
        self.starts.resize(to)?;
        self.starts.write_slice(&deltas[..n], from..to)?;
        self.durations.resize(to)?;
        self.durations.write_slice(&durations[..n], from..to)?;
        self.threads.resize(to)?;
        self.threads.write_slice(&threads[..n], from..to)?;
        self.tasks.resize(to)?;
        if tasks[..n].iter().any(|t| *t != NO_TASK) {
            self.tasks.write_slice(&tasks[..n], from..to)?;
        }
        self.awaits.resize(to)?;
        self.len = to;
        Ok(())
    }

    /// Entries in each column.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}
