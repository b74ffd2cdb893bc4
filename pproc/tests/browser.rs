//! The charts in a real browser: every HTML and SVG output loads in
//! headless chromium without a script error, the Gantt page zooms, pans
//! and shows tooltips, and 10⁵ calls draw in under 2 s.
//!
//! Needs `chromium` (`apt-get install -y chromium`; CI installs it). Where
//! it is missing these tests say so loudly on stderr and pass without
//! checking anything.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};

/// The chromium binary: `$CHROMIUM`, else the first of the usual names on
/// `PATH`.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let names = [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ];
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// chromium, or `None` after saying loudly that the test checks nothing.
fn browser_or_skip(test: &str) -> Option<PathBuf> {
    let found = chromium();
    if found.is_none() {
        eprintln!(
            "\n=== SKIPPED {test}: chromium is not installed (apt-get install -y chromium); \
             the HTML outputs were NOT checked in a browser ===\n"
        );
    }
    found
}

/// What a page left after loading: its DOM and chromium's log.
struct Rendered {
    dom: String,
    log: String,
}

impl Rendered {
    /// The console lines that report a script error.
    fn script_errors(&self) -> Vec<&str> {
        self.log
            .lines()
            .filter(|l| l.contains("CONSOLE") && (l.contains("Uncaught") || l.contains("Error")))
            .collect()
    }

    /// The value of attribute `name` in the DOM (the first one).
    fn attribute(&self, name: &str) -> Option<&str> {
        let key = format!("{name}=\"");
        let at = self.dom.find(&key)? + key.len();
        Some(&self.dom[at..at + self.dom[at..].find('"')?])
    }
}

/// Loads `page` in headless chromium and dumps its DOM. With
/// `virtual_ms`, timers and animation frames run for that much virtual
/// time first (then `performance.now()` is virtual too).
fn render(chromium: &Path, page: &Path, virtual_ms: Option<u32>) -> Rendered {
    // One browser at a time, so the timing test measures the page, not
    // the other tests' browsers.
    static ONE_BROWSER: Mutex<()> = Mutex::new(());
    let _alone = ONE_BROWSER.lock().unwrap_or_else(PoisonError::into_inner);
    let profile = tempfile::tempdir().unwrap();
    let mut command = Command::new("timeout");
    command
        .arg("120")
        .arg(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1600,1000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()));
    if let Some(ms) = virtual_ms {
        command.arg(format!("--virtual-time-budget={ms}"));
    }
    let out = command
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let rendered = Rendered {
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        log: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        out.status.success() && !rendered.dom.is_empty(),
        "chromium failed on {page:?} ({:?}): {}",
        out.status,
        rendered.log
    );
    rendered
}

/// The async run of `support::async_run` with `steps` steps on 2 ranks,
/// and its Gantt page, report, Gantt SVG and flame graph.
fn outputs(dir: &Path, steps: i64) -> [PathBuf; 5] {
    let input = support::async_file(dir, steps);
    let files = ["gantt.html", "report.html", "gantt.svg", "flame.svg"].map(|f| dir.join(f));
    let [gantt_html, report, gantt_svg, flame] = &files;
    let arg = |p: &PathBuf| p.to_str().unwrap().to_owned();
    support::pproc_ok(&[
        &arg(&input),
        "--gantt",
        &arg(gantt_html),
        "--report",
        &arg(report),
        "--flame",
        &arg(flame),
    ]);
    support::pproc_ok(&[&arg(&input), "--gantt", &arg(gantt_svg)]);
    let [a, b, c, d] = files;
    [input, a, b, c, d]
}

#[test]
fn every_chart_loads_in_chromium_without_a_script_error() {
    let Some(chromium) = browser_or_skip("every_chart_loads_in_chromium_without_a_script_error")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let [_, gantt_html, report, gantt_svg, flame] = outputs(dir.path(), 12);
    for page in [&gantt_html, &report, &gantt_svg, &flame] {
        let rendered = render(&chromium, page, Some(2_000));
        assert!(
            rendered.script_errors().is_empty(),
            "{page:?}: {:?}",
            rendered.script_errors()
        );
        if page.extension().is_some_and(|e| e == "html") {
            // The chart script ran to its end.
            assert!(rendered.attribute("data-rendered-ms").is_some(), "{page:?}");
        }
    }
    // A script error is caught: the check above can fail.
    let broken = dir.path().join("broken.html");
    std::fs::write(
        &broken,
        "<html><body><script>missing.call()</script></body></html>",
    )
    .unwrap();
    assert_eq!(render(&chromium, &broken, None).script_errors().len(), 1);
}

/// Appended to the Gantt page, after the chart is drawn: zooms with the
/// wheel, pans by dragging and hovers a bar, drawing each step at once
/// (`root.gantt.flush()`, not waiting for an animation frame), then writes
/// what it saw into `data-result` on `<body>`.
const INTERACTION: &str = r#"<script>
(() => {
  const root = document.getElementById("gantt"), canvas = root.querySelector("canvas");
  const r = canvas.getBoundingClientRect();
  const view = () => root.dataset.view.split(",").map(Number);
  const at = (x, y) => ({clientX: r.left + x, clientY: r.top + y, bubbles: true, cancelable: true});
  const seen = {before: view(), ticksBefore: root.dataset.ticks};
  const pixels = canvas.toDataURL();
  for (let i = 0; i < 12; i++) canvas.dispatchEvent(new WheelEvent("wheel", {deltaY: -300, ...at(r.width * 0.6, 60)}));
  root.gantt.flush();
  seen.zoomed = view();
  seen.ticksZoomed = root.dataset.ticks;
  seen.redrawn = canvas.toDataURL() !== pixels;
  canvas.dispatchEvent(new MouseEvent("mousedown", at(700, 60)));
  window.dispatchEvent(new MouseEvent("mousemove", at(500, 60)));
  window.dispatchEvent(new MouseEvent("mouseup", at(500, 60)));
  root.gantt.flush();
  seen.panned = view();
  canvas.dispatchEvent(new MouseEvent("mousemove", at(r.width - 200, 37)));
  seen.tip = root.querySelector(".gantt-tip").textContent;
  document.body.setAttribute("data-result", JSON.stringify(seen));
})();
</script></body>"#;

