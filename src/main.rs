//! The `stsd` binary: parse the command line and hand over to `stsd::cli`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(hint) = stsd::cli::seaweedfs_flag_hint(args.get(1..).unwrap_or_default()) {
        eprintln!("{hint}");
        return ExitCode::from(2);
    }
    stsd::cli::run(stsd::cli::Cli::parse_from(args))
}

/// A request allocates a few dozen short-lived buffers, several of 1-3 KB (the token, its
/// claims, the session token, the response). With glibc's malloc, allocation and free were about
/// a fifth of a cached request's samples under load and the request cost about twice the CPU it
/// costs with mimalloc (docs/performance.md). mimalloc is built without transparent huge pages,
/// which would otherwise put 16 MiB of idle heap into the resident set.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
