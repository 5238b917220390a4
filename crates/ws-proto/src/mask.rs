//! Payload masking (RFC 6455 §5.3).
//!
//! Masking XORs every payload byte with one byte of a 4-byte key, cycling through the key. The byte-wise
//! definition is [`apply_mask_bytewise`]; [`apply_mask`] computes the same result eight bytes at a time
//! (a loop the compiler turns into SIMD), which is what makes unmasking as cheap as a copy.

use std::mem::MaybeUninit;

use rand::RngCore;

/// A 4-byte masking key, as carried in a masked frame header.
pub type MaskKey = [u8; 4];

/// Draws a fresh masking key from the operating system's CSPRNG-seeded thread generator.
///
/// RFC 6455 §5.3 requires keys that a peer cannot predict, so that a client cannot be made to put
/// attacker-chosen bytes on the wire.
///
/// ```
/// let a = ws_proto::mask::random_key();
/// let b = ws_proto::mask::random_key();
/// assert_eq!(a.len(), 4);
/// # let _ = (a, b);
/// ```
pub fn random_key() -> MaskKey {
    let mut key = [0u8; 4];
    rand::thread_rng().fill_bytes(&mut key);
    key
}

/// Masks (or unmasks: the operation is its own inverse) `buf` in place.
///
/// `offset` is the position of `buf[0]` within the frame payload, so a payload that arrives in
/// pieces can be unmasked piece by piece: pass the number of payload bytes already processed.
///
/// ```
/// use ws_proto::mask::{apply_mask, apply_mask_bytewise};
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut whole = b"Hello, world".to_vec();
/// apply_mask(&mut whole, key, 0);
///
/// // The same bytes unmasked in two pieces give the same result.
/// let mut split = b"Hello, world".to_vec();
/// let (head, tail) = split.split_at_mut(5);
/// apply_mask_bytewise(head, key, 0);
/// apply_mask(tail, key, 5);
/// assert_eq!(whole, split);
/// ```
#[inline]
pub fn apply_mask(buf: &mut [u8], key: MaskKey, offset: usize) {
    // Rotate the key so that byte 0 of `buf` lines up with key byte `offset % 4`.
    let key = rotate(key, offset);
    if buf.len() < 16 {
        return apply_mask_bytewise(buf, key, 0);
    }
    let key64 = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let masked = u64::from_ne_bytes(word) ^ key64;
        chunk.copy_from_slice(&masked.to_ne_bytes());
    }
    // Eight is a multiple of four, so the tail starts at key byte 0 again.
    apply_mask_bytewise(chunks.into_remainder(), key, 0);
}

/// The byte-at-a-time definition from RFC 6455 §5.3; the reference [`apply_mask`] is tested against.
#[inline]
pub fn apply_mask_bytewise(buf: &mut [u8], key: MaskKey, offset: usize) {
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte ^= key[(offset + i) & 3];
    }
}

/// Writes `src` masked with `key` (starting at key position `offset`) into `dst`, in one pass.
///
/// # Panics
/// If `dst` and `src` differ in length.
#[inline]
pub fn mask_copy(dst: &mut [u8], src: &[u8], key: MaskKey, offset: usize) {
    mask_each(dst, src, key, offset, |slot, byte| *slot = byte);
}

/// [`mask_copy`] into not-yet-initialised memory; writes every element of `dst`.
#[inline]
fn mask_copy_uninit(dst: &mut [MaybeUninit<u8>], src: &[u8], key: MaskKey, offset: usize) {
    mask_each(dst, src, key, offset, |slot, byte| {
        slot.write(byte);
    });
}

