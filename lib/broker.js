'use strict'

// One native broker per data directory in this process, shared by every Kafka object
// that names the same real path and reference-counted by the clients connected to it.
// When the last client disconnects, the broker flushes, writes its clean-shutdown marker
// and releases the directory lock. Nothing here keeps the event loop alive.

const fs = require('node:fs')
const path = require('node:path')
const native = require('../binding.js')
const { fromNative, KafkaJSConnectionError } = require('./errors')
const { SendQueue } = require('./send-queue')
const settings = require('./settings')

// How long a topic's partition count is taken from this process's memory before it is
// read again (partitions another process added show within it).
const TOPIC_COUNT_MAX_AGE_MS = 1000
// How long a process that finds the directory locked waits for its owner to serve it (an
// owner that is starting records its socket a moment after taking the lock).
const CONNECT_WAIT_MS = 10_000

const open = new Map() // real path -> SharedBroker
// real path -> promise of a close in progress: a connect made meanwhile waits for it, so
// it never finds the directory still locked by this very process.
const closing = new Map()

class SharedBroker {
  constructor(key, options, logger, requestTimeout) {
    this.key = key
    this.requestTimeout = requestTimeout
    this.refs = 0
    this.logger = logger
    this.native = null
    this.closed = false
    // Whether another process owns the directory (this one reaches it through that one):
    // false from the moment this process takes the directory over. Kept here, as every
    // send reads it.
    this.remote = false
    // Topic name -> [partition count, when it was read (performance.now())]: every send
    // looks its topic up. Cleared when this process changes topics or takes the directory
    // over; other processes' changes show within TOPIC_COUNT_MAX_AGE_MS.
    this.topicCounts = new Map()
    // The directory's broker settings in force (lib/settings.js), once open.
    this.settings = null
    this.fsync = false
    this.autoCreateTopics = true
    // Topic name -> promise of its auto-creation in progress.
    this.creatingTopics = new Map()
    // Topic name -> the turn of the latest send still waiting for the topic to be looked
    // up (lib/producer.js): later sends to it queue behind that one, in call order.
    this.topicTurns = new Map()
    // Running consumers of this process. Every append and every group change comes
    // through this object's callers, so consumers learn of them here, in JS, without a
    // round trip through a native thread.
    this.consumers = new Set()
    this.consumersByGroup = new Map() // group id -> Set of consumers
    // Joins wait their turn here, so a burst of consumers starting together (hundreds of
    // groups) runs a few milliseconds of joining per turn of the event loop, not all at once.
    this.joinQueue = Promise.resolve()
    this.joinTurnStarted = 0
    this.opening = openOrConnect(key, options, logger, requestTimeout).then(
      ({ n, inForce, connected }) => {
        this.native = n
        this.remote = connected
        this.settings = inForce
        this.fsync = inForce.fsync
        this.autoCreateTopics = inForce.autoCreateTopics
        this.sendQueue = new SendQueue(this)
        // Appends that come over the Kafka wire protocol wake this process's consumers too.
        drainNativeLogs(logger)
        if (!n.openedClean) logger.info('Recovered the data directory after an unclean stop', { dataDir: key })
        // The owner exited and this process took the directory over: the same native
        // handle now serves it from here. Consumers look again at once (their members,
        // known only to the old owner, join again).
        const tookOver = (pid) => {
          drainNativeLogs(logger)
          logger.info('The owning process exited: this process took the data directory over and serves it', { dataDir: key, pid })
          // The settings the directory was opened with here: the last owner's record.
          this.settings = settings.effective(settings.read(key))
          this.fsync = this.settings.fsync
          this.autoCreateTopics = this.settings.autoCreateTopics
          this.remote = false
          this.topicsChanged()
        }
        n.onTakeover(tookOver)
        // Taken over already, before the callback was there to hear it.
        if (connected && !n.remote) tookOver(process.pid)
        return this
      },
      (err) => {
        open.delete(key)
        throw fromNative(err)
      }
    )
  }

  /** Partition count of a topic as this process knows it, or null if unknown. */
  partitionCount(topic) {
    const now = performance.now()
    const known = this.topicCounts.get(topic)
    if (known !== undefined && now - known[1] < TOPIC_COUNT_MAX_AGE_MS) return known[0]
    const n = this.call(() => this.native.partitionCount(topic))
    if (n === null) this.topicCounts.delete(topic)
    else this.topicCounts.set(topic, [n, now])
    return n
  }

  /** The partition count, loading the topics again when this process does not know the
   * topic (another process may have created it). */
  async partitionCountFresh(topic) {
    const n = this.partitionCount(topic)
    if (n !== null) return n
    await this.refreshTopics()
    return this.partitionCount(topic)
  }

