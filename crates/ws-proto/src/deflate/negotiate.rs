//! permessage-deflate negotiation (RFC 7692 §5, §7.1): the client's offer, the server's choice
//! among offers and its answer, and the client's check of that answer.
//!
//! `Sec-WebSocket-Extensions` values follow RFC 6455 §9.1 with RFC 7230 rules: a comma-separated
//! list of extensions, each a token followed by `;`-separated parameters, each a token with an
//! optional `=` value that is a token or a quoted string. Names compare case-insensitively and
//! whitespace is allowed around `,`, `;` and `=`.

use std::fmt;

use super::{compress_window, DeflateConfig, DeflateParams, MAX_WINDOW_BITS, MIN_WINDOW_BITS};
use crate::handshake::is_tchar;

/// The extension name.
pub(crate) const PERMESSAGE_DEFLATE: &str = "permessage-deflate";

const SERVER_NO_CONTEXT_TAKEOVER: &str = "server_no_context_takeover";
const CLIENT_NO_CONTEXT_TAKEOVER: &str = "client_no_context_takeover";
const SERVER_MAX_WINDOW_BITS: &str = "server_max_window_bits";
const CLIENT_MAX_WINDOW_BITS: &str = "client_max_window_bits";

/// Why a client refuses the server's permessage-deflate answer (inside
/// [`ResponseError::Deflate`](crate::handshake::ResponseError::Deflate)).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NegotiationError {
    /// An element of `Sec-WebSocket-Extensions` is not `name *(; param[=value])` syntax.
    Malformed(String),
    /// The server answered permessage-deflate more than once (the elements, comma-joined).
    Duplicate(String),
    /// A parameter appears more than once in the answer.
    DuplicateParameter(String),
    /// A parameter RFC 7692 does not define.
    UnknownParameter(String),
    /// A parameter has a value it must not have, lacks one it must have, or its value is not
    /// allowed (window sizes are `8` to `15`).
    InvalidValue {
        /// The parameter.
        parameter: String,
        /// Its value as sent (unquoted), `None` when it had none.
        value: Option<String>,
    },
    /// `client_max_window_bits` in an answer to an offer that did not include it.
    Unoffered(String),
    /// The server's window (`server_max_window_bits`, 15 when absent) is larger than requested.
    WindowTooLarge {
        /// The window the client asked for.
        requested: u8,
        /// The window the server answered.
        answered: u8,
    },
    /// The client asked for `server_no_context_takeover` and the answer lacks it.
    NotAccepted(&'static str),
}

impl fmt::Display for NegotiationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(e) => write!(f, "malformed Sec-WebSocket-Extensions element {e:?}"),
            Self::Duplicate(e) => {
                write!(f, "the server accepted permessage-deflate more than once: {e:?}")
            }
            Self::DuplicateParameter(p) => {
                write!(f, "permessage-deflate parameter {p:?} appears more than once")
            }
            Self::UnknownParameter(p) => {
                write!(f, "unknown permessage-deflate parameter {p:?}")
            }
            Self::InvalidValue {
                parameter,
                value: Some(v),
            } => write!(
                f,
                "invalid value {v:?} for permessage-deflate parameter {parameter:?}"
            ),
            Self::InvalidValue {
                parameter,
                value: None,
            } => write!(
                f,
                "permessage-deflate parameter {parameter:?} requires a value (8 to 15)"
            ),
            Self::Unoffered(p) => write!(
                f,
                "the server answered permessage-deflate parameter {p:?}, which the client did not offer"
            ),
            Self::WindowTooLarge {
                requested,
                answered,
            } => write!(
                f,
                "the server's permessage-deflate window is {answered} bits but the client asked for at most {requested}"
            ),
            Self::NotAccepted(p) => write!(
                f,
                "the server accepted permessage-deflate without {p}, which the client asked for"
            ),
        }
    }
}

impl std::error::Error for NegotiationError {}

/// One element of a `Sec-WebSocket-Extensions` list: an extension name and its parameters,
/// values unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Extension {
    pub(crate) name: String,
    pub(crate) params: Vec<(String, Option<String>)>,
}

