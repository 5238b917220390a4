//! Event listeners: any number per event, called in the order they were added; `on` returns a
//! handle that `off` takes. A listener that panics is caught: the others still run, and the
//! caller reports the panic.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use crate::error::{code, BusinessError};

type Listener<T> = Arc<dyn Fn(&T) + Send + Sync>;

/// Which object a listener belongs to: every `WebSocket` and `WebSocketServer` gets its own, so
/// that a handle from one object never removes a listener of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Owner(u64);

impl Owner {
    pub(crate) fn new() -> Owner {
        Owner(crate::fresh_id())
    }
}

/// The listeners of one event (internal; public only because event traits name it).
#[doc(hidden)]
pub struct Listeners<T: ?Sized> {
    next_id: u64,
    /// Replaced whole by `on` and `off` (rare), so that delivering an event (for every
    /// message) takes the list with one reference count instead of copying it.
    list: Arc<[(u64, Listener<T>)]>,
}

impl<T: ?Sized> Default for Listeners<T> {
    fn default() -> Self {
        Listeners {
            next_id: 0,
            list: Arc::new([]),
        }
    }
}

impl<T: ?Sized> fmt::Debug for Listeners<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners")
            .field("count", &self.list.len())
            .finish()
    }
}

impl<T: ?Sized> Listeners<T> {
    fn add(&mut self, listener: Listener<T>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let mut list = self.list.to_vec();
        list.push((id, listener));
        self.list = list.into();
        id
    }

    /// Removes one listener (`Some`), or all (`None`).
    fn remove(&mut self, id: Option<u64>) {
        match id {
            Some(id) => {
                let kept: Vec<_> = self
                    .list
                    .iter()
                    .filter(|(i, _)| *i != id)
                    .cloned()
                    .collect();
                self.list = kept.into();
            }
            None => self.list = Arc::new([]),
        }
    }

    fn snapshot(&self) -> Arc<[(u64, Listener<T>)]> {
        Arc::clone(&self.list)
    }
}

/// Adds `listener` to `slot` of `owner`; the handle names it for `off`.
pub(crate) fn on<T: ?Sized, E>(
    owner: Owner,
    slot: &Mutex<Listeners<T>>,
    listener: Listener<T>,
) -> ListenerHandle<E> {
    let id = slot.lock().unwrap_or_else(|e| e.into_inner()).add(listener);
    ListenerHandle {
        owner,
        id,
        _event: PhantomData,
    }
}

/// Removes one listener of `slot` (`Some`), or all (`None`). A handle of another object removes
/// nothing.
pub(crate) fn off<T: ?Sized, E>(
    owner: Owner,
    slot: &Mutex<Listeners<T>>,
    handle: Option<ListenerHandle<E>>,
) {
    if handle.is_some_and(|h| h.owner != owner) {
        return;
    }
    slot.lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(handle.map(|h| h.id));
}

/// Calls every listener of `slot` with `payload`, in order, without holding the lock (a
/// listener may add or remove listeners). A listener that panics does not stop the others;
/// returns what each panic said, for the caller to report.
#[must_use = "a listener's panic must be reported"]
fn emit<T: ?Sized>(slot: &Mutex<Listeners<T>>, payload: &T) -> Vec<String> {
    let listeners = slot.lock().unwrap_or_else(|e| e.into_inner()).snapshot();
    let mut panics = Vec::new();
    for (_, listener) in listeners.iter() {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| listener(payload))) {
            panics.push(panic_message(panic.as_ref()));
        }
    }
    panics
}

/// Reports that a listener of `event` panicked with `message`: a log line, and an `error` event
/// (2302999, naming the event) through `emit_error`, unless the listener was an `error`
/// listener itself (that would go round in circles).
fn report_panic(
    event: &str,
    message: &str,
    emit_error: impl FnOnce(&BusinessError) -> Vec<String>,
) {
    crate::trace::error!(
        event,
        message,
        "a WebSocket event listener panicked; going on without it"
    );
    if event == "error" {
        return;
    }
    let error = BusinessError::new(
        code::UNKNOWN,
        format!("a listener of the {event:?} event panicked: {message}"),
    );
    for again in emit_error(&error) {
        crate::trace::error!(
            event = "error",
            message = again,
            "a WebSocket event listener panicked"
        );
    }
}

/// Calls the listeners of the event `name` in `slot` with `payload`; a listener that panics is
/// reported to the `error` listeners in `errors` (and logged), and the others still run.
pub(crate) fn dispatch<T: ?Sized>(
    name: &str,
    slot: &Mutex<Listeners<T>>,
    payload: &T,
    errors: &Mutex<Listeners<BusinessError>>,
) {
    for panic in emit(slot, payload) {
        report_panic(name, &panic, |error| emit(errors, error));
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// Identifies a listener added with `on`, to remove it with `off`; only the object that gave it
/// out can use it.
pub struct ListenerHandle<E> {
    owner: Owner,
    id: u64,
    _event: PhantomData<fn() -> E>,
}

impl<E> fmt::Debug for ListenerHandle<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerHandle")
            .field("owner", &self.owner.0)
            .field("id", &self.id)
            .field("event", &std::any::type_name::<E>())
            .finish()
    }
}

impl<E> Clone for ListenerHandle<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for ListenerHandle<E> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panicking_listener_is_reported_and_the_others_still_run() {
        let slot = Mutex::new(Listeners::<u32>::default());
        let owner = Owner::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let before = Arc::clone(&seen);
        let _: ListenerHandle<()> = on(
            owner,
            &slot,
            Arc::new(move |n| before.lock().unwrap().push(*n)),
        );
        let _: ListenerHandle<()> = on(owner, &slot, Arc::new(|n| panic!("listener {n} failed")));
        let after = Arc::clone(&seen);
        let _: ListenerHandle<()> = on(
            owner,
            &slot,
            Arc::new(move |n| after.lock().unwrap().push(n + 1)),
        );
        let panics = emit(&slot, &7);
        assert_eq!(panics, ["listener 7 failed"]);
        assert_eq!(*seen.lock().unwrap(), [7, 8]);
    }

    #[test]
    fn a_handle_of_another_object_removes_nothing() {
        let slot = Mutex::new(Listeners::<u32>::default());
        let (mine, theirs) = (Owner::new(), Owner::new());
        let kept: ListenerHandle<()> = on(mine, &slot, Arc::new(|_| {}));
        let foreign: ListenerHandle<()> = on(theirs, &Mutex::default(), Arc::new(|_: &u32| {}));
        assert_eq!(foreign.id, kept.id, "the same id, from another object");
        off(mine, &slot, Some(foreign));
        assert_eq!(slot.lock().unwrap().list.len(), 1);
        off(mine, &slot, Some(kept));
        assert_eq!(slot.lock().unwrap().list.len(), 0);
    }
}
