//! Details of groups over the wire that other Kafka clients depend on:
//! - a classic member that sends its member id with OffsetFetch v9 (@platformatic/kafka
//!   does) reads its commits back: Kafka checks member ids of KIP-848 groups only;
//! - DescribeGroups of a KIP-848 group reports member metadata and assignments that
//!   decode as Kafka's ConsumerProtocol schemas, user data empty rather than null;
//! - a KIP-848 member's server assignor is the group's ("range"), and one the coordinator
//!   does not have is UNSUPPORTED_ASSIGNOR.

mod common;

use bytes::{Buf, Bytes};
use common::wire::{name, sb, serve, Client};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::Decodable;
use samsa::broker::BrokerConfig;

fn group(id: &str) -> GroupId {
    GroupId(sb(id))
}

#[test]
fn a_classic_member_reads_its_commits_with_offset_fetch_v9() {
    let served = serve(BrokerConfig::default());
    let (broker, listener) = (&served.broker, &served.listener);
    broker.create_topic("t", 2, -1, &[], false).unwrap();
    let mut c = Client::connect(&listener);
    let protocols = vec![JoinGroupRequestProtocol::default().with_name(sb("range")).with_metadata(Bytes::from_static(&[0, 0, 0, 0, 0, 1, 0, 1, b't', 0xff, 0xff, 0xff, 0xff]))];
    let join = |member: &str| {
        JoinGroupRequest::default()
            .with_group_id(group("gb-classic"))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(sb(member))
            .with_protocol_type(sb("consumer"))
            .with_protocols(protocols.clone())
    };
    let first = c.call(&join(""), 5);
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED");
    let member = first.member_id.to_string();
    let joined = c.call(&join(&member), 5);
    assert_eq!(joined.error_code, 0);
    let generation = joined.generation_id;
    let sync = SyncGroupRequest::default()
        .with_group_id(group("gb-classic"))
        .with_generation_id(generation)
        .with_member_id(sb(&member))
        .with_assignments(vec![SyncGroupRequestAssignment::default().with_member_id(sb(&member)).with_assignment(Bytes::new())]);
    assert_eq!(c.call(&sync, 3).error_code, 0);
    let commit = OffsetCommitRequest::default()
        .with_group_id(group("gb-classic"))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(sb(&member))
        .with_topics(vec![OffsetCommitRequestTopic::default().with_name(name("t")).with_partitions(vec![
            OffsetCommitRequestPartition::default().with_partition_index(1).with_committed_offset(42).with_committed_leader_epoch(-1),
        ])]);
    let committed = c.call(&commit, 9);
    assert_eq!(committed.topics[0].partitions[0].error_code, 0);

    let fetch = OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
        .with_group_id(group("gb-classic"))
        .with_member_id(Some(sb(&member)))
        .with_member_epoch(-1)
        .with_topics(Some(vec![OffsetFetchRequestTopics::default().with_name(name("t")).with_partition_indexes(vec![0, 1])]))]);
    let resp = c.call(&fetch, 9);
    let g = &resp.groups[0];
    assert_eq!(g.error_code, 0, "a classic member's id is not checked");
    let offsets: Vec<(i32, i64)> = g.topics[0].partitions.iter().map(|p| (p.partition_index, p.committed_offset)).collect();
    assert_eq!(offsets, vec![(0, -1), (1, 42)]);
}

fn heartbeat(group_id: &str, assignor: Option<&str>) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(group(group_id))
        .with_member_id(sb(&uuid::Uuid::from_bytes([3; 16]).to_string()))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![name("t")]))
        .with_server_assignor(assignor.map(sb))
        .with_topic_partitions(Some(Vec::new()))
}

#[test]
fn a_kip848_group_is_described_in_bytes_kafkas_decoders_read() {
    let served = serve(BrokerConfig::default());
    let (broker, listener) = (&served.broker, &served.listener);
    broker.create_topic("t", 3, -1, &[], false).unwrap();
    let mut c = Client::connect(&listener);
    let joined = c.call(&heartbeat("g848", Some("range")), 0);
    assert_eq!(joined.error_code, 0);
    let assigned = joined.assignment.expect("an assignment").topic_partitions[0].partitions.len();
    assert_eq!(assigned, 3);

    let described = c.call(&DescribeGroupsRequest::default().with_groups(vec![group("g848")]), 5);
    let g = &described.groups[0];
    assert_eq!((g.error_code, g.protocol_type.to_string(), g.protocol_data.to_string()), (0, "consumer".into(), "RangeAssigner".into()));
    let m = &g.members[0];
    // Metadata: ConsumerProtocolSubscription, a version then its fields.
    let mut metadata = m.member_metadata.clone();
    let version = metadata.get_i16();
    let subscription = ConsumerProtocolSubscription::decode(&mut metadata, version.min(3)).expect("a subscription");
    assert_eq!(subscription.topics.iter().map(|t| t.to_string()).collect::<Vec<_>>(), vec!["t"]);
    // Assignment: ConsumerProtocolAssignment, user data empty (not null: 4 zero bytes).
    assert!(m.member_assignment.ends_with(&[0, 0, 0, 0]), "{:?}", m.member_assignment);
    let mut assignment = m.member_assignment.clone();
    let version = assignment.get_i16();
    let a = ConsumerProtocolAssignment::decode(&mut assignment, version.min(3)).expect("an assignment");
    assert_eq!(a.assigned_partitions[0].partitions.len(), 3);
    assert_eq!(a.user_data, Some(Bytes::new()));
    assert!(!assignment.has_remaining());

    let refused = c.call(&heartbeat("g-other", Some("sticky-please")), 0);
    assert_eq!(refused.error_code, 112, "UNSUPPORTED_ASSIGNOR");
}
