//! Event listeners: any number per event, called in the order they were added; `on` returns a
//! handle that `off` takes.

use std::fmt;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

type Listener<T> = Arc<dyn Fn(&T) + Send + Sync>;

/// The listeners of one event (internal; public only because event traits name it).
#[doc(hidden)]
pub struct Listeners<T: ?Sized> {
    next_id: u64,
    list: Vec<(u64, Listener<T>)>,
}

impl<T: ?Sized> Default for Listeners<T> {
    fn default() -> Self {
        Listeners {
            next_id: 0,
            list: Vec::new(),
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
    pub(crate) fn add(&mut self, listener: Listener<T>) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.list.push((id, listener));
        id
    }

    /// Removes one listener (`Some`), or all (`None`).
    pub(crate) fn remove(&mut self, id: Option<u64>) {
        match id {
            Some(id) => self.list.retain(|(i, _)| *i != id),
            None => self.list.clear(),
        }
    }

    fn snapshot(&self) -> Vec<Listener<T>> {
        self.list.iter().map(|(_, l)| Arc::clone(l)).collect()
    }
}

/// Adds `listener` to `slot`; the handle names it for `off`.
pub(crate) fn on<T: ?Sized, E>(
    slot: &Mutex<Listeners<T>>,
    listener: Listener<T>,
) -> ListenerHandle<E> {
    ListenerHandle::new(slot.lock().unwrap_or_else(|e| e.into_inner()).add(listener))
}

/// Removes one listener of `slot` (`Some`), or all (`None`).
pub(crate) fn off<T: ?Sized, E>(slot: &Mutex<Listeners<T>>, handle: Option<ListenerHandle<E>>) {
    slot.lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(handle.map(|h| h.id));
}

/// Calls every listener of `slot` with `payload`, in order, without holding the lock (a
/// listener may add or remove listeners).
pub(crate) fn emit<T: ?Sized>(slot: &Mutex<Listeners<T>>, payload: &T) {
    let listeners = slot.lock().unwrap_or_else(|e| e.into_inner()).snapshot();
    for listener in listeners {
        listener(payload);
    }
}

/// Identifies a listener added with `on`, to remove it with `off`.
pub struct ListenerHandle<E> {
    pub(crate) id: u64,
    _event: PhantomData<fn() -> E>,
}

impl<E> ListenerHandle<E> {
    pub(crate) fn new(id: u64) -> Self {
        ListenerHandle {
            id,
            _event: PhantomData,
        }
    }
}

impl<E> fmt::Debug for ListenerHandle<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListenerHandle")
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
