'use strict'

// Random calls with bad arguments across samsa's whole public API, for the property test
// in bad-input.property.test.js: fast-check generators of wrong-typed and odd values
// (aimed at each method's fields, mixed with fc.anything()), and a harness that makes
// the calls against live clients and checks how each one ends.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const fc = require('fast-check')
const { Kafka, logLevel, KafkaJSError, KafkaJSAggregateError, PartitionAssigners, CompressionTypes, ConfigResourceTypes } = require('..')

// Topics the calls may create, grow, write, delete; the read-back topic is never among them.
const TOPICS = ['fz-a', 'fz-b', 'fz-c']
const GOOD_TOPIC = 'good-read-back'
const GROUPS = ['fz-group', 'fz-idle', 'fz-other']

// --- odd values -------------------------------------------------------------------------

function revokedProxy() {
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  return proxy
}

// A value made only when the call is made: fast-check itself cannot handle a revoked
// proxy among generated values.
class Lazy {
  constructor(make) {
    this.make = make
  }
}

/** The call's arguments with every Lazy made (plain objects and arrays are copied). */
function materialize(v, seen = new Map()) {
  if (v instanceof Lazy) return v.make()
  if (v === null || typeof v !== 'object') return v
  if (seen.has(v)) return seen.get(v)
  if (Array.isArray(v)) {
    const out = new Array(v.length)
    seen.set(v, out)
    for (let i = 0; i < v.length; i++) if (i in v) out[i] = materialize(v[i], seen)
    return out
  }
  const proto = Object.getPrototypeOf(v)
  if (proto !== Object.prototype && proto !== null) return v
  const out = Object.create(proto)
  seen.set(v, out)
  for (const k of Reflect.ownKeys(v)) out[k] = PARTITION_COUNTS.has(k) ? tame(v[k]) : materialize(v[k], seen)
  return out
}

// A random partition count that samsa accepts (up to 10,000) would create that many
// directories: counts above 8 that samsa would accept become 8.
const PARTITION_COUNTS = new Set(['numPartitions', 'count', 'defaultNumPartitions'])
const tame = (n) => (Number.isInteger(n) && n > 8 && n <= 10_000 ? 8 : n)

function deeplyNested(depth) {
  let v = { leaf: 'x' }
  for (let i = 0; i < depth; i++) v = { a: v, topic: 'fz-a', partition: 0 }
  return v
}

function circular() {
  const o = { topic: 'fz-a', partition: 0, offset: '0' }
  o.self = o
  o.list = [o]
  return o
}

/** A value of every kind that breaks naive code, rebuilt per call (no shared state). */
const oddValue = fc.constantFrom(
  () => undefined,
  () => null,
  () => NaN,
  () => Infinity,
  () => -Infinity,
  () => -1,
  () => -2,
  () => 0,
  () => -0,
  () => 1.5,
  () => 2 ** 31,
  () => 2 ** 31 - 1,
  () => 2 ** 32 + 1,
  () => -(2 ** 31) - 1,
  () => 2 ** 53,
  () => Number.MAX_VALUE,
  () => Number.MIN_VALUE,
  () => 1e21,
  () => '',
  () => ' ',
  () => '\u0000',
  () => 'fz-a\u0000',
  () => '🙂',
  () => '\ud800',
  () => 'ünïcode',
  () => 'x'.repeat(250),
  () => 'y'.repeat(100_000),
  () => '.',
  () => '..',
  () => 'with space',
  () => '42',
  () => '-1',
  () => '1e3',
  () => '0x10',
  () => true,
  () => false,
  () => 10n,
  () => -1n,
  () => 2n ** 64n,
  () => Symbol('odd'),
  () => function named() {},
  () => async () => {},
  () => [],
  () => [1, 'a', null],
  () => [undefined],
  () => new Array(5),
  () => ({}),
  () => Object.create(null),
  () => Buffer.from('fz-a'),
  () => new Uint8Array([1, 2, 3]),
  () => new Float64Array(2),
  () => new Date(),
  () => new Date(NaN),
  () => /fz-.*/,
  () => new Map([['topic', 'fz-a']]),
  () => new Set(['fz-a']),
  () => Promise.resolve('fz-a'),
  () => new Error('not an argument'),
  () => new String('fz-a'),
  () => new Number(1),
  () => new Boolean(true),
  () => new Lazy(revokedProxy),
  () => new Proxy({ topic: 'fz-a' }, {}),
  () => deeplyNested(200),
  () => circular(),
  () => ({ toString: () => 'fz-a', valueOf: () => 1 }),
  () => ({ length: 3 }),
  () => ({ __proto__: null, topic: 'fz-a' })
).map((make) => make())