/// Splits a `Sec-WebSocket-Extensions` value at the commas outside quoted strings; elements are
/// trimmed and empty ones skipped (RFC 7230 §7).
pub(crate) fn split_elements(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in value.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&value[start..]);
    out.into_iter()
        .map(|e| e.trim_matches([' ', '\t']))
        .filter(|e| !e.is_empty())
        .collect()
}

/// Parses one element (`name *( OWS ";" OWS param [ OWS "=" OWS value ] )`), `None` when its
/// syntax is invalid.
pub(crate) fn parse_element(element: &str) -> Option<Extension> {
    let mut p = Parser {
        rest: element.as_bytes(),
    };
    p.skip_ws();
    let name = p.token()?;
    let mut params = Vec::new();
    loop {
        p.skip_ws();
        if p.rest.is_empty() {
            break;
        }
        if !p.eat(b';') {
            return None;
        }
        p.skip_ws();
        let param = p.token()?;
        p.skip_ws();
        let value = if p.eat(b'=') {
            p.skip_ws();
            Some(if p.rest.first() == Some(&b'"') {
                p.quoted()?
            } else {
                p.token()?
            })
        } else {
            None
        };
        params.push((param, value));
    }
    Some(Extension { name, params })
}

struct Parser<'a> {
    rest: &'a [u8],
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while let [b' ' | b'\t', tail @ ..] = self.rest {
            self.rest = tail;
        }
    }

    fn eat(&mut self, byte: u8) -> bool {
        match self.rest {
            [b, tail @ ..] if *b == byte => {
                self.rest = tail;
                true
            }
            _ => false,
        }
    }

    fn token(&mut self) -> Option<String> {
        let len = self.rest.iter().take_while(|&&b| is_tchar(b)).count();
        if len == 0 {
            return None;
        }
        let (token, tail) = self.rest.split_at(len);
        self.rest = tail;
        Some(String::from_utf8_lossy(token).into_owned())
    }

    /// A quoted string (RFC 7230 §3.2.6), unescaped; the opening quote is next.
    fn quoted(&mut self) -> Option<String> {
        let mut out = Vec::new();
        let mut bytes = self.rest.iter().enumerate().skip(1);
        while let Some((i, &b)) = bytes.next() {
            match b {
                b'"' => {
                    self.rest = self.rest.get(i + 1..).unwrap_or_default();
                    return Some(String::from_utf8_lossy(&out).into_owned());
                }
                b'\\' => {
                    let (_, &escaped) = bytes.next()?;
                    if escaped != b'\t' && (escaped < 0x20 || escaped == 0x7f) {
                        return None;
                    }
                    out.push(escaped);
                }
                b'\t' | b' '..=b'~' | 0x80..=0xff => out.push(b),
                _ => return None,
            }
        }
        None
    }
}

/// A window size as RFC 7692 §7.1.2 writes it: `8` to `15`, no sign, no leading zero.
fn window_bits(value: &str) -> Option<u8> {
    let bits: u8 = value.parse().ok()?;
    let canonical = !value.starts_with(['0', '+']);
    (canonical && (MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&bits)).then_some(bits)
}

/// A permessage-deflate offer or answer, its parameters checked for duplicates, unknown names
/// and values (but not yet against the other side's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Parsed {
    pub(crate) server_no_context_takeover: bool,
    pub(crate) client_no_context_takeover: bool,
    pub(crate) server_max_window_bits: Option<u8>,
    /// `Some(None)`: the parameter without a value.
    pub(crate) client_max_window_bits: Option<Option<u8>>,
}

