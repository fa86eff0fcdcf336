//! The coordinator checks and acts under one lock: a member removed between its
//! ownership check and its write cannot overwrite its successor's commit, and a group
//! cannot be deleted under a member that joined after the emptiness check.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use samsa::group::{Committed, GroupCoordinator, JoinRequest, ManualClock, Strategy};

fn req(group: &str) -> JoinRequest {
    JoinRequest {
        group_id: group.into(),
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        topics: vec!["t".into()],
        session_timeout_ms: 1000,
        rebalance_timeout_ms: 1000,
        strategy: Strategy::RoundRobin,
    }
}

fn counts() -> samsa::group::TopicCounts {
    [("t".to_string(), 1)].into_iter().collect()
}

fn offset(o: i64, by: &str) -> Vec<(String, i32, Committed)> {
    vec![("t".into(), 0, Committed { offset: o, metadata: Some(by.into()), leader_epoch: None })]
}

#[test]
fn a_removed_members_commit_never_lands_after_its_successors() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(0));
    let c = Arc::new(GroupCoordinator::open(dir.path(), false, Arc::default(), clock.clone()).unwrap());
    for round in 0..300 {
        let g = format!("g{round}");
        let a = c.join(req(&g), &counts()).unwrap().member_id;
        assert_eq!(c.poll(&g, &a, None).unwrap().assigned.len(), 1);
        // a commits as fast as it can until it is fenced off.
        let stale = {
            let (c, g, a) = (Arc::clone(&c), g.clone(), a.clone());
            std::thread::spawn(move || while c.commit(&g, Some(&a), &offset(1, "a")).is_ok() {})
        };
        // a stops being seen; b takes over and commits.
        clock.advance(2000);
        let b = c.join(req(&g), &counts()).unwrap().member_id;
        while c.poll(&g, &b, None).unwrap().assigned.is_empty() {}
        c.commit(&g, Some(&b), &offset(100, "b")).unwrap();
        stale.join().unwrap();
        let last = c.committed(&g, "t", 0).unwrap();
        assert_eq!(last.metadata.as_deref(), Some("b"), "round {round}: a stale commit overwrote the new owner's");
        c.leave(&g, &b, &counts()).unwrap();
    }
}

#[test]
fn a_group_is_never_deleted_under_a_member_that_joined() {
    let dir = tempfile::tempdir().unwrap();
    let c = Arc::new(GroupCoordinator::open(dir.path(), false, Arc::default(), Arc::new(ManualClock::new(0))).unwrap());
    for round in 0..300 {
        let g = format!("g{round}");
        c.commit(&g, None, &offset(5, "admin")).unwrap();
        let joined = Arc::new(AtomicBool::new(false));
        let joiner = {
            let (c, g, joined) = (Arc::clone(&c), g.clone(), Arc::clone(&joined));
            std::thread::spawn(move || {
                let m = c.join(req(&g), &counts()).unwrap().member_id;
                joined.store(true, Ordering::SeqCst);
                m
            })
        };
        let deleted = c.delete(&g).is_ok();
        let m = joiner.join().unwrap();
        // Either the deletion came first (the offsets are gone) or the join did (the
        // deletion was refused and the offsets stay); never a deleted group with a member.
        let has_offsets = c.committed(&g, "t", 0).is_some();
        assert_eq!(deleted, !has_offsets, "round {round}");
        assert!(c.has_members(&g), "round {round}: the member that joined is still there");
        c.leave(&g, &m, &counts()).unwrap();
    }
}
