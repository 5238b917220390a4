//! The line a load generator prints at the end of a run: `result key=value key=value ...`, every
//! value a whole number.

use crate::util::{bail, Result};

/// The value of `key` in a `result` line.
pub(crate) fn field(line: &str, key: &str) -> Result<u64> {
    let prefix = format!("{key}=");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(prefix.as_str()))
        .ok_or_else(|| format!("no {key} in `{line}`"))?
        .parse::<u64>()
        .map_err(|e| format!("bad {key} in `{line}`: {e}").into())
}

/// The CPU time in seconds of the clock-tick count under `key` (`server_ticks`, `load_ticks`).
fn cpu_seconds(line: &str, key: &str, clk_tck: f64) -> Result<f64> {
    Ok(field(line, key)? as f64 / clk_tck)
}

/// The measured window of a run: how long it was and the CPU time the server and the
/// generator spent in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Window {
    pub(super) elapsed_s: f64,
    pub(super) server_cpu_s: f64,
    pub(super) load_cpu_s: f64,
}

impl Window {
    /// The window of a result line: `elapsed_us`, and `server_ticks` and `load_ticks` in clock
    /// ticks of `clk_tck` per second. Fails on an empty window.
    pub(crate) fn parse(line: &str, clk_tck: f64) -> Result<Window> {
        let elapsed_us = field(line, "elapsed_us")?;
        if elapsed_us == 0 {
            bail!("empty window in `{line}`");
        }
        Ok(Window {
            elapsed_s: elapsed_us as f64 / 1e6,
            server_cpu_s: cpu_seconds(line, "server_ticks", clk_tck)?,
            load_cpu_s: cpu_seconds(line, "load_ticks", clk_tck)?,
        })
    }

    /// `count` per second of the window.
    pub(crate) fn per_second(&self, count: u64) -> f64 {
        count as f64 / self.elapsed_s
    }

    /// The server's CPU µs per one of `count` items (messages, deliveries).
    pub(crate) fn cpu_us_per(&self, count: u64) -> f64 {
        self.server_cpu_s * 1e6 / (count.max(1) as f64)
    }

    /// The share of a core the server used.
    pub(crate) fn server_busy(&self) -> f64 {
        self.server_cpu_s / self.elapsed_s
    }

    /// The share of a core the generator used.
    pub(crate) fn load_busy(&self) -> f64 {
        self.load_cpu_s / self.elapsed_s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields() {
        let line = "result messages=12 elapsed_us=2000000 server_ticks=50 bad=x";
        assert_eq!(field(line, "messages").unwrap(), 12);
        assert_eq!(field(line, "elapsed_us").unwrap(), 2_000_000);
        assert_eq!(cpu_seconds(line, "server_ticks", 100.0).unwrap(), 0.5);
        assert!(Window::parse(line, 100.0).is_err(), "no load_ticks");
        let w = Window::parse(&format!("{line} load_ticks=100"), 100.0).unwrap();
        assert_eq!(
            w,
            Window {
                elapsed_s: 2.0,
                server_cpu_s: 0.5,
                load_cpu_s: 1.0
            }
        );
        assert_eq!(w.per_second(12), 6.0);
        assert_eq!(w.cpu_us_per(4), 125_000.0);
        assert_eq!(w.cpu_us_per(0), 500_000.0);
        assert_eq!((w.server_busy(), w.load_busy()), (0.25, 0.5));
        assert!(Window::parse(&line.replace("elapsed_us=2000000", "elapsed_us=0"), 100.0).is_err());
        assert_eq!(
            field(line, "sent").unwrap_err().to_string(),
            format!("no sent in `{line}`")
        );
        assert!(field(line, "bad")
            .unwrap_err()
            .to_string()
            .starts_with("bad bad in `"));
        // A key is matched whole, not as the end of a longer one.
        assert!(field("result load_ticks=3", "ticks").is_err());
    }
}
