'use strict'

// Transactions (KIP-98) through kafkajs's API: producer.transaction() with send, sendBatch,
// sendOffsets, commit, abort and isActive; read-committed consumers (kafkajs's default) and
// readUncommitted ones; fencing of a zombie by a newer producer of its transactional id;
// the consume-transform-produce loop; the same from another process on the data directory
// (the remote backend, fixtures/tx-peer.js); and the transaction timeout that ends a
// transaction a dead producer left open. The kill -9 test is transactions-crash.test.js.
//
// What a read-committed reader must not see is checked against a witness, never after a
// fixed sleep: a later record it must see first (in the same partition, behind the
// transaction, or in another partition it reads meanwhile).

const fs = require('node:fs')
const path = require('node:path')
const { Kafka, logLevel, KafkaJSProtocolError, KafkaJSNonRetriableError } = require('..')
const { tempDir, waitFor: helpersWaitFor, readPartition } = require('./helpers')
const { spawnNode, until } = require('./wire-helpers')
const { SEGMENT_BYTES, entries, samsaBroker, sealer } = require('./compaction-helpers')

// Generous deadlines: the suite runs beside other test files on two busy cores, where a
// consumer's join and first fetch can take seconds.
jest.setTimeout(60000)
const waitFor = (check, options = {}) => helpersWaitFor(check, { timeoutMs: 15000, ...options })

const FAST = { sessionTimeout: 3000, rebalanceTimeout: 3000, heartbeatInterval: 50, maxWaitTimeInMs: 200, retry: { initialRetryTime: 50, retries: 1 } }
const ONGOING = 'There is already an ongoing transaction for this producer. Please end the transaction before beginning another.'
const ENDED = 'Cannot continue to use transaction once ended'

// Every client and Kafka a test makes is ended after it, passed or failed.
const clients = []
const kafkas = []
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.disconnect().catch(() => {})))
  await Promise.all(kafkas.splice(0).map((k) => k.close().catch(() => {})))
})
const track = (client) => {
  clients.push(client)
  return client
}

function open(dataDir = tempDir('samsa-tx-')) {
  const kafka = new Kafka({ clientId: 'tx-test', dataDir, logLevel: logLevel.NOTHING })
  kafkas.push(kafka)
  return { kafka, dataDir }
}

async function createTopics(kafka, topics) {
  const admin = track(kafka.admin())
  await admin.connect()
  await admin.createTopics({ topics: Object.entries(topics).map(([topic, numPartitions]) => ({ topic, numPartitions })) })
  return admin
}

async function producer(kafka, options = {}) {
  const p = track(kafka.producer(options))
  await p.connect()
  return p
}

const transactional = (kafka, transactionalId, options = {}) => producer(kafka, { transactionalId, maxInFlightRequests: 1, idempotent: true, ...options })

/** A consumer of a new group from the beginning, recording what it handles. */
async function collect(kafka, topics, { groupId = `g-${Math.random().toString(36).slice(2)}`, readUncommitted = false } = {}) {
  const consumer = track(kafka.consumer({ groupId, readUncommitted, ...FAST }))
  const got = []
  await consumer.connect()
  await consumer.subscribe({ topics, fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      got.push({ topic, partition, offset: Number(message.offset), value: message.value.toString() })
    },
  })
  return {
    consumer,
    got,
    values: (topic, partition) => got.filter((m) => (topic === undefined || m.topic === topic) && (partition === undefined || m.partition === partition)).map((m) => m.value),
    has: (value) => got.some((m) => m.value === value),
  }
}

const values = (records) => records.map((r) => r.value.toString())

async function groupOffsets(admin, groupId, topic) {
  const [{ partitions }] = await admin.fetchOffsets({ groupId, topics: [topic] })
  return Object.fromEntries(partitions.map((p) => [p.partition, p.offset]))
}

/** What a rejected promise rejected with (fails if it resolved). */
async function rejection(promise) {
  try {
    await promise
  } catch (e) {
    return e
  }
  throw new Error('expected a rejection')
}