/// Calls `write(&mut dst[i], src[i] ^ key byte)` for every `i`, computing eight bytes at a time.
#[inline(always)]
fn mask_each<T>(
    dst: &mut [T],
    src: &[u8],
    key: MaskKey,
    offset: usize,
    write: impl Fn(&mut T, u8),
) {
    assert_eq!(dst.len(), src.len(), "masking needs equally long buffers");
    let key = rotate(key, offset);
    let key64 = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut dst_words = dst.chunks_exact_mut(8);
    let mut src_words = src.chunks_exact(8);
    for (d, s) in (&mut dst_words).zip(&mut src_words) {
        let mut word = [0u8; 8];
        word.copy_from_slice(s);
        let masked = (u64::from_ne_bytes(word) ^ key64).to_ne_bytes();
        for (slot, byte) in d.iter_mut().zip(masked) {
            write(slot, byte);
        }
    }
    // Eight is a multiple of four, so the tail starts at key byte 0 again.
    let tail = dst_words
        .into_remainder()
        .iter_mut()
        .zip(src_words.remainder());
    for (i, (slot, byte)) in tail.enumerate() {
        write(slot, byte ^ key[i & 3]);
    }
}

/// Appends `src` masked with `key` (starting at key position `offset`) to `dst`.
///
/// ```
/// use ws_proto::mask::{apply_mask_bytewise, extend_masked};
/// let mut out = b"head:".to_vec();
/// extend_masked(&mut out, b"payload", [1, 2, 3, 4], 0);
/// let mut expected = b"payload".to_vec();
/// apply_mask_bytewise(&mut expected, [1, 2, 3, 4], 0);
/// assert_eq!(&out[5..], &expected[..]);
/// ```
pub fn extend_masked(dst: &mut Vec<u8>, src: &[u8], key: MaskKey, offset: usize) {
    dst.reserve(src.len());
    for (i, block) in src.chunks(MASK_BLOCK).enumerate() {
        // Zero-fill a block small enough to stay in the first-level cache, then mask into it.
        let start = dst.len();
        dst.resize(start + block.len(), 0);
        mask_copy(&mut dst[start..], block, key, offset + i * MASK_BLOCK);
    }
}

/// Appends `src` masked with `key` (starting at key position `offset`) to `dst` in a single pass:
/// each byte is read once and written once, straight into the spare capacity. This is the receive
/// path of every masked frame, where it is about twice as fast as zero-filling first (see the
/// `decode_message` benchmark).
#[allow(unsafe_code)]
pub(crate) fn extend_masked_bytes(
    dst: &mut bytes::BytesMut,
    src: &[u8],
    key: MaskKey,
    offset: usize,
) {
    dst.reserve(src.len());
    let spare = &mut dst.spare_capacity_mut()[..src.len()];
    mask_copy_uninit(spare, src, key, offset);
    // SAFETY: `reserve` made room for `src.len()` more bytes, and `mask_copy_uninit` wrote every
    // one of the first `src.len()` bytes of the spare capacity (it writes `dst[i]` for each
    // `src[i]`; its tests check every length and offset against the byte-wise reference, and the
    // decoder fuzz targets run this path).
    unsafe { dst.set_len(dst.len() + src.len()) };
}

/// Block size for [`extend_masked`]: small enough to stay in the first-level cache.
const MASK_BLOCK: usize = 8 * 1024;

