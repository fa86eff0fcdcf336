//! Consumer groups: membership, assignment by the coordinator (as Kafka's KIP-848 does
//! for in-process consumers), cooperative hand-over of partitions, fencing, and durable
//! committed offsets.
//!
//! A rebalance only moves the partitions that must move. A partition leaving a member is
//! first *revoked*: its owner stops fetching it, commits what it has resolved and
//! releases it; only then does the new owner get it. Partitions that do not move keep
//! flowing throughout. A member that leaves, stops being seen for `session_timeout`, or
//! runs one handler for longer than `rebalance_timeout` is removed: its partitions are
//! free at once, and its later commits are refused (fencing).
//!
//! Time comes from an injected [`Clock`], so the state machine is tested without sleeps.

pub mod assignor;
pub mod classic;
mod heartbeat;
pub mod offsets;

pub use heartbeat::{ConsumerHeartbeat, ConsumerHeartbeatResult};

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

pub use assignor::{Strategy, TopicPartition};
pub use offsets::Committed;
pub use crate::clock::{Clock, ManualClock, SystemClock};
use crate::error::{Error, Result};
use offsets::OffsetStore;

/// What a member asks for when it joins.
#[derive(Clone, Debug)]
pub struct JoinRequest {
    pub group_id: String,
    pub client_id: String,
    /// Where the member runs, as Kafka reports it (`/127.0.0.1` for this process).
    pub client_host: String,
    pub topics: Vec<String>,
    pub session_timeout_ms: i64,
    pub rebalance_timeout_ms: i64,
    pub strategy: Strategy,
}

struct Member {
    client_id: String,
    client_host: String,
    topics: BTreeSet<String>,
    session_timeout_ms: i64,
    rebalance_timeout_ms: i64,
    last_seen: i64,
    /// When the handler now running on this member started, if one is.
    busy_since: Option<i64>,
    /// KIP-848 members (over the wire): the epoch of the assignment last sent, that
    /// assignment, and since when the member has held partitions it was told to give up.
    epoch: i32,
    sent: Option<Vec<TopicPartition>>,
    revoking_since: Option<i64>,
}

impl Member {
    fn new(client_id: String, client_host: String, topics: BTreeSet<String>, session_timeout_ms: i64, rebalance_timeout_ms: i64, now: i64) -> Self {
        Member {
            client_id,
            client_host,
            topics,
            session_timeout_ms,
            rebalance_timeout_ms,
            last_seen: now,
            busy_since: None,
            epoch: 0,
            sent: None,
            revoking_since: None,
        }
    }
}

#[derive(Default)]
struct Group {
    generation: i32,
    strategy: Option<Strategy>,
    members: BTreeMap<String, Member>,
    /// Where each member is headed.
    target: BTreeMap<String, BTreeSet<TopicPartition>>,
    /// Who holds each partition now (a holder may be revoking it).
    owner: HashMap<TopicPartition, String>,
    /// Partition counts of the topics as of the last rebalance, for rebalances that
    /// timeouts start (they do not change topics).
    counts: TopicCounts,
    /// Bumped on every change of this group's membership, targets or ownership, so its
    /// members can skip polling while nothing changed (and other groups' changes cost
    /// them nothing).
    version: Arc<AtomicU64>,
}

impl Group {
    fn changed(&self) {
        self.version.fetch_add(1, Ordering::AcqRel);
    }

    /// The state as Kafka names it: rebalancing while a partition waits for its owner.
    fn state(&self) -> &'static str {
        let rebalancing = self.target.iter().any(|(m, tps)| tps.iter().any(|tp| self.owner.get(tp).is_none_or(|o| o != m)));
        if rebalancing {
            "Reconciling"
        } else {
            "Stable"
        }
    }
}

/// A member's view after a poll.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assignment {
    pub generation: i32,
    /// Partitions this member owns and may consume.
    pub assigned: Vec<TopicPartition>,
    /// Partitions this member must stop, commit and release.
    pub revoking: Vec<TopicPartition>,
    /// Partitions coming to this member once their previous owner releases them.
    pub pending: Vec<TopicPartition>,
}

#[derive(Clone, Debug)]
pub struct MemberDescription {
    pub member_id: String,
    pub client_id: String,
    pub client_host: String,
    /// The topics it subscribes to.
    pub topics: Vec<String>,
    pub assigned: Vec<TopicPartition>,
}

