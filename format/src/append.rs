//! [`AppendableColumns`]: two int64 columns and a thread column in one
//! group, chunked and resizable, grown together by each append (the
//! columnar file's event columns).

use hdf5::{Dataset, Group};

/// Three 1-D datasets that always grow by the same number of entries.
pub(crate) struct AppendableColumns {
    first: Dataset,
    second: Dataset,
    threads: Dataset,
    /// Entries written to each.
    len: usize,
}

impl AppendableColumns {
    /// Creates the three empty datasets `names` (int64, int64, uint32) under
    /// `group`, chunked by `chunk` entries.
    pub(crate) fn create(group: &Group, names: [&str; 3], chunk: usize) -> hdf5::Result<Self> {
        let int = |name: &str| {
            group
                .new_dataset::<i64>()
                .chunk(chunk)
                .shape(0..)
                .create(name)
        };
        Ok(AppendableColumns {
            first: int(names[0])?,
            second: int(names[1])?,
            threads: group
                .new_dataset::<u32>()
                .chunk(chunk)
                .shape(0..)
                .create(names[2])?,
            len: 0,
        })
    }

    /// Appends the first `n` entries of each slice, `n` the shortest
    /// length. The first column is written first: a process killed part way
    /// leaves it at most one append longer than the others, and readers take
    /// the shorter length.
    pub(crate) fn append(
        &mut self,
        first: &[i64],
        second: &[i64],
        threads: &[u32],
    ) -> hdf5::Result<()> {
        let n = first.len().min(second.len()).min(threads.len());
        if n == 0 {
            return Ok(());
        }
        let (from, to) = (self.len, self.len + n);
        self.first.resize(to)?;
        self.first.write_slice(&first[..n], from..to)?;
        self.second.resize(to)?;
        self.second.write_slice(&second[..n], from..to)?;
        self.threads.resize(to)?;
        self.threads.write_slice(&threads[..n], from..to)?;
        self.len = to;
        Ok(())
    }

    /// Entries in each column.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}