impl Parsed {
    fn from_params(params: &[(String, Option<String>)]) -> Result<Self, NegotiationError> {
        let mut parsed = Parsed::default();
        let mut seen: Vec<String> = Vec::new();
        for (name, value) in params {
            let lower = name.to_ascii_lowercase();
            if seen.contains(&lower) {
                return Err(NegotiationError::DuplicateParameter(name.clone()));
            }
            let invalid = || NegotiationError::InvalidValue {
                parameter: name.clone(),
                value: value.clone(),
            };
            let bits = || value.as_deref().and_then(window_bits).ok_or_else(invalid);
            match lower.as_str() {
                SERVER_NO_CONTEXT_TAKEOVER | CLIENT_NO_CONTEXT_TAKEOVER if value.is_some() => {
                    return Err(invalid())
                }
                SERVER_NO_CONTEXT_TAKEOVER => parsed.server_no_context_takeover = true,
                CLIENT_NO_CONTEXT_TAKEOVER => parsed.client_no_context_takeover = true,
                SERVER_MAX_WINDOW_BITS => parsed.server_max_window_bits = Some(bits()?),
                CLIENT_MAX_WINDOW_BITS if value.is_none() => {
                    parsed.client_max_window_bits = Some(None);
                }
                CLIENT_MAX_WINDOW_BITS => parsed.client_max_window_bits = Some(Some(bits()?)),
                _ => return Err(NegotiationError::UnknownParameter(name.clone())),
            }
            seen.push(lower);
        }
        Ok(parsed)
    }
}

/// What a client configured with `config` offers.
pub(crate) fn offer(config: &DeflateConfig) -> Parsed {
    Parsed {
        server_no_context_takeover: config.server_no_context_takeover,
        client_no_context_takeover: config.client_no_context_takeover,
        server_max_window_bits: config.server_max_window_bits.map(compress_window),
        client_max_window_bits: Some(config.client_max_window_bits.map(compress_window)),
    }
}

/// The `Sec-WebSocket-Extensions` value of an offer or answer.
pub(crate) fn header_value(parsed: &Parsed) -> String {
    let mut value = PERMESSAGE_DEFLATE.to_owned();
    if parsed.server_no_context_takeover {
        value += "; server_no_context_takeover";
    }
    if parsed.client_no_context_takeover {
        value += "; client_no_context_takeover";
    }
    if let Some(bits) = parsed.server_max_window_bits {
        value += &format!("; server_max_window_bits={bits}");
    }
    match parsed.client_max_window_bits {
        Some(Some(bits)) => value += &format!("; client_max_window_bits={bits}"),
        Some(None) => value += "; client_max_window_bits",
        None => {}
    }
    value
}

/// Checks the server's `Sec-WebSocket-Extensions` elements against the client's `offer`:
/// `Ok(None)` when there are none (the server declined), the agreed parameters when there is
/// exactly one valid permessage-deflate answer. An element naming another extension is returned
/// as `Err(Err(element))`, for the caller to report as an unrequested extension.
pub(crate) fn check_answer(
    offer: &Parsed,
    elements: &[&str],
) -> Result<Option<DeflateParams>, Result<NegotiationError, String>> {
    let mut answer = None;
    for element in elements {
        let Some(ext) = parse_element(element) else {
            return Err(Ok(NegotiationError::Malformed((*element).to_owned())));
        };
        if !ext.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE) {
            return Err(Err((*element).to_owned()));
        }
        if answer.is_some() {
            return Err(Ok(NegotiationError::Duplicate(elements.join(", "))));
        }
        answer = Some(ext);
    }
    let Some(ext) = answer else {
        return Ok(None);
    };
    let answered = Parsed::from_params(&ext.params).map_err(Ok)?;
    agree(offer, &answered).map(Some).map_err(Ok)
}

fn agree(offer: &Parsed, answered: &Parsed) -> Result<DeflateParams, NegotiationError> {
    if offer.server_no_context_takeover && !answered.server_no_context_takeover {
        return Err(NegotiationError::NotAccepted(SERVER_NO_CONTEXT_TAKEOVER));
    }
    let requested = offer.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS);
    let server_window = answered.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS);
    if server_window > requested {
        return Err(NegotiationError::WindowTooLarge {
            requested,
            answered: server_window,
        });
    }
    let own_window = offer.client_max_window_bits.flatten();
    let client_window = match (
        offer.client_max_window_bits,
        answered.client_max_window_bits,
    ) {
        (_, None) => own_window.unwrap_or(MAX_WINDOW_BITS),
        (None, Some(_)) => {
            return Err(NegotiationError::Unoffered(CLIENT_MAX_WINDOW_BITS.into()));
        }
        (Some(_), Some(None)) => {
            return Err(NegotiationError::InvalidValue {
                parameter: CLIENT_MAX_WINDOW_BITS.into(),
                value: None,
            })
        }
        // A server may ignore the value offered: the client keeps to the smaller one.
        (Some(_), Some(Some(bits))) => bits.min(own_window.unwrap_or(MAX_WINDOW_BITS)),
    };
    Ok(DeflateParams {
        server_no_context_takeover: answered.server_no_context_takeover,
        client_no_context_takeover: offer.client_no_context_takeover
            || answered.client_no_context_takeover,
        server_max_window_bits: server_window,
        client_max_window_bits: client_window,
    })
}

