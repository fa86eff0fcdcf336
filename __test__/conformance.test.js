'use strict'

// Conformance of samsa's two front doors: every scenario below is written once, against a
// kafkajs-shaped client ({ admin(), producer(), consumer() }), and run twice:
//
//   direct: samsa's in-process API, `new (require('samsa').Kafka)({ dataDir })`;
//   wire:   kafkajs 2.2.4 itself, `new (require('kafkajs').Kafka)({ brokers })`, over the
//           Kafka protocol against a samsa `listen()` on a second data directory.
//
// Both runs must observe the same results. Normalized away are only the things that
// legitimately differ between two brokers: member and client ids, client hosts, wall-clock
// timestamps of messages produced without one, error messages (samsa's name the topic or
// partition in more words than Kafka's codes do). Offsets, partitions, error classes and
// types, per-partition order, committed offsets and metadata shapes are compared as they
// are: a difference there is a bug in one of the two doors.

const samsa = require('..')
const kafkajs = require('kafkajs')
const { tempDir, waitFor } = require('./helpers')
const { WireSocket, kafkajsFrame } = require('./fixtures/kafka-wire')

jest.setTimeout(60000)

// Short retries in both doors, so error paths end in a fraction of a second.
const RETRY = { retries: 1, initialRetryTime: 50, maxRetryTime: 200 }
// Consumers that notice a stop quickly; Kafka's group.min.session.timeout.ms is 6 s.
const CONSUMER = { sessionTimeout: 10000, rebalanceTimeout: 10000, heartbeatInterval: 200, maxWaitTimeInMs: 100, retry: RETRY }

// ---------------------------------------------------------------------------------------
// The two doors

/** Everything the native core logged while a scenario ran, for a failing test's message. */
function logSink() {
  const lines = []
  const logCreator = () => ({ namespace, level, log }) => {
    const { timestamp, logger, ...rest } = log
    lines.push({ namespace, level, ...rest })
  }
  return { lines, logCreator }
}

async function openDirect() {
  const sink = logSink()
  const kafka = new samsa.Kafka({ clientId: 'conformance', dataDir: tempDir('samsa-conf-direct-'), retry: RETRY, logCreator: sink.logCreator, logLevel: samsa.logLevel.INFO })
  return { kind: 'direct', client: kafka, logs: sink.lines, close: () => kafka.close() }
}

async function openWire() {
  const sink = logSink()
  const server = new samsa.Kafka({ clientId: 'conformance-server', dataDir: tempDir('samsa-conf-wire-'), logCreator: sink.logCreator, logLevel: samsa.logLevel.INFO })
  const { host, port } = await server.listen({ port: 0, host: '127.0.0.1' })
  const client = new kafkajs.Kafka({
    clientId: 'conformance',
    brokers: [`${host}:${port}`],
    retry: RETRY,
    connectionTimeout: 3000,
    requestTimeout: 10000,
    logLevel: kafkajs.logLevel.NOTHING,
  })
  return { kind: 'wire', client, server, logs: sink.lines, close: () => server.close() }
}

/**
 * Runs `scenario(k)` through both doors, each on a fresh data directory, and expects the
 * same observations. Returns them, for checks of what both must see.
 */
async function conform(scenario) {
  const results = {}
  const logs = {}
  const took = {}
  for (const open of [openDirect, openWire]) {
    const door = await open()
    const clients = []
    const track = (c) => (clients.push(c), c)
    const k = {
      kind: door.kind,
      admin: (o) => track(door.client.admin(o)),
      producer: (o) => track(door.client.producer(o)),
      consumer: (o) => track(door.client.consumer({ ...CONSUMER, ...o })),
    }
    const started = Date.now()
    try {
      results[door.kind] = await scenario(k)
    } finally {
      took[door.kind] = Date.now() - started
      await Promise.all(clients.map((c) => c.disconnect().catch(() => {})))
      await door.close()
      logs[door.kind] = door.logs
    }
  }
  // `own`: what a scenario observes where the doors legitimately differ (each such place
  // says why); checked by the scenario's test, not compared.
  const own = {}
  for (const kind of Object.keys(results)) {
    if (results[kind] && results[kind].own) {
      own[kind] = results[kind].own
      delete results[kind].own
    }
  }
  if (process.env.CONFORMANCE_DUMP) {
    require('node:fs').appendFileSync(process.env.CONFORMANCE_DUMP, JSON.stringify({ test: expect.getState().currentTestName, took, ...results }, null, 1) + '\n')
  }
  try {
    expect(results.wire).toEqual(results.direct)
  } catch (e) {
    // The last lines each broker logged (CONFORMANCE_LOG_LINES, 10 by default).
    const n = Number(process.env.CONFORMANCE_LOG_LINES || 10)
    const tail = (l) => (n > 0 ? l.slice(-n) : []).map((x) => JSON.stringify(x)).join('\n')
    e.message += `\n\nsamsa log (direct door):\n${tail(logs.direct)}\n\nsamsa log (wire door's broker):\n${tail(logs.wire)}`
    throw e
  }
  return { ...results.direct, own }
}

