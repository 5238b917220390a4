//! Command-line parsing and the help texts.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use base64::prelude::{Engine as _, BASE64_STANDARD};
use lexopt::prelude::*;
use ws_net::ws_proto::close::MAX_REASON_LEN;
use ws_net::ws_proto::handshake::{check_extra_header, InputError};
use ws_net::CloseCode;

use crate::help::{CONNECT_HELP, HELP, SERVE_HELP};

/// A parsed command line.
#[derive(Debug)]
pub enum Command {
    Help(&'static str),
    Version,
    Serve(ServeArgs),
    Connect(ConnectArgs),
}

/// The whole command line: the global options and the command.
#[derive(Debug)]
pub struct Cli {
    pub verbose: u8,
    /// Worker threads of the async runtime (`--threads`); 1: the current thread only.
    /// `None`: tokio's default, one per CPU.
    pub threads: Option<usize>,
    pub command: Command,
}

/// The options taken before the command and after it: `-v` and `--threads`.
#[derive(Debug, Default)]
struct Globals {
    verbose: u8,
    threads: Option<usize>,
}

impl Globals {
    /// `-v`: one more level of detail.
    fn more_verbose(&mut self) {
        self.verbose = self.verbose.saturating_add(1);
    }

    /// `--threads N`, its value taken from `parser`.
    fn threads(&mut self, parser: &mut lexopt::Parser) -> Result<(), UsageError> {
        self.threads = Some(positive(parser, "--threads")? as usize);
        Ok(())
    }

