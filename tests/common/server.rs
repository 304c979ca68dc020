//! Starts stsd on an ephemeral loopback port for tests.
