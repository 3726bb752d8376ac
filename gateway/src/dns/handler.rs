//! The full path: one request decoded by hickory (every TCP query, and the UDP queries
//! the fast path leaves), walked through the chain's stages in order (see `filter`).
//! Each stage either lets the query go on or breaks with an answer, encoded here through
//! hickory-server's `MessageResponseBuilder`:
//! 1. who asks (`access`) — outside the allowed networks, or over the client's rate
//!    limit: REFUSED;
//! 2. the policy for that PC, that name, now (`decide`) — a block is answered here, per
//!    the rule's mode (`block`);
//! 3. safe search, then the answer cache, else forward to the upstreams (and cache what
//!    comes back; `lookup`);
//! 4. a CNAME in the answer whose target the policy blocks blocks the whole answer
//!    (`decide`, `block`); a public name answered with a private address is refused
//!    (rebinding protection, `guard`);
//! 5. the allowed answer is remembered (`remember`) and relayed;
//! 6. every answered query is recorded in the query log (`record`).
//!
//! Owns: the hickory side of the chain (decode, encode, the order of the stages for
//! it) and the forward (`lookup`). Must not: decide anything a stage decides.

use std::{net::IpAddr, ops::ControlFlow, sync::Arc};

use hickory_net::{NetError, runtime::Time};
use hickory_proto::{
    op::{
        DnsRequest, DnsRequestOptions, Edns, Header, HeaderCounts, Message, MessageType, Metadata,
        OpCode, ResponseCode,
    },
    rr::{
        RData, Record, RecordType,
        rdata::{A, AAAA, CNAME},
    },
};
use hickory_server::{
    server::{Request, RequestHandler, ResponseHandler, ResponseInfo},
    zone_handler::MessageResponseBuilder,
};
use tracing::{debug, warn};

use super::{
    decide::Ask,
    filter::{Filter, Via},
    outcome::Outcome,
    record::Entry,
};

/// The filter as hickory-server's TCP side calls it: one per listener kind, so an
/// intercepted query is known from one asked of the gateway.
pub struct Shared(pub Arc<Filter>, pub Via);

#[async_trait::async_trait]
impl RequestHandler for Shared {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        rh: R,
    ) -> ResponseInfo {
        self.0.respond(request, rh, self.1).await
    }
}

impl Filter {
    /// Runs `request` through the full chain and answers it through `rh` (the UDP slow
    /// path and TCP).
    pub(super) async fn respond<R: ResponseHandler>(
        &self,
        request: &Request,
        mut rh: R,
        via: Via,
    ) -> ResponseInfo {
        match self.handle(request, &mut rh, via).await {
            Ok(info) => info,
            Err(e) => {
                warn!(error = %e, "could not send a DNS response");
                let mut metadata = Metadata::response_from_request(&request.metadata);
                metadata.response_code = ResponseCode::ServFail;
                ResponseInfo::from(Header {
                    metadata,
                    counts: HeaderCounts::default(),
                })
            }
        }
    }
}

