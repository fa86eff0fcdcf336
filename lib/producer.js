'use strict'

const {
  KafkaJSError,
  KafkaJSNonRetriableError,
  KafkaJSProtocolError,
  isConnectionLoss,
  protocolError,
} = require('./errors')
const { retryConfig, createRetry } = require('./retry')
const { DefaultPartitioner } = require('./partitioners')
const { createEvents } = require('./instrumentation')
const { resendEntries, Idempotence } = require('./send-queue')
const { checkTopicName, describe, options: optionsOf, checkListener, checkMillis } = require('./validate')
const { Transactions } = require('./transaction')

const CompressionTypes = { None: 0, GZIP: 1, Snappy: 2, LZ4: 3, ZSTD: 4 }

const STATUS = { DISCONNECTED: 'disconnected', CONNECTING: 'connecting', CONNECTED: 'connected', DISCONNECTING: 'disconnecting' }

// kafkajs's producer is an object of closures: its methods work destructured.
const PUBLIC_METHODS = ['connect', 'disconnect', 'isIdempotent', 'on', 'send', 'sendBatch', 'transaction', 'logger']

class Producer {
  constructor(kafka, options) {
    const {
      createPartitioner = DefaultPartitioner,
      allowAutoTopicCreation = true,
      idempotent = false,
      transactionalId,
      transactionTimeout,
      retry,
      // kafkajs's metadataMaxAge and maxInFlightRequests are accepted: metadata here is
      // never stale, and there is no network to keep requests in flight.
    } = optionsOf(options, 'kafka.producer()')
    // kafkajs's transactional producer (lib/transaction.js), when a transactionalId is given.
    this.transactions = transactionalId === undefined || transactionalId === null ? null : new Transactions(this, transactionalId, transactionTimeout)
    if (typeof createPartitioner !== 'function') {
      throw new TypeError(`createPartitioner must be a function, got ${describe(createPartitioner)}`)
    }
    for (const [name, v] of [['allowAutoTopicCreation', allowAutoTopicCreation], ['idempotent', idempotent]]) {
      if (typeof v !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${describe(v)}`)
    }
    this.retry = retryConfig(kafka.retry, retry)
    const partitioner = createPartitioner()
    if (typeof partitioner !== 'function') {
      throw new TypeError(`createPartitioner must return a partitioner function, got ${describe(partitioner)}`)
    }
    this.kafka = kafka
    this.log = kafka.logger().namespace('Producer')
    this.partitioner = partitioner
    this.allowAutoTopicCreation = allowAutoTopicCreation
    this.idempotent = idempotent
    // Kafka's idempotent producer: an Idempotence (send-queue/idempotence.js) once connected.
    this.idempotence = null
    this.retrier = createRetry(this.retry, {
      onRetry: (error, retryCount, retryTime) => this.log.warn(`Failed to send messages: ${error.message}`, { retryCount, retryTime }),
    })
    this.status = STATUS.DISCONNECTED
    this.shared = null
    const { events, on, emit } = createEvents('producer', ['CONNECT', 'DISCONNECT', 'REQUEST', 'REQUEST_TIMEOUT', 'REQUEST_QUEUE_SIZE'], this.log)
    this.events = events
    this.on = (eventName, listener) => {
      checkListener(listener)
      return on(eventName, listener)
    }
    this.emit = emit
    for (const name of PUBLIC_METHODS) this[name] = this[name].bind(this)
  }

  async connect() {
    if (this.status === STATUS.CONNECTED) return
    this.status = STATUS.CONNECTING
    try {
      this.shared = await this.kafka._acquire(this)
      // Sends to a directory another process owns are always idempotent: a resend after a
      // lost connection (or to the process that took the directory over) must not store
      // anything twice. The one place the backend matters here: the owner's own sends
      // cannot be lost on the way, and an id is a durable write.
      if (this.idempotent || this.shared.remote) {
        const [producerId, epoch] = await this.shared.callAsync(() => this.shared.native.initProducerId())
        this.idempotence = new Idempotence(producerId, epoch)
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
    if (this.transactions) this.transactions.reset()
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

  /** kafkajs's transaction(): { send, sendBatch, sendOffsets, commit, abort, isActive }. */
  async transaction() {
    if (this.transactions === null) throw new KafkaJSNonRetriableError('Must provide transactional id for transactional producer')
    return this.transactions.begin()
  }

  /** The broker while connected, for the transaction's calls. */
  connectedShared() {
    if (this.status !== STATUS.CONNECTED || !this.shared) throw new KafkaJSError('The producer is disconnected')
    return this.shared
  }

  async send(record) {
    const { topic, messages, acks, timeout, compression } = optionsOf(record, 'send')
    return this.sendBatch({ acks, timeout, compression, topicMessages: [{ topic, messages }] })
  }

  async sendBatch(batch) {
    return this.sendBatchAs(batch, this.idempotence, this.idempotent)
  }

  /** sendBatch for the producer whose id and sequences `idempotence` holds (null: none):
   * this producer's own, or its transaction's (lib/transaction.js). */
  async sendBatchAs(batch, idempotence, idempotent) {
    const { topicMessages = [], acks = -1, timeout, compression } = optionsOf(batch, 'sendBatch')
    if (!Array.isArray(topicMessages)) {
      throw new TypeError(`topicMessages must be an array, got ${describe(topicMessages)}`)
    }
    if (topicMessages.findIndex((tm) => !tm || !tm.topic) >= 0) {
      throw new KafkaJSNonRetriableError('Invalid topic')
    }
    if (acks !== -1 && acks !== 0 && acks !== 1) {
      if (typeof acks !== 'number') throw new TypeError(`acks must be -1 (all), 0 or 1, got ${describe(acks)}`)
      throw protocolError('INVALID_REQUIRED_ACKS', `Produce request specified an invalid value for required acks: ${acks} (use -1 for all, 0 or 1)`)
    }
    // kafkajs's timeout is accepted (a send here is complete when it resolves), and checked.
    if (timeout !== undefined && timeout !== null) checkMillis(timeout, 'timeout')
    if (idempotent && acks !== -1) {
      throw new KafkaJSNonRetriableError(
        "Not requiring ack for all messages invalidates the idempotent producer's EoS guarantees"
      )
    }
    const codec = compression === undefined || compression === null ? 0 : compression
    if (typeof codec !== 'number') throw new TypeError(`compression must be one of CompressionTypes (a number), got ${describe(compression)}`)
    // Every Kafka codec is built in (kafkajs builds in only GZIP).
    if (!Number.isInteger(codec) || codec < 0 || codec > 4) throw new KafkaJSNonRetriableError(`Unsupported compression codec ${describe(compression)}`)

    // Merge entries for the same topic, as kafkajs does. Messages are checked as they
    // are packed (one pass), and a bad one fails the whole send before anything is written.
    const merged = new Map()
    for (const tm of topicMessages) {
      if (typeof tm !== 'object') throw new TypeError(`topicMessages[] must be objects like { topic, messages }, got ${describe(tm)}`)
      const { topic, messages } = tm
      checkTopicName(topic)
      if (!Array.isArray(messages)) {
        throw new KafkaJSNonRetriableError(`Invalid messages array [${describe(messages)}] for topic "${topic}"`)
      }
      const prev = merged.get(topic)
      merged.set(topic, prev ? prev.concat(messages) : messages)
    }

    if (this.status === STATUS.DISCONNECTING) {
      throw new KafkaJSNonRetriableError("The producer is disconnecting; therefore, it can't safely accept messages anymore")
    }
    if (this.status !== STATUS.CONNECTED) throw new KafkaJSError('The producer is disconnected')
    const topics = []
    merged.forEach((messages, topic) => {
      if (messages.length > 0) topics.push([topic, messages])
    })
    if (topics.length === 0) return []
    const results = await this.sendWithRetries(this.shared, topics, codec, idempotence)
    // As kafkajs: with acks 0 no response is expected, so there is no metadata to return.
    return acks === 0 ? [] : results
  }

  /**
   * kafkajs's retry (the shared retrier), per partition as Kafka's produce results are:
   * the partitions that were stored are never sent again; those that failed with a
   * retriable error (a transient disk error, say; not a full disk or bad input) are
   * resent to the same partitions with backoff, and when retries run out the send
   * rejects with KafkaJSNumberOfRetriesExceeded whose cause names the partitions that
   * failed. A topic that does not exist while auto-creation is off is a retriable
   * UNKNOWN_TOPIC_OR_PARTITION too: each retry looks again, so a topic created meanwhile
   * (by an admin, say) is found.
   */
  sendWithRetries(shared, topics, codec, idem) {
    // Fast path, most sends: every topic's partition count is known, so the first attempt
    // is queued now without the retrier's machinery (a few async frames per send, a third
    // of the cost of a single-message send). Anything but success hands over to the retrier.
    if (this.status !== STATUS.CONNECTED || shared.closed) return this.retrySend(shared, topics, codec, idem)
    const entries = []
    for (const [topic, messages] of topics) {
      const numPartitions = shared.topicTurns.has(topic) || shared.creatingTopics.has(topic) ? null : shared.partitionCount(topic)
      if (numPartitions === null) return this.sendInTurn(shared, topics, codec, idem)
      entries.push({ topic, messages, numPartitions })
    }
    return this.firstAttempt(shared, entries, codec, idem)
  }

  /** Queues a send whose topics' partition counts are known; failures go to the retrier. */
  firstAttempt(shared, entries, codec, idem) {
    // Bad input throws here, before anything is written (and is not retriable).
    return shared.sendQueue.enqueue(entries, codec, this.partitioner, idem).then(
      (outcome) => {
        if (outcome.failures.length === 0) return outcome.results
        return this.retrySend(shared, null, codec, idem, { results: outcome.results, failures: outcome.failures })
      },
      (e) => this.retrySend(shared, null, codec, idem, { results: [], pending: entries, error: e })
    )
  }

  /**
   * A send to a topic this process has not looked up yet, or made while an earlier send to
   * it still waits for that. Sends made together to a new topic (the first requests after
   * a server starts) must be stored in call order, as they are once the topic is known; the
   * lookups they wait for (over the socket, for a directory another process owns) resolve
   * whenever they do. So each such send takes a turn per topic, behind the latest one
   * taken: it looks its topics up and is queued only once the sends before it are queued,
   * and a send made meanwhile takes a turn too, though its topic is known by then.
   */
  sendInTurn(shared, topics, codec, idem) {
    const names = topics.map(([topic]) => topic)
    const before = []
    for (const topic of names) if (shared.topicTurns.has(topic)) before.push(shared.topicTurns.get(topic))
    let done
    const turn = new Promise((resolve) => (done = resolve))
    for (const topic of names) shared.topicTurns.set(topic, turn)
    const release = () => {
      for (const topic of names) if (shared.topicTurns.get(topic) === turn) shared.topicTurns.delete(topic)
      done()
    }
    return Promise.all(before).then(async () => {
      let entries = null
      try {
        if (this.status === STATUS.CONNECTED && !shared.closed) {
          entries = await this.entriesOf(shared, topics)
        }
      } catch {
        entries = null
      }
      if (entries === null || entries.some((e) => e.numPartitions === null)) {
        // The retrier looks again, with backoff, and ends the send as it should.
        release()
        return this.retrySend(shared, topics, codec, idem)
      }
      // Queued before the next send's turn begins: its continuation runs after this one.
      let attempt
      try {
        attempt = this.firstAttempt(shared, entries, codec, idem)
      } finally {
        release()
      }
      return attempt
    })
  }

  /**
   * The retrier's path. `after`: the fast path's first attempt, which failed: the results
   * it stored, and either its failed partitions or the error and the entries to resend.
   */
  async retrySend(shared, topics, codec, idem, after) {
    const results = after ? after.results : []
    let pending = null // the entries still to store, once every topic's partitions are known
    let lastError = null
    let firstError
    if (after) {
      pending = after.failures ? resendEntries(after.failures) : after.pending
      lastError = after.failures ? failedPartitionsError(after.failures) : after.error
      // As the retrier's attempt would: non-retriable errors end the send as they are.
      if (!(lastError && lastError.retriable) || resentAlready(shared, lastError)) throw lastError
      firstError = lastError
    }
    const disconnected = () => new KafkaJSError('The producer is disconnected', { retriable: false, cause: lastError || undefined })
    return this.retrier(async (bail) => {
      if (this.status !== STATUS.CONNECTED || shared.closed) return bail(disconnected())
      try {
        if (pending === null) {
          const entries = await this.entriesOf(shared, topics)
          if (shared.closed) return bail(disconnected())
          pending = entries
        }
        // Bad input throws here, before anything is written (and is not retriable).
        const outcome = await shared.sendQueue.enqueue(pending, codec, this.partitioner, idem)
        results.push(...outcome.results)
        const { failures } = outcome
        if (failures.length === 0) return results
        pending = resendEntries(failures)
        throw failedPartitionsError(failures)
      } catch (e) {
        lastError = e
        // As kafkajs's producer: retriable errors are retried, the others end the send as
        // they are (bad input, a full disk, a message too large).
        if (e && e.retriable && !resentAlready(shared, e)) throw e
        return bail(e)
      }
    }, firstError)
  }

  /** A send's entries, each topic with its partition count (looked up, or the topic
   * created, when it is new). */
  async entriesOf(shared, topics) {
    const entries = []
    for (const [topic, messages] of topics) {
      // The partition count is known synchronously unless the topic is new.
      let numPartitions = shared.creatingTopics.has(topic) ? null : shared.partitionCount(topic)
      if (numPartitions === null) numPartitions = await this.partitionsOf(shared, topic)
      entries.push({ topic, messages, numPartitions })
    }
    return entries
  }

  /** The topic's partition count, creating the topic first if that is allowed. */
  async partitionsOf(shared, topic) {
    // A creation in flight may already be visible natively before it resolves here:
    // wait for it first, so concurrent sends to a new topic stay in call order.
    const pending = shared.creatingTopics.get(topic)
    if (pending) await pending
    // Synchronous for a topic this process knows: no await here may reorder concurrent sends.
    const known = shared.partitionCount(topic)
    const n = known !== null ? known : await shared.partitionCountFresh(topic)
    if (n !== null) return n
    if (!this.allowAutoTopicCreation || !shared.autoCreateTopics) {
      // Retriable, as in kafkajs: the topic may be created meanwhile.
      throw protocolError(
        'UNKNOWN_TOPIC_OR_PARTITION',
        `This server does not host this topic-partition: topic "${topic}" does not exist and auto-creation is ${
          this.allowAutoTopicCreation ? 'off on the broker (autoCreateTopics: false)' : 'off for this producer (allowAutoTopicCreation: false)'
        }`
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

/**
 * A send to a directory another process owns that failed for a lost connection, or an
 * owner that did not answer in time, was resent as it was, with its sequences, for as long
 * as the native side allows (src/remote): sent again now, with new sequences, it could be
 * stored twice. It fails as it is (retriable: the application decides).
 */
function resentAlready(shared, e) {
  return isConnectionLoss(e)
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

module.exports = { Producer, CompressionTypes }
