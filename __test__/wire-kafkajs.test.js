'use strict'

// kafkajs 2.2.4 against samsa's Kafka-protocol listener (`kafka.listen()` on an ephemeral
// port, or `samsa serve` as a child process): admin, produce (keys, headers, every codec,
// idempotent), consumer groups (one group, two groups, a member joining and leaving,
// committed offsets across a restart of the samsa process, seek, pause/resume), and the
// two front doors meeting: what kafkajs sends compressed is read by samsa's in-process
// consumer, and what samsa's in-process producer compresses is read by kafkajs.

const path = require('node:path')
const { spawnSync } = require('node:child_process')
const samsa = require('..')
const { tempDir, ROOT } = require('./helpers')
const { kafkajs, serve, kafkajsClient, until, FAST, undoAfterEach } = require('./wire-helpers')

const { CompressionTypes, Partitioners } = kafkajs
const CODECS = ['None', 'GZIP', 'Snappy', 'LZ4', 'ZSTD']

jest.setTimeout(30000)

const { live, track, connected } = undoAfterEach()

/** A samsa broker in this process, listening on an ephemeral port, and a kafkajs client for it. */
async function broker() {
  const dataDir = tempDir('samsa-wire-')
  const samsaKafka = new samsa.Kafka({ clientId: 'wire', dataDir, logLevel: samsa.logLevel.NOTHING })
  const address = await samsaKafka.listen({ port: 0, host: '127.0.0.1' })
  live.push(() => samsaKafka.close())
  const { kafka, logs } = kafkajsClient(`${address.host}:${address.port}`)
  return { dataDir, samsaKafka, address, kafka, logs }
}

const producerOf = (kafka, options = {}) => connected(kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, ...options }))

/** A running kafkajs consumer recording what it gets (`got`) and its assignments (`joins`). */
async function consume(kafka, { groupId, topics, fromBeginning = true, options = {}, run = {}, onMessage } = {}) {
  const consumer = track(kafka.consumer({ groupId, ...FAST, ...options }))
  const got = []
  const joins = []
  const crashes = []
  consumer.on(consumer.events.GROUP_JOIN, (e) => joins.push(e.payload))
  consumer.on(consumer.events.CRASH, (e) => crashes.push(e.payload.error))
  await consumer.connect()
  await consumer.subscribe({ topics, fromBeginning })
  const eachMessage = async ({ topic, partition, message }) => {
    got.push({ topic, partition, ...plain(message) })
    if (onMessage) await onMessage({ topic, partition, message })
  }
  // kafkajs takes eachMessage over eachBatch when given both.
  await consumer.run(run.eachBatch ? run : { eachMessage, ...run })
  const assignment = () => (joins.length ? joins[joins.length - 1].memberAssignment : null)
  return { consumer, got, joins, crashes, assignment }
}

/** A message as comparable plain data. */
function plain(m) {
  const headers = {}
  for (const [k, v] of Object.entries(m.headers || {})) headers[k] = Buffer.isBuffer(v) ? v.toString() : v
  return {
    offset: Number(m.offset),
    key: m.key === null || m.key === undefined ? null : m.key.toString(),
    value: m.value === null ? null : m.value.toString(),
    headers,
  }
}

const byPartition = (got) => {
  const out = {}
  for (const g of got) (out[g.partition] = out[g.partition] || []).push(g.offset)
  return out
}

/** The group's committed offsets per partition, through kafkajs's admin over the wire. */
async function committed(admin, groupId, topic) {
  const [t] = await admin.fetchOffsets({ groupId, topics: [topic] })
  return Object.fromEntries(t.partitions.map((p) => [p.partition, Number(p.offset)]))
}

