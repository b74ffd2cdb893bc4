#!/usr/bin/env bash
# Measures the CPU time `scope-profiler-pproc watch` takes while it follows
# RANKS growing rank streams (default 64) at its 1 s refresh, drawing in a
# real terminal (tmux, 160x50): examples/watch_load.rs appends a frame of
# RATE calls/s (default 100000) per rank every 10 ms. Prints the watcher's
# CPU time over SECONDS (default 30) as % of one core.
set -euo pipefail
cd "$(dirname "$0")/.."
ranks=${RANKS:-64}
rate=${RATE:-100000}
seconds=${SECONDS_MEASURED:-30}
cargo build --release -p scope-profiler-pproc --bin scope-profiler-pproc --example watch_load
out=$(mktemp -d)
socket="watch-cost-$$"
cleanup() { tmux -L "$socket" kill-server 2>/dev/null || true; kill "$load" 2>/dev/null || true; rm -rf "$out"; }
target/release/examples/watch_load "$out" "$ranks" "$rate" $((seconds + 20)) > "$out/dir" &
load=$!
trap cleanup EXIT
until [ -s "$out/dir" ]; do sleep 0.1; done
dir=$(cat "$out/dir")
tmux -L "$socket" -f /dev/null new-session -d -x 160 -y 50 "exec target/release/scope-profiler-pproc watch $dir"
pid=$(tmux -L "$socket" display -p '#{pane_pid}')
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
sleep 5 # past the first refreshes, which read what was written before
t0=$(cpu); s0=$(date +%s.%N)
sleep "$seconds"
t1=$(cpu); s1=$(date +%s.%N)
hz=$(getconf CLK_TCK)
bytes=$(du -sb "$dir" | cut -f1)
awk -v t="$((t1 - t0))" -v hz="$hz" -v a="$s0" -v b="$s1" -v r="$ranks" -v c="$rate" -v bytes="$bytes" 'BEGIN {
  wall = b - a; cpu = t / hz
  printf "watch following %d ranks x %d calls/s (%.1f M calls/s, streams at %.0f MB): %.2f s CPU in %.1f s = %.2f%% of one core\n",
    r, c, r * c / 1e6, bytes / 1e6, cpu, wall, 100 * cpu / wall
}'
tmux -L "$socket" capture-pane -p | head -12
