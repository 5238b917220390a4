//! The slash commands of `ws connect` in a terminal: what a typed line asks for.

use ws_api::client::MAX_PING_PAYLOAD;
use ws_net::ws_proto::close::MAX_REASON_LEN;

use crate::args::{close_code, CLOSE_CODES};

/// What a line typed in a terminal asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// Send this text message.
    Send(String),
    /// `/ping [TEXT]`.
    Ping(String),
    /// `/close [CODE [REASON]]`: `None` keeps `--close-code` / `--close-reason`.
    Close(Option<(u16, String)>),
    /// `/quit`: close as at the end of input.
    Quit,
    /// `/help`.
    Help,
}

/// The text `/help` prints.
pub const COMMANDS: &str = "\
/ping [TEXT]            send a ping (with TEXT as its data); prints the round trip
/close [CODE [REASON]]  close with CODE and REASON, and exit
/quit                   close as at the end of input (Ctrl-D), and exit
/help                   this list
//TEXT                  send the line /TEXT";

/// Reads a typed line: a message, or a command. An unknown or malformed command is an error
/// that says what was expected; nothing is sent.
pub fn parse(line: &str) -> Result<Line, String> {
    let Some(command) = line.strip_prefix('/') else {
        return Ok(Line::Send(line.to_owned()));
    };
    if command.starts_with('/') {
        return Ok(Line::Send(command.to_owned()));
    }
    let (name, rest) = match command.split_once(char::is_whitespace) {
        Some((name, rest)) => (name, rest.trim_start()),
        None => (command, ""),
    };
    match name {
        "ping" => {
            if rest.len() > MAX_PING_PAYLOAD {
                return Err(format!(
                    "/ping: the data is {} bytes; a ping carries at most {MAX_PING_PAYLOAD}",
                    rest.len()
                ));
            }
            Ok(Line::Ping(rest.to_owned()))
        }
        "close" => {
            if rest.is_empty() {
                return Ok(Line::Close(None));
            }
            let (code, reason) = match rest.split_once(char::is_whitespace) {
                Some((code, reason)) => (code, reason.trim_start()),
                None => (rest, ""),
            };
            let code = close_code(code).ok_or_else(|| format!("/close {code}: {CLOSE_CODES}"))?;
            if reason.len() > MAX_REASON_LEN {
                return Err(format!(
                    "/close: the reason is {} bytes; at most {MAX_REASON_LEN} are allowed",
                    reason.len()
                ));
            }
            Ok(Line::Close(Some((code, reason.to_owned()))))
        }
        "quit" | "exit" if rest.is_empty() => Ok(Line::Quit),
        "help" | "?" => Ok(Line::Help),
        _ => Err(format!(
            "unknown command /{name}; /help lists them (start a line with // to send one \
             beginning with /)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_messages_unless_they_are_commands() {
        assert_eq!(parse("hello"), Ok(Line::Send("hello".into())));
        assert_eq!(parse(""), Ok(Line::Send(String::new())));
        assert_eq!(parse(" /ping"), Ok(Line::Send(" /ping".into())));
        assert_eq!(parse("//ping"), Ok(Line::Send("/ping".into())));
        assert_eq!(parse("/ping"), Ok(Line::Ping(String::new())));
        assert_eq!(
            parse("/ping  are you there"),
            Ok(Line::Ping("are you there".into()))
        );
        assert_eq!(parse("/close"), Ok(Line::Close(None)));
        assert_eq!(
            parse("/close 4000"),
            Ok(Line::Close(Some((4000, String::new()))))
        );
        assert_eq!(
            parse("/close 1001 see you later"),
            Ok(Line::Close(Some((1001, "see you later".into()))))
        );
        assert_eq!(parse("/quit"), Ok(Line::Quit));
        assert_eq!(parse("/exit"), Ok(Line::Quit));
        assert_eq!(parse("/help"), Ok(Line::Help));
    }

    #[test]
    fn malformed_commands_say_what_is_expected() {
        for (line, expected) in [
            ("/close 1005", "1000-1003, 1007-1014 or 3000-4999"),
            ("/close 5000 x", "1000-1003, 1007-1014 or 3000-4999"),
            ("/close soon", "1000-1003"),
            ("/frobnicate", "unknown command /frobnicate"),
            ("/quit now", "unknown command /quit"),
        ] {
            let error = parse(line).expect_err(line);
            assert!(error.contains(expected), "{line}: {error}");
        }
        let long = format!("/ping {}", "x".repeat(126));
        assert!(parse(&long).unwrap_err().contains("at most 125"));
        let long = format!("/close 1000 {}", "x".repeat(124));
        assert!(parse(&long).unwrap_err().contains("at most 123"));
    }
}
