'use strict'

// Packs sends into one Buffer plus an Int32Array of lengths and crosses into the native
// side once per flush. Every send made in the same turn of the event loop (say, one per
// HTTP request that arrived together) joins the same flush: one native append for all of
// them, and with `fsync: true` one group-committed fsync. An idempotent producer's sends
// get a flush of their own, stamped with its producer id and per-partition sequences.
//
// Results are per partition, as Kafka's produce response is: a send resolves to
// { results, failures }, and the producer retries only the partitions that failed.
//
// The layout is decoded by src/binding/produce.rs.

const { fromNative, isConnectionLoss } = require('./errors')
const { messageErrors } = require('./validate')

// Errors the native side raises before it writes anything: a flush that fails with one
// of these is retried send by send, so one bad send cannot fail its neighbours.
const NOTHING_WRITTEN = new Set([
  'MESSAGE_TOO_LARGE',
  'UNKNOWN_TOPIC_OR_PARTITION',
  'INVALID_RECORD',
  'UNSUPPORTED_COMPRESSION_TYPE',
])

class Builder {
  /** `small`: a builder for one send, whose buffers start small and grow as needed. */
  constructor(codec, idempotence, small = false) {
    this.codec = codec
    // The idempotent producer's { producerId, epoch, sequences: Map }, or null.
    this.idempotence = idempotence
    this.data = Buffer.allocUnsafe(small ? 1 << 12 : 1 << 20)
    this.meta = new Int32Array(small ? 1 << 8 : 1 << 16)
    this.timestamps = new Float64Array(small ? 1 << 6 : 1 << 14)
    this.reset()
  }

