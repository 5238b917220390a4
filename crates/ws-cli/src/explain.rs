//! Failures in the command's own words: what happened, to which URL or client, and which flag
//! to change. The libraries' typed error (`BusinessError::source`) says what happened; the
//! documented OpenHarmony code is added only with `-v`.

use std::io::ErrorKind;

use ws_api::{code, documented_message, BusinessError};
use ws_net::Error;

/// What the command line asked for, to point at the flag that matters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flags {
    /// `-v` given: show the documented codes.
    pub verbose: bool,
    /// `--ca` given (what a certificate error's hint says depends on it).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub ca: bool,
}

/// A failure as the command prints it: what happened, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    pub what: String,
    pub hint: Option<String>,
}

impl Explained {
    fn new(what: impl Into<String>) -> Explained {
        Explained {
            what: what.into(),
            hint: None,
        }
    }

    fn hint(mut self, hint: impl Into<String>) -> Explained {
        self.hint = Some(hint.into());
        self
    }

    /// `ws: PREFIX: WHAT (error CODE)` and, when there is one, a hint line.
    pub fn render(&self, prefix: &str, error: &BusinessError, flags: Flags) -> String {
        let code = if flags.verbose {
            format!(" (error {})", error.code)
        } else {
            String::new()
        };
        let mut text = format!("ws: {prefix}: {}{code}", self.what);
        if let Some(hint) = &self.hint {
            text.push_str("\n  hint: ");
            text.push_str(hint);
        }
        text
    }
}

/// The typed error behind a facade's error, when it came from the transport.
pub fn net_error(error: &BusinessError) -> Option<&Error> {
    std::error::Error::source(error)?.downcast_ref::<Error>()
}

/// The facade's text without the documented words it starts with.
pub fn detail(error: &BusinessError) -> &str {
    let documented = documented_message(error.code);
    error
        .message
        .strip_prefix(documented)
        .and_then(|rest| rest.strip_prefix(": "))
        .unwrap_or(&error.message)
}

/// Why `ws connect` could not connect.
pub fn connect_failed(error: &BusinessError, flags: Flags) -> Explained {
    if let Some(net) = net_error(error) {
        return transport(net, flags);
    }
    match error.code {
        code::URL_ERROR => Explained::new(format!("not a WebSocket URL: {}", detail(error)))
            .hint("write it as ws://HOST[:PORT][/PATH] or wss://HOST[:PORT][/PATH]"),
        code::CERT_FILE_NOT_EXIST => Explained::new(detail(error).to_owned())
            .hint("check the file given to --ca, --cert or --key"),
        _ => Explained::new(detail(error).to_owned()),
    }
}

/// Why an open connection failed.
pub fn connection_lost(error: &BusinessError) -> Explained {
    match net_error(error) {
        Some(Error::Protocol(e)) => Explained::new(format!("the server broke the protocol: {e}")),
        Some(Error::ConnectionLost(why)) => Explained::new(why.clone()),
        Some(Error::Io(e)) => Explained::new(e.to_string()),
        Some(Error::Timeout(what)) => Explained::new(format!("{what} took too long")),
        Some(other) => Explained::new(other.to_string()),
        None => Explained::new(detail(error).to_owned()),
    }
}