impl Filter {
    async fn handle<R: ResponseHandler>(
        &self,
        request: &Request,
        rh: &mut R,
        via: Via,
    ) -> Result<ResponseInfo, NetError> {
        // Our answer carries EDNS when the question did (UDP size as the client offers,
        // DO copied); without it answers would be cut at 512 bytes.
        let edns = request.edns.as_ref().map(|q| {
            let mut e = Edns::new();
            e.set_max_payload(q.max_payload().clamp(512, super::MAX_UDP_ANSWER))
                .set_dnssec_ok(q.flags().dnssec_ok)
                .set_version(0);
            e
        });
        let builder = || MessageResponseBuilder::new(&request.queries, edns.as_ref());
        let error = |rcode| builder().error_msg(&request.metadata, rcode);
        // An error answer over its network's allowance (`access`): none at all.
        let silence = || {
            let mut metadata = Metadata::response_from_request(&request.metadata);
            metadata.response_code = ResponseCode::Refused;
            Ok(ResponseInfo::from(Header {
                metadata,
                counts: HeaderCounts::default(),
            }))
        };

        // 1. Who asks.
        let client = request.src().ip().to_canonical();
        let mut entry = Entry {
            start: std::time::Instant::now(),
            client,
            decision: None,
            name: String::new(),
            qtype: String::new(),
            via,
        };
        if !self.access.on_lan(client) {
            debug!(%client, "refused: not on the LAN");
            // Not logged: whoever is outside the LAN could fill the log at will.
            self.log.refused();
            if !self.access.may_answer_error(client) {
                return silence();
            }
            return rh.send_response(error(ResponseCode::Refused)).await;
        }
        if !self.access.within_rate(client) {
            // Not logged one by one: a flooding client would flood the log too.
            debug!(%client, "refused: over its rate limit");
            self.log.refused();
            if !self.access.may_answer_error(client) {
                return silence();
            }
            return rh.send_response(error(ResponseCode::Refused)).await;
        }
        if request.metadata.op_code != OpCode::Query
            || request.metadata.message_type != MessageType::Query
        {
            if !self.access.may_answer_error(client) {
                return silence();
            }
            return rh.send_response(error(ResponseCode::NotImp)).await;
        }
        let Ok(info) = request.request_info() else {
            if !self.access.may_answer_error(client) {
                return silence();
            }
            return rh.send_response(error(ResponseCode::FormErr)).await;
        };
        let query = info.query;
        let qtype = query.query_type();
        let lname = query.name().to_string();
        let name = lname.trim_end_matches('.');
        if via == Via::Intercepted && self.access.refuse_intercepted {
            // Logged (unlike the refusals above): who went around the filter is news.
            debug!(%client, name, "refused: intercepted on its way to another resolver");
            entry.name = name.to_string();
            entry.qtype = qtype.to_string();
            let r = rh.send_response(error(ResponseCode::Refused)).await;
            self.log.record(entry, Outcome::Refused, None, &[], None);
            return r;
        }

        // 2. The policy on the name asked.
        entry.name = name.to_string();
        entry.qtype = qtype.to_string();
        let policy = self.policy.load();
        let ask = Ask {
            policy: &policy,
            client,
            now: self.clock.now(),
            via,
        };
        let (decision, flow) = ask.decide(name);
        entry.decision = Some(decision);
        if let ControlFlow::Break(mode) = flow {
            // debug, not info: every query is in the query log already, and a log line per
            // blocked query would cost more than answering it.
            debug!(%client, name, %qtype, ?mode, "blocked");
            let r = self.block.send(request, rh, mode, edns.as_ref()).await;
            self.log.record(entry, Outcome::Blocked, None, &[], None);
            return r;
        }

        // 3. The cache or the upstreams.
        let dnssec_ok = edns.as_ref().is_some_and(|e| e.flags().dnssec_ok);
        let lname_lower = name.to_ascii_lowercase();
        // Safe search: the engine's name becomes a CNAME to its safe endpoint, and the
        // endpoint's own records follow.
        let safe = super::safe_search::target(&lname_lower)
            .filter(|_| matches!(qtype, RecordType::A | RecordType::AAAA))
            .filter(|_| policy.safe_search(client));
        let lookup_name = safe.map(str::to_string).unwrap_or(lname_lower);
        let looked_up = self
            .lookup(
                &lookup_name,
                qtype,
                dnssec_ok,
                request.metadata.checking_disabled,
            )
            .await;
        let (mut resp, upstream) = match looked_up {
            Ok(r) => r,
            Err(e) => {
                warn!(%client, name, %qtype, error = %e, "no upstream answered");
                let r = rh.send_response(error(ResponseCode::ServFail)).await;
                self.log.record(entry, Outcome::Failed, None, &[], None);
                return r;
            }
        };
        if let Some(target) = safe
            && let Ok(t) = hickory_proto::rr::Name::from_ascii(format!("{target}."))
        {
            let cname =
                Record::from_rdata(query.original().name().clone(), 300, RData::CNAME(CNAME(t)));
            resp.answers.insert(0, cname);
            debug!(%client, name, target, "safe search");
        }

        // 4. The policy on the answer's CNAME targets, then rebinding protection.
        let cnames: Vec<String> = resp
            .answers
            .iter()
            .filter_map(|rec| match &rec.data {
                RData::CNAME(CNAME(target)) => {
                    let t = target.to_lowercase().to_string();
                    Some(t.trim_end_matches('.').to_string())
                }
                _ => None,
            })
            .collect();
        if let ControlFlow::Break((mode, d, t)) =
            ask.decide_cnames(cnames.iter().map(String::as_str))
        {
            debug!(%client, name, cname = t, "blocked through its CNAME");
            let r = self.block.send(request, rh, mode, edns.as_ref()).await;
            entry.decision = Some(d);
            self.log
                .record(entry, Outcome::BlockedCname, Some(upstream), &[], None);
            return r;
        }
        let answers: Vec<IpAddr> = resp
            .answers
            .iter()
            .filter_map(|rec| match &rec.data {
                RData::A(A(a)) => Some(IpAddr::V4(*a)),
                RData::AAAA(AAAA(a)) => Some(IpAddr::V6(*a)),
                _ => None,
            })
            .collect();
        if let Some(private) = self.rebinding.violation(name, &answers) {
            warn!(%client, name, %private, "refused: a public name answered a private address (rebinding)");
            let r = rh.send_response(error(ResponseCode::Refused)).await;
            self.log
                .record(entry, Outcome::Rebinding, Some(upstream), &answers, None);
            return r;
        }

        // 5. Remembered and relayed. The names of this answer (the question and the
        // CNAMEs it went through) are remembered with its addresses, for the datapath plan.
        self.remember
            .forwarded(client, &name.to_ascii_lowercase(), &cnames, &answers);
        debug!(%client, name, %qtype, %upstream, rcode = %resp.metadata.response_code, "forwarded");
        let mut md = resp.metadata;
        md.id = request.metadata.id;
        md.message_type = MessageType::Response;
        md.op_code = request.metadata.op_code;
        md.recursion_desired = request.metadata.recursion_desired;
        md.recursion_available = true;
        let response = builder().build(
            md,
            resp.answers.iter(),
            resp.authorities.iter(),
            std::iter::empty(),
            resp.additionals.iter(),
        );
        let r = rh.send_response(response).await;
        // 6. Recorded.
        self.log.record(
            entry,
            Outcome::Allowed,
            Some(upstream),
            &answers,
            Some(&resp.metadata.response_code.to_string()),
        );
        r
    }

