//! Metadata, DescribeCluster and FindCoordinator: one broker (node 0) at the advertised
//! address leads every partition, with a leader epoch that never changes.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::metadata_response::{MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic};
use kafka_protocol::messages::*;

use super::{str_bytes, topic_name, uuid};
use crate::wire::Ctx;

const NODE: i32 = 0;

pub async fn handle(ctx: &Ctx, req: MetadataRequest, version: i16, _: &RequestHeader) -> Option<MetadataResponse> {
    let b = &ctx.broker;
    // Topics are named, or (v10+) given by id; none listed means every topic (v0 used an
    // empty list for that, later versions null).
    let mut by_id = Vec::new();
    let names: Option<Vec<String>> = req.topics.as_ref().map(|topics| {
        topics
            .iter()
            .filter_map(|t| match &t.name {
                Some(n) => Some(n.0.to_string()),
                None => {
                    by_id.push(t.topic_id);
                    None
                }
            })
            .collect()
    });
    // Before v4 there is no flag: Kafka auto-creates for those versions.
    let allow = version < 4 || req.allow_auto_topic_creation;
    let all = match &req.topics {
        None => true,
        Some(t) => t.is_empty() && version == 0,
    };
    let listed = if all { b.metadata(None, false) } else { b.metadata(names.as_deref(), allow) };
    let mut topics: Vec<MetadataResponseTopic> = match listed {
        Ok(list) => list
            .into_iter()
            .map(|t| match t.result {
                Ok((id, count)) => MetadataResponseTopic::default()
                    .with_name(Some(topic_name(&t.name)))
                    .with_topic_id(if version >= 10 { uuid(&id) } else { uuid::Uuid::nil() })
                    .with_partitions((0..count).map(|p| partition(p, version)).collect()),
                Err(e) => MetadataResponseTopic::default()
                    .with_name(Some(topic_name(&t.name)))
                    .with_error_code(ctx.code(&e))
                    .with_is_internal(crate::broker::config::is_internal_topic(&t.name)),
            })
            .collect(),
        Err(e) => vec![MetadataResponseTopic::default().with_error_code(ctx.code(&e))],
    };
    for id in by_id {
        topics.push(match b.topic_by_id(id.as_bytes()) {
            Ok(t) => MetadataResponseTopic::default()
                .with_name(Some(topic_name(&t.name)))
                .with_topic_id(id)
                .with_partitions((0..t.partition_count()).map(|p| partition(p, version)).collect()),
            // UNKNOWN_TOPIC_ID
            Err(_) => MetadataResponseTopic::default().with_topic_id(id).with_error_code(100),
        });
    }
    Some(
        MetadataResponse::default()
            .with_brokers(vec![MetadataResponseBroker::default()
                .with_node_id(NODE.into())
                .with_host(str_bytes(ctx.host.clone()))
                .with_port(ctx.port)])
            .with_cluster_id((version >= 2).then(|| str_bytes(ctx.cluster_id.clone())))
            .with_controller_id(NODE.into())
            .with_topics(topics),
    )
}

fn partition(p: i32, version: i16) -> MetadataResponsePartition {
    MetadataResponsePartition::default()
        .with_partition_index(p)
        .with_leader_id(NODE.into())
        .with_leader_epoch(if version >= 7 { 0 } else { -1 })
        .with_replica_nodes(vec![NODE.into()])
        .with_isr_nodes(vec![NODE.into()])
}

pub async fn describe_cluster(ctx: &Ctx, _: DescribeClusterRequest, _: i16, _: &RequestHeader) -> Option<DescribeClusterResponse> {
    Some(
        DescribeClusterResponse::default()
            .with_cluster_id(str_bytes(ctx.cluster_id.clone()))
            .with_controller_id(NODE.into())
            .with_brokers(vec![DescribeClusterBroker::default()
                .with_broker_id(NODE.into())
                .with_host(str_bytes(ctx.host.clone()))
                .with_port(ctx.port)]),
    )
}

/// Groups and transactions are coordinated by the one broker.
pub async fn find_coordinator(ctx: &Ctx, req: FindCoordinatorRequest, version: i16, _: &RequestHeader) -> Option<FindCoordinatorResponse> {
    let resp = FindCoordinatorResponse::default();
    if version < 4 {
        // Kafka fills a success's message with the name of error 0 (v1-3; v0 has none).
        let resp = if version >= 1 { resp.with_error_message(Some(str_bytes("NONE"))) } else { resp };
        return Some(resp.with_node_id(NODE.into()).with_host(str_bytes(ctx.host.clone())).with_port(ctx.port));
    }
    // v4+: a batch of keys, one coordinator each.
    let coordinators = req
        .coordinator_keys
        .into_iter()
        .map(|key| {
            Coordinator::default()
                .with_key(key)
                .with_node_id(NODE.into())
                .with_host(str_bytes(ctx.host.clone()))
                .with_port(ctx.port)
        })
        .collect();
    Some(resp.with_coordinators(coordinators))
}
