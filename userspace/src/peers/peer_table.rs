//! Everything known about the peers, updated by received datagrams and by the
//! period timer. No I/O here: callers pass the time in.

use std::time::Instant;

use super::config::{PeerConfig, PeersConfig};
use super::drops::{DropCounters, DropReason};
use super::keys::KeyRing;
use super::liveness::{LivenessRule, LivenessWindow};
use super::period_clock::PeriodClock;
use super::replay::ReplayGuard;
use super::status::{PeerStatus, PeersStatus};
use super::view::{PeerView, PeerViews};
use super::wire;
use crate::site::SiteState;

/// What is kept of a peer across a restart of this server.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SavedPeer {
    pub site: String,
    pub node: String,
    /// The peer's boot id as last heard.
    pub boot_id: u64,
    pub alive: bool,
    pub state: Option<SiteState>,
}

pub(super) struct PeerTable {
    clock: PeriodClock,
    rule: LivenessRule,
    max_skew_ms: u64,
    keys: KeyRing,
    /// This start's boot id: heartbeats must echo it.
    own_boot: u64,
    peers: Vec<PeerEntry>,
    drops: DropCounters,
}

/// A received datagram's verdict, and whether the peer that sent it should hear from us now.
pub(super) struct Receipt {
    pub verdict: Result<(), DropReason>,
    /// Index of a peer to send a heartbeat at once: it restarted, or it does not know this
    /// start yet (at most once per period each).
    pub answer: Option<usize>,
}

struct PeerEntry {
    config: PeerConfig,
    window: LivenessWindow,
    replay: ReplayGuard,
    alive: bool,
    state: Option<SiteState>,
    last_heard: Option<Instant>,
    /// The peer's boot id as last heard: our heartbeats to it echo it.
    their_boot: Option<u64>,
    last_answered: Option<Instant>,
    /// The boot id of the last heartbeat taken from it, so that a start is logged once, when a
    /// heartbeat of it is taken (never for one that is dropped, a replayed capture say).
    taken_boot: Option<u64>,
    accepted: u64,
    drops: DropCounters,
}

impl PeerTable {
    pub(super) fn new(config: &PeersConfig, keys: KeyRing, clock: PeriodClock, own_boot: u64) -> Self {
        let peers = config.peers.iter().map(|peer| PeerEntry::new(peer, config.live_periods)).collect();
        Self {
            clock,
            rule: config.liveness_rule,
            max_skew_ms: config.max_skew_ms,
            keys,
            own_boot,
            peers,
            drops: DropCounters::default(),
        }
    }

    /// Starts from what an earlier start knew: each peer's boot id (so our first heartbeats
    /// echo it and are taken at once), and whether it was alive, which counts as heartbeats in
    /// the last N periods: a peer that is still alive stays so, one that died since is dead
    /// at the first period without its heartbeat, as usual.
    pub(super) fn restore(&mut self, saved: &[SavedPeer], now: Instant) {
        let slot = self.clock.slot(now);
        let rule = self.rule;
        for peer in &mut self.peers {
            let Some(s) = saved.iter().find(|s| s.site == peer.config.site && s.node == peer.config.node) else {
                continue;
            };
            peer.their_boot = Some(s.boot_id);
            peer.state = s.state;
            if s.alive {
                for back in 0..=u64::from(peer.window.live_periods()) {
                    if let Some(earlier) = slot.checked_sub(back) {
                        peer.window.record(earlier);
                    }
                }
                peer.update_liveness(rule, slot);
            }
        }
    }

    /// What a later start needs to go on where this one is.
    pub(super) fn saved(&self) -> Vec<SavedPeer> {
        self.peers
            .iter()
            .filter_map(|p| {
                Some(SavedPeer {
                    site: p.config.site.clone(),
                    node: p.config.node.clone(),
                    boot_id: p.their_boot?,
                    alive: p.alive,
                    state: p.state,
                })
            })
            .collect()
    }

    /// Takes a reloaded `[peers]` (same listen address and period): peers added start from
    /// nothing, removed ones are forgotten, kept ones keep everything; keys dropped by the
    /// reload keep working for the rotation window.
    pub(super) fn reconfigure(&mut self, config: &PeersConfig, keys: KeyRing) {
        self.keys = keys.rotated_from(&self.keys, config.key_rotation());
        self.rule = config.liveness_rule;
        self.max_skew_ms = config.max_skew_ms;
        let mut old = std::mem::take(&mut self.peers);
        for peer in &config.peers {
            let same = |e: &PeerEntry| e.config.site == peer.site && e.config.node == peer.node;
            let entry = match old.iter().position(same) {
                Some(at) => {
                    let mut entry = old.swap_remove(at);
                    entry.config = peer.clone();
                    entry
                }
                None => PeerEntry::new(peer, config.live_periods),
            };
            self.peers.push(entry);
        }
    }

