//! [`Completion`]: what the facades' calls return once their work has started.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The outcome of a call whose work started when it was called (`connect`, `send`, `close`,
/// `start`, `stop`...), as the reference's promises: await it for the result.
///
/// Dropping it is allowed and cancels nothing: the message is still sent, the connection still
/// closes, the server still stops. It is `'static` and `Send`, so it may be awaited on any
/// task, in any executor, or spawned; it needs no tokio runtime of its own (the work runs on
/// the caller's runtime, or on a shared background runtime when there is none).
///
/// ```no_run
/// # async fn f(ws: ws_api::WebSocket) {
/// drop(ws.close(None)); // closes all the same
/// # }
/// ```
pub struct Completion<T> {
    inner: Inner<T>,
}

enum Inner<T> {
    Ready(Option<T>),
    Waiting(Pin<Box<dyn Future<Output = T> + Send>>),
}

impl<T> Completion<T> {
    /// An outcome known at the call.
    pub(crate) fn ready(value: T) -> Self {
        Completion {
            inner: Inner::Ready(Some(value)),
        }
    }

    /// An outcome that `waiting` reports; the work itself was started already.
    pub(crate) fn waiting(waiting: impl Future<Output = T> + Send + 'static) -> Self {
        Completion {
            inner: Inner::Waiting(Box::pin(waiting)),
        }
    }
}

// The value is never pinned: it is moved out whole.
impl<T> Unpin for Completion<T> {}

impl<T> Future for Completion<T> {
    type Output = T;

    /// Once it has completed, polling it again never completes again.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        let value = match &mut this.inner {
            Inner::Ready(value) => value.take(),
            Inner::Waiting(waiting) => match waiting.as_mut().poll(cx) {
                Poll::Ready(value) => Some(value),
                Poll::Pending => return Poll::Pending,
            },
        };
        this.inner = Inner::Ready(None);
        match value {
            Some(value) => Poll::Ready(value),
            None => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for Completion<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.inner {
            Inner::Ready(Some(_)) => "ready",
            Inner::Ready(None) => "taken",
            Inner::Waiting(_) => "waiting",
        };
        f.debug_tuple("Completion").field(&state).finish()
    }
}
