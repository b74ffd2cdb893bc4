//! Categorical colours for regions: a region's colour comes from its place
//! among the file's regions, so every chart drawn from one file (a report's
//! Gantt, flame graph, table and imbalance chart) gives it the same colour,
//! and no two regions of a file share one.

/// Tableau 10: ten colours told apart easily, also by most colour-blind
/// readers.
const TABLEAU_10: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// Tableau 20: Tableau 10's hues, each in a dark and a light shade.
const TABLEAU_20: [&str; 20] = [
    "#4e79a7", "#a0cbe8", "#f28e2b", "#ffbe7d", "#59a14f", "#8cd17d", "#b6992d", "#f1ce63",
    "#499894", "#86bcb6", "#e15759", "#ff9d9a", "#79706e", "#bab0ac", "#d37295", "#fabfd2",
    "#b07aa1", "#d4a6c8", "#9d7660", "#d7b5a6",
];

/// The colour (`#rrggbb`) of region `index` of `count` regions: Tableau 10
/// up to ten regions, Tableau 20 up to twenty, beyond that hues spread
/// evenly round the wheel in three lightnesses.
///
/// ```
/// use scope_profiler_pproc::palette::colour;
/// let five: Vec<String> = (0..5).map(|i| colour(i, 5)).collect();
/// assert_eq!(five[0], "#4e79a7");
/// let many: std::collections::BTreeSet<String> = (0..300).map(|i| colour(i, 300)).collect();
/// assert_eq!(many.len(), 300, "no two regions alike");
/// ```
pub fn colour(index: usize, count: usize) -> String {
    if count <= TABLEAU_10.len() {
        return TABLEAU_10[index % TABLEAU_10.len()].to_owned();
    }
    if count <= TABLEAU_20.len() {
        return TABLEAU_20[index % TABLEAU_20.len()].to_owned();
    }
    // Neighbours in index order differ in lightness as well as in hue.
    let hue = index as f64 * 360.0 / count as f64;
    let lightness = [0.45, 0.62, 0.75][index % 3];
    hsl_to_hex(hue, 0.65, lightness)
}

/// `#rrggbb` of an HSL colour (hue in degrees, saturation and lightness 0–1).
fn hsl_to_hex(hue: f64, saturation: f64, lightness: f64) -> String {
    let c = (1.0 - (2.0 * lightness - 1.0).abs()) * saturation;
    let h = hue.rem_euclid(360.0) / 60.0;
    let x = c * (1.0 - (h % 2.0 - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = lightness - c / 2.0;
    let byte = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    format!("#{:02x}{:02x}{:02x}", byte(r), byte(g), byte(b))
}

/// Black or white, whichever reads better on `hex` (`#rrggbb`).
///
/// ```
/// use scope_profiler_pproc::palette::text_colour;
/// assert_eq!(text_colour("#edc948"), "#000");
/// assert_eq!(text_colour("#1b1b6d"), "#fff");
/// ```
pub fn text_colour(hex: &str) -> &'static str {
    let channel = |i: usize| {
        hex.get(i..i + 2)
            .and_then(|s| u8::from_str_radix(s, 16).ok())
            .map_or(0.0, |v| v as f64 / 255.0)
    };
    let luminance = 0.299 * channel(1) + 0.587 * channel(3) + 0.114 * channel(5);
    if luminance > 0.5 {
        "#000"
    } else {
        "#fff"
    }
}
