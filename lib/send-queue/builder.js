'use strict'

// Packs sends into one Buffer plus an Int32Array of lengths (and a Float64Array of
// timestamps), validating and partitioning each message on the way: what one flush hands
// the native side in one call. The layout is decoded by src/binding/produce.rs. Separate
// from the flushes, which only decide when and how a builder's content goes.

const { messageErrors } = require('../validate')
const { partitionMetadataOf } = require('./partition-metadata')

class Builder {
  /**
   * `gate`: the Gate its flushes to a directory another process owns go through (its
   * producer's when idempotent, else one of its own). `resend`: a builder for one resend of
   * parts a flush did not store, whose buffers start small and grow as needed.
   */
  constructor(codec, idempotence, gate, resend = false) {
    this.codec = codec
    // The idempotent producer's Idempotence (idempotence.js), or null.
    this.idempotence = idempotence
    this.gate = gate
    this.resend = resend // it goes alone, when nothing else of its producer is out
    this.data = Buffer.allocUnsafe(resend ? 1 << 12 : 1 << 20) // keys, values, header keys and values
    this.meta = new Int32Array(resend ? 1 << 8 : 1 << 16) // per message: topic index, partition, lengths
    this.timestamps = new Float64Array(resend ? 1 << 6 : 1 << 14) // per message
    this.reset()
  }

  /** Empties the builder for the next flush (its buffers are kept). */
  reset() {
    this.dataPos = 0 // bytes of `data` used
    this.metaPos = 0 // entries of `meta` used
    this.count = 0 // messages, and entries of `timestamps` used
    this.topics = [] // topic names, by topic index
    this.topicIndex = new Map() // topic name -> topic index
    // Per topic index: messages so far per partition in this flush.
    this.groupCounts = []
    this.jobs = [] // the sends in this flush, in call order (see add)
  }

  ensureData(extra) {
    if (this.dataPos + extra > this.data.length) this.data = grown(this.data, this.dataPos, this.dataPos + extra)
  }

  ensureMeta(extra) {
    if (this.metaPos + extra > this.meta.length) this.meta = grown(this.meta, this.metaPos, this.metaPos + extra)
  }

  ensureTimestamps(extra) {
    if (this.count + extra > this.timestamps.length) this.timestamps = grown(this.timestamps, this.count, this.count + extra)
  }

  /**
   * Writes a key, value or header value and returns its length, or -1 for null. Strings
   * are UTF-8; short ASCII ones are copied here, without a call into C++. Numbers and
   * booleans are sent as String(v), as kafkajs does. Returns -2 for anything else.
   */
  write(v) {
    if (v === null || v === undefined) return -1
    if (typeof v === 'string') return this.writeString(v)
    if (v instanceof Uint8Array) {
      this.ensureData(v.length)
      this.data.set(v, this.dataPos)
      this.dataPos += v.length
      return v.length
    }
    if (typeof v === 'number' || typeof v === 'boolean') return this.writeString(String(v))
    return -2
  }

  writeString(s) {
    const n = s.length
    this.ensureData(n * 3)
    if (n <= 64) {
      const d = this.data
      const at = this.dataPos
      let i = 0
      for (; i < n; i++) {
        const c = s.charCodeAt(i)
        if (c > 0x7f) break
        d[at + i] = c
      }
      if (i === n) {
        this.dataPos = at + n
        return n
      }
    }
    const written = this.data.utf8Write(s, this.dataPos)
    this.dataPos += written
    return written
  }

  topicSlot(topic, numPartitions) {
    let idx = this.topicIndex.get(topic)
    if (idx === undefined) {
      idx = this.topics.length
      this.topics.push(topic)
      this.topicIndex.set(topic, idx)
      this.groupCounts.push(new Int32Array(numPartitions))
    } else if (this.groupCounts[idx].length < numPartitions) {
      const grown = new Int32Array(numPartitions)
      grown.set(this.groupCounts[idx])
      this.groupCounts[idx] = grown
    }
    return idx
  }

  /**
   * Validates, partitions and packs one send in a single pass over its messages. If any
   * message is bad the whole send is taken back out and the error thrown, so nothing of
   * it is written. Returns the job, whose `topics` record where its messages sit in each
   * partition's group, to work out its own base offsets from the flush's result.
   */
  add(entries, now, partitioner) {
    const job = { topics: [], now, dataStart: this.dataPos, metaStart: this.metaPos, countStart: this.count }
    try {
      for (const entry of entries) this.addTopic(job, entry, now, partitioner)
    } catch (e) {
      this.dataPos = job.dataStart
      this.metaPos = job.metaStart
      this.count = job.countStart
      for (const { idx, touched } of job.topics) {
        const counts = this.groupCounts[idx]
        for (let i = 0; i < touched.length; i += 2) counts[touched[i]] = touched[i + 1]
      }
      throw e
    }
    job.dataEnd = this.dataPos
    job.metaEnd = this.metaPos
    job.countEnd = this.count
    this.jobs.push(job)
    return job
  }

