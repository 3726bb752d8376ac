//! Stage 3 of the chain: the answer to a blocked name, per the rule's mode — the
//! gateway's block-page address (so a browser shows why), NXDOMAIN, or 0.0.0.0/`::` —
//! with a short TTL. What to answer is decided once (`Block::answer`) and written by two
//! encoders: `write` straight into the UDP fast path's send buffer (`wire`), `send`
//! through hickory-server for the full path. So the two paths can't disagree on a
//! blocked answer.
//!
//! Owns: the block page's addresses and the blocked answer's shape. Must not: decide
//! what is blocked (`decide`) or log it (`record`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_net::NetError;
use hickory_proto::{
    op::{Edns, Metadata, ResponseCode},
    rr::{
        RData, Record, RecordType,
        rdata::{A, AAAA},
    },
};
use hickory_server::{
    server::{Request, ResponseHandler, ResponseInfo},
    zone_handler::MessageResponseBuilder,
};

use super::wire;
use crate::policy::BlockMode;

/// TTL of a blocked answer: short, so lifting a block is seen soon by PCs' caches.
pub(super) const BLOCK_TTL: u32 = 10;

const RCODE_NXDOMAIN: u8 = 3;

/// Where blocked names lead with `BlockMode::Page`: the gateway's LAN addresses.
pub struct Block {
    pub page_v4: Option<Ipv4Addr>,
    pub page_v6: Option<Ipv6Addr>,
}

/// A blocked name's answer, whichever path writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// NXDOMAIN, no records.
    Nxdomain,
    /// NOERROR with this one address record, or none (NODATA: other types of a blocked
    /// name, or a family the gateway has no address of).
    Address(Option<IpAddr>),
}

impl Block {
    /// The answer for a name blocked with `mode`, asked with `qtype`.
    #[inline]
    pub(super) fn answer(&self, mode: BlockMode, qtype: RecordType) -> Answer {
        Answer::Address(match (mode, qtype) {
            (BlockMode::Nxdomain, _) => return Answer::Nxdomain,
            (BlockMode::Page, RecordType::A) => self.page_v4.map(IpAddr::V4),
            (BlockMode::Page, RecordType::AAAA) => self.page_v6.map(IpAddr::V6),
            (BlockMode::Null, RecordType::A) => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            (BlockMode::Null, RecordType::AAAA) => Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
            // Other types of a blocked name: an empty answer (NODATA).
            _ => None,
        })
    }

    /// The fast path's encoder: the blocked answer to `q` (read from `pkt`) into `out`.
    #[inline]
    pub(super) fn write(&self, out: &mut Vec<u8>, pkt: &[u8], q: &wire::Query, mode: BlockMode) {
        match self.answer(mode, RecordType::from(q.qtype)) {
            Answer::Nxdomain => wire::empty_answer(out, pkt, q, RCODE_NXDOMAIN),
            Answer::Address(addr) => wire::address_answer(out, pkt, q, addr, BLOCK_TTL),
        }
    }

    /// The full path's encoder: the blocked answer to `request`, sent through `rh`.
    pub(super) async fn send<R: ResponseHandler>(
        &self,
        request: &Request,
        rh: &mut R,
        mode: BlockMode,
        edns: Option<&Edns>,
    ) -> Result<ResponseInfo, NetError> {
        let mut md = Metadata::response_from_request(&request.metadata);
        md.recursion_available = true;
        let builder = MessageResponseBuilder::new(&request.queries, edns);
        let Ok(info) = request.request_info() else {
            md.response_code = ResponseCode::FormErr;
            return rh.send_response(builder.build_no_records(md)).await;
        };
        let addr = match self.answer(mode, info.query.query_type()) {
            Answer::Nxdomain => {
                md.response_code = ResponseCode::NXDomain;
                return rh.send_response(builder.build_no_records(md)).await;
            }
            Answer::Address(addr) => addr,
        };
        let name = info.query.original().name().clone();
        let answers: Vec<Record> = addr
            .map(|ip| {
                let rdata = match ip {
                    IpAddr::V4(a) => RData::A(A(a)),
                    IpAddr::V6(a) => RData::AAAA(AAAA(a)),
                };
                Record::from_rdata(name, BLOCK_TTL, rdata)
            })
            .into_iter()
            .collect();
        let response = builder.build(
            md,
            answers.iter(),
            std::iter::empty(),
            std::iter::empty(),
            std::iter::empty(),
        );
        rh.send_response(response).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_mode_answers_as_documented() {
        let b = Block {
            page_v4: Some(Ipv4Addr::new(10, 10, 0, 1)),
            page_v6: None,
        };
        let page_v4 = Some(IpAddr::V4(Ipv4Addr::new(10, 10, 0, 1)));
        assert_eq!(
            b.answer(BlockMode::Nxdomain, RecordType::A),
            Answer::Nxdomain
        );
        assert_eq!(
            b.answer(BlockMode::Page, RecordType::A),
            Answer::Address(page_v4)
        );
        assert_eq!(
            b.answer(BlockMode::Page, RecordType::AAAA),
            Answer::Address(None)
        );
        assert_eq!(
            b.answer(BlockMode::Page, RecordType::MX),
            Answer::Address(None)
        );
        assert_eq!(
            b.answer(BlockMode::Null, RecordType::AAAA),
            Answer::Address(Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)))
        );
        assert_eq!(
            b.answer(BlockMode::Null, RecordType::TXT),
            Answer::Address(None)
        );
    }
}
