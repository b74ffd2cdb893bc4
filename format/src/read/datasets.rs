//! Opening and reading 1-D datasets defensively: sizes checked against the
//! file's before anything is allocated, types checked before reading, and
//! each failure a [`Problem`] naming the dataset.

use hdf5::types::TypeDescriptor;
use hdf5::{Dataset, Group};

use super::Problem;

/// Opens a dataset, refusing one whose claimed size no file of this size
/// could hold (a damaged header would otherwise make us allocate and read
/// gigabytes of fill values): at most 1024× the file's bytes, or 64 MiB.
pub(super) fn dataset(group: &Group, group_name: &str, name: &str) -> Result<Dataset, Problem> {
    let label = if group_name.is_empty() {
        name.to_owned()
    } else {
        format!("{group_name}/{name}")
    };
    let ds = group
        .dataset(name)
        .map_err(|_| format!("{label} is missing or not a dataset"))?;
    let file_bytes = group.file().map(|f| f.size()).unwrap_or(0);
    let element = ds.dtype().map(|t| t.size()).unwrap_or(1).max(1) as u64;
    let claimed = (ds.size() as u64).saturating_mul(element);
    let limit = file_bytes.saturating_mul(1024).max(64 << 20);
    if claimed > limit {
        return Err(format!(
            "{label} claims {} elements ({claimed} bytes), more than a {file_bytes}-byte file can hold; the file is damaged",
            ds.size()
        ));
    }
    Ok(ds)
}

/// Reads a 1-D integer dataset, converting to `T` (HDF5 converts between
/// integer types and fails on non-integers).
pub(super) fn read_ints<T: hdf5::H5Type>(
    group: &Group,
    group_name: &str,
    name: &str,
) -> Result<Vec<T>, Problem> {
    let (ds, label) = int_dataset(group, group_name, name)?;
    ds.read_raw::<T>()
        .map_err(|e| format!("cannot read {label}: {e}"))
}

/// Opens a 1-D integer dataset (see [`dataset`]) and names it.
pub(super) fn int_dataset(
    group: &Group,
    group_name: &str,
    name: &str,
) -> Result<(Dataset, String), Problem> {
    let ds = dataset(group, group_name, name)?;
    let label = if group_name.is_empty() {
        name.to_owned()
    } else {
        format!("{group_name}/{name}")
    };
    if ds.ndim() != 1 {
        return Err(format!(
            "{label} must be one-dimensional, has shape {:?}",
            ds.shape()
        ));
    }
    match ds.dtype().and_then(|t| t.to_descriptor()) {
        Ok(TypeDescriptor::Integer(_) | TypeDescriptor::Unsigned(_)) => Ok((ds, label)),
        Ok(other) => Err(format!("{label} must hold integers, holds {other}")),
        Err(e) => Err(format!("{label} has an unreadable type: {e}")),
    }
}

/// Reads a dataset of strings of any HDF5 string type ([`crate::strings`]),
/// refusing strings longer than 1024× the file's size (or 64 MiB).
pub(super) fn read_strings(ds: &Dataset) -> Result<Vec<String>, Problem> {
    let file_bytes = ds.file().map(|f| f.size()).unwrap_or(0);
    crate::strings::read_dataset(ds, file_bytes.saturating_mul(1024).max(64 << 20))
}