    fn with(self, command: Command) -> Cli {
        Cli {
            verbose: self.verbose,
            threads: self.threads,
            command,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every message goes back to its sender.
    Echo,
    /// Every message goes to every client.
    Broadcast,
    /// Messages are printed; stdin lines go to every client.
    Chat,
}

/// `ws serve`'s connection limits when not given: a shell tool on loopback is often hit by
/// many connections from one address (the facade's documented defaults are 10 and 10).
pub const SERVE_MAX_CLIENTS: u32 = 256;
/// See [`SERVE_MAX_CLIENTS`].
pub const SERVE_MAX_PER_CLIENT: u32 = 256;

#[derive(Debug)]
pub struct ServeArgs {
    pub listen: SocketAddr,
    pub mode: Mode,
    pub cert: Option<(PathBuf, PathBuf)>,
    pub protocol: Option<String>,
    pub max_clients: u32,
    pub max_per_client: u32,
    pub ping_interval: u64,
    /// Both the receive and the send limit; `None`: the facade's defaults.
    pub max_message_size: Option<usize>,
    /// Negotiate permessage-deflate.
    pub deflate: bool,
    /// Print every message received, with its sender.
    pub print: bool,
    /// Broadcast mode: the Redis URL through which instances share their topics.
    pub broker: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Proxy {
    System,
    None,
    Url(String),
}

#[derive(Debug)]
pub struct ConnectArgs {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub protocol: Option<String>,
    pub ca: Option<PathBuf>,
    pub cert: Option<(PathBuf, PathBuf)>,
    pub key_password: Option<String>,
    pub insecure: bool,
    pub proxy: Proxy,
    pub ping_interval: Option<u64>,
    pub pong_timeout: Option<u64>,
    pub tls_min_1_3: bool,
    pub binary: bool,
    /// Both the receive and the send limit; `None`: the facade's defaults.
    pub max_message_size: Option<usize>,
    /// Negotiate permessage-deflate.
    pub deflate: bool,
    /// Keep receiving after the end of stdin.
    pub no_close: bool,
    /// Exit after this many messages received.
    pub count: Option<u64>,
    /// The close code and reason sent whenever `ws` closes.
    pub close_code: u16,
    pub close_reason: String,
    /// Send pings of our own and print their round-trip times.
    pub show_ping: bool,
    /// Connect again, with backoff, after a failure or a close by the server.
    pub reconnect: bool,
}

/// A command-line mistake, printed with a pointer to `--help`.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

impl From<lexopt::Error> for UsageError {
    fn from(e: lexopt::Error) -> Self {
        UsageError(e.to_string())
    }
}

fn usage(message: impl Into<String>) -> UsageError {
    UsageError(message.into())
}

/// Parses `args` (without the program name).
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Cli, UsageError> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut globals = Globals::default();
    while let Some(arg) = parser.next()? {
        match arg {
            Short('v') | Long("verbose") => globals.more_verbose(),
            Long("threads") => globals.threads(&mut parser)?,
            Short('h') | Long("help") => return Ok(globals.with(Command::Help(HELP))),
            Short('V') | Long("version") => return Ok(globals.with(Command::Version)),
            Value(name) => {
                let command = match string(name)?.as_str() {
                    "serve" => parse_serve(&mut parser, &mut globals)?,
                    "connect" => parse_connect(&mut parser, &mut globals)?,
                    "help" => Command::Help(match parser.next()? {
                        None => HELP,
                        Some(Value(topic)) => match string(topic)?.as_str() {
                            "serve" => SERVE_HELP,
                            "connect" => CONNECT_HELP,
                            other => return Err(usage(format!("no command `{other}`"))),
                        },
                        Some(other) => return Err(other.unexpected().into()),
                    }),
                    other => {
                        return Err(usage(format!(
                            "no command `{other}`; the commands are `serve` and `connect`"
                        )))
                    }
                };
                return Ok(globals.with(command));
            }
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(globals.with(Command::Help(HELP)))
}

fn parse_serve(parser: &mut lexopt::Parser, globals: &mut Globals) -> Result<Command, UsageError> {
    let mut args = ServeArgs {
        listen: SocketAddr::from(([127, 0, 0, 1], 9001)),
        mode: Mode::Echo,
        cert: None,
        protocol: None,
        max_clients: SERVE_MAX_CLIENTS,
        max_per_client: SERVE_MAX_PER_CLIENT,
        ping_interval: 0,
        max_message_size: None,
        deflate: false,
        print: false,
        broker: None,
    };
    let (mut cert, mut key) = (None, None);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('v') | Long("verbose") => globals.more_verbose(),
            Long("threads") => globals.threads(parser)?,
            Short('h') | Long("help") => return Ok(Command::Help(SERVE_HELP)),
            Short('l') | Long("listen") => {
                let text = string(parser.value()?)?;
                args.listen = parse_listen(&text).ok_or_else(|| {
                    usage(format!(
                        "--listen {text:?} is neither IP:PORT nor PORT (e.g. 127.0.0.1:9001, \
                         [::1]:9001 or 9001)"
                    ))
                })?;
            }
            Short('m') | Long("mode") => {
                args.mode = match string(parser.value()?)?.as_str() {
                    "echo" => Mode::Echo,
                    "broadcast" => Mode::Broadcast,
                    "chat" => Mode::Chat,
                    other => {
                        return Err(usage(format!(
                            "--mode {other:?}: the modes are `echo`, `broadcast` and `chat`"
                        )))
                    }
                }
            }
            Short('p') | Long("print") => args.print = true,
            Long("cert") => cert = Some(PathBuf::from(parser.value()?)),
            Long("key") => key = Some(PathBuf::from(parser.value()?)),
            Long("protocol") => args.protocol = Some(string(parser.value()?)?),
            Long("max-clients") => args.max_clients = positive(parser, "--max-clients")?,
            Long("max-per-client") => args.max_per_client = positive(parser, "--max-per-client")?,
            Long("ping-interval") => args.ping_interval = seconds(parser, "--ping-interval")?,
            Long("max-message-size") => {
                args.max_message_size = Some(bytes(parser, "--max-message-size")?)
            }
            Long("deflate") => args.deflate = true,
            Long("broker") => args.broker = Some(string(parser.value()?)?),
            other => return Err(other.unexpected().into()),
        }
    }
    if args.broker.is_some() && args.mode != Mode::Broadcast {
        return Err(usage(
            "--broker shares the topics of --mode broadcast between instances; it has no use \
             in the other modes: add --mode broadcast, or leave --broker out",
        ));
    }
    args.cert = cert_and_key(cert, key)?;
    // Chat mode shows what clients say: that is the conversation.
    args.print |= args.mode == Mode::Chat;
    Ok(Command::Serve(args))
}

fn parse_connect(
    parser: &mut lexopt::Parser,
    globals: &mut Globals,
) -> Result<Command, UsageError> {
    let mut url = None;
    let mut args = ConnectArgs {
        url: String::new(),
        headers: Vec::new(),
        protocol: None,
        ca: None,
        cert: None,
        key_password: None,
        insecure: false,
        proxy: Proxy::System,
        ping_interval: None,
        pong_timeout: None,
        tls_min_1_3: false,
        binary: false,
        max_message_size: None,
        deflate: false,
        no_close: false,
        count: None,
        close_code: CloseCode::NORMAL.as_u16(),
        close_reason: String::new(),
        show_ping: false,
        reconnect: false,
    };
    let (mut cert, mut key) = (None, None);
    let (mut origin, mut auth) = (None, None);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('v') | Long("verbose") => globals.more_verbose(),
            Long("threads") => globals.threads(parser)?,
            Short('h') | Long("help") => return Ok(Command::Help(CONNECT_HELP)),
            Short('H') | Long("header") => {
                let text = string(parser.value()?)?;
                let (name, value) = text
                    .split_once(':')
                    .ok_or_else(|| usage(format!("--header {text:?} is not `NAME: VALUE`")))?;
                let (name, value) = (name.trim(), value.trim());
                check_header(name, value)?;
                args.headers.push((name.to_owned(), value.to_owned()));
            }
            Long("origin") => origin = Some(string(parser.value()?)?),
            Long("auth") => auth = Some(string(parser.value()?)?),
            Short('n') | Long("no-close") => args.no_close = true,
            Short('1') => args.count = Some(1),
            Long("count") => args.count = Some(u64::from(positive(parser, "--count")?)),
            Long("close-code") => {
                let text = string(parser.value()?)?;
                args.close_code = close_code(&text)
                    .ok_or_else(|| usage(format!("--close-code {text:?}: {CLOSE_CODES}")))?;
            }
            Long("close-reason") => {
                args.close_reason = string(parser.value()?)?;
                if args.close_reason.len() > MAX_REASON_LEN {
                    return Err(usage(format!(
                        "--close-reason is {} bytes; a close reason has at most \
                         {MAX_REASON_LEN}",
                        args.close_reason.len()
                    )));
                }
            }
            Long("show-ping") => args.show_ping = true,
            Long("reconnect") => args.reconnect = true,
            Long("protocol") => args.protocol = Some(string(parser.value()?)?),
            Long("ca") => args.ca = Some(PathBuf::from(parser.value()?)),
            Long("cert") => cert = Some(PathBuf::from(parser.value()?)),
            Long("key") => key = Some(PathBuf::from(parser.value()?)),
            Long("key-password") => args.key_password = Some(string(parser.value()?)?),
            Short('k') | Long("insecure") => args.insecure = true,
            Long("proxy") => {
                args.proxy = match string(parser.value()?)?.as_str() {
                    "system" => Proxy::System,
                    "none" => Proxy::None,
                    other => Proxy::Url(other.to_owned()),
                }
            }
            Long("ping-interval") => args.ping_interval = Some(seconds(parser, "--ping-interval")?),
            Long("pong-timeout") => args.pong_timeout = Some(seconds(parser, "--pong-timeout")?),
            Long("tls-min") => {
                args.tls_min_1_3 = match string(parser.value()?)?.as_str() {
                    "1.2" => false,
                    "1.3" => true,
                    other => {
                        return Err(usage(format!(
                            "--tls-min {other:?}: use 1.2 or 1.3 (older versions are not spoken)"
                        )))
                    }
                }
            }
            Short('b') | Long("binary") => args.binary = true,
            Long("max-message-size") => {
                args.max_message_size = Some(bytes(parser, "--max-message-size")?)
            }
            Long("deflate") => args.deflate = true,
            Value(value) if url.is_none() => url = Some(string(value)?),
            other => return Err(other.unexpected().into()),
        }
    }
    args.url = url.ok_or_else(|| usage("the URL is missing: ws connect ws://HOST:PORT/"))?;
    args.cert = cert_and_key(cert, key)?;
    if let Some(origin) = origin {
        add_header(&mut args.headers, "Origin", origin, "--origin")?;
    }
    if let Some(auth) = auth {
        if !auth.contains(':') {
            return Err(usage(format!(
                "--auth {auth:?} is not USER:PASS (write USER: for an empty password)"
            )));
        }
        let value = format!("Basic {}", BASE64_STANDARD.encode(auth));
        add_header(&mut args.headers, "Authorization", value, "--auth")?;
    }
    if args.key_password.is_some() && args.cert.is_none() {
        return Err(usage("--key-password needs --cert and --key"));
    }
    Ok(Command::Connect(args))
}

/// What `--close-code` and `/close` accept.
pub const CLOSE_CODES: &str =
    "a close code is 1000-1003, 1007-1014 or 3000-4999 (the others may not be sent)";

/// A close code `ws` may send, or `None`.
pub fn close_code(text: &str) -> Option<u16> {
    let code: u16 = text.parse().ok()?;
    CloseCode::from(code).is_sendable().then_some(code)
}

/// Refuses a header `ws` writes itself, naming the flag that sets it.
fn check_header(name: &str, value: &str) -> Result<(), UsageError> {
    match check_extra_header(name, value) {
        Ok(()) => Ok(()),
        Err(InputError::ForbiddenHeader(_)) => {
            let instead = if name.eq_ignore_ascii_case("sec-websocket-protocol") {
                "; offer subprotocols with --protocol"
            } else if name.eq_ignore_ascii_case("sec-websocket-extensions") {
                "; offer compression with --deflate"
            } else {
                ""
            };
            Err(usage(format!(
                "--header {name:?}: ws writes this header of the handshake itself{instead}"
            )))
        }
        Err(InputError::InvalidHeaderValue(_)) => Err(usage(format!(
            "--header {name:?}: the value may not contain line breaks or NUL"
        ))),
        Err(_) => Err(usage(format!(
            "--header {name:?}: not a header name (letters, digits and !#$%&'*+-.^_`|~ only)"
        ))),
    }
}

/// Adds the header a flag stands for, unless `-H` gave it already.
fn add_header(
    headers: &mut Vec<(String, String)>,
    name: &str,
    value: String,
    flag: &str,
) -> Result<(), UsageError> {
    if headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
        return Err(usage(format!(
            "{flag} and --header {name:?} both set the {name} header; give one of them"
        )));
    }
    check_header(name, &value)?;
    headers.push((name.to_owned(), value));
    Ok(())
}