describe('admin', () => {
  test('topics, partitions, offsets, configs and the cluster, as kafkajs sees them', async () => {
    const { kafka, samsaKafka } = await broker()
    const admin = await connected(kafka.admin())

    const cluster = await admin.describeCluster()
    expect(cluster.brokers).toHaveLength(1)
    expect(cluster.controller).toBe(cluster.brokers[0].nodeId)

    expect(await admin.createTopics({ topics: [{ topic: 'alpha', numPartitions: 3 }, { topic: 'beta' }] })).toBe(true)
    expect(await admin.createTopics({ topics: [{ topic: 'alpha', numPartitions: 3 }] })).toBe(false)
    expect((await admin.listTopics()).sort()).toEqual(['alpha', 'beta'])
    const meta = await admin.fetchTopicMetadata({ topics: ['alpha', 'beta'] })
    expect(meta.topics.map((t) => [t.name, t.partitions.length]).sort()).toEqual([
      ['alpha', 3],
      ['beta', 1],
    ])
    for (const p of meta.topics.find((t) => t.name === 'alpha').partitions) expect(p).toMatchObject({ partitionErrorCode: 0, leader: cluster.brokers[0].nodeId })

    await admin.createPartitions({ topicPartitions: [{ topic: 'alpha', count: 5 }] })
    const after = await admin.fetchTopicMetadata({ topics: ['alpha'] })
    expect(after.topics[0].partitions.map((p) => p.partitionId).sort()).toEqual([0, 1, 2, 3, 4])

    const producer = await producerOf(kafka)
    const before = Date.now()
    await producer.send({ topic: 'alpha', messages: Array.from({ length: 10 }, (_, i) => ({ partition: i % 2, value: `v${i}` })) })
    const offsets = await admin.fetchTopicOffsets('alpha')
    expect(offsets.sort((a, b) => a.partition - b.partition).map((o) => [o.partition, o.low, o.high])).toEqual([
      [0, '0', '5'],
      [1, '0', '5'],
      [2, '0', '0'],
      [3, '0', '0'],
      [4, '0', '0'],
    ])
    const byTime = await admin.fetchTopicOffsetsByTimestamp('alpha', before - 60000)
    expect(byTime.find((o) => o.partition === 0).offset).toBe('0')

    await admin.deleteTopicRecords({ topic: 'alpha', partitions: [{ partition: 0, offset: '2' }] })
    expect((await admin.fetchTopicOffsets('alpha')).find((o) => o.partition === 0)).toMatchObject({ low: '2', high: '5' })

    const describe = async () => {
      const r = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: 'alpha', configNames: ['retention.ms'] }] })
      return r.resources[0].configEntries.find((e) => e.configName === 'retention.ms').configValue
    }
    expect(await describe()).toBe(String(7 * 24 * 3600 * 1000))
    await admin.alterConfigs({ resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: 'alpha', configEntries: [{ name: 'retention.ms', value: '3600000' }] }] })
    expect(await describe()).toBe('3600000')

    await admin.deleteTopics({ topics: ['beta'] })
    expect(await admin.listTopics()).toEqual(['alpha'])
    // The in-process front door sees the same broker.
    const local = samsaKafka.admin()
    await local.connect()
    live.push(() => local.disconnect())
    expect(await local.listTopics()).toEqual(['alpha'])
  })
})

describe('produce', () => {
  test.each(CODECS)(
    'kafkajs sends with and without keys, with headers, compression %s: stored as sent, read back by samsa in-process and by kafkajs',
    async (codec) => {
      const { kafka, samsaKafka } = await broker()
      const admin = await connected(kafka.admin())
      await admin.createTopics({ topics: [{ topic: 'rides', numPartitions: 4 }] })
      const producer = await producerOf(kafka)
      const messages = [
        ...Array.from({ length: 20 }, (_, i) => ({ key: `rider-${i % 5}`, value: `keyed-${i}`, headers: { seq: String(i), codec } })),
        ...Array.from({ length: 10 }, (_, i) => ({ value: `unkeyed-${i}` })),
      ]
      // Two sends, so batches of both kinds land on every partition.
      const results = [
        ...(await producer.send({ topic: 'rides', compression: CompressionTypes[codec], messages: messages.slice(0, 20) })),
        ...(await producer.send({ topic: 'rides', compression: CompressionTypes[codec], messages: messages.slice(20) })),
      ]
      for (const r of results) expect(r).toMatchObject({ topicName: 'rides', errorCode: 0 })

      // samsa's in-process consumer on the Kafka object that listens.
      const local = samsaKafka.consumer({ groupId: `local-${codec}`, maxWaitTimeInMs: 100 })
      live.push(() => local.disconnect())
      const gotLocal = []
      await local.connect()
      await local.subscribe({ topics: ['rides'], fromBeginning: true })
      await local.run({ eachMessage: async ({ partition, message }) => gotLocal.push({ partition, ...plain(message) }) })

      // kafkajs over the wire.
      const remote = await consume(kafka, { groupId: `remote-${codec}`, topics: ['rides'] })

      await until(() => gotLocal.length >= 30 && remote.got.length >= 30, { timeoutMs: 15000, what: () => `30 messages in both consumers (local ${gotLocal.length}, kafkajs ${remote.got.length})` })
      const strip = (g) => ({ partition: g.partition, offset: g.offset, key: g.key, value: g.value, headers: g.headers })
      const sort = (a) => a.map(strip).sort((x, y) => x.partition - y.partition || x.offset - y.offset)
      expect(sort(remote.got)).toEqual(sort(gotLocal))
      expect(gotLocal.map((g) => g.value).sort()).toEqual(messages.map((m) => m.value).sort())
      for (const g of gotLocal) {
        const sent = messages.find((m) => m.value === g.value)
        expect(g.key).toBe(sent.key === undefined ? null : sent.key)
        expect(g.headers).toEqual(sent.headers || {})
      }
      // One key, one partition; the same partition samsa's own producer picks for the key
      // (murmur2 on both sides).
      const partitionOf = {}
      for (const g of gotLocal.filter((x) => x.key)) {
        expect(partitionOf[g.key] === undefined || partitionOf[g.key] === g.partition).toBe(true)
        partitionOf[g.key] = g.partition
      }
      const own = samsaKafka.producer()
      live.push(() => own.disconnect())
      await own.connect()
      for (const [key, partition] of Object.entries(partitionOf)) {
        const [r] = await own.send({ topic: 'rides', messages: [{ key, value: 'samsa' }] })
        expect([key, r.partition]).toEqual([key, partition])
      }
      // Offsets per partition are contiguous from 0, and kafkajs's consumer agrees.
      for (const offsets of Object.values(byPartition(gotLocal))) {
        expect(offsets.sort((a, b) => a - b)).toEqual(offsets.map((_, i) => i))
      }
      expect(remote.crashes).toEqual([])
    }
  )

  test('an idempotent kafkajs producer: sequential and concurrent sends, each message stored once', async () => {
    const { kafka, samsaKafka } = await broker()
    const admin = await connected(kafka.admin())
    await admin.createTopics({ topics: [{ topic: 'ledger', numPartitions: 3 }] })
    const producer = await producerOf(kafka, { idempotent: true, maxInFlightRequests: 1 })
    expect(producer.isIdempotent()).toBe(true)
    const values = []
    for (let i = 0; i < 10; i++) {
      const batch = Array.from({ length: 3 }, (_, j) => ({ key: `acct-${(i + j) % 7}`, value: `s${i}-${j}` }))
      values.push(...batch.map((m) => m.value))
      await producer.send({ topic: 'ledger', acks: -1, compression: i % 2 ? CompressionTypes.GZIP : CompressionTypes.None, messages: batch })
    }
    const concurrent = Array.from({ length: 8 }, (_, i) => ({ key: `acct-${i}`, value: `c${i}` }))
    values.push(...concurrent.map((m) => m.value))
    await Promise.all(concurrent.map((m) => producer.send({ topic: 'ledger', acks: -1, messages: [m] })))
    const offsets = await admin.fetchTopicOffsets('ledger')
    expect(offsets.reduce((n, o) => n + Number(o.high), 0)).toBe(values.length)

    const local = samsaKafka.consumer({ groupId: 'audit', maxWaitTimeInMs: 100 })
    live.push(() => local.disconnect())
    const got = []
    await local.connect()
    await local.subscribe({ topics: ['ledger'], fromBeginning: true })
    await local.run({ eachMessage: async ({ message }) => got.push(message.value.toString()) })
    await until(() => got.length >= values.length, { timeoutMs: 10000, what: 'every idempotent message' })
    expect(got.sort()).toEqual(values.sort())
  })
})

