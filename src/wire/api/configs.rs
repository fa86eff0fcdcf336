//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs, for topics by Kafka's config
//! names; the broker resource reports samsa's broker settings, read-only.

use kafka_protocol::messages::describe_configs_response::{DescribeConfigsResourceResult, DescribeConfigsResult};
use kafka_protocol::messages::*;

use super::str_bytes;
use crate::broker::ConfigOp;
use crate::error::Error;
use crate::wire::Ctx;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
/// Kafka's config sources.
const TOPIC_CONFIG: i8 = 1;
const STATIC_BROKER_CONFIG: i8 = 4;
const DEFAULT_CONFIG: i8 = 5;

/// Kafka's config types (DescribeConfigs v3+).
fn config_type(name: &str) -> i8 {
    match name {
        "cleanup.policy" => 7,                                        // LIST
        "retention.ms" | "retention.bytes" | "segment.ms" => 5,        // LONG
        "auto.create.topics.enable" | "samsa.fsync" => 1,              // BOOLEAN
        _ => 3,                                                       // INT
    }
}

fn entry(name: String, value: String, source: i8, read_only: bool, version: i16) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult::default()
        .with_config_type(if version >= 3 { config_type(&name) } else { 0 })
        .with_name(str_bytes(name))
        .with_value(Some(str_bytes(value)))
        .with_config_source(source)
        .with_read_only(read_only)
}

pub async fn describe(ctx: &Ctx, req: DescribeConfigsRequest, version: i16, _: &RequestHeader) -> Option<DescribeConfigsResponse> {
    let b = &ctx.broker;
    let results = req
        .resources
        .iter()
        .map(|r| {
            // A success carries no error message (null, as Kafka sends it).
            let result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_message(None);
            let wanted = |name: &str| r.configuration_keys.as_ref().is_none_or(|keys| keys.iter().any(|k| k.as_str() == name));
            match r.resource_type {
                TOPIC => match b.describe_configs(&r.resource_name) {
                    Ok(entries) => result.with_configs(
                        entries
                            .into_iter()
                            .filter(|e| wanted(&e.name))
                            .map(|e| {
                                let source = if e.is_default { DEFAULT_CONFIG } else { TOPIC_CONFIG };
                                entry(e.name, e.value, source, false, version)
                            })
                            .collect(),
                    ),
                    Err(e) => result.with_error_code(ctx.code(&e)).with_error_message(Some(str_bytes(e.to_string()))),
                },
                BROKER => {
                    let c = b.config();
                    let settings = [
                        ("num.partitions", c.default_num_partitions.to_string()),
                        ("auto.create.topics.enable", c.auto_create_topics.to_string()),
                        ("log.retention.ms", c.log.retention_ms.to_string()),
                        ("log.retention.bytes", c.log.retention_bytes.to_string()),
                        ("log.segment.bytes", c.log.segment_bytes.to_string()),
                        ("message.max.bytes", c.log.max_message_bytes.to_string()),
                    ];
                    result.with_configs(
                        settings
                            .into_iter()
                            .filter(|(n, _)| wanted(n))
                            .map(|(n, v)| entry(n.to_string(), v, STATIC_BROKER_CONFIG, true, version))
                            .collect(),
                    )
                }
                other => result.with_error_code(42).with_error_message(Some(str_bytes(format!("resource type {other} has no configs in samsa")))),
            }
        })
        .collect();
    Some(DescribeConfigsResponse::default().with_results(results))
}

fn not_a_topic(kind: i8) -> Error {
    Error::InvalidConfig(format!("samsa only alters topic configs (resource type 2), not resource type {kind}"))
}

pub async fn alter(ctx: &Ctx, req: AlterConfigsRequest, _: i16, _: &RequestHeader) -> Option<AlterConfigsResponse> {
    use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
    let responses = req
        .resources
        .iter()
        .map(|r| {
            let entries: Vec<(String, String)> =
                r.configs.iter().map(|c| (c.name.to_string(), c.value.as_ref().map_or(String::new(), |v| v.to_string()))).collect();
            let result = if r.resource_type == TOPIC {
                tokio::task::block_in_place(|| ctx.broker.alter_configs(&r.resource_name, &entries, req.validate_only))
            } else {
                Err(not_a_topic(r.resource_type))
            };
            let resp = AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_message(None);
            match result {
                Ok(()) => resp,
                Err(e) => resp.with_error_code(ctx.code(&e)).with_error_message(Some(str_bytes(e.to_string()))),
            }
        })
        .collect();
    Some(AlterConfigsResponse::default().with_responses(responses))
}

pub async fn incremental_alter(ctx: &Ctx, req: IncrementalAlterConfigsRequest, _: i16, _: &RequestHeader) -> Option<IncrementalAlterConfigsResponse> {
    use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
    let responses = req
        .resources
        .iter()
        .map(|r| {
            let ops: Result<Vec<(String, ConfigOp)>, Error> = r
                .configs
                .iter()
                .map(|c| {
                    let name = c.name.to_string();
                    match c.config_operation {
                        0 => Ok((name, ConfigOp::Set(c.value.as_ref().map_or(String::new(), |v| v.to_string())))),
                        1 => Ok((name, ConfigOp::Delete)),
                        op => Err(Error::InvalidConfig(format!(
                            "config operation {op} (APPEND/SUBTRACT) on {name} is not supported: samsa's topic configs are not lists"
                        ))),
                    }
                })
                .collect();
            let result = match (r.resource_type, ops) {
                (TOPIC, Ok(ops)) => tokio::task::block_in_place(|| ctx.broker.incremental_alter_configs(&r.resource_name, &ops, req.validate_only)),
                (TOPIC, Err(e)) => Err(e),
                (other, _) => Err(not_a_topic(other)),
            };
            let resp = AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_message(None);
            match result {
                Ok(()) => resp,
                Err(e) => resp.with_error_code(ctx.code(&e)).with_error_message(Some(str_bytes(e.to_string()))),
            }
        })
        .collect();
    Some(IncrementalAlterConfigsResponse::default().with_responses(responses))
}
