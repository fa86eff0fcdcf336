//! CreateTopics, DeleteTopics, CreatePartitions and DeleteRecords: per-topic results, as
//! Kafka gives them.

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::create_topics_response::{CreatableTopicConfigs, CreatableTopicResult};
use kafka_protocol::messages::delete_records_response::{DeleteRecordsPartitionResult, DeleteRecordsTopicResult};
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::*;

use super::{str_bytes, topic_name, uuid};
use crate::broker::assignment::ReplicaAssignment;
use crate::broker::NewTopic;
use crate::error::Error;
use crate::wire::Ctx;

fn message(e: &Error) -> Option<kafka_protocol::protocol::StrBytes> {
    Some(str_bytes(e.to_string()))
}

pub async fn create_topics(ctx: &Ctx, req: CreateTopicsRequest, version: i16, _: &RequestHeader) -> Option<CreateTopicsResponse> {
    let b = &ctx.broker;
    let specs: Vec<NewTopic> = req
        .topics
        .iter()
        .map(|t| NewTopic {
            name: t.name.0.to_string(),
            partitions: t.num_partitions,
            replication_factor: i32::from(t.replication_factor),
            configs: t.configs.iter().map(|c| (c.name.to_string(), c.value.as_ref().map_or(String::new(), |v| v.to_string()))).collect(),
            assignments: t
                .assignments
                .iter()
                .map(|a| ReplicaAssignment { partition: a.partition_index, replicas: a.broker_ids.iter().map(|id| id.0).collect() })
                .collect(),
        })
        .collect();
    let results = tokio::task::block_in_place(|| b.create_topics(&specs, req.validate_only));
    let topics = specs
        .iter()
        .zip(req.topics.iter())
        .zip(results)
        .map(|((spec, t), r)| {
            // A success carries a null message, as Kafka sets it; v5+ describes the topic,
            // and v7+ gives its id.
            let result = CreatableTopicResult::default().with_name(t.name.clone()).with_error_message(None);
            match r {
                Ok(()) => {
                    let created = b.topic(&spec.name).ok().filter(|_| !req.validate_only);
                    let count = created.as_ref().map_or_else(|| b.partitions_for(spec), |x| x.partition_count());
                    let result = match (&created, version >= 7) {
                        (Some(x), true) => result.with_topic_id(uuid(&x.id)),
                        _ => result,
                    };
                    if version < 5 {
                        return result;
                    }
                    let overrides: std::collections::BTreeMap<_, _> = spec.configs.iter().cloned().collect();
                    let configs = b
                        .topic_configs_with(&overrides)
                        .into_iter()
                        .map(|e| {
                            CreatableTopicConfigs::default()
                                .with_name(str_bytes(e.name))
                                .with_value(e.value.map(str_bytes))
                                .with_read_only(e.read_only)
                                .with_config_source(e.source as i8)
                                .with_is_sensitive(e.sensitive)
                        })
                        .collect();
                    result.with_num_partitions(count).with_replication_factor(1).with_configs(Some(configs))
                }
                Err(e) => result.with_error_code(ctx.code(&e)).with_error_message(message(&e)),
            }
        })
        .collect();
    Some(CreateTopicsResponse::default().with_topics(topics))
}

pub async fn delete_topics(ctx: &Ctx, req: DeleteTopicsRequest, version: i16, _: &RequestHeader) -> Option<DeleteTopicsResponse> {
    let b = &ctx.broker;
    // v6 names topics by name or id; earlier versions by name only.
    let targets: Vec<(Option<String>, uuid::Uuid)> = if version >= 6 {
        req.topics.iter().map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id)).collect()
    } else {
        req.topic_names.iter().map(|n| (Some(n.0.to_string()), uuid::Uuid::nil())).collect()
    };
    let responses = targets
        .into_iter()
        .map(|(name, id)| {
            let name = match name {
                Some(n) => Ok(n),
                None => b.topic_by_id(id.as_bytes()).map(|t| t.name.clone()),
            };
            let topic_id = name.as_ref().ok().and_then(|n| b.topic(n).ok()).map_or(id, |t| uuid(&t.id));
            let resp = DeletableTopicResult::default().with_name(name.as_ref().ok().map(|n| topic_name(n)));
            let resp = if version >= 6 { resp.with_topic_id(topic_id) } else { resp };
            let result = name.and_then(|n| tokio::task::block_in_place(|| b.delete_topic(&n)));
            match result {
                Ok(()) => resp,
                Err(e) if version >= 5 => resp.with_error_code(ctx.code(&e)).with_error_message(message(&e)),
                Err(e) => resp.with_error_code(ctx.code(&e)),
            }
        })
        .collect();
    Some(DeleteTopicsResponse::default().with_responses(responses))
}

pub async fn create_partitions(ctx: &Ctx, req: CreatePartitionsRequest, _: i16, _: &RequestHeader) -> Option<CreatePartitionsResponse> {
    let results = req
        .topics
        .iter()
        .map(|t| {
            let resp = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            let assignments: Option<Vec<Vec<i32>>> =
                t.assignments.as_ref().map(|a| a.iter().map(|a| a.broker_ids.iter().map(|id| id.0).collect()).collect());
            let added = tokio::task::block_in_place(|| ctx.broker.create_partitions(&t.name.0, t.count, assignments.as_deref(), req.validate_only));
            match added {
                Ok(()) => resp,
                Err(e) => resp.with_error_code(ctx.code(&e)).with_error_message(message(&e)),
            }
        })
        .collect();
    Some(CreatePartitionsResponse::default().with_results(results))
}

pub async fn delete_records(ctx: &Ctx, req: DeleteRecordsRequest, _: i16, _: &RequestHeader) -> Option<DeleteRecordsResponse> {
    let topics = req
        .topics
        .iter()
        .map(|t| {
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let resp = DeleteRecordsPartitionResult::default().with_partition_index(p.partition_index);
                    match tokio::task::block_in_place(|| ctx.broker.delete_records(&t.name.0, p.partition_index, p.offset)) {
                        Ok(low) => resp.with_low_watermark(low),
                        Err(e) => resp.with_error_code(ctx.code(&e)).with_low_watermark(-1),
                    }
                })
                .collect();
            DeleteRecordsTopicResult::default().with_name(t.name.clone()).with_partitions(partitions)
        })
        .collect();
    Some(DeleteRecordsResponse::default().with_topics(topics))
}