const anything = fc.anything({
  maxDepth: 3,
  maxKeys: 5,
  withBigInt: true,
  withBoxedValues: true,
  withDate: true,
  withMap: true,
  withSet: true,
  withNullPrototype: true,
  withTypedArray: true,
  withSparseArray: true,
  withObjectString: true,
})

/** A bad (or merely strange) value. */
const bad = fc.oneof(
  { weight: 3, arbitrary: oddValue },
  { weight: 3, arbitrary: anything },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.bigInt() },
  { weight: 1, arbitrary: fc.integer() },
  { weight: 1, arbitrary: fc.double() }
)

// Mostly good values with a bad one here and there: a call with one bad field among good
// ones is the call that gets past the first checks and reaches deep into the code.
/** Mostly one of `good`, sometimes a bad value. */
const field = (...good) => fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...good) }, { weight: 1, arbitrary: bad })
/** An object with these fields (each good or bad), some of them left out, or something else. */
const shape = (fields) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.record(fields) },
    { weight: 2, arbitrary: fc.record(fields, { requiredKeys: [] }) },
    { weight: 1, arbitrary: bad }
  )
const listOf = (arb, maxLength = 4) => fc.oneof({ weight: 6, arbitrary: fc.array(arb, { minLength: 1, maxLength }) }, { weight: 1, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: bad })

const topic = field(...TOPICS)
const groupId = field(...GROUPS)
// Partition counts stay small: a valid random count would create thousands of directories.
const count = field(1, 2, 3, 4, -1, 0)
const partition = field(0, 1, 2, 5)
const offset = field('0', '1', '5', '-1', '-2', 0, 3, 10n)
const message = shape({
  key: field('k', null, Buffer.from('k')),
  value: field('v', null, Buffer.from('v'), ''),
  partition: field(0, 1, undefined),
  headers: field({ h: 'x' }, { h: ['a', Buffer.from('b')] }, undefined),
  timestamp: field('1700000000000', 1700000000000, undefined),
})
const messages = listOf(message, 3)
const configEntry = shape({ name: field('retention.ms', 'segment.bytes', 'no.such'), value: field('60000', '1048576', 'abc') })
const retry = field(undefined, { retries: 0 }, { retries: 0, initialRetryTime: 1 })
const listener = field(() => {}, async () => {})
const assigners = field(
  [PartitionAssigners.roundRobin],
  [PartitionAssigners.range],
  [Object.assign(() => ({ name: 'Evil' }), { samsaName: 'Evil' })],
  [() => ({ name: 'CustomAssigner' })]
)
// Partitioners that return what a partitioner should not.
const partitioner = field(
  undefined,
  () => () => 0,
  () => () => 1,
  () => () => 7,
  () => () => -1,
  () => () => 1.5,
  () => () => '1',
  () => () => null,
  () => () => Symbol('p'),
  () => () => 10n,
  () => () => ({ valueOf: () => 0 }),
  () => 42
)

// --- the calls --------------------------------------------------------------------------

// Each call is [target, method, args]; targets are looked up in the harness's clients.
const call = (target, method, argsArb) => argsArb.map((args) => ({ target, method, args }))
const one = (arb) => fc.tuple(arb)
const none = fc.constant([])

const kafkaConfig = shape({
  clientId: field('fz-client'),
  dataDir: field('@fresh'), // replaced by a fresh directory under the harness's root
  brokers: field(['localhost:9092']),
  logLevel: field(logLevel.NOTHING, logLevel.ERROR),
  logCreator: field(() => () => {}),
  retry,
  fsync: field(true, false),
  autoCreateTopics: field(true, false),
  defaultNumPartitions: field(1, 2, 3),
  segmentBytes: field(1 << 20),
  segmentMs: field(60000),
  retentionMs: field(-1, 60000),
  retentionBytes: field(-1, 1 << 20),
  maxMessageBytes: field(1 << 20),
  retentionCheckIntervalMs: field(60000),
  cleanerBackoffMs: field(0, 15000),
  cleanerDedupeBufferSize: field(1 << 20, 4 << 20),
  cleanerIoMaxBytesPerSecond: field(0, 1.5e6),
})

const producerOptions = shape({
  createPartitioner: partitioner,
  allowAutoTopicCreation: field(true, false),
  idempotent: field(false, true),
  transactionalId: field(undefined, 'fuzz-tx'),
  transactionTimeout: field(60000, 1000),
  retry,
  metadataMaxAge: field(1000),
})

