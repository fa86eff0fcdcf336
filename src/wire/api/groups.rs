//! Consumer groups over the wire: KIP-848's ConsumerGroupHeartbeat on samsa's own groups
//! (shared with in-process consumers), and the classic JoinGroup/SyncGroup protocol.

use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::*;

use super::str_bytes;
use crate::error::Error;
use crate::group::ConsumerHeartbeat;
use crate::wire::Ctx;

/// KIP-848's default: a member not heard from for 45 s is removed.
const SESSION_TIMEOUT_MS: i64 = 45_000;
use crate::group::CONSUMER_HEARTBEAT_INTERVAL_MS as HEARTBEAT_INTERVAL_MS;

/// A tagged field samsa's own clients add to ConsumerGroupHeartbeat: the member's session
/// timeout (i32, ms), which KIP-848 leaves to the broker's group config but kafkajs gives
/// each consumer (`sessionTimeout`). A member in another process is then removed when its
/// own timeout runs out, as one in the owner's process is; other clients never send it.
pub const SESSION_TIMEOUT_TAG: i32 = 10_001;

pub async fn consumer_heartbeat(ctx: &Ctx, req: ConsumerGroupHeartbeatRequest, _: i16, header: &RequestHeader) -> Option<ConsumerGroupHeartbeatResponse> {
    let b = &ctx.broker;
    let resp = ConsumerGroupHeartbeatResponse::default().with_heartbeat_interval_ms(HEARTBEAT_INTERVAL_MS);
    let owned = req.topic_partitions.as_ref().map(|tps| {
        tps.iter()
            .filter_map(|t| b.topic_by_id(t.topic_id.as_bytes()).ok().map(|topic| (topic.name.clone(), t.partitions.clone())))
            .flat_map(|(name, ps)| ps.into_iter().map(move |p| (name.clone(), p)))
            .collect()
    });
    if req.subscribed_topic_regex.as_ref().is_some_and(|r| !r.is_empty()) {
        return Some(
            resp.with_error_code(42)
                .with_error_message(Some(str_bytes("samsa does not serve regular-expression subscriptions over KIP-848 yet: subscribe to topic names"))),
        );
    }
    let assignor = match req.server_assignor.as_ref().filter(|a| !a.is_empty()) {
        None => None,
        Some(name) => match crate::group::Strategy::from_server_assignor(name) {
            Some(s) => Some(s),
            None => {
                let e = Error::UnsupportedAssignor(format!("samsa's coordinator has no assignor \"{name}\": use \"uniform\" or \"range\""));
                return Some(resp.with_error_code(ctx.code(&e)).with_error_message(Some(str_bytes(e.to_string()))));
            }
        },
    };
    let hb = ConsumerHeartbeat {
        assignor,
        group_id: req.group_id.0.to_string(),
        member_id: req.member_id.to_string(),
        member_epoch: req.member_epoch,
        client_id: header.client_id.as_ref().map_or(String::new(), |c| c.to_string()),
        client_host: ctx.client_host.clone(),
        rebalance_timeout_ms: (req.rebalance_timeout_ms > 0).then_some(i64::from(req.rebalance_timeout_ms)),
        session_timeout_ms: req
            .unknown_tagged_fields
            .get(&SESSION_TIMEOUT_TAG)
            .and_then(|b| <[u8; 4]>::try_from(b.as_ref()).ok())
            .map(i32::from_be_bytes)
            .filter(|ms| *ms > 0)
            .map_or(SESSION_TIMEOUT_MS, i64::from),
        subscribed_topics: req.subscribed_topic_names.as_ref().map(|ts| ts.iter().map(|t| t.0.to_string()).collect()),
        owned,
    };
    if let Err(e) = b.groups.check_protocol(&hb.group_id, crate::group::Protocol::Consumer) {
        return Some(resp.with_error_code(ctx.code(&e)).with_error_message(Some(str_bytes(e.to_string()))));
    }
    match b.groups.consumer_heartbeat(hb, &b.topic_counts()) {
        Ok(r) => {
            let assignment = r.assignment.map(|tps| {
                let mut by_topic: std::collections::BTreeMap<String, Vec<i32>> = Default::default();
                for (t, p) in tps {
                    by_topic.entry(t).or_default().push(p);
                }
                let topic_partitions = by_topic
                    .into_iter()
                    .filter_map(|(t, ps)| b.topic(&t).ok().map(|topic| TopicPartitions::default().with_topic_id(super::uuid(&topic.id)).with_partitions(ps)))
                    .collect();
                Assignment::default().with_topic_partitions(topic_partitions)
            });
            Some(resp.with_member_id(Some(str_bytes(r.member_id))).with_member_epoch(r.member_epoch).with_assignment(assignment))
        }
        Err(e) => Some(resp.with_error_code(ctx.code(&e)).with_error_message(Some(str_bytes(e.to_string())))),
    }
}

