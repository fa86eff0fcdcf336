'use strict'

// Transactions (KIP-98) over samsa's Kafka wire listener (kafka.listen() of a broker in this
// process, each test on a data directory of its own), with real clients: kafkajs 2.2.4's
// transactional producer (the documented example: send, sendBatch, sendOffsets, commit,
// abort) and its read-committed and read-uncommitted consumers and admin; zombie fencing
// of a producer by a newer one with its transactional id; a kafkajs process killed with its
// transaction open, which the broker aborts once the transaction's timeout passes; `samsa
// serve` killed and started again with transactions open; and Confluent's Python client
// (librdkafka 2.16): a consume-transform-produce transaction with
// send_offsets_to_transaction, an aborted one, read_committed and read_uncommitted
// consumers, interleaved transactions of several producers read one batch a fetch,
// ListOffsets by isolation level, OffsetFetch's RequireStable, and fencing.
//
// No fixed sleeps: "a reader sees nothing" is checked after the reader has fetched a few
// more times (kafkajs's consumer.fetch events) or read to the end of every partition
// (librdkafka's partition EOF). confluent-kafka 2.16 has no list_transactions or
// describe_transactions (DescribeTransactions, ListTransactions): nothing here checks them.
//
// kafkajs's read-committed consumer is given no overlapping aborted transactions: its
// filter (src/consumer/filterAbortedMessages.js) starts skipping at most one aborted
// transaction per record, so when a fetch response begins after the first records of two
// aborted transactions it delivers the second one's records (and, once that transaction's
// marker has passed unseen, drops its producer's later committed records). Against Apache
// Kafka too: the broker lists the same aborted transactions. librdkafka gets them right,
// which the interleaved test checks.

const path = require('node:path')
const samsa = require('..')
const requires = require('./requirements')
const { tempDir, batchHeaders } = require('./helpers')
const { kafkajs, kafkajsClient, serve, spawnNode, spawnLines, runToExit, until, FAST, undoAfterEach } = require('./wire-helpers')

const py = requires.pythonVenv({ name: 'confluent-kafka', packages: ['confluent-kafka==2.16.1'], imports: ['confluent_kafka'] })
const FIXTURE = path.join(__dirname, 'fixtures', 'rdkafka_client.py')
const OPEN_TRANSACTION = path.join(__dirname, 'fixtures', 'kafkajs-open-transaction.js')
const { Partitioners } = kafkajs

jest.setTimeout(60000)

const { live, track, connected } = undoAfterEach()

/** A samsa broker in this process on a fresh data directory, listening on an ephemeral port; a kafkajs client and admin for it. */
async function broker() {
  const dataDir = tempDir('samsa-txwire-')
  const logs = []
  const samsaKafka = new samsa.Kafka({
    clientId: 'txwire',
    dataDir,
    logLevel: samsa.logLevel.INFO,
    logCreator: () => ({ namespace, level, log }) => {
      const { message, timestamp, ...rest } = log
      logs.push(`${timestamp} ${level} ${namespace} ${message} ${JSON.stringify(rest)}`)
    },
  })
  const address = await samsaKafka.listen({ port: 0, host: '127.0.0.1' })
  live.push(() => samsaKafka.close())
  const bootstrap = `${address.host}:${address.port}`
  const { kafka, logs: clientLogs } = kafkajsClient(bootstrap)
  const admin = await connected(kafka.admin())
  const logTail = () => `\n--- broker log (tail):\n${logs.slice(-30).join('\n')}\n--- kafkajs log (tail):\n${clientLogs.slice(-30).join('\n')}`
  return { dataDir, bootstrap, kafka, admin, logTail }
}

const PRODUCER = { createPartitioner: Partitioners.DefaultPartitioner }
const producer = (kafka, options = {}) => connected(kafka.producer({ ...PRODUCER, ...options }))
/** kafkajs's documented transactional producer. */
const transactional = (kafka, transactionalId, options = {}) =>
  producer(kafka, { transactionalId, idempotent: true, maxInFlightRequests: 1, ...options })

/**
 * A running kafkajs consumer (read committed unless `readUncommitted`) recording what it
 * gets; `fetches()` counts its fetches, so a test can let it look a few more times.
 */
async function consume(kafka, { groupId, topics, readUncommitted = false }) {
  const consumer = track(kafka.consumer({ groupId, readUncommitted, ...FAST }))
  const got = []
  const crashes = []
  let fetches = 0
  let joined = false
  consumer.on(consumer.events.FETCH, () => fetches++)
  consumer.on(consumer.events.GROUP_JOIN, () => (joined = true))
  consumer.on(consumer.events.CRASH, (e) => crashes.push(e.payload.error.message))
  await consumer.connect()
  await consumer.subscribe({ topics, fromBeginning: true })
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      got.push({ topic, partition, offset: Number(message.offset), value: message.value.toString() })
    },
  })
  const reader = {
    groupId,
    got,
    crashes,
    fetches: () => fetches,
    values: () => got.map((g) => g.value),
    describe: () => ` (${groupId} has ${got.length}: ${got.map((g) => `${g.topic}/${g.partition}@${g.offset}=${g.value}`).join(', ')}; crashes: ${crashes.join('; ')})`,
  }
  await until(() => joined, { timeoutMs: 20000, what: () => ` ${groupId} to join its group${reader.describe()}` })
  return reader
}

