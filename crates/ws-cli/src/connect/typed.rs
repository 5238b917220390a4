//! The input across connections, and the signals that stop it.

use std::collections::VecDeque;

use tokio::sync::mpsc;

use crate::command::{self, Line};
use crate::input::Input;
use crate::output::Output;
use crate::signals::Interrupts;

/// The most inputs held while there is no connection; reading pauses beyond.
const HELD: usize = 16;

/// What the user did next.
#[derive(Debug)]
pub(super) enum Typing {
    /// A line, a command, bytes, or the end of the input.
    Input(Input),
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

/// The input, across connections: what is typed while there is no connection is held for the
/// next one, while a request to stop is acted on at once.
pub(super) struct Typed<'a> {
    pub(super) input: &'a mut mpsc::Receiver<Input>,
    pub(super) interrupts: &'a mut Interrupts,
    /// Read while there was no connection: the next connection takes them first.
    pub(super) held: VecDeque<Input>,
    /// False once the input has ended.
    pub(super) open: bool,
}

impl Typed<'_> {
    /// The next input (the held ones first), or a stop signal.
    pub(super) async fn next(&mut self) -> Typing {
        if let Some(held) = self.held.pop_front() {
            return Typing::Input(held);
        }
        if !self.open {
            self.interrupts.next().await;
            return Typing::Interrupted;
        }
        tokio::select! {
            item = self.input.recv() => Typing::Input(item.unwrap_or(Input::End)),
            () = self.interrupts.next() => Typing::Interrupted,
        }
    }

    /// Resolves when the user asks to stop while there is no connection: Ctrl-C, SIGTERM,
    /// `/quit`, `/close`, or input that cannot go on. Lines to send are held for the next
    /// connection.
    pub(super) async fn stop_requested(&mut self, output: &Output) {
        loop {
            if !self.open || self.held.len() >= HELD {
                self.interrupts.next().await;
                return;
            }
            let item = tokio::select! {
                item = self.input.recv() => item.unwrap_or(Input::End),
                () = self.interrupts.next() => return,
            };
            match item {
                Input::End => {
                    // The next connection sees the end after the held lines.
                    self.open = false;
                    self.held.push_back(Input::End);
                }
                Input::Interrupted | Input::Line(Line::Quit | Line::Close(_)) => return,
                Input::Failed(why) => {
                    output.notice(&format!("ws: {why}"));
                    self.open = false;
                    return;
                }
                Input::Line(Line::Help) => output.notice(command::COMMANDS),
                Input::Mistake(mistake) => output.notice(&format!("ws: {mistake}")),
                other @ (Input::Line(Line::Send(_) | Line::Ping(_)) | Input::Binary(_)) => {
                    self.held.push_back(other);
                }
            }
        }
    }
}
