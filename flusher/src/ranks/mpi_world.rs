//! The MPI side of [`RankContext`](super::RankContext) (feature `mpi`).
//!
//! Every call here is made by every rank from the thread that called
//! `setup`/`finalize`; the flusher threads never touch MPI, so MPI's
//! single-threaded level suffices. If the program initialized MPI, its world
//! is used and MPI is left alone; otherwise we initialize MPI at setup and
//! finalize it when the run ends.
//!
//! MPI handles are not `Send`, and MPI's default thread level wants MPI
//! called from one thread: the world lives in a thread-local of the thread
//! that called `setup`, and `finalize` must run on that thread too.

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use mpi::collective::{CommunicatorCollectives, Root};
use mpi::datatype::{Partition, PartitionMut};
use mpi::environment::Universe;
use mpi::point_to_point::{Destination, Source};
use mpi::topology::{Color, Communicator, SimpleCommunicator};
use mpi::Count;
use scope_profiler_core::clock::monotonic_ns;
use scope_profiler_format::ClockOffset;

use crate::error::{Error, FinalizeError, ParallelError};

/// Ping-pong exchanges per node; the one with the shortest round trip is kept.
const CLOCK_ROUNDS: usize = 10;

/// A round trip short enough to stop at [`CLOCK_ROUNDS`]: the offset is then
/// known to within half of it.
const QUIET_RTT_NS: i64 = 20_000;

/// Exchanges per node at most when no round trip is quiet (a busy node):
/// more samples make a descheduling-free one likelier.
const MAX_CLOCK_ROUNDS: usize = 100;

/// The shortest sleep between two tests of a timed barrier.
const MIN_POLL: Duration = Duration::from_millis(1);

/// The longest sleep between two tests of a timed barrier: each test also
/// progresses the barrier's rounds, so this bounds how late it completes.
const MAX_POLL: Duration = Duration::from_millis(4);

/// Set to `per-rank` to measure every rank's clock by ping-pong, as if no
/// two ranks shared a node's clock (default `per-node`).
pub const CLOCK_SYNC_ENV: &str = "SCOPE_PROFILER_CLOCK_SYNC";

thread_local! {
    /// The world joined by `setup` on this thread.
    static WORLD: RefCell<Option<MpiWorld>> = const { RefCell::new(None) };
}

/// Joins MPI's world on this thread; returns (rank, size).
pub fn join() -> Result<(u32, u32), ParallelError> {
    let world = MpiWorld::join()?;
    let placement = (world.rank(), world.size());
    WORLD.with(|w| *w.borrow_mut() = Some(world));
    Ok(placement)
}

/// Runs `f` with the world joined on this thread.
pub fn with_world<R>(f: impl FnOnce(&MpiWorld) -> R) -> Result<R, ParallelError> {
    WORLD.with(|w| match w.borrow().as_ref() {
        Some(world) => Ok(f(world)),
        None => Err(ParallelError::WrongThread),
    })
}

/// Leaves the world (finalizing MPI if `join` initialized it).
pub fn leave() {
    let _ = WORLD.try_with(|w| w.borrow_mut().take());
}

/// The world communicator, the ranks sharing this rank's clock, and MPI
/// itself when we initialized it.
pub struct MpiWorld {
    world: SimpleCommunicator,
    /// The ranks on this rank's node (MPI's shared-memory split): they read
    /// one CLOCK_MONOTONIC. Its rank 0 is the node's leader.
    node: SimpleCommunicator,
    /// The node leaders, world rank 0 first; `None` on other ranks.
    leaders: Option<SimpleCommunicator>,
    /// `Some` when we initialized MPI: dropping it finalizes MPI.
    _universe: Option<Universe>,
}

impl MpiWorld {
    /// Joins MPI's world, initializing MPI if the program has not.
    pub fn join() -> Result<MpiWorld, ParallelError> {
        if mpi::environment::is_finalized() {
            return Err(ParallelError::MpiFinalized);
        }
        if mpi::environment::is_initialized() {
            return Ok(MpiWorld::on(SimpleCommunicator::world(), None));
        }
        let universe = mpi::initialize().ok_or(ParallelError::MpiInit)?;
        Ok(MpiWorld::on(universe.world(), Some(universe)))
    }

