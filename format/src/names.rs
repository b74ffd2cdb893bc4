//! Reversible escaping of region names into HDF5 link names.
//!
//! In schema 1 a region name is a link name: `/` would silently create nested
//! groups (and the Python readers then crash), `.` and `..` are not usable
//! names, NUL ends a C string and the empty string is no name at all. We
//! percent-encode `%`, `/` and NUL, encode a name made only of dots by
//! escaping its first dot, and write the empty name as a lone `%` (which
//! encoding never produces otherwise). The exact original is also stored as
//! the UTF-8 attribute `name` on the region group; readers prefer it.

/// The name of the region stored as group `group` under link name `link`:
/// the exact `name` attribute our writer stores (read whatever its string
/// type); without a string attribute (Python-written files) the link name itself, unless it is one of our escapes of a
/// NUL-bearing name (which cannot be stored as an attribute).
pub fn stored_name(group: &hdf5::Group, link: &str) -> String {
    match group.attr("name").map(|a| crate::attrs::value(&a)) {
        Ok(crate::AttrValue::Str(name)) => name,
        _ if link.contains("%00") => unescape(link),
        _ => link.to_owned(),
    }
}

/// The HDF5 link name for region `name`.
///
/// ```
/// use scope_profiler_format::names::{escape, unescape};
/// assert_eq!(escape("a/b"), "a%2Fb");
/// assert_eq!(escape("100%"), "100%25");
/// assert_eq!(escape("."), "%2E");
/// assert_eq!(escape(""), "%");
/// assert_eq!(escape("solve"), "solve");
/// for name in ["a/b", "100%", ".", "..", "", "ünï/✓", "x\0y"] {
///     assert_eq!(unescape(&escape(name)), name);
/// }
/// ```
pub fn escape(name: &str) -> String {
    if name.is_empty() {
        return "%".to_owned();
    }
    let all_dots = name.bytes().all(|b| b == b'.');
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        match c {
            '%' => out.push_str("%25"),
            '/' => out.push_str("%2F"),
            '\0' => out.push_str("%00"),
            '.' if all_dots && i == 0 => out.push_str("%2E"),
            c => out.push(c),
        }
    }
    out
}

/// The region name a link name stands for: the inverse of [`escape`]. A link
/// name that no escape produced (a Python-written `a%zz`) comes back as is.
pub fn unescape(link: &str) -> String {
    if link == "%" {
        return String::new();
    }
    if !link.contains('%') {
        return link.to_owned();
    }
    let mut out = String::with_capacity(link.len());
    let mut rest = link;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let code = rest.get(pos + 1..pos + 3);
        let decoded = match code {
            Some("25") => Some('%'),
            Some("2F") => Some('/'),
            Some("2E") => Some('.'),
            Some("00") => Some('\0'),
            _ => None,
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[pos + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[pos + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}
