//! `--ranks` parsing, exactly as the Python tool does it.

use crate::error::{PprocError, Result};

/// Parses rank specifications (`["0", "2"]`, `["0 2"]`, `["0-3"]`,
/// `["1-2,3"]`) into a sorted list without duplicates, like the Python
/// package's `parse_ranks`; within one specification, ranks and ranges are
/// separated by commas or spaces.
///
/// ```
/// use scope_profiler_pproc::ranks::parse_ranks;
/// assert_eq!(parse_ranks(&["0", "2"]).unwrap(), vec![0, 2]);
/// assert_eq!(parse_ranks(&["0 2"]).unwrap(), vec![0, 2]);
/// assert_eq!(parse_ranks(&["0, 2-3"]).unwrap(), vec![0, 2, 3]);
/// assert!(parse_ranks(&[" "]).is_err());
/// assert_eq!(parse_ranks(&["0-3"]).unwrap(), vec![0, 1, 2, 3]);
/// assert_eq!(parse_ranks(&["1-2,3", "2"]).unwrap(), vec![1, 2, 3]);
/// assert!(parse_ranks(&["3-1x"]).is_err());
/// ```
pub fn parse_ranks<S: AsRef<str>>(specs: &[S]) -> Result<Vec<u32>> {
    let mut ranks = Vec::new();
    for spec in specs {
        let spec = spec.as_ref();
        let bad = || PprocError::BadRankSpec(spec.to_owned());
        let parts: Vec<&str> = spec
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|p| !p.is_empty())
            .collect();
        if parts.is_empty() {
            return Err(bad());
        }
        for part in parts {
            match part.split_once('-') {
                Some((a, b)) => {
                    let a: u32 = a.trim().parse().map_err(|_| bad())?;
                    let b: u32 = b.trim().parse().map_err(|_| bad())?;
                    if a > b || b - a > 1 << 20 {
                        return Err(bad());
                    }
                    ranks.extend(a..=b);
                }
                None => ranks.push(part.parse().map_err(|_| bad())?),
            }
        }
    }
    ranks.sort_unstable();
    ranks.dedup();
    Ok(ranks)
}
