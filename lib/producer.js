'use strict'

const {
  KafkaJSError,
  KafkaJSNonRetriableError,
  KafkaJSNotImplemented,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  protocolError,
} = require('./errors')
const { retryDefaults, retryDelay } = require('./retry')
const { DefaultPartitioner } = require('./partitioners')
const { createEvents } = require('./instrumentation')
const { checkTopicName, describe } = require('./validate')

const CompressionTypes = { None: 0, GZIP: 1, Snappy: 2, LZ4: 3, ZSTD: 4 }
const CODEC_NAMES = { 2: 'Snappy', 3: 'LZ4', 4: 'ZSTD' }

const STATUS = { DISCONNECTED: 'disconnected', CONNECTING: 'connecting', CONNECTED: 'connected', DISCONNECTING: 'disconnecting' }

// kafkajs's producer is an object of closures: its methods work destructured.
const PUBLIC_METHODS = ['connect', 'disconnect', 'isIdempotent', 'on', 'send', 'sendBatch', 'transaction', 'logger']

class Producer {
  constructor(kafka, {
    createPartitioner = DefaultPartitioner,
    allowAutoTopicCreation = true,
    idempotent = false,
    transactionalId,
    retry,
  } = {}) {
    if (transactionalId !== undefined) {
      throw new KafkaJSNotImplemented(
        'Transactions are not supported by samsa yet: create the producer without transactionalId'
      )
    }
    if (typeof createPartitioner !== 'function') {
      throw new TypeError(`createPartitioner must be a function, got ${describe(createPartitioner)}`)
    }
    this.kafka = kafka
    this.log = kafka.logger().namespace('Producer')
    this.partitioner = createPartitioner()
    this.allowAutoTopicCreation = allowAutoTopicCreation
    this.idempotent = idempotent
    // Kafka's idempotent producer: { producerId, epoch, sequences } once connected.
    this.idempotence = null
    this.retry = { ...retryDefaults, ...(kafka.retry || {}), ...(retry || {}) }
    this.status = STATUS.DISCONNECTED
    this.shared = null
    const { events, on, emit } = createEvents('producer', ['CONNECT', 'DISCONNECT', 'REQUEST', 'REQUEST_TIMEOUT', 'REQUEST_QUEUE_SIZE'], this.log)
    this.events = events
    this.on = on
    this.emit = emit
    for (const name of PUBLIC_METHODS) this[name] = this[name].bind(this)
  }

  async connect() {
    if (this.status === STATUS.CONNECTED) return
    this.status = STATUS.CONNECTING
    try {
      this.shared = await this.kafka._acquire(this)
      if (this.idempotent) {
        const [producerId, epoch] = await this.shared.callAsync(() => this.shared.native.initProducerId())
        this.idempotence = { producerId, epoch, sequences: new Map() }
      }
    } catch (e) {
      if (this.shared) await this.kafka._release(this, this.shared).catch(() => {})
      this.shared = null
      this.status = STATUS.DISCONNECTED
      throw e
    }
    this.status = STATUS.CONNECTED
    this.emit(this.events.CONNECT)
  }

  async disconnect() {
    if (this.status === STATUS.DISCONNECTED) return
    this.status = STATUS.DISCONNECTING
    const shared = this.shared
    this.shared = null
    this.idempotence = null
    try {
      if (shared) await this.kafka._release(this, shared)
    } finally {
      this.status = STATUS.DISCONNECTED
      this.emit(this.events.DISCONNECT)
    }
  }

  isIdempotent() {
    return this.idempotent
  }

  logger() {
    return this.log
  }

  async transaction() {
    throw new KafkaJSNotImplemented('Transactions are not supported by samsa yet')
  }

  async send({ topic, messages, acks, timeout, compression } = {}) {
    return this.sendBatch({ acks, timeout, compression, topicMessages: [{ topic, messages }] })
  }

  async sendBatch({ topicMessages = [], acks = -1, timeout, compression } = {}) {
    if (!Array.isArray(topicMessages)) {
      throw new TypeError(`topicMessages must be an array, got ${describe(topicMessages)}`)
    }
    if (topicMessages.some((tm) => !tm || !tm.topic)) {
      throw new KafkaJSNonRetriableError('Invalid topic')
    }
    if (this.idempotent && acks !== -1) {
      throw new KafkaJSNonRetriableError(
        "Not requiring ack for all messages invalidates the idempotent producer's EoS guarantees"
      )
    }
    const codec = compression === undefined || compression === null ? 0 : compression
    if (CODEC_NAMES[codec]) throw new KafkaJSNotImplemented(`${CODEC_NAMES[codec]} compression not implemented`)
    if (codec !== 0 && codec !== 1) throw new KafkaJSNonRetriableError(`Unsupported compression codec ${describe(compression)}`)

    // Merge entries for the same topic, as kafkajs does. Messages are checked as they
    // are packed (one pass), and a bad one fails the whole send before anything is written.
    const merged = new Map()
    for (const { topic, messages } of topicMessages) {
      checkTopicName(topic)
      if (!Array.isArray(messages)) {
        throw new KafkaJSNonRetriableError(`Invalid messages array [${messages}] for topic "${topic}"`)
      }
      const prev = merged.get(topic)
      merged.set(topic, prev ? prev.concat(messages) : messages)
    }

    if (this.status === STATUS.DISCONNECTING) {
      throw new KafkaJSNonRetriableError("The producer is disconnecting; therefore, it can't safely accept messages anymore")
    }
    if (this.status !== STATUS.CONNECTED) throw new KafkaJSError('The producer is disconnected')
    const shared = this.shared

    const entries = []
    for (const [topic, messages] of merged) {
      if (messages.length === 0) continue
      // The partition count is known synchronously unless the topic is new.
      let numPartitions = shared.creatingTopics.has(topic) ? null : shared.partitionCount(topic)
      if (numPartitions === null) numPartitions = await this.partitionsOf(shared, topic)
      entries.push({ topic, messages, numPartitions })
    }
    if (entries.length === 0) return []
    if (shared.closed) throw new KafkaJSError('The producer is disconnected')
    const results = await this.sendWithRetries(shared, entries, codec)
    // As kafkajs: with acks 0 no response is expected, so there is no metadata to return.
    return acks === 0 ? [] : results
  }

