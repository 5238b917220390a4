//! The bytes waiting to be written: frames encoded into a buffer, with large payloads that the
//! caller already holds as [`Bytes`] queued as they are, between them, instead of copied.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::Bytes;

/// Written-out buffers up to this size are kept for the next frames, so steady traffic does not
/// allocate; larger ones are released, so a connection that once sent a big message stays small.
const RETAINED_CAPACITY: usize = 64 * 1024;

#[derive(Debug, Default)]
pub(crate) struct Output {
    segments: VecDeque<Segment>,
    /// Bytes of the front segment already written.
    front_written: usize,
    len: usize,
    /// An empty buffer kept for the next frames.
    spare: Vec<u8>,
}

#[derive(Debug)]
enum Segment {
    Copied(Vec<u8>),
    Shared(Bytes),
}

impl Segment {
    fn bytes(&self) -> &[u8] {
        match self {
            Segment::Copied(v) => v,
            Segment::Shared(b) => b,
        }
    }
}

impl Output {
    /// Appends through `write`, into the buffer at the back (frames are coalesced there).
    pub(crate) fn append(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        if !matches!(self.segments.back(), Some(Segment::Copied(_))) {
            self.segments
                .push_back(Segment::Copied(std::mem::take(&mut self.spare)));
        }
        let Some(Segment::Copied(buffer)) = self.segments.back_mut() else {
            unreachable!("a copied segment was just ensured at the back")
        };
        let before = buffer.len();
        write(buffer);
        self.len += buffer.len() - before;
    }

    /// Queues `bytes` without copying them.
    pub(crate) fn push_shared(&mut self, bytes: Bytes) {
        if !bytes.is_empty() {
            self.len += bytes.len();
            self.segments.push_back(Segment::Shared(bytes));
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The first contiguous run of waiting bytes.
    pub(crate) fn front(&self) -> &[u8] {
        self.segments
            .front()
            .map_or(&[], |s| &s.bytes()[self.front_written..])
    }

    /// Fills `dst` with the waiting bytes, in order, for a vectored write; returns how many
    /// slices were filled.
    pub(crate) fn slices<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut filled = 0;
        for (i, segment) in self.segments.iter().enumerate().take(dst.len()) {
            let bytes = segment.bytes();
            dst[i] = IoSlice::new(if i == 0 {
                &bytes[self.front_written..]
            } else {
                bytes
            });
            filled += 1;
        }
        filled
    }

    /// Marks the first `n` waiting bytes as written.
    pub(crate) fn consume(&mut self, mut n: usize) {
        n = n.min(self.len);
        self.len -= n;
        while n > 0 {
            let Some(front) = self.segments.front() else {
                break;
            };
            let remaining = front.bytes().len() - self.front_written;
            if n < remaining {
                self.front_written += n;
                return;
            }
            n -= remaining;
            self.pop_front();
        }
        if self.len == 0 {
            while !self.segments.is_empty() {
                self.pop_front();
            }
        }
    }

    fn pop_front(&mut self) {
        self.front_written = 0;
        if let Some(Segment::Copied(mut buffer)) = self.segments.pop_front() {
            if buffer.capacity() <= RETAINED_CAPACITY && buffer.capacity() > self.spare.capacity() {
                buffer.clear();
                self.spare = buffer;
            }
        }
    }

    /// The capacity of the empty buffer kept for the next frames.
    pub(crate) fn spare_capacity(&self) -> usize {
        self.spare.capacity()
    }

    /// Frees the empty buffer kept for the next frames.
    pub(crate) fn release_spare(&mut self) {
        self.spare = Vec::new();
    }

    /// Takes all waiting bytes as one buffer.
    pub(crate) fn take(&mut self) -> Vec<u8> {
        let mut all = Vec::with_capacity(self.len);
        for (i, segment) in self.segments.drain(..).enumerate() {
            let bytes = segment.bytes();
            all.extend_from_slice(if i == 0 {
                &bytes[self.front_written..]
            } else {
                bytes
            });
        }
        self.front_written = 0;
        self.len = 0;
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(out: &Output) -> Vec<u8> {
        let mut slices = [IoSlice::new(&[]); 16];
        let n = out.slices(&mut slices);
        slices[..n].iter().flat_map(|s| s.iter().copied()).collect()
    }

    #[test]
    fn copied_and_shared_bytes_come_out_in_order_however_they_are_consumed() {
        for step in 1..12 {
            let mut out = Output::default();
            out.append(|b| b.extend_from_slice(b"ab"));
            out.push_shared(Bytes::from_static(b"cdef"));
            out.append(|b| b.extend_from_slice(b"g"));
            out.append(|b| b.extend_from_slice(b"hi"));
            out.push_shared(Bytes::from_static(b"jk"));
            assert_eq!(out.len(), 11);
            assert_eq!(contents(&out), b"abcdefghijk");
            let mut written = Vec::new();
            while out.len() > 0 {
                let front = out.front();
                let n = front.len().min(step);
                written.extend_from_slice(&front[..n]);
                out.consume(n);
                assert_eq!(contents(&out), b"abcdefghijk"[written.len()..]);
            }
            assert_eq!(written, b"abcdefghijk");
            assert!(out.segments.is_empty());
        }
    }

    #[test]
    fn take_gathers_everything_left() {
        let mut out = Output::default();
        out.append(|b| b.extend_from_slice(b"head"));
        out.push_shared(Bytes::from_static(b"body"));
        out.consume(2);
        assert_eq!(out.take(), b"adbody");
        assert_eq!(out.len(), 0);
        assert_eq!(out.front(), b"");
    }

    #[test]
    fn buffers_are_recycled_unless_large() {
        let mut out = Output::default();
        out.append(|b| b.extend_from_slice(&[0; 100]));
        out.consume(100);
        assert!(out.spare.capacity() >= 100);
        out.append(|b| b.extend_from_slice(&vec![0; RETAINED_CAPACITY + 1]));
        let n = out.len();
        out.consume(n);
        assert!(out.spare.capacity() <= RETAINED_CAPACITY);
    }
}
