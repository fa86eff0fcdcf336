'use strict'

// A transactional producer (kafkajs's `producer.transaction()`, Kafka's KIP-98): the state
// of its transactions and the transaction objects it hands out. The producer id and epoch
// come from initTransactions, once, which fences any older producer of the same
// transactional id and aborts a transaction it left open. Sends join the open transaction
// (the native side adds their partitions to it as they are stored); sendOffsets adds the
// group's offsets; commit and abort end it, and the markers are written before they
// resolve, so a read-committed consumer sees the records and the offsets together.

const { KafkaJSNonRetriableError, fromNative, protocolError } = require('./errors')
const { Idempotence } = require('./send-queue')
const { describe, options: optionsOf } = require('./validate')

// kafkajs's eosManager states.
const STATES = {
  UNINITIALIZED: 'UNINITIALIZED',
  READY: 'READY',
  TRANSACTING: 'TRANSACTING',
  COMMITTING: 'COMMITTING',
  ABORTING: 'ABORTING',
}

const DEFAULT_TIMEOUT_MS = 60000
// Kafka's transaction.max.timeout.ms default, which the broker enforces.
const MAX_TIMEOUT_MS = 15 * 60 * 1000

class Transactions {
  constructor(producer, transactionalId, transactionTimeout = DEFAULT_TIMEOUT_MS) {
    if (typeof transactionalId !== 'string' || transactionalId.length === 0) {
      throw new TypeError(`transactionalId must be a non-empty string, got ${describe(transactionalId)}`)
    }
    if (!Number.isSafeInteger(transactionTimeout) || transactionTimeout <= 0 || transactionTimeout > MAX_TIMEOUT_MS) {
      throw new TypeError(`transactionTimeout must be a whole number of milliseconds from 1 to ${MAX_TIMEOUT_MS}, got ${describe(transactionTimeout)}`)
    }
    this.producer = producer
    this.id = transactionalId
    this.timeoutMs = transactionTimeout
    this.state = STATES.UNINITIALIZED
    this.idempotence = null // its producer id, epoch and sequences, once initialized
    this.current = null // the Transaction open now
  }

  /** A new transaction; the first one initializes the producer id. */
  async begin() {
    if (this.state === STATES.TRANSACTING || this.state === STATES.COMMITTING || this.state === STATES.ABORTING) {
      throw new KafkaJSNonRetriableError(
        'There is already an ongoing transaction for this producer. Please end the transaction before beginning another.'
      )
    }
    const shared = this.producer.connectedShared()
    if (this.state === STATES.UNINITIALIZED) {
      const [producerId, epoch] = await shared.callAsync(() => shared.native.initTransactions(this.id, this.timeoutMs))
      this.idempotence = new Idempotence(producerId, epoch, { id: this.id, timeoutMs: this.timeoutMs })
      this.state = STATES.READY
    }
    this.state = STATES.TRANSACTING
    this.current = new Transaction(this)
    return this.current.api()
  }

  /** The producer disconnected: the next transaction initializes again. */
  reset() {
    if (this.current) this.current.ended = true
    this.current = null
    this.idempotence = null
    this.state = STATES.UNINITIALIZED
  }
}

class Transaction {
  constructor(transactions) {
    this.transactions = transactions
    this.ended = false
    // Something was added (a send or offsets): ending it needs the coordinator.
    this.ongoing = false
    this.sends = new Set() // sends not yet answered, which commit and abort wait for
    this.failedSend = null // the error of a send that failed: the transaction can only abort
  }

  api() {
    // Every method rejects rather than throws, bad arguments included, as kafkajs's do.
    const guard = (fn) => async (...args) => {
      if (!this.isActive()) throw new KafkaJSNonRetriableError('Cannot continue to use transaction once ended')
      return fn(...args)
    }
    return {
      send: guard((record) => {
        const { topic, messages, acks, timeout, compression } = optionsOf(record, 'send')
        return this.sendBatch({ acks, timeout, compression, topicMessages: [{ topic, messages }] })
      }),
      sendBatch: guard((batch) => this.sendBatch(batch)),
      sendOffsets: guard((offsets) => this.sendOffsets(offsets)),
      commit: guard(() => this.end(true)),
      abort: guard(() => this.end(false)),
      isActive: () => this.isActive(),
    }
  }

  isActive() {
    return !this.ended && this.transactions.current === this && this.transactions.state === STATES.TRANSACTING
  }

