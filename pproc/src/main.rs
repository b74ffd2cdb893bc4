//! `scope-profiler-pproc`: look at a profile from the command line.
//!
//! Exit codes: see [`EXIT_CODES`].

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use scope_profiler_format::{lanes, stream};
use scope_profiler_pproc::export::{self, Format};
use scope_profiler_pproc::table::{self, RegionFilter, SortKey};
use scope_profiler_pproc::watch::{self, model::Settings, rows::SortBy};
use scope_profiler_pproc::{
    diff, flame, gantt, otf2, ranks, report, units, PprocError, ProfileFile, Result, Timeline,
};

/// The exit codes, as `--help` prints them.
const EXIT_CODES: &str = "\
Exit codes:
  0  success; with --diff: no region slower than --max-regression (regions
     whose total stays under --min-total in both files never count)
  1  --diff: at least one region got slower (listed on stdout, counted on stderr)
  2  error: unreadable input, bad arguments, an output that cannot be written
A closed standard output (`... | head -1`) ends the command quietly with 0.";

/// Summaries, Gantt charts, flame graphs, reports and exports of
/// scope-profiler files (ours and the Python package's, schemas 1–3).
#[derive(Parser, Debug)]
#[command(
    name = "scope-profiler-pproc",
    version,
    about,
    after_help = EXIT_CODES,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Profile files (profiling_data.h5). Several: one summary each.
    #[arg(required_unless_present = "diff")]
    files: Vec<PathBuf>,
    /// Ranks to include: `0 2`, `"0 2"`, `0-3`, `1-2,3`.
    #[arg(long, num_args = 1..)]
    ranks: Vec<String>,
    /// Order of the summary rows (`start`: by each region's first call).
    #[arg(long, value_enum, default_value = "start")]
    sort: SortKey,
    /// Only regions whose name matches one of these regular expressions.
    #[arg(long, num_args = 1..)]
    include: Vec<String>,
    /// Skip regions whose name matches one of these regular expressions.
    #[arg(long, num_args = 1..)]
    exclude: Vec<String>,
    /// Write a Gantt chart (a lane per rank, thread and async track):
    /// OUT.svg (a picture) or OUT.html (zoom, pan, tooltips).
    #[arg(long, value_name = "OUT")]
    gantt: Option<PathBuf>,
    /// Open the Gantt chart with the system opener (needs a display).
    #[arg(long, requires = "gantt")]
    show: bool,
    /// Write a flame graph SVG (frame width = inclusive time), all ranks merged.
    #[arg(long, value_name = "OUT.svg")]
    flame: Option<PathBuf>,
    /// In the flame graph, give each rank its own root frame.
    #[arg(long, requires = "flame")]
    flame_per_rank: bool,
    /// Export: FORMAT OUT (chrome-trace OUT.json, perfetto OUT.pftrace,
    /// speedscope OUT.json, csv OUT.csv, json OUT.json); may be given
    /// several times.
    #[arg(long, num_args = 2, value_names = ["FORMAT", "OUT"])]
    export: Vec<String>,
    /// Write a self-contained HTML report: sortable summary, per-rank
    /// imbalance, Gantt chart and flame graph.
    #[arg(long, value_name = "OUT.html")]
    report: Option<PathBuf>,
    /// Print the summary table also when writing charts, reports or exports.
    #[arg(long, conflicts_with = "quiet")]
    summary: bool,
    /// Print nothing but warnings and errors.
    #[arg(long, short)]
    quiet: bool,
    /// Compare two files per region (over --ranks, --include, --exclude);
    /// exit 1 if a region got slower than --max-regression.
    #[arg(long, num_args = 2, value_names = ["BASE", "CANDIDATE"])]
    diff: Vec<PathBuf>,
    /// First repair files a killed run left: a rank stream (`rank_<N>.sps`)
    /// is converted into `rank_<N>.h5` beside it; an HDF5 file killed inside
    /// a flush gets its allocation mark moved to the end in place (what
    /// `h5clear --increment=0` does).
    #[arg(long)]
    repair: bool,
    /// Allowed slow-down per region for --diff, % of the base total.
    #[arg(long, default_value_t = 10.0)]
    max_regression: f64,
    /// Noise floor for --diff: a region whose total stays under this in both
    /// files is never a regression (`250ns`, `100us`, `1.5ms`, `2s`).
    #[arg(long, default_value = "100us", value_parser = parse_min_total)]
    min_total: i64,
}