// ---------------------------------------------------------------- classic groups

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::protocol::StrBytes;
use crate::group::classic::{self, Reply};

fn client(header: &RequestHeader) -> String {
    header.client_id.as_ref().map_or(String::new(), |c| c.to_string())
}

fn opt(s: &Option<StrBytes>) -> Option<String> {
    s.as_ref().map(|s| s.to_string())
}

/// Waits for a deferred classic reply, running the state machine's timers when they fall
/// due (a rebalance's initial delay is shorter than the maintenance thread's tick).
async fn settle<T>(ctx: &Ctx, reply: Reply<T>) -> Result<T, Error> {
    let mut rx = match reply {
        Reply::Now(r) => return r,
        Reply::Later(rx) => rx,
    };
    let clock = crate::clock::SystemClock;
    loop {
        let due = ctx.broker.groups.classic().next_deadline();
        let wait = due.map_or(1000, |d| (d - crate::clock::Clock::now_ms(&clock)).clamp(0, 1000));
        tokio::select! {
            r = &mut rx => return r.unwrap_or(Err(Error::CoordinatorNotAvailable("the coordinator closed".into()))),
            _ = tokio::time::sleep(std::time::Duration::from_millis(wait as u64 + 1)) => ctx.broker.groups.classic().tick(),
        }
    }
}

pub async fn join(ctx: &Ctx, req: JoinGroupRequest, version: i16, header: &RequestHeader) -> Option<JoinGroupResponse> {
    let params = classic::JoinParams {
        group_id: req.group_id.0.to_string(),
        member_id: req.member_id.to_string(),
        group_instance_id: opt(&req.group_instance_id),
        client_id: client(header),
        client_host: ctx.client_host.clone(),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: if version >= 1 { req.rebalance_timeout_ms } else { -1 },
        protocol_type: req.protocol_type.to_string(),
        protocols: req.protocols.iter().map(|p| (p.name.to_string(), p.metadata.to_vec())).collect(),
        api_version: version,
    };
    let member_id = params.member_id.clone();
    let reply = ctx.broker.groups.classic_join(params);
    let name = |n: Option<String>| -> Option<StrBytes> {
        // Below v7 the protocol name is not nullable.
        match n {
            Some(n) => Some(str_bytes(n)),
            None if version < 7 => Some(str_bytes("")),
            None => None,
        }
    };
    let resp = JoinGroupResponse::default();
    Some(match settle(ctx, reply).await {
        Ok(r) => {
            let members = r
                .members
                .into_iter()
                .map(|m| {
                    JoinGroupResponseMember::default()
                        .with_member_id(str_bytes(m.member_id))
                        .with_group_instance_id(if version >= 5 { m.group_instance_id.map(str_bytes) } else { None })
                        .with_metadata(m.metadata.into())
                })
                .collect();
            resp.with_generation_id(r.generation_id)
                .with_protocol_type(if version >= 7 { r.protocol_type.map(str_bytes) } else { None })
                .with_protocol_name(name(r.protocol_name))
                .with_leader(str_bytes(r.leader_id))
                .with_skip_assignment(version >= 9 && r.skip_assignment)
                .with_member_id(str_bytes(r.member_id))
                .with_members(members)
        }
        Err(e) => {
            let member = match &e {
                Error::MemberIdRequired { member_id, .. } => member_id.clone(),
                _ => member_id,
            };
            resp.with_error_code(ctx.code(&e)).with_generation_id(-1).with_protocol_name(name(None)).with_member_id(str_bytes(member))
        }
    })
}

