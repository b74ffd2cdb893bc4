"""Profiles written by h5py with every HDF5 string form, for tests/python_compat.rs.

Usage: python string_forms.py OUT_DIR

For each string form (variable or fixed length, ASCII or UTF-8 character
set, null-terminated, null-padded or space-padded) writes a schema-1 file
(``s1_<form>.h5``) and a schema-3 file (``s3_<form>.h5``) in which every
string - region names and their ``name`` attributes, tags, source columns,
thread names, ``/metadata`` attributes - has that form. Also writes files
whose string columns hold numbers (``bad_<column>.h5``). Prints, as JSON,
what each file holds: ``{"files": {file: {"regions": {name: calls},
"threads": {"rank:thread": name}, "hostname": str}}, "bad": {file: column}}``.
"""

import json
import os
import sys

import h5py
import numpy as np

FORMS = [
    "vlen-utf8",
    "vlen-ascii",
    "fixed-ascii-nullpad",
    "fixed-utf8-nullpad",
    "fixed-ascii-nullterm",
    "fixed-utf8-nullterm",
    "fixed-ascii-spacepad",
    "fixed-utf8-spacepad",
]
NAMES = ["solve", "a/b", "ünï ✓", "with space"]
THREADS = {0: "main-ü", 1: "worker 1"}
HOSTNAME = "nöde-1"


def type_id(form, size):
    """The HDF5 string type of ``form``; fixed ones hold ``size`` bytes."""
    parts = form.split("-")
    tid = h5py.h5t.C_S1.copy()
    tid.set_cset(h5py.h5t.CSET_UTF8 if parts[1] == "utf8" else h5py.h5t.CSET_ASCII)
    if parts[0] == "vlen":
        tid.set_size(h5py.h5t.VARIABLE)
        return tid
    tid.set_size(size)
    tid.set_strpad(
        {
            "nullpad": h5py.h5t.STR_NULLPAD,
            "nullterm": h5py.h5t.STR_NULLTERM,
            "spacepad": h5py.h5t.STR_SPACEPAD,
        }[parts[2]],
    )
    return tid


def values(form, strings):
    """``strings`` as the array h5py writes in ``form``, and its size."""
    encoded = [s.encode() for s in strings]
    if form.startswith("vlen"):
        return np.array(encoded, dtype=object), 0
    size = max(len(e) for e in encoded) + 4
    pad = b" " if form.endswith("spacepad") else b"\0"
    return np.array([e.ljust(size, pad) for e in encoded], dtype=f"S{size}"), size


def write_strings(group, name, form, strings):
    """A 1-D dataset ``name`` of ``strings`` in ``form``."""
    if form == "fixed-ascii-nullpad":
        # What h5py makes of a numpy ``S`` array by itself.
        group.create_dataset(name, data=np.array([s.encode() for s in strings]))
        return
    if form.startswith("vlen"):
        encoding = "utf-8" if form == "vlen-utf8" else "ascii"
        data = [s.encode() for s in strings]
        group.create_dataset(name, data=data, dtype=h5py.string_dtype(encoding))
        return
    data, size = values(form, strings)
    tid = type_id(form, size)
    space = h5py.h5s.create_simple((len(strings),))
    dataset = h5py.h5d.create(group.id, name.encode(), tid, space)
    dataset.write(h5py.h5s.ALL, h5py.h5s.ALL, data, mtype=tid)


def write_attr(obj, name, form, text):
    """A scalar string attribute ``name`` = ``text`` in ``form``."""
    if form == "fixed-ascii-nullpad":
        obj.attrs[name] = np.bytes_(text.encode())
        return
    if form.startswith("vlen"):
        encoding = "utf-8" if form == "vlen-utf8" else "ascii"
        obj.attrs.create(name, text.encode(), dtype=h5py.string_dtype(encoding))
        return
    data, size = values(form, [text])
    tid = type_id(form, size)
    attr = h5py.h5a.create(obj.id, name.encode(), tid, h5py.h5s.create(h5py.h5s.SCALAR))
    attr.write(data.reshape(()), mtype=tid)