// ---------------------------------------------------------------------------------------
// Observations

/** An error as both doors must agree on it: class, Kafka type and code, retriability, and
 * the same for the errors it wraps. The message is not compared (see the top). */
function errorShape(e) {
  if (e === null || e === undefined || typeof e !== 'object') return e
  const out = { name: e.name }
  if (e.type !== undefined) out.type = e.type
  if (typeof e.code === 'number') out.code = e.code
  if (e.retriable !== undefined) out.retriable = e.retriable
  if (e.topic !== undefined) out.topic = e.topic
  if (Array.isArray(e.errors)) out.errors = e.errors.map(errorShape)
  if (Array.isArray(e.partitions)) {
    out.partitions = e.partitions.map((p) => ({ ...p, error: errorShape(p.error) })).sort((a, b) => a.partition - b.partition)
  }
  if (Array.isArray(e.groups)) out.groups = e.groups.map((g) => ({ groupId: g.groupId, errorCode: g.errorCode, error: errorShape(g.error) }))
  if (e.name === 'KafkaJSNumberOfRetriesExceeded' || e.name === 'KafkaJSNonRetriableError') {
    if (e.cause && e.cause !== e) out.cause = errorShape(e.cause)
  }
  return out
}

/** { value } or { error } of a call. */
async function outcome(fn) {
  try {
    return { value: await fn() }
  } catch (e) {
    return { error: errorShape(e) }
  }
}

const byName = (a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
const byPartition = (a, b) => a.partition - b.partition

/** fetchTopicMetadata's answer with topics in name order (kafkajs lists them in the
 * broker's order) and the leader's node id made symbolic (samsa's one broker is node 0
 * through both doors today, but that is not what the scenario checks). */
function metadataShape({ topics }) {
  return {
    topics: [...topics].sort(byName).map((t) => ({
      ...t,
      partitions: [...t.partitions].sort((a, b) => a.partitionId - b.partitionId).map((p) => ({
        ...p,
        leader: p.leader >= 0 ? 'leader' : p.leader,
        replicas: p.replicas.map(() => 'leader'),
        isr: p.isr.map(() => 'leader'),
      })),
    })),
  }
}

/** A send's results, in partition order (kafkajs lists them in the order of the broker's
 * response, samsa in the order of its appends). */
const sendShape = (results) => [...results].sort((a, b) => (a.topicName === b.topicName ? byPartition(a, b) : a.topicName < b.topicName ? -1 : 1))

/** A key, value or header value as text when it is UTF-8, else as hex (both doors give
 * Buffers; kafkajs copies, samsa slices one fetch buffer). */
function text(b) {
  if (b === null || b === undefined) return b
  if (!Buffer.isBuffer(b)) return `(${typeof b}) ${String(b)}`
  const s = b.toString('utf8')
  return Buffer.from(s, 'utf8').equals(b) ? s : `hex:${b.toString('hex')}`
}

function headersShape(headers) {
  const out = {}
  for (const [k, v] of Object.entries(headers || {})) out[k] = Array.isArray(v) ? v.map(text) : text(v)
  return out
}

/** A consumed message: everything but the wall-clock timestamp of a message produced
 * without one (checked to lie within the scenario's run instead) and kafkajs's
 * `batchContext` (the record batch's header, which samsa's in-process API does not
 * expose: it sets null; see the report). */
function messageShape(message, window) {
  const { batchContext, timestamp, key, value, headers, ...rest } = message
  let ts = timestamp
  if (window && Number(timestamp) >= window.from && Number(timestamp) <= Date.now() && !window.explicit.has(String(timestamp))) ts = '<now>'
  return { ...rest, timestamp: ts, key: text(key), value: text(value), headers: headersShape(headers) }
}

// ---------------------------------------------------------------------------------------
// Scenario helpers

async function connected(client) {
  await client.connect()
  return client
}

/** Consumes `count` messages of `topics` in group `groupId` from the beginning and stops:
 * returns the messages per topic-partition, in delivery order. */
async function consumeAll(k, { groupId, topics, count, window, options = {}, run = {} }) {
  const consumer = await connected(k.consumer({ groupId, ...options }))
  await consumer.subscribe({ topics, fromBeginning: true })
  const got = {}
  let n = 0
  await consumer.run({
    ...run,
    eachMessage: async ({ topic, partition, message }) => {
      const key = `${topic}/${partition}`
      ;(got[key] = got[key] || []).push(messageShape(message, window))
      n += 1
    },
  })
  await waitFor(() => n >= count, { timeoutMs: 20000, what: `${count} messages through the ${k.kind} door (have ${n})` })
  return { consumer, got, total: () => n }
}

// ---------------------------------------------------------------------------------------
// Scenarios

test('topic lifecycle: createTopics, listTopics, fetchTopicMetadata, createPartitions, deleteTopics', async () => {
  const seen = await conform(async (k) => {
    const admin = await connected(k.admin())
    const out = {}
    out.create = await outcome(() => admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 3 }, { topic: 'events' }] }))
    out.createAgain = await outcome(() => admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 3 }] }))
    // One that exists, one with an invalid name, one new: the new one is created, and the
    // call fails with every topic not created (kafkajs lists the existing one too).
    out.createMixed = await outcome(() =>
      admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 3 }, { topic: 'bad/name', numPartitions: 1 }, { topic: 'fresh', numPartitions: 2 }] })
    )
    out.list = (await admin.listTopics()).sort()
    out.metadata = metadataShape(await admin.fetchTopicMetadata({ topics: ['orders', 'events'] }))
    out.metadataAll = metadataShape(await admin.fetchTopicMetadata())
    out.grow = await outcome(() => admin.createPartitions({ topicPartitions: [{ topic: 'orders', count: 5 }] }))
    out.shrink = await outcome(() => admin.createPartitions({ topicPartitions: [{ topic: 'orders', count: 2 }] }))
    out.same = await outcome(() => admin.createPartitions({ topicPartitions: [{ topic: 'orders', count: 5 }] }))
    out.metadataGrown = metadataShape(await admin.fetchTopicMetadata({ topics: ['orders'] }))
    out.delete = await outcome(() => admin.deleteTopics({ topics: ['events'] }))
    out.listAfterDelete = (await admin.listTopics()).sort()
    return out
  })
  // What both doors see, as Kafka answers it.
  expect(seen.create).toEqual({ value: true })
  expect(seen.createAgain).toEqual({ value: false })
  expect(seen.createMixed.error.name).toBe('KafkaJSAggregateError')
  expect(seen.createMixed.error.errors.map((e) => [e.topic, e.type])).toEqual([
    ['bad/name', 'INVALID_TOPIC_EXCEPTION'],
    ['orders', 'TOPIC_ALREADY_EXISTS'],
  ])
  expect(seen.list).toEqual(['events', 'fresh', 'orders'])
  expect(seen.metadataGrown.topics[0].partitions).toHaveLength(5)
  expect(seen.shrink.error.type).toBe('INVALID_PARTITIONS')
  expect(seen.listAfterDelete).toEqual(['fresh', 'orders'])
})

