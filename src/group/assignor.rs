//! Sticky assignment. Members keep the partitions they have; only partitions that are
//! free (new, or whose owner left) or needed to even out the load move. The strategy
//! (kafkajs's `roundRobin`, the default, or `range`) decides how free partitions are
//! dealt out.

use std::collections::{BTreeMap, BTreeSet};

pub type TopicPartition = (String, i32);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    RoundRobin,
    Range,
}

impl Strategy {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "RoundRobinAssigner" | "roundrobin" | "roundRobin" => Some(Strategy::RoundRobin),
            "RangeAssigner" | "range" => Some(Strategy::Range),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "RoundRobinAssigner",
            Strategy::Range => "RangeAssigner",
        }
    }

    /// A KIP-848 server assignor (ConsumerGroupHeartbeat's `server_assignor`): Kafka's
    /// "uniform" spreads partitions evenly as samsa's round robin does, "range" is range.
    pub fn from_server_assignor(name: &str) -> Option<Self> {
        match name {
            "uniform" => Some(Strategy::RoundRobin),
            "range" => Some(Strategy::Range),
            other => Self::parse(other),
        }
    }

    pub fn server_assignor(self) -> &'static str {
        match self {
            Strategy::RoundRobin => "uniform",
            Strategy::Range => "range",
        }
    }
}

