//! Post-processing of scope-profiler files: the reader API ([`ProfileFile`])
//! and the pieces of the `scope-profiler-pproc` command (summary tables,
//! Gantt charts, flame graphs, reports, exports, diffs, and [`watch`] for a
//! running job). Reads our files and every schema the Python package
//! writes (1, 2, 3).

pub mod diff;
pub mod error;
pub mod export;
pub mod flame;
pub mod gantt;
pub mod otf2;
pub mod palette;
pub mod profile;
pub mod ranks;
pub mod report;
pub mod table;
pub mod timeline;
pub mod units;
pub mod watch;

pub use error::{PprocError, Result};
pub use profile::{ProfileFile, Stats};
pub use timeline::{Call, Lane, Timeline, TrackKind};
