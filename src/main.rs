//! The `stsd` binary: parse the command line and hand over to `stsd::cli`.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    stsd::cli::run(stsd::cli::Cli::parse())
}
