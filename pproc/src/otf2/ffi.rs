//! Hand-written bindings to the part of the OTF2 C library (version 3.0,
//! `libotf2`, headers in `/usr/include/otf2/`) that writing a trace
//! archive needs: the archive, its flush and collective callbacks, the
//! global definition writer, the per-location definition and event writers,
//! and the error-code helpers.
//!
//! Types follow the headers: OTF2's enums are `uint8_t` typedefs with the
//! values as constants (`OTF2_GeneralDefinitions.h`, `OTF2_Definitions.h`),
//! except `OTF2_ErrorCode`, a C `enum` (an `int`). Writers are opaque
//! structs only ever handled through pointers the library gave out.
//!
//! Everything here is `unsafe` to call; [`super::writer`] is the safe
//! wrapper and the only user.

#![allow(non_camel_case_types, non_snake_case)]

use std::ffi::{c_char, c_int, c_void};

/// `OTF2_ErrorCode`: [`OTF2_SUCCESS`] or an error (see [`OTF2_Error_GetName`]).
pub type OTF2_ErrorCode = c_int;
/// `OTF2_TimeStamp`: ticks of the clock in the clock properties.
pub type OTF2_TimeStamp = u64;
/// Reference to a global string definition.
pub type OTF2_StringRef = u32;
/// Reference to a global region definition.
pub type OTF2_RegionRef = u32;
/// Reference to a global system tree node definition.
pub type OTF2_SystemTreeNodeRef = u32;
/// Reference to a global location group definition.
pub type OTF2_LocationGroupRef = u32;
/// Reference to a global location definition (64 bits, unlike the others).
pub type OTF2_LocationRef = u64;
/// `OTF2_FileMode` (`uint8_t`).
pub type OTF2_FileMode = u8;
/// `OTF2_FileSubstrate` (`uint8_t`).
pub type OTF2_FileSubstrate = u8;
/// `OTF2_Compression` (`uint8_t`).
pub type OTF2_Compression = u8;
/// `OTF2_FlushType` (`uint8_t`).
pub type OTF2_FlushType = u8;
/// `OTF2_FileType` (`uint8_t`).
pub type OTF2_FileType = u8;
/// `OTF2_RegionRole` (`uint8_t`).
pub type OTF2_RegionRole = u8;
/// `OTF2_Paradigm` (`uint8_t`).
pub type OTF2_Paradigm = u8;
/// `OTF2_RegionFlag` (`uint32_t`).
pub type OTF2_RegionFlag = u32;
/// `OTF2_LocationGroupType` (`uint8_t`).
pub type OTF2_LocationGroupType = u8;
/// `OTF2_LocationType` (`uint8_t`).
pub type OTF2_LocationType = u8;

/// `OTF2_SUCCESS` (`OTF2_ErrorCodes.h`).
pub const OTF2_SUCCESS: OTF2_ErrorCode = 0;
/// `OTF2_FILEMODE_WRITE`.
pub const OTF2_FILEMODE_WRITE: OTF2_FileMode = 0;
/// `OTF2_SUBSTRATE_POSIX`: one file per location, plain POSIX I/O.
pub const OTF2_SUBSTRATE_POSIX: OTF2_FileSubstrate = 1;
/// `OTF2_COMPRESSION_NONE`.
pub const OTF2_COMPRESSION_NONE: OTF2_Compression = 1;
/// `OTF2_FLUSH`: let the library write a full buffer chunk to its file.
pub const OTF2_FLUSH: OTF2_FlushType = 1;
/// `OTF2_REGION_ROLE_CODE`: "an arbitrary section of code".
pub const OTF2_REGION_ROLE_CODE: OTF2_RegionRole = 4;
/// `OTF2_PARADIGM_USER`: regions the user instrumented by hand.
pub const OTF2_PARADIGM_USER: OTF2_Paradigm = 1;
/// `OTF2_REGION_FLAG_NONE`.
pub const OTF2_REGION_FLAG_NONE: OTF2_RegionFlag = 0;
/// `OTF2_LOCATION_GROUP_TYPE_PROCESS`.
pub const OTF2_LOCATION_GROUP_TYPE_PROCESS: OTF2_LocationGroupType = 1;
/// `OTF2_LOCATION_TYPE_CPU_THREAD`.
pub const OTF2_LOCATION_TYPE_CPU_THREAD: OTF2_LocationType = 1;
/// `OTF2_UNDEFINED_UINT32`, the undefined value of every 32-bit reference.
pub const OTF2_UNDEFINED_UINT32: u32 = u32::MAX;
/// `OTF2_UNDEFINED_TIMESTAMP`.
pub const OTF2_UNDEFINED_TIMESTAMP: OTF2_TimeStamp = u64::MAX;
/// `OTF2_CHUNK_SIZE_EVENTS_DEFAULT` (1 MiB).
pub const OTF2_CHUNK_SIZE_EVENTS_DEFAULT: u64 = 1024 * 1024;
/// `OTF2_CHUNK_SIZE_DEFINITIONS_DEFAULT` (4 MiB).
pub const OTF2_CHUNK_SIZE_DEFINITIONS_DEFAULT: u64 = 4 * 1024 * 1024;