test('produce: keys (murmur2), explicit partitions, headers, tombstones, timestamps; send results', async () => {
  const keys = Array.from({ length: 40 }, (_, i) => `rider-${i * 7919}`)
  const seen = await conform(async (k) => {
    const admin = await connected(k.admin())
    await admin.createTopics({ topics: [{ topic: 'riders', numPartitions: 4 }, { topic: 'regions', numPartitions: 3 }] })
    const producer = await connected(k.producer())
    const out = {}
    out.keyed = sendShape(await producer.send({ topic: 'riders', messages: keys.map((key, i) => ({ key, value: `pos-${i}` })) }))
    out.keyedAgain = sendShape(await producer.send({ topic: 'riders', messages: keys.slice(0, 10).map((key) => ({ key, value: 'again' })) }))
    out.explicit = sendShape(
      await producer.send({
        topic: 'regions',
        messages: [
          { partition: 2, value: 'east' },
          { partition: 0, value: 'north', timestamp: '1700000000000' },
          { partition: 2, key: 'k', value: null, headers: { a: 'x', b: Buffer.from([0, 1, 2]) } },
          { partition: 1, key: 'rider-1', value: 'explicit wins over the key' },
        ],
      })
    )
    out.batch = sendShape(
      await producer.sendBatch({
        topicMessages: [
          { topic: 'riders', messages: [{ key: 'rider-0', value: 'b1' }] },
          { topic: 'regions', messages: [{ partition: 0, value: 'b2' }] },
        ],
      })
    )
    out.offsets = {
      riders: (await admin.fetchTopicOffsets('riders')).sort(byPartition),
      regions: (await admin.fetchTopicOffsets('regions')).sort(byPartition),
    }
    return out
  })
  // The key's partition is Java's murmur2: kafkajs's DefaultPartitioner decided it for the
  // wire door, samsa's for the direct one; equal results above say they agree. The total:
  expect(seen.offsets.riders.reduce((n, p) => n + Number(p.high), 0)).toBe(51)
})

