'use strict'

// Compacted topics over samsa's Kafka wire listener (kafka.listen() of a broker in this
// process), with real clients: kafkajs 2.2.4 (admin creating the topic with configEntries,
// DescribeConfigs and AlterConfigs, producer, consumers), kcat (librdkafka 2.0, from Debian)
// and Confluent's Python client (librdkafka 2.16: CreateTopics with configs,
// IncrementalAlterConfigs, idempotent produce, consume). Each test writes while the cleaner
// is held off (min.compaction.lag.ms of a year), ends with a record that rolls the active
// segment, lets the cleaner go and waits for its "cleaned a partition" log line, then reads
// the compacted log, with its gaps, from the beginning to the high watermark and compares
// with what was sent: per key the latest record, at its original offset.

const path = require('node:path')
const requires = require('./requirements')
const { kafkajs, kafkajsClient, until, FAST, runToExit: run } = require('./wire-helpers')
const { batchHeaders } = require('./helpers')
const { compacted, entries, samsaBroker, cleanupAfterEach, plain, Model, sealer, increasing, brief } = require('./compaction-helpers')

const kcat = requires.debianPackage({ name: 'kcat', binary: '/usr/bin/kcat' })
const py = requires.pythonVenv({ name: 'confluent-kafka', packages: ['confluent-kafka==2.16.1'], imports: ['confluent_kafka'] })
const FIXTURE = path.join(__dirname, 'fixtures', 'rdkafka_client.py')
const { ConfigResourceTypes } = kafkajs

jest.setTimeout(60000)

const { made, connected } = cleanupAfterEach()

/** A samsa broker listening on an ephemeral loopback port, its in-process admin, a kafkajs client. */
async function wireBroker() {
  const b = samsaBroker({}, made)
  const address = await b.kafka.listen({ port: 0, host: '127.0.0.1' })
  const bootstrap = `${address.host}:${address.port}`
  const { kafka, logs } = kafkajsClient(bootstrap)
  const samsaAdmin = await connected(b.kafka.admin())
  return { ...b, bootstrap, kjs: kafka, kjsLogs: logs, samsaAdmin }
}

async function describeTopic(admin, topic) {
  const r = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name: topic }] })
  return Object.fromEntries(r.resources[0].configEntries.map((e) => [e.configName, e]))
}

/**
 * A kafkajs consumer of `groupId` (fromBeginning) run until it has seen offset `last`, then
 * disconnected. Returns the messages it got, in order, as { offset, key, value }; their
 * timestamps go into `times` (offset -> ms).
 */
async function kafkajsRead(kjs, { topic, groupId, last, mode = 'message', timeoutMs = 20000, times = new Map() }) {
  const consumer = kjs.consumer({ groupId, ...FAST })
  const got = []
  const crashes = []
  consumer.on(consumer.events.CRASH, (e) => crashes.push(e.payload.error.message))
  const note = (m) => {
    times.set(Number(m.offset), Number(m.timestamp))
    return plain(m)
  }
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run(
      mode === 'batch'
        ? { eachBatch: async ({ batch }) => got.push(...batch.messages.map((m) => note(m))) }
        : { eachMessage: async ({ message }) => got.push(note(message)) },
    )
    await until(() => got.some((g) => g.offset >= last), {
      timeoutMs,
      what: () => ` kafkajs (${mode}, group ${groupId}) to reach offset ${last} of ${topic}; got ${got.length}: ${brief(got.slice(-8))}; crashes: ${crashes.join('; ')}`,
    })
  } finally {
    await consumer.disconnect()
  }
  expect(crashes).toEqual([])
  return got
}

const keyOf = (i) => `k${String(i).padStart(2, '0')}`
const KEYS = Array.from({ length: 10 }, (_, i) => keyOf(i))
const val = (tag, key) => `${tag}-${key}-${'v'.repeat(40)}`

