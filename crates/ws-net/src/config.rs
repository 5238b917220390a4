//! Settings of a connection: the protocol's, the heartbeat's and the buffers'.

use std::time::Duration;

/// Settings of a [`Connection`](crate::Connection).
///
/// The defaults suit most uses: 64 MiB message limit, no heartbeat, a 64 KiB write buffer and
/// reads of 4 KiB that grow with the messages.
///
/// ```
/// use std::time::Duration;
/// use ws_net::ConnectionConfig;
///
/// let config = ConnectionConfig {
///     ping_interval: Duration::from_secs(30),
///     pong_timeout: Duration::from_secs(10),
///     ..ConnectionConfig::default()
/// };
/// # let _ = config;
/// ```
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// Protocol settings: receive limits, whole messages or streamed chunks, outgoing frame size,
    /// how long to wait for the peer's Close frame. The default copies payloads up to 1 KiB out
    /// of the receive buffer (`copy_payload_max`), so the buffer is reused between messages.
    pub protocol: ws_proto::Config,
    /// Send a ping this often; zero (the default) turns the heartbeat off.
    pub ping_interval: Duration,
    /// Declare the peer dead (closure 1006) when no pong arrives this long after a ping; zero
    /// sends pings without enforcing an answer.
    pub pong_timeout: Duration,
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
    /// The connection then ends with 1006. Default 60 s; `None` leaves the socket as the
    /// system sets it. The heartbeat (`ping_interval`) is the faster signal where enabled.
    pub tcp_keepalive: Option<Duration>,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            protocol: ws_proto::Config {
                // Small payloads are copied so that the receive buffer is reused, not pinned.
                copy_payload_max: 1024,
                ..ws_proto::Config::default()
            },
            ping_interval: Duration::ZERO,
            pong_timeout: Duration::ZERO,
            write_buffer_limit: 64 * 1024,
            read_size: 4 * 1024,
            receive_queue_limit: 256 * 1024,
            tcp_keepalive: Some(Duration::from_secs(60)),
        }
    }
}