/// `OTF2_Archive` (opaque).
#[repr(C)]
pub struct OTF2_Archive {
    _opaque: [u8; 0],
}

/// `OTF2_EvtWriter` (opaque).
#[repr(C)]
pub struct OTF2_EvtWriter {
    _opaque: [u8; 0],
}

/// `OTF2_DefWriter` (opaque): a location's local definitions.
#[repr(C)]
pub struct OTF2_DefWriter {
    _opaque: [u8; 0],
}

/// `OTF2_GlobalDefWriter` (opaque).
#[repr(C)]
pub struct OTF2_GlobalDefWriter {
    _opaque: [u8; 0],
}

/// `OTF2_AttributeList` (opaque); the event writers take a null one.
#[repr(C)]
pub struct OTF2_AttributeList {
    _opaque: [u8; 0],
}

/// `OTF2_PreFlushCallback`: whether a full buffer may be written out.
pub type OTF2_PreFlushCallback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        file_type: OTF2_FileType,
        location: OTF2_LocationRef,
        caller_data: *mut c_void,
        is_final: bool,
    ) -> OTF2_FlushType,
>;

/// `OTF2_PostFlushCallback`: the time a flush ended; `None` writes no
/// `BufferFlush` record (`OTF2_Callbacks.h`).
pub type OTF2_PostFlushCallback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        file_type: OTF2_FileType,
        location: OTF2_LocationRef,
    ) -> OTF2_TimeStamp,
>;

/// `OTF2_FlushCallbacks`.
#[repr(C)]
pub struct OTF2_FlushCallbacks {
    /// Called before a buffer is written out.
    pub otf2_pre_flush: OTF2_PreFlushCallback,
    /// Called after an event buffer was written out.
    pub otf2_post_flush: OTF2_PostFlushCallback,
}

/// `OTF2_ErrorCallback`. The last parameter is a C `va_list`; it is
/// declared as a pointer, which is how a `va_list` parameter is passed on
/// x86-64 (an array type, decays to a pointer) and on AArch64 (a 32-byte
/// struct, passed by reference). This module never reads it.
pub type OTF2_ErrorCallback = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        file: *const c_char,
        line: u64,
        function: *const c_char,
        error_code: OTF2_ErrorCode,
        msg_format_string: *const c_char,
        va: *mut c_void,
    ) -> OTF2_ErrorCode,
>;

