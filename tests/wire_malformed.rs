//! A malformed request closes its connection and nothing else: the process survives
//! requests that claim billions of elements, other connections keep working, and a
//! produced batch whose CRC is right but whose records are not is refused, not stored.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use samsa::broker::{Broker, BrokerConfig};
use samsa::wire::{Listener, ListenerConfig};

fn start() -> (tempfile::TempDir, std::sync::Arc<Broker>, Listener) {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path(), BrokerConfig::default()).unwrap();
    let listener = Listener::start(std::sync::Arc::clone(&broker), ListenerConfig { port: 0, ..ListenerConfig::default() }).unwrap();
    (dir, broker, listener)
}

fn connect(l: &Listener) -> TcpStream {
    let s = TcpStream::connect(l.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Sends a frame (size prefix added) and reads one response frame, or None if the
/// connection was closed.
fn exchange(s: &mut TcpStream, body: &[u8]) -> Option<Vec<u8>> {
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(body);
    s.write_all(&frame).ok()?;
    let mut size = [0u8; 4];
    s.read_exact(&mut size).ok()?;
    let mut resp = vec![0u8; i32::from_be_bytes(size) as usize];
    s.read_exact(&mut resp).ok()?;
    Some(resp)
}

/// ApiVersions v0: key 18, version 0, correlation 7, client id "t".
fn api_versions() -> Vec<u8> {
    let mut b = vec![0, 18, 0, 0, 0, 0, 0, 7, 0, 1, b't'];
    b.truncate(11);
    b
}

#[test]
fn a_request_claiming_billions_of_elements_closes_only_its_connection() {
    let (_dir, _broker, listener) = start();
    let mut healthy = connect(&listener);
    assert!(exchange(&mut healthy, &api_versions()).is_some());
    // Metadata v1 whose topic array claims 2^31 - 1 entries, in 19 bytes.
    let evil = [0, 3, 0, 1, 0, 0, 0, 7, 0, 1, b'x', 0x7f, 0xff, 0xff, 0xff];
    for _ in 0..20 {
        let mut s = connect(&listener);
        assert!(exchange(&mut s, &evil).is_none(), "the connection is closed");
    }
    // A compact array (CreateTopics v5, flexible) claiming 2^32 - 2 entries.
    let compact = [0, 19, 0, 5, 0, 0, 0, 8, 0, 1, b'x', 0, 0xff, 0xff, 0xff, 0xff, 0x0f];
    let mut s = connect(&listener);
    assert!(exchange(&mut s, &compact).is_none());
    // The first connection, and new ones, still work.
    assert!(exchange(&mut healthy, &api_versions()).is_some());
    assert!(exchange(&mut connect(&listener), &api_versions()).is_some());
}

#[test]
fn a_batch_with_a_valid_crc_but_broken_records_is_refused() {
    use samsa::log::batch::{encode_batch, Compression, Record};
    let records = [Record { timestamp: 1, key: None, value: Some(b"hello"), headers: &[] }];
    let mut good = Vec::new();
    encode_batch(&mut good, 0, &records, Compression::None, None).unwrap();
    // Claim two records, then fix the CRC so only the records are wrong.
    let mut bad = good.clone();
    bad[23..27].copy_from_slice(&1i32.to_be_bytes()); // last offset delta
    bad[57..61].copy_from_slice(&2i32.to_be_bytes()); // record count
    let crc = crc32c::crc32c(&bad[21..]);
    bad[17..21].copy_from_slice(&crc.to_be_bytes());
    assert!(samsa::log::batch::verify(&bad).is_ok(), "the CRC is valid");
    let err = samsa::log::EncodedBatches::from_client(bad, 1 << 20).err().expect("refused");
    assert_eq!(err.kind(), "INVALID_RECORD");
    assert!(samsa::log::EncodedBatches::from_client(good, 1 << 20).is_ok());
}
