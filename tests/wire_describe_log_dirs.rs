//! DescribeLogDirs (Java's AdminClient, kafka-log-dirs.sh): one log directory, the data
//! directory, with every partition's size on disk and, from v4, the filesystem's total
//! and usable bytes.

mod common;

use common::wire::{name, serve, Client};
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::DescribeLogDirsRequest;
use samsa::broker::{BrokerConfig, PartitionAppend};
use samsa::log::{Compression, Record};

#[test]
fn every_partition_size_and_the_disk_totals() {
    let served = serve(BrokerConfig::default());
    let (broker, listener) = (&served.broker, &served.listener);
    broker.create_topic("rides", 2, -1, &[], false).unwrap();
    broker.create_topic("maps", 1, -1, &[], false).unwrap();
    let value = vec![b'x'; 5000];
    let records = [Record { timestamp: 1, key: None, value: Some(&value), headers: &[] }];
    broker.append_all(&[PartitionAppend { topic: "rides", partition: 0, records: records.to_vec(), producer: None }], Compression::None).unwrap();
    let mut client = Client::connect(&listener);

    for version in 1..=4 {
        let resp = client.call(&DescribeLogDirsRequest::default().with_topics(None), version);
        assert_eq!(resp.error_code, 0);
        assert_eq!(resp.results.len(), 1, "one log directory");
        let dir = &resp.results[0];
        assert_eq!((dir.error_code, dir.log_dir.to_string()), (0, broker.dir().display().to_string()));
        let mut sizes: Vec<(String, i32, i64)> =
            dir.topics.iter().flat_map(|t| t.partitions.iter().map(move |p| (t.name.0.to_string(), p.partition_index, p.partition_size))).collect();
        sizes.sort();
        assert_eq!(sizes.len(), 3, "v{version}");
        assert_eq!((sizes[0].0.as_str(), sizes[0].2), ("maps", 0));
        assert_eq!((sizes[1].0.as_str(), sizes[1].1), ("rides", 0));
        assert!(sizes[1].2 > 5000, "the batch's bytes: {}", sizes[1].2);
        assert!(dir.topics.iter().flat_map(|t| &t.partitions).all(|p| p.offset_lag == 0 && !p.is_future_key));
        if version >= 4 {
            assert!(dir.total_bytes > 0 && dir.usable_bytes >= 0 && dir.usable_bytes <= dir.total_bytes, "{} / {}", dir.usable_bytes, dir.total_bytes);
        }
    }

    // Asked for: those partitions, and nothing for a topic samsa does not have.
    let asked = vec![
        DescribableLogDirTopic::default().with_topic(name("rides")).with_partitions(vec![1]),
        DescribableLogDirTopic::default().with_topic(name("nope")).with_partitions(vec![0]),
    ];
    let resp = client.call(&DescribeLogDirsRequest::default().with_topics(Some(asked)), 4);
    let topics = &resp.results[0].topics;
    assert_eq!(topics.len(), 1);
    assert_eq!((topics[0].name.0.to_string(), topics[0].partitions.len(), topics[0].partitions[0].partition_index), ("rides".into(), 1, 1));
}
