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
use scope_profiler_format::stream::{Frame, FrameEncoder, StreamReader, StreamWriter};

/// Calls per batch: the default ring's size.
const BATCH: usize = 100_000;

/// `(region, start, end)` ticks of `n` calls of a tight loop.
fn tight_loop_calls(n: usize) -> Vec<(u32, u64, u64)> {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut now = 1u64 << 40;
    (0..n)
        .map(|i| {
            let start = now + rng.u64(8..40);
            let end = start + rng.u64(20..260);
            now = end;
            ((i % 3) as u32, start, end)
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

criterion_group!(benches, data_path);
criterion_main!(benches);