/** Waits until the reader has fetched `n` more times: what it has then is what there was to read. */
async function fetchedAgain(reader, n = 3) {
  const from = reader.fetches()
  await until(() => reader.fetches() >= from + n, { timeoutMs: 10000, what: () => ` ${n} more fetches of ${reader.groupId}${reader.describe()}` })
}

/** Waits until the reader has every value of `values`. */
async function sees(reader, values, { timeoutMs = 15000 } = {}) {
  await until(() => values.every((v) => reader.values().includes(v)), {
    timeoutMs,
    what: () => ` ${reader.groupId} to see ${values.join(', ')}${reader.describe()}`,
  })
}

/** The group's committed offsets per partition (-1: none), through kafkajs's admin. */
async function committed(admin, groupId, topic) {
  const [t] = await admin.fetchOffsets({ groupId, topics: [topic] })
  return Object.fromEntries(t.partitions.map((p) => [p.partition, Number(p.offset)]))
}

/** kafkajs's admin.fetchTopicOffsets: ListOffsets read committed (kafkajs's default), so the last stable offsets. */
async function stableOffsets(admin, topic) {
  return Object.fromEntries((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]))
}

/** Records as { topic, partition, value }, sorted: what was sent against what was read. */
const records = (list) =>
  list.map(({ topic, partition, value }) => ({ topic, partition, value })).sort((a, b) => `${a.topic}/${a.partition}/${a.value}`.localeCompare(`${b.topic}/${b.partition}/${b.value}`))

/** The values read per topic/partition, in the order read, which must be the order of their offsets. */
function perPartition(got) {
  const out = {}
  for (const g of got) (out[`${g.topic}/${g.partition}`] = out[`${g.topic}/${g.partition}`] || []).push(g)
  for (const list of Object.values(out)) expect(list.map((g) => g.offset)).toEqual([...new Set(list.map((g) => g.offset))].sort((a, b) => a - b))
  return Object.fromEntries(Object.entries(out).map(([k, list]) => [k, list.map((g) => g.value)]))
}

/** Messages for kafkajs, noted in `sent` as { topic, partition, value }. */
function messages(sent, topic, entries) {
  return entries.map(([partition, value]) => {
    sent.push({ topic, partition, value })
    return { key: value, value, partition }
  })
}