    /// The key heartbeats are signed with now.
    pub(super) fn signing_key(&self) -> super::keys::PeerKey {
        self.keys.signing_key().clone()
    }

    /// Every peer's address and the boot id our heartbeat to it echoes (0 if never heard).
    pub(super) fn targets(&self) -> Vec<(std::net::SocketAddr, u64)> {
        self.peers.iter().map(|p| (p.config.address, p.their_boot.unwrap_or(0))).collect()
    }

    /// Checks a datagram and, if it passes every check, applies it. Drops are counted here;
    /// the reason is returned for logging.
    pub(super) fn receive(&mut self, datagram: &[u8], now: Instant, wall_ms: u64) -> Receipt {
        let mut answer = None;
        let verdict = self.try_receive(datagram, now, wall_ms, &mut answer);
        if let Err(reason) = verdict {
            self.drops.count(reason);
        }
        Receipt { verdict, answer }
    }

    fn try_receive(
        &mut self,
        datagram: &[u8],
        now: Instant,
        wall_ms: u64,
        answer: &mut Option<usize>,
    ) -> Result<(), DropReason> {
        let heartbeat = wire::decode(datagram, &self.keys)?.heartbeat;
        let slot = self.clock.slot(now);
        let (rule, max_skew_ms, own_boot, period) = (self.rule, self.max_skew_ms, self.own_boot, self.clock.period());
        let index = self
            .peers
            .iter()
            .position(|peer| peer.config.site == heartbeat.site && peer.config.node == heartbeat.node)
            .ok_or(DropReason::UnknownPeer)?;
        let peer = &mut self.peers[index];
        if heartbeat.sent_unix_ms.abs_diff(wall_ms) > max_skew_ms {
            peer.drops.count(DropReason::Stale);
            return Err(DropReason::Stale);
        }
        if !peer.replay.is_fresh(heartbeat.boot_id, heartbeat.sequence) {
            peer.drops.count(DropReason::Replayed);
            return Err(DropReason::Replayed);
        }
        let restarted = peer.replay.accept(heartbeat.boot_id, heartbeat.sequence);
        peer.their_boot = Some(heartbeat.boot_id);
        let unaware = heartbeat.echo != own_boot;
        if (restarted || unaware) && peer.last_answered.is_none_or(|at| now.duration_since(at) >= period) {
            peer.last_answered = Some(now);
            *answer = Some(index);
        }
        if unaware {
            peer.drops.count(DropReason::OtherStart);
            return Err(DropReason::OtherStart);
        }
        if peer.taken_boot != Some(heartbeat.boot_id) {
            peer.taken_boot = Some(heartbeat.boot_id);
            tracing::info!(
                site = %peer.config.site,
                node = %peer.config.node,
                boot_id = format_args!("{:016x}", heartbeat.boot_id),
                "peer (re)started"
            );
        }
        peer.window.record(slot);
        peer.state = Some(heartbeat.state);
        peer.last_heard = Some(now);
        peer.accepted += 1;
        peer.update_liveness(rule, slot);
        Ok(())
    }

    /// Re-evaluates every peer at `now` (called at each slot boundary).
    pub(super) fn evaluate(&mut self, now: Instant) {
        let slot = self.clock.slot(now);
        for peer in &mut self.peers {
            peer.update_liveness(self.rule, slot);
        }
    }

    /// One view per site. With several nodes at a site, the site is alive if
    /// any node is, and its state is that of the most recently heard node
    /// among the alive ones (among all, if none is alive).
    pub(super) fn views(&self) -> PeerViews {
        let mut chosen: std::collections::BTreeMap<&str, &PeerEntry> = Default::default();
        for peer in &self.peers {
            let better = |current: &PeerEntry| (peer.alive, peer.last_heard) > (current.alive, current.last_heard);
            chosen
                .entry(&peer.config.site)
                .and_modify(|current| {
                    if better(current) {
                        *current = peer;
                    }
                })
                .or_insert(peer);
        }
        chosen
            .into_iter()
            .map(|(site, peer)| (site.to_owned(), PeerView { alive: peer.alive, state: peer.state }))
            .collect()
    }

