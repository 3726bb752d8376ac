//! The site name an opening packet carries: the server name (SNI) of a TLS ClientHello,
//! or the `Host` header of an HTTP request. Input is whatever a PC sent: every length is
//! checked, nothing panics (fuzzed: `tests/fuzz`, target `sniff`).
//!
//! TLS extensions are parsed by `tls-parser`. The ClientHello's fixed prefix (version,
//! random, session id, cipher suites, compression methods) is walked here because the
//! datapath hands over one segment: a ClientHello that spans two segments (post-quantum
//! key shares make them ~1.8 kB) is truncated, which `tls-parser`'s whole-record parser
//! rejects, while the server name usually sits in the part we have. So: walk the prefix,
//! then let `tls-parser` read extensions one by one until the data runs out.

use std::net::IpAddr;

use crate::store::Via;

/// The name a payload opens a connection to, and how it was found.
pub fn server_name(payload: &[u8]) -> Option<(String, Via)> {
    if payload.first() == Some(&0x16) {
        tls_sni(payload).map(|n| (n, Via::Sni))
    } else {
        http_host(payload).map(|n| (n, Via::Host))
    }
}

/// A cursor over untrusted bytes: every read is checked.
struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| b[0] as usize)
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
    }
}

fn tls_sni(p: &[u8]) -> Option<String> {
    let mut c = Cursor(p);
    // Record: type 0x16 (handshake), version, length (the record may be truncated).
    let rec = c.take(5)?;
    if rec[0] != 0x16 || rec[1] != 0x03 {
        return None;
    }
    // Handshake: type 1 (ClientHello), 3-byte length.
    let hs = c.take(4)?;
    if hs[0] != 0x01 {
        return None;
    }
    c.take(2 + 32)?; // client version, random
    let sid = c.u8()?;
    c.take(sid)?;
    let suites = c.u16()?;
    c.take(suites)?;
    let comp = c.u8()?;
    c.take(comp)?;
    let ext_len = c.u16()?;
    let mut rest = &c.0[..ext_len.min(c.0.len())];
    while !rest.is_empty() {
        let Ok((r, ext)) = tls_parser::parse_tls_client_hello_extension(rest) else {
            return None;
        };
        if let tls_parser::TlsExtension::SNI(names) = ext {
            return names
                .iter()
                .filter(|(t, _)| t.0 == 0)
                .find_map(|(_, n)| clean_name(n));
        }
        rest = r;
    }
    None
}

fn http_host(p: &[u8]) -> Option<String> {
    // Only the request head; a segment may end inside it, so parse up to the last
    // complete line and close the head there.
    let head_end = p.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4);
    let owned;
    let head: &[u8] = match head_end {
        Some(e) => &p[..e],
        None => {
            let last = p.windows(2).rposition(|w| w == b"\r\n")?;
            let mut v = p[..last + 2].to_vec();
            v.extend_from_slice(b"\r\n");
            owned = v;
            &owned
        }
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        _ => return None,
    }
    let host = req
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case("host"))?;
    let v = std::str::from_utf8(host.value).ok()?.trim();
    // Strip the port: `name:8080`, `[v6]:8080`, `[v6]`.
    let bare = if let Some(rest) = v.strip_prefix('[') {
        rest.split(']').next()?
    } else {
        v.rsplit_once(':').map_or(v, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                v
            }
        })
    };
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Some(ip.to_string());
    }
    clean_name(bare.as_bytes())
}

/// A host name as we store it: lower case, no trailing dot, DNS characters only.
fn clean_name(raw: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(raw).ok()?.trim_end_matches('.');
    if s.is_empty()
        || s.len() > 253
        || !s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        || s.split('.').any(|l| l.is_empty() || l.len() > 63)
    {
        return None;
    }
    Some(s.to_ascii_lowercase())
}