const consumerOptions = shape({
  groupId,
  partitionAssigners: assigners,
  sessionTimeout: field(30000, 6000),
  rebalanceTimeout: field(60000),
  heartbeatInterval: field(3000, 100),
  maxBytesPerPartition: field(1 << 20, 1, 100),
  maxWaitTimeInMs: field(100, 5000),
  retry,
  allowAutoTopicCreation: field(true, false),
  minBytes: field(1),
  maxBytes: field(1 << 20),
  readUncommitted: field(false, true),
})

const topicConfig = shape({
  topic,
  numPartitions: count,
  replicationFactor: field(1, -1, 3),
  configEntries: listOf(configEntry, 2),
})

const resource = shape({
  type: field(ConfigResourceTypes.TOPIC, ConfigResourceTypes.BROKER, 99),
  name: topic,
  configNames: listOf(field('retention.ms', 'segment.bytes'), 2),
  configEntries: listOf(configEntry, 2),
})

const seekEntry = shape({ partition, offset })
const topicPartitions = listOf(shape({ topic, partitions: listOf(partition, 2) }), 2)

const adminCalls = [
  call('admin', 'connect', none),
  call('admin', 'listTopics', none),
  call('admin', 'createTopics', one(shape({ topics: listOf(topicConfig, 3), validateOnly: field(true, false), waitForLeaders: field(true), timeout: field(5000) }))),
  call('admin', 'deleteTopics', one(shape({ topics: listOf(topic, 2), timeout: field(5000) }))),
  call('admin', 'createPartitions', one(shape({ topicPartitions: listOf(shape({ topic, count }), 2), validateOnly: field(true, false), timeout: field(5000) }))),
  call('admin', 'fetchTopicMetadata', fc.oneof(none, one(shape({ topics: listOf(topic, 3) })))),
  call('admin', 'fetchTopicOffsets', one(topic)),
  call('admin', 'fetchTopicOffsetsByTimestamp', fc.tuple(topic, field(Date.now(), 0, '1700000000000', undefined))),
  call('admin', 'deleteTopicRecords', one(shape({ topic, partitions: listOf(seekEntry, 2) }))),
  call('admin', 'describeCluster', none),
  call('admin', 'listGroups', none),
  call('admin', 'describeGroups', one(listOf(groupId, 3))),
  call('admin', 'deleteGroups', one(listOf(groupId, 2))),
  call('admin', 'fetchOffsets', one(shape({ groupId, topics: listOf(topic, 2), resolveOffsets: field(true, false) }))),
  call('admin', 'setOffsets', one(shape({ groupId, topic, partitions: listOf(seekEntry, 2) }))),
  call('admin', 'resetOffsets', one(shape({ groupId, topic, earliest: field(true, false) }))),
  call('admin', 'describeConfigs', one(shape({ resources: listOf(resource, 2), includeSynonyms: field(false) }))),
  call('admin', 'alterConfigs', one(shape({ resources: listOf(resource, 2), validateOnly: field(true, false) }))),
  call('admin', 'createAcls', one(bad)),
  call('admin', 'describeAcls', one(bad)),
  call('admin', 'deleteAcls', one(bad)),
  call('admin', 'alterPartitionReassignments', one(bad)),
  call('admin', 'listPartitionReassignments', fc.oneof(none, one(shape({ topics: listOf(shape({ topic, partitions: listOf(partition) })), timeout: field(5000) })))),
  call('admin', 'on', fc.tuple(field('admin.connect', 'admin.disconnect', 'nope'), listener)),
  call('admin', 'logger', none),
  call('admin', 'disconnect', none),
]

const producerCalls = [
  call('producer', 'connect', none),
  call('producer', 'send', one(shape({ topic, messages, acks: field(-1, 0, 1, 2), timeout: field(30000), compression: field(CompressionTypes.None, CompressionTypes.GZIP, 7) }))),
  call('producer', 'sendBatch', one(shape({ topicMessages: listOf(shape({ topic, messages }), 3), acks: field(-1, 1), timeout: field(30000), compression: field(0, 1) }))),
  call('producer', 'on', fc.tuple(field('producer.connect', 'producer.disconnect', 'nope'), listener)),
  call('producer', 'transaction', fc.oneof(none, one(bad))),
  call('producer', 'isIdempotent', none),
  call('producer', 'logger', none),
  call('producer', 'events', none),
  call('producer', 'disconnect', none),
]