/// A failure of the transport, TLS or handshake, for a client.
fn transport(
    error: &Error,
    #[cfg_attr(not(feature = "tls"), allow(unused))] flags: Flags,
) -> Explained {
    match error {
        Error::Url(e) => Explained::new(format!("not a WebSocket URL: {e}"))
            .hint("write it as ws://HOST[:PORT][/PATH] or wss://HOST[:PORT][/PATH]"),
        Error::Resolve { host, source } => {
            Explained::new(format!("cannot find the host {host:?} ({source})"))
                .hint("check the host name in the URL")
        }
        Error::Connect { target, source } if source.kind() == ErrorKind::ConnectionRefused => {
            Explained::new(format!(
                "nothing is listening on {target} (connection refused)"
            ))
            .hint("is the server running? (`ws serve` starts one on 127.0.0.1:9001)")
        }
        Error::Connect { target, source } => {
            Explained::new(format!("cannot reach {target}: {source}"))
        }
        Error::Timeout(what) => Explained::new(format!("{what} took too long")),
        Error::Proxy(e) => Explained::new(format!("the proxy failed: {e}"))
            .hint("--proxy none connects directly; --proxy URL names another proxy"),
        Error::Response(e) => match e.status() {
            Some(status) => response_status(e, status),
            None => Explained::new(format!(
                "the server's answer is not a WebSocket handshake: {e}"
            )),
        },
        #[cfg(feature = "tls")]
        Error::Tls(e) => tls(e, flags),
        Error::FeatureDisabled { feature, what } => Explained::new(format!(
            "{what} needs the `{feature}` feature, which this ws was built without"
        ))
        .hint(format!("cargo install ws-cli --features {feature}")),
        other => Explained::new(other.to_string()),
    }
}

/// The server answered with HTTP instead of switching to WebSocket.
fn response_status(error: &ws_net::ws_proto::handshake::ResponseError, status: u16) -> Explained {
    use ws_net::ws_proto::handshake::ResponseError;
    let reason = match error {
        ResponseError::UnexpectedStatus(response) if !response.reason.is_empty() => {
            format!(" {}", response.reason)
        }
        _ => String::new(),
    };
    let what =
        format!("the server answered HTTP {status}{reason} instead of switching to WebSocket");
    let hint = match status {
        200..=299 | 404 => Some("check the URL's path: is it the server's WebSocket endpoint?"),
        401 | 407 => {
            Some("the server wants credentials: --auth USER:PASS or -H 'Authorization: ...'")
        }
        403 => {
            Some("the server refused this client: it may check --origin or credentials (--auth)")
        }
        426 => Some("the server wants another WebSocket version or a subprotocol (--protocol)"),
        503 => Some("the server is busy or at its connection limit; try again later"),
        _ => None,
    };
    match hint {
        Some(hint) => Explained::new(what).hint(hint),
        None => Explained::new(what),
    }
}

#[cfg(feature = "tls")]
fn tls(error: &ws_net::tls::TlsError, flags: Flags) -> Explained {
    use ws_net::tls::{PemFile, TlsError};
    let insecure = "-k/--insecure skips the check (anyone on the path can impersonate the server)";
    match error {
        TlsError::UnknownIssuer { .. } if flags.ca => Explained::new(
            "the server's certificate is not issued by the CA given with --ca",
        )
        .hint(format!(
            "give the CA that issued it (or the server's own certificate, if self-signed) with \
             --ca; {insecure}"
        )),
        TlsError::UnknownIssuer { .. } => Explained::new(
            "the server's certificate is not issued by a known certificate authority",
        )
        .hint(format!(
            "give its CA (or the certificate itself, if self-signed) with --ca FILE; {insecure}"
        )),
        TlsError::CaUsedAsEndEntity { .. } => Explained::new(
            "the server's certificate is a CA certificate (CA:TRUE) used as the server's own",
        )
        .hint(format!(
            "give that exact certificate with --ca to trust it as curl does; {insecure}"
        )),
        TlsError::NameMismatch { host, presented } if !presented.is_empty() => {
            Explained::new(format!(
                "the server's certificate is for {}, not {host}",
                presented.join(", ")
            ))
            .hint(format!(
                "connect with a name the certificate has; {insecure}"
            ))
        }
        TlsError::CertificateExpired { .. } => {
            Explained::new("the server's certificate has expired").hint(insecure)
        }
        TlsError::FileMissing { file, path } | TlsError::FileUnreadable { file, path, .. } => {
            let flag = match file {
                PemFile::CaCertificates => "--ca",
                PemFile::CertificateChain => "--cert",
                PemFile::PrivateKey => "--key",
                _ => "--ca, --cert or --key",
            };
            Explained::new(error.to_string()).hint(format!(
                "check the path given to {flag} ({})",
                path.display()
            ))
        }
        TlsError::KeyPasswordRequired { .. } => {
            Explained::new(error.to_string()).hint("give its password with --key-password")
        }
        other => Explained::new(format!("TLS failed: {other}")),
    }
}

