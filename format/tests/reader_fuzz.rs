//! Mutation fuzzing of the reader: every reference file (the Python
//! package's and the malformed ones) with random bytes overwritten must read
//! or fail with an error; our code must never panic.
//!
//! Inputs are read in child processes (this test binary re-run with
//! `fuzz_child`), a batch per child, because libhdf5 1.10 itself crashes
//! (SIGSEGV) or loops (in its global-heap cache) on some damaged files. The
//! child names each input on stdout before reading it; when it dies or goes
//! quiet past the time limit, the parent records that input as a crash or a
//! hang, keeps it under `target/tmp/fuzz-crashes/` (`crash-*`, `hang-*`) for
//! the HDF5 side, and starts a new child at the next input. The test fails on
//! a panic (our code), and on crashes or hangs becoming the common case.
//!
//! CI runs 200 mutations per file. `SCOPE_PROFILER_FUZZ_ITERATIONS=N` runs N
//! per file, `SCOPE_PROFILER_FUZZ_TIMEOUT_MS` sets the hang limit (5 s; HDF5
//! 1.10 may take seconds on a damaged string datatype, see schema/vlen.rs,
//! and such an input counts as hung), and `SCOPE_PROFILER_FUZZ_SHARD=i/n`
//! runs the i-th of n equal slices of the inputs (one per core).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use scope_profiler_format::read_profile;

/// xorshift64*: deterministic, so a failure reproduces from its seed.
struct Rng(u64);

impl Rng {
    /// The generator of input `index` of reference file `file`.
    fn for_input(file: usize, index: usize) -> Rng {
        // splitmix64 of the pair, so neighbouring inputs are unrelated.
        let mut z = ((file as u64) << 40 ^ index as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Rng((z ^ (z >> 31)) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
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

/// Input `index` of reference file `original`: 1 to 16 bytes overwritten,
/// and one time in eight also truncated.
fn mutate(original: &[u8], file: usize, index: usize) -> Vec<u8> {
    let mut rng = Rng::for_input(file, index);
    let mut bytes = original.to_vec();
    for _ in 0..=rng.below(16) {
        let at = rng.below(bytes.len());
        bytes[at] = rng.next() as u8;
    }
    if rng.below(8) == 0 {
        bytes.truncate(rng.below(bytes.len()));
    }
    bytes
}

/// Inputs are numbered file-major: input `n` is mutation `n % per_file` of
/// file `n / per_file`.
struct Inputs {
    files: Vec<PathBuf>,
    originals: Vec<Vec<u8>>,
    per_file: usize,
}

impl Inputs {
    fn new(per_file: usize) -> Inputs {
        let files = reference_files();
        let originals = files.iter().map(|f| std::fs::read(f).unwrap()).collect();
        Inputs {
            files,
            originals,
            per_file,
        }
    }
    fn len(&self) -> usize {
        self.files.len() * self.per_file
    }
    fn bytes(&self, n: usize) -> Vec<u8> {
        let file = n / self.per_file;
        mutate(&self.originals[file], file, n % self.per_file)
    }
    fn name(&self, n: usize) -> String {
        let file = &self.files[n / self.per_file];
        let stem = file.file_stem().unwrap().to_string_lossy();
        format!("{stem}-{}.h5", n % self.per_file)
    }
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Child side: reads inputs `FROM..TO` of the environment's run, naming
/// each on stdout before reading it. Exit 0 whether each reads or is
/// rejected with an error (a panic exits 101).
#[test]
fn fuzz_child() {
    let Ok(dir) = std::env::var("SCOPE_PROFILER_FUZZ_DIR") else {
        return;
    };
    let inputs = Inputs::new(env_usize("SCOPE_PROFILER_FUZZ_PER_FILE", 0));
    let from = env_usize("SCOPE_PROFILER_FUZZ_FROM", 0);
    let to = env_usize("SCOPE_PROFILER_FUZZ_TO", 0).min(inputs.len());
    let path = Path::new(&dir).join("mutated.h5");
    let mut out = std::io::stdout().lock();
    for n in from..to {
        std::fs::write(&path, inputs.bytes(n)).unwrap();
        writeln!(out, "{n}").unwrap();
        out.flush().unwrap();
        let _ = read_profile(&path);
    }
}

/// How a batch child ended.
enum BatchEnd {
    /// Read every input of its range.
    Done,
    /// Input `n` panicked our reader.
    Panicked(usize),
    /// Input `n` crashed libhdf5 (killed by a signal).
    Crashed(usize),
    /// Input `n` took longer than the limit.
    Hung(usize),
}

fn run_batch(dir: &Path, per_file: usize, from: usize, to: usize, limit: Duration) -> BatchEnd {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "fuzz_child",
            "--nocapture",
            "--test-threads=1",
            "-q",
        ])
        .env("SCOPE_PROFILER_FUZZ_DIR", dir)
        .env("SCOPE_PROFILER_FUZZ_PER_FILE", per_file.to_string())
        .env("SCOPE_PROFILER_FUZZ_FROM", from.to_string())
        .env("SCOPE_PROFILER_FUZZ_TO", to.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(n) = line.trim().parse::<usize>() {
                if tx.send(n).is_err() {
                    break;
                }
            }
        }
    });
    let mut current = None;
    loop {
        match rx.recv_timeout(limit) {
            Ok(n) => current = Some(n),
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                return BatchEnd::Hung(current.unwrap_or(from));
            }
        }
    }
    let status = child.wait().unwrap();
    let last = current.unwrap_or(from);
    match status.code() {
        Some(0) => BatchEnd::Done,
        Some(_) => BatchEnd::Panicked(last),
        None => BatchEnd::Crashed(last),
    }
}

