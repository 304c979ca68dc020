//! The `stsd` binary.

fn main() {}
