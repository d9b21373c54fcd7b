//! Per-service answer state for the metrics and the status page: the sites and addresses each
//! (service, family, view) answers, and how often the answer changed.

use std::{
    collections::BTreeMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};

use serde::Serialize;

use crate::policy::{DecisionKey, Decisions};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ServiceAnswer {
    /// The sites answered, best first (before a weighted first answer moves one forward).
    pub sites: Vec<Arc<str>>,
    pub addresses: Vec<IpAddr>,
    /// Times the answer differed from the one before (since start).
    pub changes: u64,
}

#[derive(Default)]
pub struct AnswerStats {
    answers: Mutex<BTreeMap<DecisionKey, ServiceAnswer>>,
}

impl AnswerStats {
    /// Takes the decisions that follow `previous`: a key whose decision differs counts a change;
    /// keys gone from `decisions` (a reloaded config) are forgotten.
    pub fn record(&self, previous: &Decisions, decisions: &Decisions) {
        let mut answers = self.answers.lock().expect("answer stats lock");
        answers.retain(|key, _| decisions.get(&key.service, key.family, key.view.as_deref()).is_some());
        for (key, decision) in decisions.iter() {
            let answer = answers.entry(key.clone()).or_default();
            let before = previous.get(&key.service, key.family, key.view.as_deref());
            if before.is_some_and(|before| before != decision) {
                answer.changes += 1;
            }
            answer.sites.clone_from(&decision.sites);
            answer.addresses.clone_from(&decision.addrs);
        }
    }

    pub fn snapshot(&self) -> Vec<(DecisionKey, ServiceAnswer)> {
        let answers = self.answers.lock().expect("answer stats lock");
        answers.iter().map(|(key, answer)| (key.clone(), answer.clone())).collect()
    }
}
