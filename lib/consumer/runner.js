'use strict'

// The consumer's run loop: fetches batches from the native side (one call per partition
// batch: one Buffer plus a table of offsets), awaits the user's handler per message in
// offset order, and backs off when a handler or the loop itself keeps failing. Separate
// from the group (who owns which partition) and the offset manager (where each one stands):
// this file only turns an assignment into handler calls.
//
// The loop is a good guest on the application's event loop: it yields to it at least
// every few milliseconds however fast the handler is (so timers, I/O and the release of
// fetched buffers keep up during a catch-up), and only fetches partitions that an append
// (or an assignment, seek or resume) made readable, so thousands of idle partitions cost
// nothing per message.

const { KafkaJSNumberOfRetriesExceeded, isConnectionLoss } = require('../errors')
const { retryDelay } = require('../retry')
const { Batch } = require('../batch')
const { key } = require('./partition-state')

// Bytes asked of one partition per fetch (at most maxBytesPerPartition): smaller batches
// die young in V8's heap instead of being promoted, which measured faster than 1 MiB.
const FETCH_CHUNK_BYTES = 256 * 1024
// Each consumer reads with an id of its own: in a process that does not own the directory,
// what is fetched ahead for one consumer is never taken by another reading the same partition.
let readers = 0
// The longest the loop runs before it lets the event loop turn. An HTTP request on a new
// connection needs about four turns (accept, read, respond, the client's next connect),
// so 2 ms keeps a same-process server's p99 under 20 ms while a consumer catches up (at 5
// ms it was 28-35 ms; the catch-up rate did not change measurably).
const YIELD_AFTER_MS = 2
// The longest wait between two tries of a loop that keeps failing (the process that owns
// the directory is away, say): the wait grows from retry.initialRetryTime as kafkajs's
// retries do, so a long outage logs a line every few seconds rather than every 300 ms,
// and the consumer goes on within this long once the cause is gone.
const LOOP_RETRY_MAX_MS = 5000
// Messages between two looks at the clock inside a batch.
const CLOCK_EVERY = 64

const nextTurn = () => new Promise((resolve) => setImmediate(resolve))

class Runner {
  constructor(consumer, { maxBytesPerPartition, maxWaitTimeInMs, heartbeatInterval, readUncommitted }) {
    this.readUncommitted = readUncommitted
    this.consumer = consumer
    this.maxBytesPerPartition = maxBytesPerPartition
    this.maxWaitTimeInMs = maxWaitTimeInMs
    this.heartbeatInterval = heartbeatInterval // a handler this long checks the membership
    this.readerId = ++readers
    this.handlers = null // { eachMessage, eachBatch, eachBatchAutoResolve }, from run() on
    this.concurrency = 1 // partitionsConsumedConcurrently, from run() on
    // Owned partitions that may have data to fetch.
    this.readable = new Set()
    this.wakeup = null // ends the loop's wait, while it waits
    this.lastYield = 0 // when the loop last let the event loop turn (performance.now())
    this.loopFailures = 0 // failed tries of the loop in a row
    this.loopDone = null // the running loop (it never rejects)
    this.handling = 0 // handlers running now (stop/disconnect from inside one is deferred)
  }

  /** Takes run()'s options for the runs to come. */
  configure({ eachMessage, eachBatch, eachBatchAutoResolve, concurrency }) {
    this.handlers = { eachMessage, eachBatch, eachBatchAutoResolve }
    this.loopFailures = 0
    this.concurrency = concurrency
  }

  start() {
    const { log } = this.consumer
    this.loopDone = this.loop().catch((e) => log.error(`Consumer loop failed: ${e.message}`, { stack: e.stack }))
  }

  /** Waits for the loop to end (once `running` is false and it was woken). */
  async finished() {
    if (this.loopDone) await this.loopDone
    this.loopDone = null
  }

  /** An append landed on a partition: fetch it if it is ours. */
  dataArrived(topic, partition) {
    const k = key(topic, partition)
    if (this.consumer.group.partitions.has(k)) {
      this.readable.add(k)
      this.wake()
    }
  }

  /** Ends the loop's wait at once (stop, resume, seek, new data, a group change). */
  wake() {
    if (this.wakeup) this.wakeup()
  }

  /** Lets the event loop turn if the loop has held it for a while. */
  async maybeYield() {
    const now = performance.now()
    if (now - this.lastYield < YIELD_AFTER_MS) return
    await nextTurn()
    this.lastYield = performance.now()
  }