/// Inputs the 10⁶-input run found panicking the reader (hdf5-metno's
/// unchecked UTF-8 in string attributes and datasets), read in-process.
#[test]
fn inputs_that_once_panicked_the_reader_are_read_or_rejected() {
    let inputs = Inputs::new(66_667);
    let dir = tempfile::tempdir().unwrap();
    for n in [68_469, 500_260] {
        let path = dir.path().join(inputs.name(n));
        std::fs::write(&path, inputs.bytes(n)).unwrap();
        let _ = read_profile(&path);
    }
}

#[test]
fn mutated_reference_files_never_panic_or_hang() {
    if std::env::var("SCOPE_PROFILER_FUZZ_DIR").is_ok() {
        return;
    }
    let per_file = env_usize("SCOPE_PROFILER_FUZZ_ITERATIONS", 200);
    let limit = Duration::from_millis(env_usize("SCOPE_PROFILER_FUZZ_TIMEOUT_MS", 5_000) as u64);
    let inputs = Inputs::new(per_file);
    let (shard, shards) = std::env::var("SCOPE_PROFILER_FUZZ_SHARD")
        .ok()
        .and_then(|s| {
            let (i, n) = s.split_once('/')?;
            Some((i.parse::<usize>().ok()?, n.parse::<usize>().ok()?))
        })
        .filter(|&(i, n)| i < n)
        .unwrap_or((0, 1));
    let (first, end) = (
        inputs.len() * shard / shards,
        inputs.len() * (shard + 1) / shards,
    );
    let dir = tempfile::tempdir().unwrap();
    let kept = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("fuzz-crashes");
    let began = Instant::now();
    let (mut crashed, mut hung) = (0usize, 0usize);
    let mut next = first;
    while next < end {
        let (kind, n) = match run_batch(dir.path(), per_file, next, end, limit) {
            BatchEnd::Done => break,
            BatchEnd::Panicked(n) => panic!(
                "the reader panicked on {} (input {n}; kept as the run's mutated.h5)",
                inputs.name(n)
            ),
            BatchEnd::Crashed(n) => {
                crashed += 1;
                ("crash", n)
            }
            BatchEnd::Hung(n) => {
                hung += 1;
                ("hang", n)
            }
        };
        std::fs::create_dir_all(&kept).unwrap();
        std::fs::write(
            kept.join(format!("{kind}-{}", inputs.name(n))),
            inputs.bytes(n),
        )
        .unwrap();
        next = n + 1;
    }
    let lost = crashed + hung;
    let handled = end - first - lost;
    eprintln!(
        "fuzz: {} inputs ({first}..{end} of {}) in {:.0?}: {handled} read or rejected with an \
         error; {crashed} crashed and {hung} hung inside libhdf5 (kept in {kept:?})",
        end - first,
        inputs.len(),
        began.elapsed()
    );
    assert!(
        lost * 20 < handled,
        "{lost} crashes/hangs against {handled} handled inputs"
    );
}
