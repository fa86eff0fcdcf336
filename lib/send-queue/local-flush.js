'use strict'

// A flush in the process that owns the directory: one native append for every send in
// the builder, answered at once, and with `fsync: true` one group-committed fsync before
// the sends resolve. Apart from the remote flush, whose answers come later and in order
// behind others.

const { fromNative } = require('../errors')
const { NOTHING_WRITTEN, settle, rowsOf, outcomeOf } = require('./outcome')

/** Flushes `b` through `queue` (a SendQueue) and settles each of its sends. */
function flushLocal(queue, b) {
  const shared = queue.shared
  const { jobs } = b
  let out = null
  let error = null
  try {
    out = queue.produce(b, 0, b.dataPos, 0, b.metaPos, 0, b.count)
  } catch (e) {
    error = fromNative(e)
  }
  if (!error || jobs.length > 1) shared.appended(b.topics, b.groupCounts)
  let settled
  if (!error) {
    const rows = rowsOf(out)
    if (b.idempotence !== null) b.idempotence.advance(b, out, rows)
    settled = jobs.map((job) => ({ job, value: outcomeOf(job, out, rows) }))
  } else if (jobs.length > 1 && NOTHING_WRITTEN.has(error.type) && b.idempotence === null) {
    // Nothing was written: give each send its own attempt and its own outcome.
    settled = jobs.map((job) => {
      try {
        const own = queue.produce(b, job.dataStart, job.dataEnd, job.metaStart, job.metaEnd, job.countStart, job.countEnd)
        return { job, value: outcomeOf(job, own, rowsOf(own), true) }
      } catch (e) {
        return { job, error: fromNative(e) }
      }
    })
  } else {
    settled = jobs.map((job) => ({ job, error }))
  }
  b.reset()
  if (!shared.fsync) {
    for (const s of settled) settle(s)
    return
  }
  const synced = shared.callAsync(() => shared.native.sync()).then(
    () => settled.forEach(settle),
    (e) => settled.forEach((s) => settle(s.error ? s : { job: s.job, error: e }))
  )
  queue.track(synced)
}

module.exports = { flushLocal }
