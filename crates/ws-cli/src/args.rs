//! Command-line parsing and the help texts.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use lexopt::prelude::*;

pub const HELP: &str = "\
ws: a WebSocket server and client on the command line.

USAGE:
    ws [-v]... <COMMAND> [OPTIONS]

COMMANDS:
    serve      Run a WebSocket server that echoes or broadcasts messages
    connect    Connect to a WebSocket server and exchange messages through stdin/stdout
    help       Print this help, or a command's help: `ws help connect`

OPTIONS:
    -v, --verbose    Log more to stderr (-v: info, -vv: debug, -vvv: trace);
                     RUST_LOG, when set, replaces them (e.g. RUST_LOG=ws_net=trace,warn)
    -h, --help       Print help
    -V, --version    Print the version

Try: `ws serve` in one shell, `ws connect ws://127.0.0.1:9001/` in another.
";

pub const SERVE_HELP: &str = "\
Run a WebSocket server. Prints the URL it listens on, then one line per connect and close.

USAGE:
    ws serve [OPTIONS]

OPTIONS:
    -l, --listen ADDR          Address to listen on: IP:PORT ([::1]:PORT for IPv6), or a PORT
                               alone for loopback (127.0.0.1:PORT); port 0 picks a free one
                               [default: 127.0.0.1:9001]
    -m, --mode MODE            echo: send every message back to its sender;
                               broadcast: send every message to every client [default: echo]
        --cert PEM             Serve wss:// with this certificate chain (needs --key)
        --key PEM              The private key of --cert
        --protocol P           Subprotocol to select when a client offers it
        --max-clients N        Most distinct client IP addresses at once [default: 10]
        --max-per-client N     Most connections from one IP address [default: 10]
        --ping-interval S      Ping every client every S seconds and drop those that do not
                               answer within S seconds [default: 0, off]
        --max-message-size BYTES
                               Largest message received, and sent back
                               [default: 67108864 (64 MiB) received, 5242864 sent]
        --deflate              Accept permessage-deflate compression from clients that offer it
                               (about 300 KiB per compressing connection) [default: off]
    -h, --help                 Print help

Ctrl-C (or SIGTERM) stops the server: every client gets a Close frame with 1001.
A message larger than the send limit (5,242,864 bytes unless --max-message-size says more)
is received but not sent back: its sender is closed with 1009.
";

pub const CONNECT_HELP: &str = "\
Connect to a WebSocket server. Every line of stdin is sent as a text message and every message
received is printed to stdout (text as a line; binary as its bytes with --binary, else as a
`<binary N bytes>` line). At the end of stdin (or on Ctrl-C) the connection is closed normally;
the close code and reason are printed to stderr.

USAGE:
    ws connect [OPTIONS] URL

ARGS:
    URL                        ws://HOST[:PORT][/PATH] or wss://...

