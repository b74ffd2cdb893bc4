//! Writes the profile of a made-up async program (`tests/support`'s
//! `async_run`): crossing spans, concurrent task lifetimes, nested calls
//! and rank imbalance, to try the charts and exports on.
//!
//! `cargo run -p scope-profiler-pproc --example async_profile -- OUT.h5 [ranks] [steps]`

#[path = "../tests/support/mod.rs"]
mod support;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args.next().unwrap_or_else(|| "async_profile.h5".into());
    let ranks: u32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(2);
    let steps: i64 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(40);
    let calls = support::async_run(ranks, steps);
    support::write_schema1(std::path::Path::new(&out), &calls)?;
    println!(
        "wrote {out}: {} calls on {ranks} rank(s)",
        support::count(&calls)
    );
    Ok(())
}
