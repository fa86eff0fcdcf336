//! Manual replica assignments are checked against samsa's one broker as Kafka checks them
//! (a failing topic is not created), the partition count comes from the assignment, and
//! successes carry the messages Kafka sends: null for CreateTopics and CreatePartitions,
//! "NONE" for FindCoordinator v1-3.

mod common;

use common::wire::{sb, serve, Client};
use kafka_protocol::messages::create_partitions_request::{CreatePartitionsAssignment, CreatePartitionsTopic};
use kafka_protocol::messages::create_topics_request::{CreatableReplicaAssignment, CreatableTopic};
use kafka_protocol::messages::*;
use samsa::broker::BrokerConfig;

fn assigned(name: &str, partitions: i32, rf: i16, lists: &[(i32, &[i32])]) -> CreatableTopic {
    CreatableTopic::default().with_name(TopicName(sb(name))).with_num_partitions(partitions).with_replication_factor(rf).with_assignments(
        lists
            .iter()
            .map(|(p, ids)| CreatableReplicaAssignment::default().with_partition_index(*p).with_broker_ids(ids.iter().map(|&b| BrokerId(b)).collect()))
            .collect(),
    )
}

#[test]
fn create_topics_with_assignments() {
    let s = serve(BrokerConfig::default());
    let mut c = Client::connect(&s.listener);
    let topics = vec![
        assigned("by-assignment", -1, -1, &[(1, &[0]), (0, &[0]), (2, &[0])]),
        assigned("count-too", 3, -1, &[(0, &[0])]),
        assigned("no-broker-1", -1, -1, &[(0, &[0]), (1, &[1])]),
        assigned("twice", -1, -1, &[(0, &[0, 0])]),
        assigned("gap", -1, -1, &[(0, &[0]), (2, &[0])]),
        assigned("empty", -1, -1, &[(0, &[])]),
    ];
    let resp = c.call(&CreateTopicsRequest::default().with_topics(topics).with_timeout_ms(5000), 7);
    let got: Vec<(&str, i16)> = resp.topics.iter().map(|t| (t.name.0.as_str(), t.error_code)).collect();
    assert_eq!(got, [("by-assignment", 0), ("count-too", 42), ("no-broker-1", 39), ("twice", 39), ("gap", 39), ("empty", 39)]);
    let ok = &resp.topics[0];
    assert_eq!(ok.error_message, None, "Kafka's success message is null");
    assert_eq!((ok.num_partitions, ok.replication_factor), (3, 1));
    assert!(!ok.topic_id.is_nil());
    let configs = ok.configs.as_ref().expect("v5+ lists the topic's configs");
    assert_eq!(configs.len(), 33);
    assert!(resp.topics[2].error_message.as_ref().unwrap().contains("broker 1"));
    assert_eq!(s.broker.topic("by-assignment").unwrap().partition_count(), 3);
    for failed in ["count-too", "no-broker-1", "twice", "gap", "empty"] {
        assert!(s.broker.topic(failed).is_err(), "{failed} was not created");
        assert!(!s.dir.path().join("topics").join(failed).exists());
    }
    // v4 has no configs or counts; a plain success is still null.
    let plain = CreatableTopic::default().with_name(TopicName(sb("plain"))).with_num_partitions(2).with_replication_factor(1);
    let resp = c.call(&CreateTopicsRequest::default().with_topics(vec![plain]).with_timeout_ms(5000), 4);
    assert_eq!((resp.topics[0].error_code, resp.topics[0].error_message.as_ref()), (0, None));
}

#[test]
fn create_partitions_with_assignments() {
    let s = serve(BrokerConfig::default());
    s.broker.create_topic("grow", 1, 1, &[], false).unwrap();
    let mut c = Client::connect(&s.listener);
    let mut grow = |count: i32, lists: Option<&[&[i32]]>| {
        let t = CreatePartitionsTopic::default().with_name(TopicName(sb("grow"))).with_count(count).with_assignments(
            lists.map(|l| l.iter().map(|ids| CreatePartitionsAssignment::default().with_broker_ids(ids.iter().map(|&b| BrokerId(b)).collect())).collect()),
        );
        let resp = c.call(&CreatePartitionsRequest::default().with_topics(vec![t]).with_timeout_ms(5000), 3);
        let r = &resp.results[0];
        (r.error_code, r.error_message.as_ref().map(|m| m.to_string()))
    };
    assert_eq!(grow(3, Some(&[&[0]])).0, 39, "one list per new partition");
    assert_eq!(grow(2, Some(&[&[1]])).0, 39, "no broker 1");
    assert_eq!(grow(2, Some(&[&[0, 0]])).0, 39, "the topic's replication factor is 1");
    assert_eq!(s.broker.topic("grow").unwrap().partition_count(), 1);
    assert_eq!(grow(3, Some(&[&[0], &[0]])), (0, None));
    assert_eq!(grow(4, None), (0, None));
    assert_eq!(s.broker.topic("grow").unwrap().partition_count(), 4);
    assert_eq!(grow(4, None).0, 37);
}

#[test]
fn find_coordinator_says_none_on_success_as_kafka_does() {
    let s = serve(BrokerConfig::default());
    let mut c = Client::connect(&s.listener);
    for version in 1..=3 {
        let resp = c.call(&FindCoordinatorRequest::default().with_key(sb("g")), version);
        assert_eq!((resp.error_code, resp.error_message.as_deref()), (0, Some("NONE")), "v{version}");
    }
    let resp = c.call(&FindCoordinatorRequest::default().with_coordinator_keys(vec![sb("g")]), 4);
    assert_eq!(resp.coordinators[0].error_message.as_deref(), Some(""));
}