describe('transactions in process', () => {
  test("kafkajs's transaction example: commit shows the records and the sendOffsets offsets together, abort shows neither; readUncommitted sees open and aborted records", async () => {
    const { kafka, dataDir } = open()
    const admin = await createTopics(kafka, { orders: 2, payments: 1 })
    const plain = await producer(kafka)
    await plain.send({ topic: 'payments', messages: Array.from({ length: 60 }, (_, i) => ({ value: `payment-${i}` })) })
    const committed = await collect(kafka, ['orders'])
    const uncommitted = await collect(kafka, ['orders'], { readUncommitted: true })
    const offsets = () => groupOffsets(admin, 'order-processor', 'payments')

    const txProducer = await transactional(kafka, 'my-transactional-producer')
    // As kafkajs documents it.
    const transaction = await txProducer.transaction()
    try {
      await transaction.send({ topic: 'orders', messages: [{ key: 'o1', value: 'order-1', partition: 0 }, { key: 'o2', value: 'order-2', partition: 0 }] })
      await transaction.sendOffsets({ consumerGroupId: 'order-processor', topics: [{ topic: 'payments', partitions: [{ partition: 0, offset: '42' }] }] })

      // Open: stored (a readUncommitted consumer sees it), but neither the records nor the
      // offsets are visible to a read-committed reader. The witness: a later record in the
      // other partition, which the read-committed consumer does get meanwhile.
      await waitFor(() => uncommitted.has('order-2'), { what: 'the readUncommitted consumer to see the open transaction' })
      await plain.send({ topic: 'orders', messages: [{ value: 'witness-1', partition: 1 }] })
      await waitFor(() => committed.has('witness-1'), { what: 'the read-committed consumer to see the witness' })
      expect(committed.values('orders', 0)).toEqual([])
      expect(readPartition(dataDir, 'orders', 0)).toEqual([])
      expect(values(readPartition(dataDir, 'orders', 0, 0, { readUncommitted: true }))).toEqual(['order-1', 'order-2'])
      expect(await offsets()).toEqual({ 0: '-1' })
      // A plain send to the same partition waits behind the open transaction too.
      await plain.send({ topic: 'orders', messages: [{ value: 'after-open', partition: 0 }] })

      await transaction.commit()
    } catch (e) {
      await transaction.abort()
      throw e
    }
    // Once commit resolves, the records and the offsets are there for every reader.
    expect(await offsets()).toEqual({ 0: '42' })
    expect(values(readPartition(dataDir, 'orders', 0))).toEqual(['order-1', 'order-2', 'after-open'])
    await waitFor(() => committed.has('after-open'), { what: 'the read-committed consumer to get the committed records' })
    expect(committed.values('orders', 0)).toEqual(['order-1', 'order-2', 'after-open'])
    expect(transaction.isActive()).toBe(false)

    // Abort: neither the records nor the offsets.
    const aborted = await txProducer.transaction()
    await aborted.send({ topic: 'orders', messages: [{ value: 'order-3', partition: 0 }, { value: 'order-4', partition: 1 }] })
    await aborted.sendOffsets({ consumerGroupId: 'order-processor', topics: [{ topic: 'payments', partitions: [{ partition: 0, offset: '50' }] }] })
    await waitFor(() => uncommitted.has('order-3') && uncommitted.has('order-4'), { what: 'the readUncommitted consumer to see the transaction' })
    await aborted.abort()
    expect(aborted.isActive()).toBe(false)
    expect(await offsets()).toEqual({ 0: '42' })
    // The witness: records after the aborted ones, in both partitions.
    await plain.send({ topic: 'orders', messages: [{ value: 'after-abort-0', partition: 0 }, { value: 'after-abort-1', partition: 1 }] })
    const next = await txProducer.transaction()
    await next.send({ topic: 'orders', messages: [{ value: 'order-5', partition: 0 }] })
    await next.commit()
    await waitFor(() => committed.has('order-5') && committed.has('after-abort-1'), { what: 'the read-committed consumer to get past the aborted transaction' })
    await waitFor(() => uncommitted.has('order-5') && uncommitted.has('after-abort-1'), { what: 'the readUncommitted consumer to get everything' })
    expect(committed.values('orders', 0)).toEqual(['order-1', 'order-2', 'after-open', 'after-abort-0', 'order-5'])
    expect(committed.values('orders', 1)).toEqual(['witness-1', 'after-abort-1'])
    expect(uncommitted.values('orders', 0)).toEqual(['order-1', 'order-2', 'after-open', 'order-3', 'after-abort-0', 'order-5'])
    expect(uncommitted.values('orders', 1)).toEqual(['witness-1', 'order-4', 'after-abort-1'])
    // Markers take offsets of their own (as in Kafka): the offsets are not consecutive.
    const offsetsSeen = committed.got.filter((m) => m.partition === 0).map((m) => m.offset)
    expect(offsetsSeen).toEqual([...offsetsSeen].sort((a, b) => a - b))
    expect(offsetsSeen.at(-1)).toBeGreaterThan(offsetsSeen.length - 1)
  })

  test('a transaction over several topics and partitions, with sendBatch and offsets of two groups: all or nothing', async () => {
    const { kafka, dataDir } = open()
    const admin = await createTopics(kafka, { a: 3, b: 2, input: 2 })
    const p = await transactional(kafka, 'spanning')
    const batch = (tag) => ({
      topicMessages: [
        { topic: 'a', messages: [0, 1, 2].map((partition) => ({ value: `${tag}-a${partition}`, partition })) },
        { topic: 'b', messages: [0, 1].map((partition) => ({ value: `${tag}-b${partition}`, partition })) },
      ],
    })
    const all = () => {
      const out = {}
      for (const [topic, n] of [['a', 3], ['b', 2]]) {
        for (let partition = 0; partition < n; partition++) out[`${topic}-${partition}`] = values(readPartition(dataDir, topic, partition))
      }
      return out
    }
    const offsets = async () => [await groupOffsets(admin, 'g1', 'input'), await groupOffsets(admin, 'g2', 'input')]

    const t1 = await p.transaction()
    const results = await t1.sendBatch(batch('one'))
    expect(results.map((r) => `${r.topicName}-${r.partition}`).sort()).toEqual(['a-0', 'a-1', 'a-2', 'b-0', 'b-1'])
    await t1.send({ topic: 'b', messages: [{ value: 'one-b0-again', partition: 0 }] })
    await t1.sendOffsets({ consumerGroupId: 'g1', topics: [{ topic: 'input', partitions: [{ partition: 0, offset: '3' }, { partition: 1, offset: '7' }] }] })
    await t1.sendOffsets({ consumerGroupId: 'g2', topics: [{ topic: 'input', partitions: [{ partition: 1, offset: '5' }] }] })
    const none = { 'a-0': [], 'a-1': [], 'a-2': [], 'b-0': [], 'b-1': [] }
    expect(all()).toEqual(none)
    expect(await offsets()).toEqual([{ 0: '-1', 1: '-1' }, { 0: '-1', 1: '-1' }])
    await t1.commit()
    const one = { 'a-0': ['one-a0'], 'a-1': ['one-a1'], 'a-2': ['one-a2'], 'b-0': ['one-b0', 'one-b0-again'], 'b-1': ['one-b1'] }
    expect(all()).toEqual(one)
    expect(await offsets()).toEqual([{ 0: '3', 1: '7' }, { 0: '-1', 1: '5' }])

    const t2 = await p.transaction()
    await t2.sendBatch(batch('two'))
    await t2.sendOffsets({ consumerGroupId: 'g1', topics: [{ topic: 'input', partitions: [{ partition: 0, offset: '10' }] }] })
    await t2.abort()
    expect(all()).toEqual(one)
    expect(await offsets()).toEqual([{ 0: '3', 1: '7' }, { 0: '-1', 1: '5' }])
    // Every record of both is stored: the aborted ones are left out, not missing.
    expect(values(readPartition(dataDir, 'b', 0, 0, { readUncommitted: true }))).toEqual(['one-b0', 'one-b0-again', 'two-b0'])

    // A new group reading everything gets exactly the committed records.
    const reader = await collect(kafka, ['a', 'b'])
    await p.transaction().then(async (t3) => {
      await t3.send({ topic: 'a', messages: [{ value: 'three-a0', partition: 0 }] })
      await t3.commit()
    })
    await waitFor(() => reader.has('three-a0') && reader.got.length >= 7, { what: 'the reader to read both topics' })
    expect(reader.values().sort()).toEqual([...Object.values(one).flat(), 'three-a0'].sort())
  })

  test('transactions of two producers interleaved in one partition: the aborted one is left out, record by record, of what a read-committed consumer gets', async () => {
    const { kafka, dataDir } = open()
    await createTopics(kafka, { mixed: 1 })
    const plain = await producer(kafka)
    const [a, b] = [await transactional(kafka, 'a'), await transactional(kafka, 'b')]
    const committed = await collect(kafka, ['mixed'])
    const ta = await a.transaction()
    const tb = await b.transaction()
    const expected = []
    for (let i = 0; i < 20; i++) {
      await ta.send({ topic: 'mixed', messages: [{ value: `a${i}` }] })
      await tb.send({ topic: 'mixed', messages: [{ value: `b${i}` }, { value: `b${i}'` }] })
      expected.push(`b${i}`, `b${i}'`)
      if (i === 9) {
        // And a plain send among them.
        await plain.send({ topic: 'mixed', messages: [{ value: 'plain' }] })
        expected.push('plain')
      }
    }
    await ta.abort()
    await tb.commit()
    // a commits one later; b aborts one later: each producer's aborted and committed
    // transactions alternate.
    const ta2 = await a.transaction()
    const tb2 = await b.transaction()
    await ta2.send({ topic: 'mixed', messages: [{ value: 'a-later' }] })
    await tb2.send({ topic: 'mixed', messages: [{ value: 'b-later' }] })
    await tb2.abort()
    await ta2.commit()
    expected.push('a-later')
    expect(values(readPartition(dataDir, 'mixed', 0))).toEqual(expected)
    await waitFor(() => committed.has('a-later'), { what: 'the consumer to read everything committed' })
    expect(committed.values()).toEqual(expected)
    // A consumer reading from the middle of the aborted transaction (its first offset is
    // before the fetch's) leaves it out too.
    const all = readPartition(dataDir, 'mixed', 0, 0, { readUncommitted: true })
    const from = all.find((m) => m.value.toString() === 'a15').offset
    expect(values(readPartition(dataDir, 'mixed', 0, from))).toEqual(expected.slice(expected.indexOf("b15")))
  })

  test("transaction state errors as kafkajs's: one transaction at a time, none used after it ended, isActive, an empty commit or abort", async () => {
    const { kafka, dataDir } = open()
    await createTopics(kafka, { t: 1 })
    const p = await transactional(kafka, 'states')

    // An empty transaction commits (and aborts) without a word to the coordinator.
    const empty = await p.transaction()
    expect(empty.isActive()).toBe(true)
    await expect(empty.commit()).resolves.toBeUndefined()
    expect(empty.isActive()).toBe(false)
    const emptyAbort = await p.transaction()
    await expect(emptyAbort.abort()).resolves.toBeUndefined()

    const t = await p.transaction()
    const second = await rejection(p.transaction())
    expect(second).toBeInstanceOf(KafkaJSNonRetriableError)
    expect(second.message).toBe(ONGOING)
    // The open one is not disturbed by the refused one.
    expect(t.isActive()).toBe(true)
    await t.send({ topic: 't', messages: [{ value: 'one' }] })
    await t.commit()
    expect(t.isActive()).toBe(false)
    for (const [what, call] of [
      ['send', () => t.send({ topic: 't', messages: [{ value: 'late' }] })],
      ['sendBatch', () => t.sendBatch({ topicMessages: [{ topic: 't', messages: [{ value: 'late' }] }] })],
      ['sendOffsets', () => t.sendOffsets({ consumerGroupId: 'g', topics: [{ topic: 't', partitions: [{ partition: 0, offset: '1' }] }] })],
      ['commit', () => t.commit()],
      ['abort', () => t.abort()],
    ]) {
      const e = await rejection(call())
      expect([what, e.name, e.message]).toEqual([what, 'KafkaJSNonRetriableError', ENDED])
    }
    // The same after an abort.
    const u = await p.transaction()
    await u.send({ topic: 't', messages: [{ value: 'two' }] })
    await u.abort()
    expect(u.isActive()).toBe(false)
    expect((await rejection(u.send({ topic: 't', messages: [{ value: 'late' }] }))).message).toBe(ENDED)
    expect((await rejection(u.commit())).message).toBe(ENDED)
    // Nothing sent after the end reached the log.
    expect(values(readPartition(dataDir, 't', 0, 0, { readUncommitted: true }))).toEqual(['one', 'two'])
    expect(values(readPartition(dataDir, 't', 0))).toEqual(['one'])
    // The producer goes on with the next transaction.
    const v = await p.transaction()
    await v.send({ topic: 't', messages: [{ value: 'three' }] })
    await v.commit()
    expect(values(readPartition(dataDir, 't', 0))).toEqual(['one', 'three'])
  })

  test("zombie fencing: a second producer with the same transactionalId fences the first, whose open transaction is aborted and whose next send fails with INVALID_PRODUCER_EPOCH", async () => {
    const { kafka, dataDir } = open()
    await createTopics(kafka, { out: 2, in: 1 })
    const admin = track(kafka.admin())
    await admin.connect()
    const zombie = await transactional(kafka, 'fenced-id')
    const z = await zombie.transaction()
    await z.send({ topic: 'out', messages: [{ value: 'zombie-1', partition: 0 }] })
    await z.sendOffsets({ consumerGroupId: 'g', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '9' }] }] })

    const successor = await transactional(kafka, 'fenced-id')
    const s = await successor.transaction()
    // The zombie's open transaction was aborted when the successor initialized.
    expect(readPartition(dataDir, 'out', 0)).toEqual([])
    expect(values(readPartition(dataDir, 'out', 0, 0, { readUncommitted: true }))).toEqual(['zombie-1'])
    expect(await groupOffsets(admin, 'g', 'in')).toEqual({ 0: '-1' })

    const e = await rejection(z.send({ topic: 'out', messages: [{ value: 'zombie-2', partition: 1 }] }))
    expect(e).toBeInstanceOf(KafkaJSProtocolError)
    expect({ type: e.type, retriable: e.retriable }).toEqual({ type: 'INVALID_PRODUCER_EPOCH', retriable: false })
    for (const call of [() => z.sendOffsets({ consumerGroupId: 'g', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '10' }] }] }), () => z.commit()]) {
      const f = await rejection(call())
      expect({ name: f.name, type: f.type, retriable: f.retriable }).toEqual({ name: 'KafkaJSProtocolError', type: 'INVALID_PRODUCER_EPOCH', retriable: false })
    }
    // A fenced producer stays fenced: its abort fails too, and it cannot begin another
    // transaction (kafkajs's is left ABORTING, which refuses one as well).
    expect((await rejection(z.abort())).type).toBe('INVALID_PRODUCER_EPOCH')
    expect(await rejection(zombie.transaction())).toBeInstanceOf(KafkaJSNonRetriableError)

    await s.send({ topic: 'out', messages: [{ value: 'successor', partition: 1 }] })
    await s.sendOffsets({ consumerGroupId: 'g', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '11' }] }] })
    await s.commit()
    expect(values(readPartition(dataDir, 'out', 1))).toEqual(['successor'])
    expect(readPartition(dataDir, 'out', 0)).toEqual([])
    // Nothing the zombie sent after the fence was stored.
    expect(values(readPartition(dataDir, 'out', 1, 0, { readUncommitted: true }))).toEqual(['successor'])
    expect(await groupOffsets(admin, 'g', 'in')).toEqual({ 0: '11' })
  })

  test.each(['eachMessage', 'eachBatch'])("the consume-transform-produce loop kafkajs documents (%s): each input's result once, with its offset, and a restart replays nothing", async (mode) => {
    const { kafka, dataDir } = open()
    const admin = await createTopics(kafka, { words: 2, lengths: 2 })
    const plain = await producer(kafka)
    const inputs = (from, n) => Array.from({ length: n }, (_, i) => ({ key: `k${from + i}`, value: `word-${from + i}` }))
    await plain.send({ topic: 'words', messages: inputs(0, 40) })
    const GROUP = 'transformer'
    const transform = (value) => `${value}:${value.length}`

    const run = async (transactionalId) => {
      const p = await transactional(kafka, transactionalId)
      const consumer = track(kafka.consumer({ groupId: GROUP, ...FAST }))
      const handled = []
      await consumer.connect()
      await consumer.subscribe({ topics: ['words'], fromBeginning: true })
      const process = async (topic, partition, messages, nextOffset) => {
        const transaction = await p.transaction()
        try {
          await transaction.send({ topic: 'lengths', messages: messages.map((m) => ({ key: m.key, value: transform(m.value.toString()) })) })
          await transaction.sendOffsets({ consumerGroupId: GROUP, topics: [{ topic, partitions: [{ partition, offset: nextOffset }] }] })
          await transaction.commit()
        } catch (e) {
          await transaction.abort()
          throw e
        }
        handled.push(...messages.map((m) => m.value.toString()))
      }
      await consumer.run(
        mode === 'eachMessage'
          ? {
              autoCommit: false,
              eachMessage: async ({ topic, partition, message }) => process(topic, partition, [message], (Number(message.offset) + 1).toString()),
            }
          : {
              autoCommit: false,
              eachBatchAutoResolve: false,
              eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
                // Transactions of up to 7 inputs each, so a batch makes several.
                for (let i = 0; i < batch.messages.length; i += 7) {
                  const chunk = batch.messages.slice(i, i + 7)
                  await process(batch.topic, batch.partition, chunk, (Number(chunk.at(-1).offset) + 1).toString())
                  resolveOffset(chunk.at(-1).offset)
                  await heartbeat()
                }
              },
            }
      )
      return { consumer, handled, producer: p }
    }

    const first = await run('transformer-1')
    await waitFor(() => first.handled.length === 40, { what: 'the first 40 inputs' })
    await first.consumer.disconnect()
    await first.producer.disconnect()
    expect(await groupOffsets(admin, GROUP, 'words')).toEqual(Object.fromEntries((await admin.fetchTopicOffsets('words')).map((o) => [o.partition, o.high])))

    // A restart (another transactional id, as a replacement instance) takes the new inputs
    // only.
    await plain.send({ topic: 'words', messages: inputs(40, 20) })
    const second = await run('transformer-2')
    await waitFor(() => second.handled.length === 20, { what: 'the next 20 inputs' })
    expect(second.handled.sort()).toEqual(inputs(40, 20).map((m) => m.value).sort())

    const out = [0, 1].flatMap((p) => values(readPartition(dataDir, 'lengths', p)))
    expect(out.sort()).toEqual(inputs(0, 60).map((m) => transform(m.value)).sort())
    // A read-committed consumer of the output gets the same, once each.
    const reader = await collect(kafka, ['lengths'])
    await waitFor(() => reader.got.length >= 60, { what: 'the output read back' })
    expect(reader.values().sort()).toEqual(out)
  })

  test('a transaction left open past its transactionTimeout is aborted by the broker: a read-committed consumer blocked behind it moves on, and the producer is fenced', async () => {
    const { kafka, dataDir } = open()
    await createTopics(kafka, { events: 2 })
    const plain = await producer(kafka)
    const reader = await collect(kafka, ['events'])
    const p = await transactional(kafka, 'forgetful', { transactionTimeout: 1500 })
    const t = await p.transaction()
    const openedAt = Date.now()
    await t.send({ topic: 'events', messages: [{ value: 'never-committed', partition: 0 }] })
    // Behind the open transaction, in its partition; and a witness in the other.
    await plain.send({ topic: 'events', messages: [{ value: 'behind', partition: 0 }, { value: 'witness', partition: 1 }] })
    await waitFor(() => reader.has('witness'), { what: 'the witness' })
    expect(reader.values('events', 0)).toEqual([])

    await waitFor(() => reader.has('behind'), { what: 'the consumer to get past the timed-out transaction' })
    const waited = Date.now() - openedAt
    expect(waited).toBeGreaterThanOrEqual(1400)
    expect(reader.values('events', 0)).toEqual(['behind'])
    expect(values(readPartition(dataDir, 'events', 0))).toEqual(['behind'])
    // The broker fenced the producer as it aborted: its commit fails.
    const e = await rejection(t.commit())
    expect({ type: e.type, retriable: e.retriable }).toEqual({ type: 'INVALID_PRODUCER_EPOCH', retriable: false })
  })

  test('a compacted topic written in transactions: the cleaner keeps what a read-committed consumer reads (an aborted value never replaces a committed one, an open transaction holds it back)', async () => {
    const { kafka, dataDir, passes, waitPasses } = samsaBroker({ clientId: 'tx-test', logLevel: logLevel.INFO }, kafkas)
    const admin = track(kafka.admin())
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: 'table', numPartitions: 1, configEntries: entries({ 'cleanup.policy': 'compact', 'segment.bytes': String(SEGMENT_BYTES), 'min.cleanable.dirty.ratio': '0.01' }) }] })
    const plain = await producer(kafka)
    const [a, o] = [await transactional(kafka, 'a'), await transactional(kafka, 'o')]
    const latest = () => {
      const out = {}
      for (const m of readPartition(dataDir, 'table', 0)) if (!m.key.toString().startsWith('~')) out[m.key.toString()] = m.value.toString()
      return out
    }
    await plain.send({ topic: 'table', messages: [{ key: 'k1', value: 'old' }, { key: 'k2', value: 'old' }] })
    const ta = await a.transaction()
    await ta.send({ topic: 'table', messages: [{ key: 'k1', value: 'aborted' }] })
    await ta.abort()
    await plain.send({ topic: 'table', messages: [sealer('one')] })
    // Open, in a later segment: the cleaner may not go there until it ends.
    const to = await o.transaction()
    await to.send({ topic: 'table', messages: [{ key: 'k2', value: 'open' }] })
    await plain.send({ topic: 'table', messages: [sealer('two')] })
    await waitPasses('table', 1)
    expect(latest()).toEqual({ k1: 'old', k2: 'old' })
    const before = passes('table').length
    await to.abort()
    await plain.send({ topic: 'table', messages: [sealer('three')] })
    await waitPasses('table', before + 1)
    expect(latest()).toEqual({ k1: 'old', k2: 'old' })
    const reader = await collect(kafka, ['table'])
    await waitFor(() => reader.got.some((m) => m.value.startsWith('three:')), { what: 'the reader to read the topic' })
    expect(reader.values().filter((v) => !/^(one|two|three):/.test(v))).toEqual(['old', 'old'])
  })
})

