'use strict'

// kafkajs's Consumer over samsa's group coordinator.
//
// One run loop per consumer pulls batches from the native side (one call per partition
// batch: one Buffer plus a table of offsets), awaits the user's handler per message in
// offset order, and commits resolved offsets. Assignment is done by the coordinator: a
// partition leaving this member is revoked (its handler finishes, its resolved offsets are
// committed, then it is released), so a clean rebalance delivers no duplicates and the
// partitions that stay keep flowing. Liveness is a timer, not the handler's heartbeat().

const {
  KafkaJSError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  protocolError,
} = require('./errors')
const { createEvents } = require('./instrumentation')
const { checkTopicName, describe } = require('./validate')
const { retryDelay, retryDefaults } = require('./retry')

const PartitionAssigners = {
  roundRobin: Object.assign(() => ({ name: 'RoundRobinAssigner' }), { samsaName: 'RoundRobinAssigner' }),
  range: Object.assign(() => ({ name: 'RangeAssigner' }), { samsaName: 'RangeAssigner' }),
}

const EVENTS = [
  'HEARTBEAT',
  'COMMIT_OFFSETS',
  'GROUP_JOIN',
  'FETCH',
  'FETCH_START',
  'START_BATCH_PROCESS',
  'END_BATCH_PROCESS',
  'CONNECT',
  'DISCONNECT',
  'STOP',
  'CRASH',
  'REBALANCING',
  'RECEIVED_UNSUBSCRIBED_TOPICS',
  'REQUEST',
  'REQUEST_TIMEOUT',
  'REQUEST_QUEUE_SIZE',
]
const EVENT_NAMES = {
  FETCH_START: 'consumer.fetch_start',
  START_BATCH_PROCESS: 'consumer.start_batch_process',
  END_BATCH_PROCESS: 'consumer.end_batch_process',
  GROUP_JOIN: 'consumer.group_join',
  COMMIT_OFFSETS: 'consumer.commit_offsets',
  RECEIVED_UNSUBSCRIBED_TOPICS: 'consumer.received_unsubscribed_topics',
}

const key = (topic, partition) => `${topic}\u0000${partition}`

// Bytes asked of one partition per fetch (at most maxBytesPerPartition): smaller batches
// die young in V8's heap instead of being promoted, which measured faster than 1 MiB.
const FETCH_CHUNK_BYTES = 256 * 1024

/** Where a consumer stands on one partition it owns. */
class PartitionState {
  constructor(topic, partition) {
    this.topic = topic
    this.partition = partition
    this.position = null // next offset to fetch
    this.resolved = null // next offset to commit (last resolved + 1)
    this.committed = null
    this.revoked = false
    this.busy = false
    this.retries = 0
    this.retryAt = 0
    this.seeked = false
  }
}

class Consumer {
  constructor(kafka, options = {}) {
    const {
      groupId,
      partitionAssigners = [PartitionAssigners.roundRobin],
      sessionTimeout = 30000,
      rebalanceTimeout = 60000,
      heartbeatInterval = 3000,
      maxBytesPerPartition = 1048576,
      maxWaitTimeInMs = 5000,
      retry,
      allowAutoTopicCreation = true,
      // minBytes, maxBytes and readUncommitted are accepted: fetches answer as soon as
      // data is there, and there are no transactions to hide.
    } = options || {}
    if (typeof groupId !== 'string' || groupId.length === 0) {
      throw new KafkaJSNonRetriableError('Consumer groupId must be a non-empty string.')
    }
    for (const [name, v] of Object.entries({ sessionTimeout, rebalanceTimeout, heartbeatInterval, maxBytesPerPartition, maxWaitTimeInMs })) {
      if (!Number.isFinite(v) || v <= 0) throw new TypeError(`${name} must be a positive number, got ${describe(v)}`)
    }
    if (!Array.isArray(partitionAssigners) || partitionAssigners.length === 0) {
      throw new KafkaJSNonRetriableError('partitionAssigners must be a non-empty array')
    }
    const assigner = partitionAssigners[0]
    if (!assigner || !assigner.samsaName) {
      throw new KafkaJSNonRetriableError(
        'Custom partition assigners are not supported by samsa yet: use PartitionAssigners.roundRobin or PartitionAssigners.range'
      )
    }
    this.kafka = kafka
    this.groupId = groupId
    this.log = kafka.logger().namespace('Consumer')
    this.strategy = assigner.samsaName
    this.sessionTimeout = sessionTimeout
    this.rebalanceTimeout = rebalanceTimeout
    this.heartbeatInterval = heartbeatInterval
    this.maxBytesPerPartition = maxBytesPerPartition
    this.maxWaitTimeInMs = maxWaitTimeInMs
    this.retry = { ...retryDefaults, ...(kafka.retry || {}), ...(retry || {}) }
    this.allowAutoTopicCreation = allowAutoTopicCreation

    this.shared = null
    this.subscriptions = [] // { topic: string | RegExp, fromBeginning }
    this.running = false
    this.member = null
    this.partitions = new Map() // key -> PartitionState (owned by this member)
    this.pausedTopics = new Map() // topic -> Set of partitions | 'all'
    this.fenced = false
    this.generation = -1
    this.topicsVersion = -1
    this.subscribedTopics = []
    this.lastCommit = Date.now()
    this.resolvedSinceCommit = 0
    this.loopDone = null
    this.handling = 0 // handlers running now (stop/disconnect from inside one is deferred)

    const { events, on, emit, listening } = createEvents('consumer', EVENTS, this.log)
    for (const [k, v] of Object.entries(EVENT_NAMES)) events[k] = v
    this.events = events
    this.emitter = { on, emit, listening }
  }

