'use strict'

// One look at the broker: every topic's partitions with their watermarks, every group
// with its state, members, committed offsets and lag. The overview, the pages and the
// sampler all read it; looks taken within FRESH_MS of each other are one look, so a page
// refreshing on every sample costs the broker nothing more than the sampler does.

const { mapLimited } = require('./limited')

const FRESH_MS = 1000
// Native calls in flight at once while looking: a thousand topics are a thousand calls.
const PARALLEL_CALLS = 64

/**
 * A partition's lag for a committed offset, as Kafka's tools count it (high watermark
 * less the committed offset); the sentinels setOffsets/resetOffsets store stand for the
 * log's start (-2: everything is lag) and its end (-1: none). Null without a commit.
 */
function lagOf(committed, low, high) {
  if (committed === undefined) return null
  if (committed === -2) return high - low
  if (committed < 0) return 0
  return Math.max(0, high - committed)
}

/** The topics and their partitions' watermarks: [{ name, partitions: [{ partition, low, high }] }]. */
async function lookAtTopics(shared) {
  const names = (await shared.callAsync(() => shared.native.topics())).sort()
  const marks = await mapLimited(names, PARALLEL_CALLS, (name) =>
    shared.callAsync(() => shared.native.watermarks(name)).catch((e) => {
      // Deleted between the listing and now.
      if (e.type === 'UNKNOWN_TOPIC_OR_PARTITION') return null
      throw e
    })
  )
  const topics = []
  names.forEach((name, i) => {
    const m = marks[i]
    if (m === null) return
    const partitions = []
    for (let p = 0; p < m.length / 3; p++) partitions.push({ partition: p, low: m[3 * p], high: m[3 * p + 1] })
    topics.push({ name, partitions })
  })
  return topics
}

/** One group: state, members, and per topic its committed offsets and lag. */
async function lookAtGroup(shared, groupId, topicsByName) {
  const [g, committedTopics] = await Promise.all([
    shared.callAsync(() => shared.native.describeGroup(groupId)),
    shared.callAsync(() => shared.native.committedTopics(groupId)),
  ])
  const names = new Set(committedTopics)
  for (const m of g.members) for (const { topic } of m.assigned) names.add(topic)
  const owners = new Map() // "topic\0partition" -> memberId
  for (const m of g.members) for (const { topic, partition } of m.assigned) owners.set(`${topic}\0${partition}`, m.memberId)
  const offsets = []
  let lag = null
  for (const topic of [...names].sort()) {
    const t = topicsByName.get(topic)
    if (!t) continue // deleted since the offsets were committed
    const committed = new Map()
    if (committedTopics.includes(topic)) {
      for (const o of await shared.callAsync(() => shared.native.committedOffsets(groupId, topic))) committed.set(o.partition, o.offset)
    }
    let topicLag = null
    const partitions = t.partitions.map(({ partition, low, high }) => {
      const c = committed.get(partition)
      const l = lagOf(c, low, high)
      if (l !== null) topicLag = (topicLag || 0) + l
      return { partition, committed: c === undefined ? null : c, low, high, lag: l, member: owners.get(`${topic}\0${partition}`) || null }
    })
    if (topicLag !== null) lag = (lag || 0) + topicLag
    offsets.push({ topic, lag: topicLag, partitions })
  }
  return {
    groupId,
    state: g.state,
    protocol: g.protocol,
    members: g.members.map((m) => ({ memberId: m.memberId, clientId: m.clientId, clientHost: m.clientHost, assigned: m.assigned })),
    offsets,
    lag,
  }
}

/** Looks at the broker whole: { at, topics, groups } (see the file's comment). */
async function lookAtBroker(shared) {
  const at = Date.now()
  const [topics, groupIds] = await Promise.all([lookAtTopics(shared), shared.callAsync(() => shared.native.listGroups())])
  const topicsByName = new Map(topics.map((t) => [t.name, t]))
  const groups = await mapLimited(groupIds.sort(), PARALLEL_CALLS, (id) => lookAtGroup(shared, id, topicsByName))
  return { at, topics, topicsByName, groups, groupsById: new Map(groups.map((g) => [g.groupId, g])) }
}

/** The broker's state, looked at once per FRESH_MS however many ask. */
class BrokerState {
  constructor(shared) {
    this.shared = shared
    this.last = null
    this.pending = null
  }

  async current() {
    if (this.last && Date.now() - this.last.at < FRESH_MS) return this.last
    if (!this.pending) {
      this.pending = lookAtBroker(this.shared).then(
        (s) => {
          this.last = s
          this.pending = null
          return s
        },
        (e) => {
          this.pending = null
          throw e
        }
      )
    }
    return this.pending
  }

  /** Forgets the last look: after a write, the next page shows its effect. */
  invalidate() {
    this.last = null
  }
}

module.exports = { BrokerState }
