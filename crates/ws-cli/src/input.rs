//! Where `ws connect`'s input comes from: the line editor in a terminal, lines read from a
//! terminal or a pipe, or raw bytes (`--binary`). Each is read on a thread of its own and handed
//! over on a bounded channel, so a slow connection slows the reading down instead of queueing.

use std::io::{BufRead, IsTerminal, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{
    Cmd, ConditionalEventHandler, Config, Editor, Event, EventContext, EventHandler,
    ExternalPrinter, KeyEvent, RepeatCount,
};
use tokio::sync::mpsc;

use crate::command::{self, Line};

/// The prompt of the line editor: what the user types is marked as sent.
pub const PROMPT: &str = "> ";
/// The most stdin bytes one binary message carries.
const BINARY_CHUNK: usize = 1 << 20;
/// How many inputs may wait for the connection before reading pauses.
const QUEUE: usize = 16;

/// What the input asks for, in order.
#[derive(Debug)]
pub enum Input {
    /// A message to send, or a command typed in a terminal.
    Line(Line),
    /// Bytes to send as one binary message.
    Binary(Vec<u8>),
    /// A command typed wrong: say so; nothing is sent, the input goes on.
    Mistake(String),
    /// The input cannot go on (unreadable, not UTF-8, a line over the send limit).
    Failed(String),
    /// The end of the input (Ctrl-D, or the end of a file or pipe).
    End,
    /// Ctrl-C in the line editor (which sees the key instead of the signal).
    Interrupted,
}

/// A printer that writes above the line being typed, redrawing it after.
pub type Printer = Box<dyn ExternalPrinter + Send>;

/// How stdin is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// stdin and stdout are a terminal: the line editor, slash commands.
    Editor,
    /// stdin is a terminal, stdout is not: lines as the terminal hands them, slash commands.
    TerminalLines,
    /// stdin is a file or a pipe: every line is a message, as it is.
    Lines,
    /// `--binary`: the bytes as they come, in messages of at most 1 MiB.
    Binary,
}

impl Source {
    /// The source for this process's stdin and stdout.
    pub fn detect(binary: bool) -> Source {
        let stdin = std::io::stdin().is_terminal();
        match (binary, stdin, std::io::stdout().is_terminal()) {
            (true, _, _) => Source::Binary,
            (false, true, true) => Source::Editor,
            (false, true, false) => Source::TerminalLines,
            (false, false, _) => Source::Lines,
        }
    }
}

/// The terminal's settings as they were before the line editor made it raw, put back by
/// [`restore`](Self::restore) (or when dropped): `ws` may exit (the connection ended) while the
/// editor still waits for a key, and the shell must not be left with a raw terminal.
pub struct TerminalSettings {
    #[cfg(unix)]
    saved: Option<nix::sys::termios::Termios>,
}

impl std::fmt::Debug for TerminalSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TerminalSettings").finish_non_exhaustive()
    }
}

impl TerminalSettings {
    fn save() -> TerminalSettings {
        TerminalSettings {
            #[cfg(unix)]
            saved: nix::sys::termios::tcgetattr(std::io::stdin()).ok(),
        }
    }
}

impl TerminalSettings {
    /// Puts the terminal's settings back and clears the editor's prompt. The editor's thread
    /// may still repaint its prompt (it waits for a key that will not come): from here on its
    /// writes go to /dev/null, and stdout is written through a copy of its own.
    pub fn restore(mut self) {
        #[cfg(unix)]
        if let Some(saved) = self.saved.take() {
            use std::io::Write;

            use nix::sys::termios::{tcsetattr, SetArg};
            let _ = std::io::stdout().flush();
            let ours = nix::unistd::dup(std::io::stdout()).ok();
            if let Ok(null) = std::fs::OpenOptions::new().write(true).open("/dev/null") {
                let _ = nix::unistd::dup2_stdout(&null);
            }
            let _ = tcsetattr(std::io::stdin(), SetArg::TCSADRAIN, &saved);
            if let Some(ours) = ours {
                // Clear the prompt's line; bracketed paste, which the editor turns on, off.
                let _ = std::fs::File::from(ours).write_all(b"\r\x1b[K\x1b[?2004l");
            }
        }
    }
}

