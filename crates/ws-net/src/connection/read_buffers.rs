//! Spare receive buffers, shared by the connections that run on a thread.
//!
//! A connection holds a receive buffer only while it has bytes to decode: when the socket has
//! nothing more, an empty buffer of the standard size (`ConnectionConfig::read_size`) goes back
//! here and the next read on any connection of the thread takes it. So an idle connection holds
//! no buffer, and a burst of messages over thousands of connections goes through a few buffers
//! instead of leaving one allocated per connection.

use std::cell::RefCell;

use bytes::BytesMut;

/// Spares kept per thread; more are freed.
const MAX_SPARES: usize = 32;

/// Larger buffers are not kept: they were grown for a large frame.
const MAX_SPARE_CAPACITY: usize = 64 * 1024;

thread_local! {
    static SPARES: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// A spare buffer with room for at least `capacity` bytes, if the thread has one.
pub(crate) fn take(capacity: usize) -> Option<BytesMut> {
    SPARES
        .try_with(|spares| {
            let mut spares = spares.borrow_mut();
            while let Some(spare) = spares.pop() {
                if spare.capacity() >= capacity {
                    return Some(spare);
                }
            }
            None
        })
        .ok()
        .flatten()
}

/// Keeps `buffer` for the next read of the thread, if it holds no data, nothing else shares
/// its allocation (a message the application still holds), and it is not oversized; frees it
/// otherwise.
pub(crate) fn give_back(mut buffer: BytesMut, capacity: usize) {
    if !buffer.is_empty() || !buffer.try_reclaim(capacity) {
        return;
    }
    if buffer.capacity() > MAX_SPARE_CAPACITY {
        return;
    }
    // During thread teardown the buffer is simply freed.
    let _ = SPARES.try_with(|spares| {
        let mut spares = spares.borrow_mut();
        if spares.len() < MAX_SPARES {
            spares.push(buffer);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_unshared_buffer_is_reused() {
        let mut buffer = BytesMut::with_capacity(4096);
        buffer.extend_from_slice(b"abc");
        let _ = buffer.split_to(3);
        // Its start moved past the bytes decoded; reused, it starts at its allocation again.
        let start = buffer.as_ptr() as usize - 3;
        give_back(buffer, 4096);
        let spare = take(4096).expect("a spare");
        assert!(spare.is_empty());
        assert!(spare.capacity() >= 4096);
        assert_eq!(spare.as_ptr() as usize, start, "the same allocation");
        assert!(take(4096).is_none(), "only one was given back");
    }

    #[test]
    fn buffers_with_data_shared_or_oversized_are_not_kept() {
        let mut holding = BytesMut::with_capacity(4096);
        holding.extend_from_slice(b"unread");
        give_back(holding, 4096);

        let mut shared = BytesMut::with_capacity(4096);
        shared.extend_from_slice(b"message");
        let message = shared.split_to(7).freeze();
        give_back(shared, 4096);

        give_back(BytesMut::with_capacity(1 << 20), 4096);
        assert!(take(1).is_none());
        drop(message);
    }

    #[test]
    fn a_spare_too_small_for_the_read_is_not_handed_out() {
        give_back(BytesMut::with_capacity(1024), 1024);
        assert!(take(4096).is_none());
        assert!(take(1024).is_none(), "the small one was freed");
    }

    #[test]
    fn at_most_a_bounded_number_of_spares_is_kept() {
        for _ in 0..MAX_SPARES + 10 {
            give_back(BytesMut::with_capacity(512), 512);
        }
        let mut taken = 0;
        while take(512).is_some() {
            taken += 1;
        }
        assert_eq!(taken, MAX_SPARES);
    }
}
