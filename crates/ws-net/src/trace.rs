//! Diagnostics through `tracing` (the `tracing` feature): the event macros this crate uses, and
//! the span of a connection. Without the feature they compile to nothing: the macros only
//! borrow their arguments in dead code (so nothing goes unused), and [`Span`] is an empty type.
//!
//! Only the field syntax used here is accepted: `name = value`, `name = %value`,
//! `name = ?value`, `%name`, `?name`, `name`, then a literal message with format arguments.

use std::net::SocketAddr;

use ws_proto::Role;

/// Forwards to `tracing::$level!` with the feature, else borrows the arguments in dead code.
#[cfg(feature = "tracing")]
macro_rules! event {
    ($level:ident, $($arg:tt)+) => {
        ::tracing::$level!($($arg)+)
    };
}

#[cfg(not(feature = "tracing"))]
macro_rules! event {
    ($level:ident, $($arg:tt)+) => {{
        if false {
            $crate::trace::unused!($($arg)+);
        }
    }};
}

/// Borrows each value of an event's fields and message arguments.
#[cfg(not(feature = "tracing"))]
macro_rules! unused {
    () => {};
    ($message:literal $(, $arg:expr)* $(,)?) => {
        $(let _ = &$arg;)*
    };
    ($name:ident = % $value:expr $(, $($rest:tt)*)?) => {
        let _ = &$value;
        $($crate::trace::unused!($($rest)*);)?
    };
    ($name:ident = ? $value:expr $(, $($rest:tt)*)?) => {
        let _ = &$value;
        $($crate::trace::unused!($($rest)*);)?
    };
    ($name:ident = $value:expr $(, $($rest:tt)*)?) => {
        let _ = &$value;
        $($crate::trace::unused!($($rest)*);)?
    };
    (% $name:ident $(, $($rest:tt)*)?) => {
        let _ = &$name;
        $($crate::trace::unused!($($rest)*);)?
    };
    (? $name:ident $(, $($rest:tt)*)?) => {
        let _ = &$name;
        $($crate::trace::unused!($($rest)*);)?
    };
    ($name:ident $(, $($rest:tt)*)?) => {
        let _ = &$name;
        $($crate::trace::unused!($($rest)*);)?
    };
}

macro_rules! debug {
    ($($arg:tt)+) => { $crate::trace::event!(debug, $($arg)+) };
}
macro_rules! info {
    ($($arg:tt)+) => { $crate::trace::event!(info, $($arg)+) };
}
/// `warn!` (a name the built-in attribute takes).
macro_rules! warning {
    ($($arg:tt)+) => { $crate::trace::event!(warn, $($arg)+) };
}

/// A `trace!` inside `span`, entered only when trace events are enabled at all: per-message
/// events stay a single load when they are not.
#[cfg(feature = "tracing")]
macro_rules! trace_in {
    ($span:expr, $($arg:tt)+) => {
        if ::tracing::enabled!(::tracing::Level::TRACE) {
            $span.in_scope(|| ::tracing::trace!($($arg)+));
        }
    };
}

#[cfg(not(feature = "tracing"))]
macro_rules! trace_in {
    ($span:expr, $($arg:tt)+) => {{
        let _ = &$span;
        $crate::trace::event!(trace, $($arg)+);
    }};
}

#[cfg(not(feature = "tracing"))]
pub(crate) use unused;
pub(crate) use {debug, event, info, trace_in, warning};

/// The name and target of a connection's span (its fields: `id`, `role`, `peer`).
#[cfg(feature = "tracing")]
const SPAN_NAME: &str = "connection";
#[cfg(feature = "tracing")]
const SPAN_TARGET: &str = "ws_net::connection";

/// A connection's span.
#[cfg(feature = "tracing")]
pub(crate) type Span = tracing::Span;

/// Without the `tracing` feature: nothing.
#[cfg(not(feature = "tracing"))]
#[derive(Debug, Clone, Default)]
pub(crate) struct Span;

#[cfg(not(feature = "tracing"))]
impl Span {
    pub(crate) fn in_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        f()
    }
}

/// A new connection's span: its `role`, a process-wide `id`, and the `peer` address when known
/// (a transport handed to [`crate::Connection::new`] has none).
pub(crate) fn connection_span(role: Role, peer: Option<SocketAddr>) -> Span {
    #[cfg(feature = "tracing")]
    {
        let span = tracing::info_span!(
            target: SPAN_TARGET,
            SPAN_NAME,
            id = next_id(),
            role = %role_name(role),
            peer = tracing::field::Empty,
        );
        if let Some(peer) = peer {
            span.record("peer", tracing::field::display(peer));
        }
        span
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = (role, peer);
        Span
    }
}

/// The span a connection's task runs in: the connection span current here, which
/// [`crate::client::connect`] and [`crate::server::Server`] open before the handshake (so it
/// carries the peer's address), else a new one.
pub(crate) fn current_or_new(role: Role) -> Span {
    #[cfg(feature = "tracing")]
    {
        let current = tracing::Span::current();
        let ours = current
            .metadata()
            .is_some_and(|meta| meta.name() == SPAN_NAME && meta.target() == SPAN_TARGET);
        if ours {
            return current;
        }
    }
    connection_span(role, None)
}

/// `future`, entered into `span` whenever it is polled.
#[cfg(feature = "tracing")]
pub(crate) fn instrument<F: std::future::Future>(
    future: F,
    span: Span,
) -> tracing::instrument::Instrumented<F> {
    tracing::Instrument::instrument(future, span)
}

/// `future` itself (no `tracing` feature).
#[cfg(not(feature = "tracing"))]
pub(crate) fn instrument<F: std::future::Future>(future: F, span: Span) -> F {
    let _ = span;
    future
}

#[cfg(feature = "tracing")]
fn next_id() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(feature = "tracing")]
fn role_name(role: Role) -> &'static str {
    match role {
        Role::Client => "client",
        Role::Server => "server",
    }
}
