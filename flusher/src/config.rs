//! [`Config`]: the settings of a profiling run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
pub use scope_profiler_core::OverflowPolicy;
use scope_profiler_core::RecorderConfig;
pub use scope_profiler_format::merged::OutputSchema;

use crate::aggregate::KeepRule;
use crate::error::Error;

/// Settings of a profiling run, with the Python package's names and defaults.
///
/// ```
/// use scope_profiler_flusher::Config;
/// let config = Config::default().time_trace(true).flush_to_disk(false).buffer_limit(1 << 16);
/// assert_eq!(config.get_buffer_limit(), 65_536);
/// assert_eq!(config.get_file_path().to_str(), Some("profiling_data.h5"));
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// `profiling_activated`, `time_trace`, `buffer_limit` and `overflow`:
    /// what the hot path reads, with the hot path's defaults.
    recorder: RecorderConfig,
    flush_to_disk: bool,
    file_path: PathBuf,
    flush_interval: Duration,
    print_summary: bool,
    temp_parent: Option<PathBuf>,
    finalize_timeout: Duration,
    output_schema: OutputSchema,
    finalize_on_signal: bool,
    finalize_on_panic: bool,
    trace_regions: Option<String>,
    trace_calls_longer_than: Option<Duration>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            recorder: RecorderConfig::default(),
            flush_to_disk: true,
            file_path: PathBuf::from("profiling_data.h5"),
            flush_interval: Duration::from_millis(10),
            print_summary: true,
            temp_parent: None,
            finalize_timeout: Duration::from_secs(120),
            output_schema: OutputSchema::Tree,
            finalize_on_signal: false,
            finalize_on_panic: false,
            trace_regions: None,
            trace_calls_longer_than: None,
        }
    }
}

impl Config {
    /// Record from the start (default `true`); `false` starts paused, and
    /// each region then costs one relaxed load and a branch.
    pub fn profiling_activated(mut self, on: bool) -> Self {
        self.recorder.activated = on;
        self
    }

    /// Take timestamps (default `true`); `false` only counts calls.
    pub fn time_trace(mut self, on: bool) -> Self {
        self.recorder.time_trace = on;
        self
    }

    /// Append calls to this rank's stream (`rank_<N>.sps` in the run
    /// directory) batch by batch while the run goes (default `true`), so a
    /// killed process leaves every batch flushed before the kill; `false`
    /// keeps the encoded batches in memory (about 3 bytes a call) until
    /// finalize.
    pub fn flush_to_disk(mut self, on: bool) -> Self {
        self.flush_to_disk = on;
        self
    }

    /// Events each thread's ring holds (default 100 000; 16 bytes each).
    /// The flusher is woken whenever a ring has taken half this many.
    pub fn buffer_limit(mut self, events: usize) -> Self {
        self.recorder.capacity = events;
        self
    }