describe('kafkajs transactions', () => {
  test('a transaction over several topics and partitions (send, sendBatch, sendOffsets) is read committed, with its offsets, only once it commits', async () => {
    const { kafka, admin, logTail } = await broker()
    await admin.createTopics({
      topics: [
        { topic: 'orders', numPartitions: 3 },
        { topic: 'audit', numPartitions: 2 },
        { topic: 'input', numPartitions: 2 },
        { topic: 'probe' },
      ],
    })
    const plain = await producer(kafka)
    await plain.send({ topic: 'input', messages: [0, 0, 0, 1, 1, 1, 1, 1].map((partition, i) => ({ partition, value: `in-${i}` })) })
    const readCommitted = await consume(kafka, { groupId: 'read-committed', topics: ['orders', 'audit', 'probe'] })
    const readUncommitted = await consume(kafka, { groupId: 'read-uncommitted', topics: ['orders', 'audit'], readUncommitted: true })

    const app = await transactional(kafka, 'orders-app')
    const transaction = await app.transaction()
    const sent = []
    await transaction.send({ topic: 'orders', messages: messages(sent, 'orders', [[0, 'order-0-a'], [1, 'order-1-a'], [2, 'order-2-a']]) })
    await transaction.sendBatch({
      topicMessages: [
        { topic: 'orders', messages: messages(sent, 'orders', [[0, 'order-0-b'], [2, 'order-2-b']]) },
        { topic: 'audit', messages: messages(sent, 'audit', [[0, 'audit-0'], [1, 'audit-1']]) },
      ],
    })
    await transaction.sendOffsets({
      consumerGroupId: 'orders-app-group',
      topics: [{ topic: 'input', partitions: [{ partition: 0, offset: '3' }, { partition: 1, offset: '5' }] }],
    })
    expect(transaction.isActive()).toBe(true)

    // Open: stored (a read-uncommitted reader has every record), but not read committed,
    // even once a later record elsewhere (probe) has been read and fetching went on.
    await sees(readUncommitted, sent.map((s) => s.value))
    await plain.send({ topic: 'probe', messages: [{ value: 'probe' }] })
    await sees(readCommitted, ['probe'])
    await fetchedAgain(readCommitted)
    expect(readCommitted.values()).toEqual(['probe'])
    expect(await committed(admin, 'orders-app-group', 'input')).toEqual({ 0: -1, 1: -1 })
    expect(await stableOffsets(admin, 'orders')).toEqual({ 0: 0, 1: 0, 2: 0 })
    expect(await stableOffsets(admin, 'audit')).toEqual({ 0: 0, 1: 0 })

    await transaction.commit()
    expect(transaction.isActive()).toBe(false)
    await sees(readCommitted, sent.map((s) => s.value))
    await fetchedAgain(readCommitted)
    const read = readCommitted.got.filter((g) => g.topic !== 'probe')
    expect(records(read)).toEqual(records(sent))
    expect(perPartition(read)).toEqual({
      'orders/0': ['order-0-a', 'order-0-b'],
      'orders/1': ['order-1-a'],
      'orders/2': ['order-2-a', 'order-2-b'],
      'audit/0': ['audit-0'],
      'audit/1': ['audit-1'],
    })
    expect(await committed(admin, 'orders-app-group', 'input')).toEqual({ 0: 3, 1: 5 })
    // Each partition: its records and the commit marker.
    expect(await stableOffsets(admin, 'orders')).toEqual({ 0: 3, 1: 2, 2: 3 })
    expect(await stableOffsets(admin, 'audit')).toEqual({ 0: 2, 1: 2 })
    expect(readUncommitted.got).toHaveLength(sent.length)
    expect([...readCommitted.crashes, ...readUncommitted.crashes]).toEqual([])
    if (readCommitted.got.length !== sent.length + 1) throw new Error(`read committed: ${readCommitted.describe()}${logTail()}`)
  })

  test('an aborted transaction is never read committed and its offsets never commit; read uncommitted sees its records; the producer goes on', async () => {
    const { kafka, admin } = await broker()
    await admin.createTopics({ topics: [{ topic: 'orders', numPartitions: 3 }, { topic: 'audit', numPartitions: 2 }, { topic: 'input', numPartitions: 2 }] })
    const readCommitted = await consume(kafka, { groupId: 'read-committed', topics: ['orders', 'audit'] })
    const readUncommitted = await consume(kafka, { groupId: 'read-uncommitted', topics: ['orders', 'audit'], readUncommitted: true })

    const app = await transactional(kafka, 'orders-app')
    const aborted = []
    const transaction = await app.transaction()
    await transaction.send({ topic: 'orders', messages: messages(aborted, 'orders', [[0, 'aborted-0'], [1, 'aborted-1'], [2, 'aborted-2']]) })
    await transaction.sendBatch({
      topicMessages: [
        { topic: 'orders', messages: messages(aborted, 'orders', [[1, 'aborted-1b']]) },
        { topic: 'audit', messages: messages(aborted, 'audit', [[0, 'aborted-audit-0'], [1, 'aborted-audit-1']]) },
      ],
    })
    await transaction.sendOffsets({ consumerGroupId: 'orders-app-group', topics: [{ topic: 'input', partitions: [{ partition: 0, offset: '7' }, { partition: 1, offset: '9' }] }] })
    await sees(readUncommitted, aborted.map((s) => s.value))
    await transaction.abort()
    expect(transaction.isActive()).toBe(false)
    expect(await committed(admin, 'orders-app-group', 'input')).toEqual({ 0: -1, 1: -1 })

    // The same producer's next transaction commits records after the aborted ones on
    // every partition: read committed gets those, and those only.
    const after = []
    const next = await app.transaction()
    await next.sendBatch({
      topicMessages: [
        { topic: 'orders', messages: messages(after, 'orders', [[0, 'after-0'], [1, 'after-1'], [2, 'after-2']]) },
        { topic: 'audit', messages: messages(after, 'audit', [[0, 'after-audit-0'], [1, 'after-audit-1']]) },
      ],
    })
    await next.commit()
    await sees(readCommitted, after.map((s) => s.value))
    await sees(readUncommitted, after.map((s) => s.value))
    await fetchedAgain(readCommitted)
    await fetchedAgain(readUncommitted)
    expect(records(readCommitted.got)).toEqual(records(after))
    expect(records(readUncommitted.got)).toEqual(records([...aborted, ...after]))
    expect(perPartition(readUncommitted.got)).toEqual({
      'orders/0': ['aborted-0', 'after-0'],
      'orders/1': ['aborted-1', 'aborted-1b', 'after-1'],
      'orders/2': ['aborted-2', 'after-2'],
      'audit/0': ['aborted-audit-0', 'after-audit-0'],
      'audit/1': ['aborted-audit-1', 'after-audit-1'],
    })
    // Read committed, each after-record is where it was written: past the aborted records and their marker.
    const offsetOf = (reader, value) => reader.got.find((g) => g.value === value).offset
    for (const { value } of after) expect(offsetOf(readCommitted, value)).toBe(offsetOf(readUncommitted, value))
    expect(offsetOf(readCommitted, 'after-1')).toBe(3)
    expect(await committed(admin, 'orders-app-group', 'input')).toEqual({ 0: -1, 1: -1 })
    expect([...readCommitted.crashes, ...readUncommitted.crashes]).toEqual([])
  })

  test('zombie fencing: a second producer with the transactional id aborts the first one\'s open transaction, whose next send and commit fail with INVALID_PRODUCER_EPOCH', async () => {
    const { kafka, admin } = await broker()
    await admin.createTopics({ topics: [{ topic: 'ledger', numPartitions: 3 }] })
    const readCommitted = await consume(kafka, { groupId: 'read-committed', topics: ['ledger'] })
    const readUncommitted = await consume(kafka, { groupId: 'read-uncommitted', topics: ['ledger'], readUncommitted: true })

    const zombie = await transactional(kafka, 'ledger-writer')
    const zombieTransaction = await zombie.transaction()
    await zombieTransaction.send({ topic: 'ledger', messages: [{ partition: 0, value: 'zombie-0' }, { partition: 1, value: 'zombie-1' }] })
    await sees(readUncommitted, ['zombie-0', 'zombie-1'])
    expect(await stableOffsets(admin, 'ledger')).toEqual({ 0: 0, 1: 0, 2: 0 })

    // The successor's InitProducerId fences the zombie and aborts its transaction at once:
    // the last stable offsets move past its records and the abort markers.
    const successor = await transactional(kafka, 'ledger-writer')
    const successorTransaction = await successor.transaction()
    expect(await stableOffsets(admin, 'ledger')).toEqual({ 0: 2, 1: 2, 2: 0 })

    // The zombie's next send, to a partition of its transaction (Produce) or a new one
    // (AddPartitionsToTxn), and its commit (EndTxn): kafkajs's non-retriable error.
    const failure = (promise) => promise.then(() => new Error('it succeeded'), (e) => e)
    const fenced = { name: 'KafkaJSProtocolError', type: 'INVALID_PRODUCER_EPOCH', retriable: false }
    const sendAgain = await failure(zombieTransaction.send({ topic: 'ledger', messages: [{ partition: 0, value: 'zombie-late-0' }] }))
    expect(sendAgain).toBeInstanceOf(kafkajs.KafkaJSProtocolError)
    expect(sendAgain).toMatchObject(fenced)
    expect(await failure(zombieTransaction.send({ topic: 'ledger', messages: [{ partition: 2, value: 'zombie-late-2' }] }))).toMatchObject(fenced)
    expect(await failure(zombieTransaction.commit())).toMatchObject(fenced)

    await successorTransaction.send({ topic: 'ledger', messages: [{ partition: 0, value: 'successor-0' }, { partition: 2, value: 'successor-2' }] })
    await successorTransaction.commit()
    await sees(readCommitted, ['successor-0', 'successor-2'])
    await sees(readUncommitted, ['successor-0', 'successor-2'])
    await fetchedAgain(readCommitted)
    await fetchedAgain(readUncommitted)
    expect(readCommitted.values().sort()).toEqual(['successor-0', 'successor-2'])
    // The zombie's records are stored (and aborted); none it sent once fenced is.
    expect(readUncommitted.values().sort()).toEqual(['successor-0', 'successor-2', 'zombie-0', 'zombie-1'])
    expect(readCommitted.got.find((g) => g.value === 'successor-0').offset).toBe(2)
    expect(await stableOffsets(admin, 'ledger')).toEqual({ 0: 4, 1: 2, 2: 2 })
  })

  test('a transaction left open by a SIGKILLed kafkajs process is aborted after its 2 s timeout: read committed moves past it, then reads what commits later', async () => {
    const { kafka, admin, bootstrap, logTail } = await broker()
    await admin.createTopics({ topics: [{ topic: 'jobs', numPartitions: 1 }] })
    const plain = await producer(kafka)
    await plain.send({ topic: 'jobs', messages: [{ partition: 0, value: 'before' }] })
    const readCommitted = await consume(kafka, { groupId: 'read-committed', topics: ['jobs'] })
    await sees(readCommitted, ['before'])

    const child = spawnNode([OPEN_TRANSACTION, bootstrap, 'jobs', 'jobs-writer', '2000', '3', '60000'], { stdin: 'pipe' })
    let exit = null
    child.exited.then((r) => (exit = r))
    const ready = await until(
      () => {
        const e = child.lines.map(parse).find((l) => l.event === 'ready' || l.event === 'error')
        if (e || !exit) return e
        throw new Error(`the producer exited (${JSON.stringify(exit)}) before it was ready\n${child.output()}`)
      },
      { timeoutMs: 20000, what: () => ` the producer to send in its transaction\n${child.output()}` }
    )
    expect(ready).toMatchObject({ event: 'ready', baseOffset: 1, count: 3 })
    // A record another producer writes after the open transaction: past the last stable offset.
    await plain.send({ topic: 'jobs', messages: [{ partition: 0, value: 'after-open' }] })
    await child.stop('SIGKILL')

    // Stuck while the transaction is open. It began after `ready.beginAt`, so the broker
    // cannot have aborted it before `beginAt + 2000` (a slow machine may be past that by
    // now: then there is nothing left to check here).
    await fetchedAgain(readCommitted, 2)
    const stable = await stableOffsets(admin, 'jobs')
    const seen = readCommitted.values()
    if (Date.now() < ready.beginAt + 2000) {
      expect(stable).toEqual({ 0: 1 })
      expect(seen).toEqual(['before'])
    } else console.warn(`the machine was slow: the open transaction's 2 s passed before its reader was checked (${Date.now() - ready.beginAt} ms)`)

    // The maintenance tick (every second) aborts it once its timeout has passed.
    await sees(readCommitted, ['after-open'], { timeoutMs: 15000 })
    expect(Date.now() - ready.beginAt).toBeGreaterThan(2000)
    expect(readCommitted.values()).toEqual(['before', 'after-open'])
    expect(readCommitted.got.map((g) => g.offset)).toEqual([0, 4])
    // before, 3 aborted records, after-open, the abort marker.
    expect(await stableOffsets(admin, 'jobs')).toEqual({ 0: 6 })

    // The application starts again with its transactional id and commits.
    const restarted = await transactional(kafka, 'jobs-writer')
    const transaction = await restarted.transaction()
    await transaction.send({ topic: 'jobs', messages: [{ partition: 0, value: 'later-0' }, { partition: 0, value: 'later-1' }] })
    await transaction.commit()
    await sees(readCommitted, ['later-0', 'later-1'])
    await fetchedAgain(readCommitted)
    expect(readCommitted.values()).toEqual(['before', 'after-open', 'later-0', 'later-1'])
    expect(readCommitted.got.map((g) => g.offset)).toEqual([0, 4, 6, 7])
    if (readCommitted.crashes.length) throw new Error(`${readCommitted.describe()}${logTail()}`)
  })

  test("kafkajs's admin lists offsets read committed: the last stable offset while a transaction is open", async () => {
    const { kafka, admin } = await broker()
    await admin.createTopics({ topics: [{ topic: 'ledger', numPartitions: 2 }] })
    const plain = await producer(kafka)
    await plain.send({ topic: 'ledger', messages: [{ partition: 0, value: 'a' }, { partition: 0, value: 'b' }, { partition: 1, value: 'c' }] })
    const app = await transactional(kafka, 'ledger-app')
    const transaction = await app.transaction()
    await transaction.send({ topic: 'ledger', messages: [0, 1, 2].map((i) => ({ partition: 0, value: `t${i}` })) })
    await plain.send({ topic: 'ledger', messages: [{ partition: 0, value: 'd' }, { partition: 1, value: 'e' }] })
    // Partition 0: a b t0 t1 t2 d, stable up to t0; partition 1 has no transaction.
    expect(await stableOffsets(admin, 'ledger')).toEqual({ 0: 2, 1: 2 })
    await transaction.commit()
    expect(await stableOffsets(admin, 'ledger')).toEqual({ 0: 7, 1: 2 })
  })
})

