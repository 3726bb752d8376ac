//! Addresses as map keys hold them.

/// An IPv6 address as map keys hold it: its 16 bytes in network order, typed as four
/// words so the kernel program copies it 4 bytes at a time (a `[u8; 16]` has alignment 1,
/// and the BPF backend then copies byte by byte: that cost ~25 ns per IPv6 packet).
pub type Addr6 = [u32; 4];

/// `Addr6` from an address's bytes (`Ipv6Addr::octets`).
pub const fn addr6_from_octets(o: [u8; 16]) -> Addr6 {
    [
        u32::from_ne_bytes([o[0], o[1], o[2], o[3]]),
        u32::from_ne_bytes([o[4], o[5], o[6], o[7]]),
        u32::from_ne_bytes([o[8], o[9], o[10], o[11]]),
        u32::from_ne_bytes([o[12], o[13], o[14], o[15]]),
    ]
}

/// The address's bytes back from an `Addr6`.
pub const fn addr6_octets(a: Addr6) -> [u8; 16] {
    let (w0, w1, w2, w3) = (
        a[0].to_ne_bytes(),
        a[1].to_ne_bytes(),
        a[2].to_ne_bytes(),
        a[3].to_ne_bytes(),
    );
    [
        w0[0], w0[1], w0[2], w0[3], w1[0], w1[1], w1[2], w1[3], w2[0], w2[1], w2[2], w2[3], w3[0],
        w3[1], w3[2], w3[3],
    ]
}

const _: () = assert!(
    addr6_octets(addr6_from_octets([
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
    ]))[15]
        == 16
);