    /// Splits `world` into nodes and node leaders (collective).
    fn on(world: SimpleCommunicator, universe: Option<Universe>) -> MpiWorld {
        let rank = world.rank();
        let node = match std::env::var(CLOCK_SYNC_ENV).as_deref() {
            Ok("per-rank") => world.split_by_color(Color::with_value(rank)),
            _ => Some(world.split_shared(rank)),
        }
        .unwrap_or_else(|| world.duplicate());
        let leader = node.rank() == 0;
        let leaders = world.split_by_color(if leader {
            Color::with_value(0)
        } else {
            Color::undefined()
        });
        MpiWorld {
            world,
            node,
            leaders,
            _universe: universe,
        }
    }

    /// This rank.
    pub fn rank(&self) -> u32 {
        self.world.rank() as u32
    }

    /// Ranks in the world.
    pub fn size(&self) -> u32 {
        self.world.size() as u32
    }

    /// Ranks on this rank's node (its shared-memory communicator).
    pub fn node_size(&self) -> u32 {
        self.node.size() as u32
    }

    /// Rank 0's `message` on every rank (the other ranks' argument is
    /// ignored): its length first, then its bytes.
    fn broadcast_bytes(&self, message: Vec<u8>) -> Vec<u8> {
        let root = self.world.process_at_rank(0);
        let mut message = if self.rank() == 0 {
            message
        } else {
            Vec::new()
        };
        let mut len = message.len() as u64;
        root.broadcast_into(&mut len);
        message.resize(len as usize, 0);
        // Open MPI rejects a zero-length broadcast of an empty Vec's pointer.
        if len > 0 {
            root.broadcast_into(&mut message[..]);
        }
        message
    }

    /// Rank 0 runs `make` and broadcasts the path, or that it failed (other
    /// ranks then get [`ParallelError::RunDir`], rank 0 its own error).
    pub fn share_dir(
        &self,
        make: impl FnOnce() -> Result<PathBuf, Error>,
    ) -> Result<PathBuf, Error> {
        // First byte: 0 = a path follows, 1 = an error message follows.
        let (made, message) = if self.rank() == 0 {
            match make() {
                Ok(path) => (
                    Ok(()),
                    [&[0u8][..], path.to_string_lossy().as_bytes()].concat(),
                ),
                Err(e) => {
                    let message = [&[1u8][..], e.to_string().as_bytes()].concat();
                    (Err(e), message)
                }
            }
        } else {
            (Ok(()), Vec::new())
        };
        let message = self.broadcast_bytes(message);
        made?;
        let text = String::from_utf8_lossy(message.get(1..).unwrap_or_default()).into_owned();
        match message.first() {
            Some(0) => Ok(PathBuf::from(text)),
            _ => Err(ParallelError::RunDir(text).into()),
        }
    }

    /// This rank's clock offset from rank 0's. Ranks on one node read one
    /// clock, so only node leaders are measured: world rank 0 ping-pongs
    /// with each leader in turn (Score-P's method: the exchange with the
    /// smallest round trip; the leader's clock read in its middle, minus
    /// the midpoint of rank 0's) and tells it its offset, and each leader
    /// broadcasts its offset to its node. Rank 0's round trips grow with
    /// the number of nodes, not ranks.
    pub fn measure_clock(&self) -> ClockOffset {
        let mut mine = ClockOffset {
            at_ns: monotonic_ns(),
            ..ClockOffset::default()
        };
        if let Some(leaders) = &self.leaders {
            mine = leader_offset(leaders, mine);
        }
        let mut wire = [mine.at_ns, mine.offset_ns, mine.rtt_ns];
        self.node.process_at_rank(0).broadcast_into(&mut wire[..]);
        ClockOffset {
            at_ns: wire[0],
            offset_ns: wire[1],
            rtt_ns: wire[2],
        }
    }