  async loop() {
    const c = this.consumer
    const { group } = c
    const shared = c.shared
    await nextTurn()
    this.lastYield = performance.now()
    while (c.running) {
      let a = null
      try {
        a = group.pollIfChanged()
      } catch (e) {
        if (!c.running) break
        c.log.warn('Rejoining the group', { groupId: c.groupId, memberId: group.memberId, error: shared.error(e).message })
        c.emit(c.events.REBALANCING, { groupId: c.groupId, memberId: group.memberId })
        try {
          await group.join(shared)
          this.loopFailures = 0
        } catch (joinError) {
          // A closed broker ends the loop; anything else is tried again.
          if (!c.running || shared.closed) break
          // The owning process is away, say: try again after the retry delay.
          const retryTime = this.loopRetryTime()
          c.log.warn('Joining the group failed', { groupId: c.groupId, error: joinError.message, retryCount: this.loopFailures, retryTime })
          await this.pauseLoop(retryTime)
        }
        continue
      }
      try {
        await this.iterate(shared, a)
        this.loopFailures = 0
      } catch (e) {
        // Nothing here may end the loop: a topic deleted under the consumer, say, only
        // drops its partitions (the coordinator revokes them too).
        const retryTime = this.loopRetryTime()
        // A process that owns the directory gone or not answering is an outage the loop
        // waits out (another process takes the directory over): a warning, without a stack.
        if (isConnectionLoss(e)) c.log.warn(`Consumer loop error: ${e.message}`, { groupId: c.groupId, retryCount: this.loopFailures, retryTime })
        else c.log.error(`Consumer loop error: ${e.message}`, { groupId: c.groupId, retryCount: this.loopFailures, retryTime, stack: e.stack })
        // An assignment this round failed to take (its offsets could not be looked up, say)
        // is taken again from the coordinator on the next.
        if (a) group.mustPoll = true
        for (const [k, p] of group.partitions) if ((await shared.partitionCountFresh(p.topic).catch(() => 0)) === null) group.forget(k)
        if (!c.running) break
        await this.pauseLoop(retryTime)
      }
      await this.maybeYield()
    }
  }