impl Drop for TerminalSettings {
    fn drop(&mut self) {
        // Without `restore` (a panic on the way out), at least the settings come back.
        #[cfg(unix)]
        if let Some(saved) = &self.saved {
            let _ = nix::sys::termios::tcsetattr(
                std::io::stdin(),
                nix::sys::termios::SetArg::TCSADRAIN,
                saved,
            );
        }
    }
}

/// Starts reading `source`: lines (and binary messages) of at most `send_limit` bytes. The
/// printer is there when the line editor runs: messages must go through it to keep the typed
/// line intact. A terminal the editor cannot drive (such as `TERM=dumb`) is read line by line
/// instead.
pub fn start(source: Source, send_limit: usize) -> Reading {
    let (tx, rx) = mpsc::channel(QUEUE);
    if source == Source::Editor {
        let terminal = TerminalSettings::save();
        let (printer_tx, printer_rx) = std::sync::mpsc::sync_channel(1);
        let editing = tx.clone();
        spawn(move || edit(&editing, &printer_tx));
        if let Ok(Some(printer)) = printer_rx.recv() {
            return Reading {
                input: rx,
                printer: Some(printer),
                terminal: Some(terminal),
            };
        }
        // No editor: its thread has ended without reading anything.
        spawn(move || read_lines(&tx, send_limit, true));
        return Reading {
            input: rx,
            printer: None,
            terminal: None,
        };
    }
    spawn(move || match source {
        Source::Binary => read_binary(&tx, BINARY_CHUNK.min(send_limit)),
        Source::TerminalLines => read_lines(&tx, send_limit, true),
        Source::Lines | Source::Editor => read_lines(&tx, send_limit, false),
    });
    Reading {
        input: rx,
        printer: None,
        terminal: None,
    }
}

/// The input as it is read, and what the line editor needs of whoever prints
/// ([`Output::new`](crate::output::Output::new) takes both).
pub struct Reading {
    pub input: mpsc::Receiver<Input>,
    /// The editor's printer, when it runs: print through it.
    pub printer: Option<Printer>,
    /// The terminal's settings to put back at exit, when the editor runs: keep it until then.
    pub terminal: Option<TerminalSettings>,
}

impl Reading {
    /// No input at all (`ws serve` outside chat mode).
    pub fn none() -> Reading {
        Reading {
            input: mpsc::channel(1).1,
            printer: None,
            terminal: None,
        }
    }
}

fn spawn(read: impl FnOnce() + Send + 'static) {
    // Detached: the process exits without waiting for a read that may never return.
    let spawned = std::thread::Builder::new().name("stdin".into()).spawn(read);
    if let Err(e) = spawned {
        eprintln!("ws: cannot start reading stdin: {e}");
    }
}

/// Hands `input` over; false when nobody takes input any more.
fn deliver(tx: &mpsc::Sender<Input>, input: Input) -> bool {
    tx.blocking_send(input).is_ok()
}

/// A typed line: a message or a command, or what is wrong with it.
fn typed(line: &str) -> Input {
    match command::parse(line) {
        Ok(line) => Input::Line(line),
        Err(mistake) => Input::Mistake(mistake),
    }
}

/// Ctrl-D: the end of the input even after a partly typed line, which is sent first (the
/// editor's own Ctrl-D does nothing on a non-empty line).
struct EndOfInput {
    ended: Arc<AtomicBool>,
}