  on(eventName, listener) {
    return this.emitter.on(eventName, listener)
  }

  emit(eventName, payload) {
    this.emitter.emit(eventName, payload)
  }

  listening(eventName) {
    return this.emitter.listening(eventName)
  }

  logger() {
    return this.log
  }

  async connect() {
    if (this.shared) return
    this.shared = await this.kafka._acquire(this)
    this.emit(this.events.CONNECT)
  }

  async disconnect() {
    if (this.handling > 0) {
      // Called from inside a handler, which the loop is waiting for: disconnect once the
      // handler has returned and the loop has ended.
      this.running = false
      if (!this.deferredDisconnect) this.deferredDisconnect = this.loopDone.then(() => this.disconnect())
      return
    }
    await this.stop()
    const shared = this.shared
    if (!shared) return
    this.shared = null
    await this.kafka._release(this, shared)
    this.emit(this.events.DISCONNECT)
  }

  async subscribe({ topic, topics, fromBeginning = false } = {}) {
    if (this.running) {
      throw new KafkaJSNonRetriableError('Cannot subscribe to topic while consumer is running')
    }
    if (!topic && !topics) throw new KafkaJSNonRetriableError('Missing required argument "topics"')
    if (topics != null && !Array.isArray(topics)) throw new KafkaJSNonRetriableError('Argument "topics" must be an array')
    const list = topics || [topic]
    for (const t of list) {
      if (t instanceof RegExp) continue
      if (typeof t !== 'string') {
        throw new KafkaJSNonRetriableError(`Invalid topic ${t} (${typeof t}), the topic name has to be a String or a RegExp`)
      }
      checkTopicName(t)
    }
    const shared = this.requireConnected()
    for (const t of list) {
      if (typeof t === 'string' && shared.partitionCount(t) === null) {
        if (!this.allowAutoTopicCreation || !shared.autoCreateTopics) {
          throw protocolError('UNKNOWN_TOPIC_OR_PARTITION', `This server does not host this topic-partition: topic "${t}" does not exist`)
        }
        await shared.callAsync(() => shared.native.createTopic(t, -1, -1, [], [], false)).catch((e) => {
          if (e.type !== 'TOPIC_ALREADY_EXISTS') throw e
        })
        shared.topicsChanged()
      }
      this.subscriptions.push({ topic: t, fromBeginning: !!fromBeginning })
    }
  }

  requireConnected() {
    if (!this.shared || this.shared.closed) throw new KafkaJSError('The consumer is not connected')
    return this.shared
  }

  /** Topic names the subscriptions match now (RegExps are matched against every topic). */
  matchedTopics() {
    const shared = this.shared
    const all = shared.call(() => shared.native.topics())
    const out = new Set()
    for (const { topic } of this.subscriptions) {
      if (typeof topic === 'string') out.add(topic)
      else for (const t of all) if (topic.test(t)) out.add(t)
    }
    return [...out].sort()
  }

  fromBeginning(topic) {
    let result = false
    for (const s of this.subscriptions) {
      const match = typeof s.topic === 'string' ? s.topic === topic : s.topic.test(topic)
      if (match) result = result || s.fromBeginning
    }
    return result
  }

