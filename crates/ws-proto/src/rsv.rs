//! The three reserved bits of a frame header, which only a negotiated extension may use.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

/// A set of the RSV1, RSV2 and RSV3 bits of a frame header (RFC 6455 §5.2).
///
/// A frame that carries a bit no negotiated extension claimed fails the connection with 1002;
/// [`Config::allowed_rsv`](crate::Config::allowed_rsv) is where an extension claims its bits
/// (permessage-deflate claims [`Rsv::RSV1`]).
///
/// ```
/// use ws_proto::Rsv;
/// let claimed = Rsv::RSV1 | Rsv::RSV3;
/// assert!(claimed.contains(Rsv::RSV1));
/// assert!(!claimed.contains(Rsv::RSV2));
/// assert_eq!(claimed.bits(), 0b101);
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Rsv(u8);

impl Rsv {
    /// No bit.
    pub const NONE: Rsv = Rsv(0);
    /// RSV1, the bit permessage-deflate claims (bit 6 of the first header byte).
    pub const RSV1: Rsv = Rsv(0b100);
    /// RSV2.
    pub const RSV2: Rsv = Rsv(0b010);
    /// RSV3.
    pub const RSV3: Rsv = Rsv(0b001);
    /// All three bits.
    pub const ALL: Rsv = Rsv(0b111);

    /// The set whose bits are the low three of `bits` (RSV1 is `0b100`); higher bits are ignored.
    pub const fn from_bits(bits: u8) -> Rsv {
        Rsv(bits & 0b111)
    }

    /// The bits as a number from 0 to 7, RSV1 being `0b100`.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// `true` when no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// `true` when every bit of `other` is set in `self`.
    pub const fn contains(self, other: Rsv) -> bool {
        self.0 & other.0 == other.0
    }

    /// The bits of `self` that are not in `allowed`.
    pub const fn outside(self, allowed: Rsv) -> Rsv {
        Rsv(self.0 & !allowed.0)
    }
}

impl BitOr for Rsv {
    type Output = Rsv;
    fn bitor(self, rhs: Rsv) -> Rsv {
        Rsv(self.0 | rhs.0)
    }
}

impl BitOrAssign for Rsv {
    fn bitor_assign(&mut self, rhs: Rsv) {
        self.0 |= rhs.0;
    }
}

impl fmt::Debug for Rsv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Names the bits, e.g. `RSV1|RSV3`, or `none`.
impl fmt::Display for Rsv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let names = [
            (Rsv::RSV1, "RSV1"),
            (Rsv::RSV2, "RSV2"),
            (Rsv::RSV3, "RSV3"),
        ];
        let mut first = true;
        for (bit, name) in names {
            if self.contains(bit) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_and_names() {
        assert_eq!(Rsv::from_bits(0xFF), Rsv::ALL);
        assert_eq!(Rsv::ALL.outside(Rsv::RSV1), Rsv::RSV2 | Rsv::RSV3);
        assert_eq!(Rsv::RSV1.outside(Rsv::RSV1), Rsv::NONE);
        assert_eq!((Rsv::RSV1 | Rsv::RSV3).to_string(), "RSV1|RSV3");
        assert_eq!(format!("{:?}", Rsv::NONE), "none");
    }
}
