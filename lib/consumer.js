'use strict'

// kafkajs's Consumer over samsa's group coordinator.
//
// One run loop per consumer pulls batches from the native side (one call per partition
// batch: one Buffer plus a table of offsets), awaits the user's handler per message in
// offset order, and commits resolved offsets. Assignment is done by the coordinator: a
// partition leaving this member is revoked (its handler finishes, its resolved offsets are
// committed, then it is released), so a clean rebalance delivers no duplicates and the
// partitions that stay keep flowing. Liveness is a timer, not the handler's heartbeat().
//
// The loop is a good guest on the application's event loop: it yields to it at least
// every few milliseconds however fast the handler is (so timers, I/O and the release of
// fetched buffers keep up during a catch-up), and only fetches partitions that an append
// (or an assignment, seek or resume) made readable, so thousands of idle partitions cost
// nothing per message.

const {
  KafkaJSError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  protocolError,
} = require('./errors')
const { createEvents } = require('./instrumentation')
const { checkTopicName, describe, show, isPartition, toOffset, checkMillis, checkListener } = require('./validate')
const { retryDelay, retryConfig } = require('./retry')
const { describeGroupShape, groupByTopic } = require('./group-description')
const { Batch } = require('./batch')
const { SubscriptionState } = require('./subscription-state')

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

// The methods kafkajs's consumer offers as closures: bound here, so destructuring them
// (`const { connect, run } = kafka.consumer(...)`) works as it does with kafkajs.
const PUBLIC_METHODS = [
  'connect', 'disconnect', 'subscribe', 'stop', 'run', 'commitOffsets', 'seek', 'describeGroup',
  'pause', 'paused', 'resume', 'on', 'logger',
]

const key = (topic, partition) => `${topic}\u0000${partition}`

// Bytes asked of one partition per fetch (at most maxBytesPerPartition): smaller batches
// die young in V8's heap instead of being promoted, which measured faster than 1 MiB.
const FETCH_CHUNK_BYTES = 256 * 1024
// Each consumer reads with an id of its own: in a process that does not own the directory,
// what is fetched ahead for one consumer is never taken by another reading the same partition.
let readers = 0
// The longest the loop runs before it lets the event loop turn. An HTTP request on a new
// connection needs about four turns (accept, read, respond, the client's next connect),
// so 2 ms keeps a same-process server's p99 under 20 ms while a consumer catches up (at 5
// ms it was 28-35 ms; the catch-up rate did not change measurably).
const YIELD_AFTER_MS = 2
// The longest wait between two tries of a loop that keeps failing (the process that owns
// the directory is away, say): the wait grows from retry.initialRetryTime as kafkajs's
// retries do, so a long outage logs a line every few seconds rather than every 300 ms,
// and the consumer goes on within this long once the cause is gone.
const LOOP_RETRY_MAX_MS = 5000
// Messages between two looks at the clock inside a batch.
const CLOCK_EVERY = 64
// Partitions started between two looks at the clock when a large assignment arrives.
const START_SLICE = 500