extern "C" {
    // OTF2_Archive.h
    pub fn OTF2_Archive_Open(
        archive_path: *const c_char,
        archive_name: *const c_char,
        file_mode: OTF2_FileMode,
        chunk_size_events: u64,
        chunk_size_defs: u64,
        file_substrate: OTF2_FileSubstrate,
        compression: OTF2_Compression,
    ) -> *mut OTF2_Archive;
    pub fn OTF2_Archive_Close(archive: *mut OTF2_Archive) -> OTF2_ErrorCode;
    pub fn OTF2_Archive_SetFlushCallbacks(
        archive: *mut OTF2_Archive,
        flush_callbacks: *const OTF2_FlushCallbacks,
        flush_data: *mut c_void,
    ) -> OTF2_ErrorCode;
    pub fn OTF2_Archive_SetSerialCollectiveCallbacks(archive: *mut OTF2_Archive) -> OTF2_ErrorCode;
    pub fn OTF2_Archive_SetCreator(
        archive: *mut OTF2_Archive,
        creator: *const c_char,
    ) -> OTF2_ErrorCode;
    pub fn OTF2_Archive_OpenEvtFiles(archive: *mut OTF2_Archive) -> OTF2_ErrorCode;
    pub fn OTF2_Archive_CloseEvtFiles(archive: *mut OTF2_Archive) -> OTF2_ErrorCode;
    pub fn OTF2_Archive_GetEvtWriter(
        archive: *mut OTF2_Archive,
        location: OTF2_LocationRef,
    ) -> *mut OTF2_EvtWriter;
    pub fn OTF2_Archive_CloseEvtWriter(
        archive: *mut OTF2_Archive,
        writer: *mut OTF2_EvtWriter,
    ) -> OTF2_ErrorCode;
    pub fn OTF2_Archive_OpenDefFiles(archive: *mut OTF2_Archive) -> OTF2_ErrorCode;
    pub fn OTF2_Archive_CloseDefFiles(archive: *mut OTF2_Archive) -> OTF2_ErrorCode;
    pub fn OTF2_Archive_GetDefWriter(
        archive: *mut OTF2_Archive,
        location: OTF2_LocationRef,
    ) -> *mut OTF2_DefWriter;
    pub fn OTF2_Archive_CloseDefWriter(
        archive: *mut OTF2_Archive,
        writer: *mut OTF2_DefWriter,
    ) -> OTF2_ErrorCode;
    pub fn OTF2_Archive_GetGlobalDefWriter(archive: *mut OTF2_Archive)
        -> *mut OTF2_GlobalDefWriter;

    // OTF2_GlobalDefWriter.h
    pub fn OTF2_GlobalDefWriter_WriteClockProperties(
        writer: *mut OTF2_GlobalDefWriter,
        timer_resolution: u64,
        global_offset: u64,
        trace_length: u64,
        realtime_timestamp: u64,
    ) -> OTF2_ErrorCode;
    pub fn OTF2_GlobalDefWriter_WriteString(
        writer: *mut OTF2_GlobalDefWriter,
        self_: OTF2_StringRef,
        string: *const c_char,
    ) -> OTF2_ErrorCode;
    pub fn OTF2_GlobalDefWriter_WriteRegion(
        writer: *mut OTF2_GlobalDefWriter,
        self_: OTF2_RegionRef,
        name: OTF2_StringRef,
        canonical_name: OTF2_StringRef,
        description: OTF2_StringRef,
        region_role: OTF2_RegionRole,
        paradigm: OTF2_Paradigm,
        region_flags: OTF2_RegionFlag,
        source_file: OTF2_StringRef,
        begin_line_number: u32,
        end_line_number: u32,
    ) -> OTF2_ErrorCode;
    pub fn OTF2_GlobalDefWriter_WriteSystemTreeNode(
        writer: *mut OTF2_GlobalDefWriter,
        self_: OTF2_SystemTreeNodeRef,
        name: OTF2_StringRef,
        class_name: OTF2_StringRef,
        parent: OTF2_SystemTreeNodeRef,
    ) -> OTF2_ErrorCode;
    pub fn OTF2_GlobalDefWriter_WriteLocationGroup(
        writer: *mut OTF2_GlobalDefWriter,
        self_: OTF2_LocationGroupRef,
        name: OTF2_StringRef,
        location_group_type: OTF2_LocationGroupType,
        system_tree_parent: OTF2_SystemTreeNodeRef,
        creating_location_group: OTF2_LocationGroupRef,
    ) -> OTF2_ErrorCode;
    pub fn OTF2_GlobalDefWriter_WriteLocation(
        writer: *mut OTF2_GlobalDefWriter,
        self_: OTF2_LocationRef,
        name: OTF2_StringRef,
        location_type: OTF2_LocationType,
        number_of_events: u64,
        location_group: OTF2_LocationGroupRef,
    ) -> OTF2_ErrorCode;

    // OTF2_EvtWriter.h
    pub fn OTF2_EvtWriter_Enter(
        writer: *mut OTF2_EvtWriter,
        attribute_list: *mut OTF2_AttributeList,
        time: OTF2_TimeStamp,
        region: OTF2_RegionRef,
    ) -> OTF2_ErrorCode;
    pub fn OTF2_EvtWriter_Leave(
        writer: *mut OTF2_EvtWriter,
        attribute_list: *mut OTF2_AttributeList,
        time: OTF2_TimeStamp,
        region: OTF2_RegionRef,
    ) -> OTF2_ErrorCode;

    // OTF2_ErrorCodes.h
    pub fn OTF2_Error_GetName(error_code: OTF2_ErrorCode) -> *const c_char;
    pub fn OTF2_Error_GetDescription(error_code: OTF2_ErrorCode) -> *const c_char;
    pub fn OTF2_Error_RegisterCallback(
        error_callback: OTF2_ErrorCallback,
        user_data: *mut c_void,
    ) -> OTF2_ErrorCallback;
}