describe('kafkajs over the wire', () => {
  test('kafkajs creates a compacted topic (configEntries), DescribeConfigs shows its configs, produces updates and tombstones; kafkajs consumers read the cleaned log with gaps from the beginning and from offsets inside gaps', async () => {
    const { kjs, waitPasses, passes, samsaAdmin, dataDir } = await wireBroker()
    const admin = await connected(kjs.admin())
    const topic = 'kjs-compacted'
    const retention = 300
    const configs = compacted({ 'delete.retention.ms': String(retention) })
    expect(await admin.createTopics({ topics: [{ topic, numPartitions: 1, configEntries: entries(configs) }] })).toBe(true)

    // DescribeConfigs: what was set at creation, as topic overrides; the other compaction
    // configs at their defaults.
    const described = await describeTopic(admin, topic)
    for (const [name, value] of Object.entries(configs)) {
      expect(described[name]).toMatchObject({ configValue: value, isDefault: false, configSource: 1 })
    }
    expect(described['max.compaction.lag.ms']).toMatchObject({ configValue: '9223372036854775807', isDefault: true })
    expect(described['segment.ms']).toMatchObject({ configValue: String(7 * 24 * 3600 * 1000), isDefault: true })

    const producer = await connected(kjs.producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner }))
    const model = new Model()
    const send = async (messages) => {
      const [r] = await producer.send({ topic, messages: messages.map((m) => ({ partition: 0, ...m })) })
      expect(r.errorCode).toBe(0)
      return model.add(r.baseOffset, messages)
    }
    // Keyless records are refused with INVALID_RECORD.
    await expect(producer.send({ topic, messages: [{ key: 'k', value: 'fine' }, { value: 'no key' }] })).rejects.toMatchObject({ type: 'INVALID_RECORD' })
    for (let round = 0; round < 3; round++) {
      await send(KEYS.slice(0, 5).map((key) => ({ key, value: val(`r${round}`, key) })))
      await send(KEYS.slice(5).map((key) => ({ key, value: val(`r${round}`, key) })))
    }
    const y = await send(['k00', 'k01', 'k02'].map((key) => ({ key, value: val('y', key) }))) // tail (k01, k02) superseded by w
    const x = await send(['k05', 'k06'].map((key) => ({ key, value: val('x', key) }))) // superseded whole by w
    await send([
      { key: 'k01', value: val('w', 'k01') },
      { key: 'k02', value: val('w', 'k02') },
      { key: 'k05', value: val('w', 'k05') },
      { key: 'k06', value: val('w', 'k06') },
      { key: 'k03', value: null },
    ])
    // The last batches before the sealer: tombstones only, removed whole once they go.
    const end = [...(await send([{ key: 'k07', value: null }])), ...(await send([{ key: 'k08', value: null }]))]
    const [seal] = await send([sealer()])
    expect(passes(topic)).toEqual([])
    const sentAt = new Map()
    expect(await kafkajsRead(kjs, { topic, groupId: 'kjs-before', last: seal.offset, times: sentAt })).toEqual(model.records)

    // AlterConfigs over the wire lets the cleaner go: the first pass keeps the tombstones,
    // the second, after delete.retention.ms, removes them.
    await admin.alterConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: entries({ ...configs, 'min.compaction.lag.ms': '0' }) }] })
    expect((await describeTopic(admin, topic))['min.compaction.lag.ms'].configValue).toBe('0')
    const [, second] = await waitPasses(topic, 2)
    expect(second.removed).toBe(3)
    const expected = model.expected({ activeBase: seal.offset, tombstonesGone: true })
    expect(expected.some((r) => ['k03', 'k07', 'k08'].includes(r.key))).toBe(false)

    // On disk: y rebuilt with its base and last offsets and one record; x and the end gone.
    const headers = batchHeaders(dataDir, topic, 0)
    expect(headers.filter((h) => h.lastOffset >= end[0].offset && h.baseOffset < seal.offset)).toEqual([])
    expect(headers.find((h) => h.baseOffset === y[0].offset)).toMatchObject({ lastOffset: y[2].offset, count: 1 })
    expect(headers.some((h) => h.baseOffset === x[0].offset)).toBe(false)

    const [o] = await admin.fetchTopicOffsets(topic)
    expect(o).toMatchObject({ low: '0', high: String(seal.offset + 1) })
    const high = Number(o.high)

    const times = new Map()
    const got = await kafkajsRead(kjs, { topic, groupId: 'kjs-all', last: high - 1, times })
    expect(brief(got)).toBe(brief(expected))
    expect(got).toEqual(expected)
    increasing(got)
    expect(got.map((r) => [r.offset, times.get(r.offset)])).toEqual(got.map((r) => [r.offset, sentAt.get(r.offset)]))
    // ListOffsets by timestamp: the first kept record at or after the time of a removed one.
    for (const removed of [x[0], y[2], end[1]]) {
      const t = sentAt.get(removed.offset)
      const [byTime] = await admin.fetchTopicOffsetsByTimestamp(topic, t)
      const want = expected.find((r) => sentAt.get(r.offset) >= t).offset
      expect({ removed: removed.offset, offset: Number(byTime.offset) }).toEqual({ removed: removed.offset, offset: want })
    }
    const [c] = await admin.fetchOffsets({ groupId: 'kjs-all', topics: [topic] })
    expect(c.partitions).toEqual([expect.objectContaining({ partition: 0, offset: String(high) })])

    const batched = await kafkajsRead(kjs, { topic, groupId: 'kjs-batch', last: high - 1, mode: 'batch' })
    expect(batched).toEqual(expected)

    // Starting inside gaps: in the removed batch x, in y's removed tail, at the first of the
    // removed last batches. (The groups' offsets are committed by samsa's admin in process:
    // kafkajs's setOffsets runs a consumer of the group for seconds.)
    for (const [groupId, from] of [
      ['kjs-in-x', x[1].offset],
      ['kjs-in-tail', y[1].offset],
      ['kjs-at-end', end[0].offset],
    ]) {
      await samsaAdmin.setOffsets({ groupId, topic, partitions: [{ partition: 0, offset: String(from) }] })
      const fromGap = await kafkajsRead(kjs, { topic, groupId, last: high - 1, mode: groupId === 'kjs-in-tail' ? 'batch' : 'message' })
      expect({ groupId, got: fromGap }).toEqual({ groupId, got: expected.filter((r) => r.offset >= from) })
    }

    // DeleteRecords needs the delete policy.
    await admin.fetchTopicMetadata({ topics: [topic] })
    const refused = await admin.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '5' }] }).catch((e) => e)
    expect(refused.cause).toMatchObject({ name: 'KafkaJSDeleteTopicRecordsError', partitions: [{ partition: 0, error: expect.objectContaining({ type: 'POLICY_VIOLATION' }) }] })
    expect((await admin.fetchTopicOffsets(topic))[0]).toMatchObject({ low: '0', high: String(high) })
  })

  // kafkajs never moves past a Fetch response without records (kafkajs#1072, against Kafka
  // too): a read that ends at a segment's emptied batch goes on into the next segment.
  test('kafkajs reads on past an empty batch kept for an idempotent producer at the end of a segment', async () => {
    const b = samsaBroker({}, made)
    const address = await b.kafka.listen({ port: 0, host: '127.0.0.1' })
    const { kafka: kjs } = kafkajsClient(`${address.host}:${address.port}`)
    const admin = await connected(kjs.admin())
    const topic = 'kjs-empty-batch'
    const configs = compacted({ 'delete.retention.ms': '300' })
    await admin.createTopics({ topics: [{ topic, configEntries: entries(configs) }] })
    const model = new Model()
    const plainProducer = await connected(kjs.producer())
    const idempotent = await connected(kjs.producer({ idempotent: true, maxInFlightRequests: 1 }))
    const send = async (producer, messages) => {
      const [r] = await producer.send({ topic, messages: messages.map((m) => ({ partition: 0, ...m })) })
      return model.add(r.baseOffset, messages)
    }
    await send(plainProducer, [{ key: 'a', value: 'A' }, { key: 'b', value: 'B' }])
    const [tombstone] = await send(idempotent, [{ key: 'c', value: null }]) // the idempotent producer's last batch
    const [seal] = await send(plainProducer, [sealer()]) // rolls: the tombstone's batch ends its segment
    await admin.alterConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configEntries: entries({ ...configs, 'min.compaction.lag.ms': '0' }) }] })
    await b.waitPasses(topic, 2) // the second pass removes the tombstone; its batch stays, empty
    expect(batchHeaders(b.dataDir, topic, 0).find((h) => h.baseOffset === tombstone.offset)).toMatchObject({ count: 0 })
    const expected = model.expected({ activeBase: seal.offset, tombstonesGone: true })

    const consumer = await connected(kjs.consumer({ groupId: 'g', ...FAST }))
    const got = []
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => got.push(plain(message)) })
    await until(() => got.some((m) => m.offset === seal.offset), { timeoutMs: 10000, what: () => ` offset ${seal.offset}; got ${brief(got)}` })
    expect(got).toEqual(expected)
  })
})