describe('samsa serve killed (SIGKILL) and started again with transactions open', () => {
  test('a committed transaction and its offsets are kept; an open one still holds read committed back until its transactional id is initialized again; one whose timeout passed meanwhile is aborted', async () => {
    const dataDir = tempDir('samsa-txwire-serve-')
    let server = await serve(dataDir)
    live.push(() => server.stop('SIGTERM'))
    const firstClients = live.length // what connects to the first server, undone when it is killed
    const before = kafkajsClient(server.broker).kafka
    const admin = await connected(before.admin())
    await admin.createTopics({ topics: [{ topic: 'jobs', numPartitions: 2 }, { topic: 'input' }] })
    const plain = await producer(before)
    await plain.send({ topic: 'jobs', messages: [{ partition: 0, value: 'plain-0' }, { partition: 1, value: 'plain-1' }] })
    const committer = await transactional(before, 'committer')
    const done = await committer.transaction()
    await done.send({ topic: 'jobs', messages: [{ partition: 0, value: 'committed-0' }, { partition: 1, value: 'committed-1' }] })
    await done.sendOffsets({ consumerGroupId: 'jobs-app', topics: [{ topic: 'input', partitions: [{ partition: 0, offset: '42' }] }] })
    await done.commit()
    const left = await transactional(before, 'left-open')
    const open = await left.transaction()
    await open.send({ topic: 'jobs', messages: [{ partition: 0, value: 'open-0' }, { partition: 1, value: 'open-1' }] })
    const short = await transactional(before, 'short-lived', { transactionTimeout: 2000 })
    const shortBegin = Date.now()
    await (await short.transaction()).send({ topic: 'jobs', messages: [{ partition: 1, value: 'short-1' }] })
    await plain.send({ topic: 'jobs', messages: [{ partition: 0, value: 'after-0' }, { partition: 1, value: 'after-1' }] })
    // Each partition: plain, committed, marker, then the open transaction's first record.
    expect(await stableOffsets(admin, 'jobs')).toEqual({ 0: 3, 1: 3 })

    await server.stop('SIGKILL')
    await Promise.allSettled(live.splice(firstClients).reverse().map((undo) => undo()))
    // The short transaction's timeout passes while the broker is down.
    await until(() => Date.now() > shortBegin + 2100, { timeoutMs: 5000, what: ' the short transaction to time out' })
    server = await serve(dataDir)
    const { kafka } = kafkajsClient(server.broker)
    const admin2 = await connected(kafka.admin())
    expect(await stableOffsets(admin2, 'jobs')).toEqual({ 0: 3, 1: 3 })
    expect(await committed(admin2, 'jobs-app', 'input')).toEqual({ 0: 42 })
    const readCommitted = await consume(kafka, { groupId: 'read-committed', topics: ['jobs'] })
    await sees(readCommitted, ['committed-0', 'committed-1'])
    await fetchedAgain(readCommitted)
    expect(readCommitted.values().sort()).toEqual(['committed-0', 'committed-1', 'plain-0', 'plain-1'])

    // The application with the open transaction starts again: its InitProducerId aborts it.
    const restarted = await transactional(kafka, 'left-open')
    const next = await restarted.transaction()
    // Partition 0: ... open-0, after-0, abort marker; 1: ... open-1, short-1, after-1, two abort markers.
    expect(await stableOffsets(admin2, 'jobs')).toEqual({ 0: 6, 1: 8 })
    await next.send({ topic: 'jobs', messages: [{ partition: 0, value: 'next-0' }] })
    await next.commit()
    await sees(readCommitted, ['after-0', 'after-1', 'next-0'])
    await fetchedAgain(readCommitted)
    expect(perPartition(readCommitted.got)).toEqual({
      'jobs/0': ['plain-0', 'committed-0', 'after-0', 'next-0'],
      'jobs/1': ['plain-1', 'committed-1', 'after-1'],
    })
    const readUncommitted = await consume(kafka, { groupId: 'read-uncommitted', topics: ['jobs'], readUncommitted: true })
    await sees(readUncommitted, ['next-0', 'after-1'])
    expect(perPartition(readUncommitted.got)).toEqual({
      'jobs/0': ['plain-0', 'committed-0', 'open-0', 'after-0', 'next-0'],
      'jobs/1': ['plain-1', 'committed-1', 'open-1', 'short-1', 'after-1'],
    })
  })
})