  async run({
    eachMessage,
    eachBatch,
    eachBatchAutoResolve = true,
    autoCommit = true,
    autoCommitInterval = null,
    autoCommitThreshold = null,
    partitionsConsumedConcurrently = 1,
  } = {}) {
    if (this.running) {
      this.log.warn('consumer#run was called, but the consumer is already running', { groupId: this.groupId })
      return
    }
    if (typeof eachMessage !== 'function' && typeof eachBatch !== 'function') {
      throw new KafkaJSNonRetriableError('Consumer needs an eachMessage or an eachBatch handler')
    }
    if (!Number.isInteger(partitionsConsumedConcurrently) || partitionsConsumedConcurrently < 1) {
      throw new TypeError(`partitionsConsumedConcurrently must be a positive integer, got ${describe(partitionsConsumedConcurrently)}`)
    }
    const shared = this.requireConnected()
    if (this.subscriptions.length === 0) {
      throw new KafkaJSNonRetriableError('The consumer has no subscriptions: call subscribe() before run()')
    }
    this.handlers = { eachMessage, eachBatch, eachBatchAutoResolve }
    this.autoCommit = autoCommit
    this.autoCommitInterval = autoCommitInterval
    this.autoCommitThreshold = autoCommitThreshold
    this.concurrency = partitionsConsumedConcurrently
    this.running = true
    this.join(shared)
    this.heartbeatTimer = setInterval(() => this.heartbeat(), Math.max(10, Math.min(this.heartbeatInterval, this.sessionTimeout / 3)))
    this.heartbeatTimer.unref()
    this.loopDone = this.loop().catch((e) => this.log.error(`Consumer loop failed: ${e.message}`, { stack: e.stack }))
  }

  join(shared) {
    const start = Date.now()
    this.subscribedTopics = this.matchedTopics()
    this.topicsVersion = shared.native.topicsVersion()
    this.member = shared.call(() =>
      shared.native.joinGroup(this.groupId, this.kafka.clientId, this.subscribedTopics, this.sessionTimeout, this.rebalanceTimeout, this.strategy)
    )
    this.memberId = this.member.memberId
    shared.wakeAll()
    this.joinStarted = start
    this.partitions.clear()
    this.generation = -1
    this.fenced = false
    this.seenVersion = -1
  }

  /** Ends the loop's wait at once (stop, resume, seek, a change seen by the timer). */
  wake() {
    if (this.cancelWait) this.cancelWait()
  }

  /** The liveness timer: tells the coordinator this member is alive (and whether a
   * handler is running), and wakes the loop if the group changed. */
  heartbeat() {
    if (!this.running || !this.member) return
    try {
      const a = this.member.poll(this.busySince())
      if (a.generation !== this.generation || a.revoking.length > 0) this.wake()
      this.emit(this.events.HEARTBEAT, { groupId: this.groupId, memberId: this.memberId, groupGenerationId: a.generation })
    } catch {
      // Removed from the group (a stuck handler, say): deliver nothing more until the
      // loop has rejoined.
      this.fenced = true
      this.wake()
    }
  }

  busySince() {
    let since = null
    for (const p of this.partitions.values()) if (p.busy && (since === null || p.busy < since)) since = p.busy
    return since
  }

  async loop() {
    const shared = this.shared
    while (this.running) {
      let a = null
      try {
        // Poll the coordinator only when the group changed (or a hand-over is pending):
        // the liveness timer polls on its own schedule.
        const version = this.member.stateVersion()
        if (version !== this.seenVersion || this.mustPoll) {
          a = this.member.poll(this.busySince())
          this.seenVersion = version
          this.mustPoll = false
        }
      } catch (e) {
        if (!this.running) break
        this.log.warn('Rejoining the group', { groupId: this.groupId, memberId: this.memberId, error: e.message })
        this.emit(this.events.REBALANCING, { groupId: this.groupId, memberId: this.memberId })
        this.join(shared)
        continue
      }
      try {
        await this.iterate(shared, a)
      } catch (e) {
        // Nothing here may end the loop: a topic deleted under the consumer, say, only
        // drops its partitions (the coordinator revokes them too).
        this.log.error(`Consumer loop error: ${e.message}`, { groupId: this.groupId, stack: e.stack })
        for (const [k, p] of this.partitions) if (shared.partitionCount(p.topic) === null) this.partitions.delete(k)
        await new Promise((r) => setTimeout(r, retryDelay(this.retry, 1)))
      }
    }
  }

