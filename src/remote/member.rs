//! A consumer group member in a process that does not own the data directory: a KIP-848
//! member (ConsumerGroupHeartbeat), so the owner's coordinator computes its sticky,
//! incremental assignment as it does for members in the owner's own process, and the
//! member epoch fences it.
//!
//! Heartbeats run on this side's own thread, never on the JS thread: a long handler does
//! not make the member miss one. The JS side reads the member's state without waiting
//! (`poll`, `owns`), hands back revoked partitions (`release`), and is told when the state
//! changed through the broker's notify callback.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{consumer_group_heartbeat_request, ConsumerGroupHeartbeatRequest};
use tokio::sync::Notify;

use super::{group_name, sb, Inner};
use crate::error::{Error, Result};
use crate::group::Strategy;
use crate::wire::SESSION_TIMEOUT_TAG;

/// While the assignment is settling, heartbeats go this often (a hand-over takes a few).
const SETTLING_INTERVAL: Duration = Duration::from_millis(50);
const SETTLING_FOR: Duration = Duration::from_secs(3);

pub struct MemberState {
    pub member_id: String,
    pub epoch: i32,
    /// Partitions this member holds, the revoking ones included.
    pub owned: BTreeSet<(String, i32)>,
    /// Owned partitions the coordinator asked back, not yet released.
    pub revoking: BTreeSet<(String, i32)>,
    pub topics: Vec<String>,
    /// Why the member is out of the group (it must join again), once it is.
    pub fenced: Option<String>,
    left: bool,
    topics_changed: bool,
    changed_at: Instant,
}

pub struct RemoteMember {
    inner: Arc<Inner>,
    pub group_id: String,
    /// The application's client id, which the owner reports for this member.
    client_id: String,
    /// The assignor asked for (the group keeps its first member's).
    assignor: Strategy,
    rebalance_timeout_ms: i32,
    session_timeout_ms: i32,
    heartbeat_interval: Duration,
    state: Mutex<MemberState>,
    version: AtomicU64,
    wake: Notify,
}

