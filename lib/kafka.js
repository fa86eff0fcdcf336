'use strict'

const path = require('node:path')
const brokers = require('./broker')
const { createLogger, logLevel } = require('./logger')
const { Producer } = require('./producer')
const { Admin } = require('./admin')
const { Consumer } = require('./consumer')
const { describe, options: optionsOf, checkString } = require('./validate')
const { retryConfig } = require('./retry')
const { KafkaJSNonRetriableError, fromNative } = require('./errors')
const native = require('../binding.js')

// samsa's own broker settings: name -> [type, native option name].
const BROKER_OPTIONS = {
  fsync: 'boolean',
  autoCreateTopics: 'boolean',
  defaultNumPartitions: 'partitions',
  segmentBytes: 'count',
  segmentMs: 'count',
  retentionMs: 'duration',
  retentionBytes: 'duration',
  maxMessageBytes: 'count',
  retentionCheckIntervalMs: 'count',
  maxOpenFiles: 'files',
  cleanerBackoffMs: 'millis',
  cleanerDedupeBufferSize: 'dedupe',
  cleanerIoMaxBytesPerSecond: 'rate',
}

// The log cleaner's key map needs room for a useful number of keys (Kafka refuses less
// than 1 MiB per cleaner thread).
const MIN_DEDUPE_BUFFER = 1 << 20

function brokerOptions(config) {
  const out = {}
  for (const [name, kind] of Object.entries(BROKER_OPTIONS)) {
    const v = config[name]
    if (v === undefined || v === null) continue
    if (kind === 'boolean') {
      if (typeof v !== 'boolean') throw new TypeError(`${name} must be a boolean, got ${describe(v)}`)
    } else if (kind === 'files') {
      if (!Number.isInteger(v) || v < 1 || v > 1_000_000) throw new TypeError(`${name} must be an integer from 1 to 1000000, got ${describe(v)}`)
    } else if (kind === 'millis') {
      if (!Number.isSafeInteger(v) || v < 0) throw new TypeError(`${name} must be an integer of at least 0, got ${describe(v)}`)
    } else if (kind === 'dedupe') {
      if (!Number.isSafeInteger(v) || v < MIN_DEDUPE_BUFFER) throw new TypeError(`${name} must be an integer of at least ${MIN_DEDUPE_BUFFER} (1 MiB), got ${describe(v)}`)
    } else if (kind === 'rate') {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new TypeError(`${name} must be a number of at least 0 (0 for unthrottled), got ${describe(v)}`)
    } else if (kind === 'partitions') {
      // Kafka's partition counts are int32s.
      if (!Number.isInteger(v) || v < 1 || v > 2 ** 31 - 1) throw new TypeError(`${name} must be an integer from 1 to 2147483647, got ${describe(v)}`)
    } else {
      // Durations and sizes accept -1 (unlimited), as Kafka's retention settings do.
      const min = kind === 'duration' ? -1 : 1
      if (!Number.isSafeInteger(v) || v < min) {
        throw new TypeError(`${name} must be an integer ${min === -1 ? '(-1 for unlimited) ' : ''}of at least ${min}, got ${describe(v)}`)
      }
    }
    out[name] = v
  }
  return out
}

const LOG_LEVELS = new Set(Object.values(logLevel))

// A request's wait with enforceRequestTimeout: false. Node's longest timer (24.8 days):
// no limit in practice.
const UNENFORCED_REQUEST_TIMEOUT = 2 ** 31 - 1

