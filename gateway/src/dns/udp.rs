//! The UDP side of the filter. hickory-server's UDP loop decodes every datagram into a
//! `Request` and spawns a task per query; here each datagram first gets the fast path
//! (`fast`, answered in place, no task), and only the rest is decoded by hickory and run
//! through the full chain (`handler`) in a task of its own, answered through
//! `Reply`. TCP stays with hickory-server.
//!
//! Owns: the UDP sockets' loop and their batches. Must not: decide anything (it picks a
//! path per datagram; the stages decide).

use std::{
    io::{ErrorKind, IoSliceMut},
    net::SocketAddr,
    os::fd::{AsRawFd, RawFd},
    sync::Arc,
};

use hickory_net::{NetError, xfer::Protocol};
use hickory_proto::{
    op::{Header, HeaderCounts, Metadata, ResponseCode},
    rr::Record,
    serialize::binary::BinEncoder,
};
use hickory_server::{
    server::{Request, ResponseHandler, ResponseInfo},
    zone_handler::MessageResponse,
};
use nix::sys::socket::{MsgFlags, MultiHeaders, SockaddrStorage, recvmmsg};
use tokio::{io::Interest, net::UdpSocket};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::filter::{Filter, Via};

/// Datagrams per `recvmmsg`, and batches per wake-up before the loop lets the runtime
/// run other tasks (TCP clients, the slow path's forwards, the API).
const BATCH: usize = 32;
const ROUNDS: usize = 4;
/// Largest datagram read (EDNS payloads above this are not offered by real clients).
const MAX_DATAGRAM: usize = 4096;
/// Slow-path queries in progress at once; beyond this, new ones are dropped (the client
/// retries) rather than growing without bound under a flood of cache misses.
const MAX_SLOW: usize = 4096;

pub(super) async fn serve(
    socket: UdpSocket,
    filter: Arc<Filter>,
    via: Via,
    token: CancellationToken,
) {
    let socket = Arc::new(socket);
    let slow = Arc::new(tokio::sync::Semaphore::new(MAX_SLOW));
    let mut io = Batch::new();
    let mut replies: Vec<(usize, SocketAddr)> = Vec::with_capacity(BATCH);
    loop {
        if let Some(r) = &filter.log.repeats {
            r.flush_due();
        }
        tokio::select! {
            _ = token.cancelled() => return,
            r = socket.readable() => if let Err(e) = r {
                tracing::error!(error = %e, "DNS UDP socket failed");
                return;
            },
        }
        for _ in 0..ROUNDS {
            let got = match socket.try_io(Interest::READABLE, || io.recv(socket.as_raw_fd())) {
                Ok(got) => got,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // ICMP errors of earlier answers surface here: not this socket's fault.
                Err(e) => {
                    debug!(error = %e, "DNS UDP receive");
                    continue;
                }
            };
            if got.is_empty() {
                break;
            }
            replies.clear();
            for (i, (n, src)) in got.into_iter().enumerate() {
                let Some(src) = src.filter(|s| s.port() != 0 && !s.ip().is_unspecified()) else {
                    continue;
                };
                let (pkt, out) = (&io.bufs[i][..n], &mut io.outs[i]);
                if filter.fast(pkt, src, via, std::time::Instant::now(), out) {
                    // Empty: an error answer over its network's allowance (`access`).
                    if !out.is_empty() {
                        replies.push((i, src));
                    }
                } else {
                    slow_path(&socket, &filter, &slow, pkt, src, via);
                }
            }
            io.send(&socket, &replies);
        }
    }
}

/// Runs one datagram the fast path declined through hickory and the full chain, in a
/// task of its own.
fn slow_path(
    socket: &Arc<UdpSocket>,
    filter: &Arc<Filter>,
    slow: &Arc<tokio::sync::Semaphore>,
    pkt: &[u8],
    src: SocketAddr,
    via: Via,
) {
    let Ok(permit) = slow.clone().try_acquire_owned() else {
        debug!(%src, "slow path full: query dropped");
        return;
    };
    match Request::from_bytes(pkt.to_vec(), src, Protocol::Udp) {
        Ok(req) if req.metadata.message_type != hickory_proto::op::MessageType::Response => {
            let reply = Reply {
                socket: socket.clone(),
                dst: src,
            };
            let filter = filter.clone();
            tokio::spawn(async move {
                filter.respond(&req, reply, via).await;
                drop(permit);
            });
        }
        // Answers are never answered (no reflection loops).
        Ok(_) => {}
        Err(_) if !filter.access.may_answer_error(src.ip()) => {}
        Err(_) => {
            if let Some(err) = format_error(pkt) {
                let _ = socket.try_send_to(&err, src);
            }
        }
    }
}

/// Buffers for `recvmmsg`/`sendmmsg`: up to `BATCH` datagrams per system call each way
/// instead of one `recvfrom` and one `sendto` per query (the system calls' own cost was
/// a sixth of the kernel's share of a query at 100k qps). nix wraps the receive.
struct Batch {
    bufs: Vec<Vec<u8>>,
    outs: Vec<Vec<u8>>,
    rx: MultiHeaders<SockaddrStorage>,
}

// SAFETY: the raw pointers inside nix's `MultiHeaders` (the `mmsghdr` array) only ever
// point at buffers of this same `Batch` and are rewritten by each call before the kernel
// reads them; nothing else holds them, so moving the whole batch to another thread (the
// runtime moving the UDP task) is sound.
unsafe impl Send for Batch {}

impl Batch {
    fn new() -> Self {
        Batch {
            bufs: (0..BATCH).map(|_| vec![0u8; MAX_DATAGRAM]).collect(),
            outs: (0..BATCH).map(|_| Vec::with_capacity(1232)).collect(),
            rx: MultiHeaders::preallocate(BATCH, None),
        }
    }