  addTopic(job, { topic, messages, numPartitions, partitions: forced }, now, partitioner) {
    const idx = this.topicSlot(topic, numPartitions)
    const counts = this.groupCounts[idx]
    // The partitions this send touches, each with the partition's message count before it
    // (where its own messages start in the flush), in order of first touch. A send to one
    // partition (most sends) allocates nothing more; one that reaches a second partition
    // gets `first` (per partition: its count before this send, or -1) and `partitionOf`
    // (each message's partition, to resend only those of partitions that failed).
    const entry = { topic, idx, touched: [], messages, partitionOf: null, numPartitions }
    job.topics.push(entry)
    const { touched } = entry
    let single = -1 // the one partition touched so far; -2 once there are several
    let first = null
    const partitionMetadata = partitionMetadataOf(numPartitions)
    const byKeyBytes = partitioner.samsaKeyBytes
    const n = messages.length
    this.ensureTimestamps(n)
    for (let i = 0; i < n; i++) {
      const m = messages[i]
      if (m === null || typeof m !== 'object') throw messageErrors.notAnObject(topic, i, m)
      const value = m.value
      if (value === undefined) throw messageErrors.noValue(topic, m)
      this.ensureMeta(5)
      const at = this.metaPos
      this.metaPos = at + 5
      const keyStart = this.dataPos
      const keyLen = this.write(m.key)
      if (keyLen === -2) throw messageErrors.bytes(topic, i, 'key', m.key)
      const valueLen = this.write(value)
      if (valueLen === -2) throw messageErrors.bytes(topic, i, 'value', value)

      let p = m.partition
      if (p !== undefined && p !== null && !Number.isInteger(p)) throw messageErrors.partitionType(topic, i, p)
      if (forced !== undefined) p = forced[i]
      else if (byKeyBytes === undefined) p = partitioner({ topic, partitionMetadata, message: m })
      else if (p === undefined || p === null) p = byKeyBytes(topic, partitionMetadata, this.data, keyStart, keyLen)
      if (!Number.isInteger(p)) throw messageErrors.partitionerResult(topic, i, p)
      if (!(p >= 0 && p < numPartitions)) throw messageErrors.partition(topic, i, p, numPartitions)

      const meta = this.meta
      meta[at] = idx
      meta[at + 1] = p
      meta[at + 2] = keyLen
      meta[at + 3] = valueLen
      meta[at + 4] = m.headers === undefined || m.headers === null ? 0 : this.writeHeaders(m.headers, topic, i)

      const ts = m.timestamp
      let t = now
      if (ts !== undefined && ts !== null && ts !== '' && ts !== 0) {
        t = typeof ts === 'number' || typeof ts === 'string' || typeof ts === 'bigint' ? Number(ts) : NaN
        if (!Number.isSafeInteger(t) || t < -1) throw messageErrors.timestamp(topic, i, ts)
      }
      this.timestamps[this.count++] = t
      if (p !== single) {
        if (single === -1) {
          single = p
          touched.push(p, counts[p])
        } else {
          if (first === null) {
            first = new Int32Array(numPartitions).fill(-1)
            first[single] = touched[1]
            entry.partitionOf = new Int32Array(n).fill(single, 0, i)
            single = -2
          }
          if (first[p] < 0) {
            first[p] = counts[p]
            touched.push(p, counts[p])
          }
        }
      }
      if (entry.partitionOf !== null) entry.partitionOf[i] = p
      counts[p]++
    }
  }

  writeHeaders(headers, topic, i) {
    if (typeof headers !== 'object' || Array.isArray(headers)) throw messageErrors.headers(topic, i, headers)
    let count = 0
    for (const key of Object.keys(headers)) {
      const value = headers[key]
      const values = Array.isArray(value) ? value : [value]
      for (const v of values) {
        if (v === undefined) throw messageErrors.headerValue(topic, i, key)
        this.ensureMeta(2)
        const at = this.metaPos
        this.metaPos += 2
        this.meta[at] = this.write(key)
        const len = this.write(v)
        if (len === -2) throw messageErrors.bytes(topic, i, `header "${key}"`, v)
        this.meta[at + 1] = len
        count++
      }
    }
    return count
  }
}

/** A copy of `array` (a Buffer or typed array) at least `need` long, doubling its size;
 * the first `used` elements carry over. */
function grown(array, used, need) {
  let size = array.length * 2
  while (size < need) size *= 2
  const next = Buffer.isBuffer(array) ? Buffer.allocUnsafe(size) : new array.constructor(size)
  next.set(array.subarray(0, used))
  return next
}

module.exports = { Builder }