  /**
   * kafkajs's retry, per partition as Kafka's produce results are: the partitions that
   * were stored are never sent again; those that failed with a retriable error (a
   * transient disk error, say; not a full disk or bad input) are resent to the same
   * partitions with backoff, then the send rejects with KafkaJSNumberOfRetriesExceeded
   * whose cause names the partitions that failed.
   */
  async sendWithRetries(shared, entries, codec) {
    const results = []
    let pending = entries
    for (let retryCount = 0; ; retryCount++) {
      let outcome
      try {
        outcome = await shared.sendQueue.enqueue(pending, codec, this.partitioner, this.idempotence)
      } catch (e) {
        // The whole attempt failed before anything was written.
        if (!e || e.retriable !== true || this.status !== STATUS.CONNECTED) throw e
        await this.backoff(e, retryCount)
        continue
      }
      results.push(...outcome.results)
      const { failures } = outcome
      if (failures.length === 0) return results
      const cause = failedPartitionsError(failures)
      if (failures.some((f) => f.error.retriable !== true) || this.status !== STATUS.CONNECTED) throw cause
      await this.backoff(cause, retryCount)
      pending = resendEntries(failures)
    }
  }

  async backoff(error, retryCount) {
    const retryTime = retryDelay(this.retry, retryCount + 1)
    if (retryCount >= this.retry.retries) throw new KafkaJSNumberOfRetriesExceeded(error, { retryCount, retryTime })
    this.log.warn('Retrying a failed send', { error: error.message, retryCount, retryTime })
    await new Promise((r) => setTimeout(r, retryTime))
  }

  /** The topic's partition count, creating the topic first if that is allowed. */
  async partitionsOf(shared, topic) {
    // A creation in flight may already be visible natively before it resolves here:
    // wait for it first, so concurrent sends to a new topic stay in call order.
    const pending = shared.creatingTopics.get(topic)
    if (pending) await pending
    const n = shared.partitionCount(topic)
    if (n !== null) return n
    if (!this.allowAutoTopicCreation || !shared.autoCreateTopics) {
      // Not retriable here: nothing else creates the topic in the meantime.
      throw protocolError(
        'UNKNOWN_TOPIC_OR_PARTITION',
        `This server does not host this topic-partition: topic "${topic}" does not exist and auto-creation is ${
          this.allowAutoTopicCreation ? 'off on the broker (autoCreateTopics: false)' : 'off for this producer (allowAutoTopicCreation: false)'
        }`,
        { retriable: false }
      )
    }
    const creating = shared
      .callAsync(() => shared.native.createTopic(topic, -1, -1, [], [], false))
      .then(
        () => this.log.info('Auto-created topic', { topic }),
        (e) => {
          if (e.type !== 'TOPIC_ALREADY_EXISTS') throw e
        }
      )
      .finally(() => {
        shared.creatingTopics.delete(topic)
        shared.topicsChanged()
      })
    shared.creatingTopics.set(topic, creating)
    await creating
    return shared.partitionCount(topic)
  }
}

/** The error of partitions that failed: the first failure's class and code, with a
 * message naming every failed partition (and `partitions` listing them). */
function failedPartitionsError(failures) {
  const first = failures[0].error
  if (failures.length === 1 && first.partitions) return first
  const names = failures.map((f) => `${f.topic}-${f.partition}`).join(', ')
  const message = `${first.message} [failed partitions: ${names}]`
  const error = first instanceof KafkaJSProtocolError
    ? new KafkaJSProtocolError({ type: first.type, code: first.code, retriable: first.retriable, message })
    : new KafkaJSError(message, { retriable: first.retriable })
  error.partitions = failures.map(({ topic, partition, error: e }) => ({ topic, partition, error: e }))
  return error
}

/** Entries that resend each failed partition's messages to that same partition. */
function resendEntries(failures) {
  const byTopic = new Map()
  for (const { topic, partition, numPartitions, messages } of failures) {
    let e = byTopic.get(topic)
    if (!e) byTopic.set(topic, (e = { topic, numPartitions, messages: [], partitions: [] }))
    for (const m of messages) {
      e.messages.push(m)
      e.partitions.push(partition)
    }
  }
  return [...byTopic.values()].map((e) => ({ ...e, partitions: Int32Array.from(e.partitions) }))
}

module.exports = { Producer, CompressionTypes }
