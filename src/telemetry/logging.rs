//! Log output: human-readable text by default, JSON lines on request; level from `RUST_LOG`.

use std::io::{BufWriter, IsTerminal};

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Installs the global subscriber. Logs go to stderr so that command output on stdout
/// (`check-config`, `--dev` hints) stays clean. Calling it twice is harmless: the second call
/// reports an error that callers may ignore.
///
/// Lines are formatted on the thread that logs and written by a background thread through a
/// buffer that is flushed whenever no more lines are waiting, so a busy server writes many
/// lines per system call instead of one. Nothing is dropped: a logging thread waits if the
/// queue is full. Keep the returned guard alive for as long as the process logs; dropping it
/// writes out what is still queued.
pub fn init_logging(format: LogFormat) -> Result<WorkerGuard, String> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("stsd-log")
        .finish(BufWriter::new(std::io::stderr()));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal());
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
    result.map_err(|e| e.to_string())?;
    Ok(guard)
}
