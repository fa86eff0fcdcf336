'use strict'

// A flush: one native produce, answered by a promise (at once in the process that owns
// the directory; by the owner's answer to one Produce request in any other). Each flush takes its sequences from where the one before it ends, as if that one is
// stored whole, and the owner answers a connection's requests in order; the gate
// (gate.js) says when a flush may go. Sends made while the producer may not flush wait in
// the builder and go in the next flush.
//
// Answers are handled in the order the flushes went. When a partition fails, the
// partition's sequence goes back to where that flush had it, and the flushes already out
// behind it, which the owner refuses for that partition as out of order, are not the
// senders' failures: their parts go again, each send's in a flush of its own, once every
// flush out has been answered, and before anything newer.
//
// A lost connection resends the very same request (same sequences: the owner drops what
// it already has) for a while (src/remote); when that fails too, the producer takes a new
// producer id, so no later send can be taken for the one whose fate is unknown.

const { fromNative, isConnectionLoss, KafkaJSNonRetriableError } = require('../errors')
const { Builder } = require('./builder')
const { oneBatchEach } = require('./gate')
const { sequencesOf, keyOf } = require('./idempotence')
const { NOTHING_WRITTEN, RESULT_FIELDS, settle, rowsOf, outcomeOf, partsOf, resendEntries } = require('./outcome')

const TRANSACTION_BROKEN =
  "The fate of one of this transaction's sends is unknown (the connection to the data directory's owner was lost): abort the transaction and start a new one"

// The errors a partition gets for what messages of one send in a flush hold.
const REFUSED_FOR_MESSAGES = new Set(['MESSAGE_TOO_LARGE', 'INVALID_TIMESTAMP', 'INVALID_RECORD'])

// The partitioner of a resend, whose every message keeps the partition it had.
const FORCED_PARTITIONS = () => {
  throw new Error('a resend gives every message its partition')
}

/** Sends what is in `b` through `queue` (a SendQueue), if its gate lets it go now. */
function flush(queue, b) {
  const gate = b.gate
  if (!gate.mayGo(b, queue.shared.settings.maxMessageBytes)) return
  if (b.idempotence !== null && b.idempotence.broken && b.idempotence.transactional !== null) {
    // A transaction whose send's fate is unknown can only be aborted (lib/transaction.js
    // takes a new epoch then): nothing more of it is sent.
    const { jobs } = b
    b.reset()
    for (const job of jobs) job.reject(new KafkaJSNonRetriableError(TRANSACTION_BROKEN))
    next(queue, gate)
    return
  }
  if (b.idempotence !== null && b.idempotence.broken) {
    // What waits in the builder goes once the new producer id is here.
    gate.renewing = b.idempotence.renew(queue.shared).then(
      () => {
        gate.renewing = null
        flush(queue, b)
        next(queue, gate)
      },
      (e) => {
        gate.renewing = null
        const { jobs } = b
        b.reset()
        for (const job of jobs) job.reject(fromNative(e))
        next(queue, gate)
      }
    )
    queue.track(gate.renewing)
    return
  }
  const idem = b.idempotence
  const sequences = sequencesOf(b)
  const flight = {
    topics: b.topics,
    groupCounts: b.groupCounts,
    idempotence: idem,
    jobs: b.jobs,
    sequences,
    codec: b.codec,
    // Sent while flushes before it are out: the owner may refuse it for their sake.
    behind: gate.flights > 0,
    // More than one batch per partition, maybe: it goes alone.
    large: !oneBatchEach(b, queue.shared.settings.maxMessageBytes),
    alone: b.resend,
    sent: false,
    done: false,
    out: null,
    error: null,
  }
  // The native side encodes the send before it returns (the builder's buffers are free
  // again at once), and resends the very same request over a lost connection.
  let request
  try {
    request = queue.produce(b, 0, b.dataPos, 0, b.metaPos, 0, b.count, sequences)
    flight.sent = true
  } catch (e) {
    request = Promise.reject(e)
    // Its sends are tried one by one once the flushes before it are answered, before
    // anything newer.
    gate.recovering = true
  }
  if (flight.sent && idem !== null) idem.followOn(b, sequences)
  b.reset()
  gate.sent(flight)
  // One reaction per flush, and no other promise made for it: in the owner's process the
  // answer is there at once, and a send awaited at a time pays for every hop here.
  const land = (out, error) => {
    flight.out = out
    flight.error = error
    flight.done = true
    queue.inflight.delete(handled)
    answered(queue, gate)
  }
  const handled = request.then((out) => land(out, null), (e) => land(null, e))
  queue.inflight.add(handled)
}

/** Handles the answers in, in the order their flushes went, and starts what may go. */
function answered(queue, gate) {
  let flight
  while ((flight = gate.nextAnswered()) !== null) {
    if (flight.error === null) stored(queue, gate, flight)
    else refused(gate, flight)
  }
  gate.answersHandled()
  next(queue, gate)
}