/// Why `ws serve` could not start (or stop).
pub fn server_failed(error: &BusinessError) -> Explained {
    match net_error(error) {
        Some(Error::Listen { addr, source }) if source.kind() == ErrorKind::AddrInUse => {
            Explained::new(format!("{addr} is in use by another program"))
                .hint("pick another port with --listen PORT (0 picks a free one)")
        }
        Some(Error::Listen { addr, source }) if source.kind() == ErrorKind::AddrNotAvailable => {
            Explained::new(format!("{} is not an address of this machine", addr.ip()))
                .hint("listen on 127.0.0.1 (the default), ::1, or 0.0.0.0 for every address")
        }
        Some(Error::Listen { addr, source }) => {
            Explained::new(format!("cannot listen on {addr}: {source}"))
        }
        #[cfg(feature = "tls")]
        Some(Error::Tls(e)) => {
            Explained::new(format!("TLS: {e}")).hint("check the files given to --cert and --key")
        }
        Some(other) => Explained::new(other.to_string()),
        // The `broker` option (--broker) refused by ws-api.
        None if detail(error).starts_with("broker") => {
            if cfg!(feature = "redis") {
                // ws-pubsub's message says what a URL looks like.
                let why = detail(error).trim_start_matches("broker: ");
                Explained::new(format!("--broker: {why}"))
            } else {
                Explained::new("--broker needs Redis support, which this ws was built without")
                    .hint(
                        "build it with the `redis` feature: cargo install ws-cli --features redis",
                    )
            }
        }
        None => Explained::new(detail(error).to_owned()),
    }
}

/// The line for a client the server turned away, or `None` for an error of an open
/// connection (its close line says how it ended).
pub fn refused(error: &BusinessError, flags: Flags) -> Option<String> {
    use ws_net::server::Limit;
    // ws-api names the client first: "client ADDR: what went wrong".
    let (client, _) = detail(error)
        .strip_prefix("client ")
        .and_then(|rest| rest.split_once(": "))
        .unwrap_or(("a client", ""));
    let why = match net_error(error)? {
        Error::LimitExceeded(Limit::ConnectionsFromOneAddress { ip, limit }) => {
            format!("{ip} has {limit} connections already (raise --max-per-client)")
        }
        Error::LimitExceeded(Limit::ClientAddresses { limit }) => {
            format!("{limit} client addresses are connected already (raise --max-clients)")
        }
        Error::LimitExceeded(other) => other.to_string(),
        Error::Request(e) => format!("not a WebSocket upgrade request: {e}"),
        Error::Timeout(what) => format!("{what} took too long"),
        #[cfg(feature = "tls")]
        Error::Tls(e) => format!("TLS handshake failed: {e}"),
        Error::Io(e) => format!("the connection failed before the handshake: {e}"),
        _ => return None,
    };
    let answered = match error.data {
        Some(status) => format!(" (answered HTTP {status})"),
        None => String::new(),
    };
    let code = if flags.verbose {
        format!(" (error {})", error.code)
    } else {
        String::new()
    };
    Some(format!("refused {client}: {why}{answered}{code}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_words_are_left_out_and_the_code_only_shown_with_v() {
        let error = BusinessError::new(code::URL_ERROR, "the scheme must be ws or wss");
        assert_eq!(detail(&error), "the scheme must be ws or wss");
        let explained = connect_failed(&error, Flags::default());
        let quiet = explained.render("could not connect to http://x/", &error, Flags::default());
        assert!(!quiet.contains("2302001"), "{quiet}");
        assert!(!quiet.contains("Websocket url error"), "{quiet}");
        assert!(
            quiet.contains("not a WebSocket URL: the scheme must be ws or wss"),
            "{quiet}"
        );
        assert!(quiet.contains("hint: write it as ws://"), "{quiet}");
        let flags = Flags {
            verbose: true,
            ..Flags::default()
        };
        let loud = explained.render("could not connect to http://x/", &error, flags);
        assert!(loud.contains("(error 2302001)"), "{loud}");
    }
}