/** fixtures/tx-peer.js on `dataDir`: a process that reaches this one's broker over its
 * socket, driven by commands (`call(op, args)`). */
async function peer(dataDir) {
  const proc = spawnNode([path.join(__dirname, 'fixtures', 'tx-peer.js'), dataDir], { stdin: 'pipe' })
  await until(() => proc.lines.includes('ready'), { timeoutMs: 15000, what: () => `the peer to start\n${proc.output()}` })
  let n = 0
  const parsed = (prefix) => proc.lines.filter((l) => l.startsWith(prefix)).map((l) => JSON.parse(l))
  const self = Object.assign(proc, {
    async call(op, args = {}) {
      const id = ++n
      proc.child.stdin.write(`${JSON.stringify({ n: id, op, ...args })}\n`)
      const r = await until(() => parsed('{"reply"').find((x) => x.reply === id), { timeoutMs: 15000, what: () => `the peer to answer ${op}\n${proc.output()}` })
      if (r.error) throw Object.assign(new Error(r.error.message), r.error)
      return r.result
    },
    /** What the peer's consumers of `groupId` handled: [partition, value] each. */
    messages: (groupId) => parsed('{"m"').filter(({ m }) => m[0] === groupId).map(({ m: [, , partition, , value] }) => [partition, value]),
    /** Disconnects its clients, closes its Kafka and exits: resolves with how it exited. */
    async exit() {
      await self.call('exit')
      return proc.exited
    },
  })
  return self
}

