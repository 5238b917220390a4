//! Socket options of every TCP connection, accepted or connected.

use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};
use tokio::net::TcpStream;

/// Sets what every connection wants of its socket: small frames go out at once (the
/// connection coalesces its own writes), and a peer that vanished without FIN or RST is noticed
/// within `dead_after` (see [`crate::ConnectionConfig::tcp_keepalive`]).
pub(crate) fn configure(tcp: &TcpStream, dead_after: Option<Duration>) {
    let _ = tcp.set_nodelay(true);
    let Some(dead_after) = dead_after.filter(|d| !d.is_zero()) else {
        return;
    };
    let socket = SockRef::from(tcp);
    // Probes start after half the time and three go out in the other half: an idle peer that
    // is gone is noticed within `dead_after`.
    let idle = (dead_after / 2).max(Duration::from_secs(1));
    let keepalive = TcpKeepalive::new().with_time(idle);
    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "dragonfly",
        target_os = "illumos",
        target_os = "windows",
    ))]
    let keepalive = keepalive
        .with_interval((dead_after / 6).max(Duration::from_secs(1)))
        .with_retries(3);
    let _ = socket.set_tcp_keepalive(&keepalive);
    // Keepalive probes wait while sent data is unacknowledged: this bounds that case too.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = socket.set_tcp_user_timeout(Some(dead_after));
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_vanished_peer_is_noticed_within_the_configured_time() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let tcp = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        configure(&tcp, Some(Duration::from_secs(60)));
        let socket = SockRef::from(&tcp);
        assert!(socket.keepalive().unwrap());
        assert_eq!(
            socket.tcp_keepalive_time().unwrap(),
            Duration::from_secs(30)
        );
        assert_eq!(
            socket.tcp_keepalive_interval().unwrap(),
            Duration::from_secs(10)
        );
        assert_eq!(socket.tcp_keepalive_retries().unwrap(), 3);
        assert_eq!(
            socket.tcp_user_timeout().unwrap(),
            Some(Duration::from_secs(60))
        );
        assert!(socket.tcp_nodelay().unwrap());

        let off = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        configure(&off, None);
        assert!(!SockRef::from(&off).keepalive().unwrap());
    }
}
