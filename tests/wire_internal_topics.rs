//! Kafka's internal topic names are not ordinary topics: creating one is refused, and a
//! Metadata request that would auto-create one reports it missing and internal.

mod common;

use common::wire::{name, serve, Client};
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{CreateTopicsRequest, MetadataRequest};
use samsa::broker::BrokerConfig;

#[test]
fn internal_topic_names_are_never_created() {
    let served = serve(BrokerConfig::default());
    let (broker, listener) = (&served.broker, &served.listener);
    let mut c = Client::connect(&listener);
    for topic in ["__consumer_offsets", "__transaction_state"] {
        let create = CreateTopicsRequest::default()
            .with_topics(vec![CreatableTopic::default().with_name(name(topic)).with_num_partitions(1).with_replication_factor(1)]);
        let r = c.call(&create, 7);
        assert_eq!(r.topics[0].error_code, 42, "{topic}: INVALID_REQUEST");
        assert!(r.topics[0].error_message.as_ref().is_some_and(|m| m.contains("internal topic")));

        let metadata = MetadataRequest::default()
            .with_topics(Some(vec![MetadataRequestTopic::default().with_name(Some(name(topic)))]))
            .with_allow_auto_topic_creation(true);
        let m = c.call(&metadata, 12);
        assert_eq!((m.topics[0].error_code, m.topics[0].is_internal), (3, true), "{topic}");
    }
    assert!(broker.topic_names().unwrap().is_empty());
    assert!(broker.create_topic("__consumer_offsets", 1, -1, &[], false).is_err(), "nor in the process");
}
