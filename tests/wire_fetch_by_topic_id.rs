//! Fetch v13 and later name topics by id (Kafka 3.1+ clients and Kafka 4's Java client):
//! records come back under the id asked for, an id no topic has fails its partitions with
//! UNKNOWN_TOPIC_ID, and fetches by name (v12 and before) still work.

mod common;

use common::wire::{name, serve, Client};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, FetchRequest};
use samsa::broker::{BrokerConfig, PartitionAppend};
use samsa::log::{Compression, Record};

fn fetch(topic: &str, id: uuid::Uuid, partitions: &[i32]) -> FetchTopic {
    FetchTopic::default().with_topic(name(topic)).with_topic_id(id).with_partitions(
        partitions.iter().map(|p| FetchPartition::default().with_partition(*p).with_fetch_offset(0).with_partition_max_bytes(1 << 20)).collect(),
    )
}

#[test]
fn fetches_by_topic_id_from_v13_to_v17() {
    let served = serve(BrokerConfig::default());
    let (broker, listener) = (&served.broker, &served.listener);
    broker.create_topic("rides", 2, -1, &[], false).unwrap();
    let records = [Record { timestamp: 1, key: Some(b"rider-1"), value: Some(b"52.52,13.40"), headers: &[] }];
    let append = PartitionAppend { topic: "rides", partition: 1, records: records.to_vec(), producer: None };
    broker.append_all(&[append], Compression::None).unwrap().pop().unwrap().unwrap();
    let id = uuid::Uuid::from_bytes(broker.topic("rides").unwrap().id);
    let mut client = Client::connect(&listener);

    let versions = client.call(&ApiVersionsRequest::default(), 3);
    let served = versions.api_keys.iter().find(|k| k.api_key == ApiKey::Fetch as i16).unwrap();
    assert_eq!((served.min_version, served.max_version), (4, 17), "Kafka 4.0's range");

    let unknown = uuid::Uuid::from_bytes([7; 16]);
    for version in 13..=17 {
        let req = FetchRequest::default()
            .with_max_wait_ms(0)
            .with_max_bytes(1 << 20)
            .with_topics(vec![fetch("", id, &[0, 1]), fetch("", unknown, &[0])]);
        let resp = client.call(&req, version);
        assert_eq!(resp.error_code, 0, "v{version}");
        assert_eq!(resp.responses.len(), 2);
        let known = &resp.responses[0];
        assert_eq!(known.topic_id, id, "v{version}");
        let p1 = &known.partitions[1];
        assert_eq!((p1.partition_index, p1.error_code, p1.high_watermark), (1, 0, 1), "v{version}");
        assert!(p1.records.as_ref().is_some_and(|r| r.len() > 61), "v{version}: the batch");
        assert_eq!((known.partitions[0].error_code, known.partitions[0].high_watermark), (0, 0));
        let missing = &resp.responses[1];
        assert_eq!(missing.topic_id, unknown);
        // UNKNOWN_TOPIC_ID, on the partition.
        assert_eq!((missing.partitions[0].error_code, missing.partitions[0].high_watermark), (100, -1), "v{version}");
    }

    // v12 and before: by name, as before.
    let resp = client.call(&FetchRequest::default().with_max_wait_ms(0).with_topics(vec![fetch("rides", uuid::Uuid::nil(), &[1])]), 12);
    assert_eq!((resp.responses[0].partitions[0].error_code, resp.responses[0].partitions[0].high_watermark), (0, 1));
}