test('consume in a group from the beginning: messages, keys, headers, timestamps, tombstones, then committed offsets', async () => {
  const explicit = ['1600000000000', '1600000000001', '1700000000000']
  const seen = await conform(async (k) => {
    const window = { from: Date.now(), explicit: new Set(explicit) }
    const admin = await connected(k.admin())
    await admin.createTopics({ topics: [{ topic: 'feed', numPartitions: 3 }, { topic: 'side', numPartitions: 1 }] })
    const producer = await connected(k.producer())
    await producer.send({
      topic: 'feed',
      messages: [
        { key: 'alice', value: 'a1', headers: { trace: 'xyz', bin: Buffer.from([255, 0, 7]) } },
        { key: 'bob', value: 'b1', timestamp: explicit[0] },
        { key: 'alice', value: null },
        { partition: 1, value: 'no key', timestamp: explicit[1] },
        { partition: 2, key: 'carol', value: '', headers: { empty: '' } },
      ],
    })
    await producer.send({ topic: 'feed', messages: [{ key: 'alice', value: 'a2', timestamp: explicit[2] }, { partition: 0, value: Buffer.from('bytes') }] })
    await producer.send({ topic: 'side', messages: [{ value: 'side-0' }, { value: 'side-1' }] })
    // Compressed by the client (kafkajs) or by samsa's producer; served as stored.
    await producer.send({ topic: 'side', compression: samsa.CompressionTypes.GZIP, messages: [{ key: 'z', value: 'zipped-0', headers: { h: 'gz' } }, { value: 'zipped-1' }] })
    // An idempotent producer's batches (producer id and sequence through InitProducerId).
    const idempotent = await connected(k.producer({ idempotent: true, maxInFlightRequests: 1 }))
    await idempotent.send({ topic: 'side', messages: [{ value: 'once-0' }, { key: 'alice', value: 'once-1' }] })
    await idempotent.send({ topic: 'feed', messages: [{ partition: 1, value: 'once-2' }] })
    const { consumer, got } = await consumeAll(k, { groupId: 'readers', topics: ['feed', 'side'], count: 14, window })
    await consumer.disconnect()
    const out = { got }
    out.committed = (await admin.fetchOffsets({ groupId: 'readers', topics: ['feed', 'side'] })).map((t) => ({
      ...t,
      partitions: t.partitions.sort(byPartition),
    }))
    out.high = (await admin.fetchTopicOffsets('feed')).sort(byPartition)
    return out
  })
  expect(Object.values(seen.got).flat()).toHaveLength(14)
  // Every partition was committed up to its end.
  for (const p of seen.high) expect(seen.committed[0].partitions[p.partition].offset).toBe(p.high)
})

test('fetchTopicOffsets, fetchTopicOffsetsByTimestamp and deleteTopicRecords', async () => {
  await conform(async (k) => {
    const admin = await connected(k.admin())
    await admin.createTopics({ topics: [{ topic: 'times', numPartitions: 2 }] })
    const producer = await connected(k.producer())
    for (let i = 0; i < 6; i++) {
      await producer.send({ topic: 'times', messages: [{ partition: 0, value: `p0-${i}`, timestamp: String(1000 + i * 100) }] })
    }
    await producer.send({ topic: 'times', messages: [{ partition: 1, value: 'p1-0', timestamp: '5000' }] })
    const out = {}
    const offsets = async () => (await admin.fetchTopicOffsets('times')).sort(byPartition)
    const byTime = async (ts) => outcome(async () => (await admin.fetchTopicOffsetsByTimestamp('times', ts)).sort(byPartition))
    out.offsets = await offsets()
    out.byTime = {
      before: await byTime(0),
      exact: await byTime(1200),
      between: await byTime(1250),
      last: await byTime(1500),
      after: await byTime(9999),
      none: await byTime(undefined),
    }
    out.deleteSome = await outcome(() => admin.deleteTopicRecords({ topic: 'times', partitions: [{ partition: 0, offset: '3' }] }))
    out.afterDelete = await offsets()
    out.byTimeAfterDelete = await byTime(0)
    out.deleteBefore = await outcome(() => admin.deleteTopicRecords({ topic: 'times', partitions: [{ partition: 0, offset: '1' }] }))
    out.deleteAll = await outcome(() => admin.deleteTopicRecords({ topic: 'times', partitions: [{ partition: 1, offset: '-1' }] }))
    out.afterDeleteAll = await offsets()
    out.deleteBeyond = await outcome(() => admin.deleteTopicRecords({ topic: 'times', partitions: [{ partition: 0, offset: '100' }] }))
    out.deleteBadPartition = await outcome(() => admin.deleteTopicRecords({ topic: 'times', partitions: [{ partition: 7, offset: '1' }] }))
    out.final = await offsets()
    return out
  })
})