/// The valid permessage-deflate offers among a request's extension elements, in order.
pub(crate) fn offers<'a>(elements: impl IntoIterator<Item = &'a String>) -> Vec<Parsed> {
    elements
        .into_iter()
        .filter_map(|e| parse_element(e))
        .filter(|ext| ext.name.eq_ignore_ascii_case(PERMESSAGE_DEFLATE))
        .filter_map(|ext| Parsed::from_params(&ext.params).ok())
        .collect()
}

/// What a server configured with `config` agrees to for `offer`, `None` when it declines it.
pub(crate) fn choose(offer: &Parsed, config: &DeflateConfig) -> Option<DeflateParams> {
    let own_server = config
        .server_max_window_bits
        .map_or(MAX_WINDOW_BITS, compress_window);
    let server_window = match offer.server_max_window_bits {
        // Our compressor cannot keep to an 8-bit window.
        Some(bits) if bits < super::MIN_COMPRESS_WINDOW_BITS => return None,
        Some(bits) => bits.min(own_server),
        None => own_server,
    };
    let client_window = match offer.client_max_window_bits {
        None => MAX_WINDOW_BITS,
        Some(offered) => offered.unwrap_or(MAX_WINDOW_BITS).min(
            config
                .client_max_window_bits
                .map_or(MAX_WINDOW_BITS, compress_window),
        ),
    };
    Some(DeflateParams {
        server_no_context_takeover: config.server_no_context_takeover
            || offer.server_no_context_takeover,
        client_no_context_takeover: config.client_no_context_takeover
            || offer.client_no_context_takeover,
        server_max_window_bits: server_window,
        client_max_window_bits: client_window,
    })
}