/// Subcommands; without one, the command reads profile files.
#[derive(Subcommand, Debug)]
enum Command {
    /// Follow a running job live, rank by rank (`--once`: one text snapshot).
    ///
    /// Per region calls, time, rate and share, per rank and thread,
    /// refreshed every second (q quits; the keys are listed at the bottom).
    /// Reads the rank streams the job appends to; never disturbs it.
    Watch(WatchArgs),
}

/// `watch`'s arguments.
#[derive(clap::Args, Debug)]
struct WatchArgs {
    /// The run directory (a run prints it at setup). Default: the newest
    /// scope-profiler-* directory under $TMPDIR; a directory holding run
    /// directories (a `shared_tmp_dir`) stands for its newest.
    run_dir: Option<PathBuf>,
    /// Print one plain-text snapshot and exit: a header line, then a row per
    /// region (name, calls, total_s, avg_us, calls/s, share%, ranks; rates
    /// and shares since the run began); the ranks' states on stderr.
    #[arg(long)]
    once: bool,
    /// Time between refreshes (`500ms`, `2s`).
    #[arg(long, default_value = "1s", value_parser = parse_positive_duration)]
    interval: Duration,
    /// A rank whose stream has not grown for this long is stalled (dead
    /// when its last frame is torn or other ranks have finished).
    #[arg(long, default_value = "5s", value_parser = parse_positive_duration)]
    stall_after: Duration,
    /// Order of the region rows (`s` cycles it on the screen).
    #[arg(long, value_enum, default_value = "total")]
    sort: SortBy,
    /// Only regions whose name matches this regular expression (`/` on the
    /// screen).
    #[arg(long, value_name = "REGEX")]
    filter: Option<String>,
    /// Only this rank (`r` on the screen).
    #[arg(long)]
    rank: Option<u32>,
}

/// A duration argument above zero (`--interval`, `--stall-after`).
fn parse_positive_duration(text: &str) -> std::result::Result<Duration, String> {
    match units::parse_duration(text) {
        Ok(ns) if ns > 0 => Ok(Duration::from_nanos(ns as u64)),
        Ok(_) => Err("must be above zero".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// `--min-total`'s parser: a duration with a unit, in ns.
fn parse_min_total(text: &str) -> std::result::Result<i64, String> {
    units::parse_duration(text).map_err(|e| e.to_string())
}

impl Args {
    /// The files this run reads: the two of `--diff` when given, else the
    /// positional ones.
    fn inputs(&self) -> &[PathBuf] {
        if self.diff.is_empty() {
            &self.files
        } else {
            &self.diff
        }
    }

    /// Whether a Gantt chart, flame graph, report or export is asked for.
    fn wants_output(&self) -> bool {
        self.gantt.is_some()
            || self.flame.is_some()
            || self.report.is_some()
            || !self.export.is_empty()
    }

    /// Whether to print the summary table of each file.
    fn prints_summary(&self) -> bool {
        !self.quiet && (self.summary || !self.wants_output())
    }

    /// Says what was written, unless `--quiet`.
    fn tell(&self, message: std::fmt::Arguments<'_>) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let outcome = match &args.command {
        Some(Command::Watch(w)) => watch(w).map(|()| ExitCode::SUCCESS),
        None => run(&args),
    };
    match outcome {
        Ok(code) => code,
        Err(PprocError::StdoutClosed) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("scope-profiler-pproc: error: {e}");
            ExitCode::from(2)
        }
    }
}

/// `watch`: the screen, or with `--once` the text snapshot.
fn watch(args: &WatchArgs) -> Result<()> {
    let filter = match &args.filter {
        Some(p) => Some(regex::Regex::new(p).map_err(|e| {
            PprocError::BadRegex {
                pattern: p.clone(),
                // The last line of regex's message says what is wrong.
                message: e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            }
        })?),
        None => None,
    };
    let dir = watch::run_dir::resolve(args.run_dir.as_deref())?;
    let selection = watch::rows::Selection {
        rank: args.rank,
        filter,
        sort: args.sort,
    };
    let settings = Settings {
        stall_after: args.stall_after,
    };
    if args.once {
        let (table, ranks) = watch::snapshot_text(&dir, settings, &selection)?;
        eprint!("{ranks}");
        return print_out(&table);
    }
    watch::run_screen(&dir, settings, selection, args.interval)
}

/// Writes `text` to stdout; a reader that closed the pipe (`| head -1`)
/// is [`PprocError::StdoutClosed`], not a panic.
fn print_out(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => PprocError::StdoutClosed,
            _ => PprocError::Write {
                path: PathBuf::from("<stdout>"),
                source: e,
            },
        })
}

