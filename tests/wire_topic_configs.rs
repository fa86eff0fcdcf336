//! Every topic config Kafka 4 defines is accepted where Kafka accepts it (CreateTopics,
//! AlterConfigs, IncrementalAlterConfigs), checked as Kafka checks it, kept with the topic
//! and described: all 33 of a topic's configs, with their source, type and synonyms.

mod common;

use common::wire::{sb, serve, Client};
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::*;
use samsa::broker::{BrokerConfig, PartitionAppend};
use samsa::log::{Compression, Record};

fn create(c: &mut Client, name: &str, configs: &[(&str, &str)]) -> (i16, Option<String>) {
    let topic = CreatableTopic::default().with_name(TopicName(sb(name))).with_num_partitions(1).with_replication_factor(1).with_configs(
        configs.iter().map(|(k, v)| CreatableTopicConfig::default().with_name(sb(k)).with_value(Some(sb(v)))).collect(),
    );
    let resp = c.call(&CreateTopicsRequest::default().with_topics(vec![topic]).with_timeout_ms(5000), 7);
    let t = &resp.topics[0];
    (t.error_code, t.error_message.as_ref().map(|m| m.to_string()))
}

fn describe(c: &mut Client, name: &str, version: i16, synonyms: bool, docs: bool) -> describe_configs_response::DescribeConfigsResult {
    let r = DescribeConfigsResource::default().with_resource_type(2).with_resource_name(sb(name)).with_configuration_keys(None);
    let req = DescribeConfigsRequest::default().with_resources(vec![r]).with_include_synonyms(synonyms).with_include_documentation(docs);
    c.call(&req, version).results.remove(0)
}

#[test]
fn kafkas_topic_configs_are_taken_checked_kept_and_described() {
    let s = serve(BrokerConfig::default());
    let mut c = Client::connect(&s.listener);
    // Configs tools set when creating topics, which samsa stores without acting on.
    let kafka_only = [
        ("compression.type", "zstd"),
        ("min.insync.replicas", "2"),
        ("unclean.leader.election.enable", "false"),
        ("message.timestamp.type", "CreateTime"),
        ("message.timestamp.before.max.ms", "86400000"),
        ("retention.ms", "3600000"),
    ];
    assert_eq!(create(&mut c, "tooled", &kafka_only), (0, None), "accepted, with a null message as Kafka sends");
    let (code, msg) = create(&mut c, "typo", &[("retention.msx", "1")]);
    assert_eq!((code, msg.as_deref()), (40, Some("Unknown topic config name: retention.msx")));
    // Kafka 4 removed it, so it is unknown there too.
    assert_eq!(create(&mut c, "old", &[("message.timestamp.difference.max.ms", "1000")]).0, 40);
    let (code, msg) = create(&mut c, "bad", &[("min.insync.replicas", "0")]);
    assert_eq!(code, 40);
    assert!(msg.unwrap().contains("Value must be at least 1"));
    assert_eq!(create(&mut c, "compacted", &[("cleanup.policy", "compact")]), (0, None));
    assert_eq!(create(&mut c, "both", &[("cleanup.policy", "compact,delete")]), (0, None));
    let (code, msg) = create(&mut c, "kept", &[("cleanup.policy", "")]);
    assert_eq!(code, 40, "a topic without a cleanup policy is refused: {msg:?}");
    assert!(s.broker.topic("typo").is_err() && s.broker.topic("bad").is_err() && s.broker.topic("kept").is_err());
    let policy = |c: &mut Client, name: &str| {
        let d = describe(c, name, 4, false, false);
        let e = d.configs.into_iter().find(|e| e.name.as_str() == "cleanup.policy").expect("cleanup.policy described");
        (e.value.map(|v| v.to_string()), e.config_source)
    };
    assert_eq!(policy(&mut c, "compacted"), (Some("compact".into()), 1));
    assert_eq!(policy(&mut c, "both"), (Some("compact,delete".into()), 1));

    let d = describe(&mut c, "tooled", 4, false, false);
    assert_eq!((d.error_code, d.error_message.as_deref()), (0, Some("")), "Kafka's success message is \"\"");
    assert_eq!(d.configs.len(), 33, "every topic config of Kafka 4");
    let get = |n: &str| d.configs.iter().find(|e| e.name.as_str() == n).unwrap_or_else(|| panic!("{n} described"));
    let zstd = get("compression.type");
    assert_eq!((zstd.value.as_deref(), zstd.config_source, zstd.config_type), (Some("zstd"), 1, 2));
    assert!(!zstd.read_only && !zstd.is_sensitive && zstd.documentation.is_none() && zstd.synonyms.is_empty());
    let seg = get("segment.bytes");
    assert_eq!((seg.value.as_deref(), seg.config_source, seg.config_type), (Some("1073741824"), 5, 3));
    assert_eq!(get("cleanup.policy").config_type, 7);
    assert_eq!(get("preallocate").config_type, 1);
    assert_eq!(get("min.cleanable.dirty.ratio").config_type, 6);

    let with = describe(&mut c, "tooled", 4, true, true);
    let seg = with.configs.iter().find(|e| e.name.as_str() == "segment.bytes").unwrap();
    assert!(seg.documentation.is_some());
    let syn: Vec<(&str, i8)> = seg.synonyms.iter().map(|s| (s.name.as_str(), s.source)).collect();
    assert_eq!(syn, [("log.segment.bytes", 5)]);
    let ret = with.configs.iter().find(|e| e.name.as_str() == "retention.ms").unwrap();
    assert_eq!(ret.synonyms[0].source, 1, "an override is its own first synonym");

    // The override survives a reopen.
    drop(c);
    let dir = s.dir.path().to_path_buf();
    drop(s.listener);
    s.broker.close().unwrap();
    let broker = samsa::broker::Broker::open(&dir, BrokerConfig::default()).unwrap();
    let topic = samsa::broker::ConfigResource::Topic("tooled".into());
    let after = broker.describe_configs(&topic, &Default::default()).unwrap();
    assert_eq!(after.iter().find(|e| e.name == "min.insync.replicas").unwrap().value.as_deref(), Some("2"));
    broker.close().unwrap();
    drop(s.dir);
}