/// `--listen`: an `IP:PORT`, or a port alone on loopback (where the default listens), as
/// `websocat -s 9001` and `wscat -l 9001` take it.
fn parse_listen(text: &str) -> Option<SocketAddr> {
    if let Ok(addr) = text.parse() {
        return Some(addr);
    }
    let port: u16 = text.parse().ok()?;
    Some(SocketAddr::from(([127, 0, 0, 1], port)))
}

fn string(value: OsString) -> Result<String, UsageError> {
    value
        .into_string()
        .map_err(|v| usage(format!("{v:?} is not valid UTF-8")))
}

fn positive(parser: &mut lexopt::Parser, flag: &str) -> Result<u32, UsageError> {
    let text = string(parser.value()?)?;
    match text.parse::<u32>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(usage(format!(
            "{flag} {text:?}: expected a positive number"
        ))),
    }
}

fn bytes(parser: &mut lexopt::Parser, flag: &str) -> Result<usize, UsageError> {
    let text = string(parser.value()?)?;
    match text.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(usage(format!(
            "{flag} {text:?}: expected a number of bytes (1 or more)"
        ))),
    }
}

fn seconds(parser: &mut lexopt::Parser, flag: &str) -> Result<u64, UsageError> {
    let text = string(parser.value()?)?;
    text.parse::<u64>().map_err(|_| {
        usage(format!(
            "{flag} {text:?}: expected whole seconds (0 or more)"
        ))
    })
}