/// The registrable domain of a host (`img.news.example.co.uk` → `example.co.uk`) per the
/// Public Suffix List; an address, or a name that is itself a public suffix, stays whole.
pub fn registrable(host: &str) -> String {
    if host.parse::<IpAddr>().is_ok() {
        return host.to_string();
    }
    psl::domain_str(host).unwrap_or(host).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello as OpenSSL sends it, built by hand: SNI among other extensions.
    fn client_hello(name: &str, truncate_to: Option<usize>) -> Vec<u8> {
        let mut ext = Vec::new();
        // supported_groups
        ext.extend_from_slice(&[0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d]);
        // server_name
        let n = name.as_bytes();
        let list_len = 3 + n.len();
        ext.extend_from_slice(&[0x00, 0x00]);
        ext.extend_from_slice(&((list_len + 2) as u16).to_be_bytes());
        ext.extend_from_slice(&(list_len as u16).to_be_bytes());
        ext.push(0);
        ext.extend_from_slice(&(n.len() as u16).to_be_bytes());
        ext.extend_from_slice(n);
        // a big key share after it, like a post-quantum hello
        ext.extend_from_slice(&[0x00, 0x33, 0x04, 0xc4]);
        ext.extend(std::iter::repeat_n(0x42, 0x04c4));
        let mut body = vec![0x03, 0x03];
        body.extend([7u8; 32]);
        body.push(32);
        body.extend([9u8; 32]);
        body.extend_from_slice(&[0x00, 0x04, 0x13, 0x01, 0x13, 0x02, 0x01, 0x00]);
        body.extend_from_slice(&(ext.len() as u16).to_be_bytes());
        body.extend(ext);
        let mut hs = vec![0x01, 0];
        hs.extend_from_slice(&(body.len() as u16).to_be_bytes());
        hs.extend(body);
        let mut rec = vec![0x16, 0x03, 0x01];
        rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
        rec.extend(hs);
        if let Some(t) = truncate_to {
            rec.truncate(t);
        }
        rec
    }

    #[test]
    fn sni_from_whole_and_truncated_hellos() {
        let whole = client_hello("WWW.News.Example", None);
        assert_eq!(
            server_name(&whole),
            Some(("www.news.example".into(), Via::Sni))
        );
        // The first segment of a two-segment hello still names the server.
        assert_eq!(
            server_name(&client_hello("a.example", Some(400))).map(|x| x.0),
            Some("a.example".into())
        );
        // Cut before the name: nothing, and no panic anywhere in between.
        for cut in 0..whole.len() {
            let _ = server_name(&whole[..cut]);
        }
        assert_eq!(server_name(&whole[..60]), None);
    }

    #[test]
    fn host_header() {
        let req = b"GET /x HTTP/1.1\r\nUser-Agent: curl\r\nHost: Shop.Example:8080\r\n\r\n";
        assert_eq!(server_name(req), Some(("shop.example".into(), Via::Host)));
        // Truncated after the Host line: still found.
        let cut = b"GET / HTTP/1.1\r\nHost: a.example\r\nAccept: */";
        assert_eq!(server_name(cut).map(|x| x.0), Some("a.example".into()));
        assert_eq!(
            server_name(b"GET / HTTP/1.1\r\nHost: 203.0.113.7\r\n\r\n").map(|x| x.0),
            Some("203.0.113.7".into())
        );
        assert_eq!(
            server_name(b"GET / HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n").map(|x| x.0),
            Some("2001:db8::1".into())
        );
        // Hostile values are refused, not stored.
        assert_eq!(
            server_name(b"GET / HTTP/1.1\r\nHost: <script>\r\n\r\n"),
            None
        );
        assert_eq!(server_name(b"POST / HTTP/1.1\r\n\r\n"), None);
    }

    #[test]
    fn registrable_domains() {
        assert_eq!(registrable("www.news.example"), "news.example");
        assert_eq!(registrable("img.news.example"), "news.example");
        assert_eq!(registrable("a.b.example.co.uk"), "example.co.uk");
        assert_eq!(registrable("203.0.113.7"), "203.0.113.7");
        assert_eq!(registrable("localhost"), "localhost");
    }
}