impl RemoteMember {
    /// Joins `group_id` (the first heartbeat, epoch 0) and starts heartbeating.
    #[allow(clippy::too_many_arguments)]
    pub async fn join(
        inner: Arc<Inner>,
        group_id: String,
        client_id: String,
        assignor: Strategy,
        topics: Vec<String>,
        rebalance_timeout_ms: i32,
        session_timeout_ms: i32,
        heartbeat_interval_ms: u64,
    ) -> Result<Arc<RemoteMember>> {
        inner.ensure_open()?;
        let member = Arc::new(RemoteMember {
            inner,
            group_id,
            client_id,
            assignor,
            rebalance_timeout_ms,
            session_timeout_ms,
            heartbeat_interval: Duration::from_millis(heartbeat_interval_ms.max(10)),
            state: Mutex::new(MemberState {
                member_id: String::new(),
                epoch: 0,
                owned: BTreeSet::new(),
                revoking: BTreeSet::new(),
                topics,
                fenced: None,
                left: false,
                topics_changed: true,
                changed_at: Instant::now(),
            }),
            version: AtomicU64::new(0),
            wake: Notify::new(),
        });
        member.beat_once().await?;
        if let Some(why) = member.lock().fenced.clone() {
            return Err(Error::FencedMemberEpoch(why));
        }
        member.inner.add_member(&member);
        tokio::spawn(Arc::clone(&member).heartbeats());
        Ok(member)
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, MemberState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn version(&self) -> u64 {
        self.version.load(Ordering::SeqCst)
    }

    /// Out of the group, for `why`: the consumer joins again as a new member.
    pub fn fence(&self, why: &str) {
        {
            let mut s = self.lock();
            if s.fenced.is_none() {
                s.fenced = Some(why.to_string());
            }
            s.left = true;
        }
        self.version.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_one();
    }

    fn changed(&self) {
        self.version.fetch_add(1, Ordering::SeqCst);
        self.inner.notify(Vec::new(), Vec::new());
    }

    /// Hands back revoked partitions; the next heartbeat (at once) tells the coordinator.
    pub fn release(&self, partitions: &[(String, i32)]) {
        {
            let mut s = self.lock();
            for tp in partitions {
                s.owned.remove(tp);
                s.revoking.remove(tp);
            }
            s.changed_at = Instant::now();
        }
        self.wake.notify_one();
    }

    pub fn subscribe(&self, topics: Vec<String>) {
        {
            let mut s = self.lock();
            s.topics = topics;
            s.topics_changed = true;
            s.changed_at = Instant::now();
        }
        self.wake.notify_one();
    }

    /// Leaves the group now (epoch -1): the others take over its partitions at once.
    pub async fn leave(&self) -> Result<()> {
        let (member_id, was_in) = {
            let mut s = self.lock();
            let was_in = !s.left && s.fenced.is_none();
            s.left = true;
            (s.member_id.clone(), was_in)
        };
        self.wake.notify_one();
        if !was_in || member_id.is_empty() {
            return Ok(());
        }
        let req = ConsumerGroupHeartbeatRequest::default()
            .with_group_id(group_name(&self.group_id))
            .with_member_id(sb(&member_id))
            .with_member_epoch(-1);
        let resp = self.inner.group.call(&req, self.inner.request_timeout).await?;
        super::check(resp.error_code, resp.error_message.as_ref(), || format!("leaving group \"{}\"", self.group_id))
    }

    /// Commits offsets as this member, at its current epoch.
    pub async fn commit(&self, offsets: Vec<(String, i32, i64, Option<String>)>) -> Result<()> {
        let (member_id, epoch, fenced) = {
            let s = self.lock();
            (s.member_id.clone(), s.epoch, s.fenced.clone())
        };
        if let Some(why) = fenced {
            return Err(Error::FencedMemberEpoch(why));
        }
        self.inner.commit(&self.group_id, &member_id, epoch, offsets).await
    }

    async fn heartbeats(self: Arc<Self>) {
        loop {
            let wait = {
                let s = self.lock();
                if s.left || s.fenced.is_some() {
                    return;
                }
                if !s.revoking.is_empty() || s.changed_at.elapsed() < SETTLING_FOR {
                    SETTLING_INTERVAL
                } else {
                    self.heartbeat_interval
                }
            };
            let _ = tokio::time::timeout(wait, self.wake.notified()).await;
            if self.inner.closed.load(Ordering::SeqCst) {
                return;
            }
            if self.lock().left {
                return;
            }
            if let Err(e) = self.beat_once().await {
                // The owner is away: keep what is held (nothing can be committed meanwhile)
                // and try again; a new owner answers UNKNOWN_MEMBER_ID, and the member
                // joins again.
                tracing::debug!(group = %self.group_id, error = %e, "a heartbeat failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    async fn beat_once(&self) -> Result<()> {
        let req = {
            let mut s = self.lock();
            let mut owned: Vec<consumer_group_heartbeat_request::TopicPartitions> = Vec::new();
            for (t, p) in &s.owned {
                let Some(id) = self.inner.topic_id(t) else { continue };
                match owned.iter_mut().find(|x| x.topic_id == id) {
                    Some(x) => x.partitions.push(*p),
                    None => owned.push(consumer_group_heartbeat_request::TopicPartitions::default().with_topic_id(id).with_partitions(vec![*p])),
                }
            }
            let topics = (s.topics_changed || s.epoch == 0).then(|| s.topics.iter().map(|t| super::name(t)).collect());
            s.topics_changed = false;
            ConsumerGroupHeartbeatRequest::default()
                .with_group_id(group_name(&self.group_id))
                .with_member_id(sb(&s.member_id))
                .with_member_epoch(s.epoch)
                .with_rebalance_timeout_ms(self.rebalance_timeout_ms)
                .with_server_assignor((s.epoch == 0).then(|| sb(self.assignor.server_assignor())))
                .with_subscribed_topic_names(topics)
                .with_topic_partitions(Some(owned))
                .with_unknown_tagged_fields(
                    [(SESSION_TIMEOUT_TAG, bytes::Bytes::copy_from_slice(&self.session_timeout_ms.to_be_bytes()))].into(),
                )
        };
        let resp = match self.inner.group.call_as(&req, self.inner.request_timeout, &self.client_id).await {
            Ok(r) => r,
            Err(e) => {
                self.lock().topics_changed = true;
                return Err(e);
            }
        };
        if resp.error_code != 0 {
            let message = resp.error_message.map(|m| m.to_string()).unwrap_or_else(|| crate::error::wire_error_name(resp.error_code).to_string());
            match resp.error_code {
                // Out of the group: the consumer joins again as a new member.
                25 | 110 => {
                    self.lock().fenced = Some(message);
                    self.changed();
                    return Ok(());
                }
                _ => {
                    self.lock().topics_changed = true;
                    return Err(Error::from_wire(resp.error_code, message));
                }
            }
        }
        // A topic created since the last look: learn its id before taking the assignment.
        let assignment: Option<Vec<(uuid::Uuid, Vec<i32>)>> =
            resp.assignment.map(|a| a.topic_partitions.into_iter().map(|tp| (tp.topic_id, tp.partitions)).collect());
        if let Some(a) = &assignment {
            if a.iter().any(|(id, _)| self.inner.topic_by_id(id).is_none()) {
                self.inner.refresh_topics().await?;
            }
        }
        let changed = {
            let mut s = self.lock();
            let mut changed = false;
            if let Some(id) = resp.member_id {
                if s.member_id != id.as_str() {
                    s.member_id = id.to_string();
                    changed = true;
                }
            }
            if s.epoch != resp.member_epoch {
                s.epoch = resp.member_epoch;
                changed = true;
            }
            if let Some(a) = assignment {
                let mut target = BTreeSet::new();
                for (id, partitions) in a {
                    // A topic deleted meanwhile has no name any more: nothing to take.
                    if let Some(t) = self.inner.topic_by_id(&id) {
                        target.extend(partitions.into_iter().map(|p| (t.clone(), p)));
                    }
                }
                let revoking: BTreeSet<_> = s.owned.difference(&target).cloned().collect();
                let added: Vec<_> = target.difference(&s.owned).cloned().collect();
                if revoking != s.revoking || !added.is_empty() {
                    changed = true;
                }
                s.revoking = revoking;
                s.owned.extend(added);
            }
            if changed {
                s.changed_at = Instant::now();
            }
            changed
        };
        if changed {
            self.changed();
        }
        Ok(())
    }
}
