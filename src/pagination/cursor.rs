//! Opaque, versioned cursors bound to one connection.
//!
//! A cursor is `base64url("v1:" + connection fingerprint + ":" + offset)`. The fingerprint is a
//! stable hash of what identifies the list (endpoint, parent id, filter), so a cursor taken
//! from one connection and replayed on another is rejected instead of being applied to a
//! different list. The format is versioned so that it can change without misreading old ones.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

const VERSION: &str = "v1";
// The head of a cursor (see `CursorCodec::head`) is counted in bytes of this version's text.
const _: () = assert!(VERSION.len() == 2);

/// Why a cursor was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    /// Not a cursor this service issued (or one of an unknown version).
    #[error("is not a valid cursor")]
    Malformed,
    /// A real cursor, but from another connection (other session, filter or list).
    #[error("belongs to a different connection (another session, filter or list)")]
    ForeignConnection,
}

/// Encodes and decodes the cursors of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorCodec {
    fingerprint: u64,
    /// What every cursor of the connection starts with: the base64 of its first 18 bytes
    /// (`v1:` and 15 of the 16 hex digits), which as a multiple of 3 bytes encodes alone. A
    /// connection writes a cursor per edge; with this, writing one is encoding a few bytes.
    head: [u8; 24],
}

/// The bytes of `v1:{fingerprint:016x}:` that [`CursorCodec::head`] encodes.
const HEAD_BYTES: usize = 18;