describe('produce edge cases', () => {
  test('auto-created topics, acks 0 and 1, MESSAGE_TOO_LARGE, a deleted topic made again', async () => {
    const { kafka } = await broker()
    const admin = await connected(kafka.admin())
    const producer = await producerOf(kafka)
    // Metadata creates the unknown topic (kafkajs asks with allowAutoTopicCreation).
    const [first] = await producer.send({ topic: 'made-on-send', messages: [{ value: 'a' }] })
    expect(first).toMatchObject({ topicName: 'made-on-send', partition: 0, errorCode: 0, baseOffset: '0' })
    // acks 0: kafkajs expects no reply at all, and gets none.
    expect(await producer.send({ topic: 'made-on-send', acks: 0, messages: [{ value: 'b' }] })).toEqual([])
    const [third] = await producer.send({ topic: 'made-on-send', acks: 1, messages: [{ value: 'c' }] })
    expect(third.baseOffset).toBe('2')
    await expect(producer.send({ topic: 'made-on-send', messages: [{ value: Buffer.alloc(2 << 20) }] })).rejects.toMatchObject({ type: 'MESSAGE_TOO_LARGE' })
    const [fourth] = await producer.send({ topic: 'made-on-send', messages: [{ value: Buffer.alloc(900 << 10, 1) }] })
    expect(fourth.baseOffset).toBe('3')
    expect(await admin.fetchTopicOffsets('made-on-send')).toEqual([{ partition: 0, offset: '4', high: '4', low: '0' }])

    await admin.deleteTopics({ topics: ['made-on-send'] })
    expect(await admin.listTopics()).toEqual([])
    expect(await admin.createTopics({ topics: [{ topic: 'made-on-send', numPartitions: 2 }] })).toBe(true)
    expect((await admin.fetchTopicOffsets('made-on-send')).map((o) => o.high)).toEqual(['0', '0'])
  })

  test('a compacted topic: a send with a message without a key fails with INVALID_RECORD (GZIP too), keys and tombstones are taken; deleteTopicRecords fails with POLICY_VIOLATION', async () => {
    const { kafka } = await broker()
    const admin = await connected(kafka.admin())
    const configEntries = [{ name: 'cleanup.policy', value: 'compact' }]
    expect(await admin.createTopics({ topics: [{ topic: 'positions', configEntries }] })).toBe(true)
    const d = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: 'positions', configNames: ['cleanup.policy'] }] })
    expect(d.resources[0].configEntries[0]).toMatchObject({ configName: 'cleanup.policy', configValue: 'compact', isDefault: false })
    const producer = await producerOf(kafka, { retry: { retries: 0 } })
    for (const compression of [CompressionTypes.None, CompressionTypes.GZIP]) {
      const keyless = producer.send({ topic: 'positions', compression, messages: [{ key: 'rider-1', value: 'north' }, { value: 'nobody' }] })
      await expect(keyless).rejects.toMatchObject({ name: 'KafkaJSProtocolError', type: 'INVALID_RECORD', retriable: false })
    }
    expect(await admin.fetchTopicOffsets('positions')).toEqual([{ partition: 0, offset: '0', high: '0', low: '0' }])
    const [sent] = await producer.send({ topic: 'positions', compression: CompressionTypes.GZIP, messages: [{ key: 'rider-1', value: 'north' }, { key: 'rider-1', value: null }] })
    expect(sent).toMatchObject({ errorCode: 0, baseOffset: '0' })
    const err = await admin.deleteTopicRecords({ topic: 'positions', partitions: [{ partition: 0, offset: '1' }] }).catch((e) => e)
    expect(err.name).toBe('KafkaJSNonRetriableError')
    expect(err.cause.partitions[0].error).toMatchObject({ type: 'POLICY_VIOLATION', retriable: false })
    expect(await admin.fetchTopicOffsets('positions')).toEqual([{ partition: 0, offset: '2', high: '2', low: '0' }])
  })

  test('fetch limits below one batch still return a whole batch; a RegExp subscription with eachBatch', async () => {
    const { kafka } = await broker()
    const admin = await connected(kafka.admin())
    await admin.createTopics({ topics: [{ topic: 'big' }, { topic: 'rx-1' }, { topic: 'rx-2' }] })
    const producer = await producerOf(kafka)
    const crypto = require('node:crypto')
    const big = Array.from({ length: 10 }, () => crypto.randomBytes(20000).toString('hex'))
    await producer.send({ topic: 'big', compression: CompressionTypes.GZIP, messages: big.slice(0, 5).map((value) => ({ value })) })
    await producer.send({ topic: 'big', messages: big.slice(5).map((value) => ({ value })) })
    await producer.send({ topic: 'rx-1', messages: [{ value: 'one' }] })
    await producer.send({ topic: 'rx-2', messages: [{ value: 'two' }] })

    const small = await consume(kafka, { groupId: 'small', topics: ['big'], options: { maxBytesPerPartition: 1024, maxBytes: 1024 } })
    await until(() => small.got.length >= 10, { timeoutMs: 10000, what: () => `10 messages of 40 kB with 1 kB fetches (got ${small.got.length})` })
    expect(small.got.map((g) => g.value)).toEqual(big)

    const batches = []
    const rx = await consume(kafka, {
      groupId: 'rx',
      topics: [/^rx-/],
      run: { partitionsConsumedConcurrently: 2, eachBatch: async ({ batch }) => batches.push(...batch.messages.map((m) => `${batch.topic}:${m.value}`)) },
    })
    await until(() => batches.length >= 2, { what: 'both topics of the RegExp subscription' })
    expect(batches.sort()).toEqual(['rx-1:one', 'rx-2:two'])
    expect(rx.assignment()).toEqual({ 'rx-1': [0], 'rx-2': [0] })
  })
})