/** Runs the Python fixture to its exit; its JSON lines, or a rejection naming the output unless it exits 0. */
async function pyRun(args, { input, timeoutMs = 50000 } = {}) {
  const { stdout } = await runToExit(py.python, [FIXTURE, ...args], { input, timeoutMs })
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l))
}

/** A JSON line of a child's output; one that is not JSON as { event: 'unparsed', line }. */
function parse(line) {
  try {
    return JSON.parse(line)
  } catch {
    return { event: 'unparsed', line }
  }
}

/**
 * A Python fixture kept running (killed after the test if still running): `lines()` its
 * JSON lines so far, `line(event)` waits for one (or a txn-error), `send(text)` writes to
 * its stdin, `ok()` waits for it to exit 0 and returns its lines.
 */
function pyStart(args) {
  const proc = spawnLines(py.python, [FIXTURE, ...args], { stdin: 'pipe', env: { PYTHONUNBUFFERED: '1' } })
  live.push(() => proc.stop('SIGKILL'))
  let exit = null
  proc.exited.then((r) => (exit = r))
  const lines = () => proc.lines.map(parse)
  const describe = () => `python ${args.join(' ')} (${JSON.stringify(exit)})\n${proc.output()}`
  return {
    lines,
    line: (event) =>
      until(
        () => {
          const hit = lines().find((l) => l.event === event || l.event === 'txn-error')
          if (hit || !exit) return hit
          throw new Error(`exited before "${event}": ${describe()}`)
        },
        { timeoutMs: 30000, what: () => ` "${event}" from ${describe()}` }
      ),
    send: (text) => proc.child.stdin.write(text),
    exited: proc.exited,
    async ok() {
      const r = await proc.exited
      if (r.code !== 0) throw new Error(describe())
      return lines()
    },
  }
}

