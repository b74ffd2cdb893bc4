//! Writes a [`Plan`] as an OTF2 archive through the C library: the one
//! file of this crate that calls [`super::ffi`].
//!
//! The order is the one OTF2's own writer example and Score-P use: event
//! files (one writer per location, opened, filled and closed in turn, so
//! at most one location's buffer chunk is in memory), then an empty local
//! definition file per location, then the global definitions (clock
//! properties, strings, regions, the system tree node, location groups,
//! locations, each referring only to what was written before it), then
//! closing the archive, which writes the anchor file `traces.otf2`.

use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::Mutex;

use super::ffi::*;
use super::plan::{EventKind, Plan};
use crate::timeline::Timeline;

/// The archive's name inside the output directory: `traces.otf2`,
/// `traces.def` and `traces/`, as Score-P names them.
pub(super) const ARCHIVE_NAME: &str = "traces";

/// A failed OTF2 call: which one, its error code and the library's message.
#[derive(Debug)]
pub(super) struct Failure(String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Failure {}

/// The first message OTF2 reported through its error callback since the
/// last [`take_message`]. A static, because the callback is process-wide.
static LAST_MESSAGE: Mutex<Option<String>> = Mutex::new(None);

fn take_message() -> Option<String> {
    LAST_MESSAGE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .take()
}

/// OTF2's error callback while an export runs: keeps the first message for
/// [`Failure`] instead of letting the library print it on stderr. The
/// message is the printf format string; one with conversions (`%`) is
/// dropped, since its arguments (a `va_list`) are not read here.
unsafe extern "C" fn keep_message(
    _user_data: *mut c_void,
    _file: *const c_char,
    _line: u64,
    _function: *const c_char,
    error_code: OTF2_ErrorCode,
    msg_format_string: *const c_char,
    _va: *mut c_void,
) -> OTF2_ErrorCode {
    if msg_format_string.is_null() {
        return error_code;
    }
    // SAFETY: OTF2 passes a NUL-terminated format string that lives for the
    // duration of the call (a literal in the library); checked non-null above.
    let message = unsafe { CStr::from_ptr(msg_format_string) }.to_string_lossy();
    if !message.contains('%') {
        let mut slot = LAST_MESSAGE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.get_or_insert_with(|| message.into_owned());
    }
    error_code
}

/// Routes OTF2's error messages to [`keep_message`] while alive and
/// restores the previous handler when dropped.
struct QuietErrors {
    previous: OTF2_ErrorCallback,
}

impl QuietErrors {
    fn install() -> QuietErrors {
        take_message();
        // SAFETY: `keep_message` has the signature of `OTF2_ErrorCallback`,
        // ignores its user data (null here) and is a plain function, valid
        // for the whole program.
        let previous = unsafe { OTF2_Error_RegisterCallback(Some(keep_message), ptr::null_mut()) };
        QuietErrors { previous }
    }
}

impl Drop for QuietErrors {
    fn drop(&mut self) {
        // SAFETY: `previous` is what the library returned as its handler
        // (possibly null, the library's default printer), so handing it
        // back restores the state before `install`.
        unsafe {
            OTF2_Error_RegisterCallback(self.previous, ptr::null_mut());
        }
    }
}

/// `Ok` for `OTF2_SUCCESS`, else a [`Failure`] naming `call`, the code and
/// the library's message.
fn check(call: &str, code: OTF2_ErrorCode) -> Result<(), Failure> {
    if code == OTF2_SUCCESS {
        return Ok(());
    }
    Err(failure(call, Some(code)))
}

/// A [`Failure`] of `call`, with the error code's name and description
/// when there is one (calls that return a pointer have none).
fn failure(call: &str, code: Option<OTF2_ErrorCode>) -> Failure {
    let mut text = format!("{call} failed");
    if let Some(code) = code {
        // SAFETY: both functions accept any code and return a pointer to a
        // static NUL-terminated string (or null, checked by `c_text`).
        let (name, description) =
            unsafe { (OTF2_Error_GetName(code), OTF2_Error_GetDescription(code)) };
        text.push_str(&format!(": {} ({})", c_text(name), c_text(description)));
    }
    if let Some(message) = take_message() {
        text.push_str(&format!(": {message}"));
    }
    Failure(text)
}

/// The text of a static C string from OTF2, `?` for null.
fn c_text(s: *const c_char) -> String {
    if s.is_null() {
        return "?".into();
    }
    // SAFETY: non-null pointers come from OTF2_Error_GetName/GetDescription,
    // which return static NUL-terminated strings.
    unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned()
}

/// `s` as a C string; an interior NUL (possible in a region name read from
/// a file) becomes U+2400 ␀.
fn c_string(s: &str) -> CString {
    CString::new(s)
        .unwrap_or_else(|_| CString::new(s.replace('\0', "\u{2400}")).unwrap_or_default())
}

/// Pre-flush callback: always let OTF2 write a full chunk to its file, so
/// memory stays at about one chunk per open writer.
unsafe extern "C" fn always_flush(
    _user_data: *mut c_void,
    _file_type: OTF2_FileType,
    _location: OTF2_LocationRef,
    _caller_data: *mut c_void,
    _is_final: bool,
) -> OTF2_FlushType {
    OTF2_FLUSH
}

/// The flush callbacks; a static because OTF2 keeps the pointer. No
/// post-flush callback, so no `BufferFlush` records among the events.
static FLUSH_CALLBACKS: OTF2_FlushCallbacks = OTF2_FlushCallbacks {
    otf2_pre_flush: Some(always_flush),
    otf2_post_flush: None,
};

/// An archive open for writing; closed (which writes what is still
/// buffered) by [`Archive::close`] or, after a failure, on drop.
struct Archive {
    raw: NonNull<OTF2_Archive>,
}

impl Archive {
    /// Opens `dir/traces.*` for writing: POSIX files, no compression,
    /// default chunk sizes, the flush callbacks above and serial
    /// collectives (one process writes everything).
    fn create(dir: &Path) -> Result<Archive, Failure> {
        let path = CString::new(dir.as_os_str().as_bytes())
            .map_err(|_| Failure("the directory name holds a NUL byte".into()))?;
        let name = c_string(ARCHIVE_NAME);
        // SAFETY: both strings are NUL-terminated and outlive the call
        // (OTF2 copies them); the other arguments are plain values.
        let raw = unsafe {
            OTF2_Archive_Open(
                path.as_ptr(),
                name.as_ptr(),
                OTF2_FILEMODE_WRITE,
                OTF2_CHUNK_SIZE_EVENTS_DEFAULT,
                OTF2_CHUNK_SIZE_DEFINITIONS_DEFAULT,
                OTF2_SUBSTRATE_POSIX,
                OTF2_COMPRESSION_NONE,
            )
        };
        let archive = Archive {
            raw: NonNull::new(raw).ok_or_else(|| failure("OTF2_Archive_Open", None))?,
        };
        let creator = c_string(concat!("scope-profiler-pproc ", env!("CARGO_PKG_VERSION")));
        // SAFETY: `archive.raw` is a live archive in write mode;
        // FLUSH_CALLBACKS is a static, so the pointer OTF2 keeps stays valid;
        // `creator` is NUL-terminated and copied by the library.
        unsafe {
            check(
                "OTF2_Archive_SetFlushCallbacks",
                OTF2_Archive_SetFlushCallbacks(
                    archive.raw.as_ptr(),
                    &FLUSH_CALLBACKS,
                    ptr::null_mut(),
                ),
            )?;
            check(
                "OTF2_Archive_SetSerialCollectiveCallbacks",
                OTF2_Archive_SetSerialCollectiveCallbacks(archive.raw.as_ptr()),
            )?;
            check(
                "OTF2_Archive_SetCreator",
                OTF2_Archive_SetCreator(archive.raw.as_ptr(), creator.as_ptr()),
            )?;
        }
        Ok(archive)
    }

    /// Closes the archive, writing the anchor file and the global
    /// definitions still buffered.
    fn close(self) -> Result<(), Failure> {
        let raw = self.raw;
        std::mem::forget(self);
        // SAFETY: `raw` is a live archive; `forget` above keeps `Drop` from
        // closing it a second time.
        check("OTF2_Archive_Close", unsafe {
            OTF2_Archive_Close(raw.as_ptr())
        })
    }

    fn ptr(&self) -> *mut OTF2_Archive {
        self.raw.as_ptr()
    }
}

impl Drop for Archive {
    fn drop(&mut self) {
        // SAFETY: `raw` is a live archive not closed yet (`close` forgets
        // `self`); closing releases the writers still open.
        unsafe {
            OTF2_Archive_Close(self.raw.as_ptr());
        }
    }
}

/// Global string definitions, each distinct string once, ids in order of
/// first use.
#[derive(Default)]
struct Strings {
    ids: HashMap<String, OTF2_StringRef>,
    texts: Vec<CString>,
}

impl Strings {
    fn id(&mut self, s: &str) -> OTF2_StringRef {
        if let Some(&id) = self.ids.get(s) {
            return id;
        }
        let id = self.texts.len() as OTF2_StringRef;
        self.texts.push(c_string(s));
        self.ids.insert(s.to_owned(), id);
        id
    }
}

/// How timestamps become OTF2 ticks (1 tick = 1 ns).
#[derive(Clone, Copy)]
struct Clock {
    /// Subtracted from every timestamp: 0, or the earliest timestamp when
    /// that is negative (OTF2 ticks are unsigned).
    base: i64,
    /// Earliest start, in ticks.
    offset: u64,
    /// Latest end minus earliest start, ticks.
    length: u64,
}

impl Clock {
    fn of(timeline: &Timeline) -> Clock {
        let (first, last) = timeline
            .calls
            .iter()
            .map(|c| (c.start, c.end.max(c.start)))
            .fold(None, |acc: Option<(i64, i64)>, (s, e)| {
                Some(acc.map_or((s, e), |(a, b)| (a.min(s), b.max(e))))
            })
            .unwrap_or((0, 0));
        let base = first.min(0);
        let clock = Clock {
            base,
            offset: 0,
            length: 0,
        };
        let offset = clock.ticks(first);
        Clock {
            offset,
            length: clock.ticks(last) - offset,
            ..clock
        }
    }

    /// `ns` (never below `base`) as ticks.
    fn ticks(&self, ns: i64) -> u64 {
        (ns as i128 - self.base as i128).clamp(0, u64::MAX as i128) as u64
    }
}

/// What [`write`] wrote.
pub(super) struct Written {
    /// Locations (thread tracks).
    pub locations: usize,
    /// ENTER and LEAVE events.
    pub events: u64,
}

/// Writes `plan` of `timeline` as the archive `dir/traces.otf2`; `dir`
/// exists and holds no archive. `machine` names the system tree's root.
/// Calls `progress` with the number of calls written about every 65 536.
pub(super) fn write(
    timeline: &Timeline,
    plan: &Plan,
    dir: &Path,
    machine: &str,
    mut progress: impl FnMut(u64),
) -> Result<Written, Failure> {
    let _quiet = QuietErrors::install();
    let archive = Archive::create(dir)?;
    let clock = Clock::of(timeline);
    let events = write_events(&archive, timeline, plan, clock, &mut progress)?;
    write_local_definitions(&archive, plan)?;
    write_global_definitions(&archive, timeline, plan, clock, machine)?;
    archive.close()?;
    Ok(Written {
        locations: plan.locations.len(),
        events,
    })
}

/// One event writer per location in turn: its ENTER/LEAVE events, then
/// closed. Returns the number of events.
fn write_events(
    archive: &Archive,
    timeline: &Timeline,
    plan: &Plan,
    clock: Clock,
    progress: &mut impl FnMut(u64),
) -> Result<u64, Failure> {
    // SAFETY: a live archive in write mode with its flush callbacks set.
    check("OTF2_Archive_OpenEvtFiles", unsafe {
        OTF2_Archive_OpenEvtFiles(archive.ptr())
    })?;
    let mut total = 0u64;
    for (id, _) in plan.locations.iter().enumerate() {
        // SAFETY: a live archive with its event files open; location ids are
        // the plan's indices, one writer each.
        let writer = unsafe { OTF2_Archive_GetEvtWriter(archive.ptr(), id as OTF2_LocationRef) };
        if writer.is_null() {
            return Err(failure("OTF2_Archive_GetEvtWriter", None));
        }
        let mut result = Ok(());
        plan.events(timeline, id, |event| {
            if result.is_err() {
                return;
            }
            let region = event.region as OTF2_RegionRef;
            let time = clock.ticks(event.time);
            result = match event.kind {
                // SAFETY: `writer` is the open writer of this location (closed
                // only below); a null attribute list means "no attributes".
                EventKind::Enter => check("OTF2_EvtWriter_Enter", unsafe {
                    OTF2_EvtWriter_Enter(writer, ptr::null_mut(), time, region)
                }),
                // SAFETY: as for the ENTER above.
                EventKind::Leave => check("OTF2_EvtWriter_Leave", unsafe {
                    OTF2_EvtWriter_Leave(writer, ptr::null_mut(), time, region)
                }),
            };
            total += 1;
            if total.is_multiple_of(131_072) {
                progress(total / 2);
            }
        });
        // SAFETY: `writer` came from this archive and is closed once, here.
        let closed = check("OTF2_Archive_CloseEvtWriter", unsafe {
            OTF2_Archive_CloseEvtWriter(archive.ptr(), writer)
        });
        result?;
        closed?;
    }
    // SAFETY: a live archive whose event files are open.
    check("OTF2_Archive_CloseEvtFiles", unsafe {
        OTF2_Archive_CloseEvtFiles(archive.ptr())
    })?;
    Ok(total)
}

/// An empty local definition file per location: the format expects one
/// (readers look up each location's mappings there), and with no
/// mappings the global ids are used as they are.
fn write_local_definitions(archive: &Archive, plan: &Plan) -> Result<(), Failure> {
    // SAFETY: a live archive in write mode; event files are closed.
    check("OTF2_Archive_OpenDefFiles", unsafe {
        OTF2_Archive_OpenDefFiles(archive.ptr())
    })?;
    for id in 0..plan.locations.len() {
        // SAFETY: a live archive with its definition files open.
        let writer = unsafe { OTF2_Archive_GetDefWriter(archive.ptr(), id as OTF2_LocationRef) };
        if writer.is_null() {
            return Err(failure("OTF2_Archive_GetDefWriter", None));
        }
        // SAFETY: `writer` came from this archive and is closed once, here.
        check("OTF2_Archive_CloseDefWriter", unsafe {
            OTF2_Archive_CloseDefWriter(archive.ptr(), writer)
        })?;
    }
    // SAFETY: a live archive whose definition files are open.
    check("OTF2_Archive_CloseDefFiles", unsafe {
        OTF2_Archive_CloseDefFiles(archive.ptr())
    })
}

/// Clock properties, strings, regions, the system tree (one node), the
/// location groups (`MPI Rank N`) and the locations, in that order.
fn write_global_definitions(
    archive: &Archive,
    timeline: &Timeline,
    plan: &Plan,
    clock: Clock,
    machine: &str,
) -> Result<(), Failure> {
    let mut strings = Strings::default();
    let empty = strings.id("");
    let regions: Vec<OTF2_StringRef> = timeline.names.iter().map(|n| strings.id(n)).collect();
    let machine_name = strings.id(machine);
    let machine_class = strings.id("machine");
    let groups: Vec<OTF2_StringRef> = plan
        .groups
        .iter()
        .map(|rank| strings.id(&format!("MPI Rank {rank}")))
        .collect();
    let locations: Vec<OTF2_StringRef> = plan
        .locations
        .iter()
        .map(|l| strings.id(&l.name()))
        .collect();

    // SAFETY: a live archive in write mode; the writer it returns belongs
    // to the archive and is closed with it.
    let writer = unsafe { OTF2_Archive_GetGlobalDefWriter(archive.ptr()) };
    if writer.is_null() {
        return Err(failure("OTF2_Archive_GetGlobalDefWriter", None));
    }
    // SAFETY: for every call in this block, `writer` is the archive's live global
    // definition writer; strings are NUL-terminated and copied by the call;
    // every reference passed was defined before (strings first).
    unsafe {
        check(
            "OTF2_GlobalDefWriter_WriteClockProperties",
            OTF2_GlobalDefWriter_WriteClockProperties(
                writer,
                1_000_000_000,
                clock.offset,
                clock.length,
                OTF2_UNDEFINED_TIMESTAMP,
            ),
        )?;
        for (id, text) in strings.texts.iter().enumerate() {
            check(
                "OTF2_GlobalDefWriter_WriteString",
                OTF2_GlobalDefWriter_WriteString(writer, id as OTF2_StringRef, text.as_ptr()),
            )?;
        }
        for (id, &name) in regions.iter().enumerate() {
            check(
                "OTF2_GlobalDefWriter_WriteRegion",
                OTF2_GlobalDefWriter_WriteRegion(
                    writer,
                    id as OTF2_RegionRef,
                    name,
                    name,
                    empty,
                    OTF2_REGION_ROLE_CODE,
                    OTF2_PARADIGM_USER,
                    OTF2_REGION_FLAG_NONE,
                    empty,
                    0,
                    0,
                ),
            )?;
        }
        check(
            "OTF2_GlobalDefWriter_WriteSystemTreeNode",
            OTF2_GlobalDefWriter_WriteSystemTreeNode(
                writer,
                0,
                machine_name,
                machine_class,
                OTF2_UNDEFINED_UINT32,
            ),
        )?;
        for (id, &name) in groups.iter().enumerate() {
            check(
                "OTF2_GlobalDefWriter_WriteLocationGroup",
                OTF2_GlobalDefWriter_WriteLocationGroup(
                    writer,
                    id as OTF2_LocationGroupRef,
                    name,
                    OTF2_LOCATION_GROUP_TYPE_PROCESS,
                    0,
                    OTF2_UNDEFINED_UINT32,
                ),
            )?;
        }
        for (id, (location, &name)) in plan.locations.iter().zip(&locations).enumerate() {
            check(
                "OTF2_GlobalDefWriter_WriteLocation",
                OTF2_GlobalDefWriter_WriteLocation(
                    writer,
                    id as OTF2_LocationRef,
                    name,
                    OTF2_LOCATION_TYPE_CPU_THREAD,
                    2 * location.calls() as u64,
                    location.group as OTF2_LocationGroupRef,
                ),
            )?;
        }
    }
    Ok(())
}