    /// Every rank's bytes, at rank 0, in rank order (MPI's gather of the
    /// lengths, then of the bytes: logarithmic steps, not one per rank).
    pub fn gather(&self, mut bytes: Vec<u8>) -> Option<Vec<Vec<u8>>> {
        let root = self.world.process_at_rank(0);
        // Open MPI fails a gather with a zero-length contribution: every
        // rank sends one byte more, dropped at rank 0.
        bytes.push(0);
        let len = bytes.len() as Count;
        if self.rank() != 0 {
            root.gather_into(&len);
            root.gather_varcount_into(&bytes[..]);
            return None;
        }
        let mut lens = vec![0 as Count; self.size() as usize];
        root.gather_into_root(&len, &mut lens[..]);
        let offsets: Vec<Count> = lens
            .iter()
            .scan(0, |at, len| {
                let offset = *at;
                *at += len;
                Some(offset)
            })
            .collect();
        let total = lens.iter().map(|l| *l as usize).sum::<usize>();
        let mut all = vec![0u8; total];
        let mut partition = PartitionMut::new(&mut all[..], &lens[..], &offsets[..]);
        root.gather_varcount_into_root(&bytes[..], &mut partition);
        Some(
            offsets
                .iter()
                .zip(&lens)
                .map(|(at, len)| all[*at as usize..(at + len - 1) as usize].to_vec())
                .collect(),
        )
    }

    /// A barrier that gives up after `timeout` (a rank that crashed never
    /// arrives; a plain barrier would wait forever).
    pub fn barrier(&self, timeout: Duration) -> Result<(), ParallelError> {
        let began = Instant::now();
        let mut request = self.world.immediate_barrier();
        loop {
            match request.test() {
                Ok(_) => return Ok(()),
                Err(pending) => request = pending,
            }
            if began.elapsed() > timeout {
                // An incomplete request must not be dropped (rsmpi panics);
                // the job is broken anyway, so leave it to MPI's teardown.
                std::mem::forget(request);
                return Err(ParallelError::Timeout {
                    secs: timeout.as_secs_f64(),
                });
            }
            // Asleep between tests, so waiting ranks leave the cores to the
            // working ones: a tenth of the time waited so far, within
            // [MIN_POLL, MAX_POLL].
            std::thread::sleep((began.elapsed() / 10).clamp(MIN_POLL, MAX_POLL));
        }
    }

    /// Rank 0's bytes (or its error) on every rank: other ranks get rank
    /// 0's error as [`ParallelError::OnRankZero`], rank 0 keeps its own.
    pub fn broadcast_result(
        &self,
        result: Result<Vec<u8>, FinalizeError>,
    ) -> Result<Vec<u8>, FinalizeError> {
        let message = self.broadcast_bytes(result_message(&result));
        if self.rank() == 0 {
            return result;
        }
        result_from(message)
    }

    /// Rank 0's bytes for each rank (`result`'s `i`-th for rank `i`), or its
    /// error, on every rank: other ranks get rank 0's error as
    /// [`ParallelError::OnRankZero`], rank 0 keeps its own. MPI's scatter of
    /// the lengths, then of the bytes: each rank receives only its own.
    pub fn scatter_result(
        &self,
        result: Result<Vec<Vec<u8>>, FinalizeError>,
    ) -> Result<Vec<u8>, FinalizeError> {
        let root = self.world.process_at_rank(0);
        if self.rank() != 0 {
            let mut len: Count = 0;
            root.scatter_into(&mut len);
            let mut message = vec![0u8; len.max(0) as usize];
            root.scatter_varcount_into(&mut message[..]);
            return result_from(message);
        }
        let size = self.size() as usize;
        let result = result.and_then(|parts| match parts.len() == size {
            true => Ok(parts),
            false => Err(ParallelError::OnRankZero(format!(
                "{} messages to scatter to {size} ranks",
                parts.len()
            ))
            .into()),
        });
        let messages: Vec<Vec<u8>> = match &result {
            Ok(parts) => parts.iter().map(|p| [&[0u8][..], p].concat()).collect(),
            Err(e) => vec![error_message(e); size],
        };
        let lens: Vec<Count> = messages.iter().map(|m| m.len() as Count).collect();
        let offsets: Vec<Count> = lens
            .iter()
            .scan(0, |at, len| {
                let offset = *at;
                *at += len;
                Some(offset)
            })
            .collect();
        let all: Vec<u8> = messages.concat();
        let mut len: Count = 0;
        root.scatter_into_root(&lens[..], &mut len);
        let mut own = vec![0u8; len as usize];
        let partition = Partition::new(&all[..], &lens[..], &offsets[..]);
        root.scatter_varcount_into_root(&partition, &mut own[..]);
        result.map(|mut parts| parts.swap_remove(0))
    }