/// The server's answer to `offer` agreeing on `params`, `None` when `params` are not a valid
/// answer to it (RFC 7692 §7.1).
pub(crate) fn answer(offer: &Parsed, params: &DeflateParams) -> Option<Parsed> {
    let valid_window = |b: u8| (MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&b);
    let requested = offer.server_max_window_bits.unwrap_or(MAX_WINDOW_BITS);
    let client_limit = offer.client_max_window_bits.flatten();
    let ok = valid_window(params.server_max_window_bits)
        && valid_window(params.client_max_window_bits)
        && params.server_max_window_bits <= requested
        && (params.server_no_context_takeover || !offer.server_no_context_takeover)
        && (params.client_no_context_takeover || !offer.client_no_context_takeover)
        && (params.client_max_window_bits == client_limit.unwrap_or(MAX_WINDOW_BITS)
            || (offer.client_max_window_bits.is_some()
                && params.client_max_window_bits < client_limit.unwrap_or(MAX_WINDOW_BITS)));
    ok.then(|| Parsed {
        server_no_context_takeover: params.server_no_context_takeover,
        client_no_context_takeover: params.client_no_context_takeover,
        server_max_window_bits: (offer.server_max_window_bits.is_some()
            || params.server_max_window_bits < MAX_WINDOW_BITS)
            .then_some(params.server_max_window_bits),
        client_max_window_bits: (params.client_max_window_bits < MAX_WINDOW_BITS
            && offer.client_max_window_bits.is_some())
        .then_some(Some(params.client_max_window_bits)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handshake::{
        Accept, ClientHandshake, ClientRequest, HandshakeError, InputError, Request, ResponseError,
        ServerHandshake,
    };

    fn ext(name: &str, params: &[(&str, Option<&str>)]) -> Extension {
        Extension {
            name: name.into(),
            params: params
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.map(str::to_owned)))
                .collect(),
        }
    }

    fn params(snct: bool, cnct: bool, server: u8, client: u8) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: snct,
            client_no_context_takeover: cnct,
            server_max_window_bits: server,
            client_max_window_bits: client,
        }
    }

    /// A server request carrying `extensions` as its `Sec-WebSocket-Extensions` lines.
    fn request(extensions: &[&str]) -> Request {
        let mut raw = "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
            .to_owned();
        for e in extensions {
            raw += &format!("Sec-WebSocket-Extensions: {e}\r\n");
        }
        raw += "\r\n";
        ServerHandshake::default()
            .receive_data(raw.as_bytes())
            .unwrap()
            .unwrap()
    }

    fn choose(extensions: &[&str], config: &DeflateConfig) -> Option<DeflateParams> {
        request(extensions).choose_deflate(config)
    }

    #[test]
    fn splits_elements_outside_quotes() {
        assert_eq!(
            split_elements(r#" a; x="1,2" ,, b ;y="q\",", c"#),
            ["a; x=\"1,2\"", r#"b ;y="q\",""#, "c"]
        );
        assert_eq!(split_elements(" , "), Vec::<&str>::new());
        assert_eq!(split_elements(r#"a; x="open, b"#), [r#"a; x="open, b"#]);
    }

    #[test]
    fn parses_tokens_and_quoted_strings() {
        assert_eq!(
            parse_element("permessage-deflate").unwrap(),
            ext("permessage-deflate", &[])
        );
        assert_eq!(
            parse_element("Permessage-Deflate ;\tclient_max_window_bits = \"10\" ; SERVER_no_context_takeover")
                .unwrap(),
            ext(
                "Permessage-Deflate",
                &[
                    ("client_max_window_bits", Some("10")),
                    ("SERVER_no_context_takeover", None)
                ]
            )
        );
        assert_eq!(
            parse_element(r#"x; a="q\"\\ z"; b=tok"#).unwrap(),
            ext("x", &[("a", Some(r#"q"\ z"#)), ("b", Some("tok"))])
        );
        for bad in [
            "",
            "; a",
            "x;",
            "x; a=",
            "x a",
            "x; a b",
            "x; a=\"open",
            "x; a=\"q\"z",
            "x; =1",
            "x; a=1=2",
            "x; a=\"\u{1}\"",
            "x/y",
        ] {
            assert_eq!(parse_element(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn window_values_are_8_to_15_written_plainly() {
        for (text, bits) in [("8", Some(8)), ("15", Some(15)), ("9", Some(9))] {
            assert_eq!(window_bits(text), bits);
        }
        for bad in ["7", "16", "08", "+9", "-9", "", "1 0", "0x9", "256"] {
            assert_eq!(window_bits(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn parameters_checked() {
        let p = |params: &[(&str, Option<&str>)]| {
            Parsed::from_params(&ext("permessage-deflate", params).params)
        };
        assert_eq!(
            p(&[
                ("Server_No_Context_Takeover", None),
                ("client_max_window_bits", None),
                ("server_max_window_bits", Some("10")),
            ]),
            Ok(Parsed {
                server_no_context_takeover: true,
                client_no_context_takeover: false,
                server_max_window_bits: Some(10),
                client_max_window_bits: Some(None),
            })
        );
        assert_eq!(
            p(&[
                ("client_max_window_bits", None),
                ("CLIENT_MAX_WINDOW_BITS", Some("9"))
            ]),
            Err(NegotiationError::DuplicateParameter(
                "CLIENT_MAX_WINDOW_BITS".into()
            ))
        );
        assert_eq!(
            p(&[("mux", None)]),
            Err(NegotiationError::UnknownParameter("mux".into()))
        );
        for (name, value) in [
            ("server_no_context_takeover", Some("1")),
            ("client_no_context_takeover", Some("")),
            ("server_max_window_bits", None),
            ("server_max_window_bits", Some("16")),
            ("client_max_window_bits", Some("7")),
        ] {
            assert_eq!(
                p(&[(name, value)]),
                Err(NegotiationError::InvalidValue {
                    parameter: name.into(),
                    value: value.map(str::to_owned)
                })
            );
        }
    }

    #[test]
    fn offer_header_values() {
        assert_eq!(
            header_value(&offer(&DeflateConfig::default())),
            "permessage-deflate; client_max_window_bits"
        );
        let config = DeflateConfig::default()
            .server_no_context_takeover(true)
            .client_no_context_takeover(true)
            .server_max_window_bits(Some(10))
            .client_max_window_bits(Some(12));
        assert_eq!(
            header_value(&offer(&config)),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=12"
        );
        // Fields set directly are brought into the range this endpoint supports.
        let config = DeflateConfig {
            server_max_window_bits: Some(3),
            client_max_window_bits: Some(40),
            ..DeflateConfig::default()
        };
        assert_eq!(
            header_value(&offer(&config)),
            "permessage-deflate; server_max_window_bits=9; client_max_window_bits=15"
        );
    }

    #[test]
    fn server_chooses_autobahn_like_offers() {
        let ours = DeflateConfig::default();
        let cases = [
            ("permessage-deflate", params(false, false, 15, 15)),
            (
                "permessage-deflate; client_max_window_bits",
                params(false, false, 15, 15),
            ),
            (
                "permessage-deflate; server_max_window_bits=9",
                params(false, false, 9, 15),
            ),
            (
                "permessage-deflate; client_no_context_takeover",
                params(false, true, 15, 15),
            ),
            (
                "permessage-deflate; server_no_context_takeover",
                params(true, false, 15, 15),
            ),
            (
                "permessage-deflate; client_max_window_bits=10",
                params(false, false, 15, 10),
            ),
            (
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=12; client_max_window_bits=11",
                params(true, true, 12, 11),
            ),
        ];
        for (offer, expected) in cases {
            assert_eq!(choose(&[offer], &ours), Some(expected), "{offer}");
        }
        assert_eq!(choose(&[], &ours), None);
        assert_eq!(choose(&["x-webkit-deflate-frame"], &ours), None);
        assert_eq!(
            choose(&["x-webkit-deflate-frame; no_context_takeover"], &ours),
            None
        );
    }

    #[test]
    fn server_declines_bad_offers_and_takes_the_first_acceptable() {
        let ours = DeflateConfig::default();
        for bad in [
            "permessage-deflate; server_max_window_bits=8",
            "permessage-deflate; client_max_window_bits; client_max_window_bits",
            "permessage-deflate; unknown",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=08",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_max_window_bits=\"10",
            "permessage-deflate client_max_window_bits",
        ] {
            assert_eq!(choose(&[bad], &ours), None, "{bad}");
        }
        // Several offers in one header and across headers: the first acceptable wins.
        let got = choose(
            &[
                "x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=8",
                "permessage-deflate; unknown, PERMESSAGE-DEFLATE; server_max_window_bits=\"10\"",
                "permessage-deflate",
            ],
            &ours,
        );
        assert_eq!(got, Some(params(false, false, 10, 15)));
    }

    #[test]
    fn server_configuration_shapes_the_answer() {
        let ours = DeflateConfig::default()
            .server_no_context_takeover(true)
            .client_no_context_takeover(true)
            .server_max_window_bits(Some(11))
            .client_max_window_bits(Some(12));
        let cases = [
            ("permessage-deflate", params(true, true, 11, 15)),
            (
                "permessage-deflate; client_max_window_bits",
                params(true, true, 11, 12),
            ),
            (
                "permessage-deflate; client_max_window_bits=10; server_max_window_bits=13",
                params(true, true, 11, 10),
            ),
            (
                "permessage-deflate; server_max_window_bits=9",
                params(true, true, 9, 15),
            ),
        ];
        for (offer, expected) in cases {
            assert_eq!(choose(&[offer], &ours), Some(expected), "{offer}");
        }
    }

    fn answer_text(offer: &str, p: DeflateParams) -> Result<String, InputError> {
        let req = request(&[offer]);
        let bytes = req.accept(&Accept::default().deflate(Some(p)))?;
        let text = String::from_utf8(bytes).unwrap();
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Extensions: "))
            .unwrap()
            .to_owned())
    }

    #[test]
    fn server_answers() {
        let def = DeflateParams::default();
        assert_eq!(
            answer_text("permessage-deflate", def).unwrap(),
            "permessage-deflate"
        );
        assert_eq!(
            answer_text("permessage-deflate; server_max_window_bits=15", def).unwrap(),
            "permessage-deflate; server_max_window_bits=15"
        );
        assert_eq!(
            answer_text(
                "permessage-deflate; client_max_window_bits",
                params(true, true, 10, 9)
            )
            .unwrap(),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
             server_max_window_bits=10; client_max_window_bits=9"
        );
        // Parameters that answer no offer are the caller's mistake.
        for (offer, p) in [
            ("x-other", def),
            ("permessage-deflate", params(false, false, 15, 9)),
            ("permessage-deflate; server_max_window_bits=10", def),
            ("permessage-deflate; server_no_context_takeover", def),
            ("permessage-deflate; client_no_context_takeover", def),
            (
                "permessage-deflate; client_max_window_bits=10",
                params(false, false, 15, 11),
            ),
            ("permessage-deflate", params(false, false, 7, 15)),
        ] {
            assert_eq!(
                answer_text(offer, p),
                Err(InputError::UnofferedDeflate(p)),
                "{offer} {p:?}"
            );
        }
        let req = request(&[]);
        assert_eq!(
            req.accept(&Accept::default().deflate(Some(def))),
            Err(InputError::UnofferedDeflate(def))
        );
    }

    fn client_result(
        config: Option<&DeflateConfig>,
        answer: &[&str],
    ) -> Result<Option<DeflateParams>, HandshakeError> {
        let request = ClientRequest::from_url("ws://h/").unwrap().deflate(config);
        let mut client = ClientHandshake::with_key(&request, *b"the sample nonce");
        let mut raw =
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                .to_owned();
        for a in answer {
            raw += &format!("Sec-WebSocket-Extensions: {a}\r\n");
        }
        raw += "\r\n";
        client
            .receive_data(raw.as_bytes())
            .map(|done| done.unwrap().response.deflate)
    }

    fn client_error(config: &DeflateConfig, answer: &[&str]) -> ResponseError {
        match client_result(Some(config), answer) {
            Err(HandshakeError::Response(e)) => e,
            other => panic!("{answer:?}: {other:?}"),
        }
    }

    #[test]
    fn client_accepts_valid_answers() {
        let def = DeflateConfig::default();
        let cases = [
            (&[][..], None),
            (&["permessage-deflate"][..], Some(DeflateParams::default())),
            (
                &["Permessage-Deflate ; server_max_window_bits = \"8\" ; client_max_window_bits=9"][..],
                Some(params(false, false, 8, 9)),
            ),
            (
                &["permessage-deflate; server_no_context_takeover; client_no_context_takeover"][..],
                Some(params(true, true, 15, 15)),
            ),
            (&["", "permessage-deflate, "][..], Some(DeflateParams::default())),
        ];
        for (answer, expected) in cases {
            assert_eq!(
                client_result(Some(&def), answer),
                Ok(expected),
                "{answer:?}"
            );
        }
        // The client keeps to its own smaller window and its own no-context-takeover.
        let ours = DeflateConfig::default()
            .client_max_window_bits(Some(10))
            .client_no_context_takeover(true)
            .server_max_window_bits(Some(12));
        assert_eq!(
            client_result(
                Some(&ours),
                &["permessage-deflate; client_max_window_bits=12; server_max_window_bits=11"]
            ),
            Ok(Some(params(false, true, 11, 10)))
        );
    }

    #[test]
    fn client_refuses_invalid_answers() {
        let def = DeflateConfig::default();
        let deflate = |e| ResponseError::Deflate(e);
        let cases = [
            (
                &["x-webkit-deflate-frame"][..],
                ResponseError::UnrequestedExtension("x-webkit-deflate-frame".into()),
            ),
            (
                &["permessage-deflate, x-foo; a=1"][..],
                ResponseError::UnrequestedExtension("x-foo; a=1".into()),
            ),
            (
                &["permessage-deflate", "permessage-deflate"][..],
                deflate(NegotiationError::Duplicate(
                    "permessage-deflate, permessage-deflate".into(),
                )),
            ),
            (
                &["permessage-deflate; server_no_context_takeover; server_no_context_takeover"][..],
                deflate(NegotiationError::DuplicateParameter(
                    "server_no_context_takeover".into(),
                )),
            ),
            (
                &["permessage-deflate; x"][..],
                deflate(NegotiationError::UnknownParameter("x".into())),
            ),
            (
                &["permessage-deflate; server_max_window_bits=7"][..],
                deflate(NegotiationError::InvalidValue {
                    parameter: "server_max_window_bits".into(),
                    value: Some("7".into()),
                }),
            ),
            (
                &["permessage-deflate; client_max_window_bits"][..],
                deflate(NegotiationError::InvalidValue {
                    parameter: "client_max_window_bits".into(),
                    value: None,
                }),
            ),
            (
                &["permessage-deflate;"][..],
                deflate(NegotiationError::Malformed("permessage-deflate;".into())),
            ),
        ];
        for (answer, expected) in cases {
            let err = client_error(&def, answer);
            assert_eq!(err, expected, "{answer:?}");
            assert!(!err.to_string().is_empty());
        }
        let asks = DeflateConfig::default()
            .server_no_context_takeover(true)
            .server_max_window_bits(Some(10));
        assert_eq!(
            client_error(&asks, &["permessage-deflate; server_max_window_bits=10"]),
            deflate(NegotiationError::NotAccepted("server_no_context_takeover"))
        );
        assert_eq!(
            client_error(
                &asks,
                &["permessage-deflate; server_no_context_takeover; server_max_window_bits=11"]
            ),
            deflate(NegotiationError::WindowTooLarge {
                requested: 10,
                answered: 11
            })
        );
        assert_eq!(
            client_error(&asks, &["permessage-deflate; server_no_context_takeover"]),
            deflate(NegotiationError::WindowTooLarge {
                requested: 10,
                answered: 15
            })
        );
        // Without an offer, any extension is refused.
        assert_eq!(
            client_result(None, &["permessage-deflate"]),
            Err(HandshakeError::Response(
                ResponseError::UnrequestedExtension("permessage-deflate".into())
            ))
        );
    }

    #[test]
    fn client_window_needs_an_offer() {
        let offer = Parsed::default();
        assert_eq!(
            check_answer(&offer, &["permessage-deflate; client_max_window_bits=10"]),
            Err(Ok(NegotiationError::Unoffered(
                "client_max_window_bits".into()
            )))
        );
    }

    /// The client's offer read by the server, and the server's answer checked by the client,
    /// agree on the same parameters.
    #[test]
    fn round_trips_agree() {
        let windows = [None, Some(9), Some(12), Some(15)];
        let mut configs = Vec::new();
        for snct in [false, true] {
            for cnct in [false, true] {
                for server in windows {
                    for client in windows {
                        configs.push(
                            DeflateConfig::default()
                                .server_no_context_takeover(snct)
                                .client_no_context_takeover(cnct)
                                .server_max_window_bits(server)
                                .client_max_window_bits(client),
                        );
                    }
                }
            }
        }
        let servers = [
            DeflateConfig::default(),
            DeflateConfig::default()
                .server_no_context_takeover(true)
                .client_no_context_takeover(true)
                .server_max_window_bits(Some(10))
                .client_max_window_bits(Some(11)),
            DeflateConfig::default().client_max_window_bits(Some(14)),
        ];
        for client_config in &configs {
            for server_config in &servers {
                let request = ClientRequest::from_url("ws://h/")
                    .unwrap()
                    .deflate(Some(client_config));
                let mut client = ClientHandshake::new(&request);
                let req = ServerHandshake::default()
                    .receive_data(client.request_bytes())
                    .unwrap()
                    .unwrap();
                let chosen = req.choose_deflate(server_config);
                assert!(chosen.is_some());
                let answer = req.accept(&Accept::default().deflate(chosen)).unwrap();
                let done = client.receive_data(&answer).unwrap().unwrap();
                assert_eq!(
                    done.response.deflate, chosen,
                    "{client_config:?} {server_config:?}"
                );
            }
        }
    }
}
