//! Signing a response to a DO=1 query in a signed zone (see `crate::dnssec`): every RRset
//! gets its RRSIG, a negative answer its compact NSEC; what cannot be signed is SERVFAIL,
//! never an unsigned answer. Explicit NSEC and RRSIG queries are answered here too.

use hickory_proto::{
    op::{Message, ResponseCode},
    rr::{Name, Record, RecordType},
};

use super::authority::Outcome;
use crate::{
    answers::Zone,
    dnssec::{
        ZoneSigner, ZoneSigning,
        denial::{EDNS_FLAG_CO, compact_nsec},
        response::{Denial, name_signatures, nsec_signatures, sign_response},
    },
    sync::log_limit::LogLimit,
};

/// Whether `query` asks for DNSSEC records (DO=1).
pub fn dnssec_ok(query: &Message) -> bool {
    query.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok)
}

/// Whether `query` sets the Compact Answers OK flag (RFC 9824 4).
fn compact_ok(query: &Message) -> bool {
    query.edns.as_ref().is_some_and(|e| e.flags().z & EDNS_FLAG_CO != 0)
}

/// Whether an explicit NSEC or RRSIG query is answered from the name's NSEC (see
/// `explicit_dnssec_query`): always for a name that exists; for one that does not, only where
/// its compact denial would call it existing (DO set, CO not). Without DO such a name is
/// NXDOMAIN for every type, and with CO the response code says that it does not exist.
pub fn answers_dnssec_query(query: &Message, exists: bool) -> bool {
    exists || (dnssec_ok(query) && !compact_ok(query))
}

/// Signs `response` to `query` in `zone` when the query asks for it. `denied` holds the query
/// name and the types it has (`None`: it does not exist) for a negative answer; `synthesized`
/// says a wildcard answers the name (its signatures are made for it alone, not cached).
pub fn sign_if_asked(
    zone: &Zone,
    query: &Message,
    response: &mut Message,
    denied: Option<(&Name, Option<Vec<RecordType>>)>,
    outcome: Outcome,
    synthesized: bool,
) -> Outcome {
    if !dnssec_ok(query) {
        return outcome;
    }
    let signer = match &zone.signing {
        ZoneSigning::Unsigned => return outcome,
        ZoneSigning::Signed(signer) => signer,
        ZoneSigning::Unavailable(_) => return server_failure(response),
    };
    let compact_ok = compact_ok(query);
    let denial = denied.map(|(qname, existing)| Denial { qname, existing, ttl: zone.negative_soa.ttl });
    match sign_response(signer, response, denial, compact_ok, synthesized) {
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

/// An explicit NSEC or RRSIG query in a signed zone, answered as any other RRset is (RFC 4035
/// 3.2.1): the compact NSEC the name has, listing its types and RRSIG and NSEC (or NXNAME when
/// it does not exist), as a denial at the name shows it; or every RRSIG at the name, the
/// NSEC's included. With DO the NSEC comes with its RRSIG. `rrsets`: the records at the name
/// for this client, `None` when it does not exist; `synthesized`: a wildcard answers the name.
pub fn explicit_dnssec_query(
    zone: &Zone,
    signer: &ZoneSigner,
    query: &Message,
    rrsets: Option<Vec<Record>>,
    synthesized: bool,
    response: &mut Message,
) -> Outcome {
    let question = &query.queries[0];
    let existing = rrsets.as_ref().map(|records| {
        let mut types: Vec<RecordType> = records.iter().map(Record::record_type).collect();
        types.dedup();
        types
    });
    let Some(nsec) = compact_nsec(question.name(), existing.as_deref(), zone.negative_soa.ttl) else {
        return server_failure(response);
    };
    // Signatures for a name asked once are not worth a place in the cache.
    let cache = existing.is_some() && !synthesized;
    let records = if question.query_type() == RecordType::RRSIG {
        name_signatures(signer, &rrsets.unwrap_or_default(), &nsec, cache)
    } else if dnssec_ok(query) {
        nsec_signatures(signer, &nsec, cache).map(|signatures| [vec![nsec], signatures].concat())
    } else {
        Ok(vec![nsec])
    };
    match records {
        Ok(records) => {
            response.add_answers(records);
            Outcome::Answered
        }
        Err(_) => server_failure(response),
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