/// A new member: its id, the group's generation, and the group's change counter.
pub struct Joined {
    pub member_id: String,
    pub generation: i32,
    pub version: Arc<AtomicU64>,
}

/// A group as ListGroups reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    pub state: &'static str,
    /// "consumer" (samsa's own and KIP-848) or "classic", as ListGroups v5 types them.
    pub kind: &'static str,
}

#[derive(Clone, Debug)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: &'static str,
    pub protocol: String,
    pub generation: i32,
    pub members: Vec<MemberDescription>,
}

/// Lock order: `groups`, then `classic`, then `offsets`, so a check on a group and the
/// write it guards (a commit by a member that must still own its partitions, a deletion of
/// a group that must be empty) happen under one lock.
///
/// Two kinds of groups share the group id space: samsa's own (in-process consumers and
/// KIP-848 members over the wire, assigned by the coordinator) and classic ones
/// (JoinGroup/SyncGroup, assigned by their leader). A group id in use by one kind refuses
/// members of the other with INCONSISTENT_GROUP_PROTOCOL.
pub struct GroupCoordinator {
    groups: Mutex<HashMap<String, Group>>,
    classic: Mutex<classic::ClassicGroups>,
    offsets: Mutex<OffsetStore>,
    clock: Arc<dyn Clock>,
    next_member: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Partition count of each topic, as the broker knows them.
pub type TopicCounts = BTreeMap<String, i32>;

/// How long the first rebalance of an empty classic group waits for more members (Kafka's
/// group.initial.rebalance.delay.ms is 3 s; a local broker's consumers start together
/// faster than that).
pub const CLASSIC_INITIAL_REBALANCE_DELAY_MS: i64 = 300;

/// How often a KIP-848 member is told to heartbeat (Kafka's
/// group.consumer.heartbeat.interval.ms is 5 s).
pub const CONSUMER_HEARTBEAT_INTERVAL_MS: i32 = 3_000;

/// The kinds of consumer group members.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// samsa's own: in-process consumers and KIP-848 members.
    Consumer,
    /// JoinGroup/SyncGroup members.
    Classic,
}

