'use strict'

// What a flush did for each send in it. The native side answers a flush per partition,
// as Kafka's produce response is: a send resolves to { results, failures } (kafkajs's
// RecordMetadata for the partitions stored, and { topic, partition, error, messages } for
// those that failed), and the producer retries only the partitions that failed. Both
// flushes (local and remote) read their answers here, and resend failed parts with the
// entries made here.

const { fromNative } = require('../errors')

// Errors the native side raises before it writes anything: a flush that fails with one
// of these is retried send by send, so one bad send cannot fail its neighbours.
const NOTHING_WRITTEN = new Set([
  'MESSAGE_TOO_LARGE',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'INVALID_RECORD',
  'UNSUPPORTED_COMPRESSION_TYPE',
])
// Fields per row of a flush result (see outcomeOf).
const RESULT_FIELDS = 6

function settle({ job, value, error }) {
  if (error) job.reject(error)
  else job.resolve(value)
}

/** Index of a flush result: topic index * 65536 + partition -> row start; null for a
 * short result (a flush of a few partitions, the common case), which `rowAt` scans. */
function rowsOf(out) {
  const r = out.rows
  if (r.length <= 8 * RESULT_FIELDS) return null
  const rows = new Map()
  for (let i = 0; i < r.length; i += RESULT_FIELDS) rows.set(r[i] * 65536 + r[i + 1], i)
  return rows
}

function rowAt(out, rows, idx, p) {
  if (rows !== null) return rows.get(idx * 65536 + p)
  const r = out.rows
  for (let i = 0; i < r.length; i += RESULT_FIELDS) if (r[i] === idx && r[i + 1] === p) return i
  return undefined
}

/**
 * A flush result lists, per topic-partition, [topic index, partition, base offset, log
 * start offset, error index, LogAppendTime or -1]; a job's own base offset in a partition is that base plus
 * the number of messages of earlier jobs in it. `alone`: the result is of this job by
 * itself. Returns { results, failures }.
 */
function outcomeOf(job, out, rows, alone = false) {
  const results = []
  const failures = []
  const r = out.rows
  for (const { topic, idx, touched, messages, partitionOf, numPartitions } of job.topics) {
    // In partition order, as before and as kafkajs lists a topic's partitions.
    const order = touched.length === 2 ? touched : sortedPairs(touched)
    for (let k = 0; k < order.length; k += 2) {
      const p = order[k]
      const at = rowAt(out, rows, idx, p)
      if (r[at + 4] >= 0) {
        failures.push({ topic, partition: p, numPartitions, error: fromNative(out.errors[r[at + 4]]), messages: messagesIn(messages, partitionOf, p) })
        continue
      }
      results.push({
        topicName: topic,
        partition: p,
        errorCode: 0,
        baseOffset: String(r[at + 2] + (alone ? 0 : order[k + 1])),
        logAppendTime: String(r[at + 5]),
        logStartOffset: String(r[at + 3]),
      })
    }
  }
  return { results, failures }
}

/** A send's messages to partition `p` of a topic (`partitionOf`: each message's partition,
 * null when they all went to one). */
function messagesIn(messages, partitionOf, p) {
  return partitionOf === null ? messages : messages.filter((_, i) => partitionOf[i] === p)
}

/** Every partition a job wrote to, with its messages there, as `resendEntries` takes them. */
function partsOf(job) {
  const parts = []
  for (const { topic, touched, messages, partitionOf, numPartitions } of job.topics) {
    for (let k = 0; k < touched.length; k += 2) {
      const p = touched[k]
      parts.push({ topic, partition: p, numPartitions, messages: messagesIn(messages, partitionOf, p) })
    }
  }
  return parts
}

/** Entries that send the messages of `failures` ({ topic, partition, numPartitions,
 * messages }) again, each to the partition it went to. */
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

/** [partition, value, ...] pairs sorted by partition. */
function sortedPairs(pairs) {
  const idx = []
  for (let k = 0; k < pairs.length; k += 2) idx.push(k)
  idx.sort((a, b) => pairs[a] - pairs[b])
  const out = []
  for (const k of idx) out.push(pairs[k], pairs[k + 1])
  return out
}

module.exports = { NOTHING_WRITTEN, RESULT_FIELDS, settle, rowsOf, rowAt, outcomeOf, partsOf, resendEntries }
