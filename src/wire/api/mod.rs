//! Request dispatch: one module per Kafka API, each a thin translation between the
//! protocol's types and the broker's operations.

mod admin;
mod api_versions;
mod configs;
mod fetch;
mod groups;
pub use groups::SESSION_TIMEOUT_TAG;
mod list_offsets;
mod log_dirs;
mod metadata;
mod offsets;
mod produce;
mod transactions;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use super::connection::Reply;
use super::Ctx;

pub fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}

pub fn topic_name(s: &str) -> TopicName {
    TopicName(str_bytes(s))
}

pub fn uuid(id: &crate::broker::TopicId) -> uuid::Uuid {
    uuid::Uuid::from_bytes(*id)
}

/// Decodes the request (after its header), runs the handler, encodes the response with
/// its header. Handlers return their response, or None for no response at all.
macro_rules! serve {
    ($ctx:expr, $api:expr, $body:expr, $version:expr, $header:expr, $req:ty, $handler:path) => {{
        match <$req as Decodable>::decode(&mut $body, $version) {
            Err(e) => Reply::Close(format!("malformed {} v{}: {e:#}", stringify!($req), $version)),
            Ok(req) => match $handler($ctx, req, $version, &$header).await {
                Some(resp) => respond(&resp, $header.correlation_id, $version, $api),
                None => Reply::Nothing,
            },
        }
    }};
}

/// The response frame: a size, filled in last, then the header and the message.
fn respond<R: Encodable>(resp: &R, correlation_id: i32, version: i16, key: ApiKey) -> Reply {
    let mut out = BytesMut::new();
    out.extend_from_slice(&[0; 4]);
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    if let Err(e) = header.encode(&mut out, key.response_header_version(version)) {
        return Reply::Close(format!("encoding a response header: {e:#}"));
    }
    if let Err(e) = resp.encode(&mut out, version) {
        return Reply::Close(format!("encoding a {key:?} v{version} response: {e:#}"));
    }
    let size = (out.len() - 4) as i32;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Reply::Frame(out)
}

/// KIP-511: an ApiVersions request of a version the broker does not know gets error 35
/// (UNSUPPORTED_VERSION) in the v0 format, listing what the broker serves.
pub fn unsupported_api_versions(correlation_id: i32) -> BytesMut {
    let mut resp = api_versions::response(0);
    resp.error_code = 35;
    match respond(&resp, correlation_id, 0, ApiKey::ApiVersions) {
        Reply::Frame(f) => f,
        _ => BytesMut::new(),
    }
}

