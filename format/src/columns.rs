//! [`EventColumns`]: one region's calls as three columns of one length, the
//! shape the columnar writer takes.

/// One region's calls: start and end (CLOCK_MONOTONIC ns) and thread index
/// of each. The three columns always have one length: only the methods
/// here change them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EventColumns {
    starts: Vec<i64>,
    ends: Vec<i64>,
    threads: Vec<u32>,
}

impl EventColumns {
    /// Columns from three vectors; `None` unless they have one length.
    ///
    /// ```
    /// use scope_profiler_format::EventColumns;
    /// assert!(EventColumns::from_columns(vec![1], vec![2], vec![0]).is_some());
    /// assert!(EventColumns::from_columns(vec![1], vec![], vec![0]).is_none());
    /// ```
    pub fn from_columns(starts: Vec<i64>, ends: Vec<i64>, threads: Vec<u32>) -> Option<Self> {
        (starts.len() == ends.len() && ends.len() == threads.len()).then_some(EventColumns {
            starts,
            ends,
            threads,
        })
    }

    /// Start of each call, CLOCK_MONOTONIC ns.
    pub fn starts(&self) -> &[i64] {
        &self.starts
    }

    /// End of each call, CLOCK_MONOTONIC ns.
    pub fn ends(&self) -> &[i64] {
        &self.ends
    }

    /// Thread index of each call.
    pub fn threads(&self) -> &[u32] {
        &self.threads
    }

    /// The three columns (starts, ends, threads), of one length.
    pub fn into_columns(self) -> (Vec<i64>, Vec<i64>, Vec<u32>) {
        (self.starts, self.ends, self.threads)
    }

    /// Calls held: the length of every column.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// Whether no call is held.
    pub fn is_empty(&self) -> bool {
        self.starts.is_empty()
    }
}
