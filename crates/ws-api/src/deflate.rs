//! The `permessage_deflate` option of clients and servers: an extension of the documented API,
//! which (like OpenHarmony) negotiates no extension by default.

use ws_proto::deflate::DeflateConfig;

/// Extension: permessage-deflate (RFC 7692) settings, for
/// [`WebSocketRequestOptions::permessage_deflate`](crate::client::WebSocketRequestOptions::permessage_deflate)
/// and [`WebSocketServerConfig::permessage_deflate`](crate::server::WebSocketServerConfig::permessage_deflate).
/// A client offers the extension with them; a server accepts a client's offer with them. When
/// both sides agree, messages are compressed.
///
/// Memory: a compressing connection holds a compressor of about 256 KiB (15-bit window) and an
/// inflater of 32 to 40 KiB, allocated on its first compressed message.
///
/// ```
/// use ws_api::client::{PermessageDeflate, WebSocketRequestOptions};
///
/// let options = WebSocketRequestOptions {
///     permessage_deflate: Some(PermessageDeflate {
///         client_max_window_bits: Some(10),
///         ..Default::default()
///     }),
///     ..Default::default()
/// };
/// # let _ = options;
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermessageDeflate {
    /// The server compresses each message on its own (asked for by a client, imposed by a
    /// server). Default `false`.
    pub server_no_context_takeover: bool,
    /// The client compresses each message on its own (declared by a client, asked for by a
    /// server). Default `false`.
    pub client_no_context_takeover: bool,
    /// The server's LZ77 window, 9 to 15 bits (values outside are brought into that range):
    /// asked for by a client, the most a server uses. Default `None`: 15.
    pub server_max_window_bits: Option<u8>,
    /// The client's LZ77 window, 9 to 15 bits: the most a client uses, asked for by a server.
    /// Default `None`: 15.
    pub client_max_window_bits: Option<u8>,
    /// Compression level, 0 to 9. Default `None`: 6.
    pub level: Option<u32>,
    /// Messages shorter than this many bytes are sent uncompressed. Default `None`: all are
    /// compressed.
    pub threshold: Option<usize>,
}

impl PermessageDeflate {
    /// The ws-proto settings.
    pub(crate) fn to_config(&self) -> DeflateConfig {
        let mut config = DeflateConfig::default()
            .server_no_context_takeover(self.server_no_context_takeover)
            .client_no_context_takeover(self.client_no_context_takeover)
            .server_max_window_bits(self.server_max_window_bits)
            .client_max_window_bits(self.client_max_window_bits)
            .threshold(self.threshold.unwrap_or(0));
        if let Some(level) = self.level {
            config = config.level(level);
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_become_ws_proto_ones() {
        assert_eq!(
            PermessageDeflate::default().to_config(),
            DeflateConfig::default()
        );
        let option = PermessageDeflate {
            server_no_context_takeover: true,
            client_no_context_takeover: true,
            server_max_window_bits: Some(4),
            client_max_window_bits: Some(12),
            level: Some(42),
            threshold: Some(128),
        };
        let expected = DeflateConfig::default()
            .server_no_context_takeover(true)
            .client_no_context_takeover(true)
            .server_max_window_bits(Some(9))
            .client_max_window_bits(Some(12))
            .level(9)
            .threshold(128);
        assert_eq!(option.to_config(), expected);
    }
}
