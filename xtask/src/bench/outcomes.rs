//! Every run of one server in one scenario, round after round: the runs that gave a result and
//! the errors of those that failed, with the medians the reports are made of.

use super::report::median;
use super::servers::{Kind, Server};
use crate::util::Result;

/// Every run of one server in one scenario; `R` is what one run measured.
#[derive(Debug)]
pub(super) struct Outcomes<R> {
    pub(super) server: &'static str,
    pub(super) kind: Kind,
    pub(super) runs: Vec<R>,
    pub(super) failures: Vec<String>,
}

impl<R> Outcomes<R> {
    /// No runs yet of `server`.
    pub(super) fn new(server: &Server) -> Self {
        Outcomes {
            server: server.name,
            kind: server.kind,
            runs: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// Keeps the result of round `round` and prints it on stderr: `progress` of the run, or the
    /// error.
    pub(super) fn record(
        &mut self,
        round: u64,
        result: Result<R>,
        progress: impl FnOnce(&R) -> String,
    ) {
        match result {
            Ok(run) => {
                eprintln!("    round {round} {:<18} {}", self.server, progress(&run));
                self.runs.push(run);
            }
            Err(e) => {
                eprintln!("    round {round} {:<18} FAILED: {e}", self.server);
                self.failures.push(e.to_string());
            }
        }
    }

    /// The median of `f` over the runs, `None` without runs.
    pub(super) fn median(&self, f: impl Fn(&R) -> f64) -> Option<f64> {
        median(&self.runs.iter().map(f).collect::<Vec<_>>())
    }

    /// The smallest and largest `f` over the runs.
    pub(super) fn range(&self, f: impl Fn(&R) -> f64) -> (f64, f64) {
        let values = || self.runs.iter().map(&f);
        (
            values().fold(f64::INFINITY, f64::min),
            values().fold(f64::NEG_INFINITY, f64::max),
        )
    }

    /// The note under a table when runs failed: how many, and the first error.
    pub(super) fn failure_note(&self) -> Option<String> {
        let first = self.failures.first()?;
        Some(format!(
            "{}: {} of {} run(s) FAILED; first error: {first}",
            self.server,
            self.failures.len(),
            self.failures.len() + self.runs.len(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_ranges_and_failures() {
        let mut outcomes: Outcomes<f64> = Outcomes {
            server: "s",
            kind: Kind::Peer,
            runs: Vec::new(),
            failures: Vec::new(),
        };
        assert_eq!(outcomes.median(|r| *r), None);
        assert_eq!(outcomes.failure_note(), None);
        outcomes.record(1, Ok(3.0), |r| format!("{r}"));
        outcomes.record(2, Err("down".into()), |r| format!("{r}"));
        outcomes.record(3, Ok(1.0), |r| format!("{r}"));
        outcomes.record(4, Ok(2.0), |r| format!("{r}"));
        assert_eq!(outcomes.runs, [3.0, 1.0, 2.0]);
        assert_eq!(outcomes.median(|r| *r), Some(2.0));
        assert_eq!(outcomes.range(|r| r * 10.0), (10.0, 30.0));
        assert_eq!(
            outcomes.failure_note().as_deref(),
            Some("s: 1 of 4 run(s) FAILED; first error: down")
        );
    }
}