  /** Loads the topics again where another process may have changed them (the owner's
   * own handle has nothing to load), and forgets the counts kept here. */
  async refreshTopics() {
    await this.callAsync(() => this.native.refreshTopics())
    this.topicCounts.clear()
  }

  topicsChanged() {
    this.topicCounts.clear()
    this.wakeAll()
  }

  /** A flush appended to these partitions: `topics[i]` got records in partition p where
   * `counts[i][p] > 0`. The consumers reading them learn which partitions have data. */
  appended(topics, counts) {
    if (this.consumers.size === 0) return
    for (const c of this.consumers) {
      for (let i = 0; i < topics.length; i++) {
        if (!c.subscribedTo(topics[i])) continue
        const n = counts[i]
        for (let p = 0; p < n.length; p++) if (n[p] > 0) c.dataArrived(topics[i], p)
      }
    }
  }

  /** Appends made over the wire landed on (topics[i], partitions[i]). */
  remoteAppended(topics, partitions) {
    if (topics.length === 0) {
      this.wakeAll()
      return
    }
    for (const c of this.consumers) {
      for (let i = 0; i < topics.length; i++) if (c.subscribedTo(topics[i])) c.dataArrived(topics[i], partitions[i])
    }
  }

  addConsumer(c) {
    // Appends made by other processes (or, for a directory another process owns, fetched
    // records and group news; empty lists) wake this process's consumers. Heard only
    // while there are consumers to wake.
    if (this.consumers.size === 0) this.native.watchAppends((topics, partitions) => this.remoteAppended(topics, partitions))
    this.consumers.add(c)
    let set = this.consumersByGroup.get(c.groupId)
    if (!set) this.consumersByGroup.set(c.groupId, (set = new Set()))
    set.add(c)
  }

  removeConsumer(c) {
    this.consumers.delete(c)
    if (this.consumers.size === 0 && !this.closed) this.native.watchAppends(null)
    const set = this.consumersByGroup.get(c.groupId)
    if (set) {
      set.delete(c)
      if (set.size === 0) this.consumersByGroup.delete(c.groupId)
    }
  }

  /** A group changed (a join, leave or hand-over): wake its members. */
  wakeGroup(groupId) {
    const set = this.consumersByGroup.get(groupId)
    if (set) for (const c of set) c.wake()
  }

  /** Runs `task` (a consumer's join) after the joins queued before it, letting the
   * event loop turn whenever the joins have held it for a few milliseconds. */
  joining(task) {
    const run = async () => {
      if (performance.now() - this.joinTurnStarted > 5) {
        await new Promise((resolve) => setImmediate(resolve))
        this.joinTurnStarted = performance.now()
      }
      return task()
    }
    const result = this.joinQueue.then(run, run)
    this.joinQueue = result.catch(() => {})
    return result
  }

  /** Topics changed: every consumer looks again. */
  wakeAll() {
    for (const c of this.consumers) c.wake()
  }

  /** A native error as the kafkajs error it stands for. */
  error(e) {
    return fromNative(e)
  }

  /** Runs a synchronous native call, turning its errors into kafkajs errors. */
  call(fn) {
    try {
      return fn()
    } catch (e) {
      throw fromNative(e)
    }
  }

  async callAsync(fn) {
    try {
      return await fn()
    } catch (e) {
      throw fromNative(e)
    }
  }

  async release() {
    this.refs -= 1
    if (this.refs > 0 || this.closed) return
    await this.close()
  }

  close() {
    if (this.closed) return this.closedPromise
    this.closed = true
    if (open.get(this.key) === this) open.delete(this.key)
    const done = (async () => {
      try {
        if (this.sendQueue) await this.sendQueue.drain()
        if (this.native) await this.callAsync(() => this.native.close())
      } finally {
        drainNativeLogs(this.logger)
      }
    })()
    this.closedPromise = done
    closing.set(this.key, done)
    done.then(
      () => closing.get(this.key) === done && closing.delete(this.key),
      () => closing.get(this.key) === done && closing.delete(this.key)
    )
    return done
  }
}

const LOG_METHODS = { 1: 'error', 2: 'warn', 4: 'info', 5: 'debug' }

/** Passes the core's log lines (recovery, group timeouts, topic changes) to the loggers
 * of the open brokers, that is, through the users' logCreator. */
function drainNativeLogs(logger) {
  // Lines are taken only when there is a logger for them: another copy of this module in
  // the process (a second registry of Jest's, a bundle) with nothing open must not take
  // and drop the lines of the copy that has the broker.
  const target = logger || [...open.values()].find((s) => !s.closed)?.logger
  if (!target) return
  const lines = native.takeLogs()
  if (lines.length === 0) return
  for (const { level, message, fields } of lines) {
    target[LOG_METHODS[level] || 'debug'](message, fields ? { fields } : {})
  }
}

