//! samsa's RecordBatch v2 against the `kafka-protocol` crate as an oracle: batches samsa
//! writes decode there, and batches it encodes (as a Kafka client would send them)
//! verify and decode here.

use bytes::Bytes;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression as KCompression, Record as KRecord, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions,
    TimestampType,
};
use samsa::log::batch::{self, Compression, Header, Record};

fn samples() -> Vec<(i64, Option<Vec<u8>>, Option<Vec<u8>>, Vec<(String, Option<Vec<u8>>)>)> {
    (0..50)
        .map(|i| {
            let key = (i % 5 != 0).then(|| format!("rider-{i}").into_bytes());
            let value = (i % 7 != 3).then(|| vec![b'a' + (i % 26) as u8; i * 13]);
            let headers = if i % 4 == 0 { vec![("trace".to_string(), Some(b"t-1".to_vec())), ("empty".to_string(), None)] } else { vec![] };
            (1_700_000_000_000 + (i as i64 * 37) - 500, key, value, headers)
        })
        .collect()
}

#[test]
fn samsa_batches_decode_in_kafka_protocol() {
    let s = samples();
    let headers: Vec<Vec<Header<'_>>> = s
        .iter()
        .map(|(_, _, _, h)| h.iter().map(|(k, v)| Header { key: k.as_bytes(), value: v.as_deref() }).collect())
        .collect();
    let records: Vec<Record<'_>> = s
        .iter()
        .zip(&headers)
        .map(|((ts, k, v, _), h)| Record { timestamp: *ts, key: k.as_deref(), value: v.as_deref(), headers: h })
        .collect();
    for (compression, expected) in [
        (Compression::None, KCompression::None),
        (Compression::Gzip, KCompression::Gzip),
        (Compression::Snappy, KCompression::Snappy),
        (Compression::Lz4, KCompression::Lz4),
        (Compression::Zstd, KCompression::Zstd),
    ] {
        let mut out = Vec::new();
        batch::encode_batch(&mut out, 1000, &records, compression, None).unwrap();
        let set = RecordBatchDecoder::decode(&mut Bytes::from(out)).unwrap();
        assert_eq!(set.version, 2);
        assert_eq!(set.compression, expected);
        assert_eq!(set.records.len(), s.len());
        for (i, (r, (ts, k, v, h))) in set.records.iter().zip(&s).enumerate() {
            assert_eq!(r.offset, 1000 + i as i64);
            assert_eq!(r.timestamp, *ts);
            assert_eq!(r.timestamp_type, TimestampType::Creation);
            assert_eq!(r.key.as_deref(), k.as_deref());
            assert_eq!(r.value.as_deref(), v.as_deref());
            let got: Vec<(String, Option<Vec<u8>>)> =
                r.headers.iter().map(|(k, v)| (k.to_string(), v.as_ref().map(|b| b.to_vec()))).collect();
            assert_eq!(&got, h);
        }
    }
}

#[test]
fn kafka_protocol_batches_verify_and_decode_in_samsa() {
    let s = samples();
    let records: Vec<KRecord> = s
        .iter()
        .enumerate()
        .map(|(i, (ts, k, v, h))| {
            let mut headers = IndexMap::new();
            for (hk, hv) in h {
                headers.insert(StrBytes::from_string(hk.clone()), hv.clone().map(Bytes::from));
            }
            KRecord {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32, // the encoder keeps one batch while offset - sequence is constant
                timestamp: *ts,
                key: k.clone().map(Bytes::from),
                value: v.clone().map(Bytes::from),
                headers,
            }
        })
        .collect();
    for compression in [KCompression::None, KCompression::Gzip, KCompression::Snappy, KCompression::Lz4, KCompression::Zstd] {
        let mut buf = Vec::new();
        RecordBatchEncoder::encode(&mut buf, &records, &RecordEncodeOptions { version: 2, compression }).unwrap();
        // A client's batch is stored as is, with only its base offset stamped.
        batch::set_base_offset(&mut buf, 500);
        let h = batch::verify(&buf).expect("kafka-protocol batch verifies");
        assert_eq!(h.record_count as usize, s.len());
        let mut got = Vec::new();
        let mut scratch = Vec::new();
        batch::for_each_record(&buf, &mut scratch, |r| {
            let hs: Vec<(String, Option<Vec<u8>>)> = r
                .headers
                .map(|h| (String::from_utf8(h.key.to_vec()).unwrap(), h.value.map(<[u8]>::to_vec)))
                .collect();
            got.push((r.offset, r.timestamp, r.key.map(<[u8]>::to_vec), r.value.map(<[u8]>::to_vec), hs));
        })
        .unwrap();
        for (i, (g, (ts, k, v, h))) in got.iter().zip(&s).enumerate() {
            assert_eq!(g.0, 500 + i as i64);
            assert_eq!(g.1, *ts);
            assert_eq!(&g.2, k);
            assert_eq!(&g.3, v);
            assert_eq!(&g.4, h);
        }
    }
}
