//! Kafka's classic consumer-group protocol (JoinGroup / SyncGroup / Heartbeat /
//! LeaveGroup), as Kafka's broker runs it for Java, librdkafka and kafkajs consumers: the
//! members agree on a generation, the leader computes the assignment on the client side,
//! and the coordinator hands each member the bytes the leader chose for it.
//!
//! The state machine is front-end neutral: plain Rust types in and out; the wire layer
//! translates requests and responses. It is synchronous (the coordinator calls it under a
//! mutex); a JoinGroup or SyncGroup that Kafka parks until the rebalance moves on returns
//! [`Reply::Later`], a receiver the wire layer awaits, answered by a later call (another
//! member's request, or [`ClassicGroups::tick`] when a timer decides the outcome).
//!
//! A group goes Empty → PreparingRebalance (members (re)join; the first rebalance of an
//! empty group waits `initial_rebalance_delay_ms`, extended while members keep arriving,
//! so members starting together land in one generation) → CompletingRebalance (the
//! generation is bumped; the leader got every member's metadata and must send the
//! assignment) → Stable (every member got its assignment). A member that joins or leaves,
//! whose session expires, or a leader that rejoins, starts the next rebalance.
//!
//! Timers are deadlines checked against an injected [`Clock`]: a member's session, a
//! pending member's first join, the join phase (the initial delay, or the rebalance
//! timeout: the largest of the members'), and the sync phase (members that do not send
//! SyncGroup within the rebalance timeout are removed). Each due timer runs at its own
//! deadline, earliest first, so a clock that jumps (or a late tick) gives what Kafka's
//! timers would have given.
//!
//! Static membership (group.instance.id, KIP-345) is implemented: a static member that
//! restarts (joins with an empty member id and its instance id) replaces its previous
//! member id without a rebalance when its protocols do not change the group's protocol,
//! the old id is fenced (FENCED_INSTANCE_ID), a static member that does not rejoin during
//! a rebalance is kept (only its session expiry removes it), and LeaveGroup can remove
//! members by instance id alone.
//!
//! Left out, deliberately: persistence (Kafka writes group metadata to
//! `__consumer_offsets` so a restarted coordinator reloads its groups; samsa's groups
//! live in memory, and clients rejoin after UNKNOWN_MEMBER_ID), groups in the Dead state
//! (a deleted group is simply gone; `describe` returns None and the wire layer reports
//! "Dead"), conversion between classic and KIP-848 groups (the coordinator keeps the two
//! apart with [`ClassicGroups::is_known`] / [`ClassicGroups::is_active`]), the join reason
//! (JoinGroup v8+, LeaveGroup v5+: log-only in Kafka), and offsets (the coordinator's; see
//! [`ClassicGroups::validate_commit`]).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::error::{Error, Result};