#[test]
fn the_gantt_page_zooms_pans_and_explains_a_bar() {
    let Some(chromium) = browser_or_skip("the_gantt_page_zooms_pans_and_explains_a_bar") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let [_, gantt_html, ..] = outputs(dir.path(), 12);
    let page = std::fs::read_to_string(&gantt_html).unwrap();
    let test_page = dir.path().join("interaction.html");
    std::fs::write(&test_page, page.replace("</body>", INTERACTION)).unwrap();
    let rendered = render(&chromium, &test_page, None);
    assert!(
        rendered.script_errors().is_empty(),
        "{:?}",
        rendered.script_errors()
    );
    let result = rendered
        .attribute("data-result")
        .expect("the interaction script did not finish")
        .replace("&quot;", "\"");
    let seen: serde_json::Value = serde_json::from_str(&result).unwrap();
    let range = |v: &serde_json::Value| v[1].as_f64().unwrap() - v[0].as_f64().unwrap();
    let (before, zoomed, panned) = (&seen["before"], &seen["zoomed"], &seen["panned"]);
    assert!(
        range(zoomed) < range(before) / 10.0,
        "the wheel zooms in: {seen}"
    );
    assert_eq!(seen["redrawn"], true, "and the canvas shows it");
    assert!(
        (range(panned) - range(zoomed)).abs() < 1e-6 * range(zoomed)
            && panned[0].as_f64() > zoomed[0].as_f64(),
        "dragging left moves to later times at the same zoom: {seen}"
    );
    // Round ticks in the unit the zoom needs.
    assert_eq!(
        seen["ticksBefore"]
            .as_str()
            .unwrap()
            .split('|')
            .take(3)
            .collect::<Vec<_>>(),
        vec!["0 ms", "1 ms", "2 ms"],
        "{seen}"
    );
    let zoomed_ticks: Vec<&str> = seen["ticksZoomed"].as_str().unwrap().split('|').collect();
    assert!(zoomed_ticks.len() >= 3, "{seen}");
    assert!(
        zoomed_ticks
            .iter()
            .all(|t| t.ends_with(" ms") && t.contains('.')),
        "{seen}"
    );
    // The first row of rank 0 · thread 0 is `main`, which spans the run.
    let tip = seen["tip"].as_str().unwrap();
    assert!(
        tip.starts_with("main\n") && tip.contains("rank 0 · thread 0"),
        "{tip:?}"
    );
}

#[test]
fn a_gantt_page_of_100_000_calls_draws_in_under_2_s() {
    let Some(chromium) = browser_or_skip("a_gantt_page_of_100_000_calls_draws_in_under_2_s") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.h5");
    let calls = support::async_run(2, 7_143);
    assert!(support::count(&calls) >= 100_000);
    support::write_schema1(&input, &calls).unwrap();
    let page = dir.path().join("big.html");
    support::pproc_ok(&[input.to_str().unwrap(), "--gantt", page.to_str().unwrap()]);
    // Real time: no virtual time budget, the chart draws while the page
    // loads and records performance.now() (ms since navigation) when done.
    let rendered = render(&chromium, &page, None);
    assert!(
        rendered.script_errors().is_empty(),
        "{:?}",
        rendered.script_errors()
    );
    let ms: f64 = rendered
        .attribute("data-rendered-ms")
        .expect("the chart did not draw")
        .parse()
        .unwrap();
    eprintln!("100 000 calls drawn {ms} ms after navigation");
    assert!(ms < 2_000.0, "{ms} ms");
}

/// Appended to the report: clicks the `total` heading twice and records
/// the first region after each click.
const SORT: &str = r#"<script>
(() => {
  const table = document.querySelector("table.summary");
  const total = Array.from(table.tHead.rows[0].cells).find(th => th.textContent === "total");
  const first = () => table.tBodies[0].rows[0].cells[0].textContent;
  total.click();
  const descending = first();
  total.click();
  document.body.setAttribute("data-result", descending + "|" + first());
})();
</script></body>"#;

#[test]
fn the_report_table_sorts_by_a_clicked_column() {
    let Some(chromium) = browser_or_skip("the_report_table_sorts_by_a_clicked_column") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let [_, _, report, ..] = outputs(dir.path(), 12);
    let page = std::fs::read_to_string(&report).unwrap();
    let test_page = dir.path().join("sort.html");
    std::fs::write(&test_page, page.replace("</body>", SORT)).unwrap();
    let rendered = render(&chromium, &test_page, None);
    assert!(
        rendered.script_errors().is_empty(),
        "{:?}",
        rendered.script_errors()
    );
    // Most total time: the three lifetimes alive at once; least: `upload`.
    assert_eq!(
        rendered.attribute("data-result"),
        Some("upload [lifetime]|upload")
    );
}