describe("samsa's in-process producer, kafkajs's consumer", () => {
  for (const codec of CODECS) {
    const name = `samsa produces with compression ${codec}; kafkajs consumes it over the wire`
    test(name, async () => {
      const { kafka, samsaKafka } = await broker()
      const own = samsaKafka.producer()
      live.push(() => own.disconnect())
      await own.connect()
      const admin = samsaKafka.admin()
      live.push(() => admin.disconnect())
      await admin.connect()
      await admin.createTopics({ topics: [{ topic: 'packed', numPartitions: 2 }] })
      const messages = Array.from({ length: 40 }, (_, i) => ({
        key: i % 3 ? `k${i % 4}` : null,
        value: `${codec} value ${i} `.repeat(1 + (i % 5)),
        headers: { i: String(i) },
      }))
      await own.send({ topic: 'packed', compression: CompressionTypes[codec], messages: messages.slice(0, 25) })
      await own.send({ topic: 'packed', compression: CompressionTypes[codec], messages: messages.slice(25) })
      const remote = await consume(kafka, { groupId: 'reader', topics: ['packed'] })
      await until(() => remote.got.length >= 40, { timeoutMs: 15000, what: () => `40 messages (got ${remote.got.length})` })
      expect(remote.got.map((g) => g.value).sort()).toEqual(messages.map((m) => m.value).sort())
      for (const g of remote.got) {
        const sent = messages.find((m) => m.value === g.value)
        expect([g.key, g.headers]).toEqual([sent.key, sent.headers])
      }
      for (const offsets of Object.values(byPartition(remote.got))) expect(offsets).toEqual(offsets.map((_, i) => i))
      expect(remote.crashes).toEqual([])
    })
  }
})

