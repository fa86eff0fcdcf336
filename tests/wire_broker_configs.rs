//! The broker resource: DescribeConfigs of broker "0" lists samsa's settings by Kafka's
//! names, and AlterConfigs takes Kafka's dynamic broker configs (and custom ones), refuses
//! read-only ones and other brokers, and keeps what it takes in the data directory.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::wire::{sb, serve, Client};
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::*;
use samsa::broker::{Broker, BrokerConfig, ConfigResource, ConfigSource, DescribeOptions};

fn describe(c: &mut Client, name: &str) -> describe_configs_response::DescribeConfigsResult {
    let r = DescribeConfigsResource::default().with_resource_type(4).with_resource_name(sb(name)).with_configuration_keys(None);
    c.call(&DescribeConfigsRequest::default().with_resources(vec![r]).with_include_synonyms(true), 4).results.remove(0)
}

fn alter(c: &mut Client, name: &str, configs: &[(&str, &str)]) -> (i16, Option<String>) {
    let r = AlterConfigsResource::default().with_resource_type(4).with_resource_name(sb(name)).with_configs(
        configs.iter().map(|(k, v)| AlterableConfig::default().with_name(sb(k)).with_value(Some(sb(v)))).collect(),
    );
    let resp = c.call(&AlterConfigsRequest::default().with_resources(vec![r]), 2);
    (resp.responses[0].error_code, resp.responses[0].error_message.as_ref().map(|m| m.to_string()))
}

#[test]
fn broker_configs_are_described_and_dynamic_ones_kept() {
    let config = BrokerConfig { default_num_partitions: 4, ..BrokerConfig::default() };
    let s = serve(config.clone());
    let mut c = Client::connect(&s.listener);
    let d = describe(&mut c, "0");
    assert_eq!((d.error_code, d.error_message.as_deref()), (0, Some("")));
    let value = |d: &describe_configs_response::DescribeConfigsResult, n: &str| {
        let e = d.configs.iter().find(|e| e.name.as_str() == n).unwrap_or_else(|| panic!("{n} described"));
        (e.value.as_ref().map(|v| v.to_string()), e.config_source, e.read_only)
    };
    assert_eq!(value(&d, "num.partitions"), (Some("4".into()), 4, true));
    assert_eq!(value(&d, "default.replication.factor"), (Some("1".into()), 5, true));
    assert_eq!(value(&d, "auto.create.topics.enable"), (Some("true".into()), 5, true));
    assert_eq!(value(&d, "message.max.bytes").0.as_deref(), Some("1048576"));
    assert!(!value(&d, "message.max.bytes").2, "dynamic in Kafka");
    assert_eq!(value(&d, "log.dirs").0, Some(s.broker.dir().display().to_string()));
    assert_eq!(value(&d, "compression.type").0.as_deref(), Some("producer"));
    assert_eq!(value(&d, "log.retention.check.interval.ms").0.as_deref(), Some("300000"));

    // Dynamic configs and custom ones are taken; read-only ones and other brokers refused.
    assert_eq!(alter(&mut c, "0", &[("log.retention.ms", "1000"), ("my.custom.setting", "x")]), (0, None));
    assert_eq!(alter(&mut c, "", &[("log.retention.ms", "2000")]), (0, None));
    let (code, msg) = alter(&mut c, "0", &[("num.partitions", "9")]);
    assert_eq!(code, 42);
    assert!(msg.unwrap().starts_with("Cannot update these configs dynamically: num.partitions"));
    assert_eq!(alter(&mut c, "1", &[("log.retention.ms", "1")]).0, 42);
    assert_eq!(alter(&mut c, "0", &[("message.max.bytes", "big")]).0, 42);
    let d = describe(&mut c, "0");
    assert_eq!(value(&d, "log.retention.ms"), (Some("1000".into()), 2, false));
    let custom = d.configs.iter().find(|e| e.name.as_str() == "my.custom.setting").unwrap();
    assert!(custom.is_sensitive && custom.value.is_none(), "Kafka hides values of configs it has no type for");
    let cluster = describe(&mut c, "");
    assert_eq!(cluster.configs.len(), 1);
    assert_eq!(value(&cluster, "log.retention.ms"), (Some("2000".into()), 3, false));
    assert_eq!(describe(&mut c, "7").error_code, 42);
    assert_eq!(s.broker.config().log.retention_ms, 7 * 24 * 3600 * 1000, "samsa does not act on dynamic broker configs");

    // Kept across a reopen, in a file of the owner's alone.
    let file = s.dir.path().join("broker-configs.json");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    drop(c);
    drop(s.listener);
    s.broker.close().unwrap();
    let broker = Broker::open(s.dir.path(), config).unwrap();
    let again = broker.describe_configs(&ConfigResource::Broker("0".into()), &DescribeOptions::default()).unwrap();
    let r = again.iter().find(|e| e.name == "log.retention.ms").unwrap();
    assert_eq!((r.value.as_deref(), r.source), (Some("1000"), ConfigSource::DynamicBroker));
    broker.close().unwrap();
}
