//! What the pictures say: flame-graph labels and tooltips, round Gantt
//! ticks, one colour per region in every chart of a report.

mod support;

use std::collections::{BTreeMap, BTreeSet};

/// What inferno's script shows on a frame: its tooltip without the last
/// parenthesised group (`txt.replace(/\([^(]*\)$/, "")`).
fn inferno_label(title: &str) -> &str {
    match title.rfind('(') {
        Some(open) if title.ends_with(')') => &title[..open],
        _ => title,
    }
}

#[test]
fn flame_frames_are_labelled_by_name_with_inclusive_and_self_time_in_the_tooltip() {
    let dir = tempfile::tempdir().unwrap();
    let input = support::async_file(dir.path(), 12);
    let out = dir.path().join("flame.svg");
    support::pproc_ok(&[input.to_str().unwrap(), "--flame", out.to_str().unwrap()]);
    let svg = std::fs::read_to_string(&out).unwrap();
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let xml = roxmltree::Document::parse_with_options(&svg, options).unwrap();
    let names = [
        "main",
        "step",
        "compute",
        "exchange",
        "upload",
        "upload [lifetime]",
        "fetch",
        "decode",
    ];
    let time = r"[0-9.]+ (ns|µs|ms|s)";
    let tooltip = regex::Regex::new(&format!(
        r"^(.+) \(inclusive {time}, [0-9.]+%; self {time}\)$"
    ))
    .unwrap();
    let mut frames = 0;
    let mut self_ns_total = 0.0;
    for g in xml.descendants().filter(|n| n.has_tag_name("g")) {
        let (Some(title), Some(text)) = (
            g.children()
                .find(|c| c.has_tag_name("title"))
                .and_then(|t| t.text()),
            g.children().find(|c| c.has_tag_name("text")),
        ) else {
            continue;
        };
        let caps = tooltip
            .captures(title)
            .unwrap_or_else(|| panic!("tooltip {title:?}"));
        let name = &caps[1];
        assert!(name == "all" || names.contains(&name), "{title:?}");
        // The browser's label is the name alone...
        assert_eq!(inferno_label(title).trim_end(), name, "{title:?}");
        // ...and the static one is the name, or its start and "..".
        let shown = text.text().unwrap_or("");
        assert!(
            shown.is_empty()
                || shown == name
                || (shown.ends_with("..") && name.starts_with(shown.trim_end_matches('.'))),
            "{shown:?} for {name:?}"
        );
        let self_time = title.rsplit("self ").next().unwrap().trim_end_matches(')');
        let (value, unit) = self_time.split_once(' ').unwrap();
        let scale = match unit {
            "ns" => 1.0,
            "µs" => 1e3,
            "ms" => 1e6,
            _ => 1e9,
        };
        self_ns_total += value.parse::<f64>().unwrap() * scale;
        frames += 1;
    }
    assert!(frames >= 9, "{frames} frames");
    // Self times add up to the root's inclusive time (4 significant digits each).
    let total: f64 = support::async_run(2, 12)
        .values()
        .flat_map(|r| r.iter())
        .filter(|(name, _)| {
            ["main", "upload", "upload [lifetime]", "fetch"].contains(&name.as_str())
        })
        .flat_map(|(_, calls)| calls.iter().map(|c| (c.2 - c.1) as f64))
        .sum();
    // `fetch` calls on the stack lane hold `decode`; roots are main,
    // upload, the lifetimes and every fetch.
    assert!(
        (self_ns_total - total).abs() < total * 2e-3,
        "{self_ns_total} vs {total}"
    );
    assert!(
        svg.contains("frame width = inclusive time (ns"),
        "subtitle with the unit"
    );
    assert!(
        svg.contains("truncate_text_right = true"),
        "names cut from the right"
    );
}

/// The tick labels of a Gantt SVG's top axis, as numbers in their unit.
fn ticks(svg: &str) -> (Vec<f64>, String) {
    let xml = roxmltree::Document::parse(svg).unwrap();
    let labels: Vec<&str> = xml
        .descendants()
        .filter(|n| n.attribute("class") == Some("tick"))
        .filter_map(|n| n.text())
        .collect();
    let half = &labels[..labels.len() / 2];
    let unit = half[0].split_once(' ').unwrap().1.to_owned();
    let values = half
        .iter()
        .map(|l| {
            let (v, u) = l.split_once(' ').unwrap();
            assert_eq!(u, unit, "one unit per axis: {labels:?}");
            v.parse().unwrap()
        })
        .collect();
    (values, unit)
}