    /// The datagrams waiting (up to `BATCH`): length and sender of each, in `bufs`.
    fn recv(&mut self, fd: RawFd) -> std::io::Result<Vec<(usize, Option<SocketAddr>)>> {
        let mut iovs: Vec<[IoSliceMut<'_>; 1]> = self
            .bufs
            .iter_mut()
            .map(|b| [IoSliceMut::new(&mut b[..])])
            .collect();
        let got = recvmmsg(
            fd,
            &mut self.rx,
            iovs.iter_mut(),
            MsgFlags::MSG_DONTWAIT,
            None,
        )
        .map_err(std::io::Error::from)?;
        Ok(got
            .map(|m| (m.bytes, m.address.as_ref().and_then(std_addr)))
            .collect())
    }

    /// Sends `outs[i]` to each (i, address); what the kernel does not take at once is
    /// sent one by one, and what still does not go is dropped like a lost packet (the
    /// client asks again).
    fn send(&mut self, socket: &UdpSocket, replies: &[(usize, SocketAddr)]) {
        if replies.is_empty() {
            return;
        }
        // `libc::sendmmsg` directly: nix's wrapper reads back address slots the kernel
        // never writes on a send, and only the count of messages sent is needed here.
        let addrs: Vec<socket2::SockAddr> = replies.iter().map(|(_, a)| (*a).into()).collect();
        let mut iovs: Vec<libc::iovec> = replies
            .iter()
            .map(|(i, _)| libc::iovec {
                iov_base: self.outs[*i].as_ptr() as *mut libc::c_void,
                iov_len: self.outs[*i].len(),
            })
            .collect();
        let mut hdrs: Vec<libc::mmsghdr> = iovs
            .iter_mut()
            .zip(&addrs)
            .map(|(iov, a)| {
                // SAFETY: an all-zero mmsghdr is a valid empty header.
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_name = a.as_ptr() as *mut libc::c_void;
                h.msg_hdr.msg_namelen = a.len();
                h.msg_hdr.msg_iov = iov;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        let sent = socket
            .try_io(Interest::WRITABLE, || {
                // SAFETY: every header points at an address, an iovec and a buffer that
                // live until the call returns; the kernel only reads them.
                let n = unsafe {
                    libc::sendmmsg(
                        socket.as_raw_fd(),
                        hdrs.as_mut_ptr(),
                        hdrs.len() as libc::c_uint,
                        libc::MSG_DONTWAIT,
                    )
                };
                if n < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(n as usize)
                }
            })
            .unwrap_or(0);
        for (i, dst) in &replies[sent.min(replies.len())..] {
            if let Err(e) = socket.try_send_to(&self.outs[*i], *dst) {
                debug!(error = %e, %dst, "DNS UDP send");
            }
        }
    }
}

fn std_addr(a: &SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = a.as_sockaddr_in() {
        return Some(SocketAddr::V4((*v4).into()));
    }
    a.as_sockaddr_in6().map(|v6| SocketAddr::V6((*v6).into()))
}

/// FORMERR for a query whose header reads but whose body does not (as hickory-server
/// answers); nothing for what is not even a query header.
fn format_error(pkt: &[u8]) -> Option<Vec<u8>> {
    if pkt.len() < 12 || pkt[2] & 0x80 != 0 {
        return None;
    }
    let id = u16::from_be_bytes([pkt[0], pkt[1]]);
    let mut metadata = Metadata::new(
        id,
        hickory_proto::op::MessageType::Response,
        hickory_proto::op::OpCode::from_u8((pkt[2] >> 3) & 0xf),
    );
    metadata.response_code = ResponseCode::FormErr;
    let header = Header {
        metadata,
        counts: HeaderCounts::default(),
    };
    let mut bytes = Vec::with_capacity(12);
    let mut enc = BinEncoder::new(&mut bytes);
    hickory_proto::serialize::binary::BinEncodable::emit(&header, &mut enc).ok()?;
    Some(bytes)
}

/// Sends the full path's answer to one UDP client.
#[derive(Clone)]
struct Reply {
    socket: Arc<UdpSocket>,
    dst: SocketAddr,
}

#[async_trait::async_trait]
impl ResponseHandler for Reply {
    async fn send_response<'a>(
        &mut self,
        response: MessageResponse<
            '_,
            'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
            impl Iterator<Item = &'a Record> + Send + 'a,
        >,
    ) -> Result<ResponseInfo, NetError> {
        let id = response.metadata().id;
        // RFC 1035 §4.2.1: 512 bytes without EDNS; what the client offered with it, never
        // more than `MAX_UDP_ANSWER` (a forwarded answer carries the upstream's OPT).
        let max = response
            .edns()
            .map_or(512, |e| e.max_payload().clamp(512, super::MAX_UDP_ANSWER));
        let mut bytes = Vec::with_capacity(512);
        let mut enc = BinEncoder::new(&mut bytes);
        enc.set_max_size(max);
        let info = match response.destructive_emit(&mut enc) {
            Ok(info) => info,
            Err(e) => {
                tracing::warn!(error = %e, "could not encode a DNS answer: SERVFAIL instead");
                let mut metadata = Metadata::new(
                    id,
                    hickory_proto::op::MessageType::Response,
                    hickory_proto::op::OpCode::Query,
                );
                metadata.response_code = ResponseCode::ServFail;
                let header = Header {
                    metadata,
                    counts: HeaderCounts::default(),
                };
                bytes.clear();
                let mut enc = BinEncoder::new(&mut bytes);
                hickory_proto::serialize::binary::BinEncodable::emit(&header, &mut enc)?;
                ResponseInfo::from(header)
            }
        };
        self.socket.send_to(&bytes, self.dst).await?;
        Ok(info)
    }
}
