//! What a middlebox does to a packet in a lab or simulator test: rewrite
//! it in place and leave a valid TCP checksum behind, so that only the
//! MPTCP layer (DSS checksums, missing options) can notice.

/// Recompute the TCP checksum of an IPv4 packet in place (after its
/// payload or options were rewritten).
///
/// # Panics
///
/// If `packet` is shorter than its IPv4 and TCP headers.
pub fn fix_tcp_checksum_v4(packet: &mut [u8]) {
    let ihl = usize::from(packet[0] & 0x0f) * 4;
    let tcp_len = packet.len() - ihl;
    packet[ihl + 16] = 0;
    packet[ihl + 17] = 0;
    let mut sum: u32 = 0;
    let mut add = |bytes: &[u8]| {
        for pair in bytes.chunks(2) {
            sum += (u32::from(pair[0]) << 8) | pair.get(1).map_or(0, |&b| u32::from(b));
        }
    };
    add(&packet[12..20]);
    add(&[0, 6]);
    add(&(tcp_len as u16).to_be_bytes());
    add(&packet[ihl..]);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let checksum = !(sum as u16);
    packet[ihl + 16..ihl + 18].copy_from_slice(&checksum.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_checksum_verifies() {
        // IPv4 + TCP header (no options) + 3 bytes of payload.
        let mut p = vec![0u8; 43];
        p[0] = 0x45;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 0, 0, 2]);
        p[32] = 5 << 4;
        p[40..43].copy_from_slice(b"abc");
        fix_tcp_checksum_v4(&mut p);
        // Summing the pseudo-header and segment with the checksum in
        // place gives all ones.
        let mut sum: u32 = 0;
        let tcp = &p[20..];
        for pair in p[12..20]
            .chunks(2)
            .chain([&[0u8, 6][..]])
            .chain([&(tcp.len() as u16).to_be_bytes()[..]])
            .chain(tcp.chunks(2))
        {
            sum += (u32::from(pair[0]) << 8) | pair.get(1).map_or(0, |&b| u32::from(b));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        assert_eq!(sum, 0xffff);
    }
}
