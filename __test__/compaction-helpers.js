'use strict'

// Helpers for the tests of compacted topics (compaction.test.js, compaction-wire.test.js):
// - a samsa broker in this process whose cleaner looks for work every 50 ms and whose
//   "cleaned a partition" log lines are kept, parsed, for a test to wait on;
// - topic configs that make small segments and hold the cleaner off (min.compaction.lag.ms
//   of a year) until a test lets it go, so a pass covers everything the test wrote;
// - a model of what was sent (offset, key, value) and of what reading a cleaned log from the
//   beginning must give.
//
// The "sealer" is how a test knows what the cleaner may clean: a record larger than
// segment.bytes rolls the active segment, so the new active segment holds only it, and
// everything before it is sealed, hence cleanable.

const { Kafka, logLevel } = require('..')
const { tempDir } = require('./helpers')
const { until } = require('./wire-helpers')

const SEGMENT_BYTES = 2000
// min.compaction.lag.ms that keeps every record out of the cleaner's reach (a year).
const HOLD = String(365 * 24 * 3600 * 1000)

/** Topic configs of a compacted topic with small segments, the cleaner held off. */
function compacted(extra = {}) {
  return {
    'cleanup.policy': 'compact',
    'segment.bytes': String(SEGMENT_BYTES),
    'min.cleanable.dirty.ratio': '0.01',
    'min.compaction.lag.ms': HOLD,
    ...extra,
  }
}

const entries = (configs) => Object.entries(configs).map(([name, value]) => ({ name, value }))

/** "topic=pos partition=0 read=27752 ..." -> { topic: 'pos', partition: 0, read: 27752, ... } */
function parseFields(fields) {
  const out = {}
  for (const part of String(fields || '').split(' ')) {
    const eq = part.indexOf('=')
    if (eq < 0) continue
    const [k, v] = [part.slice(0, eq), part.slice(eq + 1)]
    out[k] = k === 'topic' || Number.isNaN(Number(v)) ? v : Number(v)
  }
  return out
}

/**
 * A samsa broker in this process, pushed on `made` (see cleanupAfterEach). `passes(topic)` lists the cleaner's
 * passes over the topic so far, as { topic, partition, read, written, removed, keys, ... };
 * `logs` keeps every line at warn and above, and the cleaner's.
 */
function samsaBroker(options = {}, made = []) {
  const dataDir = options.dataDir || tempDir('samsa-compact-')
  const cleaned = []
  const logs = []
  const kafka = new Kafka({
    clientId: 'compaction-test',
    dataDir,
    cleanerBackoffMs: 50,
    logLevel: logLevel.INFO,
    logCreator: () => ({ namespace, level, log }) => {
      if (log.message === 'cleaned a partition') cleaned.push({ at: Date.now(), ...parseFields(log.fields) })
      if (level <= logLevel.WARN || namespace === 'Broker') logs.push(`${namespace} ${log.message} ${log.fields || ''}`)
    },
    ...options,
  })
  made.push(kafka)
  const passes = (topic) => cleaned.filter((c) => c.topic === topic)
  /** Waits until the cleaner has made `n` passes over `topic` in all. */
  const waitPasses = (topic, n, { timeoutMs = 15000 } = {}) =>
    until(() => passes(topic).length >= n && passes(topic), {
      timeoutMs,
      intervalMs: 20,
      what: () => ` ${n} cleaner passes over ${topic} (have ${passes(topic).length})\n${logs.slice(-20).join('\n')}`,
    })
  return { kafka, dataDir, cleaned, logs, passes, waitPasses }
}

/**
 * For a test file: `made` collects the samsa Kafka objects a test opens (samsaBroker's second
 * argument) and `connected(client)` connects a client; after each test, passed or failed,
 * the clients are disconnected (last first) and the Kafka objects closed.
 */
function cleanupAfterEach() {
  const made = []
  const live = []
  afterEach(async () => {
    for (const undo of live.splice(0).reverse()) await undo().catch(() => {})
    await Promise.all(made.splice(0).map((k) => k.close().catch(() => {})))
  })
  async function connected(client) {
    await client.connect()
    live.push(() => client.disconnect())
    return client
  }
  return { made, connected }
}

const text = (b) => (b === null || b === undefined ? null : Buffer.isBuffer(b) ? b.toString() : String(b))

/** A message (samsa's or kafkajs's) as { offset, key, value }, null for a null key or value. */
const plain = (m) => ({ offset: Number(m.offset), key: text(m.key), value: text(m.value) })

/** What was sent to one partition, by offset. */
class Model {
  constructor() {
    this.records = []
  }

  /** Records `messages` as written from `baseOffset` on (one batch: consecutive offsets). */
  add(baseOffset, messages) {
    const base = Number(baseOffset)
    messages.forEach((m, i) => this.records.push({ offset: base + i, key: text(m.key), value: text(m.value) }))
    this.records.sort((a, b) => a.offset - b.offset)
    return this.records.slice(-messages.length)
  }

  get next() {
    return this.records.length ? this.records[this.records.length - 1].offset + 1 : 0
  }

  /**
   * What a read from `from` must give once the cleaner has cleaned everything below
   * `activeBase` (the active segment's base): there, per key, only the record with the
   * highest offset below activeBase (keyless records never), tombstones too unless
   * `tombstonesGone`; from activeBase on, everything.
   */
  expected({ activeBase, tombstonesGone = false, from = 0 }) {
    const latest = new Map()
    for (const r of this.records) if (r.offset < activeBase && r.key !== null) latest.set(r.key, r.offset)
    return this.records.filter((r) => {
      if (r.offset < from) return false
      if (r.offset >= activeBase) return true
      if (r.key === null || latest.get(r.key) !== r.offset) return false
      return !(tombstonesGone && r.value === null)
    })
  }
}

/** The sealer: a record too big for the active segment, so it starts a new one of its own. */
const sealer = (name = 'sealer') => ({ key: `~${name}`, value: `${name}:${'s'.repeat(SEGMENT_BYTES + 100)}` })

/** Asserts offsets strictly increase and none repeats. */
function increasing(records) {
  for (let i = 1; i < records.length; i++) {
    if (!(records[i].offset > records[i - 1].offset)) {
      throw new Error(`offsets do not increase at index ${i}: ${records[i - 1].offset} then ${records[i].offset}`)
    }
  }
  return true
}

/** Short form of records for failure messages: "12:k3=v" */
const brief = (records) => records.map((r) => `${r.offset}:${r.key}=${r.value === null ? 'null' : r.value.slice(0, 12)}`).join(' ')

module.exports = { SEGMENT_BYTES, HOLD, compacted, entries, parseFields, samsaBroker, cleanupAfterEach, plain, text, Model, sealer, increasing, brief }
