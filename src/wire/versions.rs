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
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 4),
    (ApiKey::TxnOffsetCommit, 0, 4),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 1),
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

/// The Produce version samsa's client writes (its frames are built by hand: src/remote/produce.rs).
pub const CLIENT_PRODUCE: i16 = 8;

/// The version samsa's own client (src/remote: a process reaching a data directory through
/// its owner) sends of each request it makes: each within what the listener serves above,
/// and checked against the owner's ApiVersions when it connects, so processes of two samsa
/// versions on one directory fail clearly instead of by luck.
pub const CLIENT: &[(ApiKey, i16)] = &[
    (ApiKey::ApiVersions, 3),
    (ApiKey::Metadata, 12),
    (ApiKey::CreateTopics, 7),
    (ApiKey::DeleteTopics, 5),
    (ApiKey::CreatePartitions, 3),
    (ApiKey::ListOffsets, 7),
    (ApiKey::DeleteRecords, 2),
    (ApiKey::DescribeConfigs, 4),
    (ApiKey::AlterConfigs, 2),
    (ApiKey::InitProducerId, 4),
    (ApiKey::Produce, CLIENT_PRODUCE),
    (ApiKey::Fetch, 12),
    (ApiKey::ListGroups, 4),
    (ApiKey::DescribeGroups, 5),
    (ApiKey::DeleteGroups, 2),
    (ApiKey::OffsetFetch, 8),
    (ApiKey::OffsetCommit, 9),
    (ApiKey::ConsumerGroupHeartbeat, 0),
    (ApiKey::AddOffsetsToTxn, 3),
    (ApiKey::TxnOffsetCommit, 3),
    (ApiKey::EndTxn, 3),
];

/// The version samsa's client sends of request `key` (see [`CLIENT`]).
pub fn client_version(key: i16) -> Option<i16> {
    CLIENT.iter().find(|(k, _)| *k as i16 == key).map(|(_, v)| *v)
}

/// The first request samsa's client would send that the owner's ApiVersions answer
/// (`served`: api key, min, max) does not cover, as (api, version).
pub fn client_unserved(served: &[(i16, i16, i16)]) -> Option<(ApiKey, i16)> {
    CLIENT.iter().copied().find(|(key, version)| !served.iter().any(|(k, min, max)| *k == *key as i16 && (*min..=*max).contains(version)))
}

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

#[cfg(test)]
mod client_tests {
    use super::*;

    #[test]
    fn every_request_of_samsas_client_is_one_the_listener_serves() {
        for (key, version) in CLIENT {
            assert!(supports(*key as i16, *version), "{key:?} v{version} is sent by the client but not served");
        }
        let served: Vec<(i16, i16, i16)> = SUPPORTED.iter().map(|(k, min, max)| (*k as i16, *min, *max)).collect();
        assert_eq!(client_unserved(&served), None);
        let without_fetch12: Vec<(i16, i16, i16)> = served.iter().map(|&(k, min, max)| if k == ApiKey::Fetch as i16 { (k, 13, max) } else { (k, min, max) }).collect();
        assert_eq!(client_unserved(&without_fetch12), Some((ApiKey::Fetch, 12)));
    }
}
