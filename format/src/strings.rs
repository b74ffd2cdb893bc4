//! Reading HDF5 strings of every form as text: variable- or fixed-length,
//! ASCII or UTF-8, null-terminated, null-padded or space-padded, in
//! datasets and attributes (numpy `S` arrays, `h5py.string_dtype`, C
//! writers' fixed-length strings).
//!
//! Variable-length strings go through hdf5-metno's reader (after
//! [`crate::vlen::check_lengths`] for datasets). Fixed-length strings are
//! read as their raw bytes, in the file's own type (no conversion), and cut
//! at their padding: the first NUL of a null-terminated or null-padded
//! string, the trailing spaces of a space-padded one. The bytes are decoded
//! as UTF-8 whatever the declared character set (numpy `S` arrays hold UTF-8
//! under an ASCII type), invalid sequences replaced ([`crate::text`]).

use hdf5::types::{TypeDescriptor, VarLenAscii, VarLenUnicode};
use hdf5::{Attribute, Dataset, Datatype};
use hdf5_sys::h5t::{H5T_str_t, H5Tget_strpad};

/// How a string type pads its values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Padding {
    /// Null-terminated or null-padded: the value ends at its first NUL.
    Null,
    /// Space-padded: trailing spaces are padding.
    Space,
}

impl Padding {
    /// `dtype`'s padding (a string type's; anything unreadable counts as
    /// null padding, what HDF5 assumes by default).
    fn of(dtype: &Datatype) -> Padding {
        // SAFETY: FFI call under HDF5's global lock (`sync`); `dtype.id()`
        // is a valid open datatype id for the call's duration (we hold the
        // `Datatype`). The call only reads the type's padding field.
        let pad = hdf5::sync::sync(|| unsafe { H5Tget_strpad(dtype.id()) });
        match pad {
            H5T_str_t::H5T_STR_SPACEPAD => Padding::Space,
            _ => Padding::Null,
        }
    }

    /// The value stored in `bytes`.
    fn strip(self, bytes: &[u8]) -> &[u8] {
        match self {
            Padding::Null => {
                let end = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
                &bytes[..end]
            }
            Padding::Space => {
                let end = bytes.iter().rposition(|b| *b != b' ').map_or(0, |i| i + 1);
                &bytes[..end]
            }
        }
    }
}

/// A dataset or an attribute: where strings are read from.
enum Source<'a> {
    Dataset(&'a Dataset),
    Attribute(&'a Attribute),
}

impl Source<'_> {
    fn dtype(&self) -> hdf5::Result<Datatype> {
        match self {
            Source::Dataset(d) => d.dtype(),
            Source::Attribute(a) => a.dtype(),
        }
    }

    fn len(&self) -> usize {
        match self {
            Source::Dataset(d) => d.size(),
            Source::Attribute(a) => a.size(),
        }
    }

    fn read_vlen<T: hdf5::H5Type>(&self) -> hdf5::Result<Vec<T>> {
        match self {
            Source::Dataset(d) => d.read_raw::<T>(),
            Source::Attribute(a) => a.read_raw::<T>(),
        }
    }

    /// Every value of the fixed-length string type `dtype` (`size` bytes
    /// each), as raw bytes, refusing more than `cap` bytes in all.
    fn read_fixed(&self, dtype: &Datatype, size: usize, cap: u64) -> Result<Vec<u8>, String> {
        let n = self.len();
        let bytes = (n as u64).saturating_mul(size as u64);
        if bytes > cap {
            return Err(format!(
                "claims {n} strings of {size} bytes, more than the file can hold; the file is damaged"
            ));
        }
        let mut buf = vec![0u8; bytes as usize];
        if buf.is_empty() {
            return Ok(buf);
        }
        let status = hdf5::sync::sync(|| match self {
            // SAFETY: FFI calls under HDF5's global lock (`sync`). The ids
            // are valid open ids for the call's duration (we hold the
            // `Dataset`/`Attribute` and the `Datatype`). The memory type is
            // the file's own fixed-length string type, so HDF5 copies
            // exactly `size` bytes per element, for all `n` elements of the
            // whole selection (`H5S_ALL`), into `buf`, which holds
            // `n * size` bytes.
            Source::Dataset(d) => unsafe {
                hdf5_sys::h5d::H5Dread(
                    d.id(),
                    dtype.id(),
                    hdf5_sys::h5s::H5S_ALL,
                    hdf5_sys::h5s::H5S_ALL,
                    hdf5_sys::h5p::H5P_DEFAULT,
                    buf.as_mut_ptr().cast(),
                )
            },
            // SAFETY: as above, for an attribute (always read whole).
            Source::Attribute(a) => unsafe {
                hdf5_sys::h5a::H5Aread(a.id(), dtype.id(), buf.as_mut_ptr().cast())
            },
        });
        if status < 0 {
            return Err(format!("cannot read its {n} fixed-length strings"));
        }
        Ok(buf)
    }

    /// Every value as text; `cap` bounds the bytes read.
    fn read(&self, cap: u64) -> Result<Vec<String>, String> {
        let dtype = self
            .dtype()
            .map_err(|e| format!("has an unreadable type: {e}"))?;
        let descriptor = dtype
            .to_descriptor()
            .map_err(|e| format!("has an unreadable type: {e}"))?;
        let padding = Padding::of(&dtype);
        let text = |bytes: &[u8]| crate::text(padding.strip(bytes));
        match descriptor {
            TypeDescriptor::VarLenUnicode => {
                if let Source::Dataset(d) = self {
                    crate::vlen::check_lengths(d, cap)?;
                }
                self.read_vlen::<VarLenUnicode>()
                    .map(|v| v.iter().map(|s| text(s.as_bytes())).collect())
                    .map_err(|e| format!("cannot read its strings: {e}"))
            }
            TypeDescriptor::VarLenAscii => {
                if let Source::Dataset(d) = self {
                    crate::vlen::check_lengths(d, cap)?;
                }
                self.read_vlen::<VarLenAscii>()
                    .map(|v| v.iter().map(|s| text(s.as_bytes())).collect())
                    .map_err(|e| format!("cannot read its strings: {e}"))
            }
            TypeDescriptor::FixedAscii(size) | TypeDescriptor::FixedUnicode(size) => {
                let size = size.max(1);
                let bytes = self.read_fixed(&dtype, size, cap)?;
                Ok(bytes.chunks_exact(size).map(text).collect())
            }
            other => Err(format!("holds {other}, not strings")),
        }
    }
}

/// Every string of `ds` (any shape, in storage order), whatever its string
/// type; `cap` bounds the bytes of one variable-length string and of all
/// fixed-length ones. The error says what is wrong, without the dataset's
/// name (the caller adds it).
pub(crate) fn read_dataset(ds: &Dataset, cap: u64) -> Result<Vec<String>, String> {
    Source::Dataset(ds).read(cap)
}

/// Every string of `attr` (one for a scalar), whatever its string type;
/// `cap` as for [`read_dataset`].
pub(crate) fn read_attribute(attr: &Attribute, cap: u64) -> Result<Vec<String>, String> {
    Source::Attribute(attr).read(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_ends_a_value_at_its_first_nul_or_before_its_trailing_spaces() {
        assert_eq!(Padding::Null.strip(b"ab\0\0"), b"ab");
        assert_eq!(Padding::Null.strip(b"a\0b\0"), b"a");
        assert_eq!(Padding::Null.strip(b"abcd"), b"abcd");
        assert_eq!(Padding::Space.strip(b"a b  "), b"a b");
        assert_eq!(Padding::Space.strip(b"    "), b"");
    }
}
