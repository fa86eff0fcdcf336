//! DescribeLogDirs: the one log directory (the data directory), every partition's size on
//! disk, and the filesystem's total and usable bytes (v4). There are no replicas to move,
//! so no partition lags and none is a future replica.

use kafka_protocol::messages::describe_log_dirs_response::{DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic};
use kafka_protocol::messages::*;

use super::{str_bytes, topic_name};
use crate::wire::Ctx;

pub async fn describe(ctx: &Ctx, req: DescribeLogDirsRequest, version: i16, _: &RequestHeader) -> Option<DescribeLogDirsResponse> {
    let b = &ctx.broker;
    // Null: every partition; a list: those named (ones samsa does not have are left out).
    let wanted: Option<Vec<(String, Vec<i32>)>> = req.topics.map(|ts| ts.into_iter().map(|t| (t.topic.0.to_string(), t.partitions)).collect());
    let dir = DescribeLogDirsResult::default().with_log_dir(str_bytes(b.dir().display().to_string()));
    let result = match tokio::task::block_in_place(|| b.partition_sizes(wanted.as_deref())) {
        Ok(sizes) => {
            let topics = sizes
                .into_iter()
                .map(|(topic, partitions)| {
                    DescribeLogDirsTopic::default().with_name(topic_name(&topic)).with_partitions(
                        partitions
                            .into_iter()
                            .map(|(p, size)| DescribeLogDirsPartition::default().with_partition_index(p).with_partition_size(size as i64))
                            .collect(),
                    )
                })
                .collect();
            let dir = dir.with_topics(topics);
            match (version >= 4).then(|| crate::fsutil::disk_space(b.dir())) {
                Some(Ok((total, usable))) => dir.with_total_bytes(clamp(total)).with_usable_bytes(clamp(usable)),
                _ => dir.with_total_bytes(-1).with_usable_bytes(-1),
            }
        }
        Err(e) => dir.with_error_code(ctx.code(&e)).with_total_bytes(-1).with_usable_bytes(-1),
    };
    Some(DescribeLogDirsResponse::default().with_results(vec![result]))
}

/// Sizes past i64 are reported as i64::MAX, as Kafka does.
fn clamp(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}