describe('consumer groups', () => {
  test('one group: every message once, in order per partition; the group as admin sees it', async () => {
    const { kafka, samsaKafka } = await broker()
    const admin = await connected(kafka.admin())
    await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 3 }] })
    const producer = await producerOf(kafka)
    const sent = Array.from({ length: 60 }, (_, i) => ({ key: `o${i % 11}`, value: `order-${i}` }))
    await producer.send({ topic: 'orders', messages: sent.slice(0, 30) })
    const c = await consume(kafka, { groupId: 'billing', topics: ['orders'] })
    await until(() => c.got.length >= 30, { what: 'the first 30' })
    await producer.send({ topic: 'orders', messages: sent.slice(30) })
    await until(() => c.got.length >= 60, { what: 'all 60' })
    expect(c.assignment()).toEqual({ orders: [0, 1, 2] })
    expect(c.got.map((g) => g.value).sort()).toEqual(sent.map((m) => m.value).sort())
    for (const offsets of Object.values(byPartition(c.got))) expect(offsets).toEqual(offsets.map((_, i) => i))

    const high = Object.fromEntries((await admin.fetchTopicOffsets('orders')).map((o) => [o.partition, Number(o.high)]))
    await until(async () => JSON.stringify(await committed(admin, 'billing', 'orders')) === JSON.stringify(high), { what: 'offsets committed up to the high watermarks' })

    expect((await admin.listGroups()).groups).toEqual([expect.objectContaining({ groupId: 'billing', protocolType: 'consumer' })])
    const { groups } = await admin.describeGroups(['billing'])
    expect(groups[0]).toMatchObject({ groupId: 'billing', state: 'Stable', protocolType: 'consumer', protocol: 'RoundRobinAssigner' })
    expect(groups[0].members).toHaveLength(1)
    const description = await c.consumer.describeGroup()
    expect(description).toMatchObject({ groupId: 'billing', state: 'Stable' })
    // samsa's in-process admin reads the same committed offsets.
    const local = samsaKafka.admin()
    live.push(() => local.disconnect())
    await local.connect()
    const [t] = await local.fetchOffsets({ groupId: 'billing', topics: ['orders'] })
    expect(Object.fromEntries(t.partitions.map((p) => [p.partition, Number(p.offset)]))).toEqual(high)

    await c.consumer.disconnect()
    await until(async () => (await admin.describeGroups(['billing'])).groups[0].state === 'Empty', { what: 'the group to be empty' })
    await admin.resetOffsets({ groupId: 'billing', topic: 'orders', earliest: true })
    // As against Kafka (kafkajs's own integration tests expect it): the EARLIEST sentinel
    // is what is committed. (kafkajs's setOffsets/resetOffsets each run a paused consumer
    // that sleeps its default 5 s fetch wait: they take about 5 s against any broker.)
    expect(await committed(admin, 'billing', 'orders')).toEqual({ 0: -2, 1: -2, 2: -2 })
    await admin.setOffsets({ groupId: 'billing', topic: 'orders', partitions: [{ partition: 1, offset: '3' }] })
    expect(await committed(admin, 'billing', 'orders')).toEqual({ 0: -2, 1: 3, 2: -2 })
    // A member of the group starts there: the log start for the sentinel, offset 3 on partition 1.
    const again = await consume(kafka, { groupId: 'billing', topics: ['orders'] })
    const expected = Object.fromEntries(Object.entries(high).map(([p, h]) => [p, Array.from({ length: h }, (_, i) => i).slice(p === '1' ? 3 : 0)]))
    await until(() => again.got.length >= 57, { what: 'the group to read again from the offsets set' })
    await until(async () => JSON.stringify(await committed(admin, 'billing', 'orders')) === JSON.stringify(high), { what: 'the group to commit up to the high watermarks again' })
    expect(byPartition(again.got)).toEqual(expected)
    await again.consumer.disconnect()
    await admin.deleteGroups(['billing'])
    expect((await admin.listGroups()).groups).toEqual([])
  })

  test('two groups: each gets every message', async () => {
    const { kafka } = await broker()
    const admin = await connected(kafka.admin())
    await admin.createTopics({ topics: [{ topic: 'events', numPartitions: 2 }] })
    const [a, b] = await Promise.all([
      consume(kafka, { groupId: 'db-writer', topics: ['events'] }),
      consume(kafka, { groupId: 'live-map', topics: ['events'] }),
    ])
    const producer = await producerOf(kafka)
    const sent = Array.from({ length: 50 }, (_, i) => `e${i}`)
    for (let i = 0; i < 50; i += 10) await producer.send({ topic: 'events', messages: sent.slice(i, i + 10).map((value) => ({ key: value, value })) })
    await until(() => a.got.length >= 50 && b.got.length >= 50, { timeoutMs: 15000, what: () => `50 messages in each group (${a.got.length}, ${b.got.length})` })
    expect(a.got.map((g) => g.value).sort()).toEqual([...sent].sort())
    expect(b.got.map((g) => g.value).sort()).toEqual([...sent].sort())
    expect(a.assignment()).toEqual({ events: [0, 1] })
    expect(b.assignment()).toEqual({ events: [0, 1] })
  })

  test('a member joining takes a share of the partitions, and the partitions come back when it leaves', async () => {
    const { kafka } = await broker()
    const admin = await connected(kafka.admin())
    await admin.createTopics({ topics: [{ topic: 'jobs', numPartitions: 4 }] })
    const producer = await producerOf(kafka)
    let round = 0
    const sendRound = async () => {
      round++
      const messages = Array.from({ length: 8 }, (_, i) => ({ partition: i % 4, value: `r${round}-${i}` }))
      await producer.send({ topic: 'jobs', messages })
      return messages
    }
    const settled = (n) => until(async () => Object.values(await committed(admin, 'workers', 'jobs')).every((o) => o === n), { timeoutMs: 10000, what: () => `committed offsets at ${n}` })

    const a = await consume(kafka, { groupId: 'workers', topics: ['jobs'] })
    await until(() => a.assignment(), { what: 'the first member to join' })
    expect(a.assignment()).toEqual({ jobs: [0, 1, 2, 3] })
    const r1 = await sendRound()
    await until(() => a.got.length >= 8, { what: 'round 1' })
    await settled(2)

    const b = await consume(kafka, { groupId: 'workers', topics: ['jobs'] })
    const split = () => {
      const pa = a.assignment()?.jobs || []
      const pb = b.assignment()?.jobs || []
      return pa.length === 2 && pb.length === 2 && [...pa, ...pb].sort().join() === '0,1,2,3'
    }
    await until(split, { timeoutMs: 15000, what: () => `the partitions split between the two members (a: ${JSON.stringify(a.joins.map((j) => j.memberAssignment))})` })
    const r2 = await sendRound()
    await until(() => a.got.length + b.got.length >= 16, { timeoutMs: 10000, what: 'round 2' })
    await settled(4)
    // Each round-2 message went to the member that owns its partition.
    const owner = (p) => (a.assignment().jobs.includes(p) ? a : b)
    for (const m of r2) expect(owner(m.partition).got.filter((g) => g.value === m.value)).toHaveLength(1)
    expect(b.got.map((g) => g.value).every((v) => v.startsWith('r2-'))).toBe(true)

    await b.consumer.disconnect()
    await until(() => (a.assignment()?.jobs || []).length === 4, { timeoutMs: 15000, what: 'the remaining member to get every partition back' })
    const r3 = await sendRound()
    await until(() => a.got.filter((g) => g.value.startsWith('r3-')).length >= 8, { timeoutMs: 10000, what: 'round 3' })
    await settled(6)

    // Every message exactly once in the group.
    const all = [...a.got, ...b.got].map((g) => g.value).sort()
    expect(all).toEqual([...r1, ...r2, ...r3].map((m) => m.value).sort())
    expect([...a.crashes, ...b.crashes]).toEqual([])
  })

  test('seek: a running consumer goes back to an offset and gets the messages again', async () => {
    const { kafka } = await broker()
    const admin = await connected(kafka.admin())
    await admin.createTopics({ topics: [{ topic: 'tape', numPartitions: 1 }] })
    const producer = await producerOf(kafka)
    // One compressed batch: the seek lands inside it, and kafkajs skips the records before.
    await producer.send({ topic: 'tape', compression: CompressionTypes.GZIP, messages: Array.from({ length: 10 }, (_, i) => ({ value: `t${i}` })) })
    const c = await consume(kafka, { groupId: 'replayer', topics: ['tape'] })
    await until(() => c.got.length >= 10, { what: 'the first pass' })
    c.consumer.seek({ topic: 'tape', partition: 0, offset: '3' })
    await until(() => c.got.length >= 17, { what: () => `the replay from offset 3 (${c.got.map((g) => g.offset)})` })
    expect(c.got.map((g) => g.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 3, 4, 5, 6, 7, 8, 9])
    // Seeking past the end waits there: the next message is delivered at its own offset.
    c.consumer.seek({ topic: 'tape', partition: 0, offset: '10' })
    await producer.send({ topic: 'tape', messages: [{ value: 't10' }] })
    await until(() => c.got.length >= 18, { what: 'the message after the end' })
    expect(c.got[17]).toMatchObject({ offset: 10, value: 't10' })
    await until(async () => (await committed(admin, 'replayer', 'tape'))[0] === 11, { what: 'the commit after the seek' })
  })

  test('pause and resume: a paused partition gets nothing until resumed; the others keep flowing', async () => {
    const { kafka } = await broker()
    const admin = await connected(kafka.admin())
    await admin.createTopics({ topics: [{ topic: 'lanes', numPartitions: 2 }] })
    const producer = await producerOf(kafka)
    const c = await consume(kafka, { groupId: 'lanes', topics: ['lanes'] })
    await until(() => c.assignment(), { what: 'the member to join' })
    await producer.send({ topic: 'lanes', messages: [{ partition: 0, value: 'p0-a' }, { partition: 1, value: 'p1-a' }] })
    await until(() => c.got.length >= 2, { what: 'the first two' })

    c.consumer.pause([{ topic: 'lanes', partitions: [0] }])
    expect(c.consumer.paused()).toEqual([{ topic: 'lanes', partitions: [0] }])
    // Partition 0's messages are sent first: were the pause ignored, they would arrive in
    // the same fetch as partition 1's, or before.
    await producer.send({ topic: 'lanes', messages: [{ partition: 0, value: 'p0-b' }, { partition: 0, value: 'p0-c' }] })
    await producer.send({ topic: 'lanes', messages: [{ partition: 1, value: 'p1-b' }] })
    await until(() => c.got.some((g) => g.value === 'p1-b'), { what: 'partition 1 to keep flowing' })
    await producer.send({ topic: 'lanes', messages: [{ partition: 1, value: 'p1-c' }] })
    await until(() => c.got.some((g) => g.value === 'p1-c'), { what: 'partition 1 to keep flowing' })
    expect(c.got.filter((g) => g.partition === 0).map((g) => g.value)).toEqual(['p0-a'])

    c.consumer.resume([{ topic: 'lanes', partitions: [0] }])
    expect(c.consumer.paused()).toEqual([])
    await until(() => c.got.filter((g) => g.partition === 0).length >= 3, { what: 'partition 0 after resume' })
    expect(c.got.filter((g) => g.partition === 0).map((g) => g.value)).toEqual(['p0-a', 'p0-b', 'p0-c'])
    expect(c.got.filter((g) => g.partition === 1).map((g) => g.value)).toEqual(['p1-a', 'p1-b', 'p1-c'])
  })
})