  async iterate(shared, a) {
    if (a) await this.applyAssignment(shared, a)
    if (!this.running) return
    const ready = this.readyPartitions()
    if (ready.length > 0) this.emit(this.events.FETCH_START, {})
    const batches = []
    for (const p of ready) {
      const batch = this.fetchBatch(shared, p)
      if (batch) batches.push(batch)
    }
    if (batches.length === 0) {
      // Caught up: wait for an append to a topic of ours, a change in the group, a wake-up
      // (stop, resume, seek) or the next retry, bounded by maxWaitTimeInMs.
      let wait = this.maxWaitTimeInMs
      const nextRetry = this.nextRetryAt()
      if (nextRetry !== null) wait = Math.max(0, Math.min(wait, nextRetry - Date.now()))
      const topics = new Set(ready.map((p) => p.topic))
      // Appends happen in this thread's send queue, so none can land between the fetch
      // above and this registration.
      const { promise, cancel } = shared.waitForWork(topics, Math.ceil(wait))
      this.cancelWait = cancel
      await promise
      this.cancelWait = null
      return
    }
    this.emit(this.events.FETCH, { numberOfBatches: batches.length, duration: 0 })
    await this.processAll(batches)
  }

  /** Takes new partitions, gives up revoked ones, follows topics matched by RegExps. */
  async applyAssignment(shared, a) {
    if (a.topicsVersion !== this.topicsVersion && this.subscriptions.some((s) => s.topic instanceof RegExp)) {
      this.topicsVersion = a.topicsVersion
      const topics = this.matchedTopics()
      if (topics.join('\u0000') !== this.subscribedTopics.join('\u0000')) {
        this.subscribedTopics = topics
        this.member.subscribe(topics)
        shared.wakeAll()
      }
    }
    // Revoked partitions: commit what was resolved, then hand them over.
    if (a.revoking.length > 0) {
      const release = []
      for (const { topic, partition } of a.revoking) {
        const p = this.partitions.get(key(topic, partition))
        if (p) {
          p.revoked = true
          if (p.busy) {
            // Its handler finishes first; it is released on a later poll.
            this.mustPoll = true
            continue
          }
          this.partitions.delete(key(topic, partition))
          if (this.autoCommit) await this.commitPartitions([p]).catch((e) => this.log.warn('Commit before hand-over failed', { error: e.message }))
        }
        release.push({ topic, partition })
      }
      if (release.length > 0) {
        shared.call(() => this.member.release(release))
        shared.wakeAll()
      }
    }
    let changed = a.generation !== this.generation
    // Partitions neither assigned nor being revoked are gone altogether (a deleted
    // topic, or this member was replaced): forget them.
    if (this.partitions.size > a.assigned.length + a.revoking.length) {
      const keep = new Set([...a.assigned, ...a.revoking].map(({ topic, partition }) => key(topic, partition)))
      for (const [k, p] of this.partitions) {
        if (!keep.has(k) && !p.busy) {
          this.partitions.delete(k)
          changed = true
        }
      }
    }
    for (const { topic, partition } of a.assigned) {
      if (!this.partitions.has(key(topic, partition))) {
        this.partitions.set(key(topic, partition), this.startingState(shared, topic, partition))
        changed = true
      }
    }
    if (changed) {
      if (this.generation !== -1) this.emit(this.events.REBALANCING, { groupId: this.groupId, memberId: this.memberId })
      this.generation = a.generation
      const memberAssignment = {}
      for (const p of this.partitions.values()) (memberAssignment[p.topic] = memberAssignment[p.topic] || []).push(p.partition)
      for (const t of Object.keys(memberAssignment)) memberAssignment[t].sort((x, y) => x - y)
      // No member computes assignments here (the coordinator does); the longest-standing
      // member is reported as the leader, the one Kafka would most likely have chosen.
      const leaderId = this.listening(this.events.GROUP_JOIN) ? this.shared.call(() => this.shared.native.describeGroup(this.groupId)).members[0]?.memberId ?? null : null
      this.emit(this.events.GROUP_JOIN, {
        duration: Date.now() - this.joinStarted,
        groupId: this.groupId,
        isLeader: leaderId === this.memberId,
        leaderId,
        groupProtocol: this.strategy,
        memberId: this.memberId,
        memberAssignment,
      })
    }
  }

  /** Where to start: the committed offset, else earliest or latest by `fromBeginning`
   * (also when the committed offset is no longer in the log). */
  startingState(shared, topic, partition) {
    const p = new PartitionState(topic, partition)
    const committed = shared.call(() => shared.native.committedOffsets(this.groupId, topic)).find((o) => o.partition === partition)
    const { low, high } = shared.call(() => shared.native.offsets(topic))[partition]
    const seekTo = this.pendingSeeks && this.pendingSeeks.get(key(topic, partition))
    if (seekTo !== undefined) {
      this.pendingSeeks.delete(key(topic, partition))
      p.position = seekTo === -2 ? low : seekTo === -1 ? high : seekTo
      p.resolved = p.position
    } else if (committed && committed.offset >= low && committed.offset <= high) {
      p.position = committed.offset
      p.committed = committed.offset
    } else {
      p.position = this.fromBeginning(topic) ? low : high
    }
    return p
  }