const consumerTargets = ['consumer', 'idleConsumer']
const consumerCalls = consumerTargets.flatMap((target) => [
  call(target, 'connect', none),
  call(target, 'subscribe', one(shape({ topic: fc.oneof(topic, fc.constant(/^fz-/)), topics: listOf(fc.oneof(topic, fc.constant(/fz-b/)), 2), fromBeginning: field(true, false) }))),
  call(
    target,
    'run',
    one(
      shape({
        eachMessage: field(async () => {}),
        eachBatch: field(async () => {}),
        autoCommit: field(true, false),
        autoCommitInterval: field(100, null),
        autoCommitThreshold: field(10, null),
        eachBatchAutoResolve: field(true, false),
        partitionsConsumedConcurrently: field(1, 2),
      })
    )
  ),
  call(target, 'commitOffsets', one(listOf(shape({ topic, partition, offset, metadata: field(null, 'meta') }), 2))),
  call(target, 'seek', one(shape({ topic, partition, offset }))),
  call(target, 'pause', one(topicPartitions)),
  call(target, 'resume', one(topicPartitions)),
  call(target, 'paused', none),
  call(target, 'describeGroup', none),
  call(target, 'on', fc.tuple(field('consumer.heartbeat', 'consumer.crash', 'nope'), listener)),
  call(target, 'logger', none),
  call(target, 'stop', none),
  call(target, 'disconnect', none),
])

// Clients made by the call itself: the Kafka object, and clients that never connected.
const factoryCalls = [
  call('Kafka', 'new', one(kafkaConfig)),
  call('Kafka', 'verify', fc.tuple(kafkaConfig, fc.oneof(none.map(() => undefined), shape({ repair: field(false, true) })))),
  call('kafka', 'producer', fc.oneof(none, one(producerOptions))),
  call('kafka', 'consumer', one(consumerOptions)),
  call('kafka', 'admin', fc.oneof(none, one(shape({ retry })))),
  call('kafka', 'logger', none),
  call('kafka', 'close', none),
  call('kafka', 'verify', fc.oneof(none, one(shape({ repair: field(false, true) })))),
  call('unconnectedProducer', 'send', fc.tuple(producerOptions, shape({ topic, messages }))),
  // Clients made with random options, connected, used once and disconnected.
  call('freshProducer', 'send', fc.tuple(producerOptions, shape({ topic, messages, acks: field(-1, 0, 1) }))),
  call('freshConsumer', 'run', fc.tuple(consumerOptions, shape({ topics: listOf(topic, 2), fromBeginning: field(true, false) }), shape({ eachMessage: field(async () => {}) }))),
  // A Kafka object with random broker settings, opened on a fresh directory.
  call('Kafka', 'open', one(kafkaConfig)),
  call('unconnectedConsumer', 'commitOffsets', fc.tuple(consumerOptions, listOf(shape({ topic, partition, offset }), 1))),
  call('unconnectedConsumer', 'seek', fc.tuple(consumerOptions, shape({ topic, partition, offset }))),
  call('unconnectedConsumer', 'run', fc.tuple(consumerOptions, shape({ eachMessage: field(async () => {}) }))),
  call('unconnectedConsumer', 'pause', fc.tuple(consumerOptions, topicPartitions)),
]

const apiCall = fc.oneof(...adminCalls, ...producerCalls, ...consumerCalls, ...factoryCalls)

// --- the harness ------------------------------------------------------------------------

// Messages of errors that an argument reached code not meant for it: the native addon's
// conversions, or samsa's own code using a value it never checked.
const UNCHECKED = [
  /Failed to convert/i, // napi: "Failed to convert JavaScript value `Number 1` into rust type `String`"
  /napi|InvalidArg|rust type/i,
  /Cannot convert undefined or null to object/, // napi (or Object.keys) given a hole or null
  /Cannot read propert(y|ies) of/,
  /Cannot destructure/,
  /is not a function/,
  /is not iterable/,
  /Cannot convert a (Symbol|BigInt) value/,
  /Cannot mix BigInt/,
  /Do not know how to serialize a BigInt/,
  /Converting circular structure/,
  /Cannot convert object to primitive value/,
]

/** A TypeError, also from another realm (jest runs tests in a vm context, while Node's and
 * the addon's errors, and a few globals such as Uint8Array, come from the main one). */
function isTypeError(e) {
  if (e instanceof TypeError) return true
  try {
    return Object.prototype.toString.call(e) === '[object Error]' && e.name === 'TypeError' && e.constructor && e.constructor.name === 'TypeError'
  } catch {
    return false
  }
}