  reset() {
    this.dataPos = 0
    this.metaPos = 0
    this.count = 0
    this.topics = []
    this.topicIndex = new Map()
    // Per topic index: messages so far per partition in this flush.
    this.groupCounts = []
    this.jobs = []
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

// One partition-metadata array per partition count, shaped as kafkajs's metadata.
const metadataCache = new Map()
function partitionMetadataOf(n) {
  let m = metadataCache.get(n)
  if (!m) {
    m = Array.from({ length: n }, (_, partitionId) => ({
      partitionErrorCode: 0,
      partitionId,
      leader: 0,
      replicas: [0],
      isr: [0],
      offlineReplicas: [],
    }))
    metadataCache.set(n, m)
  }
  return m
}

class SendQueue {
  constructor(shared) {
    this.shared = shared
    this.builders = new Map() // codec (and idempotent producer) -> Builder
    this.scheduled = null
    this.inflight = new Set()
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
    if (idempotence !== null && idempotence.slot === undefined) idempotence.slot = ++producerSlots
    const slot = idempotence === null ? codec : `${codec}:${idempotence.slot}`
    let b = this.builders.get(slot)
    if (!b) {
      b = new Builder(codec, idempotence)
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
      if (this.shared.remote && gateOf(b).flights === 0) {
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

  /** [topic index, partition, base sequence] per partition `b` writes to, for an
   * idempotent producer: the sequences that follow what it sent before. */
  sequencesOf(b) {
    const idem = b.idempotence
    if (idem === null) return NO_SEQUENCES
    const out = []
    b.groupCounts.forEach((counts, idx) => {
      for (let p = 0; p < counts.length; p++) {
        if (counts[p] > 0) out.push(idx, p, idem.sequences.get(`${b.topics[idx]}\u0000${p}`) || 0)
      }
    })
    return Int32Array.from(out)
  }

  /** One native append for everything in `b` (or the part of it in the ranges given). */
  produce(b, dataStart, dataEnd, metaStart, metaEnd, countStart, countEnd, sequences = this.sequencesOf(b)) {
    const idem = b.idempotence
    return this.shared.native.produce(
      b.topics,
      b.data.subarray(dataStart, dataEnd),
      b.meta.subarray(metaStart, metaEnd),
      b.timestamps.subarray(countStart, countEnd),
      b.codec,
      idem === null ? -1 : idem.producerId,
      idem === null ? -1 : idem.epoch,
      sequences
    )
  }

  /**
   * A flush: one native produce, answered by a promise (at once in the process that owns
   * the directory; by the owner's answer to one Produce request in any other).
   * A producer has up to MAX_IN_FLIGHT of them out at a time, as Kafka's idempotent
   * producer does (`max.in.flight.requests.per.connection`): each takes its sequences
   * from where the one before it ends, as if that one is stored whole, and the owner
   * answers a connection's requests in order. Sends made while the producer is at the cap
   * wait in the builder and go in the next flush.
   *
   * Answers are handled in the order the flushes went (`answered`). When a partition
   * fails, the partition's sequence goes back to where that flush had it, and the flushes
   * already out behind it, which the owner refuses for that partition as out of order,
   * are not the senders' failures: their parts go again, each send's in a flush of its
   * own, once every flush out has been answered, and before anything newer.
   *
   * A lost connection resends the very same request (same sequences: the owner drops what
   * it already has) for a while (src/remote); when that fails too, the producer takes a
   * new producer id, so no later send can be taken for the one whose fate is unknown.
   */
  flush(b) {
    const gate = gateOf(b)
    if (gate.renewing) return
    if (b.gate) {
      // A resend goes alone, when nothing else is out.
      if (gate.flights > 0) return
    } else if (gate.flights >= MAX_IN_FLIGHT || gate.recovering || gate.alone || gate.resends.length > 0) {
      return
    } else if (gate.flights > 0 && !this.mayGoBehind(b)) {
      return
    }
    if (b.idempotence !== null && b.idempotence.broken) {
      // What waits in the builder goes once the new producer id is here.
      gate.renewing = this.renewProducerId(b.idempotence).then(
        () => {
          gate.renewing = null
          this.flush(b)
          this.next(gate)
        },
        (e) => {
          gate.renewing = null
          const { jobs } = b
          b.reset()
          for (const job of jobs) job.reject(fromNative(e))
          this.next(gate)
        }
      )
      this.track(gate.renewing)
      return
    }
    const idem = b.idempotence
    const sequences = this.sequencesOf(b)
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
      large: !this.oneBatchEach(b),
      alone: Boolean(b.gate),
      sent: false,
      done: false,
      out: null,
      error: null,
    }
    // The native side encodes the send before it returns (the builder's buffers are free
    // again at once), and resends the very same request over a lost connection.
    let request
    try {
      request = this.produce(b, 0, b.dataPos, 0, b.metaPos, 0, b.count, sequences)
      flight.sent = true
    } catch (e) {
      request = Promise.reject(e)
      // Its sends are tried one by one once the flushes before it are answered, before
      // anything newer.
      gate.recovering = true
    }
    if (flight.sent && idem !== null) {
      // The next flush follows on from this one.
      for (let i = 0; i < sequences.length; i += 3) {
        const [idx, p, base] = [sequences[i], sequences[i + 1], sequences[i + 2]]
        idem.sequences.set(`${b.topics[idx]}\u0000${p}`, (base + b.groupCounts[idx][p]) % SEQUENCE_SPACE)
      }
    }
    b.reset()
    gate.flights++
    if (flight.alone || flight.large) gate.alone = true
    gate.queue.push(flight)
    const handled = request.then(
      (out) => {
        flight.out = out
      },
      (e) => {
        flight.error = e
      }
    ).then(() => {
      flight.done = true
      this.answered(gate)
    })
    this.track(handled)
  }

  /** Handles the answers in, in the order their flushes went, and starts what may go. */
  answered(gate) {
    while (gate.queue.length > 0 && gate.queue[0].done) {
      const flight = gate.queue.shift()
      gate.flights--
      if (flight.alone || flight.large) gate.alone = false
      if (flight.error === null) this.stored(gate, flight)
      else this.refused(gate, flight)
    }
    if (gate.flights === 0) {
      // Every flush sent with sequences from before a failure has been answered.
      gate.recovering = false
      gate.rolledBack.clear()
    }
    this.next(gate)
  }

  /**
   * Whether `b` may go while other flushes of its producer are out. The owner remembers
   * a producer's last 5 batches per partition, to answer one sent again after a lost
   * connection instead of storing it twice, so the flushes out hold one batch per
   * partition at most. And it takes a producer it does not know on a partition at any
   * sequence: a flush behind one it refused would be stored out of order. So `b` must write
   * only where this producer id's sends were stored lately.
   */
  mayGoBehind(b) {
    if (!this.oneBatchEach(b)) return false
    const idem = b.idempotence
    if (idem === null) return true
    const since = Date.now() - KNOWN_FOR_MS
    for (let idx = 0; idx < b.groupCounts.length; idx++) {
      const counts = b.groupCounts[idx]
      for (let p = 0; p < counts.length; p++) {
        if (counts[p] === 0) continue
        const at = idem.stored && idem.stored.get(`${b.topics[idx]}\u0000${p}`)
        if (!(at >= since)) return false
      }
    }
    return true
  }

  /** Whether every partition's records in `b` fit one batch of the directory's size: all
   * of them together do, reckoning each record's framing at its largest (8 bytes per
   * entry of `meta`) and a batch header per partition. */
  oneBatchEach(b) {
    if (b.count === 1) return true
    let partitions = 0
    for (const counts of b.groupCounts) for (let p = 0; p < counts.length; p++) if (counts[p] > 0) partitions++
    return b.dataPos + 8 * b.metaPos + BATCH_HEADER_BYTES * partitions <= this.shared.settings.maxMessageBytes
  }

  /** Starts what waits for a producer: its resends first, one at a time, then its builders. */
  next(gate) {
    if (gate.renewing) return
    if (gate.resends.length > 0) {
      if (gate.flights === 0) this.flush(gate.resends.shift())
      return
    }
    for (const other of this.builders.values()) if (other.count > 0 && gateOf(other) === gate) this.flush(other)
  }

  /** A partition of `flight` was not stored: the producer's next sequence there goes back
   * to where this flush had it (the earliest such flush wins), and later flushes out wait. */
  rollBack(gate, flight, idx, p) {
    gate.recovering = true
    const idem = flight.idempotence
    if (idem === null || !flight.sent) return
    const key = `${flight.topics[idx]}\u0000${p}`
    if (gate.rolledBack.has(key)) return
    gate.rolledBack.add(key)
    const s = flight.sequences
    for (let i = 0; i < s.length; i += 3) if (s[i] === idx && s[i + 1] === p) idem.sequences.set(key, s[i + 2])
  }

  /** A flush the owner answered: each send's outcome, per partition. */
  stored(gate, flight) {
    const { out, idempotence: idem } = flight
    this.shared.appended(flight.topics, flight.groupCounts)
    const rows = rowsOf(out)
    const r = out.rows
    const now = Date.now()
    for (let i = 0; i < r.length; i += RESULT_FIELDS) {
      const [idx, p, error] = [r[i], r[i + 1], r[i + 4]]
      if (idem === null) {
        if (error >= 0) this.rollBack(gate, flight, idx, p)
        continue
      }
      const key = `${flight.topics[idx]}\u0000${p}`
      // Stored behind a flush refused there, or refused as out of order with nothing
      // before it: the owner's sequence for the partition is not the one kept here. The
      // next flush takes a new producer id, which starts afresh everywhere.
      if (error < 0 ? gate.rolledBack.has(key) : !flight.behind && fromNative(new Error(out.errors[error])).type === 'OUT_OF_ORDER_SEQUENCE_NUMBER') {
        idem.broken = true
      }
      if (error >= 0) this.rollBack(gate, flight, idx, p)
      else (idem.stored || (idem.stored = new Map())).set(key, now)
    }
    for (const job of flight.jobs) {
      const outcome = outcomeOf(job, out, rows)
      // A partition the owner refused whole (a message too large for the topic) was
      // refused for every send in this flush that wrote to it: one bad send must not fail
      // its neighbours, so each such send's part goes again in a flush of its own. (The
      // owner refuses a partition by itself when the topic's own limit is lower than the
      // directory's, which sends are cut to.) So does a part refused as out of order
      // behind an earlier flush's failure.
      const again = outcome.failures.filter((f) => (flight.jobs.length > 1 && f.error.type === 'MESSAGE_TOO_LARGE') || (flight.behind && f.error.type === 'OUT_OF_ORDER_SEQUENCE_NUMBER'))
      if (again.length === 0) {
        settle({ job, value: outcome })
        continue
      }
      const rest = outcome.failures.filter((f) => !again.includes(f))
      this.resendAlone(again, job.now, flight.codec, flight.idempotence, gate).then(
        (alone) => settle({ job, value: { results: [...outcome.results, ...alone.results], failures: [...rest, ...alone.failures] } }),
        (error) => settle({ job, error })
      )
    }
  }

  /** A flush that failed whole: nothing of it is known to be stored. */
  refused(gate, flight) {
    const error = fromNative(flight.error)
    flight.groupCounts.forEach((counts, idx) => {
      for (let p = 0; p < counts.length; p++) if (counts[p] > 0) this.rollBack(gate, flight, idx, p)
    })
    if (flight.idempotence !== null && isConnectionLoss(error)) flight.idempotence.broken = true
    if (flight.jobs.length > 1 && NOTHING_WRITTEN.has(error.type)) {
      // Nothing was sent: each send gets its own attempt and its own outcome, in call
      // order, so one bad send cannot fail its neighbours (as in the owner's process,
      // where only an idempotent producer's sends all fail).
      for (const job of flight.jobs) {
        this.resendAlone(partsOf(job), job.now, flight.codec, flight.idempotence, gate).then(
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
  resendAlone(failures, now, codec, idempotence, gate) {
    const b = new Builder(codec, idempotence, true)
    b.gate = gate
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

  /** Keeps `promise` among the flushes `drain()` waits for, until it settles. */
  track(promise) {
    this.inflight.add(promise)
    promise.finally(() => this.inflight.delete(promise))
  }

  /** A new producer id for an idempotent producer whose last send's fate is unknown. */
  async renewProducerId(idem) {
    const [producerId, epoch] = await this.shared.native.initProducerId()
    idem.producerId = producerId
    idem.epoch = epoch
    idem.sequences = new Map()
    idem.stored = new Map()
    idem.broken = false
  }

  /** Flushes what is queued and waits for pending fsyncs (before the broker closes). */
  async drain() {
    if (this.scheduled) {
      if (!this.scheduled.microtask) clearImmediate(this.scheduled)
      this.flushAll()
    }
    // A remote flush answered may start the next one: wait until none is left.
    while (this.inflight.size > 0) await Promise.all([...this.inflight])
  }
}

const NO_SEQUENCES = new Int32Array(0)
// Produce requests a producer has out at a time to a directory another process owns
// (Kafka allows up to 5 with idempotence: as many batches as a partition remembers per
// producer). A flush that may be more than one batch per partition goes alone.
const MAX_IN_FLIGHT = 4
// A flush goes behind others only to partitions where the producer's sends were stored
// this recently: the owner forgets a producer idle for 24 hours.
const KNOWN_FOR_MS = 60 * 60 * 1000
// A record batch's header (61 bytes), rounded up.
const BATCH_HEADER_BYTES = 64
let producerSlots = 0
// The partitioner of a resend, whose every message keeps the partition it had.
const FORCED_PARTITIONS = () => {
  throw new Error('a resend gives every message its partition')
}
const RESULT_FIELDS = 6
const SEQUENCE_SPACE = 2 ** 31

/** The producer a remote flush belongs to (its idempotence state, or the builder), with
 * the state of its flushes out. */
function gateOf(b) {
  const gate = b.gate || b.idempotence || b
  if (gate.queue === undefined) {
    gate.queue = [] // flushes out, oldest first
    gate.flights = 0
    gate.recovering = false // a flush failed; those behind it are still out
    gate.rolledBack = new Set() // partitions whose sequence went back meanwhile
    gate.alone = false // a resend is out
    gate.resends = []
    gate.renewing = null
  }
  return gate
}

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
        failures.push({ topic, partition: p, numPartitions, error: fromNative(new Error(out.errors[r[at + 4]])), messages: messagesIn(messages, partitionOf, p) })
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

module.exports = { SendQueue, partitionMetadataOf, resendEntries }
