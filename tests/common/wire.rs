//! A Kafka client of the plainest kind for the wire tests: typed kafka-protocol requests
//! over one TCP connection to a listener on a broker of its own.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use kafka_protocol::messages::{ApiKey, RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use samsa::broker::{Broker, BrokerConfig};
use samsa::wire::{Listener, ListenerConfig};

pub struct Served {
    pub dir: tempfile::TempDir,
    pub broker: Arc<Broker>,
    pub listener: Listener,
}

pub fn serve(config: BrokerConfig) -> Served {
    let dir = tempfile::tempdir().unwrap();
    let broker = Broker::open(dir.path(), config).unwrap();
    let listener = Listener::start(Arc::clone(&broker), ListenerConfig { port: 0, ..ListenerConfig::default() }).unwrap();
    Served { dir, broker, listener }
}

pub struct Client {
    stream: TcpStream,
    correlation: i32,
}

impl Client {
    pub fn connect(l: &Listener) -> Client {
        let stream = TcpStream::connect(l.local_addr()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client { stream, correlation: 0 }
    }

    /// Sends `req` at `version` and reads its response.
    pub fn call<R>(&mut self, req: &R, version: i16) -> R::Response
    where
        R: Request + Encodable + HeaderVersion,
        R::Response: Decodable + HeaderVersion,
    {
        self.correlation += 1;
        let key = ApiKey::try_from(R::KEY).unwrap();
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("test")));
        let mut body = BytesMut::new();
        header.encode(&mut body, key.request_header_version(version)).unwrap();
        req.encode(&mut body, version).unwrap();
        let mut frame = (body.len() as i32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame).unwrap();
        let mut size = [0u8; 4];
        self.stream.read_exact(&mut size).unwrap();
        let mut resp = vec![0u8; i32::from_be_bytes(size) as usize];
        self.stream.read_exact(&mut resp).unwrap();
        let mut buf = bytes::Bytes::from(resp);
        let h = ResponseHeader::decode(&mut buf, key.response_header_version(version)).unwrap();
        assert_eq!(h.correlation_id, self.correlation);
        R::Response::decode(&mut buf, version).unwrap()
    }
}

pub fn sb(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}
