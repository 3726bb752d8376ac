//! One DNS request, as a chain of small stages (STYLE.md; blocky's resolver chain):
//! 1. who asks — a client outside the allowed networks gets REFUSED (never an open
//!    resolver);
//! 2. the policy for that PC, that name, now — a block is answered here, per the rule's
//!    mode (the gateway's block page address, NXDOMAIN, or 0.0.0.0/::), TTL 10 s;
//! 3. the client's rate limit — over it, REFUSED;
//! 4. the answer cache, else forward to the upstreams (and cache what comes back);
//! 5. a CNAME in the answer whose target the policy blocks blocks the whole answer
//!    (trackers hide behind CNAMEs); a public name answered with a private address is
//!    refused (rebinding protection);
//! 6. record it in the query log.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    sync::Arc,
};

use arc_swap::ArcSwap;
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

use super::upstream::Upstreams;
use crate::policy::{BlockMode, Policy, Verdict};

/// TTL of a blocked answer: short, so lifting a block is seen soon by PCs' caches.
pub(super) const BLOCK_TTL: u32 = 10;

pub struct Filter {
    pub stats: Arc<super::DnsStats>,
    pub policy: Arc<ArcSwap<Policy>>,
    pub upstreams: Arc<Upstreams>,
    pub answered: super::Answered,
    pub lookups: Option<crate::sites::Lookups>,
    pub clock: crate::clock::Clock,
    /// Networks allowed to ask (address, prefix length).
    pub allow: Vec<(IpAddr, u8)>,
    /// The block page's addresses (the gateway's LAN addresses).
    pub page_v4: Option<Ipv4Addr>,
    pub page_v6: Option<Ipv6Addr>,
    pub log: Option<crate::store::Store>,
    /// The fast path's log records, repeats counted (`repeats`); set when `log` is.
    pub repeats: Option<super::repeats::Repeats>,
    pub cache: super::cache::Cache,
    pub rate: super::guard::RateLimit,
    pub rebinding: super::guard::Rebinding,
}

/// What the log needs to know of one query, filled in as the chain runs.
pub(super) struct Entry {
    pub start: std::time::Instant,
    pub client: IpAddr,
    pub decision: Option<crate::policy::Decision>,
    pub name: String,
    pub qtype: String,
}

/// The filter shared by the UDP loop (`udp`) and hickory-server's TCP side.
pub struct Shared(pub Arc<Filter>);

#[async_trait::async_trait]
impl RequestHandler for Shared {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        rh: R,
    ) -> ResponseInfo {
        self.0.handle_request::<R, T>(request, rh).await
    }
}

