'use strict'

// Packs sends into one Buffer plus an Int32Array of lengths and crosses into the native
// side once per flush. Every send made in the same turn of the event loop (say, one per
// HTTP request that arrived together) joins the same flush: one native append for all of
// them, and with `fsync: true` one group-committed fsync. An idempotent producer's sends
// get a flush of their own, stamped with its producer id and per-partition sequences.
//
// This file is the queue: which builder a send joins, when a flush goes, and waiting for
// them all before the broker closes. The parts:
//
//   builder.js        packs sends into a flush's buffers
//   flush.js          a flush (one native produce) and its answers
//   gate.js           the order of one producer's flushes out
//   idempotence.js    an idempotent producer's id, epoch and sequences
//   outcome.js        a flush's answer, per send and partition

const { Builder } = require('./builder')
const { Gate } = require('./gate')
const { Idempotence, sequencesOf } = require('./idempotence')
const { flush } = require('./flush')
const { resendEntries } = require('./outcome')
const { partitionMetadataOf } = require('./partition-metadata')

class SendQueue {
  constructor(shared) {
    this.shared = shared
    this.builders = new Map() // codec (and idempotent producer) -> Builder
    // The flush of what is queued, once scheduled: an Immediate, or { microtask: true }.
    this.scheduled = null
    this.inflight = new Set() // what drain() waits for: flushes, renewals
  }

  /**
   * Validates and queues a send (`entries`: { topic, messages, numPartitions, partitions? }
   * per topic, `partitions` fixing each message's partition on a resend). Throws at once
   * for bad input; otherwise returns a promise of { results, failures }: kafkajs's
   * RecordMetadata for the partitions stored, and { topic, partition, error, messages }
   * for those that failed.
   */
  enqueue(entries, codec, partitioner, idempotence = null) {
    // An idempotent producer's builder is its own, whatever producer id it has now.
    const slot = idempotence === null ? codec : `${codec}:${idempotence.slot}`
    let b = this.builders.get(slot)
    if (!b) {
      b = new Builder(codec, idempotence, idempotence === null ? new Gate() : idempotence.gate)
      this.builders.set(slot, b)
    }
    const job = b.add(entries, Date.now(), partitioner)
    const promise = new Promise((resolve, reject) => {
      job.resolve = resolve
      job.reject = reject
    })
    if (!this.scheduled) {
      // Sends made together (in one task: a loop, a Promise.all) go in one flush. To a
      // directory another process owns with nothing out, it goes as soon as that task
      // ends: by setImmediate, it would wait behind the I/O and the tasks V8 posts
      // meanwhile (its young-generation GC among them, about a millisecond once per few
      // hundred sends). With flushes out, sends from the next I/O callbacks join it. The
      // owner's own appends take no time to answer, so there the sends of every I/O
      // callback of this turn of the event loop go in one append instead: the one place
      // the backend matters to the queue.
      if (this.shared.remote && b.gate.flights === 0) {
        const token = (this.scheduled = { microtask: true })
        queueMicrotask(() => this.scheduled === token && this.flushAll())
      } else this.scheduled = setImmediate(() => this.flushAll())
    }
    return promise
  }

  flushAll() {
    this.scheduled = null
    for (const b of this.builders.values()) {
      if (b.count > 0) this.flush(b)
    }
  }

  flush(b) {
    flush(this, b)
  }

  /** One native append for everything in `b` (or the part of it in the ranges given). */
  produce(b, dataStart, dataEnd, metaStart, metaEnd, countStart, countEnd, sequences = sequencesOf(b)) {
    const idem = b.idempotence
    return this.shared.native.produce(
      b.topics,
      b.data.subarray(dataStart, dataEnd),
      b.meta.subarray(metaStart, metaEnd),
      b.timestamps.subarray(countStart, countEnd),
      b.codec,
      idem === null ? -1 : idem.producerId,
      idem === null ? -1 : idem.epoch,
      sequences,
      idem === null || idem.transactional === null ? null : idem.transactional.id
    )
  }

  /** Keeps `promise` among the flushes `drain()` waits for, until it settles. */
  track(promise) {
    this.inflight.add(promise)
    promise.finally(() => this.inflight.delete(promise))
  }

  /** Flushes what is queued and waits for pending fsyncs (before the broker closes). */
  async drain() {
    if (this.scheduled) {
      if (!this.scheduled.microtask) clearImmediate(this.scheduled)
      this.flushAll()
    }
    // A flush answered may start the next one: wait until none is left.
    while (this.inflight.size > 0) await Promise.all([...this.inflight])
  }
}

module.exports = { SendQueue, Idempotence, partitionMetadataOf, resendEntries }
