//! Reading a rank stream (`rank_<N>.sps`) as a profile: what a crashed or
//! running job left in its run directory, usable as it is.

use std::collections::BTreeMap;
use std::path::Path;

use super::{AttrValue, Damage, Events, Problem, ProfileData, RegionData};
use crate::stream::{Frame, StreamReader};
use crate::ClockShift;

/// Reads the stream at `path`: every intact frame, a torn last frame
/// reported as [`Damage::TornFrame`], a stream finalize never closed as
/// [`Damage::Unfinished`]; its ticks converted onto rank 0's clock by the
/// rank's `shift` (folded into the stream's tick scale;
/// [`ClockShift::default`] for the rank's own clock).
pub(super) fn read_stream(path: &Path, shift: &ClockShift) -> Result<ProfileData, Problem> {
    let mut reader = StreamReader::open(path).map_err(|e| e.to_string())?;
    let mut frame = Frame::default();
    let mut events: Vec<Events> = Vec::new();
    let mut finished = false;
    let mut counters = None;
    let slot = |events: &mut Vec<Events>, region: u32| -> usize {
        let i = region as usize;
        if i >= events.len() {
            events.resize_with(i + 1, || Events {
                threads: Some(Vec::new()),
                ..Events::default()
            });
        }
        i
    };
    while reader.next_frame(&mut frame).map_err(|e| e.to_string())? {
        let scale = reader.scale_on_rank_0(shift).map_err(|e| e.to_string())?;
        for e in &frame.events {
            let i = slot(&mut events, e.region);
            let r = &mut events[i];
            r.starts.push(scale.to_ns(e.start));
            r.ends.push(scale.to_ns(e.end));
            if let Some(t) = r.threads.as_mut() {
                t.push(e.thread);
            }
        }
        for &(region, calls) in &frame.counts {
            let i = slot(&mut events, region);
            events[i].untimed_calls += calls;
        }
        counters = frame.counters.or(counters);
        finished |= frame.end;
    }
    let header = reader.header().map_err(|e| e.to_string())?;
    let mut metadata = BTreeMap::new();
    metadata.insert("rank".to_owned(), AttrValue::Int(header.rank.into()));
    metadata.insert(
        "time_trace".to_owned(),
        AttrValue::Int(header.time_trace.into()),
    );

    for (name, value) in counters.unwrap_or_default().as_attributes() {
        metadata.insert(name.to_owned(), AttrValue::Int(value));
    }
    let mut damage = Vec::new();
    if reader.unread_bytes() > 0 {
        damage.push(Damage::TornFrame {
            bytes: reader.unread_bytes(),
        });
    }
    if !finished {
        damage.push(Damage::Unfinished);
    }
    let names = reader.take_names();
    let regions = events
        .into_iter()
        .enumerate()
        .filter(|(_, e)| e.calls() > 0)
        .map(|(id, e)| RegionData {
            name: names
                .regions
                .get(&(id as u32))
                .cloned()
                .unwrap_or_else(|| format!("region#{id}")),
            per_rank: BTreeMap::from([(header.rank, e)]),
            aggregate: BTreeMap::new(),
        })
        .collect();
    Ok(ProfileData {
        path: path.to_owned(),
        schema: 1,
        metadata,
        ranks: vec![header.rank],
        regions,
        damage,
        thread_names: names
            .threads
            .into_iter()
            .map(|(thread, name)| ((header.rank, thread), name))
            .collect(),
    })
}