describe('transactions from another process on the data directory', () => {
  test("a transactional producer in another process: its open and aborted transactions stay hidden from this process's read-committed consumer, its commit shows records and offsets", async () => {
    const { kafka, dataDir } = open()
    const admin = await createTopics(kafka, { orders: 2, payments: 1 })
    const plain = await producer(kafka)
    const committed = await collect(kafka, ['orders'])
    const uncommitted = await collect(kafka, ['orders'], { readUncommitted: true })
    const other = await peer(dataDir)
    await other.call('producer', { name: 'p', options: { transactionalId: 'remote-tx', maxInFlightRequests: 1, idempotent: true } })

    await other.call('begin', { producer: 'p', name: 't1' })
    await other.call('send', { transaction: 't1', record: { topic: 'orders', messages: [{ value: 'r-1', partition: 0 }, { value: 'r-2', partition: 0 }] } })
    await other.call('sendOffsets', { transaction: 't1', offsets: { consumerGroupId: 'order-processor', topics: [{ topic: 'payments', partitions: [{ partition: 0, offset: '17' }] }] } })
    await waitFor(() => uncommitted.has('r-2'), { what: 'the readUncommitted consumer to see the open transaction' })
    await plain.send({ topic: 'orders', messages: [{ value: 'witness', partition: 1 }, { value: 'behind', partition: 0 }] })
    await waitFor(() => committed.has('witness'), { what: 'the witness' })
    expect(committed.values('orders', 0)).toEqual([])
    expect(await groupOffsets(admin, 'order-processor', 'payments')).toEqual({ 0: '-1' })

    await other.call('commit', { transaction: 't1' })
    expect(await groupOffsets(admin, 'order-processor', 'payments')).toEqual({ 0: '17' })
    expect(values(readPartition(dataDir, 'orders', 0))).toEqual(['r-1', 'r-2', 'behind'])
    await waitFor(() => committed.has('behind'), { what: 'the committed records' })
    expect(committed.values('orders', 0)).toEqual(['r-1', 'r-2', 'behind'])

    await other.call('begin', { producer: 'p', name: 't2' })
    await other.call('send', { transaction: 't2', record: { topic: 'orders', messages: [{ value: 'r-3', partition: 0 }, { value: 'r-4', partition: 1 }] } })
    await other.call('sendOffsets', { transaction: 't2', offsets: { consumerGroupId: 'order-processor', topics: [{ topic: 'payments', partitions: [{ partition: 0, offset: '20' }] }] } })
    await other.call('abort', { transaction: 't2' })
    expect(await groupOffsets(admin, 'order-processor', 'payments')).toEqual({ 0: '17' })
    await plain.send({ topic: 'orders', messages: [{ value: 'after-0', partition: 0 }, { value: 'after-1', partition: 1 }] })
    await waitFor(() => committed.has('after-0') && committed.has('after-1'), { what: 'the records after the aborted transaction' })
    await waitFor(() => uncommitted.has('after-0') && uncommitted.has('after-1'), { what: 'the readUncommitted consumer' })
    expect(committed.values('orders', 0)).toEqual(['r-1', 'r-2', 'behind', 'after-0'])
    expect(committed.values('orders', 1)).toEqual(['witness', 'after-1'])
    expect(uncommitted.values('orders', 0)).toEqual(['r-1', 'r-2', 'behind', 'r-3', 'after-0'])
    expect(uncommitted.values('orders', 1)).toEqual(['witness', 'r-4', 'after-1'])

    // Fencing across processes: a producer here with the same id fences the other's.
    await other.call('begin', { producer: 'p', name: 't3' })
    await other.call('send', { transaction: 't3', record: { topic: 'orders', messages: [{ value: 'r-5', partition: 1 }] } })
    const successor = await transactional(kafka, 'remote-tx')
    const s = await successor.transaction()
    const e = await rejection(other.call('send', { transaction: 't3', record: { topic: 'orders', messages: [{ value: 'r-6', partition: 1 }] } }))
    expect({ name: e.name, type: e.type, retriable: e.retriable }).toEqual({ name: 'KafkaJSProtocolError', type: 'INVALID_PRODUCER_EPOCH', retriable: false })
    await s.send({ topic: 'orders', messages: [{ value: 'successor', partition: 1 }] })
    await s.commit()
    await waitFor(() => committed.has('successor'), { what: "the successor's record" })
    expect(committed.values('orders', 1)).toEqual(['witness', 'after-1', 'successor'])
    expect(await other.exit()).toEqual({ code: 0, signal: null })
  })

  test("consumers in another process read this process's transactions as they should: read committed sees committed records only, readUncommitted everything", async () => {
    const { kafka, dataDir } = open()
    await createTopics(kafka, { orders: 2 })
    const plain = await producer(kafka)
    const p = await transactional(kafka, 'owner-tx')
    const other = await peer(dataDir)
    await other.call('consume', { groupId: 'rc', topics: ['orders'] })
    await other.call('consume', { groupId: 'ru', topics: ['orders'], readUncommitted: true })
    const rc = (v) => other.messages('rc').some(([, value]) => value === v)
    const ru = (v) => other.messages('ru').some(([, value]) => value === v)

    const t1 = await p.transaction()
    await t1.send({ topic: 'orders', messages: [{ value: 'open-1', partition: 0 }] })
    await waitFor(() => ru('open-1'), { what: 'the readUncommitted consumer in the other process to see the open transaction' })
    await plain.send({ topic: 'orders', messages: [{ value: 'witness', partition: 1 }] })
    await waitFor(() => rc('witness'), { what: 'the read-committed consumer to see the witness' })
    expect(rc('open-1')).toBe(false)
    await t1.commit()
    await waitFor(() => rc('open-1'), { what: 'the read-committed consumer to see the committed record' })

    const t2 = await p.transaction()
    await t2.send({ topic: 'orders', messages: [{ value: 'aborted-0', partition: 0 }, { value: 'aborted-1', partition: 1 }] })
    await waitFor(() => ru('aborted-0') && ru('aborted-1'), { what: 'the readUncommitted consumer to see the transaction' })
    await t2.abort()
    await plain.send({ topic: 'orders', messages: [{ value: 'after-0', partition: 0 }, { value: 'after-1', partition: 1 }] })
    await waitFor(() => rc('after-0') && rc('after-1') && ru('after-0') && ru('after-1'), { what: 'both consumers past the aborted transaction' })
    const byPartition = (groupId, partition) => other.messages(groupId).filter(([p]) => p === partition).map(([, v]) => v)
    expect([byPartition('rc', 0), byPartition('rc', 1)]).toEqual([['open-1', 'after-0'], ['witness', 'after-1']])
    expect([byPartition('ru', 0), byPartition('ru', 1)]).toEqual([['open-1', 'aborted-0', 'after-0'], ['witness', 'aborted-1', 'after-1']])
    expect(await other.exit()).toEqual({ code: 0, signal: null })
  })

  test("the owner is killed (kill -9) in the middle of another process's transaction: that process takes the directory over, and its transaction goes on and commits, records and offsets together", async () => {
    const dataDir = tempDir('samsa-tx-takeover-')
    const owner = spawnNode([path.join(__dirname, 'fixtures', 'hold-lock.js'), dataDir])
    await until(() => owner.lines.includes('ready'), { timeoutMs: 15000, what: () => `the owner to open the directory\n${owner.output()}` })
    const other = await peer(dataDir)
    await other.call('createTopics', { topics: [{ topic: 'orders', numPartitions: 2 }, { topic: 'payments', numPartitions: 1 }] })
    await other.call('producer', { name: 'p', options: { transactionalId: 'survivor' } })
    await other.call('begin', { producer: 'p', name: 't' })
    await other.call('send', { transaction: 't', record: { topic: 'orders', messages: [{ value: 'before', partition: 0 }] } })
    await other.call('sendOffsets', { transaction: 't', offsets: { consumerGroupId: 'order-processor', topics: [{ topic: 'payments', partitions: [{ partition: 0, offset: '5' }] }] } })

    expect(await owner.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' })
    const ownerPid = () => {
      try {
        return JSON.parse(fs.readFileSync(path.join(dataDir, 'samsa.owner'), 'utf8')).pid
      } catch {
        return null
      }
    }
    await until(() => ownerPid() === other.child.pid, { timeoutMs: 15000, what: () => `the other process to take the directory over\n${other.output()}` })

    await other.call('send', { transaction: 't', record: { topic: 'orders', messages: [{ value: 'after', partition: 1 }] } })
    expect(await other.call('fetchOffsets', { groupId: 'order-processor', topics: ['payments'] })).toEqual([{ topic: 'payments', partitions: [{ partition: 0, offset: '-1', metadata: null }] }])
    await other.call('commit', { transaction: 't' })
    expect(await other.call('fetchOffsets', { groupId: 'order-processor', topics: ['payments'] })).toEqual([{ topic: 'payments', partitions: [{ partition: 0, offset: '5', metadata: null }] }])
    // A process opening the directory now reads both records committed.
    const { kafka } = open(dataDir)
    const reader = await collect(kafka, ['orders'])
    await waitFor(() => reader.has('before') && reader.has('after'), { what: 'the committed records' })
    expect(reader.values().sort()).toEqual(['after', 'before'])
    await reader.consumer.disconnect()
    await kafka.close()
    expect(await other.exit()).toEqual({ code: 0, signal: null })
  })

  test('a transaction of a process killed with SIGKILL is aborted after its transactionTimeout: a read-committed consumer here moves on', async () => {
    const { kafka, dataDir } = open()
    await createTopics(kafka, { events: 2 })
    const plain = await producer(kafka)
    const reader = await collect(kafka, ['events'])
    const uncommitted = await collect(kafka, ['events'], { readUncommitted: true })
    const other = await peer(dataDir)
    await other.call('producer', { name: 'p', options: { transactionalId: 'doomed', transactionTimeout: 1500 } })
    await other.call('begin', { producer: 'p', name: 't' })
    await other.call('send', { transaction: 't', record: { topic: 'events', messages: [{ value: 'from-the-dead', partition: 0 }] } })
    const sentAt = Date.now()
    expect(await other.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' })
    await plain.send({ topic: 'events', messages: [{ value: 'behind', partition: 0 }, { value: 'witness', partition: 1 }] })
    await waitFor(() => reader.has('witness') && uncommitted.has('behind'), { what: 'the witness' })
    expect(reader.values('events', 0)).toEqual([])
    expect(uncommitted.values('events', 0)).toEqual(['from-the-dead', 'behind'])

    await waitFor(() => reader.has('behind'), { what: 'the consumer to get past the dead process\'s transaction' })
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(1400)
    expect(reader.values('events', 0)).toEqual(['behind'])
  })
})