    /// The peer part of the status; the service fills in its own fields.
    pub(super) fn peer_statuses(&self, now: Instant) -> (Vec<PeerStatus>, DropCounters) {
        let slot = self.clock.slot(now);
        let peers = self
            .peers
            .iter()
            .map(|peer| PeerStatus {
                site: peer.config.site.clone(),
                node: peer.config.node.clone(),
                address: peer.config.address,
                alive: peer.alive,
                last_heartbeat_age_ms: peer
                    .last_heard
                    .map(|heard| now.saturating_duration_since(heard).as_millis() as u64),
                periods_missed: peer.window.missed_in_window(slot),
                periods_since_heartbeat: peer.window.periods_since_heartbeat(slot),
                reported_state: peer.state,
                boot_id: peer.replay.current().map(|(boot, _)| boot),
                last_sequence: peer.replay.current().map(|(_, sequence)| sequence),
                heartbeats_accepted: peer.accepted,
                drops: peer.drops,
            })
            .collect();
        (peers, self.drops)
    }

    pub(super) fn fill_status(&self, status: &mut PeersStatus, now: Instant) {
        let (peers, drops) = self.peer_statuses(now);
        status.peers = peers;
        status.drops = drops;
        status.key_ids = self.keys.key_ids();
    }
}

impl PeerEntry {
    fn new(config: &PeerConfig, live_periods: u32) -> PeerEntry {
        PeerEntry {
            config: config.clone(),
            window: LivenessWindow::new(live_periods),
            replay: ReplayGuard::default(),
            alive: false,
            state: None,
            last_heard: None,
            their_boot: None,
            last_answered: None,
            taken_boot: None,
            accepted: 0,
            drops: DropCounters::default(),
        }
    }