/// Who commits offsets, and how they are checked.
pub enum Committer<'a> {
    /// No member (admin tools, consumers with assign()): only for a group without members.
    Admin,
    /// A member of samsa's own groups: it must still own the partitions.
    Member(&'a str),
    /// A KIP-848 member over the wire: its epoch too.
    MemberEpoch(&'a str, i32),
    /// A classic member: its generation, as Kafka checks it.
    Classic { member: &'a str, instance: Option<&'a str>, generation: i32, api_version: i16 },
}

pub fn validate_group_id(group_id: &str) -> Result<()> {
    if group_id.is_empty() {
        return Err(Error::InvalidGroupId("groupId must be a non-empty string".into()));
    }
    Ok(())
}

impl GroupCoordinator {
    pub fn open(dir: &Path, fsync: bool, durability: Arc<crate::durability::Durability>, clock: Arc<dyn Clock>) -> Result<Self> {
        Ok(GroupCoordinator {
            groups: Mutex::new(HashMap::new()),
            classic: Mutex::new(classic::ClassicGroups::new(Arc::clone(&clock), CLASSIC_INITIAL_REBALANCE_DELAY_MS)),
            offsets: Mutex::new(OffsetStore::open(dir, fsync, durability)?),
            clock,
            next_member: AtomicU64::new(1),
        })
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    /// Adds a member and rebalances.
    /// A new member id. Ids sort in join order, which the assignors use to break ties.
    fn new_member_id(&self, client_id: &str) -> String {
        let n = self.next_member.fetch_add(1, Ordering::Relaxed);
        format!("{n:012}-{client_id}")
    }

    pub fn join(&self, req: JoinRequest, counts: &TopicCounts) -> Result<Joined> {
        validate_group_id(&req.group_id)?;
        let member_id = self.new_member_id(&req.client_id);
        let now = self.now();
        let mut groups = lock(&self.groups);
        let group = groups.entry(req.group_id.clone()).or_default();
        self.expire(group, now);
        group.strategy.get_or_insert(req.strategy);
        group.members.insert(
            member_id.clone(),
            Member::new(
                req.client_id,
                req.client_host,
                req.topics.into_iter().collect(),
                req.session_timeout_ms,
                req.rebalance_timeout_ms,
                now,
            ),
        );
        rebalance(group, counts);
        group.changed();
        Ok(Joined { member_id, generation: group.generation, version: Arc::clone(&group.version) })
    }

    /// Changes a member's subscription (a RegExp that matched a new topic, say).
    pub fn subscribe(&self, group_id: &str, member_id: &str, topics: Vec<String>, counts: &TopicCounts) -> Result<()> {
        let mut groups = lock(&self.groups);
        let group = member_group(&mut groups, group_id, member_id)?;
        let topics: BTreeSet<String> = topics.into_iter().collect();
        if let Some(m) = group.members.get_mut(member_id) {
            if m.topics != topics {
                m.topics = topics;
                rebalance(group, counts);
                group.changed();
            }
        }
        Ok(())
    }

    /// Topics were created, deleted or grew: every group recomputes its targets.
    pub fn topics_changed(&self, counts: &TopicCounts) {
        let mut groups = lock(&self.groups);
        for group in groups.values_mut() {
            group.owner.retain(|tp, _| counts.get(&tp.0).is_some_and(|n| tp.1 < *n));
            rebalance(group, counts);
            group.changed();
        }
    }

    /// A member's liveness signal and its current state. `busy_since` is when the handler
    /// now running started (None when idle). Fails with UNKNOWN_MEMBER_ID if the member
    /// was removed; it must join again.
    pub fn poll(&self, group_id: &str, member_id: &str, busy_since: Option<i64>) -> Result<Assignment> {
        let now = self.now();
        let mut groups = lock(&self.groups);
        let group = groups
            .get_mut(group_id)
            .ok_or_else(|| Error::UnknownMemberId { group: group_id.into(), member: member_id.into() })?;
        if let Some(m) = group.members.get_mut(member_id) {
            m.last_seen = now;
            m.busy_since = busy_since;
        }
        self.expire(group, now);
        if !group.members.contains_key(member_id) {
            return Err(Error::UnknownMemberId { group: group_id.into(), member: member_id.into() });
        }
        Ok(settle(group, member_id))
    }

    /// A member hands back partitions it was asked to revoke (after committing).
    pub fn release(&self, group_id: &str, member_id: &str, partitions: &[TopicPartition]) -> Result<()> {
        let mut groups = lock(&self.groups);
        let group = member_group(&mut groups, group_id, member_id)?;
        for tp in partitions {
            let is_target = group.target.get(member_id).is_some_and(|t| t.contains(tp));
            if group.owner.get(tp).is_some_and(|o| o == member_id) && !is_target {
                group.owner.remove(tp);
                group.changed();
            }
        }
        Ok(())
    }

    /// The member leaves at once; its partitions go to the others.
    pub fn leave(&self, group_id: &str, member_id: &str, counts: &TopicCounts) -> Result<()> {
        let mut groups = lock(&self.groups);
        if let Some(group) = groups.get_mut(group_id) {
            if remove_member(group, member_id) {
                rebalance(group, counts);
                group.changed();
            }
        }
        Ok(())
    }

    /// Removes members not seen for their session timeout, or stuck in one handler for
    /// longer than their rebalance timeout. Their partitions are free at once.
    fn expire(&self, group: &mut Group, now: i64) {
        let dead: Vec<String> = group
            .members
            .iter()
            .filter(|(_, m)| {
                now - m.last_seen > m.session_timeout_ms
                    || m.busy_since.is_some_and(|since| now - since > m.rebalance_timeout_ms)
                    || m.revoking_since.is_some_and(|since| now - since > m.rebalance_timeout_ms)
            })
            .map(|(id, _)| id.clone())
            .collect();
        if dead.is_empty() {
            return;
        }
        for id in &dead {
            tracing::warn!(member = %id, "removing a consumer group member that timed out");
            remove_member(group, id);
        }
        group.changed();
        let counts = group.counts.clone();
        rebalance(group, &counts);
    }

    /// Runs timeouts for every group (called periodically).
    pub fn tick(&self) {
        let now = self.now();
        let mut groups = lock(&self.groups);
        for group in groups.values_mut() {
            self.expire(group, now);
        }
        drop(groups);
        lock(&self.classic).tick();
    }

    /// Refuses a member of one kind in a group in use by the other kind.
    pub fn check_protocol(&self, group_id: &str, protocol: Protocol) -> Result<()> {
        let groups = lock(&self.groups);
        let classic = lock(&self.classic);
        let conflict = match protocol {
            Protocol::Consumer => classic.is_active(group_id),
            Protocol::Classic => groups.get(group_id).is_some_and(|g| !g.members.is_empty()),
        };
        if conflict {
            let (this, other) = match protocol {
                Protocol::Consumer => ("a consumer-protocol (KIP-848) or in-process", "classic (JoinGroup/SyncGroup)"),
                Protocol::Classic => ("a classic (JoinGroup/SyncGroup)", "consumer-protocol (KIP-848) or in-process"),
            };
            return Err(Error::InconsistentGroupProtocol(format!(
                "group \"{group_id}\" has {other} members: {this} member cannot join it"
            )));
        }
        Ok(())
    }

    /// The classic groups' state machine, for the wire's JoinGroup, SyncGroup, Heartbeat
    /// and LeaveGroup. The caller must not hold it across an await.
    pub fn classic(&self) -> MutexGuard<'_, classic::ClassicGroups> {
        lock(&self.classic)
    }

    /// A classic JoinGroup, after the protocol check, under both locks.
    pub fn classic_join(&self, p: classic::JoinParams) -> classic::Reply<classic::JoinResult> {
        let groups = lock(&self.groups);
        if groups.get(&p.group_id).is_some_and(|g| !g.members.is_empty()) {
            return classic::Reply::Now(Err(Error::InconsistentGroupProtocol(format!(
                "group \"{}\" has consumer-protocol (KIP-848) or in-process members: a classic (JoinGroup/SyncGroup) member cannot join it",
                p.group_id
            ))));
        }
        let mut classic = lock(&self.classic);
        let reply = classic.join(p);
        drop(classic);
        drop(groups);
        reply
    }

    /// Commits offsets. With a member id, the member must own (or be revoking) every
    /// partition; without one (admin), the group must have no members. The check and the
    /// write happen under the groups lock, so a member removed in between cannot
    /// overwrite its successor's commit.
    pub fn commit(&self, group_id: &str, member_id: Option<&str>, offsets: &[(String, i32, Committed)]) -> Result<()> {
        match member_id {
            Some(m) => self.commit_as(group_id, Committer::Member(m), offsets),
            None => self.commit_as(group_id, Committer::Admin, offsets),
        }
    }

    /// Commits offsets after the checks for `who` (see [`Committer`]), all under one lock.
    pub fn commit_as(&self, group_id: &str, who: Committer<'_>, offsets: &[(String, i32, Committed)]) -> Result<()> {
        validate_group_id(group_id)?;
        let mut groups = lock(&self.groups);
        let now = self.now();
        let mut classic = lock(&self.classic);
        if classic.is_known(group_id) {
            let (member, instance, generation, version) = match who {
                Committer::Classic { member, instance, generation, api_version } => (member, instance, generation, api_version),
                Committer::Admin => ("", None, -1, 0),
                Committer::Member(_) | Committer::MemberEpoch(..) => {
                    return Err(Error::InconsistentGroupProtocol(format!(
                        "group \"{group_id}\" is a classic group (JoinGroup/SyncGroup): its offsets are committed by its own members"
                    )))
                }
            };
            classic.validate_commit(group_id, member, instance, generation, version)?;
            return lock(&self.offsets).commit(group_id, offsets);
        }
        drop(classic);
        let member_id = match who {
            Committer::Admin => None,
            Committer::Member(m) => Some(m),
            Committer::MemberEpoch(m, epoch) => {
                if let Some(g) = groups.get(group_id) {
                    if let Some(member) = g.members.get(m) {
                        if epoch > member.epoch || epoch + 1 < member.epoch {
                            return Err(Error::StaleMemberEpoch(format!(
                                "member {m} committed with epoch {epoch} but its epoch is {}",
                                member.epoch
                            )));
                        }
                    }
                }
                Some(m)
            }
            Committer::Classic { member, .. } => {
                if member.is_empty() {
                    None
                } else {
                    return Err(Error::UnknownMemberId { group: group_id.into(), member: member.into() });
                }
            }
        };
        match member_id {
            Some(member) => {
                let group = groups
                    .get_mut(group_id)
                    .ok_or_else(|| Error::UnknownMemberId { group: group_id.into(), member: member.into() })?;
                self.expire(group, now);
                if !group.members.contains_key(member) {
                    return Err(Error::UnknownMemberId { group: group_id.into(), member: member.into() });
                }
                for (t, p, _) in offsets {
                    if group.owner.get(&(t.clone(), *p)).is_none_or(|o| o != member) {
                        return Err(Error::IllegalGeneration(format!(
                            "The member \"{member}\" no longer owns {t}-{p} (generation {}): the commit is refused",
                            group.generation
                        )));
                    }
                }
            }
            None => {
                if groups.get(group_id).is_some_and(|g| !g.members.is_empty()) {
                    return Err(Error::NonEmptyGroup(group_id.into()));
                }
            }
        }
        lock(&self.offsets).commit(group_id, offsets)
    }

    /// Commits the offsets a committed transaction held: they were checked when the
    /// producer sent them (TxnOffsetCommit), and its commit makes them the group's whatever
    /// the group's members are doing now, as Kafka's pending offsets become committed.
    pub fn commit_from_transaction(&self, group_id: &str, offsets: &[(String, i32, Committed)]) -> Result<()> {
        lock(&self.offsets).commit(group_id, offsets)
    }

    /// Whether the member still owns the partition (it was not removed, and the
    /// partition did not move away from it).
    pub fn owns(&self, group_id: &str, member_id: &str, tp: &TopicPartition) -> bool {
        let mut groups = lock(&self.groups);
        let now = self.now();
        let Some(group) = groups.get_mut(group_id) else { return false };
        self.expire(group, now);
        group.members.contains_key(member_id) && group.owner.get(tp).is_some_and(|o| o == member_id)
    }

    pub fn committed(&self, group_id: &str, topic: &str, partition: i32) -> Option<Committed> {
        lock(&self.offsets).committed(group_id, topic, partition).cloned()
    }

    pub fn committed_all(&self, group_id: &str) -> BTreeMap<(String, i32), Committed> {
        lock(&self.offsets).group(group_id).cloned().unwrap_or_default()
    }

    pub fn has_members(&self, group_id: &str) -> bool {
        lock(&self.groups).get(group_id).is_some_and(|g| !g.members.is_empty()) || lock(&self.classic).is_active(group_id)
    }

    /// Every group with members or committed offsets: (group id, protocol type, state,
    /// kind: "consumer" or "classic").
    pub fn list(&self) -> Vec<ListedGroup> {
        let groups = lock(&self.groups);
        let mut classic = lock(&self.classic);
        let offsets = lock(&self.offsets);
        let mut out: BTreeMap<String, ListedGroup> = BTreeMap::new();
        for c in classic.list() {
            out.insert(c.group_id.clone(), ListedGroup { group_id: c.group_id, protocol_type: c.protocol_type, state: c.state, kind: "classic" });
        }
        for (name, g) in groups.iter().filter(|(_, g)| !g.members.is_empty()) {
            out.insert(name.clone(), ListedGroup { group_id: name.clone(), protocol_type: "consumer".into(), state: g.state(), kind: "consumer" });
        }
        for name in offsets.groups() {
            out.entry(name.clone())
                .or_insert_with(|| ListedGroup { group_id: name.clone(), protocol_type: "consumer".into(), state: "Empty", kind: "consumer" });
        }
        out.into_values().collect()
    }

    /// The member reported as the group's leader: the longest-standing one (member ids
    /// sort in join order), the one Kafka would most likely have chosen.
    pub fn leader(&self, group_id: &str) -> Option<String> {
        lock(&self.groups).get(group_id).and_then(|g| g.members.keys().next().cloned())
    }

    /// A classic group's description, if `group_id` is one.
    /// Whether `group_id` is a classic (JoinGroup/SyncGroup) group.
    pub fn is_classic(&self, group_id: &str) -> bool {
        lock(&self.classic).state(group_id).is_some()
    }

    pub fn describe_classic(&self, group_id: &str) -> Option<classic::GroupDescription> {
        lock(&self.classic).describe(group_id)
    }

    pub fn describe(&self, group_id: &str) -> GroupDescription {
        let groups = lock(&self.groups);
        let has_offsets = lock(&self.offsets).group(group_id).is_some();
        match groups.get(group_id).filter(|g| !g.members.is_empty()) {
            Some(g) => {
                GroupDescription {
                    group_id: group_id.into(),
                    state: if g.state() == "Stable" { "Stable" } else { "CompletingRebalance" },
                    protocol: g.strategy.unwrap_or(Strategy::RoundRobin).name().into(),
                    generation: g.generation,
                    members: g
                        .members
                        .iter()
                        .map(|(id, m)| MemberDescription {
                            member_id: id.clone(),
                            client_id: m.client_id.clone(),
                            client_host: m.client_host.clone(),
                            topics: m.topics.iter().cloned().collect(),
                            assigned: g.owner.iter().filter(|(_, o)| *o == id).map(|(tp, _)| tp.clone()).collect(),
                        })
                        .collect(),
                }
            }
            None => GroupDescription {
                group_id: group_id.into(),
                state: if has_offsets { "Empty" } else { "Dead" },
                protocol: String::new(),
                generation: groups.get(group_id).map_or(0, |g| g.generation),
                members: Vec::new(),
            },
        }
    }

    /// Deletes a group's committed offsets; refused while it has members. The emptiness
    /// check and the deletion happen under the groups lock, so a member joining meanwhile
    /// either comes first (and the deletion is refused) or after.
    pub fn delete(&self, group_id: &str) -> Result<()> {
        let mut groups = lock(&self.groups);
        if groups.get(group_id).is_some_and(|g| !g.members.is_empty()) {
            return Err(Error::NonEmptyGroup(group_id.into()));
        }
        let mut classic = lock(&self.classic);
        if classic.is_known(group_id) {
            classic.delete(group_id)?;
            lock(&self.offsets).delete_group(group_id)?;
            return Ok(());
        }
        drop(classic);
        if !lock(&self.offsets).delete_group(group_id)? {
            return Err(Error::GroupIdNotFound(group_id.into()));
        }
        groups.remove(group_id);
        Ok(())
    }

    /// Kafka's OffsetDelete: forgets a group's offsets for some partitions, refused per
    /// topic while the group has members subscribed to it (GROUP_SUBSCRIBED_TO_TOPIC).
    pub fn delete_offsets(&self, group_id: &str, partitions: &[(String, i32)]) -> Result<Vec<Result<()>>> {
        let groups = lock(&self.groups);
        let classic = lock(&self.classic);
        let known = groups.contains_key(group_id) || classic.is_known(group_id) || lock(&self.offsets).group(group_id).is_some();
        if !known {
            return Err(Error::GroupIdNotFound(group_id.into()));
        }
        let subscribed = |topic: &str| {
            groups.get(group_id).is_some_and(|g| g.members.values().any(|m| m.topics.contains(topic))) || classic.is_active(group_id)
        };
        let results: Vec<Result<()>> = partitions
            .iter()
            .map(|(t, _)| if subscribed(t) { Err(Error::GroupSubscribedToTopic(format!("group \"{group_id}\" has members subscribed to \"{t}\""))) } else { Ok(()) })
            .collect();
        let deletable: Vec<(String, i32)> =
            partitions.iter().zip(&results).filter(|(_, r)| r.is_ok()).map(|(tp, _)| tp.clone()).collect();
        lock(&self.offsets).delete_offsets(group_id, &deletable)?;
        Ok(results)
    }

    pub fn delete_topic(&self, topic: &str) -> Result<()> {
        lock(&self.offsets).delete_topic(topic)
    }

    pub fn flush(&self) -> Result<()> {
        lock(&self.offsets).flush()
    }
}

/// A member's assignment now: the partitions of its target nobody holds become its own;
/// those another member still holds are pending; those it holds outside its target it
/// must revoke.
fn settle(group: &mut Group, member_id: &str) -> Assignment {
    let mut a = Assignment { generation: group.generation, ..Assignment::default() };
    let target = group.target.get(member_id).cloned().unwrap_or_default();
    for tp in &target {
        match group.owner.get(tp) {
            None => {
                group.owner.insert(tp.clone(), member_id.to_string());
                a.assigned.push(tp.clone());
            }
            Some(o) if o == member_id => a.assigned.push(tp.clone()),
            Some(_) => a.pending.push(tp.clone()),
        }
    }
    for (tp, o) in &group.owner {
        if o == member_id && !target.contains(tp) {
            a.revoking.push(tp.clone());
        }
    }
    a.revoking.sort();
    a
}

fn member_group<'a>(groups: &'a mut HashMap<String, Group>, group_id: &str, member_id: &str) -> Result<&'a mut Group> {
    groups
        .get_mut(group_id)
        .filter(|g| g.members.contains_key(member_id))
        .ok_or_else(|| Error::UnknownMemberId { group: group_id.into(), member: member_id.into() })
}