OPTIONS:
    -H, --header 'NAME: VALUE' Add a request header (repeatable)
        --protocol P           Offer this subprotocol (or a comma-separated list)
        --ca PEM               Trust only this CA certificate (file or directory) for wss://
        --cert PEM             Client certificate chain (needs --key)
        --key PEM              The private key of --cert
        --key-password X       Password of an encrypted --key
    -k, --insecure             Accept any server certificate (anyone on the path can
                               impersonate the server)
        --proxy P              An HTTP proxy URL (http://[user:pass@]host:port), `system`
                               (http_proxy/https_proxy/no_proxy) or `none` [default: system]
        --ping-interval S      Ping the server every S seconds, 0 = off [default: 30]
        --pong-timeout S       Give up on the server S seconds after an unanswered ping
                               [default: 30]
        --tls-min V            Lowest TLS version: 1.2 or 1.3 [default: 1.2]
        --max-message-size BYTES
                               Largest message received and sent
                               [default: 67108864 (64 MiB) received, 5242864 sent]
    -b, --binary               Send stdin as binary messages (one per read, at most 1 MiB) and
                               write received binary messages to stdout as raw bytes
        --deflate              Offer permessage-deflate compression [default: off]
    -h, --help                 Print help

EXIT STATUS:
    0  the connection closed with 1000 (normal) or 1001 (going away)
    1  the connection failed or closed with another code; stderr says why
    2  the command line is wrong
";

/// A parsed command line.
#[derive(Debug)]
pub enum Command {
    Help(&'static str),
    Version,
    Serve(ServeArgs),
    Connect(ConnectArgs),
}

/// The whole command line: verbosity and the command.
#[derive(Debug)]
pub struct Cli {
    pub verbose: u8,
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Echo,
    Broadcast,
}

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
    let mut verbose = 0u8;
    while let Some(arg) = parser.next()? {
        match arg {
            Short('v') | Long("verbose") => verbose = verbose.saturating_add(1),
            Short('h') | Long("help") => {
                return Ok(Cli {
                    verbose,
                    command: Command::Help(HELP),
                })
            }
            Short('V') | Long("version") => {
                return Ok(Cli {
                    verbose,
                    command: Command::Version,
                })
            }
            Value(name) => {
                let command = match string(name)?.as_str() {
                    "serve" => parse_serve(&mut parser, &mut verbose)?,
                    "connect" => parse_connect(&mut parser, &mut verbose)?,
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
                return Ok(Cli { verbose, command });
            }
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(Cli {
        verbose,
        command: Command::Help(HELP),
    })
}

fn parse_serve(parser: &mut lexopt::Parser, verbose: &mut u8) -> Result<Command, UsageError> {
    let mut args = ServeArgs {
        listen: SocketAddr::from(([127, 0, 0, 1], 9001)),
        mode: Mode::Echo,
        cert: None,
        protocol: None,
        max_clients: 10,
        max_per_client: 10,
        ping_interval: 0,
        max_message_size: None,
        deflate: false,
    };
    let (mut cert, mut key) = (None, None);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('v') | Long("verbose") => *verbose = verbose.saturating_add(1),
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
                    other => {
                        return Err(usage(format!(
                            "--mode {other:?}: the modes are `echo` and `broadcast`"
                        )))
                    }
                }
            }
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
            other => return Err(other.unexpected().into()),
        }
    }
    args.cert = cert_and_key(cert, key)?;
    Ok(Command::Serve(args))
}

fn parse_connect(parser: &mut lexopt::Parser, verbose: &mut u8) -> Result<Command, UsageError> {
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
    };
    let (mut cert, mut key) = (None, None);
    while let Some(arg) = parser.next()? {
        match arg {
            Short('v') | Long("verbose") => *verbose = verbose.saturating_add(1),
            Short('h') | Long("help") => return Ok(Command::Help(CONNECT_HELP)),
            Short('H') | Long("header") => {
                let text = string(parser.value()?)?;
                let (name, value) = text
                    .split_once(':')
                    .ok_or_else(|| usage(format!("--header {text:?} is not `NAME: VALUE`")))?;
                args.headers
                    .push((name.trim().to_owned(), value.trim().to_owned()));
            }
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
    if args.key_password.is_some() && args.cert.is_none() {
        return Err(usage("--key-password needs --cert and --key"));
    }
    Ok(Command::Connect(args))
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
        assert_eq!((args.max_clients, args.max_per_client), (10, 10));
        assert_eq!(args.max_message_size, None);
        assert!(!args.deflate);
    }

    #[test]
    fn serve_options() {
        let cli = parse_line(
            "-v serve --listen [::1]:0 -m broadcast --cert c.pem --key k.pem --protocol chat \
             --max-clients 3 --max-per-client=2 --ping-interval 5 -v \
             --max-message-size 67108864 --deflate",
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
            ("serve --max-clients 0", "positive number"),
            ("serve --max-message-size 0", "number of bytes"),
            ("connect ws://h/ --max-message-size 64M", "number of bytes"),
            ("serve --cert c.pem", "--cert needs --key"),
            ("connect ws://h/ --tls-min 1.1", "use 1.2 or 1.3"),
            ("connect ws://h/ -H NoColon", "is not `NAME: VALUE`"),
            ("connect ws://h/ --ping-interval soon", "whole seconds"),
            ("connect ws://h/ ws://other/", "unexpected argument"),
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
                ][..],
            ),
        ] {
            for flag in flags {
                assert!(help.contains(flag), "{flag}");
            }
        }
        for help in [SERVE_HELP, CONNECT_HELP] {
            assert!(help.contains("--max-message-size BYTES"));
            assert!(help.contains("[default: 67108864 (64 MiB)"));
            assert!(help.contains("5242864 sent]"));
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