test('commitOffsets then fetchOffsets; setOffsets and resetOffsets on an empty group', async () => {
  await conform(async (k) => {
    const admin = await connected(k.admin())
    await admin.createTopics({ topics: [{ topic: 'ledger', numPartitions: 2 }] })
    const producer = await connected(k.producer())
    await producer.send({ topic: 'ledger', messages: Array.from({ length: 10 }, (_, i) => ({ partition: i % 2, value: `v${i}` })) })
    const out = {}
    const fetch = async (groupId, extra = {}) =>
      outcome(async () => (await admin.fetchOffsets({ groupId, topics: ['ledger'], ...extra })).map((t) => ({ ...t, partitions: t.partitions.sort(byPartition) })))

    // A member commits by hand (autoCommit off) what it has processed.
    const { consumer } = await consumeAll(k, { groupId: 'manual', topics: ['ledger'], count: 10, run: { autoCommit: false } })
    out.commit = await outcome(() =>
      consumer.commitOffsets([
        { topic: 'ledger', partition: 0, offset: '3' },
        { topic: 'ledger', partition: 1, offset: '5' },
      ])
    )
    out.afterCommit = await fetch('manual')
    out.setWhileRunning = await outcome(() => admin.setOffsets({ groupId: 'manual', topic: 'ledger', partitions: [{ partition: 0, offset: '1' }] }))
    await consumer.disconnect()
    out.afterStop = await fetch('manual')

    // Admin tools on groups with no running member.
    out.never = await fetch('nobody')
    out.neverResolved = await fetch('nobody', { resolveOffsets: true })
    out.set = await outcome(() => admin.setOffsets({ groupId: 'manual', topic: 'ledger', partitions: [{ partition: 0, offset: '2' }, { partition: 1, offset: '4' }] }))
    out.afterSet = await fetch('manual')
    out.resetEarliest = await outcome(() => admin.resetOffsets({ groupId: 'manual', topic: 'ledger', earliest: true }))
    out.afterResetEarliest = await fetch('manual')
    out.resetLatest = await outcome(() => admin.resetOffsets({ groupId: 'manual', topic: 'ledger' }))
    out.afterResetLatest = await fetch('manual')
    out.setFresh = await outcome(() => admin.setOffsets({ groupId: 'fresh-group', topic: 'ledger', partitions: [{ partition: 1, offset: '3' }] }))
    out.afterSetFresh = await fetch('fresh-group')
    return out
  })
})