kcat.describe('kcat (librdkafka 2.0)', () => {
  test('kcat produces keyed records and tombstones (-K, -Z); once cleaned, kcat -C -e reads the latest per key at the original offsets and timestamps, from the beginning and from inside a gap', async () => {
    const { bootstrap, samsaAdmin, waitPasses, dataDir } = await wireBroker()
    const topic = 'kc-compacted'
    const configs = compacted({ 'delete.retention.ms': '3600000' })
    await samsaAdmin.createTopics({ topics: [{ topic, configEntries: entries(configs) }] })
    const lines = []
    for (let round = 0; round < 4; round++) for (const key of KEYS) lines.push(`${key}\t${round === 3 && key === 'k04' ? '' : val(`r${round}`, key)}`)
    lines.push(`k05\t${val('last', 'k05')}`, 'k06\t')
    const produce = (input) => run(kcat.path, ['-b', bootstrap, '-P', '-t', topic, '-p', '0', '-K', '\t', '-Z'], { input })
    await produce(lines.map((l) => `${l}\n`).join(''))
    const seal = sealer()
    await produce(`${seal.key}\t${seal.value}\n`)

    const FORMAT = '%o\t%T\t%k\t%s\n'
    const read = async (from = 'beginning') => {
      const r = await run(kcat.path, ['-b', bootstrap, '-C', '-t', topic, '-p', '0', '-o', String(from), '-e', '-Z', '-f', FORMAT])
      const times = new Map()
      const records = r.stdout
        .split('\n')
        .slice(0, -1)
        .map((l) => {
          const [o, ts, k, v] = l.split('\t')
          times.set(Number(o), Number(ts))
          return { offset: Number(o), key: k === 'NULL' ? null : k, value: v === 'NULL' ? null : v }
        })
      return { records, times, stderr: r.stderr }
    }
    // Before cleaning (the cleaner is held off): everything, as sent.
    const before = await read()
    expect(before.records.map((r) => `${r.key}\t${r.value === null ? '' : r.value}`)).toEqual([...lines, `${seal.key}\t${seal.value}`])
    const model = new Model()
    for (const r of before.records) model.add(r.offset, [r])
    const sealOffset = model.next - 1

    await samsaAdmin.alterConfigs({ resources: [{ type: 2, name: topic, configEntries: entries({ ...configs, 'min.compaction.lag.ms': '0' }) }] })
    await waitPasses(topic, 1)
    const expected = model.expected({ activeBase: sealOffset })
    expect(expected.filter((r) => r.value === null).map((r) => r.key)).toEqual(['k04', 'k06'])
    const after = await read()
    expect(brief(after.records)).toBe(brief(expected))
    expect(after.records).toEqual(expected)
    expect(after.stderr).toMatch(new RegExp(`Reached end of topic ${topic} \\[0\\] at offset ${sealOffset + 1}`))
    // Timestamps as sent, the kept tombstones' (whose batches carry a delete horizon) too.
    expect([...after.times]).toEqual(after.records.map((r) => [r.offset, before.times.get(r.offset)]))
    const headers = batchHeaders(dataDir, topic, 0)
    for (const t of expected.filter((r) => r.value === null)) expect(headers.find((h) => h.baseOffset <= t.offset && t.offset <= h.lastOffset)).toMatchObject({ horizon: true })

    // From an offset in a gap: the first removed offset after the first kept one.
    const kept = new Set(expected.map((r) => r.offset))
    const gap = model.records.find((r) => r.offset > expected[0].offset && !kept.has(r.offset)).offset
    const fromGap = await read(gap)
    expect(fromGap.records).toEqual(expected.filter((r) => r.offset >= gap))
  })

  test('kcat reads on past the emptied last batches: tombstones from an idempotent kcat removed after delete.retention.ms leave its batch empty at the end of a segment', async () => {
    const { bootstrap, samsaAdmin, waitPasses, dataDir } = await wireBroker()
    const topic = 'kc-emptied'
    const configs = compacted({ 'delete.retention.ms': '300' })
    await samsaAdmin.createTopics({ topics: [{ topic, configEntries: entries(configs) }] })
    const produce = (input, extra = []) => run(kcat.path, ['-b', bootstrap, '-P', '-t', topic, '-p', '0', '-K', '\t', '-Z', ...extra], { input })
    const lines = []
    for (let round = 0; round < 3; round++) for (const key of KEYS) lines.push(`${key}\t${val(`r${round}`, key)}`)
    await produce(lines.map((l) => `${l}\n`).join(''))
    await produce('k03\t\nk04\t\n', ['-X', 'enable.idempotence=true'])
    const seal = sealer()
    await produce(`${seal.key}\t${seal.value}\n`)
    const read = async (from = 'beginning') => {
      const r = await run(kcat.path, ['-b', bootstrap, '-C', '-t', topic, '-p', '0', '-o', String(from), '-e', '-Z', '-f', '%o\t%k\t%s\n'])
      const records = r.stdout
        .split('\n')
        .slice(0, -1)
        .map((l) => {
          const [o, k, v] = l.split('\t')
          return { offset: Number(o), key: k === 'NULL' ? null : k, value: v === 'NULL' ? null : v }
        })
      return { records, stderr: r.stderr }
    }
    const model = new Model()
    for (const r of (await read()).records) model.add(r.offset, [r])
    const sealOffset = model.next - 1
    expect(model.records.slice(-3).map((r) => [r.key, r.value === null])).toEqual([
      ['k03', true],
      ['k04', true],
      [seal.key, false],
    ])

    await samsaAdmin.alterConfigs({ resources: [{ type: 2, name: topic, configEntries: entries({ ...configs, 'min.compaction.lag.ms': '0' }) }] })
    const [, second] = await waitPasses(topic, 2)
    expect(second.removed).toBe(2)
    // Between the live records and the sealer: the idempotent producer's batch, emptied.
    expect(batchHeaders(dataDir, topic, 0).filter((h) => h.lastOffset >= sealOffset - 2 && h.baseOffset < sealOffset)).toEqual([
      expect.objectContaining({ baseOffset: sealOffset - 2, lastOffset: sealOffset - 1, count: 0 }),
    ])
    const expected = model.expected({ activeBase: sealOffset, tombstonesGone: true })
    const after = await read()
    expect(after.records).toEqual(expected)
    expect(after.stderr).toMatch(new RegExp(`Reached end of topic ${topic} \\[0\\] at offset ${sealOffset + 1}`))
    // From the first removed tombstone: the sealer, and nothing else.
    expect((await read(sealOffset - 2)).records).toEqual([model.records[model.records.length - 1]])
  })
})

