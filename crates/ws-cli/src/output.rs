//! What the commands print: messages and events on stdout (exactly the messages when piped,
//! marked `< ` in `ws connect`'s terminal) and notices on stderr; above the typed line when the
//! line editor runs.

use std::io::Write;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use ws_api::client::MessageData;

use crate::input::{Printer, Reading, TerminalSettings};
use crate::text::{binary_summary, printable};

/// How long [`Output::finish`] waits for the line editor to print what it was given.
const DRAIN_WAIT: Duration = Duration::from_secs(1);
/// A line for the editor's printer that leaves the screen as it was: up one line, then the
/// newline the printer needs.
const NOTHING: &str = "\x1b[1A\n";

/// Where and how lines are printed.
pub struct Output {
    /// Received binary messages go to stdout as raw bytes (`--binary`).
    raw_binary: bool,
    /// While the line editor runs: its printer and the terminal's settings to put back.
    editor: Mutex<Option<(Printer, TerminalSettings)>>,
    /// Whether the editor ran (messages stay marked after it ended).
    marked: bool,
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Output")
            .field("raw_binary", &self.raw_binary)
            .field("marked", &self.marked)
            .finish_non_exhaustive()
    }
}

impl Output {
    /// Printing for `reading`'s line editor, when it runs.
    pub fn new(raw_binary: bool, reading: &mut Reading) -> Output {
        let editor = match (reading.printer.take(), reading.terminal.take()) {
            (Some(printer), Some(terminal)) => Some((printer, terminal)),
            _ => None,
        };
        Output {
            raw_binary,
            marked: editor.is_some(),
            editor: Mutex::new(editor),
        }
    }

    fn editor(&self) -> MutexGuard<'_, Option<(Printer, TerminalSettings)>> {
        self.editor.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Prints a received message. An error means stdout is gone (`| head` has exited).
    pub fn message(&self, data: &MessageData) -> std::io::Result<()> {
        if self.marked {
            let shown = match data {
                MessageData::Text(text) => printable(text.as_str()),
                MessageData::Binary(bytes) => binary_summary(bytes),
            };
            let line = format!("< {shown}\n");
            return match self.print(line.clone()) {
                Some(printed) => printed,
                None => std::io::stdout().lock().write_all(line.as_bytes()),
            };
        }
        let mut out = std::io::stdout().lock();
        match data {
            MessageData::Text(text) => writeln!(out, "{}", text.as_str())?,
            MessageData::Binary(bytes) if self.raw_binary => out.write_all(bytes)?,
            MessageData::Binary(bytes) => writeln!(out, "{}", binary_summary(bytes))?,
        }
        out.flush()
    }

    /// A line about the connection (connected, closed, round-trip times, mistakes): on stderr,
    /// or above the typed line in a terminal.
    pub fn notice(&self, text: &str) {
        if self.print(format!("{text}\n")).is_none() {
            eprintln!("{text}");
        }
    }

    /// A line of `ws serve`'s output (connect, close, message, refused): on stdout, or above
    /// the typed line in a terminal. An error means stdout is gone.
    pub fn line(&self, text: &str) -> std::io::Result<()> {
        if let Some(printed) = self.print(format!("{text}\n")) {
            return printed;
        }
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}")?;
        out.flush()
    }

    /// Prints through the line editor while it runs; `None` when it does not.
    fn print(&self, text: String) -> Option<std::io::Result<()>> {
        let mut editor = self.editor();
        let (printer, _) = editor.as_mut()?;
        Some(printer.print(text).map_err(std::io::Error::other))
    }

    /// Ends printing through the line editor, as the last thing before `ws` exits: waits (at
    /// most a second) until the editor has printed every line it was given, puts the
    /// terminal's settings back and clears the prompt.
    pub async fn finish(&self) {
        let Some((mut printer, terminal)) = self.editor().take() else {
            return;
        };
        // The printer hands one line at a time to the editor's thread, which prints it before
        // it takes the next: once the third of these is taken, every earlier line is printed.
        let drained = tokio::task::spawn_blocking(move || {
            for _ in 0..3 {
                if printer.print(NOTHING.to_owned()).is_err() {
                    break;
                }
            }
        });
        let _ = tokio::time::timeout(DRAIN_WAIT, drained).await;
        terminal.restore();
    }
}