pub async fn dispatch(ctx: &Ctx, key: i16, version: i16, frame: Bytes) -> Reply {
    let Ok(api) = ApiKey::try_from(key) else { return Reply::Close(format!("unknown api key {key}")) };
    let mut body = frame;
    let header = match RequestHeader::decode(&mut body, api.request_header_version(version)) {
        Ok(h) => h,
        Err(e) => return Reply::Close(format!("malformed request header: {e:#}")),
    };
    let reply = match api {
        ApiKey::ApiVersions => serve!(ctx, api, body, version, header, ApiVersionsRequest, api_versions::handle),
        ApiKey::Metadata => serve!(ctx, api, body, version, header, MetadataRequest, metadata::handle),
        ApiKey::DescribeCluster => serve!(ctx, api, body, version, header, DescribeClusterRequest, metadata::describe_cluster),
        ApiKey::FindCoordinator => serve!(ctx, api, body, version, header, FindCoordinatorRequest, metadata::find_coordinator),
        ApiKey::Produce => serve!(ctx, api, body, version, header, ProduceRequest, produce::handle),
        ApiKey::InitProducerId => serve!(ctx, api, body, version, header, InitProducerIdRequest, produce::init_producer_id),
        ApiKey::Fetch => serve!(ctx, api, body, version, header, FetchRequest, fetch::handle),
        ApiKey::ListOffsets => serve!(ctx, api, body, version, header, ListOffsetsRequest, list_offsets::handle),
        ApiKey::OffsetForLeaderEpoch => serve!(ctx, api, body, version, header, OffsetForLeaderEpochRequest, list_offsets::for_leader_epoch),
        ApiKey::CreateTopics => serve!(ctx, api, body, version, header, CreateTopicsRequest, admin::create_topics),
        ApiKey::DeleteTopics => serve!(ctx, api, body, version, header, DeleteTopicsRequest, admin::delete_topics),
        ApiKey::CreatePartitions => serve!(ctx, api, body, version, header, CreatePartitionsRequest, admin::create_partitions),
        ApiKey::DeleteRecords => serve!(ctx, api, body, version, header, DeleteRecordsRequest, admin::delete_records),
        ApiKey::DescribeConfigs => serve!(ctx, api, body, version, header, DescribeConfigsRequest, configs::describe),
        ApiKey::AlterConfigs => serve!(ctx, api, body, version, header, AlterConfigsRequest, configs::alter),
        ApiKey::IncrementalAlterConfigs => serve!(ctx, api, body, version, header, IncrementalAlterConfigsRequest, configs::incremental_alter),
        ApiKey::OffsetCommit => serve!(ctx, api, body, version, header, OffsetCommitRequest, offsets::commit),
        ApiKey::OffsetFetch => serve!(ctx, api, body, version, header, OffsetFetchRequest, offsets::fetch),
        ApiKey::OffsetDelete => serve!(ctx, api, body, version, header, OffsetDeleteRequest, offsets::delete),
        ApiKey::JoinGroup => serve!(ctx, api, body, version, header, JoinGroupRequest, groups::join),
        ApiKey::SyncGroup => serve!(ctx, api, body, version, header, SyncGroupRequest, groups::sync),
        ApiKey::Heartbeat => serve!(ctx, api, body, version, header, HeartbeatRequest, groups::heartbeat),
        ApiKey::LeaveGroup => serve!(ctx, api, body, version, header, LeaveGroupRequest, groups::leave),
        ApiKey::DescribeGroups => serve!(ctx, api, body, version, header, DescribeGroupsRequest, groups::describe),
        ApiKey::ListGroups => serve!(ctx, api, body, version, header, ListGroupsRequest, groups::list),
        ApiKey::DeleteGroups => serve!(ctx, api, body, version, header, DeleteGroupsRequest, groups::delete),
        ApiKey::DescribeLogDirs => serve!(ctx, api, body, version, header, DescribeLogDirsRequest, log_dirs::describe),
        ApiKey::AddPartitionsToTxn => serve!(ctx, api, body, version, header, AddPartitionsToTxnRequest, transactions::add_partitions),
        ApiKey::AddOffsetsToTxn => serve!(ctx, api, body, version, header, AddOffsetsToTxnRequest, transactions::add_offsets),
        ApiKey::TxnOffsetCommit => serve!(ctx, api, body, version, header, TxnOffsetCommitRequest, transactions::txn_offset_commit),
        ApiKey::EndTxn => serve!(ctx, api, body, version, header, EndTxnRequest, transactions::end),
        ApiKey::DescribeTransactions => serve!(ctx, api, body, version, header, DescribeTransactionsRequest, transactions::describe),
        ApiKey::ListTransactions => serve!(ctx, api, body, version, header, ListTransactionsRequest, transactions::list),
        ApiKey::ConsumerGroupHeartbeat => {
            serve!(ctx, api, body, version, header, ConsumerGroupHeartbeatRequest, groups::consumer_heartbeat)
        }
        other => Reply::Close(format!("api {other:?} is not served")),
    };
    if let Reply::Frame(_) = &reply {
        if body.has_remaining() {
            tracing::debug!(api = ?api, version, left = body.remaining(), "request had bytes after its body");
        }
    }
    reply
}
