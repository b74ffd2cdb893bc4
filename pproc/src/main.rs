//! `scope-profiler-pproc`: look at a profile from the command line.
//!
//! Exit codes: 0 ok, 1 a `--diff` regression above `--max-regression`,
//! 2 an error (one line on stderr).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use scope_profiler_pproc::export::{self, Format};
use scope_profiler_pproc::table::{self, RegionFilter, SortKey};
use scope_profiler_pproc::{diff, flame, gantt, ranks, PprocError, ProfileFile, Result, Timeline};

/// Summaries, Gantt charts, flame graphs and exports of scope-profiler files
/// (ours and the Python package's, schemas 1–3).
#[derive(Parser, Debug)]
#[command(name = "scope-profiler-pproc", version, about)]
struct Args {
    /// Profile files (profiling_data.h5). Several: one summary each.
    #[arg(required_unless_present = "diff")]
    files: Vec<PathBuf>,
    /// Ranks to include: `0 2`, `0-3`, `1-2,3`.
    #[arg(long, num_args = 1..)]
    ranks: Vec<String>,
    /// Order of the summary rows.
    #[arg(long, value_enum, default_value = "start")]
    sort: SortKey,
    /// Only regions whose name matches one of these regular expressions.
    #[arg(long, num_args = 1..)]
    include: Vec<String>,
    /// Skip regions whose name matches one of these regular expressions.
    #[arg(long, num_args = 1..)]
    exclude: Vec<String>,
    /// Write a Gantt chart (one lane per rank and thread): OUT.svg or OUT.html.
    #[arg(long, value_name = "OUT")]
    gantt: Option<PathBuf>,
    /// Open the Gantt chart with the system opener (needs a display).
    #[arg(long, requires = "gantt")]
    show: bool,
    /// Write a flame graph SVG (self time in ns), all ranks merged.
    #[arg(long, value_name = "OUT.svg")]
    flame: Option<PathBuf>,
    /// In the flame graph, give each rank its own root frame.
    #[arg(long, requires = "flame")]
    flame_per_rank: bool,
    /// Export: FORMAT OUT (chrome-trace, perfetto, speedscope, csv, json).
    #[arg(long, num_args = 2, value_names = ["FORMAT", "OUT"])]
    export: Vec<String>,
    /// Compare two files per region; exit 1 if a region got slower than --max-regression.
    #[arg(long, num_args = 2, value_names = ["BASE", "CANDIDATE"])]
    diff: Vec<PathBuf>,
    /// First repair rank files left by a killed run: rebuilt from their
    /// journal when it is beside them, else their allocation mark moved to
    /// the end in place (what `h5clear --increment=0` does).
    #[arg(long)]
    repair: bool,
    /// Allowed slow-down per region for --diff, % of the base total.
    #[arg(long, default_value_t = 10.0)]
    max_regression: f64,
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

    /// Whether a Gantt chart, flame graph or export is asked for.
    fn wants_output(&self) -> bool {
        self.gantt.is_some() || self.flame.is_some() || !self.export.is_empty()
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("scope-profiler-pproc: error: {e}");
            ExitCode::from(2)
        }
    }
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
/// `scope_profiler_format::repair::repair`: rebuilt from its journal, or
/// its allocation mark moved to its end) and says what it did.
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

/// Does what `args` asks: the repairs, then either the diff or, per file,
/// the summary followed by the charts and the export.
fn run(args: &Args) -> Result<ExitCode> {
    if args.repair {
        repair(args.inputs())?;
    }
    if let [base, candidate] = args.diff.as_slice() {
        return print_diff(args, base, candidate);
    }
    let selection = Selection::of(args)?;
    let wants_output = args.wants_output();
    if wants_output && args.files.len() != 1 {
        return Err(PprocError::Output(
            "--gantt, --flame and --export take exactly one input file".into(),
        ));
    }
    for path in &args.files {
        let file = open(path)?;
        let rows = print_summary(args, &selection, path, &file)?;
        if !wants_output {
            continue;
        }
        let timeline = Timeline::of(&file, selection.ranks.as_deref(), |name| {
            selection.regions.keeps(name)
        });
        let name = path.display().to_string();
        write_gantt_chart(args, &timeline, &name)?;
        write_flame_graph(args, &timeline, &name)?;
        write_export(args, &file, &rows, &timeline)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `--diff`: prints the per-region comparison; exit code 1 when a region got
/// slower than `--max-regression`, with their count on stderr.
fn print_diff(args: &Args, base: &Path, candidate: &Path) -> Result<ExitCode> {
    let changes = diff::compare(&open(base)?, &open(candidate)?);
    print!("{}", diff::render(&changes, args.max_regression));
    let slower = diff::regressions(&changes, args.max_regression);
    if !slower.is_empty() {
        eprintln!(
            "{} region(s) slower by more than {}%",
            slower.len(),
            args.max_regression
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints the summary table of `file` over the selection and returns its
/// rows; fails when `--ranks` names a rank the file lacks.
fn print_summary(
    args: &Args,
    selection: &Selection,
    path: &Path,
    file: &ProfileFile,
) -> Result<Vec<table::Row>> {
    if let Some(r) = &selection.ranks {
        file.check_ranks(r)?;
    }
    let ranks = selection.ranks.as_deref();
    let rows = table::rows(file, ranks, &selection.regions, args.sort);
    let title = format!(
        "{} — schema {}, {} rank(s), {} region(s)",
        path.display(),
        file.schema(),
        ranks.map_or(file.ranks().len(), <[u32]>::len),
        rows.len()
    );
    print!("{}", table::render(&title, &rows));
    Ok(rows)
}

/// `--gantt`: writes the chart (HTML for `.html`/`.htm`, else SVG) and, with
/// `--show`, opens it.
fn write_gantt_chart(args: &Args, timeline: &Timeline, name: &str) -> Result<()> {
    let Some(out) = &args.gantt else {
        return Ok(());
    };
    let is_html = out.extension().is_some_and(|e| e == "html" || e == "htm");
    let doc = if is_html {
        gantt::html(timeline, name)
    } else {
        gantt::svg(timeline, name)
    };
    write_all(out, doc.as_bytes())?;
    eprintln!(
        "wrote Gantt chart {} ({} bars)",
        out.display(),
        timeline.calls.len()
    );
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
    eprintln!("wrote flame graph {}", out.display());
    Ok(())
}

/// `--export FORMAT OUT`: parses the format name (any case) and writes the
/// export.
fn write_export(
    args: &Args,
    file: &ProfileFile,
    rows: &[table::Row],
    timeline: &Timeline,
) -> Result<()> {
    let [format, out] = args.export.as_slice() else {
        return Ok(());
    };
    let format = <Format as clap::ValueEnum>::from_str(format, true).map_err(|_| {
        PprocError::Output(format!(
            "unknown export format {format:?}: use chrome-trace, perfetto, speedscope, csv or json"
        ))
    })?;
    let out = PathBuf::from(out);
    export_to(format, file, rows, timeline, &out)?;
    eprintln!("wrote {format:?} export {}", out.display());
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