/// Computes the next assignment. `members`: member id -> subscribed topics, in join order
/// (ids sort by join order). `partitions`: topic -> partition count. `previous`: the
/// current assignment, kept wherever it is still valid.
pub fn assign(
    strategy: Strategy,
    members: &BTreeMap<String, BTreeSet<String>>,
    partitions: &BTreeMap<String, i32>,
    previous: &BTreeMap<String, BTreeSet<TopicPartition>>,
) -> BTreeMap<String, BTreeSet<TopicPartition>> {
    let mut out: BTreeMap<String, BTreeSet<TopicPartition>> =
        members.keys().map(|m| (m.clone(), BTreeSet::new())).collect();
    let valid = |member: &str, tp: &TopicPartition| {
        members.get(member).is_some_and(|topics| topics.contains(&tp.0))
            && partitions.get(&tp.0).is_some_and(|n| tp.1 < *n)
    };
    let mut taken = BTreeSet::new();
    for (member, tps) in previous {
        for tp in tps {
            if valid(member, tp) && taken.insert(tp.clone()) {
                out.entry(member.clone()).or_default().insert(tp.clone());
            }
        }
    }
    let fresh = taken.is_empty();

    // Every partition some member subscribes to, not yet assigned.
    let mut free: Vec<TopicPartition> = Vec::new();
    for (topic, n) in partitions {
        if !members.values().any(|t| t.contains(topic)) {
            continue;
        }
        for p in 0..*n {
            let tp = (topic.clone(), p);
            if !taken.contains(&tp) {
                free.push(tp);
            }
        }
    }

    if fresh && strategy == Strategy::Range {
        // Kafka's range: per topic, contiguous ranges over the sorted subscribers.
        for (topic, n) in partitions {
            let subs: Vec<&String> = members.iter().filter(|(_, t)| t.contains(topic)).map(|(m, _)| m).collect();
            if subs.is_empty() {
                continue;
            }
            let (per, extra) = (*n as usize / subs.len(), *n as usize % subs.len());
            let mut p = 0i32;
            for (i, m) in subs.iter().enumerate() {
                let count = per + usize::from(i < extra);
                for _ in 0..count {
                    out.entry((*m).clone()).or_default().insert((topic.clone(), p));
                    p += 1;
                }
            }
        }
    } else {
        // Round-robin over the sorted free partitions, to whoever has fewest (ties by
        // join order), which on a fresh group is kafkajs's round-robin.
        for tp in free {
            let least = members
                .iter()
                .filter(|(_, topics)| topics.contains(&tp.0))
                .map(|(m, _)| m)
                .min_by_key(|m| out.get(*m).map_or(0, BTreeSet::len));
            if let Some(m) = least {
                let m = m.clone();
                out.entry(m).or_default().insert(tp);
            }
        }
    }

    // Even out: move one partition at a time from the most to the least loaded member
    // that can take it, until no move narrows the gap.
    loop {
        let mut moved = false;
        let order: Vec<String> = {
            let mut v: Vec<&String> = out.keys().collect();
            v.sort_by_key(|m| std::cmp::Reverse(out[*m].len()));
            v.into_iter().cloned().collect()
        };
        'outer: for from in &order {
            for to in order.iter().rev() {
                if out[from].len() <= out[to].len() + 1 {
                    continue;
                }
                let candidate = out[from].iter().rev().find(|tp| members[to].contains(&tp.0)).cloned();
                if let Some(tp) = candidate {
                    out.get_mut(from).map(|s| s.remove(&tp));
                    out.get_mut(to).map(|s| s.insert(tp));
                    moved = true;
                    break 'outer;
                }
            }
        }
        if !moved {
            return out;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(n: usize, topics: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
        (0..n).map(|i| (format!("m{i:03}"), topics.iter().map(|t| t.to_string()).collect())).collect()
    }

    fn counts(a: &BTreeMap<String, BTreeSet<TopicPartition>>) -> Vec<usize> {
        a.values().map(BTreeSet::len).collect()
    }

    fn parts(n: i32) -> BTreeMap<String, i32> {
        [("t".to_string(), n)].into_iter().collect()
    }

    #[test]
    fn fresh_round_robin_deals_partitions_in_turn() {
        let a = assign(Strategy::RoundRobin, &members(3, &["t"]), &parts(7), &BTreeMap::new());
        assert_eq!(counts(&a), vec![3, 2, 2]);
        assert!(a["m000"].contains(&("t".into(), 0)) && a["m001"].contains(&("t".into(), 1)) && a["m000"].contains(&("t".into(), 3)));
    }

    #[test]
    fn fresh_range_gives_contiguous_ranges() {
        let a = assign(Strategy::Range, &members(3, &["t"]), &parts(7), &BTreeMap::new());
        let m0: Vec<i32> = a["m000"].iter().map(|tp| tp.1).collect();
        assert_eq!(m0, vec![0, 1, 2]);
        assert_eq!(counts(&a), vec![3, 2, 2]);
    }

    #[test]
    fn a_sixth_member_takes_about_a_sixth_and_nothing_else_moves() {
        let five = members(5, &["t"]);
        let before = assign(Strategy::RoundRobin, &five, &parts(64), &BTreeMap::new());
        let six = members(6, &["t"]);
        let after = assign(Strategy::RoundRobin, &six, &parts(64), &before);
        let moved: usize = before.iter().map(|(m, tps)| tps.difference(&after[m]).count()).sum();
        assert_eq!(after["m005"].len(), moved);
        assert!((10..=11).contains(&moved), "moved {moved}");
        let c = counts(&after);
        assert!(c.iter().max().unwrap() - c.iter().min().unwrap() <= 1, "{c:?}");
    }

    #[test]
    fn extra_members_sit_idle_and_take_over_when_an_owner_leaves() {
        let five = members(5, &["t"]);
        let a = assign(Strategy::RoundRobin, &five, &parts(4), &BTreeMap::new());
        assert_eq!(a.values().filter(|s| s.is_empty()).count(), 1);
        let mut four = five.clone();
        let leaver = a.iter().find(|(_, s)| !s.is_empty()).map(|(m, _)| m.clone()).unwrap();
        four.remove(&leaver);
        let b = assign(Strategy::RoundRobin, &four, &parts(4), &a);
        assert!(b.values().all(|s| s.len() == 1));
        for (m, tps) in &b {
            if !a[m].is_empty() {
                assert_eq!(&a[m], tps, "{m} kept its partition");
            }
        }
    }

    #[test]
    fn members_only_get_topics_they_subscribe_to() {
        let mut m = members(2, &["a"]);
        m.insert("m002".into(), ["b".to_string()].into_iter().collect());
        let p: BTreeMap<String, i32> = [("a".to_string(), 4), ("b".to_string(), 2)].into_iter().collect();
        let a = assign(Strategy::RoundRobin, &m, &p, &BTreeMap::new());
        assert!(a["m002"].iter().all(|tp| tp.0 == "b"));
        assert_eq!(a["m002"].len(), 2);
        assert!(a["m000"].iter().chain(&a["m001"]).all(|tp| tp.0 == "a"));
    }
}