  readyPartitions() {
    const now = Date.now()
    const out = []
    for (const p of this.partitions.values()) {
      if (p.revoked || p.busy || this.isPaused(p.topic, p.partition) || p.retryAt > now) continue
      out.push(p)
    }
    return out
  }

  nextRetryAt() {
    let at = null
    for (const p of this.partitions.values()) if (p.retryAt > 0 && (at === null || p.retryAt < at)) at = p.retryAt
    return at
  }

  fetchBatch(shared, p) {
    let r
    try {
      r = shared.call(() => shared.native.fetch(p.topic, p.partition, p.position, Math.min(this.maxBytesPerPartition, FETCH_CHUNK_BYTES)))
    } catch (e) {
      if (e.type !== 'OFFSET_OUT_OF_RANGE') throw e
      // Retention moved the log start past the position, or a seek went past the end:
      // reset by the same rule as a group without committed offsets.
      const { low, high } = shared.call(() => shared.native.offsets(p.topic))[p.partition]
      p.position = p.position < low && this.fromBeginning(p.topic) ? low : p.position < low ? low : high
      this.log.warn('Offset out of range, resetting', { topic: p.topic, partition: p.partition, offset: p.position })
      return null
    }
    if (r === null) return null
    const count = r.records.length / 8
    if (count === 0) return null
    return new Batch(p, r, count)
  }

  async processAll(batches) {
    if (this.concurrency === 1 || batches.length === 1) {
      for (const b of batches) {
        if (!this.running) return
        await this.process(b)
      }
      return
    }
    let next = 0
    const worker = async () => {
      while (this.running && next < batches.length) await this.process(batches[next++])
    }
    await Promise.all(Array.from({ length: Math.min(this.concurrency, batches.length) }, worker))
  }

  async process(batch) {
    const p = batch.state
    if (p.revoked || !this.partitions.has(key(p.topic, p.partition))) return
    const started = Date.now()
    const reporting = this.listening(this.events.START_BATCH_PROCESS) || this.listening(this.events.END_BATCH_PROCESS)
    const info = reporting
      ? {
          topic: batch.topic,
          partition: batch.partition,
          highWatermark: batch.highWatermark,
          offsetLag: batch.offsetLag(),
          offsetLagLow: batch.offsetLagLow(),
          batchSize: batch.messages.length,
          firstOffset: batch.firstOffset(),
          lastOffset: batch.lastOffset(),
        }
      : null
    if (reporting) this.emit(this.events.START_BATCH_PROCESS, info)
    p.seeked = false
    try {
      if (this.handlers.eachMessage) await this.processEachMessage(batch)
      else await this.processEachBatch(batch)
    } catch (e) {
      p.busy = false
      await this.handlerFailed(p, e)
      return
    }
    p.retries = 0
    p.retryAt = 0
    if (!p.seeked && !p.revoked) p.position = Math.max(p.position, batch.nextOffset)
    if (reporting) this.emit(this.events.END_BATCH_PROCESS, { ...info, duration: Date.now() - started })
    if (this.autoCommit) await this.commitPartitions([p]).catch((e) => this.commitFailed(e))
  }

  async processEachMessage(batch) {
    const p = batch.state
    const { topic, partition } = batch
    const pause = () => {
      this.pause([{ topic, partitions: [partition] }])
      return () => this.resume([{ topic, partitions: [partition] }])
    }
    const heartbeat = async () => this.heartbeat()
    const messages = batch.messages
    for (let i = 0; i < messages.length; i++) {
      if (!this.running || p.seeked || p.revoked || this.fenced) break
      const message = messages[i]
      const started = (p.busy = Date.now())
      this.handling++
      try {
        await this.handlers.eachMessage({ topic, partition, message, heartbeat, pause })
      } finally {
        this.handling--
      }
      p.busy = false
      // After a long handler, make sure this member was not removed meanwhile (the
      // liveness timer may not have run yet) before delivering anything more.
      if (Date.now() - started >= this.heartbeatInterval) this.heartbeat()
      if (this.fenced) break
      p.resolved = Number(message.offset) + 1
      p.position = p.resolved
      this.resolvedSinceCommit++
      if (this.autoCommit && (this.autoCommitInterval !== null || this.autoCommitThreshold !== null)) {
        await this.commitIfNecessary()
      }
      if (this.isPaused(topic, partition)) break
    }
    batch.nextOffset = p.position
  }

