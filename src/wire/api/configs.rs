//! DescribeConfigs, AlterConfigs and IncrementalAlterConfigs: translations onto the
//! broker's config operations (src/broker/configure.rs), for topics and the broker.

use kafka_protocol::messages::describe_configs_response::{DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use super::str_bytes;
use crate::broker::{ConfigEntry, ConfigOp, ConfigResource, DescribeOptions};
use crate::error::Error;
use crate::wire::Ctx;

fn entry(e: ConfigEntry, version: i16) -> DescribeConfigsResourceResult {
    let synonyms = e
        .synonyms
        .into_iter()
        .map(|s| DescribeConfigsSynonym::default().with_name(str_bytes(s.name)).with_value(s.value.map(str_bytes)).with_source(s.source as i8))
        .collect();
    let r = DescribeConfigsResourceResult::default()
        .with_name(str_bytes(e.name))
        .with_value(e.value.map(str_bytes))
        .with_read_only(e.read_only)
        .with_config_source(e.source as i8)
        .with_is_sensitive(e.sensitive)
        .with_synonyms(synonyms);
    if version >= 3 {
        r.with_config_type(e.kind as i8).with_documentation(e.documentation.map(str_bytes))
    } else {
        r
    }
}

pub async fn describe(ctx: &Ctx, req: DescribeConfigsRequest, version: i16, _: &RequestHeader) -> Option<DescribeConfigsResponse> {
    let results = req
        .resources
        .iter()
        .map(|r| {
            let opts = DescribeOptions {
                keys: r.configuration_keys.as_ref().map(|k| k.iter().map(|n| n.to_string()).collect()),
                synonyms: req.include_synonyms,
                documentation: req.include_documentation,
            };
            // Kafka's message on success is "" (never set), not null.
            let result = DescribeConfigsResult::default().with_resource_type(r.resource_type).with_resource_name(r.resource_name.clone());
            let described = ConfigResource::from_kafka(r.resource_type, &r.resource_name).and_then(|res| ctx.broker.describe_configs(&res, &opts));
            match described {
                Ok(entries) => result.with_configs(entries.into_iter().map(|e| entry(e, version)).collect()),
                Err(e) => result.with_error_code(ctx.code(&e)).with_error_message(Some(str_bytes(e.to_string()))),
            }
        })
        .collect();
    Some(DescribeConfigsResponse::default().with_results(results))
}

/// A resource's result: error 0 and a null message, or the error and its message.
fn outcome(ctx: &Ctx, result: Result<(), Error>) -> (i16, Option<StrBytes>) {
    match result {
        Ok(()) => (0, None),
        Err(e) => (ctx.code(&e), Some(str_bytes(e.to_string()))),
    }
}

pub async fn alter(ctx: &Ctx, req: AlterConfigsRequest, _: i16, _: &RequestHeader) -> Option<AlterConfigsResponse> {
    use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
    let responses = req
        .resources
        .iter()
        .map(|r| {
            let entries: Vec<(String, Option<String>)> = r.configs.iter().map(|c| (c.name.to_string(), c.value.as_ref().map(|v| v.to_string()))).collect();
            let result = ConfigResource::from_kafka(r.resource_type, &r.resource_name)
                .and_then(|res| tokio::task::block_in_place(|| ctx.broker.alter_configs(&res, &entries, req.validate_only)));
            let (code, message) = outcome(ctx, result);
            AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_code(code)
                .with_error_message(message)
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
                .map(|c| Ok((c.name.to_string(), ConfigOp::from_kafka(c.config_operation, c.value.as_ref().map(|v| v.to_string()))?)))
                .collect();
            let result = ConfigResource::from_kafka(r.resource_type, &r.resource_name).and_then(|res| {
                let ops = ops?;
                tokio::task::block_in_place(|| ctx.broker.incremental_alter_configs(&res, &ops, req.validate_only))
            });
            let (code, message) = outcome(ctx, result);
            AlterConfigsResourceResponse::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone())
                .with_error_code(code)
                .with_error_message(message)
        })
        .collect();
    Some(IncrementalAlterConfigsResponse::default().with_responses(responses))
}