py.describe('confluent-kafka for Python (librdkafka 2.16)', () => {
  const pyRun = async (args, input) => {
    const r = await run(py.python, [FIXTURE, ...args], { input, timeoutMs: 45000 })
    return r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
  }
  const event = (events, name) => events.filter((e) => e.event === name)

  test('AdminClient creates a compacted topic with configs, IncrementalAlterConfigs lets the cleaner go; an idempotent producer sends updates and tombstones; a consumer reads the cleaned log from the beginning', async () => {
    const { bootstrap, waitPasses, dataDir } = await wireBroker()
    const topic = 'py-compacted'
    const configs = compacted({ 'delete.retention.ms': '300' })
    const created = await pyRun(['admin', bootstrap, topic, '--partitions', '1', ...Object.entries(configs).flatMap(([n, v]) => ['--config', `${n}=${v}`]), '--deadline', '30'])
    expect(event(created, 'created')).toEqual([{ event: 'created', topic }])
    const [{ configs: described }] = event(created, 'configs')
    expect(described).toMatchObject(configs)

    const lines = []
    for (let round = 0; round < 4; round++) for (const key of KEYS) lines.push([key, val(`r${round}`, key)])
    lines.push(['k02', '\\N'], ['k03', val('last', 'k03')])
    // The last records before the sealer: tombstones, from a producer of their own, whose
    // last batch stays (empty) once they go.
    const ending = [['k08', '\\N'], ['k09', '\\N']]
    const model = new Model()
    for (const input of [lines, ending]) {
      const [produced] = event(await pyRun(['produce-kv', bootstrap, topic, '--idempotence', '--deadline', '30'], input.map(([k, v]) => `${k}\t${v}\n`).join('')), 'produced-kv')
      expect(produced.left).toBe(0)
      expect(produced.records.filter((r) => r.error)).toEqual([])
      for (const r of produced.records) model.add(r.o, [{ key: r.k, value: r.v }])
    }
    expect(model.records.map((r) => r.offset)).toEqual([...lines, ...ending].map((_, i) => i))
    // A keyless record is refused.
    const [refused] = event(await pyRun(['produce-kv', bootstrap, topic, '--deadline', '30'], '\\N\tno key\n'), 'produced-kv')
    expect(refused.records).toEqual([{ k: null, v: 'no key', error: 'INVALID_RECORD' }])
    const seal = sealer()
    const [sealed] = event(await pyRun(['produce-kv', bootstrap, topic, '--idempotence', '--deadline', '30'], `${seal.key}\t${seal.value}\n`), 'produced-kv')
    const [sealRecord] = model.add(sealed.records[0].o, [seal])
    expect(sealRecord.offset).toBe(lines.length + ending.length)

    // IncrementalAlterConfigs: one config set, the others kept.
    const altered = await pyRun(['configs', bootstrap, topic, '--set', 'min.compaction.lag.ms=0', '--deadline', '30'])
    expect(event(altered, 'altered')).toHaveLength(1)
    expect(event(altered, 'configs')[0].configs).toMatchObject({ ...configs, 'min.compaction.lag.ms': '0' })
    const [first, second] = await waitPasses(topic, 2)
    expect(second.removed).toBe(3)
    expect(first.keys).toBe(KEYS.length)
    const expected = model.expected({ activeBase: sealRecord.offset, tombstonesGone: true })
    const headers = batchHeaders(dataDir, topic, 0)
    expect(headers.filter((h) => h.lastOffset >= lines.length && h.baseOffset < sealRecord.offset)).toEqual([
      expect.objectContaining({ lastOffset: lines.length + 1, count: 0 }),
    ])
    expect(headers.filter((h) => h.lastOffset < lines.length).every((h) => h.producerId >= 0)).toBe(true)

    const consumed = await pyRun(['consume', bootstrap, topic, 'py-compacted-group', '--protocol', 'classic', '--expect', String(expected.length), '--deadline', '30'])
    expect(event(consumed, 'error')).toEqual([])
    const got = event(consumed, 'msg').map((m) => ({ offset: m.o, key: m.k, value: m.v }))
    expect(brief(got)).toBe(brief(expected))
    expect(got).toEqual(expected)
    expect(event(consumed, 'committed')[0].offsets).toEqual([[topic, 0, sealRecord.offset + 1, null]])
  })
})
