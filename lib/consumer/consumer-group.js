'use strict'

// The consumer's membership of its group: joining samsa's group coordinator, the
// heartbeat timer, and taking each assignment the coordinator hands out. Assignment is
// done by the coordinator: a partition leaving this member is revoked (its handler
// finishes, its resolved offsets are committed, then it is released), so a clean
// rebalance delivers no duplicates and the partitions that stay keep flowing. Liveness is
// a timer, not the handler's heartbeat(). Separate from the runner, which only fetches
// and handles what this file says is owned.

const { groupByTopic } = require('../group-description')
const { key } = require('./partition-state')

// Partitions started between two looks at the clock when a large assignment arrives.
const START_SLICE = 500

class ConsumerGroup {
  constructor(consumer, { strategy, sessionTimeout, rebalanceTimeout, heartbeatInterval }) {
    this.consumer = consumer
    this.strategy = strategy // the assigner's name, as the coordinator knows it
    this.sessionTimeout = sessionTimeout
    this.rebalanceTimeout = rebalanceTimeout
    this.heartbeatInterval = heartbeatInterval
    this.member = null // the native member, from joining to leaving
    this.memberId = undefined
    this.joinStarted = 0 // when the last join began (Date.now())
    this.generation = -1 // of the assignment taken last
    this.fenced = false // removed from the group: nothing is delivered until rejoined
    this.seenVersion = -1 // the member's state version polled last
    this.mustPoll = false // poll the coordinator on the next round whatever the version
    this.topicsVersion = -1 // the broker's topic list the RegExp subscriptions were matched on
    this.subscribedTopics = [] // topic names joined with, sorted
    this.subscribedSet = new Set()
    this.partitions = new Map() // key -> PartitionState (owned by this member)
    this.heartbeatTimer = null
  }

  /** The first join of a run: the assignment and starting positions are taken before
   * run() resolves. */
  async start(shared) {
    await this.join(shared)
    shared.addConsumer(this.consumer)
    const version = this.member.stateVersion()
    const first = shared.call(() => this.member.poll(null))
    this.seenVersion = version
    await this.applyAssignment(shared, first)
  }

  /** A run that failed to start: out of the group again, so no partitions stay held. */
  async abandon(shared) {
    if (this.member) await this.member.leave().catch(() => {})
    shared.removeConsumer(this.consumer)
    this.member = null
  }

  async join(shared) {
    const c = this.consumer
    const start = Date.now()
    this.subscribedTopics = await c.matchedTopics()
    this.subscribedSet = new Set(this.subscribedTopics)
    this.topicsVersion = shared.native.topicsVersion()
    // The heartbeat interval is for a member in a process that does not own the
    // directory: its heartbeats are requests of its own.
    this.member = await shared.callAsync(() =>
      shared.native.joinGroup(
        c.groupId,
        c.kafka.clientId,
        this.subscribedTopics,
        this.sessionTimeout,
        this.rebalanceTimeout,
        this.strategy,
        this.heartbeatInterval
      )
    )
    this.memberId = this.member.memberId
    shared.wakeGroup(c.groupId)
    this.joinStarted = start
    this.partitions.clear()
    c.runner.readable.clear()
    this.generation = -1
    this.fenced = false
    this.seenVersion = -1
  }

  /** Leaves the group at the end of a run (the others take over at once). */
  async leave(shared) {
    try {
      await this.member.leave()
    } catch {
      // Already removed.
    }
    shared.removeConsumer(this.consumer)
    shared.wakeGroup(this.consumer.groupId)
    this.member = null
    this.partitions.clear()
    this.consumer.runner.readable.clear()
  }

  startHeartbeats() {
    this.heartbeatTimer = setInterval(() => this.heartbeat(), Math.max(10, Math.min(this.heartbeatInterval, this.sessionTimeout / 3)))
    this.heartbeatTimer.unref()
  }

  stopHeartbeats() {
    clearInterval(this.heartbeatTimer)
  }

  /** The liveness timer: tells the coordinator this member is alive (and whether a
   * handler is running), and wakes the loop if the group changed. */
  heartbeat() {
    const c = this.consumer
    if (!c.running || !this.member) return
    try {
      const a = this.member.beat(this.busySince())
      if (a.generation !== this.generation || a.revoking > 0) c.runner.wake()
      c.emit(c.events.HEARTBEAT, { groupId: c.groupId, memberId: this.memberId, groupGenerationId: a.generation })
    } catch {
      // Removed from the group (a stuck handler, say): deliver nothing more until the
      // loop has rejoined.
      this.fenced = true
      c.runner.wake()
    }
  }

  busySince() {
    let since = null
    for (const p of this.partitions.values()) if (p.busy && (since === null || p.busy < since)) since = p.busy
    return since
  }