/** Whether an error is one the public API may throw: a TypeError or a kafkajs error, from
 * samsa's own checks rather than from a value that got past them. */
function acceptable(e) {
  if (!(isTypeError(e) || e instanceof KafkaJSError || e instanceof KafkaJSAggregateError)) return false
  let message
  try {
    message = String(e.message)
  } catch {
    return false
  }
  return !UNCHECKED.some((re) => re.test(message))
}

function describeError(e) {
  try {
    return `${e && e.name}: ${String(e && e.message).slice(0, 300)}`
  } catch {
    return 'an error that cannot be shown'
  }
}

function describeArgs(args) {
  try {
    return require('node:util').inspect(args, { depth: 3, maxArrayLength: 5, maxStringLength: 60, breakLength: Infinity })
  } catch {
    return '(arguments that cannot be shown)'
  }
}

/**
 * Live clients on a fresh data directory and `run(call)`, which makes one call and
 * returns null, or a description of what went wrong: a native conversion error, an error
 * of another class, a call that hangs, or a crash of the process (which ends the test).
 */
async function createHarness({ callTimeoutMs = 10000 } = {}) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-fuzz-'))
  const dataDir = path.join(root, 'data')
  let fresh = 0
  const retry = { retries: 0, initialRetryTime: 1, maxRetryTime: 2 }
  const kafka = new Kafka({ clientId: 'fuzz', dataDir, logLevel: logLevel.NOTHING, retry, defaultNumPartitions: 2 })
  // The read-back producer: another Kafka object on the same broker, which the random
  // calls (kafka.close() included) never touch. Broker settings belong to the directory,
  // so it asks for the same ones.
  const goodKafka = new Kafka({ clientId: 'good', dataDir, logLevel: logLevel.NOTHING, defaultNumPartitions: 2 })
  const goodProducer = goodKafka.producer()
  await goodProducer.connect()
  const goodAdmin = goodKafka.admin()
  await goodAdmin.createTopics({ topics: [{ topic: GOOD_TOPIC, numPartitions: 3 }, ...TOPICS.map((t) => ({ topic: t, numPartitions: 2 }))] })

  const clients = {
    admin: kafka.admin(),
    producer: kafka.producer(),
    consumer: kafka.consumer({ groupId: 'fz-group', heartbeatInterval: 100, maxWaitTimeInMs: 100 }),
    idleConsumer: kafka.consumer({ groupId: 'fz-idle', maxWaitTimeInMs: 100 }),
  }

  /** Puts the long-lived clients back in their places (random calls stop and disconnect them). */
  async function restore() {
    const { producer, consumer, idleConsumer } = clients
    if (producer.status !== 'connected') await producer.connect()
    if (!idleConsumer.shared || idleConsumer.shared.closed) {
      idleConsumer.shared = null
      await idleConsumer.connect()
    }
    if (!consumer.running || !consumer.shared || consumer.shared.closed) {
      await consumer.disconnect().catch(() => {})
      await consumer.connect()
      consumer.subscriptions = []
      await consumer.subscribe({ topics: ['fz-a', 'fz-b'], fromBeginning: true })
      await consumer.run({ eachMessage: async () => {} })
    }
  }

  const unhandled = []
  const onUnhandled = (e) => unhandled.push(describeError(e))
  process.on('unhandledRejection', onUnhandled)
  process.on('uncaughtException', onUnhandled)

  const dirFor = (config) =>
    config && typeof config === 'object' && !Array.isArray(config) && config.dataDir === '@fresh'
      ? { ...config, dataDir: path.join(root, `fresh-${fresh++}`) }
      : config

  function invoke({ target, method, args: generated }) {
    const args = materialize(generated)
    switch (target) {
      case 'Kafka':
        if (method === 'new') return new Kafka(withDataDir(args[0]))
        if (method === 'open') return opened(new Kafka(withDataDir(args[0])))
        return new Kafka(withDataDir(args[0])).verify(args[1])
      case 'freshProducer':
        return connected(kafka.producer(args[0]), (p) => p.send(args[1]))
      case 'freshConsumer':
        return connected(kafka.consumer(args[0]), async (c) => {
          await c.subscribe(args[1])
          await c.run(args[2])
        })
      case 'kafka':
        return kafka[method](...args)
      case 'unconnectedProducer':
        return kafka.producer(args[0]).send(args[1])
      case 'unconnectedConsumer':
        return kafka.consumer(args[0])[method](args[1])
      default: {
        const client = clients[target]
        if (method === 'events') return client.events
        return client[method](...args)
      }
    }
  }

  async function connected(client, use) {
    await client.connect()
    try {
      return await use(client)
    } finally {
      await client.disconnect()
    }
  }

  /** Opens the broker of a Kafka object (writes a topic and reads it), then closes it. */
  async function opened(k) {
    try {
      const admin = k.admin()
      await admin.createTopics({ topics: [{ topic: 'opened' }] })
      const producer = k.producer()
      await producer.connect()
      await producer.send({ topic: 'opened', messages: [{ value: 'x' }] })
      return await admin.fetchTopicOffsets('opened')
    } finally {
      await k.close()
    }
  }

  // A random config either names no dataDir, a bad one, or a fresh directory of the
  // harness: never one in the working directory.
  function withDataDir(config) {
    let c = dirFor(config)
    // Quiet unless the call sets a log level (the `brokers` warning, say).
    if (c && typeof c === 'object' && !Array.isArray(c) && !('logLevel' in c)) c = { ...c, logLevel: logLevel.NOTHING }
    const keep = (d) => typeof d === 'string' && (d === '' || d.includes('\u0000') || d.startsWith(root))
    if (c && typeof c === 'object' && !Array.isArray(c) && (c.dataDir === undefined || typeof c.dataDir === 'string') && !keep(c.dataDir)) {
      try {
        return { ...c, dataDir: path.join(root, `fresh-${fresh++}`) }
      } catch {
        return c
      }
    }
    return c
  }

  // How the calls ended: resolved per method, rejected per error class.
  const stats = { resolved: new Map(), rejected: new Map() }
  const count = (map, k) => map.set(k, (map.get(k) || 0) + 1)

  async function run(c) {
    await restore()
    let timer
    const outcome = await Promise.race([
      Promise.resolve()
        .then(() => invoke(c))
        .then(
          (result) => {
            count(stats.resolved, `${c.target}.${c.method}`)
            // A listener added by on(): removed again, so they do not pile up.
            if (c.method === 'on' && typeof result === 'function') result()
            return null
          },
          (e) => {
            count(stats.rejected, `${e && e.name}`)
            return acceptable(e) ? null : `${describeError(e)}\n    stack: ${String(e && e.stack).split('\n').slice(1, 4).join(' | ')}`
          }
        ),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve(`did not settle within ${callTimeoutMs} ms`), callTimeoutMs)
      }),
    ])
    clearTimeout(timer)
    if (outcome) return `${c.target}.${c.method}(${describeArgs(c.args)}): ${outcome}`
    if (unhandled.length > 0) return `${c.target}.${c.method}(${describeArgs(c.args)}): unhandled ${unhandled.splice(0).join('; ')}`
    return null
  }

  const sent = []
  /** A send that must be stored and read back at the end. */
  async function goodSend() {
    const value = `good-${sent.length}`
    await goodProducer.send({ topic: GOOD_TOPIC, messages: [{ key: value, value }] })
    sent.push(value)
  }

  /** Reads the read-back topic whole with a fresh consumer group; returns the values. */
  async function readBack({ timeoutMs = 20000 } = {}) {
    const offsets = await goodAdmin.fetchTopicOffsets(GOOD_TOPIC)
    const total = offsets.reduce((n, o) => n + Number(o.high), 0)
    const consumer = goodKafka.consumer({ groupId: `read-back-${Date.now()}`, maxWaitTimeInMs: 100 })
    await consumer.connect()
    await consumer.subscribe({ topics: [GOOD_TOPIC], fromBeginning: true })
    const seen = []
    let done
    const all = new Promise((resolve) => (done = resolve))
    await consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value.toString())
        if (seen.length >= total) done()
      },
    })
    if (total > 0) {
      await Promise.race([all, new Promise((resolve) => setTimeout(resolve, timeoutMs))])
    }
    await consumer.disconnect()
    return { total, seen }
  }

  async function close() {
    process.removeListener('unhandledRejection', onUnhandled)
    process.removeListener('uncaughtException', onUnhandled)
    for (const c of Object.values(clients)) await c.disconnect().catch(() => {})
    await kafka.close().catch(() => {})
    await goodKafka.close()
    fs.rmSync(root, { recursive: true, force: true })
  }

  return { run, goodSend, readBack, sent, close, unhandled, stats }
}

module.exports = { apiCall, createHarness, acceptable, GOOD_TOPIC }