pub async fn sync(ctx: &Ctx, req: SyncGroupRequest, version: i16, _: &RequestHeader) -> Option<SyncGroupResponse> {
    let params = classic::SyncParams {
        group_id: req.group_id.0.to_string(),
        member_id: req.member_id.to_string(),
        group_instance_id: opt(&req.group_instance_id),
        generation_id: req.generation_id,
        protocol_type: opt(&req.protocol_type),
        protocol_name: opt(&req.protocol_name),
        assignments: req.assignments.iter().map(|a| (a.member_id.to_string(), a.assignment.to_vec())).collect(),
    };
    let reply = ctx.broker.groups.classic().sync(params);
    Some(match settle(ctx, reply).await {
        Ok(r) => {
            let resp = SyncGroupResponse::default().with_assignment(r.assignment.into());
            if version >= 5 {
                resp.with_protocol_type(r.protocol_type.map(str_bytes)).with_protocol_name(r.protocol_name.map(str_bytes))
            } else {
                resp
            }
        }
        Err(e) => SyncGroupResponse::default().with_error_code(ctx.code(&e)),
    })
}

pub async fn heartbeat(ctx: &Ctx, req: HeartbeatRequest, _: i16, _: &RequestHeader) -> Option<HeartbeatResponse> {
    let r = ctx.broker.groups.classic().heartbeat(&req.group_id.0, &req.member_id, req.group_instance_id.as_deref(), req.generation_id);
    Some(match r {
        Ok(()) => HeartbeatResponse::default(),
        Err(e) => HeartbeatResponse::default().with_error_code(ctx.code(&e)),
    })
}

pub async fn leave(ctx: &Ctx, req: LeaveGroupRequest, version: i16, _: &RequestHeader) -> Option<LeaveGroupResponse> {
    let members: Vec<classic::LeaveMember> = if version >= 3 {
        req.members.iter().map(|m| classic::LeaveMember { member_id: m.member_id.to_string(), group_instance_id: opt(&m.group_instance_id) }).collect()
    } else {
        vec![classic::LeaveMember { member_id: req.member_id.to_string(), group_instance_id: None }]
    };
    let outcome = ctx.broker.groups.classic().leave(&req.group_id.0, &members);
    Some(match outcome {
        Err(e) => LeaveGroupResponse::default().with_error_code(ctx.code(&e)),
        Ok(outcomes) if version >= 3 => LeaveGroupResponse::default().with_members(
            outcomes
                .into_iter()
                .map(|o| {
                    let r = MemberResponse::default().with_member_id(str_bytes(o.member_id)).with_group_instance_id(o.group_instance_id.map(str_bytes));
                    match o.result {
                        Ok(()) => r,
                        Err(e) => r.with_error_code(ctx.code(&e)),
                    }
                })
                .collect(),
        ),
        Ok(outcomes) => {
            let error = outcomes.into_iter().find_map(|o| o.result.err());
            LeaveGroupResponse::default().with_error_code(error.map_or(0, |e| ctx.code(&e)))
        }
    })
}

/// The consumer-protocol bytes DescribeGroups reports for samsa's own members.
fn subscription_bytes(topics: &[String]) -> bytes::Bytes {
    use kafka_protocol::messages::ConsumerProtocolSubscription;
    use kafka_protocol::protocol::Encodable;
    let s = ConsumerProtocolSubscription::default().with_topics(topics.iter().map(|t| str_bytes(t.clone())).collect());
    let mut out = bytes::BytesMut::new();
    out.extend_from_slice(&0i16.to_be_bytes());
    if s.encode(&mut out, 0).is_err() {
        return bytes::Bytes::new();
    }
    out.freeze()
}

fn assignment_bytes(tps: &[(String, i32)]) -> bytes::Bytes {
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
    use kafka_protocol::messages::ConsumerProtocolAssignment;
    use kafka_protocol::protocol::Encodable;
    let mut by_topic: std::collections::BTreeMap<&str, Vec<i32>> = Default::default();
    for (t, p) in tps {
        by_topic.entry(t).or_default().push(*p);
    }
    // User data empty rather than null, as Kafka's clients write it: some decoders read
    // the field as compact bytes and cannot take a null.
    let a = ConsumerProtocolAssignment::default()
        .with_assigned_partitions(
            by_topic.into_iter().map(|(t, ps)| TopicPartition::default().with_topic(super::topic_name(t)).with_partitions(ps)).collect(),
        )
        .with_user_data(Some(bytes::Bytes::new()));
    let mut out = bytes::BytesMut::new();
    out.extend_from_slice(&0i16.to_be_bytes());
    if a.encode(&mut out, 0).is_err() {
        return bytes::Bytes::new();
    }
    out.freeze()
}