// Drained once a second while a broker is open; unref'd, so it never keeps a process alive.
setInterval(drainNativeLogs, 1000).unref()

/** Opens the directory as its owner, or, when another process owns it, connects to that
 * process (each request waiting up to `requestTimeout` ms for its answer). Resolves to
 * { n: the native handle, inForce: the settings in force, connected: whether through
 * another process }. */
async function openOrConnect(key, given, logger, requestTimeout) {
  const deadline = Date.now() + CONNECT_WAIT_MS
  let delay = 10
  for (;;) {
    const ownerSettings = settings.forOwner(key, given)
    let ownerError
    try {
      const n = await native.openBroker(key, ownerSettings, settings.serialize(ownerSettings))
      return { n, inForce: settings.effective(ownerSettings), connected: false }
    } catch (e) {
      ownerError = fromNative(e)
      if (ownerError.samsaType !== 'DATA_DIR_LOCKED') throw ownerError
    }
    let n = null
    try {
      // Should the owner exit, this process may take the directory over: with the
      // settings in force, as the owner recorded them.
      const asOwner = settings.forOwner(key, given)
      n = await native.connectBroker(key, asOwner, settings.serialize(asOwner), requestTimeout)
      // Read again now that the owner answered: it records its settings before it serves.
      const current = settings.effective(settings.read(key))
      settings.check(key, current, given, 'as its owning process opened it')
      logger.info('Another process owns the data directory: using it through that process', { dataDir: key })
      return { n, inForce: current, connected: true }
    } catch (e) {
      if (n) await n.close().catch(() => {})
      const err = fromNative(e)
      // A refused permission or a settings mismatch does not mend by waiting.
      if (!err.retriable) throw err
      if (Date.now() > deadline) throw notServed(ownerError, err)
      await new Promise((resolve) => setTimeout(resolve, delay))
      delay = Math.min(delay * 2, 200)
    }
  }
}

/** The directory is locked (`locked` names the process holding the lock) but nothing
 * answered on its owner's socket in time (`unreached` says why): a samsa owner serves it
 * within moments of taking the lock, so the holder is likely another program. */
function notServed(locked, unreached) {
  const e = new KafkaJSConnectionError(
    `${locked.message.replace(/; one process owns a data directory$/, '')}, which does not serve it: ${unreached.message} (waited ${CONNECT_WAIT_MS / 1000} s)`
  )
  e.samsaType = unreached.samsaType
  return e
}

function realDataDir(dataDir) {
  const dir = path.resolve(dataDir)
  // The owner's alone, as the native side makes every file and directory in it.
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  return fs.realpathSync(dir)
}

/** Takes a reference on the broker for `dataDir`, opening it if needed. The process's
 * connection to another process that owns it is shared: its requestTimeout is that of the
 * Kafka object that opened it. */
async function acquire(dataDir, options, logger, requestTimeout) {
  const key = realDataDir(dataDir)
  let shared = open.get(key)
  while (!shared && closing.has(key)) {
    await closing.get(key).catch(() => {})
    shared = open.get(key)
  }
  const joining = !!shared
  if (!shared) {
    shared = new SharedBroker(key, options, logger, requestTimeout)
    open.set(key, shared)
  }
  shared.refs += 1
  try {
    await shared.opening
    // A second Kafka object on an open directory: its settings must be the same.
    if (joining) settings.check(key, shared.settings, options, shared.remote ? 'as its owning process opened it' : 'by an earlier Kafka object in this process')
    if (joining && shared.remote && requestTimeout !== shared.requestTimeout) {
      logger.warn('This process already reaches the data directory with another requestTimeout or enforceRequestTimeout, which stays in force', { dataDir: key, requestTimeout: shared.requestTimeout, ignored: requestTimeout })
    }
    return shared
  } catch (e) {
    shared.refs -= 1
    throw e
  }
}

/** The broker already open for `dataDir` in this process, if any. */
function find(dataDir) {
  try {
    return open.get(fs.realpathSync(path.resolve(dataDir))) || null
  } catch {
    return null
  }
}

// An application that never disconnects still gets a clean stop when it exits.
process.once('exit', () => {
  for (const shared of open.values()) {
    if (shared.native && !shared.closed) {
      shared.closed = true
      try {
        shared.native.closeSync()
      } catch {
        // Exiting anyway: the next open recovers from the unclean stop.
      }
    }
  }
  open.clear()
})

module.exports = { acquire, find }
