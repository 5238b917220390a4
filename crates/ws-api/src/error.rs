//! `BusinessError` and the documented error codes.

use std::fmt;

/// The documented error codes.
pub mod code {
    /// Events: "Websocket connect failed" (every `error` event carries this code).
    pub const CONNECT_FAILED: i32 = 200;
    /// "Parameter error": an argument is invalid (a header, a close reason, a message too long).
    pub const PARAMETER_ERROR: i32 = 401;
    /// "Websocket url error".
    pub const URL_ERROR: i32 = 2302001;
    /// "Websocket certificate file does not exist".
    pub const CERT_FILE_NOT_EXIST: i32 = 2302002;
    /// "Websocket connection already exists": connect while connecting, open or closing.
    pub const CONNECTION_ALREADY_EXISTS: i32 = 2302003;
    /// "Can't listen on the given NIC".
    pub const CANNOT_LISTEN_ON_NIC: i32 = 2302004;
    /// "Can't listen on the given Port".
    pub const CANNOT_LISTEN_ON_PORT: i32 = 2302005;
    /// "websocket connection does not exist".
    pub const CONNECTION_NOT_EXIST: i32 = 2302006;
    /// "Websocket port already occupied".
    pub const PORT_OCCUPIED: i32 = 2302007;
    /// "It is not allowed to access this domain".
    pub const DOMAIN_NOT_ALLOWED: i32 = 2302998;
    /// "Websocket other unknown error".
    pub const UNKNOWN: i32 = 2302999;
}

/// The documented message of `code`.
pub fn documented_message(code: i32) -> &'static str {
    match code {
        code::CONNECT_FAILED => "Websocket connect failed",
        code::PARAMETER_ERROR => "Parameter error",
        code::URL_ERROR => "Websocket url error",
        code::CERT_FILE_NOT_EXIST => "Websocket certificate file does not exist",
        code::CONNECTION_ALREADY_EXISTS => "Websocket connection already exists",
        code::CANNOT_LISTEN_ON_NIC => "Can't listen on the given NIC",
        code::CANNOT_LISTEN_ON_PORT => "Can't listen on the given Port",
        code::CONNECTION_NOT_EXIST => "websocket connection does not exist",
        code::PORT_OCCUPIED => "Websocket port already occupied",
        code::DOMAIN_NOT_ALLOWED => "It is not allowed to access this domain",
        _ => "Websocket other unknown error",
    }
}

/// An error with a documented code, as the reference's `BusinessError`.
///
/// `message` starts with the code's documented text; what follows the colon says precisely what
/// went wrong. `data` is the HTTP status of a failed handshake, when there is one.
///
/// ```
/// use ws_api::{code, BusinessError};
///
/// let e = BusinessError::new(code::URL_ERROR, "the scheme must be ws or wss");
/// assert_eq!(e.code, 2302001);
/// assert_eq!(e.message, "Websocket url error: the scheme must be ws or wss");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessError {
    /// The documented code.
    pub code: i32,
    /// The documented text, then the details.
    pub message: String,
    /// The HTTP status of a failed handshake, if any.
    pub data: Option<u16>,
}

impl BusinessError {
    /// An error with `code` and `detail` after the documented text.
    pub fn new(code: i32, detail: impl fmt::Display) -> Self {
        BusinessError {
            code,
            message: format!("{}: {detail}", documented_message(code)),
            data: None,
        }
    }

    /// The same error carrying an HTTP status.
    pub fn with_data(mut self, status: Option<u16>) -> Self {
        self.data = status;
        self
    }
}

impl fmt::Display for BusinessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code)
    }
}

impl std::error::Error for BusinessError {}
