//! Telling which server answered: the name server identifier (NSID, RFC 5001) for a query that
//! asks for it, and the CHAOS-class TXT names operators ask (`id.server` and `hostname.bind`,
//! `version.bind` and `version.server`). Each only when configured: unset, NSID is not sent
//! and the CHAOS names are refused like any name outside our zones.

use hickory_proto::{
    op::{Edns, Message, Query},
    rr::{
        DNSClass, Name, RData, Record, RecordType,
        rdata::{
            TXT,
            opt::{EdnsCode, EdnsOption, NSIDPayload},
        },
    },
};

use crate::config::ServerConfig;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Identity {
    nsid: Option<String>,
    id: Option<String>,
    version: Option<String>,
}

impl Identity {
    pub fn from_config(server: &ServerConfig) -> Identity {
        Identity { nsid: server.nsid.clone(), id: server.chaos_id.clone(), version: server.chaos_version.clone() }
    }

    /// Adds our NSID to the response's OPT record when the query's OPT record asked for it.
    pub fn add_nsid(&self, query: &Message, response: &mut Edns) {
        let asked = query.edns.as_ref().is_some_and(|e| e.option(EdnsCode::NSID).is_some());
        let Some(nsid) = self.nsid.as_ref().filter(|_| asked) else { return };
        // Configured strings are at most 255 bytes (checked at load), far below the limit.
        if let Ok(payload) = NSIDPayload::new(nsid.as_bytes()) {
            response.options_mut().insert(EdnsOption::NSID(payload));
        }
    }

    /// The answer to a CHAOS question, when it is one of the names above and that name is
    /// configured; `None` leaves the question to be refused.
    pub fn chaos_answer(&self, question: &Query) -> Option<Record> {
        if question.query_class() != DNSClass::CH || !matches!(question.query_type(), RecordType::TXT | RecordType::ANY)
        {
            return None;
        }
        let name = question.name().to_lowercase();
        let is = |s: &str| Name::from_ascii(s).is_ok_and(|n| n == name);
        let text = if is("id.server.") || is("hostname.bind.") {
            self.id.as_ref()?
        } else if is("version.bind.") || is("version.server.") {
            self.version.as_ref()?
        } else {
            return None;
        };
        let mut record = Record::from_rdata(question.name().clone(), 0, RData::TXT(TXT::new(vec![text.clone()])));
        record.dns_class = DNSClass::CH;
        Some(record)
    }
}