def calls_of(index):
    """Region ``index``'s calls: (start, end, thread) each."""
    base = 10**9 + 1000 * index
    return [(base + 10 * k, base + 10 * k + 5, k % 2) for k in range(index + 1)]


def metadata(f, form):
    group = f.create_group("metadata")
    group.attrs["mpi_size"] = np.int64(1)
    write_attr(group, "hostname", form, HOSTNAME)
    write_attr(group, "platform", form, "Linux ✓")


def schema1(path, form):
    with h5py.File(path, "w") as f:
        metadata(f, form)
        rank = f.create_group("rank0")
        write_attr(rank, "thread_names", form, json.dumps({str(k): v for k, v in THREADS.items()}, ensure_ascii=False))
        for index, name in enumerate(NAMES):
            region = rank.create_group("regions/" + name.replace("/", "%2F"))
            calls = calls_of(index)
            region["start_times"] = np.array([c[0] for c in calls], dtype=np.int64)
            region["end_times"] = np.array([c[1] for c in calls], dtype=np.int64)
            region["thread_ids"] = np.array([c[2] for c in calls], dtype=np.uint32)
            write_attr(region, "name", form, name)
            write_attr(region, "source_file", form, "sölver.py")


def schema3(path, form):
    with h5py.File(path, "w") as f:
        f.attrs["scope_profiler_schema"] = np.int64(3)
        write_attr(f, "storage_layout", form, "columnar")
        metadata(f, form)
        write_strings(f.create_group("region_table"), "names", form, NAMES)
        index = f.create_group("rank_region_index")
        counts = [len(calls_of(i)) for i in range(len(NAMES))]
        index["region_ids"] = np.arange(len(NAMES), dtype=np.uint32)
        index["ranks"] = np.zeros(len(NAMES), dtype=np.uint32)
        index["event_offsets"] = np.cumsum([0] + counts[:-1]).astype(np.uint64)
        index["event_counts"] = np.array(counts, dtype=np.uint64)
        index["source_lines"] = np.full(len(NAMES), -1, dtype=np.int64)
        write_strings(index, "source_files", form, ["sölver.py"] * len(NAMES))
        write_strings(index, "source_texts", form, ["with region('x'):"] * len(NAMES))
        write_strings(index, "tags", form, ['["io"]', "[]", '["ü", "b"]', "[]"])
        events = f.create_group("events")
        starts, durations, threads = [], [], []
        for i in range(len(NAMES)):
            previous = 0
            for start, end, thread in calls_of(i):
                starts.append(start - previous)
                durations.append(end - start)
                threads.append(thread)
                previous = start
        events["start_deltas"] = np.array(starts, dtype=np.int64)
        events["durations"] = np.array(durations, dtype=np.int64)
        events["thread_ids"] = np.array(threads, dtype=np.int64)
        table = f.create_group("thread_table")
        table["ranks"] = np.zeros(len(THREADS), dtype=np.uint32)
        table["index"] = np.array(list(THREADS), dtype=np.int64)
        write_strings(table, "name", form, list(THREADS.values()))


def bad(path, column):
    """A schema-3 file whose string column ``column`` holds numbers."""
    schema3(path, "vlen-utf8")
    with h5py.File(path, "a") as f:
        rows = len(f[column])
        del f[column]
        f[column] = np.arange(rows, dtype=np.int64)


def main():
    out = sys.argv[1]
    files = {}
    for form in FORMS:
        expected = {
            "regions": {name: len(calls_of(i)) for i, name in enumerate(NAMES)},
            "threads": {f"0:{k}": v for k, v in THREADS.items()},
            "hostname": HOSTNAME,
        }
        for schema, write in (("s1", schema1), ("s3", schema3)):
            path = os.path.join(out, f"{schema}_{form}.h5")
            write(path, form)
            files[path] = expected
    broken = {}
    for column in ("region_table/names", "rank_region_index/tags", "thread_table/name"):
        path = os.path.join(out, "bad_" + column.replace("/", "_") + ".h5")
        bad(path, column)
        broken[path] = column
    print(json.dumps({"files": files, "bad": broken}, ensure_ascii=False))


if __name__ == "__main__":
    main()
