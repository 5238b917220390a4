//! The line a load generator prints at the end of a run: `result key=value key=value ...`, every
//! value a whole number.

use crate::util::Result;

/// The value of `key` in a `result` line.
pub(super) fn field(line: &str, key: &str) -> Result<u64> {
    let prefix = format!("{key}=");
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(prefix.as_str()))
        .ok_or_else(|| format!("no {key} in `{line}`"))?
        .parse::<u64>()
        .map_err(|e| format!("bad {key} in `{line}`: {e}").into())
}

/// The CPU time in seconds of the clock-tick count under `key` (`server_ticks`, `load_ticks`).
pub(super) fn cpu_seconds(line: &str, key: &str, clk_tck: f64) -> Result<f64> {
    Ok(field(line, key)? as f64 / clk_tck)
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
