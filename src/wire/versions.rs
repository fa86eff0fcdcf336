//! The one table of what the listener serves: ApiVersions answers from it, and every
//! request's version is checked against it. The ranges cover what kafkajs 2.2.4,
//! librdkafka 2.x and Java 4.x clients send (see DESIGN.md).

use kafka_protocol::messages::ApiKey;

pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 17),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 1, 12),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 2, 7),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 4),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 4),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
];

/// The range ApiVersions advertises. Produce is advertised from v0 though v0-2 requests
/// are refused: librdkafka up to 2.x enables gzip, snappy and lz4 only when the broker's
/// Produce range reaches v0 (librdkafka#4956), and Kafka 4.0 advertises it the same way
/// for that reason (KAFKA-18659).
pub fn advertised(key: ApiKey, min: i16, max: i16) -> (i16, i16) {
    match key {
        ApiKey::Produce => (0, max),
        _ => (min, max),
    }
}

/// The supported range of an API, if it is served at all.
pub fn range(key: i16) -> Option<(ApiKey, i16, i16)> {
    SUPPORTED.iter().copied().find(|(k, _, _)| *k as i16 == key)
}

pub fn supports(key: i16, version: i16) -> bool {
    range(key).is_some_and(|(_, min, max)| (min..=max).contains(&version))
}
