//! Mutation fuzzing of the reader: every reference file (the Python
//! package's and the malformed ones) with random bytes overwritten must read
//! or fail with an error; our code must never panic.
//!
//! Each input is read in a child process (this test binary re-run with
//! `fuzz_child`), because libhdf5 1.10 itself crashes (SIGSEGV) or loops
//! (in its global-heap cache) on some damaged files. Those are outside our
//! code: they are counted and the inputs kept under `target/tmp/fuzz-crashes/`
//! (`crash-*`, `hang-*`) for the HDF5 side; the test fails on a panic, and
//! on crashes or hangs becoming the common case.
//!
//! CI runs 60 mutations per file; `SCOPE_PROFILER_FUZZ_ITERATIONS=N` runs N.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use scope_profiler_flusher::read_profile;

/// xorshift64*: deterministic, so a failure reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn reference_files() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/reference");
    let mut files: Vec<PathBuf> = ["python-written", "malformed"]
        .iter()
        .flat_map(|kind| {
            std::fs::read_dir(root.join(kind))
                .unwrap()
                .map(|e| e.unwrap().path())
        })
        .filter(|p| p.extension().is_some_and(|e| e == "h5"))
        .collect();
    files.sort();
    files
}

/// Child side: reads the file named by the environment; exit 0 whether it
/// reads or is rejected with an error (a panic exits 101).
#[test]
fn fuzz_child() {
    let Ok(path) = std::env::var("SCOPE_PROFILER_FUZZ_INPUT") else {
        return;
    };
    let _ = read_profile(Path::new(&path));
}

enum Outcome {
    Handled,
    Panicked,
    Crashed,
    Hung,
}

fn read_in_child(path: &Path, limit: Duration) -> Outcome {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "fuzz_child", "--test-threads=1", "-q"])
        .env("SCOPE_PROFILER_FUZZ_INPUT", path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let began = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return match status.code() {
                Some(0) => Outcome::Handled,
                Some(_) => Outcome::Panicked,
                None => Outcome::Crashed,
            };
        }
        if began.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Outcome::Hung;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn mutated_reference_files_never_panic_or_hang() {
    if std::env::var("SCOPE_PROFILER_FUZZ_INPUT").is_ok() {
        return;
    }
    let iterations: usize = std::env::var("SCOPE_PROFILER_FUZZ_ITERATIONS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let dir = tempfile::tempdir().unwrap();
    let crashes = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-crashes");
    let (mut handled, mut lost) = (0u64, 0u64);
    for (f, file) in reference_files().iter().enumerate() {
        let original = std::fs::read(file).unwrap();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (f as u64 + 1));
        for i in 0..iterations {
            let mut bytes = original.clone();
            // 1 to 16 bytes overwritten; sometimes also truncated.
            for _ in 0..=rng.below(16) {
                let at = rng.below(bytes.len());
                bytes[at] = rng.next() as u8;
            }
            if rng.below(8) == 0 {
                bytes.truncate(rng.below(bytes.len()));
            }
            let input = dir.path().join("mutated.h5");
            std::fs::write(&input, &bytes).unwrap();
            let name = format!("{}-{i}.h5", file.file_stem().unwrap().to_string_lossy());
            // HDF5 1.10 may take seconds on a damaged string datatype (see
            // schema/vlen.rs); past 30 s the read counts as hung.
            let kind = match read_in_child(&input, Duration::from_secs(30)) {
                Outcome::Handled => {
                    handled += 1;
                    continue;
                }
                Outcome::Panicked => {
                    panic!("the reader panicked on {name} (from {})", file.display())
                }
                Outcome::Crashed => "crash",
                Outcome::Hung => "hang",
            };
            lost += 1;
            std::fs::create_dir_all(&crashes).unwrap();
            std::fs::copy(&input, crashes.join(format!("{kind}-{name}"))).unwrap();
        }
    }
    eprintln!("fuzz: {handled} inputs read or rejected with an error; {lost} crashed or hung inside libhdf5 (kept in {crashes:?})");
    assert!(
        lost * 20 < handled,
        "{lost} crashes/hangs against {handled} handled inputs"
    );
}
