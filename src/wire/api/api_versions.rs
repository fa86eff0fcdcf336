//! ApiVersions: what the listener serves, from the one table in `versions.rs`.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse, RequestHeader};

use crate::wire::{versions, Ctx};

pub fn response(error_code: i16) -> ApiVersionsResponse {
    let api_keys = versions::SUPPORTED
        .iter()
        .map(|(key, min, max)| {
            let (min, max) = versions::advertised(*key, *min, *max);
            ApiVersion::default().with_api_key(*key as i16).with_min_version(min).with_max_version(max)
        })
        .collect();
    ApiVersionsResponse::default().with_error_code(error_code).with_api_keys(api_keys)
}

pub async fn handle(_: &Ctx, _: ApiVersionsRequest, _: i16, _: &RequestHeader) -> Option<ApiVersionsResponse> {
    Some(response(0))
}
