//! Diagnostics on stderr through `tracing`, so stdout carries only the conversation.

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The targets `-v` shows more of: this command's own and those of the libraries under it
/// (ws-proto logs nothing; its callers report what it says).
const TARGETS: [&str; 3] = ["ws", "ws_api", "ws_net"];

/// Warnings and errors by default; each `-v` shows one level more of [`TARGETS`]' events
/// (other crates stay at warnings). `RUST_LOG`, when set, replaces that: `target=level`
/// directives and a default level, e.g. `RUST_LOG=ws_net=trace,warn`.
pub fn init(verbose: u8) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => directives.parse().unwrap_or_else(|e| {
            eprintln!(
                "ws: ignoring RUST_LOG ({e}); \
                 write target=level directives, e.g. ws_net=debug,warn"
            );
            for_verbosity(verbose)
        }),
        _ => for_verbosity(verbose),
    };
    tracing_subscriber::fmt()
        // Everything reaches the filter below, which alone decides.
        .with_max_level(LevelFilter::TRACE)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(verbose > 0)
        .finish()
        .with(filter)
        .init();
}

/// `-v` info, `-vv` debug, `-vvv` (and more) trace for [`TARGETS`]; warnings for the rest.
fn for_verbosity(verbose: u8) -> Targets {
    let level = match verbose {
        0 => LevelFilter::WARN,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    TARGETS
        .iter()
        .fold(Targets::new(), |targets, target| {
            targets.with_target(*target, level)
        })
        .with_default(LevelFilter::WARN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_v_shows_one_level_more_of_our_targets_only() {
        let filter = for_verbosity(0);
        assert!(filter.would_enable("ws_net::handshake", &tracing::Level::WARN));
        assert!(!filter.would_enable("ws_net::handshake", &tracing::Level::INFO));
        let filter = for_verbosity(2);
        assert!(filter.would_enable("ws_net::handshake", &tracing::Level::DEBUG));
        assert!(filter.would_enable("ws_api::server", &tracing::Level::DEBUG));
        assert!(filter.would_enable("ws::serve", &tracing::Level::DEBUG));
        assert!(!filter.would_enable("ws_net::connection", &tracing::Level::TRACE));
        assert!(!filter.would_enable("rustls::client", &tracing::Level::INFO));
        let filter = for_verbosity(7);
        assert!(filter.would_enable("ws_net::connection", &tracing::Level::TRACE));
        assert!(!filter.would_enable("rustls::client", &tracing::Level::INFO));
    }
}