impl ConditionalEventHandler for EndOfInput {
    fn handle(&self, _: &Event, _: RepeatCount, _: bool, ctx: &EventContext<'_>) -> Option<Cmd> {
        if ctx.line().is_empty() {
            Some(Cmd::EndOfFile)
        } else {
            self.ended.store(true, Ordering::SeqCst);
            Some(Cmd::AcceptLine)
        }
    }
}

/// Runs the line editor until the input ends; sends its printer (or `None` when the terminal
/// cannot be driven) before the first line.
fn edit(tx: &mpsc::Sender<Input>, printer: &std::sync::mpsc::SyncSender<Option<Printer>>) {
    let config = Config::builder().auto_add_history(true).build();
    let Ok(mut editor) = Editor::<(), DefaultHistory>::with_config(config) else {
        let _ = printer.send(None);
        return;
    };
    let ended = Arc::new(AtomicBool::new(false));
    editor.bind_sequence(
        KeyEvent::ctrl('D'),
        EventHandler::Conditional(Box::new(EndOfInput {
            ended: Arc::clone(&ended),
        })),
    );
    match editor.create_external_printer() {
        Ok(external) => {
            if printer.send(Some(Box::new(external))).is_err() {
                return;
            }
        }
        Err(_) => {
            let _ = printer.send(None);
            return;
        }
    }
    loop {
        let input = match editor.readline(PROMPT) {
            // A paste of several lines arrives as one: each line is a message of its own.
            Ok(line) if line.contains('\n') => {
                let mut lines = line.split('\n').peekable();
                let mut last = typed("");
                while let Some(one) = lines.next() {
                    let input = typed(one.strip_suffix('\r').unwrap_or(one));
                    if lines.peek().is_none() {
                        last = input;
                    } else if !deliver(tx, input) {
                        return;
                    }
                }
                last
            }
            Ok(line) => typed(&line),
            Err(ReadlineError::Eof) => Input::End,
            Err(ReadlineError::Interrupted) => Input::Interrupted,
            Err(e) => Input::Failed(format!("cannot read the terminal: {e}")),
        };
        // After these the conversation is over: the editor must not wait for more keys.
        let last = matches!(
            input,
            Input::End
                | Input::Interrupted
                | Input::Failed(_)
                | Input::Line(Line::Quit | Line::Close(_))
        );
        if !deliver(tx, input) || last {
            return;
        }
        if ended.load(Ordering::SeqCst) {
            deliver(tx, Input::End);
            return;
        }
    }
}

/// Reads lines. From a terminal (`terminal`), lines are commands or messages, and a read that
/// ends without a newline is Ctrl-D after a partial line: that line is the last. From a pipe,
/// every line is a message, as it is.
fn read_lines(tx: &mpsc::Sender<Input>, limit: usize, terminal: bool) {
    let stdin = std::io::stdin();
    let mut stdin = stdin.lock();
    let mut line = Vec::new();
    for number in 1u64.. {
        line.clear();
        let (input, last) = match next_line(&mut stdin, &mut line, limit, terminal) {
            Err(failure) => (Input::Failed(failure), true),
            Ok(Found::End) => (Input::End, true),
            Ok(found) => match std::str::from_utf8(&line) {
                Err(_) => (
                    Input::Failed(format!(
                        "line {number} of stdin is not UTF-8 text; send such input with --binary"
                    )),
                    true,
                ),
                Ok(text) if terminal => (typed(text), found == Found::Last),
                Ok(text) => (
                    Input::Line(Line::Send(text.to_owned())),
                    found == Found::Last,
                ),
            },
        };
        let ended = matches!(input, Input::End | Input::Failed(_));
        if !deliver(tx, input) || ended {
            return;
        }
        if last {
            deliver(tx, Input::End);
            return;
        }
    }
}

/// What [`next_line`] found.
#[derive(Debug, PartialEq, Eq)]
enum Found {
    /// A line; more may follow.
    Line,
    /// The last line: the input ends after it.
    Last,
    /// No more input.
    End,
}