/// The coordinator's limits and delays (Kafka's `group.*` broker configs).
#[derive(Clone, Debug)]
pub struct ClassicConfig {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group
    /// waits for more members (extended by the same again, up to the rebalance timeout,
    /// while new members keep arriving). Kafka's default is 3000.
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms` / `group.max.session.timeout.ms`: a JoinGroup with a
    /// session timeout outside gets INVALID_SESSION_TIMEOUT.
    pub min_session_timeout_ms: i64,
    pub max_session_timeout_ms: i64,
    /// `group.max.size`: joins past it get GROUP_MAX_SIZE_REACHED.
    pub max_group_size: usize,
    /// How long a new member's first JoinGroup may stay parked before the member is
    /// dropped (Kafka's `classicGroupNewMemberJoinTimeoutMs`, 5 minutes).
    pub new_member_join_timeout_ms: i64,
}

impl Default for ClassicConfig {
    fn default() -> Self {
        ClassicConfig {
            initial_rebalance_delay_ms: 3000,
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            max_group_size: usize::MAX,
            new_member_join_timeout_ms: 5 * 60 * 1000,
        }
    }
}

/// An answer now, or one the wire layer awaits (Kafka parks JoinGroup until the join phase
/// completes, and a follower's SyncGroup until the leader's arrives).
#[derive(Debug)]
pub enum Reply<T> {
    Now(Result<T>),
    Later(oneshot::Receiver<Result<T>>),
}

impl<T> Reply<T> {
    /// The answer, waiting for it if it is deferred. If the state machine is dropped
    /// (the broker closes) before answering, COORDINATOR_NOT_AVAILABLE.
    pub async fn wait(self) -> Result<T> {
        match self {
            Reply::Now(r) => r,
            Reply::Later(rx) => rx.await.unwrap_or_else(|_| Err(coordinator_gone())),
        }
    }
}

/// A JoinGroup request.
#[derive(Clone, Debug)]
pub struct JoinParams {
    pub group_id: String,
    /// Empty for a member joining for the first time.
    pub member_id: String,
    /// group.instance.id (v5+), for static members.
    pub group_instance_id: Option<String>,
    pub client_id: String,
    /// As Kafka reports it, e.g. `/127.0.0.1`.
    pub client_host: String,
    pub session_timeout_ms: i32,
    /// v0 has none: pass -1 (or the session timeout), which means the session timeout.
    pub rebalance_timeout_ms: i32,
    /// "consumer" for consumers.
    pub protocol_type: String,
    /// (assignor name, metadata), in the member's order of preference.
    pub protocols: Vec<(String, Vec<u8>)>,
    /// The JoinGroup version: from v4 a member without an id gets MEMBER_ID_REQUIRED; from
    /// v9 a static leader rejoining a stable group may be told to skip the assignment.
    pub api_version: i16,
}

/// A JoinGroup response. On `Err`, the wire layer answers with the error's code, the
/// request's member id (except MEMBER_ID_REQUIRED, which carries the new member id),
/// generation -1, and empty leader and members, as Kafka does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinResult {
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader_id: String,
    pub member_id: String,
    pub skip_assignment: bool,
    /// Every member with its metadata for the selected protocol, for the leader; empty for
    /// the others.
    pub members: Vec<JoinMember>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Vec<u8>,
}

/// A SyncGroup request.
#[derive(Clone, Debug)]
pub struct SyncParams {
    pub group_id: String,
    pub member_id: String,
    /// v3+.
    pub group_instance_id: Option<String>,
    pub generation_id: i32,
    /// v5+: if given, must be the group's (else INCONSISTENT_GROUP_PROTOCOL).
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// (member id, assignment): the leader's; followers send none.
    pub assignments: Vec<(String, Vec<u8>)>,
}

/// A SyncGroup response: the member's assignment, as the leader sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncResult {
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Vec<u8>,
}

/// One member a LeaveGroup removes: by member id, or (v3+) by group instance id alone
/// with an empty member id.
#[derive(Clone, Debug)]
pub struct LeaveMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// The per-member answer of a LeaveGroup (v3+ sends them all; v0–2 sends the one
/// member's error as the response's error).
#[derive(Debug)]
pub struct LeaveOutcome {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub result: Result<()>,
}

/// A group, for DescribeGroups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    /// "Empty", "PreparingRebalance", "CompletingRebalance", "Stable" (or "Dead").
    pub state: &'static str,
    pub protocol_type: String,
    /// The selected protocol (DescribeGroups' ProtocolData), only when Stable, else "".
    pub protocol_name: String,
    pub generation_id: i32,
    pub leader_id: Option<String>,
    pub members: Vec<MemberDescription>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// The member's metadata for the selected protocol, only when Stable (as Kafka).
    pub metadata: Vec<u8>,
    pub assignment: Vec<u8>,
}

/// A group, for ListGroups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    pub state: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    /// Never held by a group here (a deleted group is removed); the name the wire layer
    /// reports for a group that does not exist.
    Dead,
}

impl GroupState {
    /// The state's name as Kafka reports it (DescribeGroups, ListGroups).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

type JoinTx = oneshot::Sender<Result<JoinResult>>;
type SyncTx = oneshot::Sender<Result<SyncResult>>;

/// No session timer: the member is parked in a rebalance, which keeps it alive, and its
/// timer restarts when its parked request is answered.
const UNTIMED: i64 = i64::MAX;

struct Member {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout_ms: i64,
    rebalance_timeout_ms: i64,
    protocol_type: String,
    protocols: Vec<(String, Vec<u8>)>,
    assignment: Vec<u8>,
    /// Its parked JoinGroup: the member "is awaiting join".
    join_tx: Option<JoinTx>,
    /// Its parked SyncGroup.
    sync_tx: Option<SyncTx>,
    /// Joined and not yet through a completed join phase: its parked JoinGroup does not
    /// keep it alive (it may have gone away while parked).
    is_new: bool,
    /// When its session (or, while new, its first join) expires.
    deadline: i64,
}

impl Member {
    fn awaiting_join(&self) -> bool {
        self.join_tx.is_some()
    }

    fn metadata(&self, protocol: Option<&str>) -> Vec<u8> {
        protocol
            .and_then(|p| self.protocols.iter().find(|(n, _)| n == p))
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|(n, _)| n == protocol)
    }

    /// Whether a parked request keeps the member alive past its session deadline (Kafka:
    /// members in a rebalance are not expected to heartbeat; new members are).
    fn satisfied(&self) -> bool {
        !self.is_new && (self.join_tx.is_some() || self.sync_tx.is_some())
    }

    fn answer_join(&mut self, r: Result<JoinResult>) -> bool {
        match self.join_tx.take() {
            Some(tx) => {
                let _ = tx.send(r);
                true
            }
            None => false,
        }
    }

    fn answer_sync(&mut self, r: Result<SyncResult>) -> bool {
        match self.sync_tx.take() {
            Some(tx) => {
                let _ = tx.send(r);
                true
            }
            None => false,
        }
    }

    /// Parks a new JoinGroup. An older one still parked (the client gave up on it and
    /// asked again) is answered at once with REBALANCE_IN_PROGRESS, so nobody waits on a
    /// request that would never be answered (Kafka drops it unanswered).
    fn park_join(&mut self, group: &str, tx: JoinTx) {
        if let Some(old) = self.join_tx.replace(tx) {
            let _ = old.send(Err(rebalancing(group)));
        }
    }

    fn park_sync(&mut self, group: &str, tx: SyncTx) {
        if let Some(old) = self.sync_tx.replace(tx) {
            let _ = old.send(Err(rebalancing(group)));
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum JoinTimer {
    /// The first rebalance of an empty group: `delay` was this wait, `remaining` what is
    /// left of the rebalance timeout for extensions.
    Initial { at: i64, delay: i64, remaining: i64 },
    /// The rebalance timeout: members that have not rejoined by then are removed.
    Rebalance { at: i64 },
}

impl JoinTimer {
    fn at(&self) -> i64 {
        match *self {
            JoinTimer::Initial { at, .. } | JoinTimer::Rebalance { at } => at,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct SyncTimer {
    at: i64,
    generation: i32,
}

enum Event {
    Join,
    Sync,
    Session(String),
    Pending(String),
}

struct Group {
    id: String,
    state: GroupState,
    previous: GroupState,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    generation: i32,
    leader: Option<String>,
    /// In join order: the first is the leader of a new group, and the next leader when
    /// the leader goes.
    members: Vec<Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED whose second JoinGroup has not come
    /// yet, with when they expire (their session timeout).
    pending: HashMap<String, i64>,
    /// Members that have not sent SyncGroup for the current generation.
    pending_sync: HashSet<String>,
    /// A member joined during the initial delay, which extends it.
    new_member_added: bool,
    join_timer: Option<JoinTimer>,
    sync_timer: Option<SyncTimer>,
}

impl Group {
    fn new(id: &str) -> Self {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            previous: GroupState::Empty,
            protocol_type: None,
            protocol_name: None,
            generation: 0,
            leader: None,
            members: Vec::new(),
            pending: HashMap::new(),
            pending_sync: HashSet::new(),
            new_member_added: false,
            join_timer: None,
            sync_timer: None,
        }
    }

    fn index(&self, id: &str) -> Option<usize> {
        self.members.iter().position(|m| m.id == id)
    }

    fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }

    fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    fn static_member(&self, instance_id: &str) -> Option<&str> {
        self.members
            .iter()
            .find(|m| m.instance_id.as_deref() == Some(instance_id))
            .map(|m| m.id.as_str())
    }

    fn is_leader(&self, id: &str) -> bool {
        self.leader.as_deref() == Some(id)
    }

    /// The group's rebalance timeout: the largest of its members'.
    fn rebalance_timeout(&self) -> i64 {
        self.members.iter().map(|m| m.rebalance_timeout_ms).max().unwrap_or(0)
    }

    fn all_joined(&self) -> bool {
        self.members.iter().all(Member::awaiting_join) && self.pending.is_empty()
    }

    fn supported_by_all(&self, protocol: &str) -> bool {
        self.members.iter().all(|m| m.supports(protocol))
    }

    /// Whether a member with this protocol type and these protocols may join: any
    /// non-empty ones when the group is empty, else the group's type and at least one
    /// protocol every member supports.
    fn accepts(&self, protocol_type: &str, protocols: &[(String, Vec<u8>)]) -> bool {
        if self.state == GroupState::Empty {
            !protocol_type.is_empty() && !protocols.is_empty()
        } else {
            self.protocol_type.as_deref() == Some(protocol_type)
                && protocols.iter().any(|(n, _)| self.supported_by_all(n))
        }
    }

    /// The protocol every member supports that most members prefer: each member votes
    /// for the first of its protocols (in its order of preference) that all support. On a
    /// tie, the one voted for first (in join order) wins; Kafka leaves ties to hash order.
    fn select_protocol(&self) -> Option<String> {
        let mut votes: Vec<(&str, usize)> = Vec::new();
        for m in &self.members {
            let choice = m.protocols.iter().map(|(n, _)| n.as_str()).find(|n| self.supported_by_all(n));
            if let Some(name) = choice {
                match votes.iter_mut().find(|(v, _)| *v == name) {
                    Some(entry) => entry.1 += 1,
                    None => votes.push((name, 1)),
                }
            }
        }
        let mut best: Option<(&str, usize)> = None;
        for (name, count) in votes {
            if best.is_none_or(|(_, b)| count > b) {
                best = Some((name, count));
            }
        }
        best.map(|(n, _)| n.to_string())
    }

    fn transition(&mut self, to: GroupState) {
        tracing::debug!(group = %self.id, from = self.state.name(), to = to.name(), "classic group state");
        self.previous = self.state;
        self.state = to;
    }

    fn add(&mut self, member: Member) {
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(member.id.clone());
        }
        self.pending.remove(&member.id);
        self.members.push(member);
    }

    /// Removes a member (or a pending one), answering any request of it still parked with
    /// `err`. A leader that goes is replaced by the first remaining member.
    fn remove(&mut self, id: &str, err: impl Fn() -> Error) -> bool {
        self.pending.remove(id);
        self.pending_sync.remove(id);
        let Some(i) = self.index(id) else { return false };
        let mut m = self.members.remove(i);
        m.answer_join(Err(err()));
        m.answer_sync(Err(err()));
        if self.is_leader(id) {
            self.leader = self.members.first().map(|m| m.id.clone());
        }
        true
    }

    /// A request names a member: with an instance id, it must be the static member's
    /// current id (else FENCED_INSTANCE_ID, or UNKNOWN_MEMBER_ID for an unknown instance);
    /// the member must be in the group.
    fn validate_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<()> {
        if let Some(instance) = instance_id {
            match self.static_member(instance) {
                None => return Err(unknown_member(&self.id, member_id)),
                Some(current) if current != member_id => {
                    return Err(Error::FencedInstanceId(format!(
                        "The member \"{member_id}\" of group \"{}\" was fenced: group.instance.id \"{instance}\" now belongs to member \"{current}\"",
                        self.id
                    )))
                }
                Some(_) => {}
            }
        }
        if self.index(member_id).is_none() {
            return Err(unknown_member(&self.id, member_id));
        }
        Ok(())
    }

    fn check_generation(&self, member_id: &str, generation: i32) -> Result<()> {
        if generation != self.generation {
            return Err(Error::IllegalGeneration(format!(
                "generation {generation} of member \"{member_id}\" is not the current generation {} of group \"{}\": the member must rejoin",
                self.generation, self.id
            )));
        }
        Ok(())
    }

    /// Every member with its metadata for the selected protocol (the leader's view).
    fn current_members(&self) -> Vec<JoinMember> {
        let protocol = self.protocol_name.as_deref();
        self.members
            .iter()
            .map(|m| JoinMember {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                metadata: m.metadata(protocol),
            })
            .collect()
    }

    fn join_result(&self, member_id: &str, leader_id: Option<&str>, members: Vec<JoinMember>, skip_assignment: bool) -> JoinResult {
        JoinResult {
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader_id: leader_id.unwrap_or_default().to_string(),
            member_id: member_id.to_string(),
            skip_assignment,
            members,
        }
    }

    fn maybe_prepare_rebalance_or_complete_join(&mut self, t: i64, cfg: &ClassicConfig) {
        match self.state {
            GroupState::Empty | GroupState::Stable | GroupState::CompletingRebalance => self.prepare_rebalance(t, cfg),
            GroupState::PreparingRebalance | GroupState::Dead => self.maybe_complete_join_phase(t),
        }
    }

    /// Completes the join phase once every member has rejoined, except during the first
    /// rebalance of an empty group, which always waits out its delay.
    fn maybe_complete_join_phase(&mut self, t: i64) {
        if self.state == GroupState::PreparingRebalance && self.previous != GroupState::Empty && self.all_joined() {
            self.complete_join(t);
        }
    }

    fn prepare_rebalance(&mut self, t: i64, cfg: &ClassicConfig) {
        if self.state == GroupState::CompletingRebalance {
            // Members waiting for their assignment must rejoin instead.
            for m in &mut self.members {
                m.assignment.clear();
            }
            let id = self.id.clone();
            self.propagate_error(t, || rebalancing(&id));
        }
        self.pending_sync.clear();
        self.sync_timer = None;
        let initial = self.state == GroupState::Empty;
        if initial {
            let delay = cfg.initial_rebalance_delay_ms.max(0);
            self.join_timer = Some(JoinTimer::Initial {
                at: t + delay,
                delay,
                remaining: (self.rebalance_timeout() - delay).max(0),
            });
        }
        self.transition(GroupState::PreparingRebalance);
        tracing::info!(group = %self.id, generation = self.generation, "preparing to rebalance classic group");
        if !initial {
            if self.all_joined() {
                self.complete_join(t);
            } else {
                self.join_timer = Some(JoinTimer::Rebalance { at: t + self.rebalance_timeout().max(1) });
            }
        }
    }

    /// Ends the join phase: dynamic members that did not rejoin are removed, the
    /// generation moves on, and every parked JoinGroup is answered (the leader's with every
    /// member's metadata). If no member rejoined, waits another rebalance timeout.
    fn complete_join(&mut self, t: i64) {
        self.join_timer = None;
        let gone: Vec<String> = self
            .members
            .iter()
            .filter(|m| !m.awaiting_join() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in &gone {
            let group = self.id.clone();
            self.remove(id, || unknown_member(&group, id));
        }
        if !gone.is_empty() {
            tracing::info!(group = %self.id, members = ?gone, "removed classic group members that did not rejoin in time");
        }
        if !self.elect_joined_leader() && !self.members.is_empty() {
            // Only static members that have not rejoined are left: wait for them (or for
            // their sessions to expire).
            self.join_timer = Some(JoinTimer::Rebalance { at: t + self.rebalance_timeout().max(1) });
            return;
        }
        self.generation += 1;
        self.pending_sync.clear();
        if self.members.is_empty() {
            self.protocol_name = None;
            self.transition(GroupState::Empty);
            return;
        }
        self.protocol_name = self.select_protocol();
        self.transition(GroupState::CompletingRebalance);
        tracing::info!(group = %self.id, generation = self.generation, members = self.members.len(), "classic group joined");
        let everyone = self.current_members();
        let leader = self.leader.clone();
        let results: Vec<JoinResult> = self
            .members
            .iter()
            .map(|m| {
                let members = if leader.as_deref() == Some(m.id.as_str()) { everyone.clone() } else { Vec::new() };
                self.join_result(&m.id, leader.as_deref(), members, false)
            })
            .collect();
        for (m, result) in self.members.iter_mut().zip(results) {
            m.answer_join(Ok(result));
            m.deadline = t + m.session_timeout_ms;
            m.is_new = false;
            self.pending_sync.insert(m.id.clone());
        }
        self.sync_timer = Some(SyncTimer { at: t + self.rebalance_timeout().max(1), generation: self.generation });
    }

    /// Keeps the leader if it rejoined, else makes the first member that rejoined the
    /// leader. False if nobody rejoined (or there is no leader).
    fn elect_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader.clone() else { return false };
        if self.member(&leader).is_some_and(Member::awaiting_join) {
            return true;
        }
        match self.members.iter().find(|m| m.awaiting_join()) {
            Some(m) => {
                tracing::info!(group = %self.id, old = %leader, new = %m.id, "classic group leader did not rejoin; electing another");
                self.leader = Some(m.id.clone());
                true
            }
            None => false,
        }
    }

    /// Answers every parked SyncGroup with the member's assignment.
    fn propagate_assignment(&mut self, t: i64) {
        let (protocol_type, protocol_name) = (self.protocol_type.clone(), self.protocol_name.clone());
        for m in &mut self.members {
            let r = SyncResult {
                protocol_type: protocol_type.clone(),
                protocol_name: protocol_name.clone(),
                assignment: m.assignment.clone(),
            };
            if m.answer_sync(Ok(r)) {
                m.deadline = t + m.session_timeout_ms;
            }
        }
    }

    fn propagate_error(&mut self, t: i64, err: impl Fn() -> Error) {
        for m in &mut self.members {
            if m.answer_sync(Err(err())) {
                m.deadline = t + m.session_timeout_ms;
            }
        }
    }

    /// The member's session starts again (any request from it).
    fn touch(&mut self, member_id: &str, now: i64) {
        if let Some(m) = self.member_mut(member_id) {
            m.deadline = now + m.session_timeout_ms;
        }
    }

    /// After members left or expired: rebalance, or complete the join phase if the ones
    /// left have all rejoined.
    fn after_removal(&mut self, t: i64, cfg: &ClassicConfig) {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => self.maybe_prepare_rebalance_or_complete_join(t, cfg),
            GroupState::PreparingRebalance if self.all_joined() => self.complete_join(t),
            _ => {}
        }
    }

    fn next_event(&self) -> Option<(i64, Event)> {
        let mut best: Option<(i64, Event)> = None;
        let mut consider = |at: i64, ev: Event| {
            if best.as_ref().is_none_or(|(b, _)| at < *b) {
                best = Some((at, ev));
            }
        };
        if let Some(timer) = self.join_timer {
            consider(timer.at(), Event::Join);
        }
        if let Some(timer) = self.sync_timer {
            consider(timer.at, Event::Sync);
        }
        for m in &self.members {
            if m.deadline != UNTIMED {
                consider(m.deadline, Event::Session(m.id.clone()));
            }
        }
        for (id, at) in &self.pending {
            consider(*at, Event::Pending(id.clone()));
        }
        best
    }

    /// Runs every timer due by `now`, earliest first, each at its own deadline.
    fn run_timers(&mut self, now: i64, cfg: &ClassicConfig) {
        // Every timer either goes away when it fires or moves later; the bound only
        // guards against a mistake turning into a hang under the coordinator's lock.
        for _ in 0..100_000 {
            match self.next_event() {
                Some((at, event)) if at <= now => self.fire(event, at, cfg),
                _ => return,
            }
        }
        tracing::warn!(group = %self.id, "classic group timers did not settle");
    }

    fn fire(&mut self, event: Event, t: i64, cfg: &ClassicConfig) {
        match event {
            Event::Join => match self.join_timer.take() {
                Some(JoinTimer::Initial { delay, remaining, .. }) => {
                    if self.new_member_added && remaining != 0 {
                        // Members are still arriving: wait a little more, within the
                        // rebalance timeout.
                        self.new_member_added = false;
                        let next = cfg.initial_rebalance_delay_ms.max(0).min(remaining);
                        self.join_timer = Some(JoinTimer::Initial {
                            at: t + next,
                            delay: next,
                            remaining: (remaining - delay).max(0),
                        });
                    } else {
                        self.complete_join(t);
                    }
                }
                Some(JoinTimer::Rebalance { .. }) => self.complete_join(t),
                None => {}
            },
            Event::Sync => {
                let Some(timer) = self.sync_timer.take() else { return };
                let syncing = matches!(self.state, GroupState::CompletingRebalance | GroupState::Stable);
                if timer.generation == self.generation && syncing && !self.pending_sync.is_empty() {
                    let late: Vec<String> = self.pending_sync.drain().collect();
                    tracing::info!(group = %self.id, members = ?late, "removing classic group members that did not sync in time");
                    for id in &late {
                        let group = self.id.clone();
                        self.remove(id, || unknown_member(&group, id));
                    }
                    self.prepare_rebalance(t, cfg);
                }
            }
            Event::Session(id) => {
                let Some(m) = self.member_mut(&id) else { return };
                if m.satisfied() {
                    m.deadline = UNTIMED;
                    return;
                }
                tracing::info!(group = %self.id, member = %id, "classic group member's session expired");
                let group = self.id.clone();
                self.remove(&id, || unknown_member(&group, &id));
                self.after_removal(t, cfg);
            }
            Event::Pending(id) => {
                self.pending.remove(&id);
                if self.state == GroupState::PreparingRebalance && self.all_joined() {
                    self.complete_join(t);
                }
            }
        }
    }

    /// Whether the group takes this join (`group.max.size`): members already in the
    /// rebalance always; others while there is room.
    fn admits(&self, member_id: &str, max: usize) -> bool {
        match self.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                self.member(member_id).is_some_and(Member::awaiting_join)
                    || self.members.iter().filter(|m| m.awaiting_join()).count() < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.index(member_id).is_some() || self.members.len() < max
            }
        }
    }
}

/// What a JoinGroup brings, normalized.
struct Joining {
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout_ms: i64,
    rebalance_timeout_ms: i64,
    protocol_type: String,
    protocols: Vec<(String, Vec<u8>)>,
    api_version: i16,
}

impl Joining {
    fn member(&self, id: String, deadline: i64, tx: JoinTx) -> Member {
        Member {
            id,
            instance_id: self.instance_id.clone(),
            client_id: self.client_id.clone(),
            client_host: self.client_host.clone(),
            session_timeout_ms: self.session_timeout_ms,
            rebalance_timeout_ms: self.rebalance_timeout_ms,
            protocol_type: self.protocol_type.clone(),
            protocols: self.protocols.clone(),
            assignment: Vec::new(),
            join_tx: Some(tx),
            sync_tx: None,
            is_new: true,
            deadline,
        }
    }

    fn update(&self, m: &mut Member, group: &str, tx: JoinTx) {
        m.protocols = self.protocols.clone();
        m.session_timeout_ms = self.session_timeout_ms;
        m.rebalance_timeout_ms = self.rebalance_timeout_ms;
        m.park_join(group, tx);
    }
}

/// The classic groups this coordinator runs.
pub struct ClassicGroups {
    groups: HashMap<String, Group>,
    clock: Arc<dyn Clock>,
    config: ClassicConfig,
}

impl ClassicGroups {
    /// Kafka's defaults, with this initial rebalance delay.
    pub fn new(clock: Arc<dyn Clock>, initial_rebalance_delay_ms: i64) -> Self {
        Self::with_config(clock, ClassicConfig { initial_rebalance_delay_ms, ..ClassicConfig::default() })
    }

    pub fn with_config(clock: Arc<dyn Clock>, config: ClassicConfig) -> Self {
        ClassicGroups { groups: HashMap::new(), clock, config }
    }

    pub fn config(&self) -> &ClassicConfig {
        &self.config
    }

    /// Applies every timeout due: sessions, pending members, the join phase (initial delay
    /// and rebalance timeout) and the sync phase. Parked requests they decide are answered.
    pub fn tick(&mut self) {
        let now = self.clock.now_ms();
        for g in self.groups.values_mut() {
            g.run_timers(now, &self.config);
        }
    }

    /// When the next timer is due (ms since the epoch), so a maintenance thread can tick
    /// then rather than only once a second (the initial rebalance delay, say).
    pub fn next_deadline(&self) -> Option<i64> {
        self.groups.values().filter_map(|g| g.next_event().map(|(at, _)| at)).min()
    }

    /// JoinGroup. Usually deferred: answered when the join phase completes.
    pub fn join(&mut self, p: JoinParams) -> Reply<JoinResult> {
        let now = self.clock.now_ms();
        if let Err(e) = super::validate_group_id(&p.group_id) {
            return Reply::Now(Err(e));
        }
        let session = i64::from(p.session_timeout_ms);
        if session < self.config.min_session_timeout_ms || session > self.config.max_session_timeout_ms {
            return Reply::Now(Err(Error::InvalidSessionTimeout(format!(
                "The session timeout {session} ms is not within the range the broker allows ({} to {} ms)",
                self.config.min_session_timeout_ms, self.config.max_session_timeout_ms
            ))));
        }
        let rebalance = if p.rebalance_timeout_ms < 0 { session } else { i64::from(p.rebalance_timeout_ms) };
        // One entry per protocol name (the first), as Kafka's protocol collection keys them.
        let mut protocols: Vec<(String, Vec<u8>)> = Vec::with_capacity(p.protocols.len());
        for (name, metadata) in p.protocols {
            if !protocols.iter().any(|(n, _)| *n == name) {
                protocols.push((name, metadata));
            }
        }
        let joining = Joining {
            instance_id: p.group_instance_id,
            client_id: p.client_id,
            client_host: p.client_host,
            session_timeout_ms: session,
            rebalance_timeout_ms: rebalance,
            protocol_type: p.protocol_type,
            protocols,
            api_version: p.api_version,
        };
        let new_member = p.member_id.is_empty();
        if !new_member && !self.groups.contains_key(&p.group_id) {
            return Reply::Now(Err(unknown_member(&p.group_id, &p.member_id)));
        }
        let created = !self.groups.contains_key(&p.group_id);
        let cfg = &self.config;
        let group = self.groups.entry(p.group_id.clone()).or_insert_with(|| Group::new(&p.group_id));
        group.run_timers(now, cfg);
        let (tx, rx) = oneshot::channel();
        if !group.admits(&p.member_id, cfg.max_group_size) {
            group.remove(&p.member_id, || unknown_member(&p.group_id, &p.member_id));
            let _ = tx.send(Err(Error::GroupMaxSizeReached(format!(
                "The consumer group \"{}\" has reached its max size ({} members)",
                p.group_id, cfg.max_group_size
            ))));
        } else if new_member {
            let prefix = joining.instance_id.as_deref().unwrap_or(&joining.client_id);
            let id = new_member_id(prefix);
            join_new_member(group, &joining, id, tx, now, cfg);
        } else {
            join_existing_member(group, &joining, &p.member_id, tx, now, cfg);
        }
        group.run_timers(now, cfg);
        if created && group.state == GroupState::Empty && group.members.is_empty() && group.pending.is_empty() {
            // Nobody got in: leave no trace of a group nobody is in.
            self.groups.remove(&p.group_id);
        }
        settle(rx)
    }

    /// SyncGroup. The leader's carries every member's assignment; a follower's waits for
    /// it.
    pub fn sync(&mut self, p: SyncParams) -> Reply<SyncResult> {
        let now = self.clock.now_ms();
        if let Err(e) = super::validate_group_id(&p.group_id) {
            return Reply::Now(Err(e));
        }
        let Some(group) = self.groups.get_mut(&p.group_id) else {
            return Reply::Now(Err(unknown_member(&p.group_id, &p.member_id)));
        };
        group.run_timers(now, &self.config);
        if group.state == GroupState::Empty {
            return Reply::Now(Err(unknown_member(&p.group_id, &p.member_id)));
        }
        if let Err(e) = group
            .validate_member(&p.member_id, p.group_instance_id.as_deref())
            .and_then(|()| group.check_generation(&p.member_id, p.generation_id))
        {
            return Reply::Now(Err(e));
        }
        if inconsistent(p.protocol_type.as_deref(), group.protocol_type.as_deref())
            || inconsistent(p.protocol_name.as_deref(), group.protocol_name.as_deref())
        {
            return Reply::Now(Err(Error::InconsistentGroupProtocol(format!(
                "SyncGroup's protocol ({} / {}) is not group \"{}\"'s ({} / {})",
                p.protocol_type.as_deref().unwrap_or("-"),
                p.protocol_name.as_deref().unwrap_or("-"),
                p.group_id,
                group.protocol_type.as_deref().unwrap_or("-"),
                group.protocol_name.as_deref().unwrap_or("-"),
            ))));
        }
        group.touch(&p.member_id, now);
        match group.state {
            GroupState::PreparingRebalance => Reply::Now(Err(rebalancing(&p.group_id))),
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = group.member_mut(&p.member_id) {
                    m.park_sync(&p.group_id, tx);
                }
                group.pending_sync.remove(&p.member_id);
                if group.pending_sync.is_empty() {
                    group.sync_timer = None;
                }
                if group.is_leader(&p.member_id) {
                    let mut assignments: HashMap<String, Vec<u8>> = p.assignments.into_iter().collect();
                    let mut missing = Vec::new();
                    for m in &mut group.members {
                        match assignments.remove(&m.id) {
                            Some(a) => m.assignment = a,
                            None => {
                                m.assignment = Vec::new();
                                missing.push(m.id.clone());
                            }
                        }
                    }
                    if !missing.is_empty() {
                        tracing::warn!(group = %p.group_id, members = ?missing, "the leader sent no assignment for some members: they get an empty one");
                    }
                    group.propagate_assignment(now);
                    group.transition(GroupState::Stable);
                }
                settle(rx)
            }
            GroupState::Stable => {
                group.pending_sync.remove(&p.member_id);
                if group.pending_sync.is_empty() {
                    group.sync_timer = None;
                }
                let assignment = group.member(&p.member_id).map(|m| m.assignment.clone()).unwrap_or_default();
                Reply::Now(Ok(SyncResult {
                    protocol_type: group.protocol_type.clone(),
                    protocol_name: group.protocol_name.clone(),
                    assignment,
                }))
            }
            GroupState::Empty | GroupState::Dead => Reply::Now(Err(unknown_member(&p.group_id, &p.member_id))),
        }
    }

    /// Heartbeat: Ok while the member is in the current generation and no rebalance is
    /// under way (CompletingRebalance included); REBALANCE_IN_PROGRESS tells it to rejoin.
    pub fn heartbeat(&mut self, group_id: &str, member_id: &str, group_instance_id: Option<&str>, generation_id: i32) -> Result<()> {
        let now = self.clock.now_ms();
        super::validate_group_id(group_id)?;
        let group = self.groups.get_mut(group_id).ok_or_else(|| unknown_member(group_id, member_id))?;
        group.run_timers(now, &self.config);
        group.validate_member(member_id, group_instance_id)?;
        group.check_generation(member_id, generation_id)?;
        match group.state {
            GroupState::Empty | GroupState::Dead => Err(unknown_member(group_id, member_id)),
            GroupState::PreparingRebalance => {
                group.touch(member_id, now);
                Err(rebalancing(group_id))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                group.touch(member_id, now);
                Ok(())
            }
        }
    }

    /// LeaveGroup: removes the members at once (each by member id, or by instance id with
    /// an empty member id) and rebalances. Err (UNKNOWN_MEMBER_ID) only if the group does
    /// not exist; else one outcome per member.
    pub fn leave(&mut self, group_id: &str, members: &[LeaveMember]) -> Result<Vec<LeaveOutcome>> {
        let now = self.clock.now_ms();
        super::validate_group_id(group_id)?;
        let first = members.first().map_or("", |m| m.member_id.as_str());
        let group = self.groups.get_mut(group_id).ok_or_else(|| unknown_member(group_id, first))?;
        group.run_timers(now, &self.config);
        let mut outcomes = Vec::with_capacity(members.len());
        let mut any = false;
        for lm in members {
            let result = if lm.member_id.is_empty() {
                // An admin removing a static member by its instance id.
                let found = lm.group_instance_id.as_deref().and_then(|i| group.static_member(i)).map(str::to_string);
                match found {
                    Some(id) => {
                        group.remove(&id, || unknown_member(group_id, &id));
                        Ok(())
                    }
                    None => Err(unknown_member(group_id, &lm.member_id)),
                }
            } else if group.pending.remove(&lm.member_id).is_some() {
                Ok(())
            } else {
                group.validate_member(&lm.member_id, lm.group_instance_id.as_deref()).map(|()| {
                    group.remove(&lm.member_id, || unknown_member(group_id, &lm.member_id));
                })
            };
            if result.is_ok() {
                tracing::info!(group = %group_id, member = %lm.member_id, "classic group member left");
            }
            any |= result.is_ok();
            outcomes.push(LeaveOutcome {
                member_id: lm.member_id.clone(),
                group_instance_id: lm.group_instance_id.clone(),
                result,
            });
        }
        if any {
            match group.state {
                GroupState::Stable | GroupState::CompletingRebalance => {
                    group.maybe_prepare_rebalance_or_complete_join(now, &self.config)
                }
                GroupState::PreparingRebalance => group.maybe_complete_join_phase(now),
                GroupState::Empty | GroupState::Dead => {}
            }
        }
        group.run_timers(now, &self.config);
        Ok(outcomes)
    }

    /// The check an OffsetCommit from a classic client must pass, as Kafka's
    /// `validateOffsetCommit` for classic groups:
    /// - generation < 0 with no member (admin or standalone consumer): only while the group
    ///   is Empty or absent, else UNKNOWN_MEMBER_ID;
    /// - a member: it must be in the group (UNKNOWN_MEMBER_ID; FENCED_INSTANCE_ID for a
    ///   stale static member) and in the current generation (ILLEGAL_GENERATION);
    /// - not while CompletingRebalance (REBALANCE_IN_PROGRESS; the member will get its new
    ///   assignment first); commits during PreparingRebalance pass, so members can commit
    ///   before they rejoin;
    /// - an absent group with generation ≥ 0: ILLEGAL_GENERATION, or GROUP_ID_NOT_FOUND
    ///   from OffsetCommit v9.
    ///
    /// A passing commit from a member keeps its session alive (Stable, PreparingRebalance).
    /// The check creates nothing: Kafka creates an Empty "simple" group for a commit to an
    /// absent group; samsa's offsets live with the coordinator.
    pub fn validate_commit(
        &mut self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        api_version: i16,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        let Some(group) = self.groups.get_mut(group_id) else {
            if generation_id < 0 {
                return Ok(());
            }
            if api_version >= 9 {
                return Err(Error::GroupIdNotFound(group_id.to_string()));
            }
            return Err(Error::IllegalGeneration(format!(
                "group \"{group_id}\" has no generation {generation_id}: the member must rejoin"
            )));
        };
        group.run_timers(now, &self.config);
        if generation_id < 0 && group.state == GroupState::Empty {
            return Ok(());
        }
        if generation_id >= 0 || !member_id.is_empty() || group_instance_id.is_some() {
            group.validate_member(member_id, group_instance_id)?;
            group.check_generation(member_id, generation_id)?;
        } else {
            // No member and no generation: only an empty group takes it.
            return Err(unknown_member(group_id, member_id));
        }
        match group.state {
            GroupState::CompletingRebalance => Err(rebalancing(group_id)),
            GroupState::Stable | GroupState::PreparingRebalance => {
                group.touch(member_id, now);
                Ok(())
            }
            GroupState::Empty | GroupState::Dead => Ok(()),
        }
    }

    /// DescribeGroups: None if the group does not exist (Kafka reports it "Dead").
    pub fn describe(&mut self, group_id: &str) -> Option<GroupDescription> {
        let now = self.clock.now_ms();
        let group = self.groups.get_mut(group_id)?;
        group.run_timers(now, &self.config);
        let stable = group.state == GroupState::Stable;
        let protocol = if stable { group.protocol_name.clone() } else { None };
        Some(GroupDescription {
            group_id: group.id.clone(),
            state: group.state.name(),
            protocol_type: group.protocol_type.clone().unwrap_or_default(),
            protocol_name: protocol.clone().unwrap_or_default(),
            generation_id: group.generation,
            leader_id: group.leader.clone(),
            members: group
                .members
                .iter()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable { m.metadata(protocol.as_deref()) } else { Vec::new() },
                    assignment: m.assignment.clone(),
                })
                .collect(),
        })
    }

    /// ListGroups: every classic group (Empty ones included, as Kafka), by group id.
    pub fn list(&mut self) -> Vec<ListedGroup> {
        self.tick();
        let mut out: Vec<ListedGroup> = self
            .groups
            .values()
            .map(|g| ListedGroup {
                group_id: g.id.clone(),
                protocol_type: g.protocol_type.clone().unwrap_or_default(),
                state: g.state.name(),
            })
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// DeleteGroups: only an Empty group (NON_EMPTY_GROUP otherwise; GROUP_ID_NOT_FOUND if
    /// there is none). Its committed offsets are the coordinator's to delete.
    pub fn delete(&mut self, group_id: &str) -> Result<()> {
        let now = self.clock.now_ms();
        let group = self.groups.get_mut(group_id).ok_or_else(|| Error::GroupIdNotFound(group_id.to_string()))?;
        group.run_timers(now, &self.config);
        match group.state {
            GroupState::Empty => {
                self.groups.remove(group_id);
                Ok(())
            }
            GroupState::Dead => Err(Error::GroupIdNotFound(group_id.to_string())),
            _ => Err(Error::NonEmptyGroup(group_id.to_string())),
        }
    }

    /// Whether a classic group by this id exists (in any state, Empty included).
    pub fn is_known(&self, group_id: &str) -> bool {
        self.groups.contains_key(group_id)
    }

    /// Whether classic clients are using the group: it has members, or a member id handed
    /// out with MEMBER_ID_REQUIRED that has not expired. An Empty classic group that is
    /// not active may be taken over (Kafka converts an empty classic group when a member of
    /// the other protocol joins): `delete` it first.
    pub fn is_active(&self, group_id: &str) -> bool {
        self.groups
            .get(group_id)
            .is_some_and(|g| g.state != GroupState::Empty || !g.members.is_empty() || !g.pending.is_empty())
    }

    /// The group's state, if it exists.
    pub fn state(&self, group_id: &str) -> Option<GroupState> {
        self.groups.get(group_id).map(|g| g.state)
    }
}

fn join_new_member(group: &mut Group, j: &Joining, id: String, tx: JoinTx, now: i64, cfg: &ClassicConfig) {
    if !group.accepts(&j.protocol_type, &j.protocols) {
        let _ = tx.send(Err(inconsistent_protocol(group, j)));
        return;
    }
    if let Some(instance) = j.instance_id.as_deref() {
        match group.static_member(instance).map(str::to_string) {
            Some(old) => replace_static_member(group, j, &old, id, tx, now, cfg),
            None => add_member(group, j, id, tx, now, cfg),
        }
    } else if j.api_version >= 4 {
        // The member must come back with this id (its first JoinGroup may be retried after
        // the client lost the answer; only the second one, with the id, gets it in).
        tracing::debug!(group = %group.id, member = %id, "classic group member must join again with its new id");
        group.pending.insert(id.clone(), now + j.session_timeout_ms);
        let _ = tx.send(Err(Error::MemberIdRequired { group: group.id.clone(), member_id: id }));
    } else {
        add_member(group, j, id, tx, now, cfg);
    }
}

fn join_existing_member(group: &mut Group, j: &Joining, member_id: &str, tx: JoinTx, now: i64, cfg: &ClassicConfig) {
    if !group.accepts(&j.protocol_type, &j.protocols) {
        let _ = tx.send(Err(inconsistent_protocol(group, j)));
        return;
    }
    if group.pending.contains_key(member_id) {
        // The second JoinGroup of a member that got MEMBER_ID_REQUIRED.
        if let Some(instance) = j.instance_id.as_deref() {
            if let Some(current) = group.static_member(instance) {
                let _ = tx.send(Err(Error::FencedInstanceId(format!(
                    "group.instance.id \"{instance}\" of group \"{}\" belongs to member \"{current}\"",
                    group.id
                ))));
                return;
            }
        }
        add_member(group, j, member_id.to_string(), tx, now, cfg);
        return;
    }
    if let Err(e) = group.validate_member(member_id, j.instance_id.as_deref()) {
        let _ = tx.send(Err(e));
        return;
    }
    group.touch(member_id, now);
    let group_id = group.id.clone();
    let is_leader = group.is_leader(member_id);
    let Some(i) = group.index(member_id) else { return };
    let matches = group.members[i].protocols == j.protocols;
    match group.state {
        GroupState::PreparingRebalance => {
            j.update(&mut group.members[i], &group_id, tx);
            group.maybe_prepare_rebalance_or_complete_join(now, cfg);
        }
        GroupState::CompletingRebalance if matches => {
            // Joined again with the same metadata (it lost the JoinGroup answer, say): the
            // current generation again.
            let members = if is_leader { group.current_members() } else { Vec::new() };
            let _ = tx.send(Ok(group.join_result(member_id, group.leader.as_deref(), members, false)));
        }
        GroupState::Stable if !is_leader && matches => {
            // A follower without changes: the current generation, so it can SyncGroup.
            let _ = tx.send(Ok(group.join_result(member_id, group.leader.as_deref(), Vec::new(), false)));
        }
        GroupState::CompletingRebalance | GroupState::Stable => {
            // The leader rejoining (topics changed, say) or changed metadata: rebalance.
            j.update(&mut group.members[i], &group_id, tx);
            group.maybe_prepare_rebalance_or_complete_join(now, cfg);
        }
        GroupState::Empty | GroupState::Dead => {
            let _ = tx.send(Err(unknown_member(&group_id, member_id)));
        }
    }
}

fn add_member(group: &mut Group, j: &Joining, id: String, tx: JoinTx, now: i64, cfg: &ClassicConfig) {
    tracing::info!(group = %group.id, member = %id, "classic group member joins");
    if group.state == GroupState::PreparingRebalance && group.previous == GroupState::Empty {
        group.new_member_added = true;
    }
    group.add(j.member(id, now + cfg.new_member_join_timeout_ms, tx));
    group.maybe_prepare_rebalance_or_complete_join(now, cfg);
}

/// A static member restarted (joined with its instance id and no member id): it takes the
/// old member's place under a new id; the old id is fenced. In a Stable group whose
/// protocol it does not change it gets the current generation at once (no rebalance).
fn replace_static_member(group: &mut Group, j: &Joining, old_id: &str, new_id: String, tx: JoinTx, now: i64, cfg: &ClassicConfig) {
    let previous_leader = group.leader.clone();
    let group_id = group.id.clone();
    let Some(i) = group.index(old_id) else { return };
    {
        let m = &mut group.members[i];
        let fenced = || {
            Error::FencedInstanceId(format!(
                "member \"{old_id}\" of group \"{group_id}\" was replaced by a new member with the same group.instance.id"
            ))
        };
        m.answer_join(Err(fenced()));
        m.answer_sync(Err(fenced()));
        m.id = new_id.clone();
        j.update(m, &group_id, tx);
        m.deadline = now + m.session_timeout_ms;
    }
    if group.pending_sync.remove(old_id) {
        group.pending_sync.insert(new_id.clone());
    }
    if group.leader.as_deref() == Some(old_id) {
        group.leader = Some(new_id.clone());
    }
    tracing::info!(group = %group_id, old = %old_id, new = %new_id, "static classic group member rejoined under a new id");
    match group.state {
        GroupState::Stable => {
            if group.select_protocol() == group.protocol_name {
                let is_leader = group.is_leader(&new_id);
                let result = if j.api_version >= 9 {
                    // The leader is told to skip the assignment (the group's is unchanged).
                    let members = if is_leader { group.current_members() } else { Vec::new() };
                    group.join_result(&new_id, group.leader.as_deref(), members, is_leader)
                } else {
                    // Before v9 the old leader id makes a restarted leader act as a
                    // follower, so it does not reassign.
                    group.join_result(&new_id, previous_leader.as_deref(), Vec::new(), false)
                };
                if let Some(m) = group.member_mut(&new_id) {
                    m.answer_join(Ok(result));
                }
            } else {
                group.maybe_prepare_rebalance_or_complete_join(now, cfg);
            }
        }
        // The leader may already have assigned to the old id: assign again.
        GroupState::CompletingRebalance => group.prepare_rebalance(now, cfg),
        _ => group.maybe_complete_join_phase(now),
    }
}

/// A deferred reply that is already answered becomes an immediate one.
fn settle<T>(mut rx: oneshot::Receiver<Result<T>>) -> Reply<T> {
    match rx.try_recv() {
        Ok(r) => Reply::Now(r),
        Err(oneshot::error::TryRecvError::Empty) => Reply::Later(rx),
        Err(oneshot::error::TryRecvError::Closed) => Reply::Now(Err(coordinator_gone())),
    }
}

fn inconsistent(requested: Option<&str>, group: Option<&str>) -> bool {
    matches!((requested, group), (Some(r), Some(g)) if r != g)
}

fn inconsistent_protocol(group: &Group, j: &Joining) -> Error {
    let names: Vec<&str> = j.protocols.iter().map(|(n, _)| n.as_str()).collect();
    Error::InconsistentGroupProtocol(format!(
        "The member's protocol type \"{}\" and protocols {names:?} are incompatible with group \"{}\" (protocol type \"{}\", protocols every member supports: {:?})",
        j.protocol_type,
        group.id,
        group.protocol_type.as_deref().unwrap_or(""),
        group
            .members
            .first()
            .map(|m| m.protocols.iter().map(|(n, _)| n.as_str()).filter(|n| group.supported_by_all(n)).collect::<Vec<_>>())
            .unwrap_or_default(),
    ))
}

fn unknown_member(group: &str, member: &str) -> Error {
    Error::UnknownMemberId { group: group.to_string(), member: member.to_string() }
}

fn rebalancing(group: &str) -> Error {
    Error::RebalanceInProgress(format!("The group \"{group}\" is rebalancing, so a rejoin is needed"))
}

fn coordinator_gone() -> Error {
    Error::CoordinatorNotAvailable("The coordinator is not available: it closed before answering".to_string())
}

/// `<client id or group instance id>-<random UUID>`, as Kafka names members.
fn new_member_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut b = [0u8; 16];
    // SAFETY: getrandom writes at most `len` bytes into the buffer it is given.
    let got = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    if got != b.len() as isize {
        // No entropy source: time and a counter still make ids unique in this process.
        b[..8].copy_from_slice(&(crate::clock::now_ms() as u64).to_be_bytes());
        b[8..].copy_from_slice(&n.to_be_bytes());
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{prefix}-{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use std::fmt::Debug;

    const DELAY: i64 = 100;
    const SESSION: i32 = 10_000;
    const REBALANCE: i32 = 30_000;

    fn setup() -> (Arc<ManualClock>, ClassicGroups) {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let groups = ClassicGroups::new(clock.clone(), DELAY);
        (clock, groups)
    }

    fn protocols() -> Vec<(String, Vec<u8>)> {
        vec![("range".into(), b"meta-range".to_vec()), ("roundrobin".into(), b"meta-rr".to_vec())]
    }

    fn params(group: &str, member: &str, client: &str, version: i16) -> JoinParams {
        JoinParams {
            group_id: group.into(),
            member_id: member.into(),
            group_instance_id: None,
            client_id: client.into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: SESSION,
            rebalance_timeout_ms: REBALANCE,
            protocol_type: "consumer".into(),
            protocols: protocols(),
            api_version: version,
        }
    }

    fn later<T: Debug>(r: Reply<T>) -> oneshot::Receiver<Result<T>> {
        match r {
            Reply::Later(rx) => rx,
            Reply::Now(r) => panic!("expected a deferred reply, got {r:?}"),
        }
    }

    fn now<T>(r: Reply<T>) -> Result<T> {
        match r {
            Reply::Now(r) => r,
            Reply::Later(_) => panic!("expected an immediate reply"),
        }
    }

    /// The answer of a deferred reply, if it came.
    fn ready<T>(rx: &mut oneshot::Receiver<Result<T>>) -> Option<Result<T>> {
        match rx.try_recv() {
            Ok(r) => Some(r),
            Err(oneshot::error::TryRecvError::Empty) => None,
            Err(oneshot::error::TryRecvError::Closed) => panic!("a deferred reply was dropped unanswered"),
        }
    }

    fn kind<T: Debug>(r: Result<T>) -> &'static str {
        r.unwrap_err().kind()
    }

    /// A new member's two-step join (v4+): MEMBER_ID_REQUIRED, then the join with the id.
    fn join_new(g: &mut ClassicGroups, p: JoinParams) -> (String, Reply<JoinResult>) {
        let err = now(g.join(p.clone())).unwrap_err();
        assert_eq!(err.kind(), "MEMBER_ID_REQUIRED");
        assert_eq!(err.code(), 79);
        let Error::MemberIdRequired { member_id, .. } = err else { panic!("not MEMBER_ID_REQUIRED") };
        assert!(member_id.starts_with(&format!("{}-", p.client_id)), "{member_id}");
        let again = g.join(JoinParams { member_id: member_id.clone(), ..p });
        (member_id, again)
    }

    fn sync_params(group: &str, member: &str, generation: i32, assignments: Vec<(String, Vec<u8>)>) -> SyncParams {
        SyncParams {
            group_id: group.into(),
            member_id: member.into(),
            group_instance_id: None,
            generation_id: generation,
            protocol_type: None,
            protocol_name: None,
            assignments,
        }
    }

    fn assignment_of(id: &str) -> Vec<u8> {
        format!("assignment-of-{id}").into_bytes()
    }

    /// Runs the clock forward in DELAY steps (ticking) until every reply is answered.
    fn settle_all<T: Debug>(clock: &ManualClock, g: &mut ClassicGroups, rxs: &mut [oneshot::Receiver<Result<T>>]) -> Vec<Result<T>> {
        let mut out: Vec<Option<Result<T>>> = rxs.iter().map(|_| None).collect();
        for _ in 0..1000 {
            for (rx, o) in rxs.iter_mut().zip(out.iter_mut()) {
                if o.is_none() {
                    *o = ready(rx);
                }
            }
            if out.iter().all(Option::is_some) {
                return out.into_iter().flatten().collect();
            }
            clock.advance(DELAY);
            g.tick();
        }
        panic!("replies never came");
    }

    /// A Stable group of these clients: returns the member ids (the first is the leader)
    /// and the generation.
    fn form(clock: &ManualClock, g: &mut ClassicGroups, group: &str, clients: &[&str]) -> (Vec<String>, i32) {
        let mut ids = Vec::new();
        let mut rxs = Vec::new();
        for c in clients {
            let (id, reply) = join_new(g, params(group, "", c, 5));
            ids.push(id);
            rxs.push(later(reply));
        }
        let results = settle_all(clock, g, &mut rxs);
        let generation = results[0].as_ref().unwrap().generation_id;
        for r in &results {
            let r = r.as_ref().unwrap();
            assert_eq!(r.generation_id, generation);
            assert_eq!(r.leader_id, ids[0]);
        }
        let mut follower_syncs: Vec<_> = ids[1..]
            .iter()
            .map(|id| later(g.sync(sync_params(group, id, generation, vec![]))))
            .collect();
        let all: Vec<(String, Vec<u8>)> = ids.iter().map(|id| (id.clone(), assignment_of(id))).collect();
        let mine = now(g.sync(sync_params(group, &ids[0], generation, all))).unwrap();
        assert_eq!(mine.assignment, assignment_of(&ids[0]));
        for (rx, id) in follower_syncs.iter_mut().zip(&ids[1..]) {
            assert_eq!(ready(rx).unwrap().unwrap().assignment, assignment_of(id));
        }
        assert_eq!(g.state(group), Some(GroupState::Stable));
        (ids, generation)
    }

    #[test]
    fn a_single_member_joins_syncs_and_heartbeats() {
        let (clock, mut g) = setup();
        let (id, reply) = join_new(&mut g, params("g", "", "app", 5));
        // `<client id>-<uuid>`
        let uuid = id.strip_prefix("app-").unwrap();
        assert_eq!(uuid.len(), 36);
        assert_eq!(uuid.split('-').map(str::len).collect::<Vec<_>>(), vec![8, 4, 4, 4, 12]);
        let mut rx = later(reply);
        assert_eq!(g.state("g"), Some(GroupState::PreparingRebalance));
        assert_eq!(g.next_deadline(), Some(clock.now_ms() + DELAY));
        // The initial delay holds the join back.
        clock.advance(DELAY - 1);
        g.tick();
        assert!(ready(&mut rx).is_none());
        clock.advance(1);
        g.tick();
        let joined = ready(&mut rx).unwrap().unwrap();
        assert_eq!(joined.generation_id, 1);
        assert_eq!(joined.member_id, id);
        assert_eq!(joined.leader_id, id);
        assert_eq!(joined.protocol_type.as_deref(), Some("consumer"));
        assert_eq!(joined.protocol_name.as_deref(), Some("range"));
        assert!(!joined.skip_assignment);
        assert_eq!(
            joined.members,
            vec![JoinMember { member_id: id.clone(), group_instance_id: None, metadata: b"meta-range".to_vec() }]
        );
        assert_eq!(g.state("g"), Some(GroupState::CompletingRebalance));
        // Heartbeats are fine while the assignment is on its way.
        g.heartbeat("g", &id, None, 1).unwrap();
        let mut sp = sync_params("g", &id, 1, vec![(id.clone(), b"mine".to_vec())]);
        sp.protocol_type = Some("consumer".into());
        sp.protocol_name = Some("range".into());
        let synced = now(g.sync(sp)).unwrap();
        assert_eq!(
            synced,
            SyncResult { protocol_type: Some("consumer".into()), protocol_name: Some("range".into()), assignment: b"mine".to_vec() }
        );
        assert_eq!(g.state("g"), Some(GroupState::Stable));
        for _ in 0..5 {
            clock.advance(i64::from(SESSION) - 1);
            g.tick();
            g.heartbeat("g", &id, None, 1).unwrap();
        }
        // A SyncGroup again in Stable gets the current assignment at once.
        assert_eq!(now(g.sync(sync_params("g", &id, 1, vec![]))).unwrap().assignment, b"mine".to_vec());
    }

    #[test]
    fn below_v4_a_member_without_id_is_added_directly() {
        let (clock, mut g) = setup();
        let mut rx = later(g.join(params("g", "", "old", 3)));
        let r = settle_all(&clock, &mut g, std::slice::from_mut(&mut rx)).pop().unwrap().unwrap();
        assert!(r.member_id.starts_with("old-"));
        assert_eq!(r.leader_id, r.member_id);
        assert_eq!(r.generation_id, 1);
    }

    #[test]
    fn with_no_initial_delay_a_lone_member_gets_its_generation_at_once() {
        let clock = Arc::new(ManualClock::new(0));
        let mut g = ClassicGroups::new(clock, 0);
        let p = params("g", "", "c", 5);
        let id = match now(g.join(p.clone())) {
            Err(Error::MemberIdRequired { member_id, .. }) => member_id,
            other => panic!("{other:?}"),
        };
        let r = now(g.join(JoinParams { member_id: id.clone(), ..p })).unwrap();
        assert_eq!((r.generation_id, r.leader_id), (1, id));
    }

    #[test]
    fn two_members_starting_together_share_one_generation() {
        let (clock, mut g) = setup();
        let (a, ra) = join_new(&mut g, params("g", "", "a", 5));
        clock.advance(DELAY / 2);
        let mut pb = params("g", "", "b", 5);
        pb.protocols = vec![("range".into(), b"b-range".to_vec()), ("roundrobin".into(), b"b-rr".to_vec())];
        let (b, rb) = join_new(&mut g, pb);
        let (mut ra, mut rb) = (later(ra), later(rb));
        clock.advance(DELAY / 2);
        g.tick();
        // b arrived during the delay: it is extended.
        assert!(ready(&mut ra).is_none() && ready(&mut rb).is_none());
        assert_eq!(g.state("g"), Some(GroupState::PreparingRebalance));
        clock.advance(DELAY);
        g.tick();
        let ja = ready(&mut ra).unwrap().unwrap();
        let jb = ready(&mut rb).unwrap().unwrap();
        assert_eq!((ja.generation_id, jb.generation_id), (1, 1));
        assert_eq!((ja.leader_id.as_str(), jb.leader_id.as_str()), (a.as_str(), a.as_str()));
        assert_eq!(
            ja.members,
            vec![
                JoinMember { member_id: a.clone(), group_instance_id: None, metadata: b"meta-range".to_vec() },
                JoinMember { member_id: b.clone(), group_instance_id: None, metadata: b"b-range".to_vec() },
            ]
        );
        assert!(jb.members.is_empty(), "followers get no members");
        // The follower's SyncGroup waits for the leader's.
        let mut sb = later(g.sync(sync_params("g", &b, 1, vec![])));
        clock.advance(1000);
        g.tick();
        assert!(ready(&mut sb).is_none());
        let sa = now(g.sync(sync_params("g", &a, 1, vec![(a.clone(), b"A".to_vec()), (b.clone(), b"B".to_vec())]))).unwrap();
        assert_eq!(sa.assignment, b"A");
        let sb = ready(&mut sb).unwrap().unwrap();
        assert_eq!(sb.assignment, b"B");
        assert_eq!(sb.protocol_name.as_deref(), Some("range"));
        assert_eq!(g.state("g"), Some(GroupState::Stable));
    }

    #[test]
    fn a_third_member_starts_a_new_generation() {
        let (clock, mut g) = setup();
        let (ids, gen1) = form(&clock, &mut g, "g", &["a", "b"]);
        let (a, b) = (&ids[0], &ids[1]);
        let (c, rc) = join_new(&mut g, params("g", "", "c", 5));
        let mut rc = later(rc);
        assert_eq!(g.state("g"), Some(GroupState::PreparingRebalance));
        // Existing members learn of it from their heartbeats.
        assert_eq!(kind(g.heartbeat("g", a, None, gen1)), "REBALANCE_IN_PROGRESS");
        assert_eq!(kind(g.heartbeat("g", b, None, gen1)), "REBALANCE_IN_PROGRESS");
        // They may still commit what they consumed before rejoining.
        g.validate_commit("g", a, None, gen1, 8).unwrap();
        let mut ra = later(g.join(params("g", a, "a", 5)));
        assert!(ready(&mut ra).is_none() && ready(&mut rc).is_none());
        // The last one to rejoin completes the join phase for everyone.
        let jb = now(g.join(params("g", b, "b", 5))).unwrap();
        let ja = ready(&mut ra).unwrap().unwrap();
        let jc = ready(&mut rc).unwrap().unwrap();
        let gen2 = ja.generation_id;
        assert_eq!(gen2, gen1 + 1);
        assert_eq!((jb.generation_id, jc.generation_id), (gen2, gen2));
        assert_eq!(ja.leader_id, *a, "the previous leader stays leader");
        assert_eq!(ja.members.iter().map(|m| m.member_id.as_str()).collect::<Vec<_>>(), vec![a.as_str(), b, &c]);
        assert!(jb.members.is_empty() && jc.members.is_empty());
        // The previous generation is fenced.
        assert_eq!(kind(g.heartbeat("g", a, None, gen1)), "ILLEGAL_GENERATION");
        assert_eq!(kind(g.validate_commit("g", a, None, gen1, 8)), "ILLEGAL_GENERATION");
        // The new one waits for its assignment.
        g.heartbeat("g", a, None, gen2).unwrap();
        assert_eq!(kind(g.validate_commit("g", b, None, gen2, 8)), "REBALANCE_IN_PROGRESS");
        let all: Vec<(String, Vec<u8>)> = [a, b, &c].iter().map(|id| (id.to_string(), assignment_of(id))).collect();
        let mut sc = later(g.sync(sync_params("g", &c, gen2, vec![])));
        now(g.sync(sync_params("g", a, gen2, all))).unwrap();
        assert_eq!(ready(&mut sc).unwrap().unwrap().assignment, assignment_of(&c));
        assert_eq!(now(g.sync(sync_params("g", b, gen2, vec![]))).unwrap().assignment, assignment_of(b));
        g.validate_commit("g", b, None, gen2, 8).unwrap();
        g.heartbeat("g", &c, None, gen2).unwrap();
    }

    #[test]
    fn a_member_that_does_not_rejoin_within_the_rebalance_timeout_is_removed() {
        let (clock, mut g) = setup();
        let (ids, gen1) = form(&clock, &mut g, "g", &["a", "b"]);
        let (a, b) = (&ids[0], &ids[1]);
        let (c, rc) = join_new(&mut g, params("g", "", "c", 5));
        let mut rc = later(rc);
        let mut rb = later(g.join(params("g", b, "b", 5)));
        // The leader keeps heartbeating but never rejoins; b and c wait in their JoinGroup
        // past their session timeout, which a parked join does not count against.
        let start = clock.now_ms();
        while clock.now_ms() - start < i64::from(REBALANCE) - 1000 {
            clock.advance(1000);
            g.tick();
            assert_eq!(kind(g.heartbeat("g", a, None, gen1)), "REBALANCE_IN_PROGRESS");
        }
        assert!(ready(&mut rb).is_none() && ready(&mut rc).is_none());
        clock.advance(1000);
        g.tick();
        let jb = ready(&mut rb).unwrap().unwrap();
        let jc = ready(&mut rc).unwrap().unwrap();
        assert_eq!(jb.generation_id, gen1 + 1);
        assert_eq!(jb.leader_id, *b, "the first member that rejoined leads");
        assert_eq!(jc.leader_id, *b);
        assert_eq!(jb.members.iter().map(|m| m.member_id.as_str()).collect::<Vec<_>>(), vec![b.as_str(), &c]);
        assert_eq!(kind(g.heartbeat("g", a, None, gen1)), "UNKNOWN_MEMBER_ID");
        assert_eq!(kind(g.validate_commit("g", a, None, gen1, 8)), "UNKNOWN_MEMBER_ID");
        // a must join as a new member.
        assert_eq!(kind(now(g.join(params("g", a, "a", 5)))), "UNKNOWN_MEMBER_ID");
    }

    #[test]
    fn v0_rebalance_timeout_is_the_session_timeout() {
        let (clock, mut g) = setup();
        let mut ra = later(g.join(JoinParams { rebalance_timeout_ms: -1, ..params("g", "", "a", 0) }));
        let a = settle_all(&clock, &mut g, std::slice::from_mut(&mut ra)).pop().unwrap().unwrap().member_id;
        now(g.sync(sync_params("g", &a, 1, vec![]))).unwrap();
        let mut rb = later(g.join(JoinParams { rebalance_timeout_ms: -1, ..params("g", "", "b", 0) }));
        // a heartbeats but does not rejoin: after the session timeout (its rebalance
        // timeout too, at v0) the join phase completes without it.
        for _ in 0..9 {
            clock.advance(1000);
            g.tick();
            assert_eq!(kind(g.heartbeat("g", &a, None, 1)), "REBALANCE_IN_PROGRESS");
        }
        assert!(ready(&mut rb).is_none());
        clock.advance(1000);
        g.tick();
        let jb = ready(&mut rb).unwrap().unwrap();
        assert_eq!((jb.generation_id, jb.leader_id == jb.member_id), (2, true));
    }

    #[test]
    fn a_member_whose_session_expires_is_removed() {
        let (clock, mut g) = setup();
        let (ids, gen1) = form(&clock, &mut g, "g", &["a", "b"]);
        let (a, b) = (&ids[0], &ids[1]);
        for _ in 0..2 {
            clock.advance(4000);
            g.tick();
            g.heartbeat("g", a, None, gen1).unwrap();
        }
        clock.advance(2001); // b silent for 10001 ms > its 10000 ms session
        g.tick();
        assert_eq!(g.state("g"), Some(GroupState::PreparingRebalance));
        assert_eq!(kind(g.heartbeat("g", b, None, gen1)), "UNKNOWN_MEMBER_ID");
        assert_eq!(kind(g.heartbeat("g", a, None, gen1)), "REBALANCE_IN_PROGRESS");
        // a alone: its rejoin completes the join phase at once.
        let ja = now(g.join(params("g", a, "a", 5))).unwrap();
        assert_eq!((ja.generation_id, ja.members.len()), (gen1 + 1, 1));
        // And a that goes silent too leaves an Empty group behind.
        now(g.sync(sync_params("g", a, gen1 + 1, vec![]))).unwrap();
        clock.advance(i64::from(SESSION) + 1);
        g.tick();
        assert_eq!(g.state("g"), Some(GroupState::Empty));
        assert_eq!(g.describe("g").unwrap().generation_id, gen1 + 2);
    }

    #[test]
    fn a_pending_member_expires_after_its_session_timeout() {
        let (clock, mut g) = setup();
        let (ids, _) = form(&clock, &mut g, "g", &["a"]);
        let p = params("g", "", "b", 5);
        let Err(Error::MemberIdRequired { member_id: b, .. }) = now(g.join(p.clone())) else { panic!() };
        // A pending member does not disturb the group.
        assert_eq!(g.state("g"), Some(GroupState::Stable));
        clock.advance(i64::from(SESSION) / 2);
        g.heartbeat("g", &ids[0], None, 1).unwrap();
        clock.advance(i64::from(SESSION) / 2 + 1);
        g.heartbeat("g", &ids[0], None, 1).unwrap();
        assert_eq!(kind(now(g.join(JoinParams { member_id: b, ..p }))), "UNKNOWN_MEMBER_ID");
    }

    #[test]
    fn members_that_do_not_sync_in_time_are_removed() {
        let (clock, mut g) = setup();
        let (a, ra) = join_new(&mut g, params("g", "", "a", 5));
        let (b, rb) = join_new(&mut g, params("g", "", "b", 5));
        settle_all(&clock, &mut g, &mut [later(ra), later(rb)]);
        now(g.sync(sync_params("g", &a, 1, vec![(a.clone(), b"A".to_vec())]))).unwrap();
        // b got its generation but never syncs (its heartbeats do not save it).
        for _ in 0..(REBALANCE / 1000) {
            clock.advance(1000);
            g.tick();
            g.heartbeat("g", &a, None, 1).unwrap_or(());
            let _ = g.heartbeat("g", &b, None, 1);
        }
        clock.advance(1000);
        g.tick();
        assert_eq!(kind(g.heartbeat("g", &b, None, 1)), "UNKNOWN_MEMBER_ID");
        assert_eq!(kind(g.heartbeat("g", &a, None, 1)), "REBALANCE_IN_PROGRESS");
    }

    #[test]
    fn a_leader_leaving_before_its_sync_sends_followers_back_to_rejoin() {
        let (clock, mut g) = setup();
        let (a, ra) = join_new(&mut g, params("g", "", "a", 5));
        let (b, rb) = join_new(&mut g, params("g", "", "b", 5));
        settle_all(&clock, &mut g, &mut [later(ra), later(rb)]);
        let mut sb = later(g.sync(sync_params("g", &b, 1, vec![])));
        let out = g.leave("g", &[LeaveMember { member_id: a.clone(), group_instance_id: None }]).unwrap();
        assert!(out[0].result.is_ok());
        assert_eq!(kind(ready(&mut sb).unwrap()), "REBALANCE_IN_PROGRESS");
        let jb = now(g.join(params("g", &b, "b", 5))).unwrap();
        assert_eq!((jb.generation_id, jb.leader_id == b), (2, true));
    }

    #[test]
    fn leave_one_member_and_a_batch() {
        let (clock, mut g) = setup();
        let (ids, gen1) = form(&clock, &mut g, "g", &["a", "b", "c"]);
        let (a, b, c) = (&ids[0], &ids[1], &ids[2]);
        let leave = |m: &str| LeaveMember { member_id: m.into(), group_instance_id: None };
        // v0–2: one member.
        let out = g.leave("g", &[leave(b)]).unwrap();
        assert_eq!(out.len(), 1);
        assert!(out[0].result.is_ok());
        assert_eq!(g.state("g"), Some(GroupState::PreparingRebalance));
        assert_eq!(kind(g.heartbeat("g", b, None, gen1)), "UNKNOWN_MEMBER_ID");
        let mut ra = later(g.join(params("g", a, "a", 5)));
        let jc = now(g.join(params("g", c, "c", 5))).unwrap();
        assert_eq!(jc.generation_id, gen1 + 1);
        assert_eq!(ready(&mut ra).unwrap().unwrap().members.len(), 2);
        // v3+: a batch, with an error for the member that is not there.
        let out = g.leave("g", &[leave(a), leave("nobody"), leave(c)]).unwrap();
        let codes: Vec<i16> = out.iter().map(|o| o.result.as_ref().map_or_else(Error::code, |()| 0)).collect();
        assert_eq!(codes, vec![0, 25, 0]);
        assert_eq!(out[1].member_id, "nobody");
        assert_eq!(g.state("g"), Some(GroupState::Empty));
        assert_eq!(g.describe("g").unwrap().generation_id, gen1 + 2);
        assert_eq!(kind(g.leave("nowhere", &[leave(a)])), "UNKNOWN_MEMBER_ID");
    }

    #[test]
    fn a_member_leaving_while_parked_in_join_gets_unknown_member() {
        let (clock, mut g) = setup();
        let (ids, _) = form(&clock, &mut g, "g", &["a", "b"]);
        let mut ra = later(g.join(params("g", &ids[0], "a", 5)));
        // Another connection of a sends LeaveGroup (on close, say).
        g.leave("g", &[LeaveMember { member_id: ids[0].clone(), group_instance_id: None }]).unwrap();
        assert_eq!(kind(ready(&mut ra).unwrap()), "UNKNOWN_MEMBER_ID");
        // b rejoining alone completes the rebalance.
        assert_eq!(now(g.join(params("g", &ids[1], "b", 5))).unwrap().leader_id, ids[1]);
    }

    #[test]
    fn inconsistent_protocols_are_refused() {
        let (clock, mut g) = setup();
        let (ids, gen) = form(&clock, &mut g, "g", &["a"]);
        let wrong_type = JoinParams { protocol_type: "connect".into(), ..params("g", "", "x", 5) };
        assert_eq!(now(g.join(wrong_type)).unwrap_err().code(), 23);
        let no_common = JoinParams { protocols: vec![("sticky".into(), vec![])], ..params("g", "", "x", 5) };
        assert_eq!(kind(now(g.join(no_common))), "INCONSISTENT_GROUP_PROTOCOL");
        // An existing member rejoining with protocols the others lack is refused too.
        let changed = JoinParams { protocols: vec![("sticky".into(), vec![])], ..params("g", &ids[0], "a", 5) };
        assert_eq!(kind(now(g.join(changed))), "INCONSISTENT_GROUP_PROTOCOL");
        // A new group needs a protocol type and protocols; it is not left behind.
        let empty = JoinParams { protocols: vec![], ..params("h", "", "x", 5) };
        assert_eq!(kind(now(g.join(empty))), "INCONSISTENT_GROUP_PROTOCOL");
        assert!(!g.is_known("h"));
        // SyncGroup v5's protocol type and name must be the group's.
        let mut sp = sync_params("g", &ids[0], gen, vec![]);
        sp.protocol_name = Some("roundrobin".into());
        assert_eq!(kind(now(g.sync(sp))), "INCONSISTENT_GROUP_PROTOCOL");
        let mut sp = sync_params("g", &ids[0], gen, vec![]);
        sp.protocol_type = Some("connect".into());
        assert_eq!(kind(now(g.sync(sp))), "INCONSISTENT_GROUP_PROTOCOL");
    }

    #[test]
    fn the_protocol_every_member_supports_wins_by_preference_votes() {
        let (clock, mut g) = setup();
        let rr_first = || vec![("roundrobin".to_string(), b"rr".to_vec()), ("range".to_string(), b"range".to_vec())];
        let (_, ra) = join_new(&mut g, params("g", "", "a", 5)); // prefers range
        let (_, rb) = join_new(&mut g, JoinParams { protocols: rr_first(), ..params("g", "", "b", 5) });
        let (_, rc) = join_new(&mut g, JoinParams { protocols: rr_first(), ..params("g", "", "c", 5) });
        let results = settle_all(&clock, &mut g, &mut [later(ra), later(rb), later(rc)]);
        let ja = results[0].as_ref().unwrap();
        assert_eq!(ja.protocol_name.as_deref(), Some("roundrobin"));
        assert_eq!(ja.members[0].metadata, b"meta-rr", "the leader gets the selected protocol's metadata");
        // A protocol only some support cannot win, whatever the votes.
        let (_, rd) = join_new(&mut g, params("h", "", "d", 5));
        let only_rr = vec![("cooperative".to_string(), vec![]), ("roundrobin".to_string(), vec![])];
        let (_, re) = join_new(&mut g, JoinParams { protocols: only_rr.clone(), ..params("h", "", "e", 5) });
        let (_, rf) = join_new(&mut g, JoinParams { protocols: only_rr, ..params("h", "", "f", 5) });
        let results = settle_all(&clock, &mut g, &mut [later(rd), later(re), later(rf)]);
        assert_eq!(results[0].as_ref().unwrap().protocol_name.as_deref(), Some("roundrobin"));
    }

    #[test]
    fn rejoins_of_a_stable_group() {
        let (clock, mut g) = setup();
        let (ids, gen) = form(&clock, &mut g, "g", &["a", "b"]);
        let (a, b) = (&ids[0], &ids[1]);
        // A follower with the same metadata gets the current generation at once.
        let jb = now(g.join(params("g", b, "b", 5))).unwrap();
        assert_eq!((jb.generation_id, jb.leader_id.as_str(), jb.members.len()), (gen, a.as_str(), 0));
        assert_eq!(g.state("g"), Some(GroupState::Stable));
        // A follower with new metadata starts a rebalance.
        let changed = JoinParams {
            protocols: vec![("range".into(), b"new".to_vec()), ("roundrobin".into(), b"meta-rr".to_vec())],
            ..params("g", b, "b", 5)
        };
        let mut rb = later(g.join(changed));
        assert_eq!(g.state("g"), Some(GroupState::PreparingRebalance));
        let ja = now(g.join(params("g", a, "a", 5))).unwrap();
        assert_eq!(ja.generation_id, gen + 1);
        assert_eq!(ja.members[1].metadata, b"new");
        assert_eq!(ready(&mut rb).unwrap().unwrap().generation_id, gen + 1);
        // In CompletingRebalance, a member that lost its answer gets it again.
        let again = now(g.join(params("g", a, "a", 5))).unwrap();
        assert_eq!((again.generation_id, again.members.len()), (gen + 1, 2));
        let all = vec![(a.clone(), b"A".to_vec()), (b.clone(), b"B".to_vec())];
        now(g.sync(sync_params("g", a, gen + 1, all))).unwrap();
        now(g.sync(sync_params("g", b, gen + 1, vec![]))).unwrap();
        // The leader rejoining always rebalances (topics may have changed).
        let mut ra = later(g.join(params("g", a, "a", 5)));
        assert_eq!(g.state("g"), Some(GroupState::PreparingRebalance));
        assert!(ready(&mut ra).is_none());
    }

    #[test]
    fn a_second_join_of_a_member_answers_its_first() {
        let (clock, mut g) = setup();
        let (ids, gen) = form(&clock, &mut g, "g", &["a", "b"]);
        let (_c, rc) = join_new(&mut g, params("g", "", "c", 5));
        let mut first = later(g.join(params("g", &ids[0], "a", 5)));
        let mut second = later(g.join(params("g", &ids[0], "a", 5)));
        assert_eq!(kind(ready(&mut first).unwrap()), "REBALANCE_IN_PROGRESS");
        assert!(ready(&mut second).is_none());
        now(g.join(params("g", &ids[1], "b", 5))).unwrap();
        assert_eq!(ready(&mut second).unwrap().unwrap().generation_id, gen + 1);
        assert!(ready(&mut later(rc)).unwrap().is_ok());
    }

    #[test]
    fn commit_validation() {
        let (clock, mut g) = setup();
        // No group: an admin (or standalone) commit passes; a member's does not.
        g.validate_commit("none", "", None, -1, 8).unwrap();
        assert_eq!(kind(g.validate_commit("none", "m", None, 3, 8)), "ILLEGAL_GENERATION");
        assert_eq!(kind(g.validate_commit("none", "m", None, 3, 9)), "GROUP_ID_NOT_FOUND");
        let (ids, gen) = form(&clock, &mut g, "g", &["a", "b"]);
        // Not an admin commit while members are in.
        assert_eq!(kind(g.validate_commit("g", "", None, -1, 8)), "UNKNOWN_MEMBER_ID");
        g.validate_commit("g", &ids[1], None, gen, 8).unwrap();
        assert_eq!(kind(g.validate_commit("g", &ids[1], None, gen + 1, 8)), "ILLEGAL_GENERATION");
        assert_eq!(kind(g.validate_commit("g", "stranger", None, gen, 8)), "UNKNOWN_MEMBER_ID");
        // A member's commit keeps its session alive.
        for _ in 0..3 {
            clock.advance(i64::from(SESSION) - 1);
            g.validate_commit("g", &ids[0], None, gen, 8).unwrap();
            g.heartbeat("g", &ids[1], None, gen).unwrap();
        }
        let leave: Vec<LeaveMember> =
            ids.iter().map(|m| LeaveMember { member_id: m.clone(), group_instance_id: None }).collect();
        g.leave("g", &leave).unwrap();
        assert_eq!(g.state("g"), Some(GroupState::Empty));
        g.validate_commit("g", "", None, -1, 8).unwrap();
        assert_eq!(kind(g.validate_commit("g", &ids[0], None, gen, 8)), "UNKNOWN_MEMBER_ID");
    }

    #[test]
    fn describe_list_and_delete() {
        let (clock, mut g) = setup();
        assert!(g.describe("g").is_none());
        assert_eq!(kind(g.delete("g")), "GROUP_ID_NOT_FOUND");
        let (ids, gen) = form(&clock, &mut g, "g", &["a", "b"]);
        let d = g.describe("g").unwrap();
        assert_eq!(
            (d.state, d.protocol_type.as_str(), d.protocol_name.as_str(), d.generation_id),
            ("Stable", "consumer", "range", gen)
        );
        assert_eq!(d.leader_id.as_deref(), Some(ids[0].as_str()));
        assert_eq!(d.members.len(), 2);
        assert_eq!(
            d.members[1],
            MemberDescription {
                member_id: ids[1].clone(),
                group_instance_id: None,
                client_id: "b".into(),
                client_host: "/127.0.0.1".into(),
                metadata: b"meta-range".to_vec(),
                assignment: assignment_of(&ids[1]),
            }
        );
        assert_eq!(g.list(), vec![ListedGroup { group_id: "g".into(), protocol_type: "consumer".into(), state: "Stable" }]);
        assert!(g.is_known("g") && g.is_active("g"));
        assert_eq!(kind(g.delete("g")), "NON_EMPTY_GROUP");
        // While rebalancing, Kafka describes no metadata and no protocol.
        let _rc = join_new(&mut g, params("g", "", "c", 5));
        let d = g.describe("g").unwrap();
        assert_eq!((d.state, d.protocol_name.as_str()), ("PreparingRebalance", ""));
        assert!(d.members.iter().all(|m| m.metadata.is_empty()));
        assert_eq!(kind(g.delete("g")), "NON_EMPTY_GROUP");
        let leave: Vec<LeaveMember> = g
            .describe("g")
            .unwrap()
            .members
            .into_iter()
            .map(|m| LeaveMember { member_id: m.member_id, group_instance_id: None })
            .collect();
        g.leave("g", &leave).unwrap();
        assert_eq!(g.list()[0].state, "Empty");
        assert!(g.is_known("g") && !g.is_active("g"));
        g.delete("g").unwrap();
        assert!(!g.is_known("g"));
        assert!(g.list().is_empty());
        assert_eq!(kind(g.delete("g")), "GROUP_ID_NOT_FOUND");
        assert_eq!(GroupState::Dead.name(), "Dead");
    }

    #[test]
    fn unknown_groups_and_members() {
        let (clock, mut g) = setup();
        assert_eq!(kind(g.heartbeat("g", "m", None, 1)), "UNKNOWN_MEMBER_ID");
        assert_eq!(kind(g.heartbeat("", "m", None, 1)), "INVALID_GROUP_ID");
        assert_eq!(kind(now(g.sync(sync_params("g", "m", 1, vec![])))), "UNKNOWN_MEMBER_ID");
        assert_eq!(kind(now(g.join(params("g", "m", "c", 5)))), "UNKNOWN_MEMBER_ID");
        assert!(!g.is_known("g"));
        let (ids, gen) = form(&clock, &mut g, "g", &["a"]);
        assert_eq!(kind(g.heartbeat("g", "m", None, gen)), "UNKNOWN_MEMBER_ID");
        assert_eq!(kind(now(g.sync(sync_params("g", &ids[0], gen + 5, vec![])))), "ILLEGAL_GENERATION");
        assert_eq!(kind(now(g.join(JoinParams { group_id: String::new(), ..params("g", "", "c", 5) }))), "INVALID_GROUP_ID");
        let short = JoinParams { session_timeout_ms: 1000, ..params("g", "", "c", 5) };
        let err = now(g.join(short)).unwrap_err();
        assert_eq!((err.kind(), err.code()), ("INVALID_SESSION_TIMEOUT", 26));
    }

    #[test]
    fn the_group_max_size_is_enforced() {
        let clock = Arc::new(ManualClock::new(0));
        let cfg = ClassicConfig { initial_rebalance_delay_ms: DELAY, max_group_size: 1, ..ClassicConfig::default() };
        let mut g = ClassicGroups::with_config(clock.clone(), cfg);
        form(&clock, &mut g, "g", &["a"]);
        let err = now(g.join(params("g", "", "b", 5))).unwrap_err();
        assert_eq!((err.kind(), err.code()), ("GROUP_MAX_SIZE_REACHED", 81));
    }

    #[test]
    fn static_members_restart_without_a_rebalance() {
        let (clock, mut g) = setup();
        let static_params = |member: &str, version: i16| JoinParams {
            group_instance_id: Some("instance-a".into()),
            ..params("g", member, "a", version)
        };
        // A static member joins without MEMBER_ID_REQUIRED.
        let ra = later(g.join(static_params("", 5)));
        let (b, rb) = join_new(&mut g, params("g", "", "b", 5));
        let results = settle_all(&clock, &mut g, &mut [ra, later(rb)]);
        let ja = results[0].as_ref().unwrap();
        let a = ja.member_id.clone();
        assert!(a.starts_with("instance-a-"), "{a}");
        assert_eq!(ja.members[0].group_instance_id.as_deref(), Some("instance-a"));
        let all = vec![(a.clone(), b"A".to_vec()), (b.clone(), b"B".to_vec())];
        now(g.sync(SyncParams { group_instance_id: Some("instance-a".into()), ..sync_params("g", &a, 1, all) })).unwrap();
        now(g.sync(sync_params("g", &b, 1, vec![]))).unwrap();
        // It restarts: a new member id, the same generation, no rebalance; before v9 the old
        // leader id keeps it from reassigning.
        let restarted = now(g.join(static_params("", 5))).unwrap();
        let a2 = restarted.member_id.clone();
        assert_ne!(a2, a);
        assert_eq!((restarted.generation_id, restarted.leader_id.as_str(), restarted.skip_assignment), (1, a.as_str(), false));
        assert_eq!(g.state("g"), Some(GroupState::Stable));
        let synced = now(g.sync(SyncParams { group_instance_id: Some("instance-a".into()), ..sync_params("g", &a2, 1, vec![]) }));
        assert_eq!(synced.unwrap().assignment, b"A", "it keeps its assignment");
        // The old incarnation is fenced.
        assert_eq!(kind(g.heartbeat("g", &a, Some("instance-a"), 1)), "FENCED_INSTANCE_ID");
        assert_eq!(kind(g.validate_commit("g", &a, Some("instance-a"), 1, 8)), "FENCED_INSTANCE_ID");
        g.heartbeat("g", &a2, Some("instance-a"), 1).unwrap();
        // From v9 the restarted leader learns it leads, and that it may skip assigning.
        let v9 = now(g.join(static_params("", 9))).unwrap();
        assert!(v9.skip_assignment);
        assert_eq!(v9.leader_id, v9.member_id);
        assert_eq!(v9.members.len(), 2);
        let a3 = v9.member_id;
        // A static member that does not rejoin a rebalance stays in (until its session
        // expires); the others go on without waiting past the rebalance timeout.
        let (_c, rc) = join_new(&mut g, params("g", "", "c", 5));
        let mut rc = later(rc);
        let mut rb = later(g.join(params("g", &b, "b", 5)));
        for _ in 0..(REBALANCE / 5000) {
            clock.advance(5000);
            g.tick();
            let _ = g.heartbeat("g", &a3, Some("instance-a"), 1);
        }
        clock.advance(1);
        g.tick();
        let jb = ready(&mut rb).unwrap().unwrap();
        assert!(ready(&mut rc).unwrap().is_ok());
        assert_eq!(jb.generation_id, 2);
        assert_eq!(jb.leader_id, b, "a leader that did not rejoin is replaced");
        assert_eq!(jb.members.len(), 3, "the static member is still in");
        // An admin removes it by its instance id alone.
        let out = g.leave("g", &[LeaveMember { member_id: String::new(), group_instance_id: Some("instance-a".into()) }]).unwrap();
        assert!(out[0].result.is_ok());
        assert_eq!(kind(g.heartbeat("g", &a3, Some("instance-a"), 2)), "UNKNOWN_MEMBER_ID");
    }

    #[test]
    fn the_coordinator_can_share_it_across_threads() {
        fn send<T: Send>() {}
        send::<ClassicGroups>();
        send::<Reply<JoinResult>>();
        send::<Reply<SyncResult>>();
    }

    #[test]
    fn deferred_replies_can_be_awaited() {
        let (clock, mut g) = setup();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (_, reply) = join_new(&mut g, params("g", "", "a", 5));
        clock.advance(DELAY);
        g.tick();
        assert_eq!(rt.block_on(reply.wait()).unwrap().generation_id, 1);
        // A reply the state machine drops unanswered (the broker closed) says so.
        let (_, reply) = join_new(&mut g, params("h", "", "a", 5));
        drop(g);
        assert_eq!(rt.block_on(reply.wait()).unwrap_err().kind(), "GROUP_COORDINATOR_NOT_AVAILABLE");
    }
}