  /** The coordinator's news, polled only when the group changed (or a hand-over is
   * pending): the liveness timer polls on its own schedule. Null when nothing changed. */
  pollIfChanged() {
    const version = this.member.stateVersion()
    if (version !== this.seenVersion || this.mustPoll) {
      const a = this.member.poll(this.busySince())
      this.seenVersion = version
      this.mustPoll = false
      return a
    }
    return null
  }

  forget(k) {
    this.partitions.delete(k)
    this.consumer.runner.readable.delete(k)
  }

  /** Takes new partitions, gives up revoked ones, follows topics matched by RegExps. */
  async applyAssignment(shared, a) {
    const c = this.consumer
    const { offsets, runner } = c
    if (a.topicsVersion !== this.topicsVersion && c.subscriptions.some((s) => s.topic instanceof RegExp)) {
      this.topicsVersion = a.topicsVersion
      const topics = await c.matchedTopics()
      if (topics.join('\u0000') !== this.subscribedTopics.join('\u0000')) {
        this.subscribedTopics = topics
        this.subscribedSet = new Set(topics)
        this.member.subscribe(topics)
        shared.wakeGroup(c.groupId)
      }
    }
    const assigned = a.assigned
    const revoking = tps(a.topics, a.revoking)
    // Revoked partitions: commit what was resolved, then hand them over.
    if (revoking.length > 0) {
      const release = []
      for (const { topic, partition } of revoking) {
        const p = this.partitions.get(key(topic, partition))
        if (p) {
          p.revoked = true
          if (p.busy) {
            // Its handler finishes first; it is released on a later poll.
            this.mustPoll = true
            continue
          }
          this.forget(key(topic, partition))
          if (offsets.autoCommit) await offsets.commitPartitions([p]).catch((e) => c.log.warn('Commit before hand-over failed', { error: e.message }))
        }
        release.push({ topic, partition })
      }
      if (release.length > 0) {
        shared.call(() => this.member.release(release))
        shared.wakeGroup(c.groupId)
      }
    }
    let changed = a.generation !== this.generation
    // Partitions neither assigned nor being revoked are gone altogether (a deleted
    // topic, or this member was replaced): forget them.
    if (this.partitions.size > assigned.length / 2 + revoking.length) {
      const keep = new Set(revoking.map(({ topic, partition }) => key(topic, partition)))
      for (let i = 0; i < assigned.length; i += 2) keep.add(key(a.topics[assigned[i]], assigned[i + 1]))
      for (const [k, p] of this.partitions) {
        if (!keep.has(k) && !p.busy) {
          this.forget(k)
          changed = true
        }
      }
    }
    const added = []
    for (let i = 0; i < assigned.length; i += 2) {
      const topic = a.topics[assigned[i]]
      if (!this.partitions.has(key(topic, assigned[i + 1]))) added.push({ topic, partition: assigned[i + 1] })
    }
    if (added.length > 0) {
      // Thousands of partitions start a slice at a time, yielding in between.
      const marks = new Map()
      for (let i = 0; i < added.length; i += START_SLICE) {
        await offsets.startPartitions(shared, added.slice(i, i + START_SLICE), marks)
        await runner.maybeYield()
      }
      changed = true
    }
    if (changed) {
      if (this.generation !== -1) c.emit(c.events.REBALANCING, { groupId: c.groupId, memberId: this.memberId })
      this.generation = a.generation
      c.subscription.assign(this.assignedByTopic())
      // As kafkajs, every new assignment is logged ("Consumer has joined the group") and
      // emitted as GROUP_JOIN. No member computes assignments here (the coordinator
      // does); the longest-standing member is reported as the leader, the one Kafka would
      // most likely have chosen.
      const leaderId = (await c.shared.callAsync(() => c.shared.native.groupLeader(c.groupId)).catch(() => null)) ?? null
      const joined = {
        duration: Date.now() - this.joinStarted,
        groupId: c.groupId,
        isLeader: leaderId === this.memberId,
        leaderId,
        groupProtocol: this.strategy,
        memberId: this.memberId,
        memberAssignment: groupByTopic([...this.partitions.values()]),
      }
      c.log.info('Consumer has joined the group', joined)
      c.emit(c.events.GROUP_JOIN, joined)
    }
  }

  assignedByTopic() {
    return Object.entries(groupByTopic([...this.partitions.values()])).map(([topic, partitions]) => ({ topic, partitions }))
  }
}

/** [{ topic, partition }] from the native (topic index, partition) pairs. */
function tps(topics, pairs) {
  const out = []
  for (let i = 0; i < pairs.length; i += 2) out.push({ topic: topics[pairs[i]], partition: pairs[i + 1] })
  return out
}

module.exports = { ConsumerGroup }
