//! Which end of the connection we are.

/// The side of a WebSocket connection. It decides masking: clients mask every frame they send and
/// servers must reject unmasked frames; servers never mask and clients must reject masked frames
/// (RFC 6455 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The end that sent the opening handshake request.
    Client,
    /// The end that accepted it.
    Server,
}

impl Role {
    /// The other side.
    pub fn peer(self) -> Role {
        match self {
            Role::Client => Role::Server,
            Role::Server => Role::Client,
        }
    }
}
