'use strict'

// kafkajs's Consumer over samsa's group coordinator: the object the application holds.
// It checks arguments, keeps what outlives a run (the connection, the subscriptions, the
// pause state, the event listeners) and hands the work to three parts, made once and kept
// for the consumer's life:
//
//   consumer-group.js  the membership: joining, heartbeats, assignment and revocation
//   offset-manager.js  where each owned partition stands: starting positions, seeks, commits
//   runner.js          the loop that fetches batches and awaits the handlers
//
// As kafkajs splits its consumer (index, consumerGroup, offsetManager, runner), so each
// part's state is declared in one place.

const { KafkaJSError, KafkaJSNonRetriableError, protocolError } = require('../errors')
const { createEvents } = require('../instrumentation')
const { checkTopicName, describe, show, isPartition, toOffset, checkMillis, checkListener } = require('../validate')
const { retryConfig } = require('../retry')
const { describeGroupShape } = require('../group-description')
const { SubscriptionState } = require('../subscription-state')
const { ConsumerGroup } = require('./consumer-group')
const { OffsetManager } = require('./offset-manager')
const { Runner, calledFromHandler } = require('./runner')

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
      // Read committed by default, as kafkajs: records of open or aborted transactions
      // are not delivered.
      readUncommitted = false,
      // minBytes and maxBytes are accepted: fetches answer as soon as data is there.
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
    if (typeof readUncommitted !== 'boolean') throw new TypeError(`readUncommitted must be a boolean, got ${describe(readUncommitted)}`)
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
    this.retry = retrySettings // for handlers, the loop and offset lookups
    this.allowAutoTopicCreation = allowAutoTopicCreation

    this.shared = null // the broker, from connect() to disconnect()
    this.subscriptions = [] // { topic: string | RegExp, fromBeginning }
    this.running = false
    this.subscription = null // pause/resume state, from run() on
    this.stopping = null // finishStop(), while it runs
    this.deferredStop = null // a stop() from inside a handler, once the loop has ended
    this.deferredDisconnect = null // the same for disconnect()

    this.group = new ConsumerGroup(this, { strategy: assigner.samsaName, sessionTimeout, rebalanceTimeout, heartbeatInterval })
    this.offsets = new OffsetManager(this)
    this.runner = new Runner(this, { maxBytesPerPartition, maxWaitTimeInMs, heartbeatInterval, readUncommitted })

    const { events, on, emit, listening } = createEvents('consumer', EVENTS, this.log)
    for (const [k, v] of Object.entries(EVENT_NAMES)) events[k] = v
    this.events = events
    this.emitter = { on, emit, listening }
    for (const name of PUBLIC_METHODS) this[name] = this[name].bind(this)
  }

  /** This member's id in its group, once it has joined. */
  get memberId() {
    return this.group.memberId
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
    if (this.runner.handling > 0 && calledFromHandler()) {
      // Called from inside a handler, which the loop is waiting for: disconnect once the
      // handler has returned and the loop has ended (kafkajs would deadlock here).
      this.running = false
      if (!this.deferredDisconnect) this.deferredDisconnect = this.runner.loopDone.then(() => this.disconnect())
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

  /** Whether appends to `topic` concern this consumer (the broker's notification). */
  subscribedTo(topic) {
    return this.group.subscribedSet.has(topic)
  }

  /** An append landed on a partition (the broker's notification). */
  dataArrived(topic, partition) {
    this.runner.dataArrived(topic, partition)
  }

  /** Ends the loop's wait at once (the broker's notification of a group change). */
  wake() {
    this.runner.wake()
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
    this.runner.configure({ eachMessage, eachBatch, eachBatchAutoResolve, concurrency: partitionsConsumedConcurrently })
    this.offsets.configure({ autoCommit, autoCommitInterval, autoCommitThreshold })
    this.subscription = this.subscription || new SubscriptionState()
    this.running = true
    // The first assignment and starting positions are fixed before run() resolves (so a
    // send made after it is news to a group that starts at the latest offset), and the
    // first fetch waits for the next turn of the event loop (so a seek made right after
    // run() resolves applies before anything is delivered, as with kafkajs).
    try {
      await shared.joining(() => this.group.start(shared))
    } catch (e) {
      this.running = false
      await this.group.abandon(shared)
      throw e
    }
    this.group.startHeartbeats()
    this.runner.start()
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
    await this.offsets.commitExplicit(list)
  }

  /** Moves a partition's position (kafkajs's seek; see OffsetManager.seek). */
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
    this.offsets.seek(shared, topic, partition, o)
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
    const { readable } = this.runner
    for (const { topic } of topicPartitions) {
      for (const [k, p] of this.group.partitions) if (p.topic === topic) readable.add(k)
    }
    this.runner.wake()
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
    if (this.runner.handling > 0 && calledFromHandler()) {
      // From inside a handler: stop once it has returned (waiting here would deadlock).
      this.running = false
      if (!this.deferredStop) this.deferredStop = this.runner.loopDone.then(() => this.stop())
      return Promise.resolve()
    }
    if (!this.stopping && this.group.member) this.stopping = this.finishStop().finally(() => (this.stopping = null))
    return this.stopping || Promise.resolve()
  }

  async finishStop() {
    this.running = false
    this.group.stopHeartbeats()
    this.runner.wake()
    await this.runner.finished()
    if (this.offsets.autoCommit) await this.offsets.commitPartitions([...this.group.partitions.values()]).catch((e) => this.offsets.commitFailed(e))
    await this.group.leave(this.shared)
    this.subscription = null
    this.emit(this.events.STOP)
  }
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
