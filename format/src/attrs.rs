//! HDF5 attributes: writing scalars, reading any scalar back as an
//! [`AttrValue`] (every integer and float type, and every string type:
//! fixed or variable length, ASCII or UTF-8, any padding; see
//! [`crate::strings`]).

use std::collections::BTreeMap;
use std::fmt;

use hdf5::types::{TypeDescriptor, VarLenUnicode};
use hdf5::Location;

/// A metadata attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// Signed integer.
    Int(i64),
    /// Unsigned integer.
    UInt(u64),
    /// Floating point.
    Float(f64),
    /// String (any HDF5 string type).
    Str(String),
    /// Anything else (arrays, compounds): its HDF5 type, described.
    Other(String),
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::Int(v) => write!(f, "{v}"),
            AttrValue::UInt(v) => write!(f, "{v}"),
            AttrValue::Float(v) => write!(f, "{v}"),
            AttrValue::Str(v) => f.write_str(v),
            AttrValue::Other(v) => write!(f, "<{v}>"),
        }
    }
}

/// Writes a scalar variable-length UTF-8 string attribute. Strings holding NUL
/// cannot be stored as HDF5 strings and are skipped (returns `Ok(false)`).
pub fn write_str(loc: &Location, name: &str, value: &str) -> hdf5::Result<bool> {
    let Ok(value) = value.parse::<VarLenUnicode>() else {
        return Ok(false);
    };
    loc.new_attr::<VarLenUnicode>()
        .shape(())
        .create(name)?
        .write_scalar(&value)?;
    Ok(true)
}

/// Writes a scalar float64 attribute.
pub fn write_f64(loc: &Location, name: &str, value: f64) -> hdf5::Result<()> {
    loc.new_attr::<f64>()
        .shape(())
        .create(name)?
        .write_scalar(&value)
}

/// Writes a scalar int64 attribute.
pub fn write_i64(loc: &Location, name: &str, value: i64) -> hdf5::Result<()> {
    loc.new_attr::<i64>()
        .shape(())
        .create(name)?
        .write_scalar(&value)
}

/// Copies every scalar integer attribute of `from` to `to` as int64.
pub fn copy_ints(from: &Location, to: &Location) -> hdf5::Result<()> {
    for name in from.attr_names()? {
        let attr = from.attr(&name)?;
        if matches!(attr.dtype()?.to_descriptor()?, TypeDescriptor::Integer(_)) && attr.is_scalar()
        {
            write_i64(to, &name, attr.read_scalar::<i64>()?)?;
        }
    }
    Ok(())
}

/// Every attribute of `loc`, by name; an unreadable one becomes
/// [`AttrValue::Other`].
pub fn read_all(loc: &Location) -> BTreeMap<String, AttrValue> {
    let mut out = BTreeMap::new();
    for name in loc.attr_names().unwrap_or_default() {
        if let Ok(attr) = loc.attr(&name) {
            out.insert(name, value(&attr));
        }
    }
    out
}

/// One attribute's value, whatever its type (never fails: what cannot be
/// read is described in [`AttrValue::Other`]).
pub fn value(attr: &hdf5::Attribute) -> AttrValue {
    let descriptor = match attr.dtype().and_then(|t| t.to_descriptor()) {
        Ok(d) => d,
        Err(e) => return AttrValue::Other(format!("unreadable type: {e}")),
    };
    if !attr.is_scalar() {
        return AttrValue::Other(format!("array of {descriptor}"));
    }
    let value = match &descriptor {
        TypeDescriptor::Integer(_) => attr.read_scalar::<i64>().map(AttrValue::Int),
        TypeDescriptor::Unsigned(_) => attr.read_scalar::<u64>().map(AttrValue::UInt),
        TypeDescriptor::Float(_) => attr.read_scalar::<f64>().map(AttrValue::Float),
        TypeDescriptor::Boolean => attr.read_scalar::<bool>().map(|b| AttrValue::Int(b as i64)),
        TypeDescriptor::VarLenUnicode
        | TypeDescriptor::VarLenAscii
        | TypeDescriptor::FixedAscii(_)
        | TypeDescriptor::FixedUnicode(_) => {
            return match crate::strings::read_attribute(attr, STRING_CAP) {
                Ok(mut v) if v.len() == 1 => AttrValue::Str(v.remove(0)),
                Ok(_) => AttrValue::Other(format!("{descriptor} without a value")),
                Err(e) => AttrValue::Other(format!("{descriptor}: {e}")),
            }
        }
        other => return AttrValue::Other(other.to_string()),
    };
    value.unwrap_or_else(|e| AttrValue::Other(format!("{descriptor}: {e}")))
}

/// The most bytes a string attribute is read with.
const STRING_CAP: u64 = 64 << 20;