class Kafka {
  constructor(config = {}) {
    if (config === null || typeof config !== 'object' || Array.isArray(config)) {
      throw new TypeError(`Kafka config must be an object, got ${describe(config)}`)
    }
    const { clientId = 'samsa', dataDir = path.join(process.cwd(), '.samsa'), brokers: brokerList, logCreator, logLevel: level = logLevel.INFO } = config
    if (typeof dataDir !== 'string' || dataDir === '') throw new TypeError(`dataDir must be a non-empty string, got ${describe(dataDir)}`)
    if (dataDir.includes('\u0000')) throw new TypeError(`dataDir must not contain NUL characters, got ${describe(dataDir)}`)
    checkString(clientId, 'clientId')
    if (!LOG_LEVELS.has(level)) {
      throw new TypeError(`logLevel must be one of logLevel.NOTHING, ERROR, WARN, INFO or DEBUG (0, 1, 2, 4, 5), got ${describe(level)}`)
    }
    if (logCreator !== undefined && typeof logCreator !== 'function') {
      throw new TypeError(`logCreator must be a function, got ${describe(logCreator)}`)
    }
    this.clientId = clientId
    this.dataDir = path.resolve(dataDir)
    this.options = brokerOptions(config)
    // How long a request to the process that owns the directory (when another one does)
    // waits for its answer: kafkajs's requestTimeout, with its default, unless
    // enforceRequestTimeout is false (then, as in kafkajs, it waits as long as it takes).
    const requestTimeout = config.requestTimeout ?? 30000
    if (!Number.isSafeInteger(requestTimeout) || requestTimeout < 1) {
      throw new TypeError(`requestTimeout must be an integer number of milliseconds of at least 1, got ${describe(requestTimeout)}`)
    }
    const enforce = config.enforceRequestTimeout === undefined ? true : config.enforceRequestTimeout
    if (typeof enforce !== 'boolean') throw new TypeError(`enforceRequestTimeout must be a boolean, got ${describe(enforce)}`)
    this.requestTimeout = enforce ? requestTimeout : UNENFORCED_REQUEST_TIMEOUT
    // Checked here, merged with each client's own retry settings when it is created.
    retryConfig(config.retry)
    this.retry = config.retry
    this.rootLogger = createLogger({ level, logCreator: logCreator && checkedLogCreator(logCreator) })
    this.clients = new Set()
    // The console this object serves (kafka.console()), while it does.
    this.consoleServer = null
    if (brokerList !== undefined) {
      this.rootLogger.warn(
        'samsa is an embedded broker: the "brokers" option is ignored and data lives in dataDir',
        { brokers: Array.isArray(brokerList) && brokerList.every((b) => typeof b === 'string') ? brokerList : describe(brokerList), dataDir: this.dataDir }
      )
    }
    // Security settings for a cluster: nothing to connect to, so nothing to secure. Said
    // once, so code written for a secured cluster does not pass for secured here.
    for (const option of ['ssl', 'sasl']) {
      if (config[option] !== undefined && config[option] !== false && config[option] !== null) {
        this.rootLogger.warn(
          `samsa is an embedded broker: the "${option}" option is ignored (clients in this process reach the data directory directly; kafka.listen() serves loopback without authentication)`,
          { option, dataDir: this.dataDir }
        )
      }
    }
  }

  logger() {
    return this.rootLogger
  }

  producer(options) {
    return new Producer(this, options)
  }

  consumer(options) {
    return new Consumer(this, options)
  }

  admin(options) {
    return new Admin(this, options)
  }

  /** Takes a reference on this data directory's broker for a connecting client. */
  async _acquire(client) {
    const shared = await brokers.acquire(this.dataDir, this.options, this.rootLogger.namespace('Broker'), this.requestTimeout)
    this.clients.add(client)
    return shared
  }

  async _release(client, shared) {
    this.clients.delete(client)
    await shared.release()
  }

  /**
   * Checks the data directory's logs whole: every batch's CRC and offsets, and every
   * index entry against its log (samsa's own). Works on a directory this process has
   * open (one partition at a time, each while its appends wait) or on a closed one.
   * `repair: true` (closed directories only) cuts each damaged partition at its first
   * damage and reports the offsets given up.
   */
  async verify(options) {
    const { repair = false } = optionsOf(options, 'verify')
    if (typeof repair !== 'boolean') throw new TypeError(`repair must be a boolean, got ${describe(repair)}`)
    const open = brokers.find(this.dataDir)
    let report
    try {
      if (open && !open.closed) {
        if (repair) {
          throw new KafkaJSNonRetriableError('verify({ repair: true }) needs the data directory closed: disconnect its clients (or kafka.close()) first')
        }
        await open.opening
        report = await open.native.verify()
      } else {
        report = await native.verifyDataDir(this.dataDir, repair)
      }
    } catch (e) {
      throw fromNative(e)
    }
    const hanging = report.hangingTransactions.filter((h) => !h.aborted)
    return { ok: report.damage.length === 0 && hanging.length === 0, ...report }
  }