    /// Rank 0's outcome, on every rank: rank 0 keeps its own error, the
    /// others get its message as [`ParallelError::OnRankZero`].
    pub fn broadcast_outcome(
        &self,
        outcome: Result<(), FinalizeError>,
        timeout: Duration,
    ) -> Result<(), FinalizeError> {
        self.barrier(timeout)?;
        let message = match &outcome {
            Ok(()) => Vec::new(),
            Err(e) => e.to_string().into_bytes(),
        };
        let message = self.broadcast_bytes(message);
        if self.rank() == 0 || message.is_empty() {
            outcome
        } else {
            Err(ParallelError::OnRankZero(String::from_utf8_lossy(&message).into_owned()).into())
        }
    }
}

/// `result` as a message: its bytes after a 0, or its error's text after a 2.
fn result_message(result: &Result<Vec<u8>, FinalizeError>) -> Vec<u8> {
    match result {
        Ok(bytes) => [&[0u8][..], bytes].concat(),
        Err(e) => error_message(e),
    }
}

/// `e`'s text after a 2, the mark of an error in a message.
fn error_message(e: &FinalizeError) -> Vec<u8> {
    [&[2u8][..], e.to_string().as_bytes()].concat()
}

/// The bytes or rank 0's error a [`result_message`] carries.
fn result_from(message: Vec<u8>) -> Result<Vec<u8>, FinalizeError> {
    match message.split_first() {
        Some((0, bytes)) => Ok(bytes.to_vec()),
        _ => Err(ParallelError::OnRankZero(
            String::from_utf8_lossy(message.get(1..).unwrap_or_default()).into_owned(),
        )
        .into()),
    }
}

/// On the leaders' communicator: its rank 0 (world rank 0) measures every
/// other leader and sends each its offset; returns this leader's (`own` on
/// rank 0).
fn leader_offset(leaders: &SimpleCommunicator, own: ClockOffset) -> ClockOffset {
    if leaders.rank() != 0 {
        // Answer each one-value ping with this clock until the three-value
        // result arrives.
        let root = leaders.process_at_rank(0);
        loop {
            let (wire, _) = root.receive_vec::<i64>();
            match wire[..] {
                [_] => root.send(&monotonic_ns()),
                [at_ns, offset_ns, rtt_ns] => {
                    return ClockOffset {
                        at_ns,
                        offset_ns,
                        rtt_ns,
                    }
                }
                _ => return own,
            }
        }
    }
    for peer in 1..leaders.size() {
        let other = leaders.process_at_rank(peer);
        let mut best = ClockOffset {
            rtt_ns: i64::MAX,
            ..ClockOffset::default()
        };
        let mut rounds = 0;
        while rounds < CLOCK_ROUNDS || (best.rtt_ns > QUIET_RTT_NS && rounds < MAX_CLOCK_ROUNDS) {
            rounds += 1;
            let t0 = monotonic_ns();
            other.send(&[t0][..]);
            let (t_peer, _) = other.receive::<i64>();
            let t1 = monotonic_ns();
            let rtt = t1 - t0;
            if rtt < best.rtt_ns {
                best = ClockOffset {
                    at_ns: t0 + rtt / 2,
                    offset_ns: t_peer - (t0 + rtt / 2),
                    rtt_ns: rtt,
                };
            }
        }
        other.send(&[best.at_ns, best.offset_ns, best.rtt_ns][..]);
    }
    own
}
