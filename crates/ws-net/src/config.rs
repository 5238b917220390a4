//! Settings of a connection: the protocol's, the heartbeat's and the buffers'.

use std::time::Duration;

/// Settings of a [`Connection`](crate::Connection).
///
/// Built from [`ConnectionConfig::default`] with the setters below; a new setting arrives with a
/// default that keeps today's behaviour, so code written against this type keeps compiling.
///
/// | setting | default |
/// | --- | --- |
/// | [`protocol`](Self::protocol) | [`ws_proto::Config::default`], but payloads up to 1 KiB copied |
/// | [`ping_interval`](Self::ping_interval) | `None`: no heartbeat |
/// | [`pong_timeout`](Self::pong_timeout) | `None`: pings are not required to be answered |
/// | [`write_buffer_limit`](Self::write_buffer_limit) | 64 KiB |
/// | [`read_size`](Self::read_size) | 4 KiB |
/// | [`receive_queue_limit`](Self::receive_queue_limit) | 256 KiB |
/// | [`tcp_keepalive`](Self::tcp_keepalive) | 60 s |
///
/// ```
/// use std::time::Duration;
/// use ws_net::ConnectionConfig;
///
/// let config = ConnectionConfig::default()
///     .ping_interval(Some(Duration::from_secs(30)))
///     .pong_timeout(Some(Duration::from_secs(10)));
/// assert_eq!(config.write_buffer_limit, 64 * 1024);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConnectionConfig {
    /// Protocol settings: receive limits, whole messages or streamed chunks, outgoing frame size,
    /// how long to wait for the peer's Close frame. The default copies payloads up to 1 KiB out
    /// of the receive buffer (`copy_payload_max`), so the buffer is reused between messages.
    pub protocol: ws_proto::Config,
    /// Send a ping this often; `None` turns the heartbeat off.
    pub ping_interval: Option<Duration>,
    /// Declare the peer dead (closure 1006) when no pong arrives this long after a ping; `None`
    /// sends pings without enforcing an answer.
    pub pong_timeout: Option<Duration>,
    /// Senders wait while this many bytes are queued and not yet written, so a slow peer cannot
    /// make memory grow. One message may go over it (a message is never split to fit).
    pub write_buffer_limit: usize,
    /// How much to read at least per read call. The buffer is released while the connection is
    /// idle, so this costs nothing for idle connections.
    pub read_size: usize,
    /// Stop reading from the socket while this many bytes of received events and undecoded data
    /// wait for the application (but to complete a frame being decoded); TCP flow control then
    /// slows the peer down.
    pub receive_queue_limit: usize,
    /// Declare a peer that vanished without FIN or RST (a pulled cable, a crashed host, a NAT
    /// that forgot us) gone within this time, with TCP keepalive probes (from half of it on,
    /// three of them; where the system lets only the idle time be set, its own probe count and
    /// interval apply) and, on Linux, a limit on how long sent data may stay unacknowledged.
    /// The connection then ends with 1006. `None` leaves the socket as the system sets it. The
    /// heartbeat (`ping_interval`) is the faster signal where enabled.
    pub tcp_keepalive: Option<Duration>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            // Small payloads are copied so that the receive buffer is reused, not pinned.
            protocol: ws_proto::Config::default().copy_payload_max(1024),
            ping_interval: None,
            pong_timeout: None,
            write_buffer_limit: 64 * 1024,
            read_size: 4 * 1024,
            receive_queue_limit: 256 * 1024,
            tcp_keepalive: Some(Duration::from_secs(60)),
        }
    }
}

impl ConnectionConfig {
    /// Sets the protocol settings (limits, receive mode, frame size, close timeout).
    #[must_use]
    pub fn protocol(mut self, protocol: ws_proto::Config) -> Self {
        self.protocol = protocol;
        self
    }

    /// Sets the receive limits: a shorthand for changing `protocol.limits`.
    #[must_use]
    pub fn limits(mut self, limits: ws_proto::Limits) -> Self {
        self.protocol.limits = limits;
        self
    }

    /// Sets how often to ping (`None`: no heartbeat).
    #[must_use]
    pub fn ping_interval(mut self, interval: Option<Duration>) -> Self {
        self.ping_interval = interval;
        self
    }

    /// Sets how long a ping may wait for its pong (`None`: no limit).
    #[must_use]
    pub fn pong_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.pong_timeout = timeout;
        self
    }

    /// Sets how many unwritten bytes make senders wait.
    #[must_use]
    pub fn write_buffer_limit(mut self, bytes: usize) -> Self {
        self.write_buffer_limit = bytes;
        self
    }

    /// Sets the least amount read per read call.
    #[must_use]
    pub fn read_size(mut self, bytes: usize) -> Self {
        self.read_size = bytes;
        self
    }

    /// Sets how many received bytes may wait for the application before reading pauses.
    #[must_use]
    pub fn receive_queue_limit(mut self, bytes: usize) -> Self {
        self.receive_queue_limit = bytes;
        self
    }

    /// Sets the time after which a silently vanished peer is declared gone (`None`: the
    /// system's socket settings).
    #[must_use]
    pub fn tcp_keepalive(mut self, dead_after: Option<Duration>) -> Self {
        self.tcp_keepalive = dead_after;
        self
    }
}