  /**
   * Serves the Kafka wire protocol from this data directory's broker (samsa's own), so
   * kafkajs, librdkafka and Java clients in other processes can use it beside this
   * process's own clients. Loopback by default; any other host must be asked for.
   * Resolves to the address clients are told to connect to. The broker stays open while
   * it listens; `kafka.close()` stops it.
   */
  async listen(options) {
    const { port = 9092, host = '127.0.0.1', advertisedHost, advertisedPort, ...limits } = optionsOf(options, 'listen')
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new TypeError(`port must be an integer from 0 to 65535, got ${describe(port)}`)
    if (typeof host !== 'string' || host === '') throw new TypeError(`host must be a non-empty string, got ${describe(host)}`)
    if (advertisedHost !== undefined && (typeof advertisedHost !== 'string' || advertisedHost === '')) {
      throw new TypeError(`advertisedHost must be a non-empty string, got ${describe(advertisedHost)}`)
    }
    if (advertisedPort !== undefined && (!Number.isInteger(advertisedPort) || advertisedPort < 1 || advertisedPort > 65535)) {
      throw new TypeError(`advertisedPort must be an integer from 1 to 65535, got ${describe(advertisedPort)}`)
    }
    const bounds = listenLimits(limits)
    if (this.listener) throw new KafkaJSNonRetriableError(`this Kafka object is already listening on ${this.listener.address.host}:${this.listener.address.port}`)
    const listener = {
      address: null,
      shared: null,
      // Like a listening http.Server, a listening broker keeps the process alive: its
      // connections are served on samsa's own threads, which Node does not count.
      keepAlive: null,
      disconnect: async () => {
        if (this.listener !== listener) return
        this.listener = null
        clearInterval(listener.keepAlive)
        try {
          await listener.shared.callAsync(() => listener.shared.native.stopListening())
        } finally {
          await this._release(listener, listener.shared)
        }
      },
    }
    listener.shared = await this._acquire(listener)
    try {
      const a = listener.shared.call(() => listener.shared.native.listen({ host, port, advertisedHost, advertisedPort, ...bounds }))
      listener.address = { host: a.advertisedHost, port: a.advertisedPort }
    } catch (e) {
      await this._release(listener, listener.shared)
      throw e
    }
    this.listener = listener
    listener.keepAlive = setInterval(() => {}, 2 ** 31 - 1)
    this.rootLogger.info('Serving the Kafka protocol', { host: listener.address.host, port: listener.address.port, dataDir: this.dataDir })
    return { ...listener.address }
  }

  /**
   * Serves the samsa console (samsa's own): pages of this data directory's topics, groups,
   * lag and messages, on loopback port 9080 unless told otherwise, read-only unless
   * `allowWrites` is true. Resolves to { url, host, port, allowWrites, close }; the broker
   * stays open while it serves, and `kafka.close()` stops it.
   */
  async console(options) {
    // Loaded when first asked for: an application that never serves it does not load it.
    return require('./console').startConsole(this, options)
  }

  /**
   * Disconnects this object's clients; the broker flushes, writes its clean-shutdown
   * marker and releases the data directory once no client in the process uses it.
   */
  async close() {
    await Promise.all([...this.clients].map((c) => c.disconnect()))
  }
}

// listen()'s limits: name -> [least, most]. Sizes up to 2 GiB (a Kafka frame's size is an
// int32); times up to Node's longest timer.
const DEFAULT_MAX_REQUEST_BYTES = 100 * 2 ** 20
const LISTEN_LIMITS = {
  maxRequestBytes: [8, 2 ** 31 - 1],
  maxQueuedRequestBytes: [8, 2 ** 40],
  maxConnections: [1, 1_000_000],
  idleTimeoutMs: [1, 2 ** 31 - 1],
  requestReadTimeoutMs: [1, 2 ** 31 - 1],
}

function listenLimits(given) {
  const out = {}
  for (const [name, value] of Object.entries(given)) {
    const range = LISTEN_LIMITS[name]
    if (!range) throw new TypeError(`listen() has no option "${name}" (it takes port, host, advertisedHost, advertisedPort, ${Object.keys(LISTEN_LIMITS).join(', ')})`)
    if (value === undefined) continue
    if (!Number.isSafeInteger(value) || value < range[0] || value > range[1]) {
      throw new TypeError(`${name} must be an integer from ${range[0]} to ${range[1]}, got ${describe(value)}`)
    }
    out[name] = value
  }
  const maxRequestBytes = out.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES
  if (out.maxQueuedRequestBytes !== undefined && out.maxQueuedRequestBytes < maxRequestBytes) {
    throw new TypeError(`maxQueuedRequestBytes (${out.maxQueuedRequestBytes}) must be at least maxRequestBytes (${maxRequestBytes}): a request of the largest size must fit`)
  }
  return out
}

/** kafkajs's logCreator contract, checked when the logger is made: `logCreator(level)`
 * returns the function that writes a log entry. */
function checkedLogCreator(logCreator) {
  return (level) => {
    const write = logCreator(level)
    if (typeof write !== 'function') {
      throw new TypeError(`logCreator must return a function that takes ({ namespace, level, label, log }), got ${describe(write)}`)
    }
    return write
  }
}

module.exports = { Kafka }
