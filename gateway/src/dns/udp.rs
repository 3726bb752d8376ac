//! The UDP side of the filter. hickory-server's UDP loop decodes every datagram into a
//! `Request` and spawns a task per query; here each datagram first gets the fast path
//! (`fast`, answered in place, no task), and only the rest is decoded by hickory and run
//! through the full chain (`handler`) in a task of its own, answered through
//! `Reply`. TCP stays with hickory-server.

use std::{io::ErrorKind, net::SocketAddr, sync::Arc};

use hickory_net::{NetError, runtime::TokioTime, xfer::Protocol};
use hickory_proto::{
    op::{Header, HeaderCounts, Metadata, ResponseCode},
    rr::Record,
    serialize::binary::BinEncoder,
};
use hickory_server::{
    server::{Request, RequestHandler, ResponseHandler, ResponseInfo},
    zone_handler::MessageResponse,
};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::handler::Filter;

/// Datagrams taken per wake-up before the loop lets the runtime run other tasks (TCP
/// clients, the slow path's forwards, the API).
const BATCH: usize = 64;
/// Largest datagram read (EDNS payloads above this are not offered by real clients).
const MAX_DATAGRAM: usize = 4096;
/// Slow-path queries in progress at once; beyond this, new ones are dropped (the client
/// retries) rather than growing without bound under a flood of cache misses.
const MAX_SLOW: usize = 4096;

pub(super) async fn serve(socket: UdpSocket, filter: Arc<Filter>, token: CancellationToken) {
    let socket = Arc::new(socket);
    let slow = Arc::new(tokio::sync::Semaphore::new(MAX_SLOW));
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut out = Vec::with_capacity(1232);
    loop {
        if let Some(r) = &filter.repeats {
            r.flush_due();
        }
        tokio::select! {
            _ = token.cancelled() => return,
            r = socket.readable() => if let Err(e) = r {
                tracing::error!(error = %e, "DNS UDP socket failed");
                return;
            },
        }
        for _ in 0..BATCH {
            let (n, src) = match socket.try_recv_from(&mut buf) {
                Ok(got) => got,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // ICMP errors of earlier answers surface here: not this socket's fault.
                Err(e) => {
                    debug!(error = %e, "DNS UDP receive");
                    continue;
                }
            };
            if src.port() == 0 || src.ip().is_unspecified() {
                continue;
            }
            let pkt = &buf[..n];
            if filter.fast(pkt, src, std::time::Instant::now(), &mut out) {
                if let Err(e) = socket.try_send_to(&out, src) {
                    // A full send buffer drops the answer like a lost packet; the client
                    // asks again.
                    debug!(error = %e, %src, "DNS UDP send");
                }
                continue;
            }
            let Ok(permit) = slow.clone().try_acquire_owned() else {
                debug!(%src, "slow path full: query dropped");
                continue;
            };
            match Request::from_bytes(pkt.to_vec(), src, Protocol::Udp) {
                Ok(req)
                    if !req
                        .metadata
                        .message_type
                        .eq(&hickory_proto::op::MessageType::Response) =>
                {
                    let reply = Reply {
                        socket: socket.clone(),
                        dst: src,
                    };
                    let filter = filter.clone();
                    tokio::spawn(async move {
                        filter.handle_request::<_, TokioTime>(&req, reply).await;
                        drop(permit);
                    });
                }
                // Answers are never answered (no reflection loops).
                Ok(_) => {}
                Err(_) => {
                    if let Some(err) = format_error(pkt) {
                        let _ = socket.try_send_to(&err, src);
                    }
                }
            }
        }
    }
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
        // RFC 1035 §4.2.1: 512 bytes without EDNS; what the client offered with it.
        let max = response.edns().map_or(512, |e| e.max_payload().max(512));
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
