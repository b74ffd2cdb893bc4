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
use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::point_to_point::{Destination, Source};
use mpi::topology::{Communicator, SimpleCommunicator};
use mpi::Count;
use scope_profiler_core::clock::monotonic_ns;
use scope_profiler_format::ClockOffset;

use crate::error::{Error, FinalizeError, ParallelError};

/// Ping-pong exchanges per rank; the one with the shortest round trip is kept.
const CLOCK_ROUNDS: usize = 10;

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

/// The world communicator, and MPI itself when we initialized it.
pub struct MpiWorld {
    world: SimpleCommunicator,
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
            return Ok(MpiWorld {
                world: SimpleCommunicator::world(),
                _universe: None,
            });
        }
        let universe = mpi::initialize().ok_or(ParallelError::MpiInit)?;
        Ok(MpiWorld {
            world: universe.world(),
            _universe: Some(universe),
        })
    }

    /// This rank.
    pub fn rank(&self) -> u32 {
        self.world.rank() as u32
    }

    /// Ranks in the world.
    pub fn size(&self) -> u32 {
        self.world.size() as u32
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

    /// Score-P's method: rank 0 ping-pongs with each rank in turn and keeps
    /// the exchange with the smallest round trip; the rank's clock read in
    /// the middle of it, minus the midpoint of rank 0's, is its offset.
    pub fn measure_clocks(&self) -> Vec<ClockOffset> {
        let me = self.rank();
        let mut offsets = Vec::new();
        if me == 0 {
            offsets.push(ClockOffset {
                at_ns: monotonic_ns(),
                ..ClockOffset::default()
            });
        }
        for peer in 1..self.size() {
            if me == 0 {
                let other = self.world.process_at_rank(peer as i32);
                let mut best: Option<ClockOffset> = None;
                for _ in 0..CLOCK_ROUNDS {
                    let t0 = monotonic_ns();
                    other.send(&t0);
                    let (t_peer, _) = other.receive::<i64>();
                    let t1 = monotonic_ns();
                    let rtt = t1 - t0;
                    if best.is_none_or(|b| rtt < b.rtt_ns) {
                        best = Some(ClockOffset {
                            at_ns: t0 + rtt / 2,
                            offset_ns: t_peer - (t0 + rtt / 2),
                            rtt_ns: rtt,
                        });
                    }
                }
                offsets.push(best.unwrap_or_default());
            } else if me == peer {
                let root = self.world.process_at_rank(0);
                for _ in 0..CLOCK_ROUNDS {
                    let (_, _) = root.receive::<i64>();
                    root.send(&monotonic_ns());
                }
            }
        }
        offsets
    }

    /// Every rank's bytes, at rank 0, in rank order.
    pub fn gather(&self, bytes: Vec<u8>) -> Option<Vec<Vec<u8>>> {
        if self.rank() != 0 {
            self.world.process_at_rank(0).send(&bytes[..]);
            return None;
        }
        let mut all = vec![bytes];
        for peer in 1..self.size() {
            let (msg, _) = self.world.process_at_rank(peer as i32).receive_vec::<u8>();
            all.push(msg);
        }
        Some(all)
    }

    /// Every rank's bytes at rank 0, in rank order, by two collectives:
    /// MPI_Gather of the lengths, then MPI_Gatherv of the bytes. Other ranks
    /// get `None`. A rank's bytes past 2 GiB (MPI's count limit) are not
    /// sent: rank 0 gets none of them, and a decoder sees the loss.
    pub fn gather_varcount(&self, bytes: &[u8]) -> Option<Vec<Vec<u8>>> {
        let root = self.world.process_at_rank(0);
        let bytes = if Count::try_from(bytes.len()).is_ok() {
            bytes
        } else {
            &[]
        };
        let len = bytes.len() as Count;
        if self.rank() != 0 {
            root.gather_into(&len);
            root.gather_varcount_into(bytes);
            return None;
        }
        let mut lens = vec![0 as Count; self.size() as usize];
        root.gather_into_root(&len, &mut lens[..]);
        let starts: Vec<Count> = lens
            .iter()
            .scan(0 as Count, |next, len| {
                let start = *next;
                *next = next.saturating_add(*len);
                Some(start)
            })
            .collect();
        let total: usize = lens.iter().map(|l| *l as usize).sum();
        let mut all = vec![0u8; total];
        {
            let mut partition = PartitionMut::new(&mut all[..], &lens[..], &starts[..]);
            root.gather_varcount_into_root(bytes, &mut partition);
        }
        let mut out = Vec::with_capacity(lens.len());
        let mut rest = &all[..];
        for len in &lens {
            let (head, tail) = rest.split_at(*len as usize);
            out.push(head.to_vec());
            rest = tail;
        }
        Some(out)
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
            std::thread::sleep(Duration::from_millis(1));
        }
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
