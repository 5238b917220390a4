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

/// A generator using more than this share of its core may be what limits the run.
pub(super) const GENERATOR_BOUND: f64 = 0.9;

/// The note for a server whose generator used `load_busy` of its core, when that is
/// [`GENERATOR_BOUND`] or more: `what` may be generator-bound.
pub(super) fn generator_bound_note(server: &str, load_busy: f64, what: &str) -> Option<String> {
    (load_busy >= GENERATOR_BOUND).then(|| {
        format!(
            "{server}: the generator used {:.0}% of a core, so {what}",
            load_busy * 100.0
        )
    })
}

/// The rows of one scenario's table, a server each, and the notes under it. A row is the
/// server's name, the cells `cells` makes of its summary (which may add notes), or `width`
/// dashes when no run succeeded, then, with `versus_ours` (when ours ran), the two ratio cells
/// it makes of the server's summary. A server with failed runs gets a note of them.
pub(super) fn rows<R, S: Copy>(
    outcomes: &[Outcomes<R>],
    summary: impl Fn(&Outcomes<R>) -> Option<S>,
    width: usize,
    mut cells: impl FnMut(&Outcomes<R>, S, &mut Vec<String>) -> Vec<String>,
    versus_ours: Option<impl Fn(Option<S>) -> (String, String)>,
) -> (Vec<Vec<String>>, Vec<String>) {
    let mut notes = Vec::new();
    let rows = outcomes
        .iter()
        .map(|o| {
            let mut row = vec![o.server.to_string()];
            let summary = summary(o);
            match summary {
                Some(s) => row.extend(cells(o, s, &mut notes)),
                None => row.extend(std::iter::repeat_n("-".to_string(), width)),
            }
            if let Some(versus) = &versus_ours {
                let (a, b) = versus(summary);
                row.push(a);
                row.push(b);
            }
            notes.extend(o.failure_note());
            row
        })
        .collect();
    (rows, notes)
}

/// A table of ratios to ws-net's server, a row per scenario (labelled `label`): a pair of
/// columns (`head`) for each server of `kind` (named by `names`, in the order of the outcomes),
/// computed by `ratio` from the summaries of ws-net's server and the other.
pub(super) fn ratio_table<'a, R: 'a, S: Copy, N: AsRef<str>>(
    scenarios: impl Iterator<Item = (String, &'a [Outcomes<R>])>,
    names: &[N],
    kind: Kind,
    head: impl Fn(&str) -> [String; 2],
    summary: impl Fn(&Outcomes<R>) -> Option<S>,
    ratio: impl Fn(Option<S>, Option<S>) -> (String, String),
) -> (Vec<String>, Vec<Vec<String>>) {
    let mut columns = vec!["scenario".to_string()];
    for name in names {
        columns.extend(head(name.as_ref()));
    }
    let rows = scenarios
        .map(|(label, outcomes)| {
            let ours = outcomes
                .iter()
                .find(|o| o.kind == Kind::Ours)
                .and_then(&summary);
            let mut row = vec![label];
            for o in outcomes.iter().filter(|o| o.kind == kind) {
                let (rate, cpu) = ratio(ours, summary(o));
                row.push(rate);
                row.push(cpu);
            }
            row
        })
        .collect();
    (columns, rows)
}

/// The names of the servers of `kind`, in the order of `outcomes`.
pub(super) fn names<R>(outcomes: &[Outcomes<R>], kind: Kind) -> Vec<&'static str> {
    outcomes
        .iter()
        .filter(|o| o.kind == kind)
        .map(|o| o.server)
        .collect()
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

    #[test]
    fn rows_and_ratio_tables() {
        let of = |server, kind, runs: Vec<f64>| Outcomes {
            server,
            kind,
            runs,
            failures: Vec::new(),
        };
        let mut failed = of("b", Kind::Peer, vec![]);
        failed.failures.push("refused".into());
        let outcomes = [
            of("a", Kind::Ours, vec![4.0]),
            failed,
            of("c", Kind::Peer, vec![2.0]),
        ];
        let summary = |o: &Outcomes<f64>| o.median(|r| *r);
        let cells = |o: &Outcomes<f64>, s: f64, notes: &mut Vec<String>| {
            notes.extend(generator_bound_note(o.server, s / 4.0, "it may be slow"));
            vec![format!("{s}")]
        };
        let ours = summary(&outcomes[0]);
        let versus = |s: Option<f64>| match (ours, s) {
            (Some(a), Some(b)) => (format!("{}", a / b), "-".to_string()),
            _ => ("-".to_string(), "-".to_string()),
        };
        let (rows, notes) = rows(&outcomes, summary, 1, cells, Some(versus));
        assert_eq!(
            rows,
            [
                ["a", "4", "1", "-"],
                ["b", "-", "-", "-"],
                ["c", "2", "2", "-"]
            ]
        );
        assert_eq!(
            notes,
            [
                "a: the generator used 100% of a core, so it may be slow",
                "b: 1 of 1 run(s) FAILED; first error: refused"
            ]
        );
        let (rows, _) = super::rows(
            &outcomes,
            summary,
            1,
            cells,
            None::<fn(Option<f64>) -> (String, String)>,
        );
        assert_eq!(rows[0], ["a", "4"]);

        assert_eq!(names(&outcomes, Kind::Peer), ["b", "c"]);
        let (head, rows) = ratio_table(
            [("1 x 16 B".to_string(), &outcomes[..])].into_iter(),
            &names(&outcomes, Kind::Peer),
            Kind::Peer,
            |peer| [format!("x/{peer}"), format!("y/{peer}")],
            summary,
            |a, b| match (a, b) {
                (Some(a), Some(b)) => (format!("{}", a / b), format!("{}", b / a)),
                _ => ("-".to_string(), "-".to_string()),
            },
        );
        assert_eq!(head, ["scenario", "x/b", "y/b", "x/c", "y/c"]);
        assert_eq!(rows, [["1 x 16 B", "-", "-", "2", "0.5"]]);
    }
}