  /** Waits `ms` before the loop tries again, or less if the consumer stops meanwhile.
   * Other wake-ups do not cut it short: while the owner is away, its failed fetches are
   * announced too, and would bring the tries back to one a second. */
  async pauseLoop(ms) {
    await new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.wakeup = () => {
        if (this.consumer.running) return
        clearTimeout(timer)
        resolve()
      }
    })
    this.wakeup = null
  }

  /** Counts a failed try of the loop and says how long to wait before the next. */
  loopRetryTime() {
    this.loopFailures++
    // The exponent stays small: a wait that overflowed would come out as NaN (no wait).
    return Math.min(LOOP_RETRY_MAX_MS, retryDelay(this.consumer.retry, Math.min(this.loopFailures, 20)))
  }

  async iterate(shared, a) {
    const c = this.consumer
    if (a) await c.group.applyAssignment(shared, a)
    if (!c.running) return
    const ready = this.readyPartitions()
    if (ready.length > 0 && c.listening(c.events.FETCH_START)) c.emit(c.events.FETCH_START, { nodeId: 0 })
    // Fetch and handle in rounds of as many partitions as may be handled at once, so a
    // consumer of thousands of partitions yields between rounds.
    let delivered = 0
    const round = Math.max(this.concurrency, 1)
    for (let i = 0; i < ready.length && c.running; i += round) {
      const batches = []
      const started = Date.now()
      for (const p of ready.slice(i, i + round)) {
        const batch = this.fetchBatch(shared, p)
        if (batch) batches.push(batch)
      }
      if (batches.length === 0) continue
      delivered += batches.length
      c.emit(c.events.FETCH, { numberOfBatches: batches.length, duration: Date.now() - started, nodeId: 0 })
      await this.processAll(batches)
      await this.maybeYield()
    }
    if (delivered > 0 || !c.running) return
    // Nothing to do: wait for an append to one of our partitions, a change in the group, a
    // wake-up (stop, resume, seek) or the next retry, bounded by maxWaitTimeInMs.
    let wait = this.maxWaitTimeInMs
    const nextRetry = this.nextRetryAt()
    if (nextRetry !== null) wait = Math.max(0, Math.min(wait, nextRetry - Date.now()))
    const woken = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), Math.ceil(wait))
      this.wakeup = () => {
        clearTimeout(timer)
        resolve(true)
      }
    })
    this.wakeup = null
    // The wait let the event loop turn: records that arrived now are fetched at once, not
    // after a turn more (behind the I/O and V8's tasks queued meanwhile).
    this.lastYield = performance.now()
    // A quiet wait ends with every partition looked at again (a safety net: every
    // append made in this process is announced).
    if (!woken) for (const k of c.group.partitions.keys()) this.readable.add(k)
  }

  readyPartitions() {
    const { partitions } = this.consumer.group
    const { subscription } = this.consumer
    const now = Date.now()
    const out = []
    for (const k of this.readable) {
      const p = partitions.get(k)
      if (!p) {
        this.readable.delete(k)
        continue
      }
      if (p.revoked || p.busy || p.damaged || p.resetting || p.retryAt > now || subscription.isPaused(p.topic, p.partition)) continue
      out.push(p)
    }
    return out
  }

  nextRetryAt() {
    let at = null
    for (const p of this.consumer.group.partitions.values()) if (p.retryAt > 0 && (at === null || p.retryAt < at)) at = p.retryAt
    return at
  }

  fetchBatch(shared, p) {
    const c = this.consumer
    let r
    try {
      r = shared.native.fetch(p.topic, p.partition, p.position, Math.min(this.maxBytesPerPartition, FETCH_CHUNK_BYTES), this.readerId, this.readUncommitted)
    } catch (raw) {
      const e = shared.error(raw)
      if (e.type === 'OFFSET_OUT_OF_RANGE') {
        // Retention moved the log start past the position, or a seek went past the end:
        // reset as kafkajs does, to the earliest offset with fromBeginning and to the
        // latest without.
        const fromBeginning = c.fromBeginning(p.topic)
        c.offsets.moveTo(shared, p, fromBeginning ? -2 : -1, () =>
          c.log.warn('Offset out of range, resetting', { topic: p.topic, partition: p.partition, offset: p.position })
        )
        return null
      }
      if (e.type === 'CORRUPT_MESSAGE') {
        this.partitionDamaged(p, e)
        return null
      }
      throw e
    }
    if (r === null) {
      this.readable.delete(key(p.topic, p.partition))
      return null
    }
    const count = r.records.length / 8
    if (count === 0) {
      // Transaction markers, aborted records, or batches a compacted log's cleaner
      // emptied: the position moves past them, and the partition is read again at once.
      if (r.nextOffset > p.position) p.position = r.nextOffset
      else this.readable.delete(key(p.topic, p.partition))
      return null
    }
    return new Batch(p, r, count)
  }

  /** Stored data of a partition is damaged at its position: retrying a disk read cannot
   * help, so the partition stops there (the others keep flowing) and the application
   * hears of it through CRASH; a seek past the damage starts it again. */
  partitionDamaged(p, error) {
    const c = this.consumer
    p.damaged = error
    c.log.error(`Stopped ${p.topic}-${p.partition} at damaged data: ${error.message}`, { topic: p.topic, partition: p.partition, offset: String(p.position) })
    c.emit(c.events.CRASH, { error, groupId: c.groupId, restart: false })
  }

  async processAll(batches) {
    const c = this.consumer
    if (this.concurrency === 1 || batches.length === 1) {
      for (const b of batches) {
        if (!c.running) return
        await this.process(b)
      }
      return
    }
    let next = 0
    const worker = async () => {
      while (c.running && next < batches.length) await this.process(batches[next++])
    }
    await Promise.all(Array.from({ length: Math.min(this.concurrency, batches.length) }, worker))
  }

  async process(batch) {
    const c = this.consumer
    const p = batch.state
    if (p.revoked || c.group.partitions.get(key(p.topic, p.partition)) !== p) return
    const started = Date.now()
    const reporting = c.listening(c.events.START_BATCH_PROCESS) || c.listening(c.events.END_BATCH_PROCESS)
    const info = reporting
      ? {
          topic: batch.topic,
          partition: batch.partition,
          highWatermark: batch.highWatermark,
          offsetLag: batch.offsetLag(),
          offsetLagLow: batch.offsetLagLow(),
          batchSize: batch.messages.length,
          firstOffset: batch.firstOffset(),
          lastOffset: batch.lastOffset(),
        }
      : null
    if (reporting) c.emit(c.events.START_BATCH_PROCESS, info)
    p.seeked = false
    try {
      if (this.handlers.eachMessage) await this.processEachMessage(batch)
      else await this.processEachBatch(batch)
    } catch (e) {
      p.busy = false
      await this.handlerFailed(p, e)
      return
    }
    p.retries = 0
    p.retryAt = 0
    // After a seek the position is where the seek put it; otherwise past this batch.
    if (!p.seeked && !p.revoked) p.position = Math.max(p.position, batch.nextOffset)
    if (reporting) c.emit(c.events.END_BATCH_PROCESS, { ...info, duration: Date.now() - started })
    if (c.offsets.autoCommit) c.offsets.commitSoon()
  }

  /** The pause() a handler is given: pauses its partition, and returns the resume. */
  pauseOf(topic, partition) {
    const c = this.consumer
    return () => {
      c.pause([{ topic, partitions: [partition] }])
      return () => c.resume([{ topic, partitions: [partition] }])
    }
  }

  // The names processEachMessage and processEachBatch are looked for by calledFromHandler.
  async processEachMessage(batch) {
    const c = this.consumer
    const { group, offsets } = c
    const p = batch.state
    const { topic, partition } = batch
    const pause = this.pauseOf(topic, partition)
    const heartbeat = async () => group.heartbeat()
    const { eachMessage } = this.handlers
    const messages = batch.messages
    for (let i = 0; i < messages.length; i++) {
      if (!c.running || p.seeked || p.revoked || group.fenced) break
      const message = messages[i]
      const started = (p.busy = Date.now())
      this.handling++
      try {
        await eachMessage({ topic, partition, message, heartbeat, pause })
      } finally {
        this.handling--
      }
      p.busy = false
      // A seek from inside the handler: the rest of this batch is skipped and reading
      // resumes where the seek points (as kafkajs does).
      if (p.seeked) break
      // After a long handler, make sure this member was not removed meanwhile (the
      // liveness timer may not have run yet) before delivering anything more.
      if (Date.now() - started >= this.heartbeatInterval) group.heartbeat()
      if (group.fenced) break
      p.resolved = Number(message.offset) + 1
      p.position = p.resolved
      offsets.resolvedSinceCommit++
      if (offsets.autoCommit && (offsets.autoCommitInterval !== null || offsets.autoCommitThreshold !== null)) {
        await offsets.commitIfNecessary()
      }
      if (c.subscription.isPaused(topic, partition)) break
      if ((i & (CLOCK_EVERY - 1)) === CLOCK_EVERY - 1) await this.maybeYield()
    }
    if (!p.seeked) batch.nextOffset = p.position
  }

  async processEachBatch(batch) {
    const c = this.consumer
    const { group, offsets } = c
    const p = batch.state
    const { topic, partition } = batch
    p.busy = Date.now()
    this.handling++
    await this.handlers.eachBatch({
      batch,
      resolveOffset: (offset) => {
        p.resolved = Number(offset) + 1
      },
      heartbeat: async () => group.heartbeat(),
      commitOffsetsIfNecessary: async (list) => (list ? c.commitOffsets(list) : offsets.commitIfNecessary()),
      uncommittedOffsets: () => offsets.uncommittedOffsets(),
      isRunning: () => c.running,
      // Stale once the batch's partition was sought, revoked, or taken away from this
      // member (it was removed for a long handler): what it handles now may be handled
      // by the new owner too.
      isStale: () => p.seeked || p.revoked || group.fenced || !group.member || !group.member.owns(topic, partition),
      pause: this.pauseOf(topic, partition),
    }).finally(() => this.handling--)
    p.busy = false
    if (this.handlers.eachBatchAutoResolve && batch.messages.length > 0 && !p.seeked) p.resolved = Number(batch.lastOffset()) + 1
  }

  /** A handler threw: the failed message waits on its partition (nothing after it is
   * delivered) and is retried with backoff; other partitions keep flowing, and the group
   * does not rebalance. When retries run out: CRASH, and restart as kafkajs does. */
  async handlerFailed(p, e) {
    const c = this.consumer
    const { retry } = c
    c.log.error(`Error when processing ${p.topic}-${p.partition}: ${e.message}`, { topic: p.topic, partition: p.partition, stack: e.stack })
    if (c.offsets.autoCommit) await c.offsets.commitPartitions([p]).catch(() => {})
    if (!p.seeked) p.position = p.resolved !== null ? p.resolved : p.position
    p.retries += 1
    if (p.retries <= retry.retries) {
      p.retryAt = Date.now() + retryDelay(retry, p.retries)
      return
    }
    const error = new KafkaJSNumberOfRetriesExceeded(e, { retryCount: p.retries - 1, retryTime: retryDelay(retry, p.retries) })
    let restart = true
    if (typeof retry.restartOnFailure === 'function') {
      restart = await Promise.resolve()
        .then(() => retry.restartOnFailure(error))
        .catch(() => true)
    }
    c.emit(c.events.CRASH, { error, groupId: c.groupId, restart: !!restart })
    if (!restart) {
      // Called from inside the loop: end it here and finish stopping once it has.
      c.running = false
      setImmediate(() => c.stop())
      return
    }
    // Restart: start this partition again from its committed offset after the backoff.
    p.retries = 0
    p.retryAt = Date.now() + retryDelay(retry, 1)
    p.position = p.committed !== null ? p.committed : p.position
    p.resolved = null
  }
}

/** Whether the caller runs inside a handler the runner called, so stop() and
 * disconnect() can tell a call from inside a handler (which must not wait for the handler
 * to return) from one made elsewhere while a handler runs (which must): V8's async stack
 * traces follow `await` chains back to the two methods that await handlers (and nothing
 * else of theirs stops the consumer). A wrapper function just for its name cost an
 * eachMessage consumer 15%. Only looked at while a handler runs. */
function calledFromHandler() {
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 1000
  const stack = new Error().stack
  Error.stackTraceLimit = limit
  return stack.includes('processEachMessage') || stack.includes('processEachBatch')
}

module.exports = { Runner, calledFromHandler }