/// A spinner on stderr for work that may take a while; invisible when stderr
/// is not a terminal.
fn spinner(message: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_message(message);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

fn open(path: &Path) -> Result<ProfileFile> {
    let bar = spinner(format!("reading {}", path.display()));
    let file = ProfileFile::open(path);
    bar.finish_and_clear();
    if let Ok(file) = &file {
        for damage in file.damage() {
            eprintln!(
                "scope-profiler-pproc: warning: {}: {damage}",
                path.display()
            );
        }
    }
    file
}

fn create(path: &Path) -> Result<BufWriter<File>> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(|source| PprocError::Write {
            path: path.to_owned(),
            source,
        })
}

fn write_all(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|source| PprocError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Repairs each file a killed writer left (see
/// `scope_profiler_format::repair::repair`: a stream converted to HDF5, or
/// an HDF5 file's allocation mark moved to its end) and says what it did.
fn repair(files: &[PathBuf]) -> Result<()> {
    use scope_profiler_format::repair::{self, Repair};
    for path in files {
        let done = repair::repair(path).map_err(|source| PprocError::Repair {
            path: path.clone(),
            source,
        })?;
        match done {
            Repair::Converted {
                to,
                calls,
                unread_bytes,
            } => eprintln!(
                "{}: converted to {}: {calls} calls{}",
                path.display(),
                to.display(),
                if unread_bytes > 0 {
                    format!(" (a torn last batch of {unread_bytes} bytes, never reported flushed, left out)")
                } else {
                    String::new()
                },
            ),
            Repair::NotNeeded(_) => eprintln!("{}: no repair needed", path.display()),
            Repair::Extended { before } => eprintln!(
                "{}: repaired: allocation extended from {} to {} bytes",
                path.display(),
                before.end_of_allocation,
                before.end_of_file
            ),
        }
    }
    Ok(())
}

/// Which ranks and regions the summary, charts and exports cover.
struct Selection {
    /// The `--ranks` asked for; `None` for all ranks.
    ranks: Option<Vec<u32>>,
    /// The `--include` / `--exclude` patterns.
    regions: RegionFilter,
}

impl Selection {
    /// Parses `--ranks`, then compiles `--include` and `--exclude`.
    fn of(args: &Args) -> Result<Selection> {
        let ranks = if args.ranks.is_empty() {
            None
        } else {
            Some(ranks::parse_ranks(&args.ranks)?)
        };
        let regions = RegionFilter::new(&args.include, &args.exclude)?;
        Ok(Selection { ranks, regions })
    }
}

/// Whether the name of `path` ends in `.EXT` for one of `allowed` (any
/// case); if not, an error saying what `what` is written as.
fn check_extension(path: &Path, allowed: &[&str], what: &str) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    if allowed.iter().any(|ext| name.ends_with(&format!(".{ext}"))) {
        return Ok(());
    }
    let list: Vec<String> = allowed.iter().map(|e| format!(".{e}")).collect();
    Err(PprocError::Output(format!(
        "{}: {what} is written as {}: name the file with that extension",
        path.display(),
        list.join(" or ")
    )))
}

/// The outputs asked for, checked before anything is read or written.
struct Outputs {
    /// `--gantt`, and whether it is the HTML page.
    gantt: Option<(PathBuf, bool)>,
    /// Each `--export FORMAT OUT`, in order.
    exports: Vec<(Format, PathBuf)>,
}

impl Outputs {
    /// Checks every output's format and extension and that they take one
    /// input file.
    fn of(args: &Args) -> Result<Outputs> {
        if args.wants_output() && args.files.len() != 1 {
            return Err(PprocError::Output(
                "--gantt, --flame, --report and --export take exactly one input file".into(),
            ));
        }
        let gantt = match &args.gantt {
            Some(out) => {
                check_extension(out, &["svg", "html", "htm"], "a Gantt chart")?;
                let html = check_extension(out, &["html", "htm"], "").is_ok();
                Some((out.clone(), html))
            }
            None => None,
        };
        if let Some(out) = &args.flame {
            check_extension(out, &["svg"], "a flame graph")?;
        }
        if let Some(out) = &args.report {
            check_extension(out, &["html", "htm"], "a report")?;
        }
        let mut exports = Vec::new();
        for pair in args.export.chunks(2) {
            let [format, out] = pair else {
                return Err(PprocError::Output("--export takes FORMAT OUT".into()));
            };
            let format = Format::parse(format)?;
            let out = PathBuf::from(out);
            if !format.extensions().is_empty() {
                check_extension(
                    &out,
                    format.extensions(),
                    &format!("a {} export", format.name()),
                )?;
            }
            exports.push((format, out));
        }
        Ok(Outputs { gantt, exports })
    }
}

/// Does what `args` asks: checks the outputs asked for, the repairs, then
/// either the diff or, per file, the summary followed by the charts, the
/// report and the exports.
fn run(args: &Args) -> Result<ExitCode> {
    let selection = Selection::of(args)?;
    let outputs = Outputs::of(args)?;
    if args.repair {
        repair(args.inputs())?;
    }
    if let [base, candidate] = args.diff.as_slice() {
        return print_diff(args, &selection, base, candidate);
    }
    for path in &args.files {
        let file = open(path)?;
        let rows = summary_rows(args, &selection, &file)?;
        if args.prints_summary() {
            print_out(&summary_text(&selection, path, &file, &rows))?;
        }
        if !args.quiet
            && file.schema() == 1
            && !stream::is_stream(path)
            && lanes::several_lanes(file.regions())
        {
            eprintln!("scope-profiler-pproc: {}", lanes::SCHEMA_1_LANES_NOTE);
        }
        if !args.wants_output() {
            continue;
        }
        check_calls_to_draw(args, path, &file)?;
        let timeline = Timeline::of(&file, selection.ranks.as_deref(), |name| {
            selection.regions.keeps(name)
        });
        let name = path.display().to_string();
        write_gantt_chart(args, &outputs, &timeline, &name)?;
        write_flame_graph(args, &timeline, &name)?;
        write_report(args, &selection, &file, &rows, &timeline)?;
        for (format, out) in &outputs.exports {
            if *format == Format::Otf2 {
                write_otf2(args, &selection, &file, &timeline, out)?;
                continue;
            }
            export_to(*format, &file, &rows, &timeline, out)?;
            args.tell(format_args!(
                "wrote {} export {}",
                format.name(),
                out.display()
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// An aggregate file holds statistics, not calls: `--gantt`, `--flame` and
/// `--export` fail when it kept no call as a trace, and say they show only
/// the kept ones when it did.
fn check_calls_to_draw(args: &Args, path: &Path, file: &ProfileFile) -> Result<()> {
    let draws_calls = args.gantt.is_some() || args.flame.is_some() || !args.export.is_empty();
    if !draws_calls || !file.is_aggregate() {
        return Ok(());
    }
    let kept = file.traced_calls();
    if kept == 0 {
        return Err(PprocError::Output(format!(
            "{} is an aggregate profile: it holds statistics per region, not calls, so \
             --gantt, --flame and --export have nothing to draw (the summary and --report work); \
             to keep calls in an aggregate run, set Config::trace_regions or \
             trace_calls_longer_than, or record a trace (OutputSchema::Tree or Columnar)",
            path.display()
        )));
    }
    eprintln!(
        "scope-profiler-pproc: note: {} is an aggregate profile: charts and exports show only the \
         {kept} call(s) it kept as a trace; the summary counts every call",
        path.display()
    );
    Ok(())
}

/// `--diff`: prints the per-region comparison over the selected ranks and
/// regions; exit code 1 when a region above the noise floor got slower than
/// `--max-regression`, with their count on stderr. Warns when the files
/// hold different numbers of ranks (totals are summed over ranks).
fn print_diff(
    args: &Args,
    selection: &Selection,
    base: &Path,
    candidate: &Path,
) -> Result<ExitCode> {
    let (base_file, candidate_file) = (open(base)?, open(candidate)?);
    if let Some(r) = &selection.ranks {
        base_file.check_ranks(r)?;
        candidate_file.check_ranks(r)?;
    } else if base_file.ranks().len() != candidate_file.ranks().len() {
        eprintln!(
            "scope-profiler-pproc: warning: {} has {} rank(s), {} has {}: totals are summed over \
             ranks, so they differ by the rank count alone; compare the same ranks with --ranks",
            base.display(),
            base_file.ranks().len(),
            candidate.display(),
            candidate_file.ranks().len()
        );
    }
    let thresholds = diff::Thresholds {
        max_regression_pct: args.max_regression,
        min_total_ns: args.min_total,
    };
    let changes = diff::compare(
        &base_file,
        &candidate_file,
        selection.ranks.as_deref(),
        &selection.regions,
    );
    if !args.quiet {
        print_out(&diff::render(&changes, &thresholds))?;
    }
    let slower = diff::regressions(&changes, &thresholds);
    if !slower.is_empty() {
        eprintln!(
            "{} region(s) slower by more than {}% (noise floor {})",
            slower.len(),
            args.max_regression,
            units::duration(args.min_total as f64)
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The summary rows of `file` over the selection; fails when `--ranks`
/// names a rank the file lacks.
fn summary_rows(args: &Args, selection: &Selection, file: &ProfileFile) -> Result<Vec<table::Row>> {
    if let Some(r) = &selection.ranks {
        file.check_ranks(r)?;
    }
    Ok(table::rows(
        file,
        selection.ranks.as_deref(),
        &selection.regions,
        args.sort,
    ))
}

/// The summary table of `file` with its title line.
fn summary_text(
    selection: &Selection,
    path: &Path,
    file: &ProfileFile,
    rows: &[table::Row],
) -> String {
    let title = format!(
        "{} — schema {}, {} rank(s), {} region(s)",
        path.display(),
        file.schema(),
        selection
            .ranks
            .as_deref()
            .map_or(file.ranks().len(), <[u32]>::len),
        rows.len()
    );
    table::render(&title, rows)
}

/// `--gantt`: writes the chart (the HTML page or the SVG picture) and, with
/// `--show`, opens it.
fn write_gantt_chart(
    args: &Args,
    outputs: &Outputs,
    timeline: &Timeline,
    name: &str,
) -> Result<()> {
    let Some((out, is_html)) = &outputs.gantt else {
        return Ok(());
    };
    let doc = if *is_html {
        gantt::html(timeline, name)
    } else {
        gantt::svg(timeline, name)
    };
    write_all(out, doc.as_bytes())?;
    args.tell(format_args!(
        "wrote Gantt chart {} ({} calls on {} lanes)",
        out.display(),
        timeline.calls.len(),
        timeline.lanes.len()
    ));
    if args.show {
        show(out);
    }
    Ok(())
}

/// `--flame`: writes the flame graph SVG.
fn write_flame_graph(args: &Args, timeline: &Timeline, name: &str) -> Result<()> {
    let Some(out) = &args.flame else {
        return Ok(());
    };
    write_all(out, &flame::svg(timeline, args.flame_per_rank, name)?)?;
    args.tell(format_args!("wrote flame graph {}", out.display()));
    Ok(())
}

/// `--report`: writes the HTML report.
fn write_report(
    args: &Args,
    selection: &Selection,
    file: &ProfileFile,
    rows: &[table::Row],
    timeline: &Timeline,
) -> Result<()> {
    let Some(out) = &args.report else {
        return Ok(());
    };
    let title = file.path().display().to_string();
    let flame_svg = flame::svg(timeline, false, &title).ok();
    let page = report::html(&report::Report {
        file,
        ranks: selection.ranks.as_deref(),
        rows,
        timeline,
        flame_svg: flame_svg.as_deref(),
    });
    write_all(out, page.as_bytes())?;
    args.tell(format_args!("wrote report {}", out.display()));
    Ok(())
}

/// `--export otf2 OUTDIR`: the archive, with a location group for every
/// selected rank.
fn write_otf2(
    args: &Args,
    selection: &Selection,
    file: &ProfileFile,
    timeline: &Timeline,
    out: &Path,
) -> Result<()> {
    let ranks = selection.ranks.as_deref().unwrap_or(file.ranks());
    let bar = ProgressBar::new(timeline.calls.len() as u64).with_message("exporting");
    let machine = otf2::machine_name(file);
    let done = otf2::export(timeline, ranks, &machine, out, |n| bar.set_position(n))?;
    bar.finish_and_clear();
    args.tell(format_args!(
        "wrote OTF2 archive {} ({} rank(s), {} location(s), {} events)",
        done.anchor.display(),
        done.ranks,
        done.locations,
        done.events
    ));
    Ok(())
}

fn export_to(
    format: Format,
    file: &ProfileFile,
    rows: &[table::Row],
    timeline: &Timeline,
    out: &Path,
) -> Result<()> {
    let io = |source| PprocError::Write {
        path: out.to_owned(),
        source,
    };
    let mut w = create(out)?;
    match format {
        Format::ChromeTrace => {
            let bar = ProgressBar::new(timeline.calls.len() as u64).with_message("exporting");
            export::chrome_trace(timeline, &mut w, |done| bar.set_position(done)).map_err(io)?;
            bar.finish_and_clear();
        }
        Format::Perfetto => {
            let bar = ProgressBar::new(timeline.calls.len() as u64).with_message("exporting");
            export::perfetto(timeline, &mut w, |done| bar.set_position(done)).map_err(io)?;
            bar.finish_and_clear();
        }
        Format::Speedscope => {
            let doc = export::speedscope(timeline, &file.path().display().to_string());
            serde_json::to_writer(&mut w, &doc).map_err(|e| io(e.into()))?;
        }
        Format::Csv => export::csv(timeline, &mut w).map_err(io)?,
        Format::Json => {
            serde_json::to_writer_pretty(&mut w, &export::summary_json(file, rows))
                .map_err(|e| io(e.into()))?;
        }
        // A directory, not a file: `run` hands it to `write_otf2`.
        Format::Otf2 => {
            return Err(PprocError::Output(
                "otf2 writes a directory; see write_otf2".into(),
            ))
        }
    }
    w.flush().map_err(io)
}

fn show(path: &Path) {
    let has_display =
        std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if !has_display {
        eprintln!("no display: open {} yourself", path.display());
        return;
    }
    if let Err(e) = std::process::Command::new("xdg-open").arg(path).spawn() {
        eprintln!("could not open {} ({e}); open it yourself", path.display());
    }
}
