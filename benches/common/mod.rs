//! Shared by the benches: a recording session drained by a helper thread.
#![allow(dead_code)]

pub mod layers;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use scope_profiler_core::{Record, RecorderConfig, Session};

/// Runs a session whose rings are drained and discarded by a helper thread.
pub struct DrainedSession {
    session: Arc<Session>,
    stop: Arc<AtomicBool>,
    drain: Option<std::thread::JoinHandle<()>>,
}

impl DrainedSession {
    pub fn start(time_trace: bool, activated: bool) -> Self {
        let session = Session::begin(RecorderConfig {
            capacity: 1 << 16,
            time_trace,
            activated,
            ..RecorderConfig::default()
        })
        .expect("no other session in the bench");
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (session.clone(), stop.clone());
        let drain = std::thread::spawn(move || {
            s.set_flusher(std::thread::current());
            let mut rings = Vec::new();
            while !st.load(Ordering::Acquire) {
                rings.extend(s.take_new_rings());
                for r in &mut rings {
                    r.drain(|recs, ends| {
                        // Long calls' ends are taken, so none piles up.
                        for r in recs.iter().filter(|r| r.duration == Record::LONG) {
                            black_box(ends.end(r));
                        }
                        black_box(recs);
                    });
                }
                std::thread::park_timeout(Duration::from_millis(1));
            }
        });
        DrainedSession {
            session,
            stop,
            drain: Some(drain),
        }
    }
}

impl Drop for DrainedSession {
    fn drop(&mut self) {
        self.session.stop();
        self.stop.store(true, Ordering::Release);
        if let Some(d) = self.drain.take() {
            d.thread().unpark();
            let _ = d.join();
        }
    }
}

/// Nanoseconds on a CPU so far of this process's thread called `name`
/// (`/proc/self/task/*/schedstat`; `comm` holds the first 15 bytes of a
/// thread's name), or `None` where the kernel does not say.
pub fn thread_cpu_ns(name: &str) -> Option<u64> {
    let comm = &name[..name.len().min(15)];
    std::fs::read_dir("/proc/self/task")
        .ok()?
        .flatten()
        .find(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|c| c.trim_end() == comm)
        })
        .and_then(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .and_then(|stat| stat.split_whitespace().next()?.parse().ok())
}
