//! Both facades' `send`: the message is queued when `send` is called, within the connection's
//! send backlog limit.

use std::cell::Cell;
use std::future::Future;

use ws_net::{CloseCode, Message as NetMessage};

use crate::error::{code, describe, BusinessError};

/// Default of the send backlog limit (an extension option of both facades): 16 MiB, three
/// messages of the largest size `send` accepts by default. A larger `max_send_size` raises the
/// default to three messages of that size.
pub const DEFAULT_SEND_BACKLOG_LIMIT: usize = 16 << 20;

/// Queues `message` on `sender` at once; the future resolves once the write buffer has room
/// again. A message that would take the connection's unsent bytes past `backlog_limit` is
/// refused (2302999), and the connection, whose peer does not keep up, is closed with 1008;
/// `overflowed` gets what happened, for the `error` event. A message larger than the limit on
/// its own is refused with 401 and the connection kept.
pub(crate) fn send_on(
    checked: Result<(NetMessage, ws_net::Sender, usize), BusinessError>,
    overflowed: impl FnOnce(&str),
) -> impl Future<Output = Result<bool, BusinessError>> + Send + 'static {
    let unknown = |e: ws_net::Error| BusinessError::new(code::UNKNOWN, describe(&e));
    let queued = checked.and_then(|(message, sender, backlog_limit)| {
        if message.len() > backlog_limit {
            // No peer could take it: the caller's mistake, not the peer's.
            return Err(BusinessError::new(
                code::PARAMETER_ERROR,
                format!(
                    "the message is {} bytes, more than the send backlog limit of {backlog_limit}",
                    message.len()
                ),
            ));
        }
        let backlog = sender.buffered_len();
        if backlog.saturating_add(message.len()) > backlog_limit {
            let reason = "send backlog limit exceeded";
            let _ = sender.start_close(CloseCode::POLICY_VIOLATION, reason);
            let what = format!(
                "{backlog} bytes wait to be sent and the limit is {backlog_limit}: the peer does \
                 not read fast enough, so the connection is closed with 1008 ({reason})"
            );
            overflowed(&what);
            return Err(BusinessError::new(code::UNKNOWN, what));
        }
        sender.send_now(&message).map_err(unknown)?;
        SENDS_ON_THIS_THREAD.with(|sends| sends.set(sends.get().wrapping_add(1)));
        Ok(sender)
    });
    async move { queued?.writable().await.map(|()| true).map_err(unknown) }
}

thread_local! {
    /// Messages queued by `send` on this thread. Listeners run synchronously on their
    /// connection's task, so a change across a delivery means they answered it; sends from
    /// other tasks cannot run in between.
    static SENDS_ON_THIS_THREAD: Cell<u64> = const { Cell::new(0) };
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
