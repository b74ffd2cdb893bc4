//! Links the system's OTF2 library when the `otf2` feature is on; does
//! nothing otherwise, so the default build needs no OTF2 install.
//!
//! The flags come from `otf2-config --ldflags --libs` (what OTF2 documents),
//! else from `pkg-config --libs otf2`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    if std::env::var_os("CARGO_FEATURE_OTF2").is_none() {
        return;
    }
    let flags = output_of("otf2-config", &["--ldflags", "--libs"])
        .or_else(|| output_of("pkg-config", &["--libs", "otf2"]));
    let Some(flags) = flags else {
        eprintln!(
            "error: feature `otf2` needs the OTF2 library: neither `otf2-config` nor \
             `pkg-config otf2` was found (Debian: apt-get install libotf2-trace-dev)"
        );
        std::process::exit(1);
    };
    let mut linked = false;
    for flag in flags.split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={dir}");
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib={lib}");
            linked |= lib == "otf2" || lib == "open-trace-format2";
        }
    }
    if !linked {
        println!("cargo:rustc-link-lib=otf2");
    }
}

/// The stdout of `program args`, when it ran and succeeded.
fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
