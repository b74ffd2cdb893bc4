#!/usr/bin/env bash
# Measures finalize (merge) time for 1, 4, 16 and 64 ranks (oversubscribed)
# with EVENTS region calls per rank, both output schemas (RANKS, EVENTS,
# SCHEMAS and REGIONS, the regions the calls go to in turn, 1 to 3, override
# the defaults). Prints one line per run: finalize's wall
# time, rank 0's CPU time and page faults in it, and the file's size.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${EVENTS:-1000000}
cargo build --release --features mpi --example merge_bench
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out=$(mktemp -d)
for n in ${RANKS:-1 4 16 64}; do
  for schema in ${SCHEMAS:-tree columnar}; do
    mpirun --oversubscribe -n "$n" target/release/examples/merge_bench "$events" "$schema" "$out/merged.h5" "${REGIONS:-1}"
    rm -f "$out/merged.h5"
  done
done
rm -rf "$out"