test('describeConfigs and alterConfigs on a topic', async () => {
  await conform(async (k) => {
    const admin = await connected(k.admin())
    await admin.createTopics({ topics: [{ topic: 'configured', numPartitions: 1, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] })
    const resource = (extra) => ({ type: samsa.ConfigResourceTypes.TOPIC, name: 'configured', ...extra })
    const shape = (r) => ({
      ...r,
      resources: r.resources.map((res) => ({ ...res, configEntries: [...res.configEntries].sort((a, b) => (a.configName < b.configName ? -1 : 1)) })),
    })
    const out = {}
    out.all = await outcome(async () => shape(await admin.describeConfigs({ resources: [resource()], includeSynonyms: false })))
    out.some = await outcome(async () => shape(await admin.describeConfigs({ resources: [resource({ configNames: ['retention.ms', 'segment.bytes'] })], includeSynonyms: false })))
    out.alter = await outcome(() => admin.alterConfigs({ resources: [resource({ configEntries: [{ name: 'segment.bytes', value: '1048576' }] })] }))
    // Kafka's AlterConfigs replaces the whole set: retention.ms is back at its default.
    out.afterAlter = await outcome(async () => shape(await admin.describeConfigs({ resources: [resource({ configNames: ['retention.ms', 'segment.bytes'] })], includeSynonyms: false })))
    out.alterUnknown = await outcome(() => admin.alterConfigs({ resources: [resource({ configEntries: [{ name: 'no.such.config', value: '1' }] })] }))
    out.alterBadValue = await outcome(() => admin.alterConfigs({ resources: [resource({ configEntries: [{ name: 'retention.ms', value: 'soon' }] })] }))
    out.validateOnly = await outcome(() => admin.alterConfigs({ validateOnly: true, resources: [resource({ configEntries: [{ name: 'retention.ms', value: '1000' }] })] }))
    out.afterValidateOnly = await outcome(async () => shape(await admin.describeConfigs({ resources: [resource({ configNames: ['retention.ms'] })], includeSynonyms: false })))
    out.describeMissing = await outcome(() => admin.describeConfigs({ resources: [{ type: samsa.ConfigResourceTypes.TOPIC, name: 'no-such-topic' }], includeSynonyms: false }))
    return out
  })
})

test("Kafka's topic and broker configs, replica assignments and record timestamps", async () => {
  const HOUR = 3600 * 1000
  const seen = await conform(async (k) => {
    const admin = await connected(k.admin())
    const { TOPIC, BROKER } = samsa.ConfigResourceTypes
    const sorted = (r) => ({
      ...r,
      resources: r.resources.map((res) => ({
        ...res,
        configEntries: [...res.configEntries]
          .sort((a, b) => (a.configName < b.configName ? -1 : 1))
          // The data directories of the two doors differ.
          .map((e) => (e.configName === 'log.dir' || e.configName === 'log.dirs' ? { ...e, configValue: '<dataDir>', configSynonyms: [] } : e)),
      })),
    })
    const out = {}
    // Configs Kafka defines that samsa keeps without acting on, and one it acts on.
    const tooled = [{ name: 'compression.type', value: 'zstd' }, { name: 'min.insync.replicas', value: '1' }, { name: 'message.timestamp.type', value: 'LogAppendTime' }]
    out.tooled = await outcome(() => admin.createTopics({ topics: [{ topic: 'tooled', numPartitions: 1, configEntries: tooled }] }))
    out.removedInKafka4 = await outcome(() => admin.createTopics({ topics: [{ topic: 'typo', configEntries: [{ name: 'message.timestamp.difference.max.ms', value: '1000' }] }] }))
    out.assigned = await outcome(() => admin.createTopics({ topics: [{ topic: 'assigned', replicaAssignment: [{ partition: 1, replicas: [0] }, { partition: 0, replicas: [0] }] }] }))
    out.noSuchBroker = await outcome(() => admin.createTopics({ topics: [{ topic: 'elsewhere', replicaAssignment: [{ partition: 0, replicas: [1] }] }] }))
    out.grow = await outcome(() => admin.createPartitions({ topicPartitions: [{ topic: 'assigned', count: 3, assignments: [[0]] }] }))
    out.growOnBroker1 = await outcome(() => admin.createPartitions({ topicPartitions: [{ topic: 'assigned', count: 4, assignments: [[1]] }] }))
    out.growTooFewLists = await outcome(() => admin.createPartitions({ topicPartitions: [{ topic: 'assigned', count: 5, assignments: [[0]] }] }))
    out.topics = (await admin.listTopics()).sort()
    out.metadata = metadataShape(await admin.fetchTopicMetadata({ topics: ['assigned'] }))
    out.topicConfigs = await outcome(async () => sorted(await admin.describeConfigs({ resources: [{ type: TOPIC, name: 'tooled' }], includeSynonyms: true })))
    out.brokerAlter = await outcome(() =>
      admin.alterConfigs({ resources: [{ type: BROKER, name: '0', configEntries: [{ name: 'log.retention.ms', value: '1000' }, { name: 'my.custom', value: 'x' }] }] })
    )
    out.brokerReadOnly = await outcome(() => admin.alterConfigs({ resources: [{ type: BROKER, name: '0', configEntries: [{ name: 'num.partitions', value: '3' }] }] }))
    out.brokerConfigs = await outcome(async () => sorted(await admin.describeConfigs({ resources: [{ type: BROKER, name: '0' }], includeSynonyms: true })))
    out.someBrokerConfigs = await outcome(async () =>
      sorted(await admin.describeConfigs({ resources: [{ type: BROKER, name: '0', configNames: ['default.replication.factor', 'num.partitions'] }], includeSynonyms: false }))
    )

    // Kafka 4 refuses records more than an hour ahead; a LogAppendTime topic stamps its own.
    const producer = await connected(k.producer({ retry: RETRY }))
    await admin.createTopics({ topics: [{ topic: 'times', numPartitions: 1 }] })
    out.future = await outcome(() => producer.send({ topic: 'times', messages: [{ partition: 0, value: 'later', timestamp: String(Date.now() + 2 * HOUR) }] }))
    // samsa's producer lists the failed partitions on its error (lib/producer.js); kafkajs's
    // names none.
    if (out.future.error) delete out.future.error.partitions
    out.old = await outcome(async () => sendShape(await producer.send({ topic: 'times', messages: [{ partition: 0, value: 'long ago', timestamp: '1000' }] })))
    const window = { from: Date.now(), explicit: new Set() }
    const stamped = await producer.send({ topic: 'tooled', messages: [{ partition: 0, value: 'stamped', timestamp: '1000' }] })
    const appendedNow = (t) => Number(t) >= window.from && Number(t) <= Date.now()
    out.stampedSend = sendShape(stamped).map((r) => ({ ...r, logAppendTime: appendedNow(r.logAppendTime) ? '<now>' : r.logAppendTime }))
    const { consumer, got } = await consumeAll(k, { groupId: 'stamps', topics: ['tooled', 'times'], count: 2, window })
    out.consumed = got
    await consumer.disconnect()
    return out
  })
  const entries = (r) => r.value.resources[0].configEntries
  expect(entries(seen.topicConfigs)).toHaveLength(33)
  expect(entries(seen.topicConfigs).find((e) => e.configName === 'compression.type')).toMatchObject({ configValue: 'zstd', configSource: 1, isDefault: false })
  expect(entries(seen.brokerConfigs).find((e) => e.configName === 'default.replication.factor')).toMatchObject({ configValue: '1', readOnly: true })
  expect(entries(seen.brokerConfigs).find((e) => e.configName === 'log.retention.ms')).toMatchObject({ configValue: '1000', configSource: 2 })
  expect(seen.assigned).toEqual({ value: true })
  expect(seen.noSuchBroker.error.errors[0]).toMatchObject({ type: 'INVALID_REPLICA_ASSIGNMENT', code: 39 })
  expect(seen.growOnBroker1.error).toMatchObject({ type: 'INVALID_REPLICA_ASSIGNMENT' })
  expect(seen.metadata.topics[0].partitions).toHaveLength(3)
  expect(seen.topics).toEqual(['assigned', 'tooled'])
  expect(JSON.stringify(seen.future.error)).toContain('INVALID_TIMESTAMP')
  expect(seen.consumed['tooled/0'][0]).toMatchObject({ value: 'stamped', timestamp: '<now>' })
  expect(seen.stampedSend[0].logAppendTime).toBe('<now>')
  expect(seen.old.value[0].logAppendTime).toBe('-1')
  expect(seen.consumed['times/0'][0]).toMatchObject({ value: 'long ago', timestamp: '1000' })
})

test('describeGroups and listGroups after a consumer stopped', async () => {
  await conform(async (k) => {
    const admin = await connected(k.admin())
    await admin.createTopics({ topics: [{ topic: 'groupy', numPartitions: 2 }] })
    const producer = await connected(k.producer())
    await producer.send({ topic: 'groupy', messages: [{ partition: 0, value: 'a' }, { partition: 1, value: 'b' }] })
    const { consumer } = await consumeAll(k, { groupId: 'watchers', topics: ['groupy'], count: 2 })
    const out = {}
    const running = await admin.describeGroups(['watchers'])
    // While running: one member; its id, client host and assignment bytes are the door's own.
    out.running = running.groups.map((g) => ({ ...g, members: g.members.map((m) => ({ clientId: m.clientId })) }))
    await consumer.disconnect()
    out.stopped = await outcome(() => admin.describeGroups(['watchers']))
    out.unknown = await outcome(() => admin.describeGroups(['never-seen']))
    out.list = await outcome(async () => ({ groups: (await admin.listGroups()).groups.sort((a, b) => (a.groupId < b.groupId ? -1 : 1)) }))
    out.deleteGroups = await outcome(() => admin.deleteGroups(['watchers']))
    out.listAfterDelete = await outcome(() => admin.listGroups())
    out.deleteMissingGroup = await outcome(() => admin.deleteGroups(['never-seen']))
    return out
  })
})

test('errors: missing partition, unknown topic without auto-creation, invalid createTopics, missing topics', async () => {
  const seen = await conform(async (k) => {
    const admin = await connected(k.admin())
    await admin.createTopics({ topics: [{ topic: 'small', numPartitions: 2 }] })
    const producer = await connected(k.producer({ allowAutoTopicCreation: false }))
    const out = { own: {} }
    // Legitimately different: kafkajs drops the messages of a partition its metadata does
    // not list without sending them (Cluster.findLeaderForPartitions skips it, and send
    // resolves without a result for it): silent loss that samsa's in-process producer
    // does not copy; it refuses the send instead. The broker's own answer to a Produce
    // naming a missing partition is checked below with a raw request.
    out.own.missingPartition = await outcome(() => producer.send({ topic: 'small', messages: [{ partition: 5, value: 'nowhere' }] }))
    out.own.missingAndPresent = await outcome(async () => sendShape(await producer.send({ topic: 'small', messages: [{ partition: 5, value: 'x' }, { partition: 1, value: 'y' }] })))
    out.own.offsetsAfter = (await admin.fetchTopicOffsets('small')).sort(byPartition)
    out.noTopic = await outcome(() => producer.send({ topic: 'absent-produce', messages: [{ value: 'x' }] }))

    const consumer = await connected(k.consumer({ groupId: 'lost', allowAutoTopicCreation: false }))
    out.subscribeUnknown = await outcome(() => consumer.subscribe({ topics: ['absent-consume'], fromBeginning: true }))
    await consumer.disconnect()

    out.invalidName = await outcome(() => admin.createTopics({ topics: [{ topic: 'bad name!', numPartitions: 1 }] }))
    out.dotDot = await outcome(() => admin.createTopics({ topics: [{ topic: '..', numPartitions: 1 }] }))
    out.tooLong = await outcome(() => admin.createTopics({ topics: [{ topic: 'x'.repeat(250), numPartitions: 1 }] }))
    out.zeroPartitions = await outcome(() => admin.createTopics({ topics: [{ topic: 'zero', numPartitions: 0 }] }))
    out.negativePartitions = await outcome(() => admin.createTopics({ topics: [{ topic: 'negative', numPartitions: -5 }] }))
    out.replication = await outcome(() => admin.createTopics({ topics: [{ topic: 'replicated', numPartitions: 1, replicationFactor: 3 }] }))
    out.badConfig = await outcome(() => admin.createTopics({ topics: [{ topic: 'badconf', numPartitions: 1, configEntries: [{ name: 'no.such.config', value: '1' }] }] }))
    out.deleteMissing = await outcome(() => admin.deleteTopics({ topics: ['never-was'] }))
    out.createPartitionsMissing = await outcome(() => admin.createPartitions({ topicPartitions: [{ topic: 'never-was', count: 3 }] }))
    out.deleteRecordsMissing = await outcome(() => admin.deleteTopicRecords({ topic: 'never-was', partitions: [{ partition: 0, offset: '1' }] }))
    out.topicsAfter = (await admin.listTopics()).sort()
    return out
  })
  const unknown = { name: 'KafkaJSProtocolError', type: 'UNKNOWN_TOPIC_OR_PARTITION', code: 3, retriable: false }
  expect(seen.own.direct.missingPartition).toEqual({ error: unknown })
  expect(seen.own.direct.missingAndPresent).toEqual({ error: unknown })
  expect(seen.own.direct.offsetsAfter.map((p) => p.high)).toEqual(['0', '0'])
  expect(seen.own.wire.missingPartition).toEqual({ value: [] })
  expect(seen.own.wire.missingAndPresent.value.map((r) => [r.partition, r.errorCode])).toEqual([[1, 0]])
  expect(seen.own.wire.offsetsAfter.map((p) => p.high)).toEqual(['0', '1'])
  expect(seen.topicsAfter).toEqual(['small'])
})

test('the listener answers a Produce naming a missing partition for that partition alone (kafkajs never sends one)', async () => {
  const server = new samsa.Kafka({ dataDir: tempDir('samsa-conf-raw-'), logLevel: samsa.logLevel.NOTHING })
  const { host, port } = await server.listen({ port: 0, host: '127.0.0.1' })
  const admin = server.admin()
  let socket
  try {
    await admin.createTopics({ topics: [{ topic: 'small', numPartitions: 2 }] })
    socket = await WireSocket.connect(host, port)
    const produce = require('kafkajs/src/protocol/requests/produce/v3/request')
    const { decode } = require('kafkajs/src/protocol/requests/produce/v3/response')
    const request = produce({
      acks: -1,
      timeout: 5000,
      topicData: [{ topic: 'small', partitions: [{ partition: 5, messages: [{ value: 'x' }] }, { partition: 1, messages: [{ value: 'y' }] }] }],
    })
    const reply = await socket.exchange(await kafkajsFrame(request, 41), { timeoutMs: 10000 })
    expect(reply.kind).toBe('response')
    expect(reply.correlationId).toBe(41)
    const { topics } = await decode(reply.payload)
    expect(topics.map((t) => ({ topic: t.topicName, partitions: t.partitions.map((p) => [p.partition, p.errorCode, p.baseOffset]).sort((a, b) => a[0] - b[0]) }))).toEqual([
      { topic: 'small', partitions: [[1, 0, '0'], [5, 3, '-1']] },
    ])
    expect((await admin.fetchTopicOffsets('small')).sort(byPartition).map((p) => p.high)).toEqual(['0', '1'])
  } finally {
    if (socket) socket.end()
    await admin.disconnect()
    await server.close()
  }
})

test('admin reads of a topic that does not exist', async () => {
  // kafkajs's admin asks Metadata with allowAutoTopicCreation: false, so nothing is
  // created; the calls fail with UNKNOWN_TOPIC_OR_PARTITION, each in kafkajs's own way
  // (some retry it and give up, others bail out at once with the protocol error).
  await conform(async (k) => {
    const admin = await connected(k.admin())
    const out = {}
    out.metadata = await outcome(async () => metadataShape(await admin.fetchTopicMetadata({ topics: ['ghost-metadata'] })))
    out.offsets = await outcome(() => admin.fetchTopicOffsets('ghost-offsets'))
    out.fetchOffsets = await outcome(() => admin.fetchOffsets({ groupId: 'g', topics: ['ghost-committed'] }))
    out.byTimestamp = await outcome(() => admin.fetchTopicOffsetsByTimestamp('ghost-times', 0))
    out.describeConfigs = await outcome(() => admin.describeConfigs({ resources: [{ type: samsa.ConfigResourceTypes.TOPIC, name: 'ghost-configs' }], includeSynonyms: false }))
    out.alterConfigs = await outcome(() =>
      admin.alterConfigs({ resources: [{ type: samsa.ConfigResourceTypes.TOPIC, name: 'ghost-configs', configEntries: [{ name: 'retention.ms', value: '1000' }] }] })
    )
    out.setOffsets = await outcome(() => admin.setOffsets({ groupId: 'g', topic: 'ghost-set', partitions: [{ partition: 0, offset: '0' }] }))
    out.deleteRecords = await outcome(() => admin.deleteTopicRecords({ topic: 'ghost-records', partitions: [{ partition: 0, offset: '0' }] }))
    out.topicsAfter = (await admin.listTopics()).sort()
    return out
  })
})