const events = (lines, event) => lines.filter((l) => l.event === event)

py.describe('confluent-kafka for Python (librdkafka 2.16)', () => {
  /** Reads a topic to the end of every partition in a new group; the values, sorted, and the messages. */
  async function readToEnd(bootstrap, topic, group, isolation) {
    const lines = await pyRun(['consume', bootstrap, topic, group, '--protocol', 'classic', '--isolation', isolation, '--eof', '--deadline', '40'])
    expect(events(lines, 'error')).toEqual([])
    expect(events(lines, 'eof')).toHaveLength(1)
    const msgs = events(lines, 'msg')
    return { values: msgs.map((m) => m.v).sort(), msgs }
  }

  test('a consume-transform-produce transaction with send_offsets_to_transaction commits records and offsets together; an aborted one neither; read_committed gets exactly the committed records, read_uncommitted the aborted ones too', async () => {
    const { kafka, admin, bootstrap, dataDir } = await broker()
    const LATE = 3000
    await admin.createTopics({ topics: [{ topic: 'py-in', numPartitions: 2 }, { topic: 'py-out', numPartitions: 3 }] })
    const plain = await producer(kafka)
    const inputs = Array.from({ length: 6 }, (_, i) => `in-${i}`)
    await plain.send({ topic: 'py-in', messages: inputs.map((value, i) => ({ key: value, value, partition: i % 2 })) })

    // Read in group py-app, transformed, and the group's positions in the same transaction.
    const transform = (group, prefix, end) =>
      pyRun(['txn', bootstrap, 'py-out', '--transactional-id', 'py-app', '--input', 'py-in', '--group', group, '--count', '6', '--prefix', prefix, '--end', end, '--deadline', '40'])
    const first = await transform('py-app', 'committed:', 'commit')
    expect(events(first, 'consumed')).toEqual([{ event: 'consumed', count: 6 }])
    expect(events(first, 'produced')[0]).toMatchObject({ errors: [], left: 0 })
    expect(events(first, 'produced')[0].delivered).toHaveLength(6)
    expect(events(first, 'offsets-sent')[0].offsets).toEqual([['py-in', 0, 3], ['py-in', 1, 3]])
    expect(events(first, 'committed')).toHaveLength(1)
    expect(await committed(admin, 'py-app', 'py-in')).toEqual({ 0: 3, 1: 3 })

    // The same in another group, aborted: neither the records nor the offsets count.
    const second = await transform('py-abort', 'aborted:', 'abort')
    expect(events(second, 'offsets-sent')[0].offsets).toEqual([['py-in', 0, 3], ['py-in', 1, 3]])
    expect(events(second, 'aborted')).toHaveLength(1)
    expect(await committed(admin, 'py-abort', 'py-in')).toEqual({ 0: -1, 1: -1 })

    // A plain transaction of the same transactional id afterwards, on every partition.
    // Many records in batches of 50: several batches in flight per partition.
    const third = await pyRun(['txn', bootstrap, 'py-out', '--transactional-id', 'py-app', '--count', String(LATE), '--partitions', '3', '--batch', '50', '--prefix', 'late-', '--deadline', '40'])
    expect(events(third, 'produced')[0]).toMatchObject({ errors: [], left: 0 })
    expect(events(third, 'committed')).toHaveLength(1)
    for (const partition of [0, 1, 2]) expect(batchHeaders(dataDir, 'py-out', partition).length).toBeGreaterThanOrEqual(LATE / 3 / 50)

    const committedValues = [...inputs.map((v) => `committed:${v}`), ...Array.from({ length: LATE }, (_, i) => `late-${i}`)].sort()
    const abortedValues = inputs.map((v) => `aborted:${v}`)
    const rc = await readToEnd(bootstrap, 'py-out', 'py-read-committed', 'read_committed')
    expect(rc.values).toEqual(committedValues)
    const ru = await readToEnd(bootstrap, 'py-out', 'py-read-uncommitted', 'read_uncommitted')
    expect(ru.values).toEqual([...committedValues, ...abortedValues].sort())
    // Each record at one offset for both readers.
    const at = (msgs) => Object.fromEntries(msgs.map((m) => [m.v, `${m.p}@${m.o}`]))
    expect(at(ru.msgs)).toMatchObject(at(rc.msgs))

    // kafkajs's read-committed consumer agrees with librdkafka's.
    const kafkajsReader = await consume(kafka, { groupId: 'kafkajs-read-committed', topics: ['py-out'] })
    await sees(kafkajsReader, committedValues)
    await fetchedAgain(kafkajsReader)
    expect(kafkajsReader.values().sort()).toEqual(committedValues)
  })

  test('while a transaction is open: ListOffsets read_committed gives the last stable offset, read_uncommitted the high watermark; OffsetFetch with RequireStable answers UNSTABLE_OFFSET_COMMIT for its offsets', async () => {
    const { kafka, admin, bootstrap } = await broker()
    await admin.createTopics({ topics: [{ topic: 'ledger', numPartitions: 2 }] })
    const plain = await producer(kafka)
    await plain.send({ topic: 'ledger', messages: [{ partition: 0, value: 'a' }, { partition: 0, value: 'b' }, { partition: 1, value: 'c' }] })
    await plain.send({ topic: 'ledger', messages: [{ partition: 0, value: 'd' }] })

    // A librdkafka transaction that reads ledger in group ledger-app, writes 3 records to
    // partition 0 and sends the group's offsets, then waits to be told how to end.
    const txn = pyStart(['txn', bootstrap, 'ledger', '--transactional-id', 'ledger-app', '--input', 'ledger', '--group', 'ledger-app', '--count', '4', '--partitions', '1', '--prefix', 't:', '--end', 'stdin', '--deadline', '40'])
    expect(await txn.line('ready')).toEqual({ event: 'ready' })
    expect(events(txn.lines(), 'offsets-sent')[0].offsets).toEqual([['ledger', 0, 3], ['ledger', 1, 1]])
    await plain.send({ topic: 'ledger', messages: [{ partition: 0, value: 'e' }, { partition: 1, value: 'f' }] })
    const produced = events(txn.lines(), 'produced')[0].delivered
    expect(produced.map(([p]) => p)).toEqual([0, 0, 0, 0])
    const firstOpen = Math.min(...produced.map(([, o]) => o))
    expect(firstOpen).toBe(3)

    const listed = async () => events(await pyRun(['list-offsets', bootstrap, 'ledger', '--partitions', '2', '--deadline', '30']), 'offsets')[0]
    // Partition 0: a b d, the 4 open records, e: stable up to the first open one.
    expect(await listed()).toEqual({ event: 'offsets', earliest: { 0: 0, 1: 0 }, latest_committed: { 0: 3, 1: 2 }, latest_uncommitted: { 0: 8, 1: 2 } })
    expect(await stableOffsets(admin, 'ledger')).toEqual({ 0: 3, 1: 2 })
    const groupOffsets = async (...extra) =>
      events(await pyRun(['groups', bootstrap, 'ledger-app', '--partitions-of', 'ledger:2', ...extra, '--deadline', '30']), 'group-offsets')[0]
    expect(await groupOffsets('--require-stable')).toMatchObject({ errors: [['ledger', 0, 'UNSTABLE_OFFSET_COMMIT'], ['ledger', 1, 'UNSTABLE_OFFSET_COMMIT']] })
    expect(await groupOffsets()).toMatchObject({ offsets: [['ledger', 0, -1001], ['ledger', 1, -1001]], errors: [] })

    txn.send('commit\n')
    expect(await txn.line('committed')).toEqual({ event: 'committed' })
    await txn.ok()
    // The commit marker after e.
    expect(await listed()).toEqual({ event: 'offsets', earliest: { 0: 0, 1: 0 }, latest_committed: { 0: 9, 1: 2 }, latest_uncommitted: { 0: 9, 1: 2 } })
    expect(await groupOffsets('--require-stable')).toMatchObject({ offsets: [['ledger', 0, 3], ['ledger', 1, 1]], errors: [] })
  })

  test('interleaved transactions of several producers on the same partitions: read_committed, one batch a fetch, gets exactly the committed records while they are written and afterwards', async () => {
    const { kafka, admin, bootstrap } = await broker()
    await admin.createTopics({ topics: [{ topic: 'mixed', numPartitions: 2 }] })
    const writers = await Promise.all(['w0', 'w1', 'w2'].map((id) => transactional(kafka, id)))
    // Rounds of one transaction per writer, their records interleaved on both partitions,
    // ended in turn, some aborted: aborted transactions overlap each other and committed ones.
    const ROUNDS = 6
    const isAborted = (w, round) => (w + round) % 3 !== 1
    const committedValues = []
    for (let round = 0; round < ROUNDS; round++) {
      committedValues.push(`plain-r${round}`)
      for (let w = 0; w < 3; w++) if (!isAborted(w, round)) for (let i = 0; i < 4; i++) committedValues.push(`w${w}-r${round}-${i}`)
    }
    committedValues.sort()
    // Reading while they are written: it stops at as many records as commit, so one
    // aborted record read would leave a committed one out.
    const reader = pyStart(['consume', bootstrap, 'mixed', 'py-live', '--protocol', 'classic', '--isolation', 'read_committed', '--fetch-bytes', '1', '--expect', String(committedValues.length), '--deadline', '40'])
    await reader.line('assign')
    const plain = await producer(kafka)
    for (let round = 0; round < ROUNDS; round++) {
      const transactions = await Promise.all(writers.map((w) => w.transaction()))
      for (let i = 0; i < 4; i++) {
        for (let w = 0; w < 3; w++) await transactions[w].send({ topic: 'mixed', messages: [{ partition: i % 2, value: `w${w}-r${round}-${i}` }] })
        if (i === 1) await plain.send({ topic: 'mixed', messages: [{ partition: round % 2, value: `plain-r${round}` }] })
      }
      for (let w = 0; w < 3; w++) await (isAborted(w, round) ? transactions[w].abort() : transactions[w].commit())
    }
    const live = await reader.ok()
    expect(events(live, 'error')).toEqual([])
    expect(events(live, 'msg').map((m) => m.v).sort()).toEqual(committedValues)
    const after = await pyRun(['consume', bootstrap, 'mixed', 'py-after', '--protocol', 'classic', '--isolation', 'read_committed', '--fetch-bytes', '1', '--eof', '--deadline', '40'])
    expect(events(after, 'msg').map((m) => m.v).sort()).toEqual(committedValues)
  })

  test("zombie fencing: a second producer's init_transactions aborts the first one's open transaction, whose commit_transaction fails fatally with _FENCED", async () => {
    const { admin, bootstrap } = await broker()
    await admin.createTopics({ topics: [{ topic: 'fence', numPartitions: 2 }] })
    const zombie = pyStart(['txn', bootstrap, 'fence', '--transactional-id', 'py-fenced', '--count', '4', '--partitions', '2', '--prefix', 'zombie-', '--end', 'stdin', '--deadline', '40'])
    expect(await zombie.line('ready')).toEqual({ event: 'ready' })
    expect(await stableOffsets(admin, 'fence')).toEqual({ 0: 0, 1: 0 })
    const successor = await pyRun(['txn', bootstrap, 'fence', '--transactional-id', 'py-fenced', '--count', '2', '--partitions', '2', '--prefix', 'successor-', '--deadline', '40'])
    expect(events(successor, 'committed')).toHaveLength(1)
    zombie.send('commit\n')
    expect(await zombie.line('txn-error')).toMatchObject({ event: 'txn-error', step: 'commit_transaction', name: '_FENCED', fatal: true })
    expect(await zombie.exited).toEqual({ code: 1, signal: null })
    const rc = await readToEnd(bootstrap, 'fence', 'py-read-committed', 'read_committed')
    expect(rc.values).toEqual(['successor-0', 'successor-1'])
    const ru = await readToEnd(bootstrap, 'fence', 'py-read-uncommitted', 'read_uncommitted')
    expect(ru.values).toEqual(['successor-0', 'successor-1', 'zombie-0', 'zombie-1', 'zombie-2', 'zombie-3'])
  })
})
