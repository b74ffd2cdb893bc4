//! Times as people read them: durations with an automatic unit (ns, µs, ms,
//! s), round axis ticks in 1-2-5 steps, and duration arguments (`100us`).

use crate::error::{PprocError, Result};

/// The units a duration is shown in, smallest first: (ns per unit, symbol).
const UNITS: [(f64, &str); 4] = [(1.0, "ns"), (1e3, "µs"), (1e6, "ms"), (1e9, "s")];

/// The largest unit of [`UNITS`] that `ns` is at least one of (ns below 1 µs).
fn unit_for(ns: f64) -> (f64, &'static str) {
    let magnitude = ns.abs();
    UNITS
        .iter()
        .rev()
        .find(|(size, _)| magnitude >= *size)
        .copied()
        .unwrap_or(UNITS[0])
}

/// A duration in ns with an automatic unit and four significant digits:
/// never `0.000000` for a short region.
///
/// ```
/// use scope_profiler_pproc::units::duration;
/// assert_eq!(duration(0.0), "0 ns");
/// assert_eq!(duration(850.0), "850 ns");
/// assert_eq!(duration(12.5), "12.5 ns");
/// assert_eq!(duration(1_234.0), "1.234 µs");
/// assert_eq!(duration(71_160_000.0), "71.16 ms");
/// assert_eq!(duration(2.5e9), "2.500 s");
/// assert_eq!(duration(-3_000.0), "-3.000 µs");
/// assert_eq!(duration(f64::NAN), "-");
/// ```
pub fn duration(ns: f64) -> String {
    if !ns.is_finite() {
        return "-".into();
    }
    let (size, symbol) = unit_for(ns);
    let value = ns / size;
    if size == 1.0 {
        // Whole nanoseconds print whole; a mean may have one decimal.
        return if value.fract() == 0.0 {
            format!("{value:.0} {symbol}")
        } else {
            format!("{value:.1} {symbol}")
        };
    }
    let digits_before_point = (value.abs().log10().floor() as i32 + 1).clamp(1, 4);
    let decimals = (4 - digits_before_point).max(0) as usize;
    format!("{value:.decimals$} {symbol}")
}

/// A round step (1, 2 or 5 times a power of ten, ns) that cuts `span` ns into
/// at most about `max_ticks` intervals.
///
/// ```
/// use scope_profiler_pproc::units::tick_step;
/// assert_eq!(tick_step(55_833_000.0, 6), 10_000_000.0);
/// assert_eq!(tick_step(1_000.0, 5), 200.0);
/// assert_eq!(tick_step(0.0, 5), 1.0);
/// ```
pub fn tick_step(span: f64, max_ticks: usize) -> f64 {
    if !(span.is_finite() && span > 0.0) || max_ticks == 0 {
        return 1.0;
    }
    let raw = span / max_ticks as f64;
    let power = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power);
    step.max(1.0)
}

/// The label of a tick at `t` ns when ticks are `step` ns apart on an axis
/// reaching `end` ns: the unit of `end` (so every label of an axis has the
/// same unit) and as many decimals as the step needs in it.
///
/// ```
/// use scope_profiler_pproc::units::tick_label;
/// assert_eq!(tick_label(20_000_000.0, 10_000_000.0, 55_000_000.0), "20 ms");
/// assert_eq!(tick_label(1_500_000.0, 500_000.0, 4_000_000.0), "1.5 ms");
/// assert_eq!(tick_label(12_200_000.0, 200_000.0, 12_400_000.0), "12.2 ms");
/// assert_eq!(tick_label(0.0, 200.0, 1_000.0), "0.0 µs");
/// assert_eq!(tick_label(3e9, 1e9, 5e9), "3 s");
/// ```
pub fn tick_label(t: f64, step: f64, end: f64) -> String {
    let (size, symbol) = unit_for(end.abs().max(step));
    let decimals = (-(step / size).log10() - 1e-9).ceil().max(0.0) as usize;
    format!("{:.decimals$} {symbol}", t / size)
}

/// The ticks over `[0, span]` ns: round values `step` apart, from 0.
pub fn ticks(span: f64, max_ticks: usize) -> (f64, Vec<f64>) {
    let step = tick_step(span, max_ticks);
    let count = (span / step).floor().max(0.0) as usize;
    (step, (0..=count).map(|k| k as f64 * step).collect())
}

/// Parses a duration argument: a number and a unit (`ns`, `us`/`µs`, `ms`,
/// `s`), e.g. `100us`, `1.5 ms`; a bare `0` is zero.
///
/// ```
/// use scope_profiler_pproc::units::parse_duration;
/// assert_eq!(parse_duration("100us").unwrap(), 100_000);
/// assert_eq!(parse_duration("1.5 ms").unwrap(), 1_500_000);
/// assert_eq!(parse_duration("2s").unwrap(), 2_000_000_000);
/// assert_eq!(parse_duration("0").unwrap(), 0);
/// assert!(parse_duration("12").is_err());
/// assert!(parse_duration("-1ms").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<i64> {
    let bad = || PprocError::BadDuration(text.to_owned());
    let s = text.trim();
    if s == "0" {
        return Ok(0);
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or_else(bad)?;
    let (number, unit) = s.split_at(split);
    let value: f64 = number.parse().map_err(|_| bad())?;
    let size = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" | "μs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        _ => return Err(bad()),
    };
    let ns = value * size;
    if !ns.is_finite() || ns > i64::MAX as f64 {
        return Err(bad());
    }
    Ok(ns.round() as i64)
}
