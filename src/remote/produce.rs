//! A Produce request (v8) written straight into one reused buffer, each partition's record
//! batches encoded in place: a send of a thousand messages is over a hundred kilobytes at
//! a time, and every copy of it costs the sender's thread (which is the app's). v8 is the
//! last version before flexible ones: its sizes and counts are fixed-width, so they are
//! filled in once what they count is written. Its layout is checked against the crate's
//! decoder below.

use bytes::BufMut;

use super::conn::{seal, CLIENT_ID};
use crate::error::Error;

/// The Produce version written.
pub const VERSION: i16 = crate::wire::versions::CLIENT_PRODUCE;

/// Writes a whole Produce frame (acks all) into `out`, its correlation id left 0: one
/// entry per `parts` (topic, partition), whose record batches `encode(k, out)` appends for
/// entry k. Topics are listed in order of first appearance, each with its partitions in
/// order. An entry whose encoding fails is left out, with its error among those returned
/// (by entry); the rest are sent.
pub fn write(out: &mut Vec<u8>, parts: &[(&str, i32)], transactional_id: Option<&str>, mut encode: impl FnMut(usize, &mut Vec<u8>) -> Result<(), Error>) -> Vec<(usize, Error)> {
    out.clear();
    out.put_i32(0); // size, sealed at the end
    out.put_i16(0); // api key: Produce
    out.put_i16(VERSION);
    out.put_i32(0); // correlation id, set when sent
    out.put_i16(CLIENT_ID.len() as i16);
    out.extend_from_slice(CLIENT_ID.as_bytes());
    match transactional_id {
        Some(id) => {
            out.put_i16(id.len() as i16);
            out.extend_from_slice(id.as_bytes());
        }
        None => out.put_i16(-1),
    }
    out.put_i16(-1); // acks
    out.put_i32(30_000); // timeout
    let mut topics: Vec<(&str, Vec<usize>)> = Vec::new();
    for (k, (t, _)) in parts.iter().enumerate() {
        match topics.iter_mut().find(|(n, _)| n == t) {
            Some((_, ks)) => ks.push(k),
            None => topics.push((t, vec![k])),
        }
    }
    let mut errors = Vec::new();
    let topic_count_at = out.len();
    out.put_i32(0);
    let mut topic_count = 0;
    for (name, ks) in &topics {
        let topic_start = out.len();
        out.put_i16(name.len() as i16);
        out.extend_from_slice(name.as_bytes());
        let count_at = out.len();
        out.put_i32(0);
        let mut count = 0;
        for &k in ks {
            let start = out.len();
            out.put_i32(parts[k].1);
            out.put_i32(0); // records' size
            match encode(k, out) {
                Ok(()) => {
                    let size = out.len() - start - 8;
                    patch(out, start + 4, size);
                    count += 1;
                }
                Err(e) => {
                    out.truncate(start);
                    errors.push((k, e));
                }
            }
        }
        if count == 0 {
            out.truncate(topic_start);
        } else {
            patch(out, count_at, count);
            topic_count += 1;
        }
    }
    patch(out, topic_count_at, topic_count);
    seal(out);
    errors
}

/// Fills in a fixed-width size or count written as 0.
fn patch(out: &mut [u8], at: usize, n: usize) {
    out[at..at + 4].copy_from_slice(&(n as i32).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use bytes::{Buf, Bytes};
    use kafka_protocol::messages::{ApiKey, ProduceRequest, RequestHeader};
    use kafka_protocol::protocol::Decodable;

    use crate::error::Error;

    fn decode(frame: Vec<u8>) -> ProduceRequest {
        let mut buf = Bytes::from(frame);
        assert_eq!(buf.get_i32() as usize, buf.len());
        let header = RequestHeader::decode(&mut buf, ApiKey::Produce.request_header_version(super::VERSION)).unwrap();
        assert_eq!((header.request_api_key, header.request_api_version), (0, super::VERSION));
        assert_eq!(header.client_id.as_deref(), Some("samsa"));
        let req = ProduceRequest::decode(&mut buf, super::VERSION).unwrap();
        assert_eq!(buf.remaining(), 0);
        assert_eq!((req.acks, req.timeout_ms, req.transactional_id.is_none()), (-1, 30_000, true));
        req
    }

    fn contents(req: &ProduceRequest) -> Vec<(String, i32, Vec<u8>)> {
        req.topic_data
            .iter()
            .flat_map(|t| t.partition_data.iter().map(move |p| (t.name.0.to_string(), p.index, p.records.clone().unwrap().to_vec())))
            .collect()
    }

    #[test]
    fn the_crate_decodes_what_is_written() {
        let batches: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let long_topic = "t".repeat(200);
        let parts = [("rides", 1), (long_topic.as_str(), 0), ("rides", 3)];
        let ranges = [0..100, 100..250, 250..300];
        let mut frame = Vec::new();
        let errors = super::write(&mut frame, &parts, None, |k, out| {
            out.extend_from_slice(&batches[ranges[k].clone()]);
            Ok(())
        });
        assert!(errors.is_empty());
        assert_eq!(
            contents(&decode(frame)),
            vec![
                ("rides".to_string(), 1, batches[0..100].to_vec()),
                ("rides".to_string(), 3, batches[250..300].to_vec()),
                (long_topic, 0, batches[100..250].to_vec()),
            ]
        );
    }

    #[test]
    fn a_part_that_fails_to_encode_is_left_out() {
        // The second part fails after writing some bytes; "other" has no part left at all.
        let parts = [("rides", 0), ("rides", 1), ("other", 0), ("rides", 2)];
        let mut frame = Vec::new();
        let errors = super::write(&mut frame, &parts, None, |k, out| {
            out.extend_from_slice(&[k as u8; 10]);
            if k == 1 || k == 2 {
                return Err(Error::InvalidRecord(format!("part {k}")));
            }
            Ok(())
        });
        assert_eq!(errors.iter().map(|(k, _)| *k).collect::<Vec<_>>(), vec![1, 2]);
        let req = decode(frame);
        assert_eq!(req.topic_data.len(), 1);
        assert_eq!(contents(&req), vec![("rides".to_string(), 0, vec![0; 10]), ("rides".to_string(), 2, vec![3; 10])]);
    }
}