    /// The merged output file (default `profiling_data.h5`).
    pub fn file_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.file_path = path.into();
        self
    }

    /// What a thread does when its ring is full (default [`OverflowPolicy::Block`]).
    pub fn overflow(mut self, policy: OverflowPolicy) -> Self {
        self.recorder.overflow = policy;
        self
    }

    /// How often the flusher drains when not woken (default 10 ms).
    pub fn flush_interval(mut self, every: Duration) -> Self {
        self.flush_interval = every;
        self
    }

    /// Print the summary at finalize (default `true`).
    pub fn print_summary(mut self, on: bool) -> Self {
        self.print_summary = on;
        self
    }

    /// Directory under which rank 0 makes the run's temporary directory
    /// holding every rank's `rank_<N>.sps` (default: `TMPDIR` or `/tmp`). Under
    /// MPI on several nodes it must be on a file system all nodes share.
    pub fn shared_tmp_dir(mut self, parent: impl Into<PathBuf>) -> Self {
        self.temp_parent = Some(parent.into());
        self
    }

    /// How long finalize waits for every rank (default 120 s); past it a rank
    /// that crashed is reported instead of waited for forever.
    pub fn finalize_timeout(mut self, timeout: Duration) -> Self {
        self.finalize_timeout = timeout;
        self
    }

    /// Layout of the merged file (default [`OutputSchema::Tree`], schema 1).
    /// [`OutputSchema::Aggregate`] keeps statistics per rank, thread and
    /// region instead of every call, so neither memory nor the file grows
    /// with the run's length; [`trace_regions`](Self::trace_regions) and
    /// [`trace_calls_longer_than`](Self::trace_calls_longer_than) choose
    /// calls to keep in full besides.
    ///
    /// ```
    /// use scope_profiler_flusher::{Config, OutputSchema};
    /// use std::time::Duration;
    /// let config = Config::default()
    ///     .output_schema(OutputSchema::Aggregate)
    ///     .trace_regions("^checkpoint$")
    ///     .trace_calls_longer_than(Duration::from_millis(50));
    /// assert_eq!(config.get_trace_regions(), Some("^checkpoint$"));
    /// ```
    pub fn output_schema(mut self, schema: OutputSchema) -> Self {
        self.output_schema = schema;
        self
    }

    /// With [`OutputSchema::Aggregate`], also keep every call of the
    /// regions whose name matches `pattern` (a regular expression in the
    /// `regex` crate's syntax, matched anywhere in the name: anchor it with
    /// `^…$` for whole names) as a full trace, with exact start and end,
    /// besides counting it. Setup fails on an invalid pattern. The other
    /// schemas keep every call anyway and ignore it.
    pub fn trace_regions(mut self, pattern: impl Into<String>) -> Self {
        self.trace_regions = Some(pattern.into());
        self
    }

    /// With [`OutputSchema::Aggregate`], also keep every call that lasts
    /// longer than `threshold` as a full trace (Extrae's "bursts"): a long
    /// job keeps its slow iterations call by call and the rest as
    /// statistics. The other schemas keep every call anyway and ignore it.
    pub fn trace_calls_longer_than(mut self, threshold: Duration) -> Self {
        self.trace_calls_longer_than = Some(threshold);
        self
    }

    /// See [`trace_regions`](Self::trace_regions).
    pub fn get_trace_regions(&self) -> Option<&str> {
        self.trace_regions.as_deref()
    }

    /// See [`trace_calls_longer_than`](Self::trace_calls_longer_than).
    pub fn get_trace_calls_longer_than(&self) -> Option<Duration> {
        self.trace_calls_longer_than
    }

    /// On SIGTERM or SIGINT (a batch scheduler's time limit, Ctrl-C), finalize
    /// the run (write the file, print the summary) and exit with 128 + the
    /// signal number (default off: the program's own handling is untouched).
    /// Serial runs only: under MPI finalize must run on the thread that set
    /// up MPI, and the rank files are kept on disk anyway.
    pub fn finalize_on_signal(mut self, on: bool) -> Self {
        self.finalize_on_signal = on;
        self
    }

    /// If a thread panics, finalize the run from the panic hook (after the
    /// previous hook has printed the panic), so the profile up to the panic
    /// is written even if the program then exits (default off).
    pub fn finalize_on_panic(mut self, on: bool) -> Self {
        self.finalize_on_panic = on;
        self
    }

    /// See [`finalize_on_signal`](Self::finalize_on_signal).
    pub fn get_finalize_on_signal(&self) -> bool {
        self.finalize_on_signal
    }

    /// See [`finalize_on_panic`](Self::finalize_on_panic).
    pub fn get_finalize_on_panic(&self) -> bool {
        self.finalize_on_panic
    }

    /// See [`output_schema`](Self::output_schema).
    pub fn get_output_schema(&self) -> OutputSchema {
        self.output_schema
    }

    /// See [`profiling_activated`](Self::profiling_activated).
    pub fn get_profiling_activated(&self) -> bool {
        self.recorder.activated
    }
    /// See [`time_trace`](Self::time_trace).
    pub fn get_time_trace(&self) -> bool {
        self.recorder.time_trace
    }
    /// See [`flush_to_disk`](Self::flush_to_disk).
    pub fn get_flush_to_disk(&self) -> bool {
        self.flush_to_disk
    }
    /// See [`buffer_limit`](Self::buffer_limit).
    pub fn get_buffer_limit(&self) -> usize {
        self.recorder.capacity
    }
    /// See [`file_path`](Self::file_path).
    pub fn get_file_path(&self) -> &Path {
        &self.file_path
    }
    /// See [`overflow`](Self::overflow).
    pub fn get_overflow(&self) -> OverflowPolicy {
        self.recorder.overflow
    }
    /// See [`flush_interval`](Self::flush_interval).
    pub fn get_flush_interval(&self) -> Duration {
        self.flush_interval
    }
    /// See [`print_summary`](Self::print_summary).
    pub fn get_print_summary(&self) -> bool {
        self.print_summary
    }
    /// See [`shared_tmp_dir`](Self::shared_tmp_dir).
    pub fn get_shared_tmp_dir(&self) -> Option<&Path> {
        self.temp_parent.as_deref()
    }
    /// See [`finalize_timeout`](Self::finalize_timeout).
    pub fn get_finalize_timeout(&self) -> Duration {
        self.finalize_timeout
    }

    /// The settings the hot path reads.
    pub(crate) fn recorder(&self) -> RecorderConfig {
        self.recorder
    }

    /// In aggregate mode, which calls the flusher keeps as a trace; `None`
    /// in the other modes. Fails if [`trace_regions`](Self::trace_regions)
    /// is not a valid regular expression.
    pub(crate) fn keep_rule(&self) -> Result<Option<KeepRule>, Error> {
        if self.output_schema != OutputSchema::Aggregate {
            return Ok(None);
        }
        let regions = match &self.trace_regions {
            Some(pattern) => Some(Regex::new(pattern).map_err(|e| Error::TracePattern {
                pattern: pattern.clone(),
                message: e.to_string(),
            })?),
            None => None,
        };
        let longer_than_ns = self
            .trace_calls_longer_than
            .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        Ok(Some(KeepRule {
            regions,
            longer_than_ns,
        }))
    }
}