#[async_trait::async_trait]
impl RequestHandler for Filter {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut rh: R,
    ) -> ResponseInfo {
        match self.handle(request, &mut rh).await {
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
    pub(super) fn allowed(&self, client: IpAddr) -> bool {
        self.allow
            .iter()
            .any(|(net, len)| crate::datapath::net_contains(*net, *len, client))
    }

    async fn handle<R: ResponseHandler>(
        &self,
        request: &Request,
        rh: &mut R,
    ) -> Result<ResponseInfo, NetError> {
        // Our answer carries EDNS when the question did (UDP size as the client offers,
        // DO copied); without it answers would be cut at 512 bytes.
        let edns = request.edns.as_ref().map(|q| {
            let mut e = Edns::new();
            e.set_max_payload(q.max_payload().max(512))
                .set_dnssec_ok(q.flags().dnssec_ok)
                .set_version(0);
            e
        });
        let builder = || MessageResponseBuilder::new(&request.queries, edns.as_ref());
        let error = |rcode| builder().error_msg(&request.metadata, rcode);

        let client = request.src().ip().to_canonical();
        let mut entry = Entry {
            start: std::time::Instant::now(),
            client,
            decision: None,
            name: String::new(),
            qtype: String::new(),
        };
        if !self.allowed(client) {
            debug!(%client, "refused: not on the LAN");
            self.stats.count("refused");
            // Not logged: whoever is outside the LAN could fill the log at will.
            return rh.send_response(error(ResponseCode::Refused)).await;
        }
        if !self.rate.check(client) {
            // Not logged one by one: a flooding client would flood the log too.
            debug!(%client, "refused: over its rate limit");
            self.stats.count("refused");
            return rh.send_response(error(ResponseCode::Refused)).await;
        }
        if request.metadata.op_code != OpCode::Query
            || request.metadata.message_type != MessageType::Query
        {
            return rh.send_response(error(ResponseCode::NotImp)).await;
        }
        let Ok(info) = request.request_info() else {
            return rh.send_response(error(ResponseCode::FormErr)).await;
        };
        let query = info.query;
        let qtype = query.query_type();
        let lname = query.name().to_string();
        let name = lname.trim_end_matches('.');

        entry.name = name.to_string();
        entry.qtype = qtype.to_string();
        let policy = self.policy.load();
        let now = self.clock.now();
        let decision = policy.evaluate(client, name, now);
        let verdict = decision.verdict;
        entry.decision = Some(decision);
        if let Verdict::Blocked(mode) = verdict {
            // debug, not info: every query is in the query log already, and a log line per
            // blocked query would cost more than answering it.
            debug!(%client, name, %qtype, ?mode, "blocked");
            let r = self.send_block(request, rh, mode, edns.as_ref()).await;
            self.record(entry, "blocked", None, &[], "BLOCKED");
            return r;
        }

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
                self.record(entry, "failed", None, &[], "SERVFAIL");
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
        for rec in &resp.answers {
            if let RData::CNAME(CNAME(target)) = &rec.data {
                let t = target.to_lowercase().to_string();
                let t = t.trim_end_matches('.');
                let d = policy.evaluate(client, t, now);
                if let Verdict::Blocked(mode) = d.verdict {
                    debug!(%client, name, cname = t, "blocked through its CNAME");
                    let r = self.send_block(request, rh, mode, edns.as_ref()).await;
                    entry.decision = Some(d);
                    self.record(entry, "blocked_cname", Some(upstream), &[], "BLOCKED");
                    return r;
                }
            }
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
            self.record(entry, "rebinding", Some(upstream), &answers, "REFUSED");
            return r;
        }
        // The names of this answer (the question and the CNAMEs it went through) are
        // remembered with its addresses, for the datapath plan.
        let lower = name.to_ascii_lowercase();
        self.answered.record(&lower, &answers);
        if let Some(l) = &self.lookups {
            l.record(client, &lower, &answers);
        }
        for rec in &resp.answers {
            if let RData::CNAME(CNAME(target)) = &rec.data {
                let t = target.to_lowercase().to_string();
                self.answered.record(t.trim_end_matches('.'), &answers);
            }
        }
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
        self.record(
            entry,
            "allowed",
            Some(upstream),
            &answers,
            &resp.metadata.response_code.to_string(),
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
            self.stats.cache(true);
            return Ok((hit.msg, format!("cache ({})", hit.upstream)));
        }
        self.stats.cache(false);
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

    /// Queues the query-log record (never waits on the disk).
    pub(super) fn record(
        &self,
        e: Entry,
        verdict: &str,
        upstream: Option<String>,
        answers: &[IpAddr],
        rcode: &str,
    ) {
        self.stats.count(verdict);
        let Some(log) = &self.log else { return };
        log.query(log_record(e, verdict, upstream, answers, rcode));
    }

    async fn send_block<R: ResponseHandler>(
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
        let qtype = info.query.query_type();
        let addr: Option<IpAddr> = match (mode, qtype) {
            (BlockMode::Nxdomain, _) => {
                md.response_code = ResponseCode::NXDomain;
                return rh.send_response(builder.build_no_records(md)).await;
            }
            (BlockMode::Page, RecordType::A) => self.page_v4.map(IpAddr::V4),
            (BlockMode::Page, RecordType::AAAA) => self.page_v6.map(IpAddr::V6),
            (BlockMode::Null, RecordType::A) => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            (BlockMode::Null, RecordType::AAAA) => Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
            // Other types of a blocked name: an empty answer (NODATA).
            _ => None,
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

/// The query-log record of one answered query.
pub(super) fn log_record(
    e: Entry,
    verdict: &str,
    upstream: Option<String>,
    answers: &[IpAddr],
    rcode: &str,
) -> crate::store::Query {
    let (pc, group, rule) = match e.decision {
        Some(d) => (d.pc, d.group, d.rule.map(|r| r.summary())),
        None => (None, String::new(), None),
    };
    crate::store::Query {
        at_ms: crate::store::now_ms(),
        client: e.client.to_string(),
        pc,
        group,
        name: e.name,
        qtype: e.qtype,
        verdict: verdict.to_string(),
        rule,
        answers: answers.iter().map(|a| a.to_string()).collect(),
        upstream,
        latency_us: e.start.elapsed().as_micros() as i64,
        rcode: rcode.to_string(),
        count: 1,
    }
}
