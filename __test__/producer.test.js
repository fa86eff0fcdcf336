'use strict'

const fs = require('node:fs')
const path = require('node:path')
const { Kafka, CompressionTypes, ConfigResourceTypes, KafkaJSError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, logLevel } = require('..')
const { tempDir, readPartition, sendInterleaved } = require('./helpers')

function setup(options = {}) {
  const dataDir = tempDir()
  const kafka = new Kafka({ clientId: 'test', dataDir, logLevel: logLevel.NOTHING, ...options })
  return { dataDir, kafka }
}

describe('producer', () => {
  test('sends land on disk in order per partition, with kafkajs result shapes', async () => {
    const { dataDir, kafka } = setup()
    const admin = kafka.admin()
    await admin.connect()
    expect(await admin.createTopics({ topics: [{ topic: 'rider-updates', numPartitions: 4 }] })).toBe(true)
    const producer = kafka.producer()
    await producer.connect()
    const first = await producer.send({
      topic: 'rider-updates',
      messages: [
        { key: 'rider-42', value: JSON.stringify({ lat: 52.5, lng: 13.4 }), partition: 2 },
        { key: 'rider-42', value: 'second', partition: 2 },
      ],
    })
    expect(first).toEqual([
      { topicName: 'rider-updates', partition: 2, errorCode: 0, baseOffset: '0', logAppendTime: '-1', logStartOffset: '0' },
    ])
    const second = await producer.send({ topic: 'rider-updates', messages: [{ value: 'third', partition: 2 }] })
    expect(second[0].baseOffset).toBe('2')

    const records = readPartition(dataDir, 'rider-updates', 2)
    expect(records.map((r) => r.offset)).toEqual([0, 1, 2])
    expect(records.map((r) => r.value.toString())).toEqual([JSON.stringify({ lat: 52.5, lng: 13.4 }), 'second', 'third'])
    expect(records[0].key.toString()).toBe('rider-42')
    expect(records[2].key).toBeNull()
    await producer.disconnect()
    await admin.disconnect()
  })

  test('headers, timestamps, tombstones and Buffers round-trip', async () => {
    const { dataDir, kafka } = setup()
    const producer = kafka.producer()
    await producer.connect()
    const before = Date.now()
    await producer.send({
      topic: 'misc',
      messages: [
        { key: Buffer.from([0, 1, 2]), value: Buffer.from([255, 254]), headers: { trace: 'abc', multi: ['x', Buffer.from('y')] } },
        { key: 'gone', value: null },
        { value: 'dated', timestamp: '1700000000000' },
        { value: '' },
      ],
    })
    const [a, b, c, d] = readPartition(dataDir, 'misc', 0)
    expect(a.key).toEqual(Buffer.from([0, 1, 2]))
    expect(a.value).toEqual(Buffer.from([255, 254]))
    expect(a.headers.trace.toString()).toBe('abc')
    expect(a.timestamp).toBeGreaterThanOrEqual(before)
    expect(b.value).toBeNull()
    expect(c.timestamp).toBe(1700000000000)
    expect(d.value).toEqual(Buffer.alloc(0))
    await producer.disconnect()
  })

  test("record timestamps as Kafka 4 rules them: an hour ahead at most, wider per topic, LogAppendTime stamped by the broker", async () => {
    const { dataDir, kafka } = setup({ retry: { retries: 0 } })
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({
      topics: [
        { topic: 'now', numPartitions: 1 },
        { topic: 'scheduled', numPartitions: 1, configEntries: [{ name: 'message.timestamp.after.max.ms', value: '9223372036854775807' }] },
        { topic: 'stamped', numPartitions: 1, configEntries: [{ name: 'message.timestamp.type', value: 'LogAppendTime' }] },
      ],
    })
    const producer = kafka.producer()
    await producer.connect()
    const later = String(Date.now() + 2 * 3600 * 1000)
    const refused = producer.send({ topic: 'now', messages: [{ value: 'ok', timestamp: String(Date.now()) }, { value: 'later', timestamp: later }] })
    await expect(refused).rejects.toMatchObject({ type: 'INVALID_TIMESTAMP', code: 32, retriable: false })
    expect(readPartition(dataDir, 'now', 0)).toEqual([])
    // Made together with good sends, the bad one fails alone.
    const together = await Promise.allSettled([
      producer.send({ topic: 'now', messages: [{ value: 'ok-1' }] }),
      producer.send({ topic: 'now', messages: [{ value: 'later', timestamp: later }] }),
      producer.send({ topic: 'now', messages: [{ value: 'ok-2' }] }),
    ])
    expect(together.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect(readPartition(dataDir, 'now', 0).map((r) => r.value.toString())).toEqual(['ok-1', 'ok-2'])
    await producer.send({ topic: 'scheduled', messages: [{ value: 'later', timestamp: later }] })
    expect(readPartition(dataDir, 'scheduled', 0)[0].timestamp).toBe(Number(later))
    const before = Date.now()
    const [sent] = await producer.send({ topic: 'stamped', messages: [{ value: 'a', timestamp: '1000' }, { value: 'b' }] })
    const stamped = Number(sent.logAppendTime)
    expect(stamped).toBeGreaterThanOrEqual(before)
    expect(stamped).toBeLessThanOrEqual(Date.now())
    expect(readPartition(dataDir, 'stamped', 0).map((r) => r.timestamp)).toEqual([stamped, stamped])
    await producer.disconnect()
    await admin.disconnect()
  })

  test('a compacted topic refuses a send with a message without a key (INVALID_RECORD), nothing of it stored; keys and tombstones are taken', async () => {
    const { dataDir, kafka } = setup()
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: 'table', configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] })
    const producer = kafka.producer()
    await producer.connect()
    const refused = producer.send({ topic: 'table', messages: [{ key: 'a', value: '1' }, { value: 'no key' }] })
    await expect(refused).rejects.toMatchObject({
      name: 'KafkaJSProtocolError',
      type: 'INVALID_RECORD',
      code: 87,
      retriable: false,
      message: expect.stringContaining("[RecordError(batchIndex=1, message='Compacted topic cannot accept message without key in topic partition table-0')]"),
    })
    expect(readPartition(dataDir, 'table', 0)).toEqual([])
    const [sent] = await producer.send({ topic: 'table', messages: [{ key: 'a', value: '1' }, { key: 'a', value: null }, { key: '', value: 'empty key' }] })
    expect(sent).toMatchObject({ errorCode: 0, baseOffset: '0' })
    expect(readPartition(dataDir, 'table', 0).map((r) => [r.key.toString(), r.value && r.value.toString()])).toEqual([
      ['a', '1'],
      ['a', null],
      ['', 'empty key'],
    ])
    // Sends made together go in one append: the keyless one fails alone.
    const outcomes = await Promise.allSettled([
      producer.send({ topic: 'table', messages: [{ key: 'b', value: 'together-1' }] }),
      producer.send({ topic: 'table', messages: [{ value: 'no key' }] }),
      producer.send({ topic: 'table', messages: [{ key: 'c', value: 'together-2' }] }),
    ])
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect(outcomes[1].reason.type).toBe('INVALID_RECORD')
    expect(readPartition(dataDir, 'table', 0).slice(3).map((r) => r.value.toString())).toEqual(['together-1', 'together-2'])
    // A topic switched to compact refuses from then on; switched back, it takes them again.
    await producer.send({ topic: 'log', messages: [{ value: 'keyless' }] })
    const policy = (value) => admin.alterConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: 'log', configEntries: [{ name: 'cleanup.policy', value }] }] })
    await policy('compact,delete')
    await expect(producer.send({ topic: 'log', messages: [{ value: 'keyless' }] })).rejects.toMatchObject({ type: 'INVALID_RECORD' })
    await policy('delete')
    await producer.send({ topic: 'log', messages: [{ value: 'keyless' }] })
    expect(readPartition(dataDir, 'log', 0)).toHaveLength(2)
    await producer.disconnect()
    await admin.disconnect()
  })

  test('a header with several values is stored as several headers', async () => {
    const { dataDir, kafka } = setup()
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic: 'h', messages: [{ value: 'v', headers: { a: ['1', '2'], b: '3' } }] })
    const shared = require('../lib/broker').find(dataDir)
    const r = shared.native.fetch('h', 0, 0, 1 << 20)
    expect(r.records[7]).toBe(3)
    await producer.disconnect()
  })

  test('sendBatch writes several topics in one call and merges repeated topics', async () => {
    const { dataDir, kafka } = setup({ defaultNumPartitions: 2 })
    const producer = kafka.producer()
    await producer.connect()
    const result = await producer.sendBatch({
      topicMessages: [
        { topic: 'rider-updates', messages: [{ value: 'r1', partition: 1 }] },
        { topic: 'restaurant-updates', messages: [{ value: 's1', partition: 0 }] },
        { topic: 'rider-updates', messages: [{ value: 'r2', partition: 1 }] },
      ],
    })
    expect(result).toHaveLength(2)
    expect(result.find((r) => r.topicName === 'rider-updates')).toMatchObject({ partition: 1, baseOffset: '0' })
    expect(readPartition(dataDir, 'rider-updates', 1).map((r) => r.value.toString())).toEqual(['r1', 'r2'])
    expect(readPartition(dataDir, 'restaurant-updates', 0).map((r) => r.value.toString())).toEqual(['s1'])
    await producer.disconnect()
  })

  test('concurrent single-message sends are coalesced and each gets its own offset', async () => {
    const { dataDir, kafka } = setup()
    const producer = kafka.producer()
    await producer.connect()
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => producer.send({ topic: 'chat', messages: [{ value: `m${i}` }] }))
    )
    const offsets = results.map((r) => Number(r[0].baseOffset))
    expect(new Set(offsets).size).toBe(200)
    const stored = readPartition(dataDir, 'chat', 0)
    expect(stored).toHaveLength(200)
    // Each send's reported offset holds that send's message.
    results.forEach((r, i) => expect(stored[Number(r[0].baseOffset)].value.toString()).toBe(`m${i}`))
    await producer.disconnect()
  })

  test('sends made together to a topic that does not exist yet are stored in call order (auto-created meanwhile)', async () => {
    const { dataDir, kafka } = setup()
    const producer = kafka.producer()
    await producer.connect()
    await sendInterleaved(producer, 'fresh', 400)
    const stored = readPartition(dataDir, 'fresh', 0).map((r) => Number(r.value.toString()))
    expect(stored).toEqual(Array.from({ length: 400 }, (_, i) => i))
    await producer.disconnect()
  })

  test('a bad send in a coalesced flush fails alone', async () => {
    const { dataDir, kafka } = setup({ maxMessageBytes: 1000 })
    const producer = kafka.producer()
    await producer.connect()
    const outcomes = await Promise.allSettled([
      producer.send({ topic: 't', messages: [{ value: 'ok-1' }] }),
      producer.send({ topic: 't', messages: [{ value: Buffer.alloc(5000) }] }),
      producer.send({ topic: 't', messages: [{ value: 'ok-2' }] }),
    ])
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect(outcomes[1].reason.type).toBe('MESSAGE_TOO_LARGE')
    expect(readPartition(dataDir, 't', 0).map((r) => r.value.toString())).toEqual(['ok-1', 'ok-2'])
    await producer.disconnect()
  })

  test('a large send of small messages is split into batches under max.message.bytes', async () => {
    const { dataDir, kafka } = setup({ maxMessageBytes: 4096 })
    const producer = kafka.producer()
    await producer.connect()
    const messages = Array.from({ length: 1000 }, (_, i) => ({ value: `message-${i}`.padEnd(100, '.') }))
    await producer.send({ topic: 'bulk', messages })
    const stored = readPartition(dataDir, 'bulk', 0)
    expect(stored).toHaveLength(1000)
    expect(stored[999].value.toString()).toBe(messages[999].value)
    await producer.disconnect()
  })

  test.each(['GZIP', 'Snappy', 'LZ4', 'ZSTD'])('%s batches are stored compressed and read back', async (codec) => {
    const { dataDir, kafka } = setup()
    const producer = kafka.producer()
    await producer.connect()
    const value = 'rider location '.repeat(200)
    await producer.send({ topic: 'zipped', compression: CompressionTypes[codec], messages: [{ value }, { value }] })
    expect(readPartition(dataDir, 'zipped', 0).map((r) => r.value.toString())).toEqual([value, value])
    const seg = path.join(require('../lib/broker').find(dataDir).key, 'topics', 'zipped', '0', '00000000000000000000.log')
    expect(fs.statSync(seg).size).toBeLessThan(value.length)
    // The batch's attributes name its codec (Kafka's ids: 1 gzip ... 4 zstd).
    const attributes = fs.readFileSync(seg).readInt16BE(21)
    expect(attributes & 7).toBe(CompressionTypes[codec])
    await expect(producer.send({ topic: 'zipped', compression: 9, messages: [{ value }] })).rejects.toThrow(/Unsupported compression codec/)
    // Over 64 KiB decompressed, a fetched run leaves the addon without a copy (smaller
    // ones are copied): the same records either way.
    const big = 'rider location '.repeat(3000)
    await producer.send({ topic: 'zipped', compression: CompressionTypes[codec], messages: [{ value: big }, { value: big }] })
    expect(readPartition(dataDir, 'zipped', 0).map((r) => r.value.toString())).toEqual([value, value, big, big])
    await producer.disconnect()
  })

  test('send before connect and after disconnect is refused as kafkajs refuses it', async () => {
    const { kafka } = setup()
    const producer = kafka.producer()
    await expect(producer.send({ topic: 't', messages: [{ value: 'x' }] })).rejects.toThrow(new KafkaJSError('The producer is disconnected'))
    await producer.connect()
    await producer.send({ topic: 't', messages: [{ value: 'x' }] })
    await producer.disconnect()
    await expect(producer.send({ topic: 't', messages: [{ value: 'x' }] })).rejects.toThrow('The producer is disconnected')
  })

  test('acks: 0 resolves to an empty array, as kafkajs does, and still stores the message', async () => {
    const { dataDir, kafka } = setup()
    const producer = kafka.producer()
    await producer.connect()
    expect(await producer.send({ topic: 'fire-and-forget', acks: 0, messages: [{ value: 'x' }] })).toEqual([])
    expect(readPartition(dataDir, 'fire-and-forget', 0).map((r) => r.value.toString())).toEqual(['x'])
    await producer.disconnect()
  })

  test('connect and disconnect events fire', async () => {
    const { kafka } = setup()
    const producer = kafka.producer()
    const seen = []
    producer.on(producer.events.CONNECT, (e) => seen.push(e.type))
    producer.on(producer.events.DISCONNECT, (e) => seen.push(e.type))
    await producer.connect()
    await producer.disconnect()
    expect(seen).toEqual(['producer.connect', 'producer.disconnect'])
    expect(() => producer.on('nope', () => {})).toThrow(/Event name should be one of/)
  })

  test('with fsync, concurrent sends are acknowledged after a shared fsync', async () => {
    const { dataDir, kafka } = setup({ fsync: true })
    const producer = kafka.producer()
    await producer.connect()
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => producer.send({ topic: 'durable', messages: [{ value: `d${i}` }] })))
    expect(results.every((r) => r[0].errorCode === 0)).toBe(true)
    expect(readPartition(dataDir, 'durable', 0)).toHaveLength(50)
    await producer.disconnect()
  })

  test('a send that fails on some partitions resends only those, and stored partitions are never resent', async () => {
    const { dataDir, kafka } = setup()
    const admin = kafka.admin()
    await admin.createTopics({ topics: [{ topic: 'split', numPartitions: 3 }] })
    const producer = kafka.producer({ retry: { retries: 3, initialRetryTime: 5 } })
    await producer.connect()
    const native = require('../lib/broker').find(dataDir).native
    // Partition 1 fails twice with a transient disk error, then recovers.
    native.injectAppendFailures('split', 1, 2)
    const messages = [0, 1, 2].flatMap((p) => [{ partition: p, value: `a${p}` }, { partition: p, value: `b${p}` }])
    const result = await producer.send({ topic: 'split', messages })
    expect(result.map((r) => [r.partition, r.baseOffset]).sort()).toEqual([[0, '0'], [1, '0'], [2, '0']])
    for (const p of [0, 1, 2]) {
      expect(readPartition(dataDir, 'split', p).map((r) => r.value.toString())).toEqual([`a${p}`, `b${p}`])
    }
    // When retries run out: KafkaJSNumberOfRetriesExceeded naming the failed partition, and
    // the partitions that were stored hold their messages once.
    native.injectAppendFailures('split', 2, 10)
    const err = await producer.send({ topic: 'split', messages: [{ partition: 0, value: 'c0' }, { partition: 2, value: 'c2' }] }).catch((e) => e)
    expect(err.name).toBe('KafkaJSNumberOfRetriesExceeded')
    expect(err.retryCount).toBe(3)
    expect(err.cause.type).toBe('KAFKA_STORAGE_ERROR')
    expect(err.cause.message).toMatch(/split-2/)
    expect(readPartition(dataDir, 'split', 0).map((r) => r.value.toString())).toEqual(['a0', 'b0', 'c0'])
    expect(readPartition(dataDir, 'split', 2).map((r) => r.value.toString())).toEqual(['a2', 'b2'])
    await producer.disconnect()
    await admin.disconnect()
  })

  test('bad input is not retried and writes nothing', async () => {
    const { dataDir, kafka } = setup()
    const producer = kafka.producer({ retry: { retries: 3, initialRetryTime: 5 } })
    await producer.connect()
    const err = await producer.send({ topic: 'big', messages: [{ value: 'ok' }, { value: Buffer.alloc(2 << 20) }] }).catch((e) => e)
    expect(err).toMatchObject({ type: 'MESSAGE_TOO_LARGE', retriable: false })
    expect(readPartition(dataDir, 'big', 0)).toHaveLength(0)
    await producer.disconnect()
  })

  test('a transactional id must be a non-empty string, and transaction() needs one', async () => {
    const { kafka } = setup()
    expect(() => kafka.producer({ transactionalId: '' })).toThrow(TypeError)
    expect(() => kafka.producer({ transactionalId: 'tx', transactionTimeout: -1 })).toThrow(TypeError)
    const producer = kafka.producer()
    await producer.connect()
    await expect(producer.transaction()).rejects.toThrow('Must provide transactional id for transactional producer')
    await producer.disconnect()
  })

  test('an unknown topic with auto-creation off is retried, then KafkaJSNumberOfRetriesExceeded with the protocol error as cause', async () => {
    const warnings = []
    const logCreator = () => ({ namespace, log }) => namespace.endsWith('Producer') && warnings.push(log)
    const { dataDir, kafka } = setup({ logLevel: logLevel.WARN, logCreator })
    const producer = kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 3, initialRetryTime: 5, maxRetryTime: 20 } })
    await producer.connect()
    const err = await producer.send({ topic: 'missing', messages: [{ value: 'x' }] }).catch((e) => e)
    expect(err).toBeInstanceOf(KafkaJSNumberOfRetriesExceeded)
    expect(err).toMatchObject({ retryCount: 3, retriable: false })
    expect(err.cause).toBeInstanceOf(KafkaJSProtocolError)
    expect(err.cause).toMatchObject({ type: 'UNKNOWN_TOPIC_OR_PARTITION', code: 3, retriable: true })
    expect(err.cause.message).toMatch(/"missing" does not exist/)
    expect(warnings.map((w) => w.retryCount)).toEqual([0, 1, 2])
    expect(fs.existsSync(path.join(dataDir, 'topics', 'missing'))).toBe(false)
    await producer.disconnect()
  })

  test('a send retrying for a missing topic succeeds once the topic is created meanwhile', async () => {
    const { dataDir, kafka } = setup({ autoCreateTopics: false })
    const admin = kafka.admin()
    let creating = null
    const logCreator = () => ({ log }) => {
      // At the first retry, another client creates the topic.
      if (log.message.startsWith('Failed to send messages') && !creating) creating = admin.createTopics({ topics: [{ topic: 'late', numPartitions: 2 }] })
    }
    const sender = new Kafka({ dataDir, autoCreateTopics: false, logLevel: logLevel.WARN, logCreator }).producer({ retry: { retries: 5, initialRetryTime: 20 } })
    await sender.connect()
    const result = await sender.send({ topic: 'late', messages: [{ value: 'waited', partition: 1 }] })
    expect(await creating).toBe(true)
    expect(result).toEqual([expect.objectContaining({ topicName: 'late', partition: 1, baseOffset: '0' })])
    expect(readPartition(dataDir, 'late', 1).map((r) => r.value.toString())).toEqual(['waited'])
    await sender.disconnect()
    await admin.disconnect()
  })

  test('bad producer options and send arguments are refused with named fields', async () => {
    const { kafka } = setup()
    expect(() => kafka.producer(null)).toThrow(/kafka.producer\(\) takes an options object, got null/)
    expect(() => kafka.producer({ idempotent: 'yes' })).toThrow(/idempotent must be a boolean/)
    expect(() => kafka.producer({ createPartitioner: () => 42 })).toThrow(/createPartitioner must return a partitioner function/)
    expect(() => kafka.producer({ retry: { initialRetryTime: 'soon' } })).toThrow(/retry.initialRetryTime must be/)
    const producer = kafka.producer()
    await producer.connect()
    await expect(producer.send(null)).rejects.toThrow(/send takes an options object, got null/)
    await expect(producer.send({ topic: 't', acks: 'all', messages: [{ value: 'x' }] })).rejects.toThrow(TypeError)
    await expect(producer.send({ topic: 't', acks: 2, messages: [{ value: 'x' }] })).rejects.toMatchObject({ type: 'INVALID_REQUIRED_ACKS', retriable: false })
    await expect(producer.send({ topic: 't', timeout: -5, messages: [{ value: 'x' }] })).rejects.toThrow(/timeout must be/)
    await expect(producer.sendBatch({ topicMessages: [{ topic: 't', messages: [] }, 'x'] })).rejects.toThrow(/Invalid topic/)
    expect(() => producer.on(producer.events.CONNECT, null)).toThrow(/listener must be a function/)
    await producer.disconnect()
  })
})
