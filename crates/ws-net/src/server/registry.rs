//! Who is connected: per-IP counts for the limits, and the live connections for shutdown.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use tokio::task::AbortHandle;
use ws_proto::CloseCode;

use crate::connection::Closer;

/// A connection limit of the server that turned a client away (its upgrade request was answered
/// with HTTP 503): the cause of [`Error::LimitExceeded`](crate::Error::LimitExceeded).
///
/// ```
/// use std::net::{IpAddr, Ipv4Addr};
/// use ws_net::server::Limit;
///
/// let limit = Limit::ConnectionsFromOneAddress { ip: IpAddr::V4(Ipv4Addr::LOCALHOST), limit: 2 };
/// assert_eq!(
///     limit.to_string(),
///     "127.0.0.1 already has 2 connections, the most one client may have"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Limit {
    /// The client's address holds as many connections as
    /// [`ServerConfig::max_connections_per_ip`](super::ServerConfig::max_connections_per_ip)
    /// allows, handshakes included.
    ConnectionsFromOneAddress {
        /// The client's address (IPv4-mapped IPv6 addresses as IPv4).
        ip: IpAddr,
        /// The limit: the most connections one address may hold.
        limit: usize,
    },
    /// As many distinct client addresses are connected as
    /// [`ServerConfig::max_client_ips`](super::ServerConfig::max_client_ips) allows, and the
    /// client's address is not one of them.
    ClientAddresses {
        /// The limit: the most distinct addresses connected at once.
        limit: usize,
    },
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::ConnectionsFromOneAddress { ip, limit } => write!(
                f,
                "{ip} already has {limit} connections, the most one client may have"
            ),
            Limit::ClientAddresses { limit } => write!(
                f,
                "{limit} client addresses are connected already, the most the server accepts"
            ),
        }
    }
}

#[derive(Debug)]
pub(crate) struct Registry {
    inner: Mutex<Inner>,
    max_per_ip: usize,
    max_ips: usize,
    /// Signalled whenever a connection leaves, so shutdown can wait for the last one.
    left: Notify,
}

#[derive(Debug, Default)]
struct Inner {
    per_ip: HashMap<IpAddr, usize>,
    live: HashMap<u64, Live>,
    next_id: u64,
}

#[derive(Debug)]
struct Live {
    closer: Option<Closer>,
    task: Option<AbortHandle>,
}

/// A client's place in the registry, from TCP accept until its connection's task ends.
#[derive(Debug)]
pub(crate) struct Slot {
    registry: Arc<Registry>,
    ip: IpAddr,
    id: u64,
}

impl Registry {
    pub(crate) fn new(max_per_ip: usize, max_ips: usize) -> Self {
        Registry {
            inner: Mutex::default(),
            max_per_ip: max_per_ip.max(1),
            max_ips: max_ips.max(1),
            left: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a new client from `ip`, or says which limit it would break.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Limit> {
        let ip = ip.to_canonical();
        let mut inner = self.lock();
        let from_ip = inner.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= self.max_per_ip {
            return Err(Limit::ConnectionsFromOneAddress {
                ip,
                limit: self.max_per_ip,
            });
        }
        if from_ip == 0 && inner.per_ip.len() >= self.max_ips {
            return Err(Limit::ClientAddresses {
                limit: self.max_ips,
            });
        }
        *inner.per_ip.entry(ip).or_default() += 1;
        let id = inner.next_id;
        inner.next_id += 1;
        inner.live.insert(
            id,
            Live {
                closer: None,
                task: None,
            },
        );
        Ok(Slot {
            registry: Arc::clone(self),
            ip,
            id,
        })
    }

    /// Asks every established connection to close, and cancels every handshake in progress.
    pub(crate) fn close_all(&self, code: CloseCode, reason: &str) {
        let closers: Vec<Closer> = self
            .lock()
            .live
            .values()
            .filter_map(|live| live.closer.clone())
            .collect();
        for closer in closers {
            closer.close(code, reason);
        }
    }

    /// Ends every connection's task at once.
    pub(crate) fn abort_all(&self) {
        for live in self.lock().live.values() {
            if let Some(task) = &live.task {
                task.abort();
            }
        }
    }

    /// Waits until no connection is left.
    pub(crate) async fn wait_empty(&self) {
        loop {
            let left = self.left.notified();
            if self.lock().live.is_empty() {
                return;
            }
            left.await;
        }
    }

    /// Established connections.
    pub(crate) fn len(&self) -> usize {
        self.lock().live.len()
    }
}

impl Slot {
    /// A way to record the connection once the slot has moved into its task.
    pub(crate) fn entry(&self) -> Entry {
        Entry {
            registry: Arc::clone(&self.registry),
            id: self.id,
        }
    }
}

/// Names a slot without owning it.
#[derive(Debug)]
pub(crate) struct Entry {
    registry: Arc<Registry>,
    id: u64,
}

impl Entry {
    /// The connection is established: from now on shutdown can close it and abort its task.
    /// (If it ended already, there is nothing to record.)
    pub(crate) fn established(&self, closer: Closer, task: AbortHandle) {
        if let Some(live) = self.registry.lock().live.get_mut(&self.id) {
            live.closer = Some(closer);
            live.task = Some(task);
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut inner = self.registry.lock();
        inner.live.remove(&self.id);
        if let Some(count) = inner.per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                inner.per_ip.remove(&self.ip);
            }
        }
        drop(inner);
        self.registry.left.notify_waiters();
    }
}
