'use strict'

// The order of one producer's flushes (to a directory another process owns, Produce
// requests; in the owner's process, appends answered at once). A producer has
// up to MAX_IN_FLIGHT Produce requests out at a time, as Kafka's idempotent producer does
// (`max.in.flight.requests.per.connection`), and their answers are handled in the order
// they went. The gate says whether a flush may go now, and keeps the flushes out. It is
// apart from the flush (what happens with each answer) because these rules are
// what keeps a producer's records in order, and they read best alone.

// Produce requests a producer has out at a time to a directory another process owns
// (Kafka allows up to 5 with idempotence: as many batches as a partition remembers per
// producer). A flush that may be more than one batch per partition goes alone.
const MAX_IN_FLIGHT = 4
// A flush goes behind others only to partitions where the producer's sends were stored
// this recently: the owner forgets a producer idle for 24 hours.
const KNOWN_FOR_MS = 60 * 60 * 1000
// A record batch's header (61 bytes), rounded up.
const BATCH_HEADER_BYTES = 64

/** One producer's flushes out: an idempotent producer's (one gate whatever the codec),
 * or one builder's. */
class Gate {
  constructor() {
    this.queue = [] // flushes out, oldest first
    this.flights = 0
    this.recovering = false // a flush failed; those behind it are still out
    this.rolledBack = new Set() // partitions whose sequence went back meanwhile
    this.alone = false // a flush that goes alone (a resend, or a large one) is out
    this.resends = [] // builders of parts to send again, each alone, before anything newer
    this.renewing = null // the request for a new producer id, while it runs
  }

  /** Whether `b` may flush now (`maxMessageBytes`: the directory's batch size). */
  mayGo(b, maxMessageBytes) {
    if (this.renewing) return false
    // A resend goes alone, when nothing else is out.
    if (b.resend) return this.flights === 0
    if (this.flights >= MAX_IN_FLIGHT || this.recovering || this.alone || this.resends.length > 0) return false
    return this.flights === 0 || mayGoBehind(b, maxMessageBytes)
  }

  /** A flush went out. */
  sent(flight) {
    this.flights++
    if (flight.alone || flight.large) this.alone = true
    this.queue.push(flight)
  }

  /** The oldest flush out once it is answered (it leaves the gate), else null: answers
   * are handled in the order their flushes went. */
  nextAnswered() {
    if (this.queue.length === 0 || !this.queue[0].done) return null
    const flight = this.queue.shift()
    this.flights--
    if (flight.alone || flight.large) this.alone = false
    return flight
  }

  /** After answers were handled: once none is out, every flush sent with sequences from
   * before a failure has been answered. */
  answersHandled() {
    if (this.flights === 0) {
      this.recovering = false
      this.rolledBack.clear()
    }
  }
}

/**
 * Whether `b` may go while other flushes of its producer are out. The owner remembers
 * a producer's last 5 batches per partition, to answer one sent again after a lost
 * connection instead of storing it twice, so the flushes out hold one batch per
 * partition at most. And it takes a producer it does not know on a partition at any
 * sequence: a flush behind one it refused would be stored out of order. So `b` must write
 * only where this producer id's sends were stored lately.
 */
function mayGoBehind(b, maxMessageBytes) {
  if (!oneBatchEach(b, maxMessageBytes)) return false
  const idem = b.idempotence
  if (idem === null) return true
  const since = Date.now() - KNOWN_FOR_MS
  for (let idx = 0; idx < b.groupCounts.length; idx++) {
    const counts = b.groupCounts[idx]
    for (let p = 0; p < counts.length; p++) {
      if (counts[p] === 0) continue
      if (!idem.storedSince(b.topics[idx], p, since)) return false
    }
  }
  return true
}

/** Whether every partition's records in `b` fit one batch of the directory's size: all
 * of them together do, reckoning each record's framing at its largest (8 bytes per
 * entry of `meta`) and a batch header per partition. */
function oneBatchEach(b, maxMessageBytes) {
  if (b.count === 1) return true
  let partitions = 0
  for (const counts of b.groupCounts) for (let p = 0; p < counts.length; p++) if (counts[p] > 0) partitions++
  return b.dataPos + 8 * b.metaPos + BATCH_HEADER_BYTES * partitions <= maxMessageBytes
}

module.exports = { Gate, oneBatchEach }