fn rotate(key: MaskKey, offset: usize) -> MaskKey {
    let r = offset & 3;
    [key[r], key[(r + 1) & 3], key[(r + 2) & 3], key[(r + 3) & 3]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rfc6455_example_masked_hello() {
        // RFC 6455 §5.7: "Hello" masked with 37 fa 21 3d.
        let mut payload = b"Hello".to_vec();
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    #[test]
    fn every_length_and_offset_matches_reference() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let source: Vec<u8> = (0..300u32).map(|i| (i * 7 + 3) as u8).collect();
        for start in 0..16 {
            for len in 0..(source.len() - start) {
                for offset in 0..8 {
                    let mut fast = source[start..start + len].to_vec();
                    let mut slow = fast.clone();
                    apply_mask(&mut fast, key, offset);
                    apply_mask_bytewise(&mut slow, key, offset);
                    assert_eq!(fast, slow, "start {start} len {len} offset {offset}");
                }
            }
        }
    }

    #[test]
    fn unaligned_subslices_match_reference() {
        // Slices that start at every alignment within a larger allocation.
        let key = [1, 2, 3, 4];
        let mut backing: Vec<u8> = (0..1024u32).map(|i| i as u8).collect();
        let mut reference = backing.clone();
        for head in 0..9 {
            apply_mask(&mut backing[head..head + 500], key, head);
            apply_mask_bytewise(&mut reference[head..head + 500], key, head);
            assert_eq!(backing, reference);
        }
    }

    #[test]
    fn extend_masked_matches_reference_across_blocks() {
        let key = [9, 8, 7, 6];
        let src: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        for offset in 0..4 {
            let mut out = vec![0xAA; 3];
            extend_masked(&mut out, &src, key, offset);
            let mut expect = src.clone();
            apply_mask_bytewise(&mut expect, key, offset);
            assert_eq!(&out[..3], &[0xAA; 3]);
            assert_eq!(&out[3..], &expect[..]);
        }
    }

    #[test]
    fn mask_copy_matches_reference_for_every_length_and_offset() {
        let key = [0xa1, 0xb2, 0xc3, 0xd4];
        let src: Vec<u8> = (0..200u32).map(|i| (i * 13) as u8).collect();
        for len in 0..src.len() {
            for offset in 0..8 {
                let mut fast = vec![0; len];
                mask_copy(&mut fast, &src[..len], key, offset);
                let mut slow = src[..len].to_vec();
                apply_mask_bytewise(&mut slow, key, offset);
                assert_eq!(fast, slow, "len {len} offset {offset}");
            }
        }
    }

    #[test]
    fn extend_masked_bytes_matches_reference_for_every_length_and_offset() {
        let key = [0x5a, 0xa5, 0x3c, 0xc3];
        let src: Vec<u8> = (0..300u32).map(|i| (i * 31 + 7) as u8).collect();
        for len in 0..src.len() {
            for offset in 0..8 {
                for prefix in [0usize, 1, 3, 8] {
                    let mut dst = bytes::BytesMut::from(&vec![0xEE; prefix][..]);
                    extend_masked_bytes(&mut dst, &src[..len], key, offset);
                    let mut expected = vec![0xEE; prefix];
                    let mut masked = src[..len].to_vec();
                    apply_mask_bytewise(&mut masked, key, offset);
                    expected.extend(masked);
                    assert_eq!(
                        &dst[..],
                        &expected[..],
                        "len {len} offset {offset} prefix {prefix}"
                    );
                }
            }
        }
    }

    #[test]
    fn masking_twice_is_identity() {
        let key = random_key();
        let original: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let mut buf = original.clone();
        apply_mask(&mut buf, key, 3);
        apply_mask(&mut buf, key, 3);
        assert_eq!(buf, original);
    }

    proptest! {
        #[test]
        fn extend_masked_bytes_equals_reference(data in proptest::collection::vec(any::<u8>(), 0..5000),
                                                key in any::<[u8; 4]>(), offset in 0usize..16,
                                                spare in 0usize..64) {
            let mut dst = bytes::BytesMut::with_capacity(spare);
            extend_masked_bytes(&mut dst, &data, key, offset);
            let mut slow = data;
            apply_mask_bytewise(&mut slow, key, offset);
            prop_assert_eq!(&dst[..], &slow[..]);
        }

        #[test]
        fn mask_equals_bytewise_reference(
            data in proptest::collection::vec(any::<u8>(), 0..2048),
            key in any::<[u8; 4]>(),
            offset in 0usize..64,
            split in any::<proptest::sample::Index>(),
        ) {
            let mut fast = data.clone();
            let at = split.index(data.len() + 1);
            let (a, b) = fast.split_at_mut(at);
            apply_mask(a, key, offset);
            apply_mask(b, key, offset + at);
            let mut slow = data;
            apply_mask_bytewise(&mut slow, key, offset);
            prop_assert_eq!(fast, slow);
        }
    }
}
