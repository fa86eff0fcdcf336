//! A Produce request (v9) written straight into one reused buffer, the batches copied in
//! once: a send of a thousand messages is a megabyte at a time, and building it through
//! the crate's types would copy it twice more into fresh memory (whose pages the kernel
//! then faults in and zeroes, every send). Its layout is checked against the crate's
//! decoder below.

use bytes::BufMut;

use super::conn::{seal, CLIENT_ID};

/// The Produce version written (flexible: compact strings and arrays, tagged fields).
pub const VERSION: i16 = 9;

fn uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Writes a whole Produce frame (acks all) into `out`, its correlation id left 0:
/// `parts` are (topic, partition, range of `batches` holding its record batches). Topics
/// are listed in order of first appearance, each with its partitions in order.
pub fn write(out: &mut Vec<u8>, parts: &[(String, i32, std::ops::Range<usize>)], batches: &[u8]) {
    out.clear();
    out.put_i32(0); // size, sealed at the end
    out.put_i16(0); // api key: Produce
    out.put_i16(VERSION);
    out.put_i32(0); // correlation id, set when sent
    out.put_i16(CLIENT_ID.len() as i16);
    out.extend_from_slice(CLIENT_ID.as_bytes());
    uvarint(out, 0); // header tagged fields
    uvarint(out, 0); // transactional id: null
    out.put_i16(-1); // acks
    out.put_i32(30_000); // timeout
    let mut topics: Vec<(&str, Vec<usize>)> = Vec::new();
    for (k, (t, _, _)) in parts.iter().enumerate() {
        match topics.iter_mut().find(|(n, _)| *n == t.as_str()) {
            Some((_, ks)) => ks.push(k),
            None => topics.push((t.as_str(), vec![k])),
        }
    }
    uvarint(out, topics.len() as u64 + 1);
    for (name, ks) in &topics {
        uvarint(out, name.len() as u64 + 1);
        out.extend_from_slice(name.as_bytes());
        uvarint(out, ks.len() as u64 + 1);
        for &k in ks {
            let (_, partition, range) = &parts[k];
            out.put_i32(*partition);
            uvarint(out, range.len() as u64 + 1);
            out.extend_from_slice(&batches[range.clone()]);
            uvarint(out, 0); // partition tagged fields
        }
        uvarint(out, 0); // topic tagged fields
    }
    uvarint(out, 0); // request tagged fields
    seal(out);
}

#[cfg(test)]
mod tests {
    use bytes::{Buf, Bytes};
    use kafka_protocol::messages::{ApiKey, ProduceRequest, RequestHeader};
    use kafka_protocol::protocol::Decodable;

    #[test]
    fn the_crate_decodes_what_is_written() {
        let batches: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let long_topic = "t".repeat(200);
        let parts = vec![
            ("rides".to_string(), 1, 0..100),
            (long_topic.clone(), 0, 100..250),
            ("rides".to_string(), 3, 250..300),
        ];
        let mut frame = Vec::new();
        super::write(&mut frame, &parts, &batches);
        let mut buf = Bytes::from(frame);
        assert_eq!(buf.get_i32() as usize, buf.len());
        let header = RequestHeader::decode(&mut buf, ApiKey::Produce.request_header_version(super::VERSION)).unwrap();
        assert_eq!((header.request_api_key, header.request_api_version), (0, super::VERSION));
        assert_eq!(header.client_id.as_deref(), Some("samsa"));
        let req = ProduceRequest::decode(&mut buf, super::VERSION).unwrap();
        assert_eq!(buf.remaining(), 0);
        assert_eq!((req.acks, req.timeout_ms, req.transactional_id.is_none()), (-1, 30_000, true));
        let got: Vec<(String, i32, Vec<u8>)> = req
            .topic_data
            .iter()
            .flat_map(|t| t.partition_data.iter().map(move |p| (t.name.0.to_string(), p.index, p.records.clone().unwrap().to_vec())))
            .collect();
        assert_eq!(
            got,
            vec![
                ("rides".to_string(), 1, batches[0..100].to_vec()),
                ("rides".to_string(), 3, batches[250..300].to_vec()),
                (long_topic, 0, batches[100..250].to_vec()),
            ]
        );
    }
}