    /// Applies the liveness rule and logs a change once, with its cause.
    fn update_liveness(&mut self, rule: LivenessRule, slot: u64) {
        let alive = self.window.is_alive(rule, slot);
        if alive == self.alive {
            return;
        }
        self.alive = alive;
        let (site, node) = (&self.config.site, &self.config.node);
        if alive {
            let cause = self.window.revival_cause(rule);
            tracing::info!(%site, %node, %cause, "peer is alive");
        } else {
            let cause = self.window.death_cause(rule, slot);
            tracing::warn!(%site, %node, %cause, "peer is dead; its site is treated as unavailable");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::wire::{Heartbeat, encode};
    use super::*;

    const PERIOD: Duration = Duration::from_millis(100);
    const WALL_MS: u64 = 1_800_000_000_000;

    fn table(rule: LivenessRule) -> (PeerTable, KeyRing, Instant) {
        let mut config = PeersConfig::new("127.0.0.1:5300".parse().unwrap(), vec!["unused".into()]);
        config.live_periods = 2;
        config.liveness_rule = rule;
        config.peers.push(PeerConfig {
            site: "b".into(),
            node: "b1".into(),
            address: "127.0.0.1:5301".parse().unwrap(),
        });
        config.peers.push(PeerConfig {
            site: "b".into(),
            node: "b2".into(),
            address: "127.0.0.1:5302".parse().unwrap(),
        });
        let keys = KeyRing::from_secrets(&["table-test-key-0123"]).unwrap();
        let epoch = Instant::now();
        (PeerTable::new(&config, keys.clone(), PeriodClock::new(epoch, PERIOD), OWN_BOOT), keys, epoch)
    }

    /// The boot id of the table under test.
    const OWN_BOOT: u64 = 0xa1;

    fn beat(keys: &KeyRing, node: &str, sequence: u64, load: u32) -> Vec<u8> {
        beat_to(keys, node, sequence, load, OWN_BOOT)
    }

    fn beat_to(keys: &KeyRing, node: &str, sequence: u64, load: u32, echo: u64) -> Vec<u8> {
        let heartbeat = Heartbeat {
            site: "b".into(),
            node: node.into(),
            boot_id: 1,
            sequence,
            echo,
            sent_unix_ms: WALL_MS,
            state: SiteState { available: true, load, rtt_us: 10 },
        };
        encode(&heartbeat, keys.signing_key()).unwrap()
    }

    #[test]
    fn site_view_follows_the_alive_node() {
        let (mut table, keys, epoch) = table(LivenessRule::AnyPeriod);
        let at = |ms| epoch + Duration::from_millis(ms);
        table.receive(&beat(&keys, "b1", 1, 100), at(10), WALL_MS).verdict.unwrap();
        table.receive(&beat(&keys, "b2", 1, 200), at(20), WALL_MS).verdict.unwrap();
        assert_eq!(table.views()["b"].state.unwrap().load, 200);
        // b2 goes quiet; b1 keeps beating.
        for (sequence, ms) in [(2, 110), (3, 210), (4, 310)] {
            table.receive(&beat(&keys, "b1", sequence, 100), at(ms), WALL_MS).verdict.unwrap();
        }
        table.evaluate(at(320));
        let view = table.views()["b"];
        assert!(view.alive);
        assert_eq!(view.state.unwrap().load, 100);
    }

    #[test]
    fn drops_are_counted_by_reason() {
        let (mut table, keys, epoch) = table(LivenessRule::EveryPeriod);
        let now = epoch + Duration::from_millis(5);
        let first = beat(&keys, "b1", 1, 100);
        table.receive(&first, now, WALL_MS).verdict.unwrap();
        assert_eq!(table.receive(&first, now, WALL_MS).verdict, Err(DropReason::Replayed));
        assert_eq!(table.receive(&beat(&keys, "b1", 2, 1), now, WALL_MS + 5_001).verdict, Err(DropReason::Stale));
        assert_eq!(table.receive(&beat(&keys, "zz", 3, 1), now, WALL_MS).verdict, Err(DropReason::UnknownPeer));
        assert_eq!(table.receive(b"junk", now, WALL_MS).verdict, Err(DropReason::Malformed));
        let (peers, drops) = table.peer_statuses(now);
        assert_eq!(drops, DropCounters { malformed: 1, unknown_peer: 1, replayed: 1, stale: 1, ..Default::default() });
        assert_eq!(peers[0].drops.total(), 2);
        assert_eq!(peers[0].heartbeats_accepted, 1);
    }

    #[test]
    fn a_datagram_captured_before_a_restart_is_refused_after_it() {
        let (mut before, keys, epoch) = table(LivenessRule::AnyPeriod);
        let now = epoch + Duration::from_millis(10);
        let captured = beat(&keys, "b1", 7, 100);
        assert_eq!(before.receive(&captured, now, WALL_MS).verdict, Ok(()), "accepted by the start it echoes");

        // The receiver restarts: a new boot id, nothing remembered. The capture is still fresh
        // by its send time, signed and never seen by this start, but it echoes the old start.
        let mut config = PeersConfig::new("127.0.0.1:5300".parse().unwrap(), vec!["unused".into()]);
        config.peers.push(PeerConfig {
            site: "b".into(),
            node: "b1".into(),
            address: "127.0.0.1:5301".parse().unwrap(),
        });
        let new_boot = 0xb2;
        let mut after = PeerTable::new(&config, keys.clone(), PeriodClock::new(epoch, PERIOD), new_boot);
        let log = crate::log_capture::LogCapture::default();
        let guard = log.install();
        let receipt = after.receive(&captured, now, WALL_MS);
        assert_eq!(receipt.verdict, Err(DropReason::OtherStart));
        assert!(log.lines_with("peer (re)started").is_empty(), "a dropped capture starts nothing");
        assert_eq!(receipt.answer, Some(0), "the peer is told about the new start at once");
        assert!(!after.views()["b"].alive);
        assert_eq!(after.targets()[0].1, 1, "our heartbeats to it echo its boot id");

        // Its next heartbeat, sent after it heard the new start, is taken.
        let fresh = beat_to(&keys, "b1", 8, 100, new_boot);
        assert_eq!(after.receive(&fresh, now, WALL_MS).verdict, Ok(()));
        assert_eq!(log.lines_with("peer (re)started").len(), 1, "logged once it is taken");
        assert_eq!(after.receive(&beat_to(&keys, "b1", 9, 100, new_boot), now, WALL_MS).verdict, Ok(()));
        assert_eq!(log.lines_with("peer (re)started").len(), 1, "and only once per start");
        drop(guard);
        assert_eq!(after.receive(&captured, now, WALL_MS).verdict, Err(DropReason::Replayed));
        let (peers, _) = after.peer_statuses(now);
        assert_eq!((peers[0].drops.other_start, peers[0].heartbeats_accepted), (1, 2));
    }
}
