//! A Kafka client of the plainest kind for the wire scenarios: typed kafka-protocol
//! requests (the listener's own types) over one TCP connection, one at a time, to a
//! listener on a broker of its own.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader, TopicName};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use samsa::broker::{Broker, BrokerConfig};
use samsa::wire::{Listener, ListenerConfig};

/// A broker in a fresh directory, served on an ephemeral loopback port.
pub struct Served {
    pub dir: tempfile::TempDir,
    pub broker: Arc<Broker>,
    pub listener: Listener,
}

pub fn serve(config: BrokerConfig) -> Served {
    let dir = tempfile::tempdir().expect("temp dir");
    let broker = Broker::open(dir.path(), config).expect("open");
    let listener = Listener::start(Arc::clone(&broker), ListenerConfig { port: 0, ..ListenerConfig::default() }).expect("listen");
    Served { dir, broker, listener }
}

pub struct Client {
    stream: TcpStream,
    correlation: i32,
}

impl Client {
    pub fn connect(listener: &Listener) -> Client {
        let stream = TcpStream::connect(listener.local_addr()).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
        Client { stream, correlation: 0 }
    }

    /// Sends `req` at `version` and decodes its response, which must be whole.
    pub fn call<R: Request>(&mut self, req: &R, version: i16) -> R::Response {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("wire-test")));
        let mut body = BytesMut::new();
        header.encode(&mut body, R::header_version(version)).expect("encode header");
        req.encode(&mut body, version).expect("encode request");
        let mut frame = BytesMut::new();
        frame.put_i32(body.len() as i32);
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame).expect("write");
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).expect("read a response (the connection was closed?)");
        let mut resp = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut resp).expect("read");
        let mut resp = Bytes::from(resp);
        let h = ResponseHeader::decode(&mut resp, <R::Response as HeaderVersion>::header_version(version)).expect("response header");
        assert_eq!(h.correlation_id, self.correlation);
        let decoded = <R::Response as Decodable>::decode(&mut resp, version).expect("decode response");
        assert!(!resp.has_remaining(), "{} bytes after the response", resp.remaining());
        decoded
    }
}

pub fn name(s: &str) -> TopicName {
    TopicName(sb(s))
}

pub fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}