impl CursorCodec {
    /// A codec for the connection identified by `parts` (e.g. endpoint, parent id, filter).
    pub fn for_connection<'a>(parts: impl IntoIterator<Item = &'a str>) -> Self {
        // FNV-1a: tiny, and unlike std's hasher its output is stable across Rust releases,
        // so cursors survive a redeploy. Parts are separated by a byte no part contains.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut add = |byte: u8| hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        for part in parts {
            part.bytes().for_each(&mut add);
            add(0xff);
        }
        let mut head = [0; 24];
        let written = URL_SAFE_NO_PAD.encode_slice(&plain_prefix(hash)[..HEAD_BYTES], &mut head);
        debug_assert_eq!(written, Ok(head.len()));
        Self { fingerprint: hash, head }
    }

    /// The cursor of the item at `offset`.
    pub fn encode(&self, offset: u64) -> String {
        let mut cursor = Vec::with_capacity(56);
        self.write(offset, &mut cursor);
        String::from_utf8(cursor).expect("base64 is ASCII")
    }

    /// Appends the cursor of the item at `offset` to `out`, as [`CursorCodec::encode`] spells it.
    pub fn write(&self, offset: u64, out: &mut Vec<u8>) {
        // The plain text after the head: the fingerprint's last hex digit, ':', the offset.
        let mut digits = itoa::Buffer::new();
        let digits = digits.format(offset).as_bytes();
        let mut tail = [0u8; 2 + 20];
        tail[0] = HEX[(self.fingerprint & 0xf) as usize];
        tail[1] = b':';
        tail[2..2 + digits.len()].copy_from_slice(digits);
        let mut encoded = [0u8; 32];
        let written =
            URL_SAFE_NO_PAD.encode_slice(&tail[..2 + digits.len()], &mut encoded).expect("22 bytes fit in 32");
        out.extend_from_slice(&self.head);
        out.extend_from_slice(&encoded[..written]);
    }

    /// The offset a cursor of this connection points at.
    pub fn decode(&self, cursor: &str) -> Result<u64, CursorError> {
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| CursorError::Malformed)?;
        let text = std::str::from_utf8(&bytes).map_err(|_| CursorError::Malformed)?;
        let mut parts = text.split(':');
        let (Some(VERSION), Some(fingerprint), Some(offset), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(CursorError::Malformed);
        };
        let fingerprint = u64::from_str_radix(fingerprint, 16).map_err(|_| CursorError::Malformed)?;
        let offset: u64 = offset.parse().map_err(|_| CursorError::Malformed)?;
        // Only the canonical spelling is ours: no '+', leading zeros or upper-case hex.
        if format!("{VERSION}:{fingerprint:016x}:{offset}") != text {
            return Err(CursorError::Malformed);
        }
        if fingerprint == self.fingerprint {
            Ok(offset)
        } else {
            Err(CursorError::ForeignConnection)
        }
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `v1:{fingerprint:016x}:`, the plain text every cursor of a connection starts with.
fn plain_prefix(fingerprint: u64) -> [u8; HEAD_BYTES + 2] {
    let mut prefix = [0u8; HEAD_BYTES + 2];
    prefix[..2].copy_from_slice(VERSION.as_bytes());
    prefix[2] = b':';
    for (index, slot) in prefix[3..19].iter_mut().enumerate() {
        let nibble = (fingerprint >> (60 - 4 * index)) & 0xf;
        *slot = HEX[nibble as usize];
    }
    prefix[19] = b':';
    prefix
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn a_cursor_decodes_to_its_offset(offset in any::<u64>(), scope in ".*") {
            let codec = CursorCodec::for_connection(["participants", scope.as_str()]);
            prop_assert_eq!(codec.decode(&codec.encode(offset)), Ok(offset));
        }

        #[test]
        fn a_cursor_is_the_base64_of_its_version_fingerprint_and_offset(offset in any::<u64>(), scope in ".*") {
            let codec = CursorCodec::for_connection(["participants", scope.as_str()]);
            let plain = format!("{VERSION}:{:016x}:{offset}", codec.fingerprint);
            prop_assert_eq!(codec.encode(offset), URL_SAFE_NO_PAD.encode(plain));
        }

        #[test]
        fn a_cursor_from_another_connection_is_rejected(offset in any::<u64>(), a in ".*", b in ".*") {
            prop_assume!(a != b);
            let ours = CursorCodec::for_connection(["participants", a.as_str()]);
            let theirs = CursorCodec::for_connection(["participants", b.as_str()]);
            prop_assert_eq!(ours.decode(&theirs.encode(offset)), Err(CursorError::ForeignConnection));
        }

        #[test]
        fn arbitrary_input_never_panics_and_is_never_a_foreign_offset(input in ".*") {
            let codec = CursorCodec::for_connection(["participants"]);
            if let Ok(offset) = codec.decode(&input) {
                prop_assert_eq!(codec.encode(offset), input);
            }
        }
    }

    #[test]
    fn the_shortest_and_longest_offsets_are_written_as_formatted() {
        let codec = CursorCodec::for_connection(["participants"]);
        for offset in [0, 9, 10, u64::MAX] {
            let plain = format!("{VERSION}:{:016x}:{offset}", codec.fingerprint);
            assert_eq!(codec.encode(offset), URL_SAFE_NO_PAD.encode(plain));
        }
    }

    #[test]
    fn a_fingerprint_is_the_same_in_every_release() {
        // FNV-1a of each part and a 0xff after it: cursors handed out before a redeploy stay valid.
        let codec =
            CursorCodec::for_connection(["/room_sessions/7a1b2c3d-9e8f-4a0b-8c1d-2e3f4a5b6c7d/participants", "x"]);
        assert_eq!(codec.fingerprint, 0x5f85_9cc4_4ca4_8967);
    }

    #[test]
    fn the_parts_of_a_fingerprint_cannot_be_shifted_between_each_other() {
        let a = CursorCodec::for_connection(["ab", "c"]);
        let b = CursorCodec::for_connection(["a", "bc"]);
        assert_ne!(a, b);
    }

    #[test]
    fn garbage_and_other_versions_are_malformed() {
        let codec = CursorCodec::for_connection(["x"]);
        for input in
            ["", "!!!", "djE6", &URL_SAFE_NO_PAD.encode("v2:0000000000000000:1"), &URL_SAFE_NO_PAD.encode("v1:zz:1")]
        {
            assert_eq!(codec.decode(input), Err(CursorError::Malformed), "{input}");
        }
    }
}

/// Fuzzing by property: see `telnyx::error::fuzz`.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn fuzz_cursors_of_arbitrary_bytes_never_panic_or_decode_foreign_offsets(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
            let codec = CursorCodec::for_connection(["fuzz"]);
            let as_text = String::from_utf8_lossy(&bytes);
            for input in [as_text.to_string(), URL_SAFE_NO_PAD.encode(&bytes)] {
                if let Ok(offset) = codec.decode(&input) {
                    prop_assert_eq!(codec.encode(offset), input);
                }
            }
        }
    }
}