#[test]
fn gantt_ticks_are_round_steps_in_a_fitting_unit() {
    let dir = tempfile::tempdir().unwrap();
    for (steps, unit) in [(12, "ms"), (3_000, "s")] {
        let input = dir.path().join(format!("run{steps}.h5"));
        support::write_schema1(&input, &support::async_run(1, steps)).unwrap();
        let out = dir.path().join(format!("gantt{steps}.svg"));
        support::pproc_ok(&[input.to_str().unwrap(), "--gantt", out.to_str().unwrap()]);
        let (values, found_unit) = ticks(&std::fs::read_to_string(&out).unwrap());
        assert_eq!(found_unit, unit);
        assert!(values.len() >= 4 && values[0] == 0.0, "{values:?}");
        let step = values[1] - values[0];
        let mantissa = step / 10f64.powf(step.log10().floor());
        assert!(
            [1.0, 2.0, 5.0].iter().any(|m| (mantissa - m).abs() < 1e-9),
            "step {step} is not 1, 2 or 5 × 10^n"
        );
        assert!(values
            .windows(2)
            .all(|w| ((w[1] - w[0]) - step).abs() < 1e-9));
    }
}

#[test]
fn a_region_has_one_colour_of_its_own_in_every_chart_of_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let input = support::async_file(dir.path(), 12);
    let report = dir.path().join("report.html");
    let gantt = dir.path().join("gantt.svg");
    support::pproc_ok(&[
        input.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--gantt",
        gantt.to_str().unwrap(),
    ]);
    let page = std::fs::read_to_string(&report).unwrap();
    // Self-contained: nothing loaded from elsewhere.
    for outside in [
        "src=\"http",
        "href=\"http",
        "<link",
        "src=\"file",
        "@import",
    ] {
        assert!(!page.contains(outside), "the report loads {outside}…");
    }
    // The Gantt chart's data.
    let data = page
        .split("id=\"gantt-data\">")
        .nth(1)
        .and_then(|rest| rest.split("</script>").next())
        .unwrap();
    let data: serde_json::Value = serde_json::from_str(data).unwrap();
    let gantt_colour: BTreeMap<String, String> = data["names"]
        .as_array()
        .unwrap()
        .iter()
        .zip(data["colours"].as_array().unwrap())
        .map(|(n, c)| {
            (
                n.as_str().unwrap().to_owned(),
                c.as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let distinct: BTreeSet<&String> = gantt_colour.values().collect();
    assert_eq!(distinct.len(), gantt_colour.len(), "no two regions alike");
    // The summary table's swatches.
    let swatch = regex::Regex::new(r#"background:(#[0-9a-f]{6})"></span>([^<]+)</td>"#).unwrap();
    let mut rows = 0;
    for caps in swatch.captures_iter(&page) {
        let name = caps[2].replace("&amp;", "&");
        assert_eq!(gantt_colour[&name], &caps[1], "table: {name}");
        rows += 1;
    }
    assert_eq!(rows, gantt_colour.len());
    // The flame graph, embedded as base64, fills frames with rgb().
    use base64::Engine as _;
    let encoded = page
        .split("data:image/svg+xml;base64,")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap();
    let flame = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap();
    let frame = regex::Regex::new(
        r#"<title>([^<]+?) \(inclusive[^<]*</title><rect [^>]*fill="rgb\((\d+),(\d+),(\d+)\)""#,
    )
    .unwrap();
    let mut frames = 0;
    for caps in frame.captures_iter(&flame) {
        let Some(colour) = gantt_colour.get(&caps[1]) else {
            continue; // `all`
        };
        let rgb = format!(
            "#{:02x}{:02x}{:02x}",
            caps[2].parse::<u8>().unwrap(),
            caps[3].parse::<u8>().unwrap(),
            caps[4].parse::<u8>().unwrap()
        );
        assert_eq!(&rgb, colour, "flame graph: {}", &caps[1]);
        frames += 1;
    }
    assert!(frames >= 8, "{frames}");
    // The standalone Gantt SVG: the same colours, and a legend entry each.
    let svg = std::fs::read_to_string(&gantt).unwrap();
    let xml = roxmltree::Document::parse(&svg).unwrap();
    let legend: Vec<&str> = xml
        .descendants()
        .filter(|n| n.attribute("class") == Some("legend"))
        .filter_map(|n| n.text())
        .collect();
    assert_eq!(legend.len(), gantt_colour.len(), "{legend:?}");
    for bar in xml
        .descendants()
        .filter(|n| n.attribute("class") == Some("bar"))
    {
        let title = bar
            .children()
            .find(|c| c.has_tag_name("title"))
            .unwrap()
            .text()
            .unwrap();
        let name = title.split(" — ").next().unwrap();
        assert_eq!(
            bar.attribute("fill"),
            Some(gantt_colour[name].as_str()),
            "{title}"
        );
    }
}