  async processEachBatch(batch) {
    const p = batch.state
    const { topic, partition } = batch
    p.busy = Date.now()
    this.handling++
    await this.handlers.eachBatch({
      batch,
      resolveOffset: (offset) => {
        p.resolved = Number(offset) + 1
      },
      heartbeat: async () => this.heartbeat(),
      commitOffsetsIfNecessary: async (offsets) => (offsets ? this.commitOffsets(offsets) : this.commitIfNecessary()),
      uncommittedOffsets: () => this.uncommittedOffsets(),
      isRunning: () => this.running,
      isStale: () => p.seeked || p.revoked,
      pause: () => {
        this.pause([{ topic, partitions: [partition] }])
        return () => this.resume([{ topic, partitions: [partition] }])
      },
    }).finally(() => this.handling--)
    p.busy = false
    if (this.handlers.eachBatchAutoResolve && batch.messages.length > 0) p.resolved = Number(batch.lastOffset()) + 1
  }

  /** A handler threw: the failed message waits on its partition (nothing after it is
   * delivered) and is retried with backoff; other partitions keep flowing, and the group
   * does not rebalance. When retries run out: CRASH, and restart as kafkajs does. */
  async handlerFailed(p, e) {
    this.log.error(`Error when processing ${p.topic}-${p.partition}: ${e.message}`, { topic: p.topic, partition: p.partition, stack: e.stack })
    if (this.autoCommit) await this.commitPartitions([p]).catch(() => {})
    p.position = p.resolved !== null ? p.resolved : p.position
    p.retries += 1
    if (p.retries <= this.retry.retries) {
      p.retryAt = Date.now() + retryDelay(this.retry, p.retries)
      return
    }
    const error = new KafkaJSNumberOfRetriesExceeded(e, { retryCount: p.retries - 1, retryTime: retryDelay(this.retry, p.retries) })
    let restart = true
    if (typeof this.retry.restartOnFailure === 'function') {
      restart = await Promise.resolve()
        .then(() => this.retry.restartOnFailure(error))
        .catch(() => true)
    }
    this.emit(this.events.CRASH, { error, groupId: this.groupId, restart: !!restart })
    if (!restart) {
      // Called from inside the loop: end it here and finish stopping once it has.
      this.running = false
      setImmediate(() => this.stop())
      return
    }
    // Restart: start this partition again from its committed offset after the backoff.
    p.retries = 0
    p.retryAt = Date.now() + retryDelay(this.retry, 1)
    p.position = p.committed !== null ? p.committed : p.position
    p.resolved = null
  }

  commitFailed(e) {
    // Fenced (the partition moved) or the member was removed: the loop rejoins.
    this.log.warn('Offset commit refused', { groupId: this.groupId, error: e.message })
  }

  uncommittedOffsets() {
    const topics = {}
    for (const p of this.partitions.values()) {
      if (p.resolved !== null && p.resolved !== p.committed) {
        ;(topics[p.topic] = topics[p.topic] || []).push({ partition: p.partition, offset: String(p.resolved) })
      }
    }
    return { topics: Object.entries(topics).map(([topic, partitions]) => ({ topic, partitions })) }
  }

  async commitIfNecessary() {
    const now = Date.now()
    const timeUp = this.autoCommitInterval !== null && now >= this.lastCommit + this.autoCommitInterval
    if (timeUp || (this.autoCommitThreshold !== null && this.resolvedSinceCommit >= this.autoCommitThreshold)) {
      await this.commitPartitions([...this.partitions.values()])
    }
  }

