//! Manual replica assignments (CreateTopics' `assignments`, CreatePartitions'), checked as
//! Kafka's controller checks them against the brokers it has: samsa has one, node 0.

use std::collections::BTreeSet;

use crate::error::{Error, Result};

/// The only broker there is.
const NODE: i32 = 0;

/// One partition's replicas, as a manual assignment gives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaAssignment {
    pub partition: i32,
    pub replicas: Vec<i32>,
}

fn invalid(why: String) -> Error {
    Error::InvalidReplicaAssignment(why)
}

/// Checks one partition's replica list: not empty, brokers that exist, none twice, and as
/// many as `expected` (the replication factor) when it is known. Returns its length.
fn check_replicas(replicas: &[i32], expected: Option<usize>) -> Result<usize> {
    if replicas.is_empty() {
        return Err(invalid("The manual partition assignment includes an empty replica list.".into()));
    }
    let mut seen = BTreeSet::new();
    for &b in replicas {
        if b != NODE {
            return Err(invalid(format!(
                "The manual partition assignment includes broker {b}, but no such broker is registered (samsa is one broker, node {NODE})."
            )));
        }
        if !seen.insert(b) {
            return Err(invalid(format!("The manual partition assignment includes the broker {b} more than once.")));
        }
    }
    if let Some(rf) = expected.filter(|rf| *rf != replicas.len()) {
        return Err(invalid(format!(
            "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {rf} replica(s).",
            replicas.len()
        )));
    }
    Ok(replicas.len())
}

/// Checks a new topic's assignment; the partition count comes from it, so the request's
/// count and replication factor must both be -1. Returns the partition count.
pub fn check_new_topic(assignments: &[ReplicaAssignment], num_partitions: i32, replication_factor: i32) -> Result<i32> {
    if replication_factor != -1 {
        return Err(Error::InvalidRequest(
            "A manual partition assignment was specified, but replication factor was not set to -1.".into(),
        ));
    }
    if num_partitions != -1 {
        return Err(Error::InvalidRequest("A manual partition assignment was specified, but numPartitions was not set to -1.".into()));
    }
    let mut partitions = BTreeSet::new();
    let mut rf = None;
    for a in assignments {
        if !partitions.insert(a.partition) {
            return Err(invalid(format!("Found multiple manual partition assignments for partition {}", a.partition)));
        }
        rf = Some(check_replicas(&a.replicas, rf)?);
    }
    let n = assignments.len() as i32;
    if !partitions.iter().copied().eq(0..n) {
        return Err(invalid(format!(
            "partitions should be a consecutive 0-based integer sequence, but got {}",
            partitions.iter().map(i32::to_string).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(n)
}

/// Checks the assignment of partitions added to a topic of `replication_factor` that has
/// `current` partitions and grows to `count`: one replica list per new partition.
pub fn check_new_partitions(assignments: &[Vec<i32>], current: i32, count: i32, replication_factor: usize) -> Result<()> {
    let adding = count - current;
    if assignments.len() as i64 != i64::from(adding) {
        return Err(invalid(format!(
            "Attempted to add {adding} additional partition(s), but only {} assignment(s) were specified.",
            assignments.len()
        )));
    }
    for replicas in assignments {
        check_replicas(replicas, Some(replication_factor))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(partition: i32, replicas: &[i32]) -> ReplicaAssignment {
        ReplicaAssignment { partition, replicas: replicas.to_vec() }
    }

    #[test]
    fn a_new_topic_takes_its_count_from_the_assignment() {
        assert_eq!(check_new_topic(&[a(1, &[0]), a(0, &[0])], -1, -1).unwrap(), 2);
        assert_eq!(check_new_topic(&[a(0, &[0])], 1, -1).unwrap_err().code(), 42);
        assert_eq!(check_new_topic(&[a(0, &[0])], -1, 1).unwrap_err().code(), 42);
        for bad in [
            vec![a(0, &[1])],
            vec![a(0, &[])],
            vec![a(0, &[0, 0])],
            vec![a(0, &[0]), a(0, &[0])],
            vec![a(0, &[0]), a(2, &[0])],
        ] {
            assert_eq!(check_new_topic(&bad, -1, -1).unwrap_err().code(), 39, "{bad:?}");
        }
    }

    #[test]
    fn new_partitions_need_one_list_each_of_the_topics_factor() {
        assert!(check_new_partitions(&[vec![0], vec![0]], 1, 3, 1).is_ok());
        assert_eq!(check_new_partitions(&[vec![0]], 1, 3, 1).unwrap_err().code(), 39);
        assert_eq!(check_new_partitions(&[vec![1]], 1, 2, 1).unwrap_err().code(), 39);
        assert_eq!(check_new_partitions(&[vec![0, 0]], 1, 2, 1).unwrap_err().code(), 39);
    }
}
