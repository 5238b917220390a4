//! Ctrl-C and SIGTERM, watched from the start of a command. The line editor swaps in a SIGINT
//! handler of its own for each line it reads and puts back the one it found, so the runtime's
//! must be installed before the editor starts; and a signal that arrives while the command is
//! busy elsewhere is kept for the next wait instead of being lost.

use tracing::warn;

/// The stop signals: Ctrl-C (SIGINT) and, on Unix, SIGTERM (what `kill` and service managers
/// send).
pub struct Interrupts {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl std::fmt::Debug for Interrupts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interrupts").finish_non_exhaustive()
    }
}

impl Interrupts {
    /// Starts watching; call it inside the runtime, before the line editor starts.
    pub fn watch() -> Interrupts {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let signals = match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(int), Ok(term)) => Some((int, term)),
                (Err(e), _) | (_, Err(e)) => {
                    warn!("cannot watch SIGINT and SIGTERM ({e}); Ctrl-C is watched per wait");
                    None
                }
            };
            Interrupts { signals }
        }
        #[cfg(not(unix))]
        Interrupts {}
    }

    /// The next Ctrl-C or SIGTERM: one that arrived since the last call returns at once.
    pub async fn next(&mut self) {
        #[cfg(unix)]
        if let Some((int, term)) = &mut self.signals {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        if let Err(e) = tokio::signal::ctrl_c().await {
            warn!("cannot watch Ctrl-C ({e}); stop with a signal");
            std::future::pending::<()>().await;
        }
    }
}
