//! Both facades' `send` (and the client's `ping`): the frame is queued when the call is made,
//! within the connection's send backlog limit.

use std::cell::Cell;
use std::future::Future;

use ws_net::{CloseCode, Message as NetMessage};

use crate::error::{code, BusinessError};

/// Default of the send backlog limit (an extension option of both facades): 16 MiB, three
/// messages of the largest size `send` accepts by default. A larger `max_send_size` raises the
/// default to three messages of that size.
pub const DEFAULT_SEND_BACKLOG_LIMIT: usize = 16 << 20;

/// What `send_on` queues: a message, or a ping with its payload (at most 125 bytes).
pub(crate) enum Outgoing<'a> {
    /// `send`'s message.
    Message(NetMessage),
    /// `ping`'s payload.
    Ping(&'a [u8]),
}

impl Outgoing<'_> {
    fn len(&self) -> usize {
        match self {
            Outgoing::Message(message) => message.len(),
            Outgoing::Ping(payload) => payload.len(),
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Outgoing::Message(_) => "message",
            Outgoing::Ping(_) => "ping",
        }
    }

    fn queue_on(&self, sender: &ws_net::Sender) -> Result<(), ws_net::Error> {
        match self {
            Outgoing::Message(message) => sender.send_now(message),
            Outgoing::Ping(payload) => sender.ping_now(payload),
        }
    }
}

/// Queues `outgoing` on `sender` at once; the future resolves once the write buffer has room
/// again. A frame that would take the connection's unsent bytes past `backlog_limit` is
/// refused (2302999), and the connection, whose peer does not keep up, is closed with 1008;
/// `overflowed` gets what happened, for the `error` event. A frame larger than the limit on
/// its own is refused with 401 and the connection kept.
pub(crate) fn send_on(
    checked: Result<(Outgoing<'_>, ws_net::Sender, usize), BusinessError>,
    overflowed: impl FnOnce(&str),
) -> impl Future<Output = Result<bool, BusinessError>> + Send + 'static {
    let unknown = |e: ws_net::Error| BusinessError::from_net(code::UNKNOWN, e);
    let queued = checked.and_then(|(outgoing, sender, backlog_limit)| {
        fits_backlog(outgoing.name(), outgoing.len(), backlog_limit)?;
        let backlog = sender.buffered_len();
        if backlog.saturating_add(outgoing.len()) > backlog_limit {
            let reason = "send backlog limit exceeded";
            let _ = sender.start_close(CloseCode::POLICY_VIOLATION, reason);
            let what = format!(
                "{backlog} bytes wait to be sent and the limit is {backlog_limit}: the peer does \
                 not read fast enough, so the connection is closed with 1008 ({reason})"
            );
            overflowed(&what);
            return Err(BusinessError::new(code::UNKNOWN, what));
        }
        outgoing.queue_on(&sender).map_err(unknown)?;
        count_send();
        Ok(sender)
    });
    async move { queued?.writable().await.map(|()| true).map_err(unknown) }
}

/// 401 for a frame of `len` bytes that is larger than `backlog_limit` on its own: no peer could
/// take it, so it is the caller's mistake, not the peer's. `what` names it ("message", "ping").
pub(crate) fn fits_backlog(
    what: &str,
    len: usize,
    backlog_limit: usize,
) -> Result<(), BusinessError> {
    if len > backlog_limit {
        return Err(BusinessError::new(
            code::PARAMETER_ERROR,
            format!(
                "the {what} is {len} bytes, more than the send backlog limit of {backlog_limit}"
            ),
        ));
    }
    Ok(())
}

thread_local! {
    /// Frames queued by `send` (or `ping`) on this thread. Listeners run synchronously on their
    /// connection's task, so a change across a delivery means they answered it; sends from
    /// other tasks cannot run in between.
    static SENDS_ON_THIS_THREAD: Cell<u64> = const { Cell::new(0) };
}

/// Counts a frame queued on this thread (by `send`, `ping` or the server's `publish`), for
/// [`answered`].
pub(crate) fn count_send() {
    SENDS_ON_THIS_THREAD.with(|sends| sends.set(sends.get().wrapping_add(1)));
}

/// A reading to take before delivering a message, for [`answered`].
pub(crate) fn sends_so_far() -> u64 {
    SENDS_ON_THIS_THREAD.with(Cell::get)
}

/// After a message was delivered: if the listeners answered it (`send` was called since
/// `before`, from [`sends_so_far`]), waits until the connection's write buffer has room, so
/// that the next message reaches them only then. A peer that sends and never reads what it is
/// answered is slowed down through TCP instead of growing our buffers; a peer that is not
/// answered (our own sends from elsewhere fill the buffer, as in an upload) is read on, so that
/// neither side waits for the other.
pub(crate) async fn answered(sender: &ws_net::Sender, before: u64) {
    if sends_so_far() != before {
        let _ = sender.writable().await;
    }
}
