//! A KIP-848 member whose heartbeat answer was lost (the connection dropped, say) comes
//! back a step behind: the coordinator sends its assignment again, or the member would
//! never learn of partitions given to it meanwhile.

use samsa::broker::{Broker, BrokerConfig};
use samsa::group::ConsumerHeartbeat;

fn hb(member_id: &str, epoch: i32, owned: Option<Vec<(String, i32)>>) -> ConsumerHeartbeat {
    ConsumerHeartbeat {
        group_id: "g".into(),
        member_id: member_id.into(),
        member_epoch: epoch,
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        rebalance_timeout_ms: Some(30_000),
        session_timeout_ms: 45_000,
        assignor: None,
        subscribed_topics: (epoch == 0).then(|| vec!["t".to_string()]),
        owned,
    }
}

#[test]
fn a_member_behind_by_a_lost_answer_gets_its_assignment_again() {
    let dir = tempfile::tempdir().unwrap();
    let b = Broker::open(dir.path(), BrokerConfig::default()).unwrap();
    b.create_topic("t", 2, -1, &[], false).unwrap();
    let counts = b.topic_counts();
    let first = b.groups.consumer_heartbeat(hb("", 0, None), &counts).unwrap();
    let a = first.assignment.clone().unwrap();
    assert_eq!(a.len(), 2);
    // A second member joins; the first gives one partition up (its answer says so).
    let second = b.groups.consumer_heartbeat(hb("", 0, None), &counts).unwrap();
    let moved = b.groups.consumer_heartbeat(hb(&first.member_id, first.member_epoch, Some(a.clone())), &counts).unwrap();
    let kept = moved.assignment.clone().unwrap();
    assert_eq!(kept.len(), 1);
    assert!(moved.member_epoch > first.member_epoch);
    // That answer is lost: the member comes back with its old epoch, still owning both.
    let again = b.groups.consumer_heartbeat(hb(&first.member_id, first.member_epoch, Some(a.clone())), &counts).unwrap();
    assert_eq!(again.member_epoch, moved.member_epoch);
    assert_eq!(again.assignment, Some(kept.clone()), "the assignment is sent again");
    // Once it releases, the second member gets the partition.
    b.groups.consumer_heartbeat(hb(&first.member_id, again.member_epoch, Some(kept)), &counts).unwrap();
    let got = b.groups.consumer_heartbeat(hb(&second.member_id, second.member_epoch, Some(vec![])), &counts).unwrap();
    assert_eq!(got.assignment.map(|a| a.len()), Some(1));
    b.close().unwrap();
}