describe('samsa serve as a separate process', () => {
  test("kafkajs's admin: Kafka's topic configs, the broker's configs (dynamic ones kept across a restart), replica assignments", async () => {
    const dataDir = tempDir('samsa-wire-configs-')
    const first = await serve(dataDir)
    live.push(() => first.stop('SIGKILL'))
    let admin = await connected(kafkajsClient(first.broker).kafka.admin())
    const { TOPIC, BROKER } = kafkajs.ConfigResourceTypes
    // Configs tools set when creating topics: samsa keeps them (docs/configs.md).
    const configEntries = [
      { name: 'compression.type', value: 'zstd' },
      { name: 'min.insync.replicas', value: '1' },
      { name: 'unclean.leader.election.enable', value: 'false' },
      { name: 'message.timestamp.type', value: 'CreateTime' },
    ]
    expect(await admin.createTopics({ topics: [{ topic: 'tooled', numPartitions: 2, configEntries }] })).toBe(true)
    const elsewhere = admin.createTopics({ topics: [{ topic: 'elsewhere', replicaAssignment: [{ partition: 0, replicas: [1] }] }] })
    await expect(elsewhere).rejects.toMatchObject({ errors: [expect.objectContaining({ type: 'INVALID_REPLICA_ASSIGNMENT' })] })
    await expect(admin.createPartitions({ topicPartitions: [{ topic: 'tooled', count: 3, assignments: [[5]] }] })).rejects.toMatchObject({ type: 'INVALID_REPLICA_ASSIGNMENT' })
    expect(await admin.createTopics({ topics: [{ topic: 'placed', replicaAssignment: [{ partition: 0, replicas: [0] }, { partition: 1, replicas: [0] }] }] })).toBe(true)
    expect((await admin.listTopics()).sort()).toEqual(['placed', 'tooled'])
    expect((await admin.fetchTopicMetadata({ topics: ['placed'] })).topics[0].partitions).toHaveLength(2)

    const topic = await admin.describeConfigs({ includeSynonyms: true, resources: [{ type: TOPIC, name: 'tooled' }] })
    expect(topic.resources[0]).toMatchObject({ errorCode: 0, errorMessage: '' })
    const entries = topic.resources[0].configEntries
    expect(entries).toHaveLength(33)
    expect(entries.find((e) => e.configName === 'compression.type')).toEqual({
      configName: 'compression.type',
      configValue: 'zstd',
      readOnly: false,
      isDefault: false,
      configSource: 1,
      isSensitive: false,
      configSynonyms: [
        { configName: 'compression.type', configValue: 'zstd', configSource: 1 },
        { configName: 'compression.type', configValue: 'producer', configSource: 5 },
      ],
    })
    expect(entries.find((e) => e.configName === 'segment.bytes')).toMatchObject({ configValue: '1073741824', isDefault: true, configSource: 5 })

    const brokerConfigs = async () => {
      const r = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: BROKER, name: '0' }] })
      return Object.fromEntries(r.resources[0].configEntries.map((e) => [e.configName, e]))
    }
    const broker = await brokerConfigs()
    expect(broker['default.replication.factor']).toMatchObject({ configValue: '1', readOnly: true, isDefault: true })
    expect(broker['num.partitions']).toMatchObject({ configValue: '1', readOnly: true })
    expect(broker['log.dirs'].configValue).toBe(require('node:fs').realpathSync(dataDir))
    expect(broker['message.max.bytes']).toMatchObject({ readOnly: false })
    await admin.alterConfigs({ resources: [{ type: BROKER, name: '0', configEntries: [{ name: 'log.retention.ms', value: '1000' }] }] })
    await expect(admin.alterConfigs({ resources: [{ type: BROKER, name: '0', configEntries: [{ name: 'num.partitions', value: '3' }] }] })).rejects.toMatchObject({
      type: 'INVALID_REQUEST',
    })

    await first.stop('SIGTERM')
    await admin.disconnect()
    const second = await serve(dataDir)
    live.push(() => second.stop('SIGKILL'))
    admin = await connected(kafkajsClient(second.broker).kafka.admin())
    expect((await brokerConfigs())['log.retention.ms']).toMatchObject({ configValue: '1000', configSource: 2, isDefault: false })
    const kept = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: TOPIC, name: 'tooled', configNames: ['min.insync.replicas'] }] })
    expect(kept.resources[0].configEntries).toEqual([expect.objectContaining({ configName: 'min.insync.replicas', configValue: '1', configSource: 1 })])
  })

  test('committed offsets survive a restart of the samsa process', async () => {
    const dataDir = tempDir('samsa-wire-serve-')
    const first = await serve(dataDir)
    live.push(() => first.stop('SIGKILL'))
    let { kafka } = kafkajsClient(first.broker)
    let admin = await connected(kafka.admin())
    await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 3 }] })
    const producer = await producerOf(kafka)
    const old = Array.from({ length: 30 }, (_, i) => ({ partition: i % 3, value: `old-${i}` }))
    await producer.send({ topic: 'orders', messages: old })
    await producer.disconnect()

    // Group "auto" commits as it goes; group "manual" commits chosen offsets by hand.
    const auto = await consume(kafka, { groupId: 'auto', topics: ['orders'] })
    const manual = await consume(kafka, { groupId: 'manual', topics: ['orders'], run: { autoCommit: false } })
    await until(() => auto.got.length >= 30 && manual.got.length >= 30, { timeoutMs: 15000, what: 'both groups to read the first 30' })
    await manual.consumer.commitOffsets([
      { topic: 'orders', partition: 0, offset: '4' },
      { topic: 'orders', partition: 1, offset: '10' },
      { topic: 'orders', partition: 2, offset: '7' },
    ])
    await until(async () => JSON.stringify(await committed(admin, 'auto', 'orders')) === JSON.stringify({ 0: 10, 1: 10, 2: 10 }), { what: 'group auto to commit everything' })
    expect(await committed(admin, 'manual', 'orders')).toEqual({ 0: 4, 1: 10, 2: 7 })
    await auto.consumer.disconnect()
    await manual.consumer.disconnect()

    // SIGTERM with the admin's connection still open: samsa stops cleanly.
    const stopped = await first.stop('SIGTERM')
    expect(stopped).toEqual({ code: 0, signal: null })
    expect(first.lines).toContainEqual(expect.stringMatching(/^samsa: SIGTERM: stopping/))
    await admin.disconnect()

    const second = await serve(dataDir)
    live.push(() => second.stop('SIGKILL'))
    ;({ kafka } = kafkajsClient(second.broker))
    admin = await connected(kafka.admin())
    expect(await committed(admin, 'auto', 'orders')).toEqual({ 0: 10, 1: 10, 2: 10 })
    expect(await committed(admin, 'manual', 'orders')).toEqual({ 0: 4, 1: 10, 2: 7 })
    const producer2 = await producerOf(kafka)
    const fresh = Array.from({ length: 15 }, (_, i) => ({ partition: i % 3, value: `new-${i}` }))
    await producer2.send({ topic: 'orders', messages: fresh })

    const auto2 = await consume(kafka, { groupId: 'auto', topics: ['orders'] })
    const manual2 = await consume(kafka, { groupId: 'manual', topics: ['orders'] })
    const expected = { auto: { 0: [10, 15], 1: [10, 15], 2: [10, 15] }, manual: { 0: [4, 15], 1: [10, 15], 2: [7, 15] } }
    const count = (e) => Object.values(e).reduce((n, [from, to]) => n + to - from, 0)
    await until(() => auto2.got.length >= count(expected.auto) && manual2.got.length >= count(expected.manual), { timeoutMs: 15000, what: 'both groups to continue' })
    // Idle at the end: both groups have committed everything, so a replay would have shown.
    for (const g of ['auto', 'manual']) {
      await until(async () => Object.values(await committed(admin, g, 'orders')).every((o) => o === 15), { what: () => `group ${g} to commit up to 15` })
    }
    const range = (from, to) => Array.from({ length: to - from }, (_, i) => from + i)
    for (const [c, e] of [
      [auto2, expected.auto],
      [manual2, expected.manual],
    ]) {
      const got = byPartition(c.got)
      expect(got).toEqual(Object.fromEntries(Object.entries(e).map(([p, [from, to]]) => [p, range(from, to)])))
    }
    await auto2.consumer.disconnect()
    await manual2.consumer.disconnect()
    await producer2.disconnect()
    await admin.disconnect()
    expect(await second.stop('SIGTERM')).toEqual({ code: 0, signal: null })

    // The data directory was closed cleanly and is whole.
    const verify = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'samsa.js'), 'verify', dataDir], { encoding: 'utf8', timeout: 15000 })
    expect([verify.status, verify.stdout]).toEqual([0, expect.stringContaining('no damage found')])
  }, 60000)
})