  sendBatch(batch) {
    const t = this.transactions
    this.ongoing = true
    const sent = t.producer.sendBatchAs(batch, t.idempotence, true)
    this.sends.add(sent)
    sent.then(
      () => this.sends.delete(sent),
      (e) => {
        this.sends.delete(sent)
        if (this.failedSend === null) this.failedSend = e
      }
    )
    return sent
  }

  async sendOffsets(request) {
    const { consumerGroupId, topics } = optionsOf(request, 'sendOffsets')
    if (typeof consumerGroupId !== 'string' || consumerGroupId.length === 0) {
      throw new TypeError(`consumerGroupId must be a non-empty string, got ${describe(consumerGroupId)}`)
    }
    if (!Array.isArray(topics)) throw new TypeError(`topics must be an array of { topic, partitions }, got ${describe(topics)}`)
    const offsets = []
    for (const t of topics) {
      if (!t || typeof t.topic !== 'string' || !Array.isArray(t.partitions)) {
        throw new TypeError(`topics[] must be objects like { topic, partitions: [{ partition, offset }] }, got ${describe(t)}`)
      }
      for (const p of t.partitions) {
        const offset = p ? Number(p.offset) : NaN
        if (!p || !Number.isInteger(p.partition) || p.partition < 0 || !Number.isSafeInteger(offset) || offset < 0) {
          throw new TypeError(`partitions[] must be objects like { partition, offset } with whole, non-negative numbers, got ${describe(p)}`)
        }
        offsets.push({ topic: t.topic, partition: p.partition, offset, metadata: typeof p.metadata === 'string' ? p.metadata : undefined })
      }
    }
    const t = this.transactions
    const idem = t.idempotence
    this.ongoing = true
    const shared = t.producer.connectedShared()
    await shared.callAsync(() => shared.native.sendOffsetsToTransaction(t.id, idem.producerId, idem.epoch, consumerGroupId, offsets)).catch(asFenced)
  }

  async end(commit) {
    const t = this.transactions
    t.state = commit ? STATES.COMMITTING : STATES.ABORTING
    try {
      // Every send of the transaction is answered first: a commit covers them all.
      if (this.sends.size > 0) await Promise.allSettled([...this.sends])
      const idem = t.idempotence
      // A fenced producer hears so from the coordinator, as kafkajs's does.
      if (commit && this.failedSend !== null && this.failedSend.type !== 'INVALID_PRODUCER_EPOCH') {
        throw new KafkaJSNonRetriableError(`A send of this transaction failed, so it cannot commit; abort it: ${this.failedSend.message}`, { cause: this.failedSend })
      }
      if (commit && idem.broken) {
        throw new KafkaJSNonRetriableError(
          "The fate of one of this transaction's sends is unknown (the connection to the data directory's owner was lost), so it cannot commit; abort it"
        )
      }
      // As kafkajs: a transaction that tried to add nothing has nothing for the coordinator
      // to end.
      if (this.ongoing) {
        const shared = t.producer.connectedShared()
        await shared
          .callAsync(() => shared.native.endTransaction(t.id, idem.producerId, idem.epoch, commit))
          .catch(asFenced)
          // Nothing of it reached the coordinator (a send refused before its partitions were
          // added): there is nothing to end.
          .catch((e) => {
            if (!(e && e.type === 'INVALID_TXN_STATE')) throw e
          })
      }
      if (idem.broken) {
        // Aborted: a new epoch, so the sequences of the sends whose fate was unknown do not
        // matter to the next transaction.
        await idem.renew(t.producer.connectedShared()).catch((e) => {
          throw fromNative(e)
        })
      }
      this.ended = true
      t.current = null
      t.state = STATES.READY
    } catch (e) {
      // Still the open transaction: it may be aborted (kafkajs leaves it so too).
      if (t.state !== STATES.UNINITIALIZED) t.state = STATES.TRANSACTING
      throw e
    }
  }
}

/** A newer producer with the same transactional id took over: kafkajs users meet this as
 * INVALID_PRODUCER_EPOCH (what Kafka answers kafkajs's request versions), non-retriable. */
function asFenced(e) {
  if (e && e.type === 'PRODUCER_FENCED') throw protocolError('INVALID_PRODUCER_EPOCH', e.message, { retriable: false })
  throw e
}

module.exports = { Transactions, STATES }