  /** Commits the resolved offsets of `states` that moved since their last commit. */
  async commitPartitions(states) {
    const offsets = []
    for (const p of states) {
      if (p.resolved !== null && p.resolved !== p.committed) offsets.push({ topic: p.topic, partition: p.partition, offset: p.resolved, p })
    }
    if (offsets.length === 0 || !this.member) return
    await this.commitToCoordinator(offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset })))
    for (const o of offsets) o.p.committed = o.offset
    this.lastCommit = Date.now()
    this.resolvedSinceCommit = 0
  }

  async commitToCoordinator(offsets) {
    const member = this.member
    const shared = this.shared
    if (shared.fsync) await shared.callAsync(() => member.commit(offsets))
    else shared.call(() => member.commitSync(offsets))
    if (!this.listening(this.events.COMMIT_OFFSETS)) return
    const topics = {}
    for (const { topic, partition, offset } of offsets) (topics[topic] = topics[topic] || []).push({ partition, offset: String(offset) })
    this.emit(this.events.COMMIT_OFFSETS, {
      groupId: this.groupId,
      memberId: this.memberId,
      groupGenerationId: this.generation,
      topics: Object.entries(topics).map(([topic, partitions]) => ({ topic, partitions })),
    })
  }

  /** Commits explicit offsets ([{ topic, partition, offset }], offset = next to read). */
  async commitOffsets(offsets = []) {
    if (!Array.isArray(offsets)) throw new TypeError(`offsets must be an array, got ${describe(offsets)}`)
    if (!this.member) throw new KafkaJSError('The consumer is not running: there is no group membership to commit with')
    const list = offsets.map(({ topic, partition, offset, metadata }) => {
      const o = Number(offset)
      if (!Number.isSafeInteger(o) || o < 0) throw new TypeError(`Invalid offset ${describe(offset)} for ${topic}-${partition}`)
      return { topic, partition, offset: o, metadata: metadata ?? undefined }
    })
    await this.commitToCoordinator(list)
    for (const { topic, partition, offset } of list) {
      const p = this.partitions.get(key(topic, partition))
      if (p) {
        p.committed = offset
        p.resolved = offset
      }
    }
  }

  seek({ topic, partition, offset } = {}) {
    if (typeof topic !== 'string') throw new KafkaJSNonRetriableError(`Invalid topic ${topic}`)
    if (!this.running) throw new KafkaJSNonRetriableError('Consumer group was not initialized, consumer#run must be called first')
    const shared = this.requireConnected()
    const count = shared.partitionCount(topic)
    if (count === null) throw protocolError('UNKNOWN_TOPIC_OR_PARTITION', `This server does not host this topic-partition: unknown topic "${topic}"`)
    if (!Number.isInteger(partition) || partition < 0 || partition >= count) {
      throw protocolError(
        'UNKNOWN_TOPIC_OR_PARTITION',
        `This server does not host this topic-partition: topic "${topic}" has partitions 0 to ${count - 1}, not ${describe(partition)}`,
        { retriable: false }
      )
    }
    const o = Number(offset)
    if (offset === undefined || offset === null || !Number.isSafeInteger(o) || o < -2) {
      throw new KafkaJSNonRetriableError(`Offset must not be a negative number, got ${describe(offset)}`)
    }
    const p = this.partitions.get(key(topic, partition))
    if (!p) {
      // Not assigned to this member (yet): applied if and when it is.
      this.pendingSeeks = this.pendingSeeks || new Map()
      this.pendingSeeks.set(key(topic, partition), o)
      return
    }
    const { low, high } = shared.call(() => shared.native.offsets(topic))[partition]
    p.position = o === -2 ? low : o === -1 ? high : o
    p.resolved = p.position
    p.seeked = true
    p.retries = 0
    p.retryAt = 0
    this.wake()
  }

  pause(topicPartitions = []) {
    if (!Array.isArray(topicPartitions)) throw new TypeError('pause takes an array of { topic, partitions }')
    for (const { topic, partitions } of topicPartitions) {
      if (typeof topic !== 'string') throw new KafkaJSNonRetriableError(`Invalid topic ${topic}`)
      if (!partitions) this.pausedTopics.set(topic, 'all')
      else {
        const cur = this.pausedTopics.get(topic)
        if (cur === 'all') continue
        const set = cur || new Set()
        for (const p of partitions) set.add(p)
        this.pausedTopics.set(topic, set)
      }
    }
  }

  resume(topicPartitions = []) {
    if (!Array.isArray(topicPartitions)) throw new TypeError('resume takes an array of { topic, partitions }')
    for (const { topic, partitions } of topicPartitions) {
      const cur = this.pausedTopics.get(topic)
      if (!cur) continue
      if (!partitions || cur === 'all') this.pausedTopics.delete(topic)
      else {
        for (const p of partitions) cur.delete(p)
        if (cur.size === 0) this.pausedTopics.delete(topic)
      }
    }
    this.wake()
  }

  isPaused(topic, partition) {
    const cur = this.pausedTopics.get(topic)
    return cur === 'all' || (cur !== undefined && cur.has(partition))
  }

  paused() {
    const out = []
    for (const [topic, cur] of this.pausedTopics) {
      const partitions =
        cur === 'all'
          ? [...this.partitions.values()].filter((p) => p.topic === topic).map((p) => p.partition)
          : [...cur]
      out.push({ topic, partitions: partitions.sort((a, b) => a - b) })
    }
    return out
  }

  async describeGroup() {
    const shared = this.requireConnected()
    return describeGroupShape(shared.call(() => shared.native.describeGroup(this.groupId)))
  }

  /** Stops the run loop: in-flight handlers finish, resolved offsets are committed, and
   * the member leaves the group at once so the others take over. */
  stop() {
    if (this.handling > 0) {
      // From inside a handler: stop once it has returned (waiting here would deadlock).
      this.running = false
      if (!this.deferredStop) this.deferredStop = this.loopDone.then(() => this.stop())
      return Promise.resolve()
    }
    if (!this.stopping && this.member) this.stopping = this.finishStop().finally(() => (this.stopping = null))
    return this.stopping || Promise.resolve()
  }

  async finishStop() {
    this.running = false
    clearInterval(this.heartbeatTimer)
    this.wake()
    if (this.loopDone) await this.loopDone
    this.loopDone = null
    if (this.autoCommit) await this.commitPartitions([...this.partitions.values()]).catch((e) => this.commitFailed(e))
    try {
      this.member.leave()
    } catch {
      // Already removed.
    }
    this.shared.wakeAll()
    this.member = null
    this.partitions.clear()
    this.emit(this.events.STOP)
  }
}