fn cert_and_key(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> Result<Option<(PathBuf, PathBuf)>, UsageError> {
    match (cert, key) {
        (Some(cert), Some(key)) => Ok(Some((cert, key))),
        (None, None) => Ok(None),
        (Some(_), None) => Err(usage("--cert needs --key")),
        (None, Some(_)) => Err(usage("--key needs --cert")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_line(line: &str) -> Result<Cli, UsageError> {
        parse(line.split_whitespace().map(OsString::from))
    }

    #[test]
    fn serve_defaults_make_a_local_echo_server() {
        let Command::Serve(args) = parse_line("serve").unwrap().command else {
            panic!("not serve")
        };
        assert_eq!(args.listen, "127.0.0.1:9001".parse().unwrap());
        assert_eq!(args.mode, Mode::Echo);
        assert!(args.cert.is_none());
        assert_eq!((args.max_clients, args.max_per_client), (256, 256));
        assert_eq!(args.max_message_size, None);
        assert!(!args.deflate && !args.print);
        assert_eq!(args.broker, None);
    }

    #[test]
    fn chat_mode_prints_what_clients_send() {
        let Command::Serve(args) = parse_line("serve -m chat").unwrap().command else {
            panic!("not serve")
        };
        assert_eq!(args.mode, Mode::Chat);
        assert!(args.print);
        let Command::Serve(args) = parse_line("serve -p").unwrap().command else {
            panic!("not serve")
        };
        assert_eq!(args.mode, Mode::Echo);
        assert!(args.print);
    }

    #[test]
    fn connect_flags_for_feeds_closing_and_credentials() {
        let cli = parse(
            [
                "connect",
                "ws://h/",
                "-n",
                "--count",
                "3",
                "--close-code",
                "4000",
                "--close-reason",
                "done here",
                "--origin",
                "https://example.com",
                "--auth",
                "user:pa:ss",
                "--show-ping",
                "--reconnect",
            ]
            .map(OsString::from),
        )
        .unwrap();
        let Command::Connect(args) = cli.command else {
            panic!("not connect")
        };
        assert!(args.no_close && args.show_ping && args.reconnect);
        assert_eq!(args.count, Some(3));
        assert_eq!(
            (args.close_code, args.close_reason.as_str()),
            (4000, "done here")
        );
        assert_eq!(
            args.headers,
            vec![
                ("Origin".to_owned(), "https://example.com".to_owned()),
                // base64("user:pa:ss")
                (
                    "Authorization".to_owned(),
                    "Basic dXNlcjpwYTpzcw==".to_owned()
                ),
            ]
        );
        let Command::Connect(args) = parse_line("connect -1 ws://h/").unwrap().command else {
            panic!("not connect")
        };
        assert_eq!(args.count, Some(1));
        assert_eq!((args.close_code, args.close_reason.as_str()), (1000, ""));
        assert!(!args.no_close && !args.reconnect && !args.show_ping);
    }

    #[test]
    fn serve_options() {
        let cli = parse_line(
            "-v serve --listen [::1]:0 -m broadcast --cert c.pem --key k.pem --protocol chat \
             --max-clients 3 --max-per-client=2 --ping-interval 5 -v \
             --max-message-size 67108864 --deflate --broker redis://127.0.0.1:6379",
        )
        .unwrap();
        assert_eq!(cli.verbose, 2);
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.listen, "[::1]:0".parse().unwrap());
        assert_eq!(args.mode, Mode::Broadcast);
        assert_eq!(
            args.cert,
            Some((PathBuf::from("c.pem"), PathBuf::from("k.pem")))
        );
        assert_eq!(args.protocol.as_deref(), Some("chat"));
        assert_eq!(
            (args.max_clients, args.max_per_client, args.ping_interval),
            (3, 2, 5)
        );
        assert_eq!(args.max_message_size, Some(64 << 20));
        assert!(args.deflate);
        assert_eq!(args.broker.as_deref(), Some("redis://127.0.0.1:6379"));
    }

    #[test]
    fn connect_options() {
        let cli = parse(
            [
                "connect",
                "wss://example.com/chat",
                "-H",
                "Authorization: Bearer abc",
                "--header=X-Trace:1",
                "--protocol",
                "chat",
                "--ca",
                "ca.pem",
                "--cert",
                "c.pem",
                "--key",
                "k.pem",
                "--key-password",
                "secret",
                "-k",
                "--proxy",
                "http://u:p@proxy:3128",
                "--ping-interval",
                "10",
                "--pong-timeout",
                "5",
                "--tls-min",
                "1.3",
                "--binary",
                "--max-message-size=1000",
                "--deflate",
            ]
            .map(OsString::from),
        )
        .unwrap();
        let Command::Connect(args) = cli.command else {
            panic!("not connect")
        };
        assert_eq!(args.url, "wss://example.com/chat");
        assert_eq!(
            args.headers,
            vec![
                ("Authorization".to_owned(), "Bearer abc".to_owned()),
                ("X-Trace".to_owned(), "1".to_owned())
            ]
        );
        assert_eq!(args.proxy, Proxy::Url("http://u:p@proxy:3128".into()));
        assert!(args.insecure && args.binary && args.tls_min_1_3);
        assert_eq!((args.ping_interval, args.pong_timeout), (Some(10), Some(5)));
        assert_eq!(args.key_password.as_deref(), Some("secret"));
        assert_eq!(args.max_message_size, Some(1000));
        assert!(args.deflate);
    }

    #[test]
    fn deflate_is_off_unless_asked() {
        let Command::Connect(args) = parse_line("connect ws://h/").unwrap().command else {
            panic!("not connect")
        };
        assert!(!args.deflate);
        let Command::Serve(args) = parse_line("serve --deflate").unwrap().command else {
            panic!("not serve")
        };
        assert!(args.deflate);
        assert!(parse_line("serve --deflate=yes").is_err());
    }

    #[test]
    fn threads_is_a_global_option() {
        for (line, expected) in [
            ("serve", None),
            ("connect ws://h/", None),
            ("--threads 1 serve", Some(1)),
            ("-v --threads=3 connect ws://h/", Some(3)),
            ("serve --threads 4 -m broadcast", Some(4)),
            ("connect --threads 2 ws://h/", Some(2)),
            // The last one given counts, as for any option.
            ("--threads 2 serve --threads 1", Some(1)),
            ("--threads 8", Some(8)),
        ] {
            let cli = parse_line(line).unwrap();
            assert_eq!(cli.threads, expected, "{line}");
        }
        let cli = parse_line("--threads 1 -v serve -v").unwrap();
        assert_eq!((cli.threads, cli.verbose), (Some(1), 2));
        assert!(matches!(cli.command, Command::Serve(_)));
        for line in [
            "--threads 0 serve",
            "serve --threads -1",
            "connect ws://h/ --threads many",
        ] {
            let error = parse_line(line).expect_err(line).0;
            assert!(error.contains("--threads"), "{line}: {error}");
            assert!(error.contains("positive number"), "{line}: {error}");
        }
        assert!(parse_line("serve --threads").is_err());
    }

    #[test]
    fn listen_takes_a_port_alone_on_loopback() {
        for (line, expected) in [
            ("serve --listen 9001", "127.0.0.1:9001"),
            ("serve -l 0", "127.0.0.1:0"),
            ("serve --listen 0.0.0.0:8080", "0.0.0.0:8080"),
            ("serve --listen [::1]:9001", "[::1]:9001"),
        ] {
            let Command::Serve(args) = parse_line(line).unwrap().command else {
                panic!("{line}: not serve")
            };
            assert_eq!(args.listen, expected.parse().unwrap(), "{line}");
        }
    }

    #[test]
    fn mistakes_are_usage_errors_that_say_what_is_wrong() {
        for (line, expected) in [
            ("connect", "URL is missing"),
            ("serve --listen 9001x", "is neither IP:PORT nor PORT"),
            ("serve --listen 70000", "is neither IP:PORT nor PORT"),
            (
                "serve --listen localhost:9001",
                "is neither IP:PORT nor PORT",
            ),
            ("serve --mode fanout", "the modes are"),
            (
                "serve --broker redis://127.0.0.1:6379",
                "add --mode broadcast",
            ),
            (
                "serve --broker redis://127.0.0.1:6379 -m chat",
                "no use in the other modes",
            ),
            ("serve --max-clients 0", "positive number"),
            ("serve --max-message-size 0", "number of bytes"),
            ("connect ws://h/ --max-message-size 64M", "number of bytes"),
            ("serve --cert c.pem", "--cert needs --key"),
            ("connect ws://h/ --tls-min 1.1", "use 1.2 or 1.3"),
            ("connect ws://h/ -H NoColon", "is not `NAME: VALUE`"),
            ("connect ws://h/ --ping-interval soon", "whole seconds"),
            ("connect ws://h/ ws://other/", "unexpected argument"),
            (
                "connect ws://h/ --close-code 1005",
                "1000-1003, 1007-1014 or 3000-4999",
            ),
            (
                "connect ws://h/ --close-code 999",
                "1000-1003, 1007-1014 or 3000-4999",
            ),
            ("connect ws://h/ --count 0", "positive number"),
            ("connect ws://h/ --auth nopassword", "is not USER:PASS"),
            (
                "connect ws://h/ --origin http://a -H Origin:http://b",
                "both set the Origin header",
            ),
            (
                "connect ws://h/ -H Sec-WebSocket-Protocol:chat",
                "offer subprotocols with --protocol",
            ),
            (
                "connect ws://h/ -H Sec-WebSocket-Extensions:permessage-deflate",
                "offer compression with --deflate",
            ),
            ("connect ws://h/ -H Upgrade:websocket", "writes this header"),
            ("connect ws://h/ -H Bad(name):x", "not a header name"),
            ("frobnicate", "no command"),
        ] {
            let error = parse_line(line).expect_err(line).0;
            assert!(error.contains(expected), "{line}: {error}");
        }
    }

    #[test]
    fn the_help_lists_every_flag() {
        for (help, flags) in [
            (
                SERVE_HELP,
                &[
                    "--listen",
                    "--mode",
                    "--cert",
                    "--key",
                    "--protocol",
                    "--max-clients",
                    "--max-per-client",
                    "--ping-interval",
                    "--max-message-size",
                    "--deflate",
                    "--print",
                    "--broker URL",
                    "--threads N",
                    "chat",
                    "[default: 256]",
                ][..],
            ),
            (
                CONNECT_HELP,
                &[
                    "--header",
                    "--protocol",
                    "--ca",
                    "--cert",
                    "--key",
                    "--key-password",
                    "--insecure",
                    "--proxy",
                    "--ping-interval",
                    "--pong-timeout",
                    "--tls-min",
                    "--binary",
                    "--max-message-size",
                    "--deflate",
                    "--origin",
                    "--auth",
                    "--no-close",
                    "-1 ",
                    "--count",
                    "--close-code",
                    "--close-reason",
                    "--reconnect",
                    "--show-ping",
                    "--threads N",
                    "/ping",
                    "/close",
                    "/quit",
                ][..],
            ),
        ] {
            for flag in flags {
                assert!(help.contains(flag), "{flag}");
            }
        }
        for help in [HELP, SERVE_HELP, CONNECT_HELP] {
            assert!(help.contains("--threads N"));
            assert!(help.contains("Worker threads of the async runtime; 1 runs everything"));
            assert!(help.contains("[default: the number of CPUs]"));
        }
        for help in [SERVE_HELP, CONNECT_HELP] {
            assert!(help.contains("--max-message-size BYTES"));
            assert!(help.contains("[default: 67108864 (64 MiB)"));
            assert!(help.contains("5242864 sent]"));
        }
    }

    /// Every option a help text lists, with a value for those that take one.
    fn options_in(help: &str) -> Vec<Vec<String>> {
        let sample = |placeholder: &str| match placeholder {
            "ADDR" => "127.0.0.1:0",
            "MODE" => "broadcast",
            "N" | "S" | "BYTES" => "7",
            "CODE" => "4000",
            "V" => "1.3",
            "USER:PASS" => "user:pass",
            "'NAME:" => "X-Test: 1",
            "URL" => "redis://127.0.0.1:6379",
            _ => "value",
        };
        let mut options = Vec::new();
        for line in help.lines() {
            let line = line.trim_start();
            if !line.starts_with('-') {
                continue;
            }
            // `-x, --long PLACEHOLDER  Description`: the flags, then what they take.
            let mut words = line.split_whitespace().peekable();
            let mut flags = Vec::new();
            for word in words.by_ref() {
                flags.push(word.trim_end_matches(',').to_owned());
                if !word.ends_with(',') {
                    break;
                }
            }
            let value = words
                .peek()
                .filter(|next| !next.chars().any(char::is_lowercase))
                .map(|placeholder| sample(placeholder).to_owned());
            for flag in flags {
                options.push(std::iter::once(flag).chain(value.clone()).collect());
            }
        }
        options
    }

    #[test]
    fn every_option_the_help_lists_is_one_the_command_takes() {
        for (command, help, needs) in [
            ("serve", SERVE_HELP, &[][..]),
            ("connect", CONNECT_HELP, &["ws://h/"][..]),
        ] {
            let options = options_in(help);
            assert!(options.len() >= 10, "{command}: {options:?}");
            for option in options {
                let mut line = vec![command.to_owned()];
                line.extend(option.iter().cloned());
                line.extend(needs.iter().map(|s| (*s).to_owned()));
                // --cert needs --key and the reverse; --key-password needs both.
                if option[0] == "--cert" || option[0] == "--key" || option[0] == "--key-password" {
                    line.extend(["--cert", "c.pem", "--key", "k.pem"].map(String::from));
                }
                // --broker is for broadcast mode only.
                if option[0] == "--broker" {
                    line.extend(["--mode", "broadcast"].map(String::from));
                }
                match parse(line.iter().map(OsString::from)) {
                    Ok(_) => {}
                    Err(e) => panic!("{line:?}: {e}"),
                }
            }
        }
    }

    #[test]
    fn every_command_has_help() {
        for (line, help) in [
            ("", HELP),
            ("--help", HELP),
            ("help serve", SERVE_HELP),
            ("serve --help", SERVE_HELP),
            ("connect -h", CONNECT_HELP),
            ("help connect", CONNECT_HELP),
        ] {
            match parse_line(line).unwrap().command {
                Command::Help(text) => assert_eq!(text, help, "{line}"),
                other => panic!("{line}: {other:?}"),
            }
        }
    }
}
