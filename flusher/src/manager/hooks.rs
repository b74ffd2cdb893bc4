//! Opt-in finalize on SIGTERM/SIGINT and on panic
//! ([`Config::finalize_on_signal`](crate::Config::finalize_on_signal),
//! [`Config::finalize_on_panic`](crate::Config::finalize_on_panic)).
//!
//! The signal is handled on a thread of ours (`signal-hook`'s iterator: the
//! async-signal-safe part only sets a flag), which calls the ordinary
//! finalize and exits; nothing runs inside the signal handler itself.

use std::sync::Once;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use super::ProfileManager;

/// Starts (once per process) the thread that finalizes on SIGTERM/SIGINT.
pub(super) fn finalize_on_signal() -> std::io::Result<()> {
    static STARTED: Once = Once::new();
    let mut result = Ok(());
    STARTED.call_once(|| {
        result = Signals::new([SIGTERM, SIGINT]).and_then(|mut signals| {
            std::thread::Builder::new()
                .name("scope-profiler-signals".into())
                .spawn(move || {
                    if let Some(signal) = signals.forever().next() {
                        eprintln!("scope-profiler: signal {signal}: finalizing the profile before exiting");
                        if ProfileManager::is_setup() {
                            if let Err(e) = ProfileManager::finalize() {
                                eprintln!("scope-profiler: {e}");
                            }
                        }
                        std::process::exit(128 + signal);
                    }
                })
                .map(|_| ())
        });
    });
    result
}

/// Installs (once per process) a panic hook that runs the previous hook,
/// then finalizes the run if one is set up.
pub(super) fn finalize_on_panic() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            previous(info);
            if ProfileManager::is_setup_now() {
                eprintln!("scope-profiler: panic: finalizing the profile");
                if let Err(e) = ProfileManager::finalize() {
                    eprintln!("scope-profiler: {e}");
                }
            }
        }));
    });
}