    /// The answer for (`name`, `qtype`): from the cache, else from the upstreams (then
    /// cached). Returns it with where it came from.
    async fn lookup(
        &self,
        name: &str,
        qtype: RecordType,
        dnssec_ok: bool,
        checking_disabled: bool,
    ) -> Result<(Message, String), NetError> {
        let key = super::cache::Key {
            name: name.to_string(),
            qtype,
            dnssec_ok,
            checking_disabled,
        };
        if let Some(hit) = self.cache.get(&key) {
            self.log.stats.cache(true);
            return Ok((hit.msg, format!("cache ({})", hit.upstream)));
        }
        self.log.stats.cache(false);
        let qname = hickory_proto::rr::Name::from_ascii(format!("{name}."))
            .map_err(|e| NetError::from(e.to_string()))?;
        let mut msg = Message::query();
        msg.metadata.recursion_desired = true;
        msg.metadata.checking_disabled = checking_disabled;
        msg.add_query(hickory_proto::op::Query::query(qname, qtype));
        let mut up_edns = Edns::new();
        up_edns.set_max_payload(1232).set_dnssec_ok(dnssec_ok);
        msg.set_edns(up_edns);
        let (resp, upstream) = self
            .upstreams
            .forward(&DnsRequest::new(msg, DnsRequestOptions::default()))
            .await?;
        let resp = resp.into_message();
        let upstream = upstream.to_string();
        self.cache.put(key, &resp, &upstream);
        Ok((resp, upstream))
    }
}
