//! A process reaching a data directory through its owner checks, on every new connection,
//! that the owner serves every request it sends (ApiVersions): an owner of another samsa
//! version that does not is refused by name, not found out by some later call.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable};
use samsa::remote::RemoteBroker;
use samsa::wire::versions::SUPPORTED;

/// Serves one connection as an owner that answers ApiVersions with the listener's table,
/// changed by `served`, and then closes.
fn fake_owner(dir: &std::path::Path, served: impl Fn(ApiKey, i16, i16) -> (i16, i16) + Send + 'static) -> std::thread::JoinHandle<()> {
    let socket = dir.join("samsa.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let record = serde_json::json!({ "socket": socket, "pid": std::process::id() });
    std::fs::write(dir.join("samsa.owner"), record.to_string()).unwrap();
    std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut size = [0u8; 4];
        conn.read_exact(&mut size).unwrap();
        let mut body = vec![0u8; i32::from_be_bytes(size) as usize];
        conn.read_exact(&mut body).unwrap();
        let mut b = bytes::Bytes::from(body);
        let header = RequestHeader::decode(&mut b, 2).unwrap();
        assert_eq!(header.request_api_key, ApiKey::ApiVersions as i16);
        let keys = SUPPORTED
            .iter()
            .map(|(k, min, max)| {
                let (min, max) = served(*k, *min, *max);
                ApiVersion::default().with_api_key(*k as i16).with_min_version(min).with_max_version(max)
            })
            .collect();
        let resp = ApiVersionsResponse::default().with_api_keys(keys);
        let mut out = BytesMut::new();
        out.put_i32(0);
        ResponseHeader::default().with_correlation_id(header.correlation_id).encode(&mut out, 0).unwrap();
        resp.encode(&mut out, header.request_api_version).unwrap();
        let len = (out.len() - 4) as i32;
        out[..4].copy_from_slice(&len.to_be_bytes());
        conn.write_all(&out).unwrap();
        // Whatever comes next (nothing, when the client refuses this owner).
        let _ = conn.read(&mut [0u8; 1]);
    })
}

#[test]
fn an_owner_that_does_not_serve_a_request_this_client_sends_is_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let owner = fake_owner(dir.path(), |k, min, max| if k == ApiKey::Fetch { (min, 11) } else { (min, max) });
    let err = match RemoteBroker::connect(dir.path(), std::time::Duration::from_secs(5)) {
        Ok(_) => panic!("an owner without Fetch v12 was taken"),
        Err(e) => e,
    };
    let message = err.to_string();
    assert!(message.contains("does not serve Fetch v12"), "{message}");
    assert!(message.contains("another samsa version"), "{message}");
    assert!(!err.retriable(), "waiting does not mend a version mismatch: {message}");
    owner.join().unwrap();
}
