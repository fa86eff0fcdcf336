'use strict'

// An idempotent producer's state: its producer id and epoch, the next sequence per
// partition, and how those move as flushes go, are stored, fail (a rollback) or are lost
// (a new producer id). The native side stamps each batch with them and the owner drops a
// batch it already has, so a send retried after a lost connection is stored once. Apart
// from the flushes, which decide when these move.

const { Gate } = require('./gate')

const NO_SEQUENCES = new Int32Array(0)
const SEQUENCE_SPACE = 2 ** 31
// Each idempotent producer's builders are its own, whatever producer id it has now.
let slots = 0

/** The key of a topic's partition in the maps below. */
const keyOf = (topic, p) => `${topic}\u0000${p}`

class Idempotence {
  /** Made by the producer once connected, from the native side's initProducerId(); for a
   * transactional producer (lib/transaction.js), from initTransactions(), with its
   * transactional id and timeout. */
  constructor(producerId, epoch, transactional = null) {
    this.producerId = producerId
    this.epoch = epoch
    // { id, timeoutMs } of a transactional producer: its sends join its open transaction.
    this.transactional = transactional

    this.sequences = new Map() // topic\0partition -> the next sequence there
    // topic\0partition -> when a flush was last stored there (Date.now()).
    this.stored = new Map()
    // A flush's fate is unknown, or the owner's sequences are not the ones kept
    // here: the next flush takes a new producer id first.
    this.broken = false
    this.slot = ++slots // its builders' key in the send queue
    this.gate = new Gate() // its flushes out to a directory another process owns
  }

  /** A flush of `b` went out with `sequences` (see sequencesOf): the next flush
   * follows on from this one, as if it is stored whole. */
  followOn(b, sequences) {
    for (let i = 0; i < sequences.length; i += 3) {
      const [idx, p, base] = [sequences[i], sequences[i + 1], sequences[i + 2]]
      this.sequences.set(keyOf(b.topics[idx], p), (base + b.groupCounts[idx][p]) % SEQUENCE_SPACE)
    }
  }

  /** A flush sent with `sequences` failed on partition `p` of topic index `idx` (`key`):
   * the next sequence there goes back to where that flush had it. */
  rollBack(key, sequences, idx, p) {
    const s = sequences
    for (let i = 0; i < s.length; i += 3) if (s[i] === idx && s[i + 1] === p) this.sequences.set(key, s[i + 2])
  }

  /** Whether a flush was stored on the partition since `since` (Date.now()). */
  storedSince(topic, p, since) {
    return this.stored.get(keyOf(topic, p)) >= since
  }

  /** A new producer id, for a producer whose last send's fate is unknown. A transactional
   * producer gets its own id at a new epoch instead (once its transaction is aborted). */
  async renew(shared) {
    const t = this.transactional
    const [producerId, epoch] = t === null ? await shared.native.initProducerId() : await shared.native.initTransactions(t.id, t.timeoutMs)
    this.producerId = producerId
    this.epoch = epoch
    this.sequences = new Map()
    this.stored = new Map()
    this.broken = false
  }
}

/** [topic index, partition, base sequence] per partition `b` writes to, for an
 * idempotent producer: the sequences that follow what it sent before. */
function sequencesOf(b) {
  const idem = b.idempotence
  if (idem === null) return NO_SEQUENCES
  const out = []
  b.groupCounts.forEach((counts, idx) => {
    for (let p = 0; p < counts.length; p++) {
      if (counts[p] > 0) out.push(idx, p, idem.sequences.get(keyOf(b.topics[idx], p)) || 0)
    }
  })
  return Int32Array.from(out)
}

module.exports = { Idempotence, sequencesOf, keyOf }
