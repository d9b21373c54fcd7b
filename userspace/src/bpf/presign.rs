//! Signing ahead of a map write, off the control loop: the answer sets the write will sign
//! anew are signed on tokio's blocking pool into their zone signers' caches, so the loop's
//! task is free meanwhile (a reload, a hand-off or a stop is taken at once), and the write
//! that follows takes the signatures as made (`MapWriter::use_presigned`).

use std::sync::Arc;

use switchyard_common::MapKey;

use crate::{
    answers::{AnswerKey, AnswerSet},
    bpf::{
        signatures::{self, AnswerId, MapSignature, SigningJob},
        stamp::monotonic_ns,
    },
    dnssec::{ZoneSigner, signer::unix_now},
};

/// One answer set to sign ahead, owned so that it can go to another thread.
pub struct PresignJob {
    pub map_key: MapKey,
    pub key: AnswerKey,
    pub set: AnswerSet,
    pub id: AnswerId,
    pub signer: Arc<ZoneSigner>,
}

/// Signs `jobs` on the blocking pool (spread over the cores) into their signers' caches, and
/// resolves to the signatures made for the map, for the write to take as they are
/// (`MapWriter::use_presigned`); a failure is left for the write to report. The signing starts
/// at once, not when the future is first polled, so that the caller can write the answers
/// meanwhile; it must be called within a runtime. Dropping the future leaves the signing to
/// finish on its own: what it signed is cached all the same.
pub fn presign(jobs: Vec<PresignJob>) -> impl Future<Output = Vec<(AnswerKey, MapSignature)>> {
    let signing = (!jobs.is_empty()).then(|| {
        tokio::task::spawn_blocking(move || {
            let borrowed: Vec<SigningJob<'_>> = jobs
                .iter()
                .map(|j| SigningJob { key: j.map_key, answer: (&j.key, &j.set), id: j.id, signer: j.signer.clone() })
                .collect();
            let made = signatures::sign_all(&borrowed, unix_now(), monotonic_ns());
            jobs.iter().zip(made).filter_map(|(job, made)| Some((job.key.clone(), made.ok()?))).collect()
        })
    });
    async move {
        let Some(signing) = signing else { return Vec::new() };
        signing.await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "signing ahead failed; the map write signs what is left");
            Vec::new()
        })
    }
}

#[cfg(test)]
mod tests {
    use std::{net::Ipv4Addr, time::Duration};

    use hickory_proto::rr::Name;
    use switchyard_common::{FirstChoice, PackedName, QTYPE_A};

    use super::*;
    use crate::{
        answers::wire_name,
        dnssec::{SigningAlgorithm, SigningKeyFile, signer::Timing},
    };

    fn signer() -> Arc<ZoneSigner> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("zone.key");
        SigningKeyFile::generate(SigningAlgorithm::Ecdsap256sha256).unwrap().write_new(&path).unwrap();
        let file = SigningKeyFile::read(&path).unwrap();
        let timing = Timing {
            validity: Duration::from_secs(14 * 86_400),
            refresh: Duration::from_secs(7 * 86_400),
            backdate: Duration::from_secs(3600),
        };
        Arc::new(ZoneSigner::new(&Name::from_ascii("example.com.").unwrap(), &file, &path, timing).unwrap())
    }

    fn jobs(signer: &Arc<ZoneSigner>, count: u32) -> Vec<PresignJob> {
        (0..count)
            .map(|i| {
                let name = wire_name(&Name::from_ascii(format!("s{i}.example.com.")).unwrap());
                let map_key = MapKey::new(0, QTYPE_A, &PackedName::new(&name).unwrap());
                let set = AnswerSet {
                    ttl: 30,
                    addrs: vec![Ipv4Addr::from(0xc612_0000 | i).into()],
                    first: FirstChoice::NONE,
                };
                let key = AnswerKey { view: 0, qtype: QTYPE_A, name };
                let id = AnswerId::of(&key, &set);
                PresignJob { map_key, key, set, id, signer: signer.clone() }
            })
            .collect()
    }

    /// On a runtime of one thread, a task that signed in place would hold that thread until it
    /// is done: here another task runs to completion while the signing is still going on.
    #[tokio::test(flavor = "current_thread")]
    async fn other_tasks_run_while_a_big_pass_is_signed_ahead() {
        let signer = signer();
        let count = 3_000;
        let mut signing = tokio::spawn(presign(jobs(&signer, count)));
        let (told, heard) = tokio::sync::oneshot::channel();
        tokio::spawn(async move { told.send(()).unwrap() });
        tokio::select! {
            biased;
            _ = &mut signing => panic!("the signing task kept the only thread until it was done"),
            _ = heard => {}
        }
        assert_eq!(signing.await.unwrap().len(), count as usize);
        assert_eq!(signer.cached(), count as usize, "every answer set signed into the cache");
    }
}