function describeGroupShape(g) {
  return {
    errorCode: 0,
    groupId: g.groupId,
    state: g.state,
    protocolType: 'consumer',
    protocol: g.protocol,
    members: g.members.map((m) => ({
      memberId: m.memberId,
      clientId: m.clientId,
      clientHost: '/127.0.0.1',
      memberMetadata: Buffer.alloc(0),
      memberAssignment: Buffer.alloc(0),
      assignment: groupByTopic(m.assigned),
    })),
  }
}

function groupByTopic(tps) {
  const out = {}
  for (const { topic, partition } of tps) (out[topic] = out[topic] || []).push(partition)
  for (const t of Object.keys(out)) out[t].sort((a, b) => a - b)
  return out
}

/** kafkajs's batch: the messages of one partition fetch, with its helper methods. */
class Batch {
  constructor(state, r, count) {
    this.state = state
    this.topic = state.topic
    this.partition = state.partition
    this.highWatermark = String(r.highWatermark)
    const data = r.data
    const rec = r.records
    const hdr = r.headers
    const messages = new Array(count)
    // Records of one producer send share a timestamp: convert it once.
    let lastTs = NaN
    let lastTsText = ''
    for (let i = 0; i < count; i++) {
      const f = i * 8
      if (rec[f + 1] !== lastTs) {
        lastTs = rec[f + 1]
        lastTsText = String(lastTs)
      }
      const kl = rec[f + 3]
      const vl = rec[f + 5]
      const hc = rec[f + 7]
      let headers = {}
      if (hc > 0) {
        headers = {}
        for (let h = rec[f + 6], end = h + hc; h < end; h++) {
          const hf = h * 4
          const name = data.toString('utf8', hdr[hf], hdr[hf] + hdr[hf + 1])
          const value = hdr[hf + 3] < 0 ? null : data.subarray(hdr[hf + 2], hdr[hf + 2] + hdr[hf + 3])
          const prev = headers[name]
          headers[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value]
        }
      }
      messages[i] = {
        magicByte: 2,
        attributes: 0,
        timestamp: lastTsText,
        offset: String(rec[f]),
        key: kl < 0 ? null : data.subarray(rec[f + 2], rec[f + 2] + kl),
        value: vl < 0 ? null : data.subarray(rec[f + 4], rec[f + 4] + vl),
        headers,
        isControlRecord: false,
        batchContext: null,
      }
    }
    this.messages = messages
    this.nextOffset = rec[(count - 1) * 8] + 1
  }

  isEmpty() {
    return this.messages.length === 0
  }

  firstOffset() {
    return this.isEmpty() ? null : this.messages[0].offset
  }

  lastOffset() {
    return this.isEmpty() ? String(Number(this.highWatermark) - 1) : this.messages[this.messages.length - 1].offset
  }

  offsetLag() {
    return String(Math.max(0, Number(this.highWatermark) - 1 - Number(this.lastOffset())))
  }

  offsetLagLow() {
    if (this.isEmpty()) return '0'
    return String(Math.max(0, Number(this.highWatermark) - 1 - Number(this.firstOffset())))
  }
}

module.exports = { Consumer, PartitionAssigners, describeGroupShape }