pub async fn describe(ctx: &Ctx, req: DescribeGroupsRequest, version: i16, _: &RequestHeader) -> Option<DescribeGroupsResponse> {
    let g = &ctx.broker.groups;
    let groups = req
        .groups
        .iter()
        .map(|id| {
            let described = DescribedGroup::default().with_group_id(id.clone());
            let described = if version >= 3 { described.with_authorized_operations(i32::MIN) } else { described };
            let instance = |i: Option<String>| if version >= 4 { i.map(str_bytes) } else { None };
            if let Some(c) = g.describe_classic(id) {
                return described
                    .with_group_state(str_bytes(c.state))
                    .with_protocol_type(str_bytes(c.protocol_type))
                    .with_protocol_data(str_bytes(c.protocol_name))
                    .with_members(
                        c.members
                            .into_iter()
                            .map(|m| {
                                DescribedGroupMember::default()
                                    .with_member_id(str_bytes(m.member_id))
                                    .with_group_instance_id(instance(m.group_instance_id))
                                    .with_client_id(str_bytes(m.client_id))
                                    .with_client_host(str_bytes(m.client_host))
                                    .with_member_metadata(m.metadata.into())
                                    .with_member_assignment(m.assignment.into())
                            })
                            .collect(),
                    );
            }
            let d = g.describe(id);
            described
                .with_group_state(str_bytes(d.state))
                .with_protocol_type(str_bytes(if d.state == "Dead" { "" } else { "consumer" }))
                .with_protocol_data(str_bytes(d.protocol))
                .with_members(
                    d.members
                        .into_iter()
                        .map(|m| {
                            DescribedGroupMember::default()
                                .with_member_metadata(subscription_bytes(&m.topics))
                                .with_member_assignment(assignment_bytes(&m.assigned))
                                .with_member_id(str_bytes(m.member_id))
                                .with_client_id(str_bytes(m.client_id))
                                .with_client_host(str_bytes(m.client_host))
                        })
                        .collect(),
                )
        })
        .collect();
    Some(DescribeGroupsResponse::default().with_groups(groups))
}

pub async fn list(ctx: &Ctx, req: ListGroupsRequest, version: i16, _: &RequestHeader) -> Option<ListGroupsResponse> {
    let wanted_state = |s: &str| req.states_filter.is_empty() || req.states_filter.iter().any(|f| f.eq_ignore_ascii_case(s));
    let wanted_type = |t: &str| req.types_filter.is_empty() || req.types_filter.iter().any(|f| f.eq_ignore_ascii_case(t));
    let groups = ctx
        .broker
        .groups
        .list()
        .into_iter()
        .filter(|l| wanted_state(l.state) && wanted_type(l.kind))
        .map(|l| {
            let listed = ListedGroup::default().with_group_id(GroupId(str_bytes(l.group_id))).with_protocol_type(str_bytes(l.protocol_type));
            let listed = if version >= 4 { listed.with_group_state(str_bytes(l.state)) } else { listed };
            if version >= 5 {
                listed.with_group_type(str_bytes(l.kind))
            } else {
                listed
            }
        })
        .collect();
    Some(ListGroupsResponse::default().with_groups(groups))
}

pub async fn delete(ctx: &Ctx, req: DeleteGroupsRequest, _: i16, _: &RequestHeader) -> Option<DeleteGroupsResponse> {
    use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
    let results = req
        .groups_names
        .iter()
        .map(|id| {
            let r = DeletableGroupResult::default().with_group_id(id.clone());
            match tokio::task::block_in_place(|| ctx.broker.groups.delete(id)) {
                Ok(()) => r,
                Err(e) => r.with_error_code(ctx.code(&e)),
            }
        })
        .collect();
    Some(DeleteGroupsResponse::default().with_results(results))
}