#[test]
fn incremental_changes_set_delete_and_append_as_kafka_does() {
    let s = serve(BrokerConfig::default());
    let mut c = Client::connect(&s.listener);
    assert_eq!(create(&mut c, "t", &[]).0, 0);
    let alter = |c: &mut Client, ops: &[(&str, i8, Option<&str>)]| {
        let r = AlterConfigsResource::default().with_resource_type(2).with_resource_name(sb("t")).with_configs(
            ops.iter().map(|(n, op, v)| AlterableConfig::default().with_name(sb(n)).with_config_operation(*op).with_value(v.map(sb))).collect(),
        );
        let resp = c.call(&IncrementalAlterConfigsRequest::default().with_resources(vec![r]), 1);
        (resp.responses[0].error_code, resp.responses[0].error_message.as_ref().map(|m| m.to_string()))
    };
    assert_eq!(alter(&mut c, &[("compression.type", 0, Some("lz4")), ("leader.replication.throttled.replicas", 2, Some("0:0"))]), (0, None));
    assert_eq!(alter(&mut c, &[("leader.replication.throttled.replicas", 2, Some("1:0,0:0"))]).0, 0);
    let d = describe(&mut c, "t", 4, false, false);
    let value = |n: &str| d.configs.iter().find(|e| e.name.as_str() == n).and_then(|e| e.value.as_ref()).map(|v| v.to_string());
    assert_eq!(value("compression.type").as_deref(), Some("lz4"));
    assert_eq!(value("leader.replication.throttled.replicas").as_deref(), Some("0:0,1:0"));
    let (code, msg) = alter(&mut c, &[("compression.type", 2, Some("gzip"))]);
    assert_eq!(code, 40, "APPEND needs a LIST: {msg:?}");
    // A topic changes its policy while it has data: APPEND and SUBTRACT work on the list.
    s.broker.append_all(&[keyed_append("t")], Compression::None).unwrap()[0].as_ref().unwrap();
    assert_eq!(alter(&mut c, &[("cleanup.policy", 2, Some("compact"))]), (0, None));
    let d = describe(&mut c, "t", 4, false, false);
    let value = |n: &str| d.configs.iter().find(|e| e.name.as_str() == n).and_then(|e| e.value.as_ref()).map(|v| v.to_string());
    assert_eq!(value("cleanup.policy").as_deref(), Some("delete,compact"));
    assert_eq!(alter(&mut c, &[("cleanup.policy", 3, Some("delete"))]), (0, None));
    assert!(!s.broker.partition("t", 0).unwrap().log().config().cleanup.delete, "the log follows its topic's policy");
    assert_eq!(alter(&mut c, &[("cleanup.policy", 3, Some("compact"))]).0, 40, "a policy cannot become empty");
    assert_eq!(alter(&mut c, &[("cleanup.policy", 0, Some(""))]).0, 40);
    assert_eq!(alter(&mut c, &[("compression.type", 1, None)]), (0, None));
    let d = describe(&mut c, "t", 4, false, false);
    let ct = d.configs.iter().find(|e| e.name.as_str() == "compression.type").unwrap();
    assert_eq!((ct.value.as_deref(), ct.config_source), (Some("producer"), 5));
}

/// One record with a key, to topic `topic` partition 0.
fn keyed_append(topic: &str) -> PartitionAppend<'_> {
    let record = Record { timestamp: samsa::broker::now_ms(), key: Some(b"k"), value: Some(b"v"), headers: &[] };
    PartitionAppend { topic, partition: 0, records: vec![record], producer: None }
}

#[test]
fn delete_records_needs_delete_in_the_cleanup_policy() {
    let s = serve(BrokerConfig::default());
    let mut c = Client::connect(&s.listener);
    for (name, policy) in [("compacted", "compact"), ("both", "compact,delete"), ("plain", "delete")] {
        assert_eq!(create(&mut c, name, &[("cleanup.policy", policy)]).0, 0);
        s.broker.append_all(&[keyed_append(name), keyed_append(name)], Compression::None).unwrap();
    }
    let delete = |c: &mut Client, name: &str, version: i16| {
        let p = delete_records_request::DeleteRecordsPartition::default().with_partition_index(0).with_offset(1);
        let t = delete_records_request::DeleteRecordsTopic::default().with_name(TopicName(sb(name))).with_partitions(vec![p]);
        let resp = c.call(&DeleteRecordsRequest::default().with_topics(vec![t]).with_timeout_ms(5000), version);
        let p = &resp.topics[0].partitions[0];
        (p.error_code, p.low_watermark)
    };
    for version in [0, 2] {
        assert_eq!(delete(&mut c, "compacted", version), (44, -1), "POLICY_VIOLATION, as Kafka answers");
    }
    assert_eq!(s.broker.offsets("compacted").unwrap()[0].low, 0, "nothing was deleted");
    assert_eq!(delete(&mut c, "both", 2), (0, 1));
    assert_eq!(delete(&mut c, "plain", 2), (0, 1));
    // In process too, with Kafka's message.
    let e = s.broker.delete_records("compacted", 0, 1).unwrap_err();
    assert_eq!((e.code(), e.kind()), (44, "POLICY_VIOLATION"));
    assert_eq!(e.to_string(), "Records of partition compacted-0 can not be deleted due to the configured policy");
}