const nextTurn = () => new Promise((resolve) => setImmediate(resolve))
// Background commits after batches start at most this often: at low latency a busy
// partition yields a batch every fraction of a millisecond, and a commit (a round trip to
// the coordinator, a write to its offsets file) per batch would cost more than the
// batches. A lone batch commits at once; anything that must commit now cuts the wait.
const COMMIT_SPACING_MS = 5

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
    // A seek happened while a batch of this partition was being handled: the rest of
    // that batch is not delivered.
    this.seeked = false
    // The error of damaged data at `position`: nothing is fetched until a seek.
    this.damaged = null
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
    } = options === null || typeof options !== 'object' ? {} : options
    if (typeof groupId !== 'string' || groupId.length === 0) {
      throw new KafkaJSNonRetriableError(`Consumer groupId must be a non-empty string, got ${describe(groupId)}.`)
    }
    // Timer durations: a Node timer waits at most 2^31 - 1 ms.
    for (const [name, v] of Object.entries({ sessionTimeout, rebalanceTimeout, heartbeatInterval, maxWaitTimeInMs })) {
      checkMillis(v, name, { positive: true })
    }
    if (!Number.isSafeInteger(maxBytesPerPartition) || maxBytesPerPartition <= 0) {
      throw new TypeError(`maxBytesPerPartition must be a positive integer, got ${describe(maxBytesPerPartition)}`)
    }
    if (typeof allowAutoTopicCreation !== 'boolean') throw new TypeError(`allowAutoTopicCreation must be a boolean, got ${describe(allowAutoTopicCreation)}`)
    if (!Array.isArray(partitionAssigners) || partitionAssigners.length === 0) {
      throw new KafkaJSNonRetriableError('partitionAssigners must be a non-empty array')
    }
    const assigner = partitionAssigners[0]
    if (!assigner || (assigner.samsaName !== 'RoundRobinAssigner' && assigner.samsaName !== 'RangeAssigner')) {
      throw new KafkaJSNonRetriableError(
        'Custom partition assigners are not supported by samsa yet: use PartitionAssigners.roundRobin or PartitionAssigners.range'
      )
    }
    const retrySettings = retryConfig(kafka.retry, retry)
    this.kafka = kafka
    this.groupId = groupId
    this.log = kafka.logger().namespace('Consumer')
    this.strategy = assigner.samsaName
    this.sessionTimeout = sessionTimeout
    this.rebalanceTimeout = rebalanceTimeout
    this.heartbeatInterval = heartbeatInterval
    this.maxBytesPerPartition = maxBytesPerPartition
    this.maxWaitTimeInMs = maxWaitTimeInMs
    this.retry = retrySettings
    this.allowAutoTopicCreation = allowAutoTopicCreation

    this.shared = null
    this.subscriptions = [] // { topic: string | RegExp, fromBeginning }
    this.running = false
    this.member = null
    this.partitions = new Map() // key -> PartitionState (owned by this member)
    this.readerId = ++readers
    // Owned partitions that may have data to fetch.
    this.readable = new Set()
    this.subscription = null // pause/resume state, from run() on
    this.fenced = false
    this.generation = -1
    this.topicsVersion = -1
    this.subscribedTopics = []
    this.subscribedSet = new Set()
    this.lastCommit = Date.now()
    this.resolvedSinceCommit = 0
    this.committing = null // the commit after a batch, while in flight (see commitSoon)
    this.commitAgain = false
    this.commitStarted = 0 // when the last background commit went out (performance.now())
    this.commitWait = null // { timer, go }: a background commit waiting for its turn
    this.commitNow = false // someone waits for the background commits: no more turns
    this.loopDone = null
    this.handling = 0 // handlers running now (stop/disconnect from inside one is deferred)
    this.pendingSeeks = new Map() // seeks of partitions not (yet) assigned to this member
    this.wakeup = null
    this.lastYield = 0
    this.loopFailures = 0 // failed tries of the loop in a row

    const { events, on, emit, listening } = createEvents('consumer', EVENTS, this.log)
    for (const [k, v] of Object.entries(EVENT_NAMES)) events[k] = v
    this.events = events
    this.emitter = { on, emit, listening }
    for (const name of PUBLIC_METHODS) this[name] = this[name].bind(this)
  }

  on(eventName, listener) {
    checkListener(listener)
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
    if (this.handling > 0 && calledFromHandler()) {
      // Called from inside a handler, which the loop is waiting for: disconnect once the
      // handler has returned and the loop has ended (kafkajs would deadlock here).
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

  async subscribe(options) {
    if (options === null || typeof options !== 'object') throw new TypeError(`subscribe takes { topic | topics, fromBeginning }, got ${describe(options)}`)
    const { topic, topics, fromBeginning = false } = options
    if (this.running) {
      throw new KafkaJSNonRetriableError('Cannot subscribe to topic while consumer is running')
    }
    if (!topic && !topics) throw new KafkaJSNonRetriableError('Missing required argument "topics"')
    if (topics != null && !Array.isArray(topics)) throw new KafkaJSNonRetriableError('Argument "topics" must be an array')
    const list = topics || [topic]
    for (const t of list) {
      if (t instanceof RegExp) continue
      if (typeof t !== 'string') {
        throw new KafkaJSNonRetriableError(`Invalid topic ${show(t)} (${typeof t}), the topic name has to be a String or a RegExp`)
      }
      checkTopicName(t)
    }
    const shared = this.requireConnected()
    for (const t of list) {
      if (typeof t === 'string' && (await shared.partitionCountFresh(t)) === null) {
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
  async matchedTopics() {
    const shared = this.shared
    const all = this.subscriptions.some((s) => s.topic instanceof RegExp) ? await shared.callAsync(() => shared.native.topics()) : []
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

  async run(options = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError(`run takes { eachMessage | eachBatch, ... }, got ${describe(options)}`)
    const {
      eachMessage,
      eachBatch,
      eachBatchAutoResolve = true,
      autoCommit = true,
      autoCommitInterval = null,
      autoCommitThreshold = null,
      partitionsConsumedConcurrently = 1,
    } = options
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
    for (const [name, v] of Object.entries({ autoCommitInterval, autoCommitThreshold })) {
      if (v !== null && v !== undefined && (!Number.isFinite(v) || v < 0)) throw new TypeError(`${name} must be a non-negative number or null, got ${describe(v)}`)
    }
    const shared = this.requireConnected()
    if (this.subscriptions.length === 0) {
      throw new KafkaJSNonRetriableError('The consumer has no subscriptions: call subscribe() before run()')
    }
    this.handlers = { eachMessage, eachBatch, eachBatchAutoResolve }
    this.loopFailures = 0
    this.autoCommit = autoCommit !== false
    this.autoCommitInterval = autoCommitInterval ?? null
    this.autoCommitThreshold = autoCommitThreshold ?? null
    this.concurrency = partitionsConsumedConcurrently
    this.subscription = this.subscription || new SubscriptionState()
    this.running = true
    // The first assignment and starting positions are fixed before run() resolves (so a
    // send made after it is news to a group that starts at the latest offset), and the
    // first fetch waits for the next turn of the event loop (so a seek made right after
    // run() resolves applies before anything is delivered, as with kafkajs).
    try {
      await shared.joining(async () => {
        await this.join(shared)
        shared.addConsumer(this)
        const version = this.member.stateVersion()
        const first = shared.call(() => this.member.poll(null))
        this.seenVersion = version
        await this.applyAssignment(shared, first)
      })
    } catch (e) {
      // Not running after all: out of the group again, so no partitions stay held.
      this.running = false
      if (this.member) await this.member.leave().catch(() => {})
      shared.removeConsumer(this)
      this.member = null
      throw e
    }
    this.heartbeatTimer = setInterval(() => this.heartbeat(), Math.max(10, Math.min(this.heartbeatInterval, this.sessionTimeout / 3)))
    this.heartbeatTimer.unref()
    this.loopDone = this.loop().catch((e) => this.log.error(`Consumer loop failed: ${e.message}`, { stack: e.stack }))
  }

  async join(shared) {
    const start = Date.now()
    this.subscribedTopics = await this.matchedTopics()
    this.subscribedSet = new Set(this.subscribedTopics)
    this.topicsVersion = shared.native.topicsVersion()
    // The heartbeat interval is for a member in a process that does not own the
    // directory: its heartbeats are requests of its own.
    this.member = await shared.callAsync(() =>
      shared.native.joinGroup(
        this.groupId,
        this.kafka.clientId,
        this.subscribedTopics,
        this.sessionTimeout,
        this.rebalanceTimeout,
        this.strategy,
        this.heartbeatInterval
      )
    )
    this.memberId = this.member.memberId
    shared.wakeGroup(this.groupId)
    this.joinStarted = start
    this.partitions.clear()
    this.readable.clear()
    this.generation = -1
    this.fenced = false
    this.seenVersion = -1
  }

  /** Whether appends to `topic` concern this consumer (the broker's notification). */
  subscribedTo(topic) {
    return this.subscribedSet.has(topic)
  }

  /** An append landed on a partition: fetch it if it is ours. */
  dataArrived(topic, partition) {
    const k = key(topic, partition)
    if (this.partitions.has(k)) {
      this.readable.add(k)
      this.wake()
    }
  }

  /** Ends the loop's wait at once (stop, resume, seek, new data, a group change). */
  wake() {
    if (this.wakeup) this.wakeup()
  }

  /** The liveness timer: tells the coordinator this member is alive (and whether a
   * handler is running), and wakes the loop if the group changed. */
  heartbeat() {
    if (!this.running || !this.member) return
    try {
      const a = this.member.beat(this.busySince())
      if (a.generation !== this.generation || a.revoking > 0) this.wake()
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

  /** Lets the event loop turn if the loop has held it for a while. */
  async maybeYield() {
    const now = performance.now()
    if (now - this.lastYield < YIELD_AFTER_MS) return
    await nextTurn()
    this.lastYield = performance.now()
  }

  async loop() {
    const shared = this.shared
    await nextTurn()
    this.lastYield = performance.now()
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
        this.log.warn('Rejoining the group', { groupId: this.groupId, memberId: this.memberId, error: shared.error(e).message })
        this.emit(this.events.REBALANCING, { groupId: this.groupId, memberId: this.memberId })
        try {
          await this.join(shared)
          this.loopFailures = 0
        } catch (joinError) {
          // A closed broker ends the loop; anything else is tried again.
          if (!this.running || shared.closed) break
          // The owning process is away, say: try again after the retry delay.
          const retryTime = this.loopRetryTime()
          this.log.warn('Joining the group failed', { groupId: this.groupId, error: joinError.message, retryCount: this.loopFailures, retryTime })
          await this.pauseLoop(retryTime)
        }
        continue
      }
      try {
        await this.iterate(shared, a)
        this.loopFailures = 0
      } catch (e) {
        // Nothing here may end the loop: a topic deleted under the consumer, say, only
        // drops its partitions (the coordinator revokes them too).
        const retryTime = this.loopRetryTime()
        this.log.error(`Consumer loop error: ${e.message}`, { groupId: this.groupId, retryCount: this.loopFailures, retryTime, stack: e.stack })
        // An assignment this round failed to take (its offsets could not be looked up, say)
        // is taken again from the coordinator on the next.
        if (a) this.mustPoll = true
        for (const [k, p] of this.partitions) if ((await shared.partitionCountFresh(p.topic).catch(() => 0)) === null) this.forget(k)
        if (!this.running) break
        await this.pauseLoop(retryTime)
      }
      await this.maybeYield()
    }
  }

  /** Waits `ms` before the loop tries again, or less if the consumer stops meanwhile.
   * Other wake-ups do not cut it short: while the owner is away, its failed fetches are
   * announced too, and would bring the tries back to one a second. */
  async pauseLoop(ms) {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.wakeup = () => {
        if (this.running) return
        clearTimeout(timer)
        resolve()
      }
    })
    this.wakeup = null
  }

  /** Counts a failed try of the loop and says how long to wait before the next. */
  loopRetryTime() {
    this.loopFailures++
    // The exponent stays small: a wait that overflowed would come out as NaN (no wait).
    return Math.min(LOOP_RETRY_MAX_MS, retryDelay(this.retry, Math.min(this.loopFailures, 20)))
  }

  forget(k) {
    this.partitions.delete(k)
    this.readable.delete(k)
  }

  async iterate(shared, a) {
    if (a) await this.applyAssignment(shared, a)
    if (!this.running) return
    const ready = this.readyPartitions()
    if (ready.length > 0 && this.listening(this.events.FETCH_START)) this.emit(this.events.FETCH_START, { nodeId: 0 })
    // Fetch and handle in rounds of as many partitions as may be handled at once, so a
    // consumer of thousands of partitions yields between rounds.
    let delivered = 0
    const round = Math.max(this.concurrency, 1)
    for (let i = 0; i < ready.length && this.running; i += round) {
      const batches = []
      const started = Date.now()
      for (const p of ready.slice(i, i + round)) {
        const batch = this.fetchBatch(shared, p)
        if (batch) batches.push(batch)
      }
      if (batches.length === 0) continue
      delivered += batches.length
      this.emit(this.events.FETCH, { numberOfBatches: batches.length, duration: Date.now() - started, nodeId: 0 })
      await this.processAll(batches)
      await this.maybeYield()
    }
    if (delivered > 0 || !this.running) return
    // Nothing to do: wait for an append to one of our partitions, a change in the group, a
    // wake-up (stop, resume, seek) or the next retry, bounded by maxWaitTimeInMs.
    let wait = this.maxWaitTimeInMs
    const nextRetry = this.nextRetryAt()
    if (nextRetry !== null) wait = Math.max(0, Math.min(wait, nextRetry - Date.now()))
    const woken = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), Math.ceil(wait))
      this.wakeup = () => {
        clearTimeout(timer)
        resolve(true)
      }
    })
    this.wakeup = null
    // The wait let the event loop turn: records that arrived now are fetched at once, not
    // after a turn more (behind the I/O and V8's tasks queued meanwhile).
    this.lastYield = performance.now()
    // A quiet wait ends with every partition looked at again (a safety net: every
    // append made in this process is announced).
    if (!woken) for (const k of this.partitions.keys()) this.readable.add(k)
  }

  /** Takes new partitions, gives up revoked ones, follows topics matched by RegExps. */
  async applyAssignment(shared, a) {
    if (a.topicsVersion !== this.topicsVersion && this.subscriptions.some((s) => s.topic instanceof RegExp)) {
      this.topicsVersion = a.topicsVersion
      const topics = await this.matchedTopics()
      if (topics.join('\u0000') !== this.subscribedTopics.join('\u0000')) {
        this.subscribedTopics = topics
        this.subscribedSet = new Set(topics)
        this.member.subscribe(topics)
        shared.wakeGroup(this.groupId)
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
          if (this.autoCommit) await this.commitPartitions([p]).catch((e) => this.log.warn('Commit before hand-over failed', { error: e.message }))
        }
        release.push({ topic, partition })
      }
      if (release.length > 0) {
        shared.call(() => this.member.release(release))
        shared.wakeGroup(this.groupId)
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
        await this.startPartitions(shared, added.slice(i, i + START_SLICE), marks)
        await this.maybeYield()
      }
      changed = true
    }
    if (changed) {
      if (this.generation !== -1) this.emit(this.events.REBALANCING, { groupId: this.groupId, memberId: this.memberId })
      this.generation = a.generation
      this.subscription.assign(this.assignedByTopic())
      // As kafkajs, every new assignment is logged ("Consumer has joined the group") and
      // emitted as GROUP_JOIN. No member computes assignments here (the coordinator
      // does); the longest-standing member is reported as the leader, the one Kafka would
      // most likely have chosen.
      const leaderId = (await this.shared.callAsync(() => this.shared.native.groupLeader(this.groupId)).catch(() => null)) ?? null
      const joined = {
        duration: Date.now() - this.joinStarted,
        groupId: this.groupId,
        isLeader: leaderId === this.memberId,
        leaderId,
        groupProtocol: this.strategy,
        memberId: this.memberId,
        memberAssignment: groupByTopic([...this.partitions.values()]),
      }
      this.log.info('Consumer has joined the group', joined)
      this.emit(this.events.GROUP_JOIN, joined)
    }
  }

  assignedByTopic() {
    return Object.entries(groupByTopic([...this.partitions.values()])).map(([topic, partitions]) => ({ topic, partitions }))
  }

  /** Where to start each new partition: a pending seek, else the committed offset, else
   * earliest or latest by `fromBeginning` (also when the committed offset is no longer in
   * the log). One native call per topic, however many partitions arrive. */
  async startPartitions(shared, added, cache = new Map()) {
    const byTopic = new Map()
    for (const tp of added) {
      if (!byTopic.has(tp.topic)) byTopic.set(tp.topic, [])
      byTopic.get(tp.topic).push(tp.partition)
    }
    for (const [topic, partitions] of byTopic) {
      // One native call per topic for committed offsets and one for watermarks, however
      // many slices its partitions start in.
      let known = cache.get(topic)
      if (!known) {
        known = {
          committed: new Map((await shared.callAsync(() => shared.native.committedOffsets(this.groupId, topic))).map((o) => [o.partition, o.offset])),
          marks: await shared.callAsync(() => shared.native.watermarks(topic)),
        }
        cache.set(topic, known)
      }
      const { committed, marks } = known
      for (const partition of partitions) {
        const k = key(topic, partition)
        const p = new PartitionState(topic, partition)
        const low = marks[2 * partition] || 0
        const high = marks[2 * partition + 1] || 0
        const c = committed.get(partition)
        const seekTo = this.pendingSeeks.get(k)
        if (seekTo !== undefined) {
          this.pendingSeeks.delete(k)
          p.position = seekTo === -2 ? low : seekTo === -1 ? high : seekTo
          p.resolved = p.position
          if (c !== undefined) p.committed = c
        } else if (c !== undefined && c >= low && c <= high) {
          p.position = c
          p.committed = c
        } else {
          p.position = this.fromBeginning(topic) ? low : high
        }
        this.partitions.set(k, p)
        this.readable.add(k)
      }
    }
  }

  readyPartitions() {
    const now = Date.now()
    const out = []
    for (const k of this.readable) {
      const p = this.partitions.get(k)
      if (!p) {
        this.readable.delete(k)
        continue
      }
      if (p.revoked || p.busy || p.damaged || p.resetting || p.retryAt > now || this.subscription.isPaused(p.topic, p.partition)) continue
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
      r = shared.native.fetch(p.topic, p.partition, p.position, Math.min(this.maxBytesPerPartition, FETCH_CHUNK_BYTES), this.readerId)
    } catch (raw) {
      const e = shared.error(raw)
      if (e.type === 'OFFSET_OUT_OF_RANGE') {
        // Retention moved the log start past the position, or a seek went past the end:
        // reset as kafkajs does, to the earliest offset with fromBeginning and to the
        // latest without.
        const fromBeginning = this.fromBeginning(p.topic)
        this.moveTo(shared, p, fromBeginning ? -2 : -1, () =>
          this.log.warn('Offset out of range, resetting', { topic: p.topic, partition: p.partition, offset: p.position })
        )
        return null
      }
      if (e.type === 'CORRUPT_MESSAGE') {
        this.partitionDamaged(p, e)
        return null
      }
      throw e
    }
    if (r === null) {
      this.readable.delete(key(p.topic, p.partition))
      return null
    }
    const count = r.records.length / 8
    if (count === 0) {
      this.readable.delete(key(p.topic, p.partition))
      return null
    }
    return new Batch(p, r, count)
  }

  /** Stored data of a partition is damaged at its position: retrying a disk read cannot
   * help, so the partition stops there (the others keep flowing) and the application
   * hears of it through CRASH; a seek past the damage starts it again. */
  partitionDamaged(p, error) {
    p.damaged = error
    this.log.error(`Stopped ${p.topic}-${p.partition} at damaged data: ${error.message}`, { topic: p.topic, partition: p.partition, offset: String(p.position) })
    this.emit(this.events.CRASH, { error, groupId: this.groupId, restart: false })
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
    if (p.revoked || this.partitions.get(key(p.topic, p.partition)) !== p) return
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
    // After a seek the position is where the seek put it; otherwise past this batch.
    if (!p.seeked && !p.revoked) p.position = Math.max(p.position, batch.nextOffset)
    if (reporting) this.emit(this.events.END_BATCH_PROCESS, { ...info, duration: Date.now() - started })
    if (this.autoCommit) this.commitSoon()
  }

  async processEachMessage(batch) {
    const p = batch.state
    const { topic, partition } = batch
    const pause = () => {
      this.pause([{ topic, partitions: [partition] }])
      return () => this.resume([{ topic, partitions: [partition] }])
    }
    const heartbeat = async () => this.heartbeat()
    const { eachMessage } = this.handlers
    const messages = batch.messages
    for (let i = 0; i < messages.length; i++) {
      if (!this.running || p.seeked || p.revoked || this.fenced) break
      const message = messages[i]
      const started = (p.busy = Date.now())
      this.handling++
      try {
        await eachMessage({ topic, partition, message, heartbeat, pause })
      } finally {
        this.handling--
      }
      p.busy = false
      // A seek from inside the handler: the rest of this batch is skipped and reading
      // resumes where the seek points (as kafkajs does).
      if (p.seeked) break
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
      if (this.subscription.isPaused(topic, partition)) break
      if ((i & (CLOCK_EVERY - 1)) === CLOCK_EVERY - 1) await this.maybeYield()
    }
    if (!p.seeked) batch.nextOffset = p.position
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
      // Stale once the batch's partition was sought, revoked, or taken away from this
      // member (it was removed for a long handler): what it handles now may be handled
      // by the new owner too.
      isStale: () => p.seeked || p.revoked || this.fenced || !this.member || !this.member.owns(topic, partition),
      pause: () => {
        this.pause([{ topic, partitions: [partition] }])
        return () => this.resume([{ topic, partitions: [partition] }])
      },
    }).finally(() => this.handling--)
    p.busy = false
    if (this.handlers.eachBatchAutoResolve && batch.messages.length > 0 && !p.seeked) p.resolved = Number(batch.lastOffset()) + 1
  }

  /** A handler threw: the failed message waits on its partition (nothing after it is
   * delivered) and is retried with backoff; other partitions keep flowing, and the group
   * does not rebalance. When retries run out: CRASH, and restart as kafkajs does. */
  async handlerFailed(p, e) {
    this.log.error(`Error when processing ${p.topic}-${p.partition}: ${e.message}`, { topic: p.topic, partition: p.partition, stack: e.stack })
    if (this.autoCommit) await this.commitPartitions([p]).catch(() => {})
    if (!p.seeked) p.position = p.resolved !== null ? p.resolved : p.position
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

  /** The commit after a batch, without holding up the next batch for the coordinator's
   * answer (kafkajs awaits it: a round trip per batch on the path of every message). One
   * commit is in flight at a time, one starts at most every COMMIT_SPACING_MS, and the
   * batches processed meanwhile are committed together. At least once still holds: only
   * processed offsets are committed, and a revocation, a stop or an explicit commit
   * waits for this one first (see commitsDone). */
  commitSoon() {
    if (this.committing) {
      this.commitAgain = true
      return
    }
    this.committing = (async () => {
      do {
        // (A timer counts from the event loop's cached time and may fire early: hence
        // the loop.)
        let wait
        while ((wait = this.commitStarted + COMMIT_SPACING_MS - performance.now()) > 0 && !this.commitNow) {
          await new Promise((go) => {
            this.commitWait = { timer: setTimeout(go, wait), go }
          })
          this.commitWait = null
        }
        // Batches that end from here on are not in this commit's offsets.
        this.commitAgain = false
        this.commitStarted = performance.now()
        await this.commitResolved([...this.partitions.values()]).catch((e) => this.commitFailed(e))
      } while (this.commitAgain && this.member)
    })().finally(() => {
      this.committing = null
      this.commitNow = false
    })
  }

  /** The background commit, now: a revocation, a stop or an explicit commit waits for
   * it, and not for its turn. */
  async commitsDone() {
    if (!this.committing) return
    this.commitNow = true
    const w = this.commitWait
    if (w) {
      clearTimeout(w.timer)
      w.go()
    }
    await this.committing
  }

  /** Commits the resolved offsets of `states` that moved since their last commit, after
   * the background commits in flight (if any; they never reject). */
  async commitPartitions(states) {
    await this.commitsDone()
    await this.commitResolved(states)
  }

  async commitResolved(states) {
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
    await shared.callAsync(() => member.commit(offsets))
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

  /** Commits explicit offsets ([{ topic, partition, offset, metadata }], offset = next
   * to read), with kafkajs's checks. */
  async commitOffsets(offsets = []) {
    if (!Array.isArray(offsets)) throw new TypeError(`offsets must be an array, got ${describe(offsets)}`)
    // Every index, holes of a sparse array included (map would skip them).
    const list = Array.from({ length: offsets.length }, (_, i) => {
      const o = offsets[i]
      if (o === null || typeof o !== 'object') throw new TypeError(`offsets[] must be objects like { topic, partition, offset }, got ${describe(o)}`)
      const { topic, partition, offset, metadata = null } = o
      if (!topic || typeof topic !== 'string') throw new KafkaJSNonRetriableError(`Invalid topic ${show(topic)}`)
      checkTopicName(topic)
      if (!Number.isInteger(partition)) throw new KafkaJSNonRetriableError(`Invalid partition, expected a number received ${show(partition)}`)
      if (!isPartition(partition)) throw new TypeError(`partition must be an integer from 0 to 2147483647, got ${describe(partition)}`)
      const n = toOffset(offset)
      if (n === null) throw new KafkaJSNonRetriableError(`Invalid offset, expected a long received ${show(offset)}`)
      if (n < 0) throw new KafkaJSNonRetriableError('Offset must not be a negative number')
      if (metadata !== null && typeof metadata !== 'string') {
        throw new KafkaJSNonRetriableError(`Invalid offset metadata, expected string or null, received ${show(metadata)}`)
      }
      return { topic, partition, offset: n, metadata: metadata ?? undefined }
    })
    if (!this.member) throw new KafkaJSNonRetriableError('Consumer group was not initialized, consumer#run must be called first')
    await this.commitsDone()
    await this.commitToCoordinator(list)
    for (const { topic, partition, offset } of list) {
      const p = this.partitions.get(key(topic, partition))
      if (p) {
        p.committed = offset
        p.resolved = offset
      }
    }
  }

  /** Moves a partition's position (kafkajs's seek): from inside a handler, the rest of
   * the batch is skipped; for a partition not assigned yet, it applies when it is. With
   * autoCommit the new position is what the group commits next. */
  seek(options) {
    if (options === null || typeof options !== 'object') throw new KafkaJSNonRetriableError(`Invalid topic ${show(options)}`)
    const { topic, partition, offset } = options
    if (!topic || typeof topic !== 'string') throw new KafkaJSNonRetriableError(`Invalid topic ${show(topic)}`)
    checkTopicName(topic)
    if (!Number.isInteger(partition)) throw new KafkaJSNonRetriableError(`Invalid partition, expected a number received ${show(partition)}`)
    const o = toOffset(offset)
    if (o === null) throw new KafkaJSNonRetriableError(`Invalid offset, expected a long received ${show(offset)}`)
    if (o < 0 && o !== -1 && o !== -2) throw new KafkaJSNonRetriableError('Offset must not be a negative number')
    if (!this.running || !this.subscription) throw new KafkaJSNonRetriableError('Consumer group was not initialized, consumer#run must be called first')
    const shared = this.requireConnected()
    const count = shared.partitionCount(topic)
    if (count === null) throw protocolError('UNKNOWN_TOPIC_OR_PARTITION', `This server does not host this topic-partition: unknown topic "${topic}"`)
    if (partition < 0 || partition >= count) {
      throw protocolError(
        'UNKNOWN_TOPIC_OR_PARTITION',
        `This server does not host this topic-partition: topic "${topic}" has partitions 0 to ${count - 1}, not ${describe(partition)}`,
        { retriable: false }
      )
    }
    const k = key(topic, partition)
    const p = this.partitions.get(k)
    if (!p) {
      // Not assigned to this member (yet): applied if and when it is.
      this.pendingSeeks.set(k, o)
      return
    }
    p.seeked = true
    p.damaged = null
    p.retries = 0
    p.retryAt = 0
    this.moveTo(shared, p, o, () => (p.resolved = p.position))
  }

  /**
   * Moves a partition's position to `o` (-2 earliest, -1 latest, else the offset). The
   * watermarks of a directory another process owns come by request: meanwhile the
   * partition is not fetched. `then` runs once the position is set.
   */
  moveTo(shared, p, o, then) {
    // The latest move wins: a lookup still running for an earlier one is dropped.
    p.resetting = null
    const k = key(p.topic, p.partition)
    const done = (low, high) => {
      p.position = o === -2 ? low : o === -1 ? high : o
      then()
      this.readable.add(k)
      this.wake()
    }
    if (o >= 0) return done(o, o)
    const marks = shared.native.offsets(p.topic)
    const token = {}
    p.resetting = token
    marks.then(
      (m) => {
        if (p.resetting !== token) return
        p.resetting = null
        done(m[p.partition].low, m[p.partition].high)
      },
      (e) => {
        if (p.resetting !== token) return
        this.log.warn('Looking up offsets failed', { topic: p.topic, partition: p.partition, error: shared.error(e).message })
        setTimeout(() => {
          if (p.resetting !== token) return
          p.resetting = null
          if (this.running) this.moveTo(shared, p, o, then)
        }, retryDelay(this.retry, 1))
      }
    )
  }

  pause(topicPartitions = []) {
    checkTopicPartitions(topicPartitions, 'pause')
    if (!this.subscription) throw new KafkaJSNonRetriableError('Consumer group was not initialized, consumer#run must be called first')
    this.subscription.pause(topicPartitions)
  }

  resume(topicPartitions = []) {
    checkTopicPartitions(topicPartitions, 'resume')
    if (!this.subscription) throw new KafkaJSNonRetriableError('Consumer group was not initialized, consumer#run must be called first')
    this.subscription.resume(topicPartitions)
    for (const { topic } of topicPartitions) {
      for (const [k, p] of this.partitions) if (p.topic === topic) this.readable.add(k)
    }
    this.wake()
  }

  paused() {
    return this.subscription ? this.subscription.paused() : []
  }

  async describeGroup() {
    const shared = this.requireConnected()
    return describeGroupShape(await shared.callAsync(() => shared.native.describeGroup(this.groupId)))
  }

  /** Stops the run loop: in-flight handlers finish, resolved offsets are committed, and
   * the member leaves the group at once so the others take over. */
  stop() {
    if (this.handling > 0 && calledFromHandler()) {
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
      await this.member.leave()
    } catch {
      // Already removed.
    }
    this.shared.removeConsumer(this)
    this.shared.wakeGroup(this.groupId)
    this.member = null
    this.partitions.clear()
    this.readable.clear()
    this.subscription = null
    this.emit(this.events.STOP)
  }
}

/** Whether the caller runs inside a handler this module called, so stop() and
 * disconnect() can tell a call from inside a handler (which must not wait for the handler
 * to return) from one made elsewhere while a handler runs (which must): V8's async stack
 * traces follow `await` chains back to the two methods that await handlers (and nothing
 * else of theirs stops the consumer). A wrapper function just for its name cost an
 * eachMessage consumer 15%. Only looked at while a handler runs. */
function calledFromHandler() {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 1000
  const stack = new Error().stack
  Error.stackTraceLimit = limit
  return stack.includes('processEachMessage') || stack.includes('processEachBatch')
}

/** [{ topic, partition }] from the native (topic index, partition) pairs. */
function tps(topics, pairs) {
  const out = []
  for (let i = 0; i < pairs.length; i += 2) out.push({ topic: topics[pairs[i]], partition: pairs[i + 1] })
  return out
}

function checkTopicPartitions(topicPartitions, what) {
  if (!Array.isArray(topicPartitions)) throw new TypeError(`${what} takes an array of { topic, partitions }, got ${describe(topicPartitions)}`)
  for (const tp of topicPartitions) {
    if (!tp || !tp.topic || typeof tp.topic !== 'string') throw new KafkaJSNonRetriableError(`Invalid topic ${show((tp && tp.topic) || tp)}`)
    if (tp.partitions !== undefined && (!Array.isArray(tp.partitions) || tp.partitions.findIndex((p) => !Number.isInteger(p)) >= 0)) {
      throw new KafkaJSNonRetriableError(`Array of valid partitions required to ${what} specific partitions instead of ${show(tp.partitions)}`)
    }
  }
}

module.exports = { Consumer, PartitionAssigners }
