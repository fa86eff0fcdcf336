//! OffsetCommit v9 from a classic-group member is checked by generation, as Kafka checks it:
//! a stale generation is ILLEGAL_GENERATION (22), not KIP-848's STALE_MEMBER_EPOCH. And
//! OffsetFetch returns the leader epoch a commit carried, -1 when it carried none.

mod common;

use common::wire::{sb, serve, Client};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{OffsetCommitRequestPartition, OffsetCommitRequestTopic};
use kafka_protocol::messages::offset_fetch_request::{OffsetFetchRequestGroup, OffsetFetchRequestTopics};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::*;
use samsa::broker::BrokerConfig;

/// Joins group "g" alone (twice: JoinGroup v4+ first hands out a member id), and syncs.
fn join(c: &mut Client) -> (String, i32) {
    let request = |member: &str| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(sb("g")))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_member_id(sb(member))
            .with_protocol_type(sb("consumer"))
            .with_protocols(vec![JoinGroupRequestProtocol::default().with_name(sb("range")).with_metadata(bytes::Bytes::from_static(&[0, 0]))])
    };
    let first = c.call(&request(""), 5);
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED");
    let joined = c.call(&request(first.member_id.as_str()), 5);
    assert_eq!(joined.error_code, 0);
    let member = joined.member_id.to_string();
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(sb("g")))
        .with_generation_id(joined.generation_id)
        .with_member_id(sb(&member))
        .with_assignments(vec![SyncGroupRequestAssignment::default().with_member_id(sb(&member)).with_assignment(bytes::Bytes::from_static(&[0, 0]))]);
    assert_eq!(c.call(&sync, 3).error_code, 0);
    (member, joined.generation_id)
}

fn commit(c: &mut Client, member: &str, generation: i32, partition: i32, epoch: i32) -> i16 {
    let topic = OffsetCommitRequestTopic::default().with_name(TopicName(sb("t"))).with_partitions(vec![OffsetCommitRequestPartition::default()
        .with_partition_index(partition)
        .with_committed_offset(5)
        .with_committed_leader_epoch(epoch)]);
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(sb("g")))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(sb(member))
        .with_topics(vec![topic]);
    c.call(&req, 9).topics[0].partitions[0].error_code
}

#[test]
fn a_classic_member_with_a_stale_generation_gets_illegal_generation_at_v9() {
    let s = serve(BrokerConfig::default());
    s.broker.create_topic("t", 2, 1, &[], false).unwrap();
    let mut c = Client::connect(&s.listener);
    let (member, generation) = join(&mut c);
    assert_eq!(commit(&mut c, &member, generation + 1, 0, -1), 22, "ILLEGAL_GENERATION, as Kafka answers a classic member");
    assert_eq!(commit(&mut c, &member, generation, 0, 7), 0);
    assert_eq!(commit(&mut c, &member, generation, 1, -1), 0);

    let fetch = OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
        .with_group_id(GroupId(sb("g")))
        .with_topics(Some(vec![OffsetFetchRequestTopics::default().with_name(TopicName(sb("t"))).with_partition_indexes(vec![0, 1])]))]);
    let resp = c.call(&fetch, 8);
    let epochs: Vec<(i32, i64, i32)> =
        resp.groups[0].topics[0].partitions.iter().map(|p| (p.partition_index, p.committed_offset, p.committed_leader_epoch)).collect();
    assert_eq!(epochs, [(0, 5, 7), (1, 5, -1)], "the epoch as committed, -1 for none");

    // The epoch is kept with the commit on disk.
    drop(c);
    drop(s.listener);
    s.broker.close().unwrap();
    let broker = samsa::broker::Broker::open(s.dir.path(), BrokerConfig::default()).unwrap();
    let committed = broker.groups.committed_all("g");
    assert_eq!(committed.get(&("t".to_string(), 0)).unwrap().leader_epoch, Some(7));
    broker.close().unwrap();
}