/// Reads one line into `line` (without its `\n` or `\r\n`), refusing lines over `limit`
/// bytes so that a newline-less input cannot grow memory without bound.
fn next_line(
    stdin: &mut impl BufRead,
    line: &mut Vec<u8>,
    limit: usize,
    terminal: bool,
) -> Result<Found, String> {
    loop {
        let available = match stdin.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("cannot read stdin: {e}")),
        };
        if available.is_empty() {
            if line.len() > limit {
                return Err(over_the_limit(limit));
            }
            return Ok(if line.is_empty() {
                Found::End
            } else {
                Found::Last
            });
        }
        let (taken, complete) = match memchr(available) {
            Some(at) => (at + 1, true),
            None => (available.len(), false),
        };
        line.extend_from_slice(&available[..taken]);
        stdin.consume(taken);
        // Room for the line ending, which is not sent.
        if line.len() > limit.saturating_add(2) {
            return Err(over_the_limit(limit));
        }
        if complete {
            line.pop();
            if line.ends_with(b"\r") {
                line.pop();
            }
            if line.len() > limit {
                return Err(over_the_limit(limit));
            }
            return Ok(Found::Line);
        }
        // A terminal hands over a line at a time; a read without its newline is Ctrl-D
        // pressed after a partial line, which ends the input.
        if terminal {
            if line.len() > limit {
                return Err(over_the_limit(limit));
            }
            return Ok(Found::Last);
        }
    }
}

fn over_the_limit(limit: usize) -> String {
    format!(
        "a line of stdin is over the {limit}-byte send limit (raise it with --max-message-size, \
         or send such input with --binary)"
    )
}

fn memchr(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == b'\n')
}

/// Reads raw bytes, one message per read of at most `chunk` bytes.
fn read_binary(tx: &mpsc::Sender<Input>, chunk: usize) {
    let mut stdin = std::io::stdin().lock();
    let mut buf = vec![0u8; chunk.max(1)];
    loop {
        let input = match stdin.read(&mut buf) {
            Ok(0) => Input::End,
            Ok(n) => Input::Binary(buf[..n].to_vec()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => Input::Failed(format!("cannot read stdin: {e}")),
        };
        let ended = matches!(input, Input::End | Input::Failed(_));
        if !deliver(tx, input) || ended {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], terminal: bool) -> Vec<Result<(String, Found), String>> {
        let mut reader = std::io::BufReader::with_capacity(4, input);
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            match next_line(&mut reader, &mut line, 16, terminal) {
                Ok(Found::End) => return out,
                Ok(read) => {
                    let last = read == Found::Last;
                    out.push(Ok((String::from_utf8(line).unwrap(), read)));
                    if last {
                        return out;
                    }
                }
                Err(e) => {
                    out.push(Err(e));
                    return out;
                }
            }
        }
    }

    #[test]
    fn pipes_give_whole_lines_however_they_are_split() {
        let got = lines(b"one\r\ntwo lines\n\nlast", false);
        let texts: Vec<_> = got.into_iter().map(|l| l.unwrap()).collect();
        assert_eq!(
            texts,
            vec![
                ("one".to_owned(), Found::Line),
                ("two lines".to_owned(), Found::Line),
                (String::new(), Found::Line),
                ("last".to_owned(), Found::Last),
            ]
        );
    }

    #[test]
    fn a_terminal_read_without_newline_is_the_last_line() {
        // The reader's buffer holds 4 bytes: "abc" then a read without a newline.
        let got = lines(b"abc", true);
        assert_eq!(got, vec![Ok(("abc".to_owned(), Found::Last))]);
    }

    #[test]
    fn a_line_over_the_limit_is_refused_not_buffered() {
        let got = lines(&[b'x'; 100], false);
        let error = got.last().unwrap().as_ref().unwrap_err();
        assert!(error.contains("over the 16-byte send limit"), "{error}");
    }
}
