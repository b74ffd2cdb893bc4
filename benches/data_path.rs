//! The data path's stages per event, on calls shaped like a tight loop's
//! (a few regions, start gaps and durations of tens to a few hundred
//! ticks, irregular): encoding a drained batch into a stream frame (the
//! flusher's whole per-event work) and decoding it back (finalize's first
//! step). `throughput` measures the stages together in a real run.
//!
//! `cargo bench --bench data_path`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use scope_profiler_core::{Record, RegionId};
use scope_profiler_format::columnar::{self, Threads};
use scope_profiler_format::merged::{self, RankInput};
use scope_profiler_format::stream::{
    Frame, FrameEncoder, StreamHeader, StreamReader, StreamWriter, TickScale,
};
use scope_profiler_format::{read_profile, ClockShift};

/// Calls per batch: the default ring's size.
const BATCH: usize = 100_000;

/// `(region, start, end)` ticks of `n` calls of a tight loop.
fn tight_loop_calls(n: usize) -> Vec<(u32, u64, u64)> {
    tight_loop_calls_of(3, 1 << 40, n)
}

/// The same, calls going to `regions` regions in turn, the first starting
/// after tick `now`.
fn tight_loop_calls_of(regions: u32, mut now: u64, n: usize) -> Vec<(u32, u64, u64)> {
    let mut rng = fastrand::Rng::with_seed(now);
    (0..n)
        .map(|i| {
            let start = now + rng.u64(8..40);
            let end = start + rng.u64(20..260);
            now = end;
            (i as u32 % regions, start, end)
        })
        .collect()
}

fn data_path(c: &mut Criterion) {
    let calls = tight_loop_calls(BATCH);
    let mut g = c.benchmark_group("data path per batch");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.throughput(Throughput::Elements(BATCH as u64));

    let mut encoder = FrameEncoder::default();
    g.bench_function("encode (flusher)", |b| {
        b.iter(|| {
            encoder.events(0, &calls, |c| *c);
            black_box(encoder.take().len())
        })
    });

    // What the flusher hands the encoder: 16-byte ring records.
    let records: Vec<Record> = calls
        .iter()
        .map(|&(region, start, end)| Record {
            start,
            duration: (end - start) as u32,
            region: RegionId(region),
        })
        .collect();
    g.bench_function("encode ring records (flusher)", |b| {
        b.iter(|| {
            let end = |r: &Record| r.start + u64::from(r.duration);
            encoder.events(0, &records, |r| (r.region.0, r.start, end(r)));
            black_box(encoder.take().len())
        })
    });

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rank_0.sps");
    let mut writer = StreamWriter::create(&path).unwrap();
    for _ in 0..10 {
        encoder.events(0, &calls, |c| *c);
        writer.append(encoder.take()).unwrap();
    }
    drop(writer);
    g.throughput(Throughput::Elements(10 * BATCH as u64));
    g.bench_function("decode 10 frames (finalize)", |b| {
        let mut frame = Frame::default();
        b.iter(|| {
            let mut reader = StreamReader::open(&path).unwrap();
            let mut n = 0;
            while reader.next_frame(&mut frame).unwrap() {
                n += frame.events.len();
            }
            black_box(n)
        })
    });
    g.finish();
}

/// What each rank does at a schema-3 finalize, per stage, on a stream of
/// [`PART_CALLS`] tight-loop calls: reading its stream, building its part
/// (rows, lanes, event columns) and compressing the part's chunks on its
/// own thread (as under `mpirun` with a core per rank or fewer).
fn rank_part(c: &mut Criterion) {
    for regions in [1, 3] {
        rank_part_of(c, regions);
    }
}

/// [`rank_part`] with the calls going to `regions` regions in turn.
fn rank_part_of(c: &mut Criterion, regions: u32) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rank_0.sps");
    let mut writer = StreamWriter::create(&path).unwrap();
    let mut encoder = FrameEncoder::default();
    encoder.header(&StreamHeader {
        rank: 0,
        time_trace: true,
        scale: TickScale {
            anchor_ticks: 0,
            anchor_ns: 0,
            ns_per_tick: 0.5,
        },
    });
    encoder.names([(0, "a"), (1, "b"), (2, "c")].into_iter());
    writer.append(encoder.take()).unwrap();
    let mut now = 1u64 << 40;
    for _ in 0..PART_CALLS / BATCH {
        let calls = tight_loop_calls_of(regions, now, BATCH);
        now = calls.last().unwrap().2;
        encoder.events(0, &calls, |c| *c);
        writer.append(encoder.take()).unwrap();
    }
    drop(writer);
    let input = RankInput {
        rank: 0,
        path: path.clone(),
        shift: ClockShift::default(),
        hostname: String::new(),
        aggregate: None,
    };

    let mut g = c.benchmark_group(format!("schema 3 part per rank, {regions} regions"));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(5));
    g.throughput(Throughput::Elements(PART_CALLS as u64));
    g.bench_function("read stream", |b| {
        b.iter(|| black_box(read_profile(&path).unwrap().regions.len()))
    });
    g.bench_function("read stream and build part", |b| {
        b.iter(|| black_box(merged::rank_part(&input).unwrap().description.events()))
    });
    let part = merged::rank_part(&input).unwrap();
    let chunk = columnar::chunk_events(&[PART_CALLS as u64]);
    g.bench_function("compress part (one thread)", |b| {
        b.iter(|| black_box(part.compress(chunk, Threads::One).sizes().len()))
    });
    g.finish();
}

/// Calls in [`rank_part`]'s stream: what `scripts/merge-bench.sh` records
/// per rank.
const PART_CALLS: usize = 1_000_000;

criterion_group!(benches, data_path, rank_part);
criterion_main!(benches);
