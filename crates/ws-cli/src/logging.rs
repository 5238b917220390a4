//! Diagnostics on stderr through `tracing`, so stdout carries only the conversation.

use std::io::IsTerminal;

use tracing::Level;

/// Warnings and errors by default; each `-v` shows one level more.
pub fn init(verbose: u8) {
    let level = match verbose {
        0 => Level::WARN,
        1 => Level::INFO,
        2 => Level::DEBUG,
        _ => Level::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