fn remove_member(group: &mut Group, member_id: &str) -> bool {
    if group.members.remove(member_id).is_none() {
        return false;
    }
    group.target.remove(member_id);
    let freed: Vec<TopicPartition> = group.owner.iter().filter(|(_, o)| *o == member_id).map(|(tp, _)| tp.clone()).collect();
    for tp in freed {
        group.owner.remove(&tp);
    }
    if group.members.is_empty() {
        group.strategy = None;
    }
    true
}

/// Recomputes targets (sticky) and bumps the generation if anything changed. Members see
/// it on their next poll (the coordinator's version tells them to poll).
fn rebalance(group: &mut Group, counts: &TopicCounts) {
    let members: BTreeMap<String, BTreeSet<String>> =
        group.members.iter().map(|(id, m)| (id.clone(), m.topics.clone())).collect();
    let relevant: TopicCounts = counts
        .iter()
        .filter(|(t, _)| members.values().any(|s| s.contains(*t)))
        .map(|(t, n)| (t.clone(), *n))
        .collect();
    group.counts = counts.clone();
    let target = assignor::assign(group.strategy.unwrap_or(Strategy::RoundRobin), &members, &relevant, &group.target);
    if target != group.target {
        group.target = target;
        group.generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coordinator(clock: Arc<ManualClock>) -> (tempfile::TempDir, GroupCoordinator) {
        let dir = tempfile::tempdir().unwrap();
        let c = GroupCoordinator::open(dir.path(), false, Arc::default(), clock).unwrap();
        (dir, c)
    }

    fn req(group: &str) -> JoinRequest {
        JoinRequest {
            group_id: group.into(),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            topics: vec!["t".into()],
            session_timeout_ms: 30_000,
            rebalance_timeout_ms: 60_000,
            strategy: Strategy::RoundRobin,
        }
    }

    fn counts(n: i32) -> TopicCounts {
        [("t".to_string(), n)].into_iter().collect()
    }

    #[test]
    fn one_member_gets_every_partition() {
        let clock = Arc::new(ManualClock::new(0));
        let (_d, c) = coordinator(clock);
        let m = c.join(req("g"), &counts(4)).unwrap().member_id;
        let a = c.poll("g", &m, None).unwrap();
        assert_eq!(a.assigned.len(), 4);
        assert!(a.revoking.is_empty());
    }

    #[test]
    fn partitions_move_only_after_release() {
        let clock = Arc::new(ManualClock::new(0));
        let (_d, c) = coordinator(clock);
        let a = c.join(req("g"), &counts(4)).unwrap().member_id;
        assert_eq!(c.poll("g", &a, None).unwrap().assigned.len(), 4);
        let b = c.join(req("g"), &counts(4)).unwrap().member_id;
        let pb = c.poll("g", &b, None).unwrap();
        assert!(pb.assigned.is_empty(), "b must wait for a to release");
        assert_eq!(pb.pending.len(), 2);
        let pa = c.poll("g", &a, None).unwrap();
        assert_eq!(pa.revoking.len(), 2);
        assert_eq!(pa.assigned.len(), 2, "a keeps the partitions that do not move");
        // a may still commit what it is revoking, then releases.
        let tp = &pa.revoking[0];
        c.commit("g", Some(&a), &[(tp.0.clone(), tp.1, Committed { offset: 3, metadata: None, leader_epoch: None })]).unwrap();
        c.release("g", &a, &pa.revoking).unwrap();
        assert_eq!(c.poll("g", &b, None).unwrap().assigned.len(), 2);
        // a lost the partition: its commit for it is now fenced.
        let err = c.commit("g", Some(&a), &[(tp.0.clone(), tp.1, Committed { offset: 4, metadata: None, leader_epoch: None })]).unwrap_err();
        assert_eq!(err.kind(), "ILLEGAL_GENERATION");
        assert_eq!(c.committed("g", &tp.0, tp.1).unwrap().offset, 3);
    }

    #[test]
    fn a_member_not_seen_for_its_session_timeout_is_removed() {
        let clock = Arc::new(ManualClock::new(0));
        let (_d, c) = coordinator(Arc::clone(&clock));
        let a = c.join(req("g"), &counts(2)).unwrap().member_id;
        let b = c.join(req("g"), &counts(2)).unwrap().member_id;
        c.poll("g", &a, None).unwrap();
        c.release("g", &a, &c.poll("g", &a, None).unwrap().revoking).unwrap();
        assert_eq!(c.poll("g", &b, None).unwrap().assigned.len(), 1);
        clock.advance(20_000);
        c.poll("g", &b, None).unwrap();
        clock.advance(20_000); // a last seen 40 s ago, b 20 s ago
        let pb = c.poll("g", &b, None).unwrap();
        assert_eq!(pb.assigned.len(), 2, "b takes over a's partition");
        assert_eq!(c.poll("g", &a, None).unwrap_err().kind(), "UNKNOWN_MEMBER_ID");
        let err = c.commit("g", Some(&a), &[("t".into(), 0, Committed { offset: 1, metadata: None, leader_epoch: None })]).unwrap_err();
        assert_eq!(err.kind(), "UNKNOWN_MEMBER_ID");
    }

    #[test]
    fn a_stuck_handler_loses_its_partitions_after_the_rebalance_timeout() {
        let clock = Arc::new(ManualClock::new(0));
        let (_d, c) = coordinator(Arc::clone(&clock));
        let mut r = req("g");
        r.rebalance_timeout_ms = 1000;
        let a = c.join(r.clone(), &counts(2)).unwrap().member_id;
        c.poll("g", &a, Some(0)).unwrap(); // a's handler starts at t=0 and never returns
        let b = c.join(r, &counts(2)).unwrap().member_id;
        clock.advance(500);
        c.poll("g", &a, Some(0)).unwrap(); // still heartbeating (liveness), but busy
        assert_eq!(c.poll("g", &b, None).unwrap().assigned.len(), 0);
        clock.advance(600);
        c.poll("g", &b, None).unwrap();
        assert_eq!(c.poll("g", &b, None).unwrap().assigned.len(), 2);
        assert_eq!(c.poll("g", &a, Some(0)).unwrap_err().kind(), "UNKNOWN_MEMBER_ID");
    }

    #[test]
    fn an_idle_member_takes_over_from_a_stuck_one() {
        let clock = Arc::new(ManualClock::new(0));
        let (_d, c) = coordinator(Arc::clone(&clock));
        let mut r = req("g");
        r.rebalance_timeout_ms = 1000;
        let a = c.join(r.clone(), &counts(1)).unwrap().member_id;
        c.poll("g", &a, Some(0)).unwrap();
        let b = c.join(r, &counts(1)).unwrap().member_id;
        assert!(c.poll("g", &b, None).unwrap().assigned.is_empty(), "one partition: b is idle");
        clock.advance(1001);
        assert_eq!(c.poll("g", &b, None).unwrap().assigned, vec![("t".to_string(), 0)]);
    }

    #[test]
    fn leaving_frees_partitions_at_once_and_admin_commits_need_an_empty_group() {
        let clock = Arc::new(ManualClock::new(0));
        let (_d, c) = coordinator(clock);
        let a = c.join(req("g"), &counts(2)).unwrap().member_id;
        let b = c.join(req("g"), &counts(2)).unwrap().member_id;
        c.poll("g", &a, None).unwrap();
        c.leave("g", &a, &counts(2)).unwrap();
        assert_eq!(c.poll("g", &b, None).unwrap().assigned.len(), 2);
        let off = [("t".to_string(), 0, Committed { offset: 0, metadata: None, leader_epoch: None })];
        assert_eq!(c.commit("g", None, &off).unwrap_err().kind(), "NON_EMPTY_GROUP");
        c.leave("g", &b, &counts(2)).unwrap();
        c.commit("g", None, &off).unwrap();
        assert_eq!(c.describe("g").state, "Empty");
        c.delete("g").unwrap();
        assert_eq!(c.delete("g").unwrap_err().kind(), "GROUP_ID_NOT_FOUND");
    }
}
