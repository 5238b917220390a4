//! The input across connections.

use tokio::sync::mpsc;

use crate::command::{self, Line};
use crate::input::Input;
use crate::output::Output;

/// The input, across connections: what is typed while there is no connection is held for the
/// next one (and reading pauses meanwhile), while a request to stop is acted on at once.
pub(super) struct Typed<'a> {
    pub(super) input: &'a mut mpsc::Receiver<Input>,
    /// Read while there was no connection: the next connection takes it first.
    pub(super) held: Option<Input>,
    /// False once the input has ended.
    pub(super) open: bool,
}

impl Typed<'_> {
    /// The next input, the held one first.
    pub(super) async fn next(&mut self) -> Input {
        match self.held.take() {
            Some(held) => held,
            None => self.input.recv().await.unwrap_or(Input::End),
        }
    }

    /// Resolves when the user asks to stop while there is no connection: Ctrl-C, `/quit`,
    /// `/close`, or input that cannot go on. Lines to send are held for the next connection.
    pub(super) async fn stop_requested(&mut self, output: &Output) {
        loop {
            if self.held.is_some() || !self.open {
                // Only Ctrl-C (outside the line editor, which reads it as a key) is left.
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
            tokio::select! {
                item = self.input.recv() => match item.unwrap_or(Input::End) {
                    Input::End => self.open = false,
                    Input::Interrupted | Input::Line(Line::Quit | Line::Close(_)) => return,
                    Input::Failed(why) => {
                        output.notice(&format!("ws: {why}"));
                        self.open = false;
                        return;
                    }
                    Input::Line(Line::Help) => output.notice(command::COMMANDS),
                    Input::Mistake(mistake) => output.notice(&format!("ws: {mistake}")),
                    other @ (Input::Line(Line::Send(_) | Line::Ping(_)) | Input::Binary(_)) => {
                        self.held = Some(other);
                    }
                },
                _ = tokio::signal::ctrl_c() => return,
            }
        }
    }
}
