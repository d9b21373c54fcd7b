//! Signing a response to a DO=1 query in a signed zone (see `crate::dnssec`): every RRset
//! gets its RRSIG, a negative answer its compact NSEC; what cannot be signed is SERVFAIL,
//! never an unsigned answer.

use hickory_proto::{
    op::{Message, ResponseCode},
    rr::{Name, RecordType},
};

use super::authority::Outcome;
use crate::{
    answers::Zone,
    dnssec::{
        ZoneSigning,
        denial::EDNS_FLAG_CO,
        response::{Denial, sign_response},
    },
    sync::log_limit::LogLimit,
};

/// Whether `query` asks for DNSSEC records (DO=1).
pub fn dnssec_ok(query: &Message) -> bool {
    query.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok)
}

/// Signs `response` to `query` in `zone` when the query asks for it. `denied` holds the query
/// name and the types it has (`None`: it does not exist) for a negative answer.
pub fn sign_if_asked(
    zone: &Zone,
    query: &Message,
    response: &mut Message,
    denied: Option<(&Name, Option<Vec<RecordType>>)>,
    outcome: Outcome,
) -> Outcome {
    if !dnssec_ok(query) {
        return outcome;
    }
    let signer = match &zone.signing {
        ZoneSigning::Unsigned => return outcome,
        ZoneSigning::Signed(signer) => signer,
        ZoneSigning::Unavailable(_) => return server_failure(response),
    };
    let compact_ok = query.edns.as_ref().is_some_and(|e| e.flags().z & EDNS_FLAG_CO != 0);
    let denial = denied.map(|(qname, existing)| Denial { qname, existing, ttl: zone.negative_soa.ttl });
    match sign_response(signer, response, denial, compact_ok) {
        Ok(()) => outcome,
        Err(e) => {
            // A client can make this happen per query (a name it chose): bounded, so it
            // cannot flood the log.
            static LOG: LogLimit = LogLimit::new();
            if let Some(held_back) = LOG.allow() {
                tracing::warn!(error = %e, held_back, "signing failed: SERVFAIL");
            }
            server_failure(response)
        }
    }
}

/// SERVFAIL with every section emptied: nothing unsigned goes out instead.
pub fn server_failure(response: &mut Message) -> Outcome {
    response.answers.clear();
    response.authorities.clear();
    response.additionals.clear();
    response.metadata.response_code = ResponseCode::ServFail;
    Outcome::ServFail
}