/** Starts what waits for a producer: its resends first, one at a time, then its builders. */
function next(queue, gate) {
  if (gate.renewing) return
  if (gate.resends.length > 0) {
    if (gate.flights === 0) flush(queue, gate.resends.shift())
    return
  }
  for (const other of queue.builders.values()) if (other.count > 0 && other.gate === gate) flush(queue, other)
}

/** A partition of `flight` was not stored: the producer's next sequence there goes back
 * to where this flush had it (the earliest such flush wins), and later flushes out wait. */
function rollBack(gate, flight, idx, p) {
  gate.recovering = true
  const idem = flight.idempotence
  if (idem === null || !flight.sent) return
  const key = keyOf(flight.topics[idx], p)
  if (gate.rolledBack.has(key)) return
  gate.rolledBack.add(key)
  idem.rollBack(key, flight.sequences, idx, p)
}

/** A flush the owner answered: each send's outcome, per partition. */
function stored(queue, gate, flight) {
  const { out, idempotence: idem } = flight
  queue.shared.appended(flight.topics, flight.groupCounts)
  const rows = rowsOf(out)
  const r = out.rows
  const now = Date.now()
  for (let i = 0; i < r.length; i += RESULT_FIELDS) {
    const [idx, p, error] = [r[i], r[i + 1], r[i + 4]]
    if (idem === null) {
      if (error >= 0) rollBack(gate, flight, idx, p)
      continue
    }
    const key = keyOf(flight.topics[idx], p)
    // Stored behind a flush refused there, or refused as out of order with nothing
    // before it: the owner's sequence for the partition is not the one kept here. The
    // next flush takes a new producer id, which starts afresh everywhere.
    if (error < 0 ? gate.rolledBack.has(key) : !flight.behind && fromNative(out.errors[error]).type === 'OUT_OF_ORDER_SEQUENCE_NUMBER') {
      idem.broken = true
    }
    if (error >= 0) rollBack(gate, flight, idx, p)
    else idem.stored.set(key, now)
  }
  for (const job of flight.jobs) {
    const outcome = outcomeOf(job, out, rows)
    // A partition the owner refused whole for what some of its messages hold (one too
    // large for the topic, a timestamp out of the topic's window, no key on a compacted
    // topic) was refused for every send in this flush that wrote to it: one bad send
    // must not fail its neighbours, so each such send's part goes again in a flush of
    // its own. (The owner refuses a partition by itself when the topic's own limit is
    // lower than the directory's, which sends are cut to.) So does a part refused as out
    // of order behind an earlier flush's failure.
    const again = outcome.failures.filter((f) => (flight.jobs.length > 1 && REFUSED_FOR_MESSAGES.has(f.error.type)) || (flight.behind && f.error.type === 'OUT_OF_ORDER_SEQUENCE_NUMBER'))
    if (again.length === 0) {
      settle({ job, value: outcome })
      continue
    }
    const rest = outcome.failures.filter((f) => !again.includes(f))
    resendAlone(again, job.now, flight.codec, flight.idempotence, gate).then(
      (alone) => settle({ job, value: { results: [...outcome.results, ...alone.results], failures: [...rest, ...alone.failures] } }),
      (error) => settle({ job, error })
    )
  }
}

/** A flush that failed whole: nothing of it is known to be stored. */
function refused(gate, flight) {
  const error = fromNative(flight.error)
  flight.groupCounts.forEach((counts, idx) => {
    for (let p = 0; p < counts.length; p++) if (counts[p] > 0) rollBack(gate, flight, idx, p)
  })
  if (flight.idempotence !== null && isConnectionLoss(error)) flight.idempotence.broken = true
  if (flight.jobs.length > 1 && NOTHING_WRITTEN.has(error.type)) {
    // Nothing was sent: each send gets its own attempt and its own outcome, in call
    // order, so one bad send cannot fail its neighbours (as in the owner's process,
    // where only an idempotent producer's sends all fail).
    for (const job of flight.jobs) {
      resendAlone(partsOf(job), job.now, flight.codec, flight.idempotence, gate).then(
        (value) => settle({ job, value }),
        (own) => settle({ job, error: own })
      )
    }
    return
  }
  for (const job of flight.jobs) settle({ job, error })
}

/**
 * Sends `failures` (partitions of one send, with its messages for each, that a remote
 * flush did not store) again, in a flush of their own. Such resends go one at a time, in
 * the order they were made, before any flush of sends made since (`gate.resends`; they
 * start from `answered`). Messages without a timestamp keep the one their send gave them
 * (`now`). Resolves to that flush's { results, failures }.
 */
function resendAlone(failures, now, codec, idempotence, gate) {
  const b = new Builder(codec, idempotence, gate, true)
  let job
  try {
    job = b.add(resendEntries(failures), now, FORCED_PARTITIONS)
  } catch (e) {
    return Promise.reject(e)
  }
  const promise = new Promise((resolve, reject) => {
    job.resolve = resolve
    job.reject = reject
  })
  gate.resends.push(b)
  return promise
}

module.exports = { flush }
