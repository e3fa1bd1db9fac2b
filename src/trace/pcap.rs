//! The classic libpcap file format (what `tcpdump -w` writes and Wireshark and `tcpdump -r`
//! open): a 24-byte global header, then one 16-byte record header per frame. Written in the
//! machine's byte order with the microsecond magic, as libpcap itself does.

use std::io::{self, Write};
use std::time::Duration;

const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Link type of Ethernet frames.
const LINKTYPE_ETHERNET: u32 = 1;
pub const SNAPLEN: u32 = 65535;

/// Write `frames` (time since the Unix epoch, the frame's bytes) as one pcap stream.
pub fn write<'a, W: Write>(
    out: &mut W,
    frames: impl IntoIterator<Item = (Duration, &'a [u8])>,
) -> io::Result<()> {
    let mut head = Vec::with_capacity(24);
    head.extend_from_slice(&MAGIC_MICROS.to_ne_bytes());
    head.extend_from_slice(&2u16.to_ne_bytes());
    head.extend_from_slice(&4u16.to_ne_bytes());
    head.extend_from_slice(&0i32.to_ne_bytes()); // thiszone: timestamps are UTC
    head.extend_from_slice(&0u32.to_ne_bytes()); // sigfigs
    head.extend_from_slice(&SNAPLEN.to_ne_bytes());
    head.extend_from_slice(&LINKTYPE_ETHERNET.to_ne_bytes());
    out.write_all(&head)?;
    for (ts, data) in frames {
        let kept = &data[..data.len().min(SNAPLEN as usize)];
        let mut rec = Vec::with_capacity(16 + kept.len());
        rec.extend_from_slice(&(ts.as_secs() as u32).to_ne_bytes());
        rec.extend_from_slice(&ts.subsec_micros().to_ne_bytes());
        rec.extend_from_slice(&(kept.len() as u32).to_ne_bytes());
        rec.extend_from_slice(&(data.len() as u32).to_ne_bytes());
        rec.extend_from_slice(kept);
        out.write_all(&rec)?;
    }
    Ok(())
}

/// Read a pcap stream written in either byte order: each frame's time and bytes. `None` when
/// the data is not a microsecond Ethernet pcap or a record is cut short.
pub fn read(data: &[u8]) -> Option<Vec<(Duration, Vec<u8>)>> {
    let magic: [u8; 4] = data.get(0..4)?.try_into().ok()?;
    let swapped = if u32::from_ne_bytes(magic) == MAGIC_MICROS {
        false
    } else if u32::from_ne_bytes(magic).swap_bytes() == MAGIC_MICROS {
        true
    } else {
        return None;
    };
    let word = |at: usize| -> Option<u32> {
        let w = u32::from_ne_bytes(data.get(at..at + 4)?.try_into().ok()?);
        Some(if swapped { w.swap_bytes() } else { w })
    };
    if word(20)? != LINKTYPE_ETHERNET {
        return None;
    }
    let mut at = 24;
    let mut frames = Vec::new();
    while at < data.len() {
        let (secs, micros, len) = (word(at)?, word(at + 4)?, word(at + 8)? as usize);
        let bytes = data.get(at + 16..at + 16 + len)?.to_vec();
        frames.push((
            Duration::from_secs(u64::from(secs)) + Duration::from_micros(u64::from(micros)),
            bytes,
        ));
        at += 16 + len;
    }
    Some(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let a = vec![1u8; 60];
        let b = vec![2u8; 74];
        let t1 = Duration::new(1_700_000_000, 123_456_000);
        let t2 = Duration::new(1_700_000_001, 7_000);
        let mut out = Vec::new();
        write(&mut out, [(t1, a.as_slice()), (t2, b.as_slice())]).unwrap();
        assert_eq!(out.len(), 24 + 16 + 60 + 16 + 74);
        assert_eq!(read(&out), Some(vec![(t1, a), (t2, b)]));
        // A record cut short is not a valid file.
        assert_eq!(read(&out[..out.len() - 1]), None);
        assert_eq!(read(b"not a pcap file at all, no"), None);
    }

    #[test]
    fn reads_the_other_byte_order() {
        let mut out = Vec::new();
        write(&mut out, [(Duration::new(5, 6_000), [9u8; 3].as_slice())]).unwrap();
        // Swap every 32-bit word of the headers, and the two 16-bit version fields.
        let mut swapped = out.clone();
        for at in [0, 8, 12, 16, 20, 24, 28, 32, 36] {
            swapped[at..at + 4].reverse();
        }
        swapped[4..6].reverse();
        swapped[6..8].reverse();
        assert_eq!(
            read(&swapped),
            Some(vec![(Duration::new(5, 6_000), vec![9; 3])])
        );
    }
}
