'use strict'

const { Kafka, logLevel, KafkaJSNonRetriableError, KafkaJSProtocolError } = require('..')
const { tempDir, readPartition } = require('./helpers')

describe('bad input gets a clear error and leaves the broker working', () => {
  let dataDir
  let kafka
  let producer

  beforeAll(async () => {
    dataDir = tempDir()
    kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING, defaultNumPartitions: 2 })
    producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic: 'ok', messages: [{ value: 'before' }] })
  })

  afterAll(async () => {
    // After every bad call the same producer still works and nothing bad was stored.
    await producer.send({ topic: 'ok', messages: [{ value: 'after', partition: 0 }] })
    const stored = [...readPartition(dataDir, 'ok', 0), ...readPartition(dataDir, 'ok', 1)].map((r) => r.value.toString())
    expect(stored.sort()).toEqual(['after', 'before'])
    await producer.disconnect()
  })

  const cases = [
    ['a number for a topic', { topic: 42, messages: [{ value: 'x' }] }, TypeError, /topic must be a string, got number 42/],
    ['no topic', { messages: [{ value: 'x' }] }, KafkaJSNonRetriableError, /Invalid topic/],
    ['an invalid topic name', { topic: 'no spaces', messages: [{ value: 'x' }] }, KafkaJSProtocolError, /Invalid topic name/],
    ['a topic name of 250 characters', { topic: 'x'.repeat(250), messages: [{ value: 'x' }] }, KafkaJSProtocolError, /Invalid topic name/],
    ['"." as a topic', { topic: '.', messages: [{ value: 'x' }] }, KafkaJSProtocolError, /Invalid topic name/],
    ['messages not an array', { topic: 'ok', messages: { value: 'x' } }, KafkaJSNonRetriableError, /Invalid messages array/],
    ['a message without value', { topic: 'ok', messages: [{ key: 'k' }] }, KafkaJSNonRetriableError, /Invalid message without value/],
    ['a BigInt value', { topic: 'ok', messages: [{ value: 10n }] }, TypeError, /value must be a string, a Buffer or null, got a bigint/],
    ['an object value', { topic: 'ok', messages: [{ value: { lat: 1 } }] }, TypeError, /JSON.stringify/],
    ['a BigInt key', { topic: 'ok', messages: [{ key: 1n, value: 'x' }] }, TypeError, /key must be/],
    ['a message that is not an object', { topic: 'ok', messages: ['x'] }, TypeError, /messages\[0\].*must be an object/],
    ['a header without value', { topic: 'ok', messages: [{ value: 'x', headers: { a: undefined } }] }, TypeError, /header "a" has no value/],
    ['headers as an array', { topic: 'ok', messages: [{ value: 'x', headers: ['a'] }] }, TypeError, /headers must be an object/],
    ['a bad timestamp', { topic: 'ok', messages: [{ value: 'x', timestamp: 'yesterday' }] }, TypeError, /timestamp/],
    ['a fractional partition', { topic: 'ok', messages: [{ value: 'x', partition: 1.5 }] }, TypeError, /partition must be an integer/],
    ['a partition that does not exist', { topic: 'ok', messages: [{ value: 'x', partition: 2 }] }, KafkaJSProtocolError, /has partitions 0 to 1.*partition number 2/],
    ['a negative partition', { topic: 'ok', messages: [{ value: 'x', partition: -1 }] }, KafkaJSProtocolError, /UNKNOWN|does not host/],
    ['a message over max.message.bytes', { topic: 'ok', messages: [{ value: Buffer.alloc(1024 * 1024 + 1) }] }, KafkaJSProtocolError, /max.message.bytes 1048576/],
    ['an unknown codec', { topic: 'ok', compression: 9, messages: [{ value: 'x' }] }, KafkaJSNonRetriableError, /Unsupported compression codec/],
  ]

  test.each(cases)('%s', async (_, args, Class, message) => {
    const err = await producer.send(args).then(
      () => null,
      (e) => e
    )
    expect(err).toBeInstanceOf(Class)
    expect(err.message).toMatch(message)
  })

  test('a message over the limit is MESSAGE_TOO_LARGE and not retriable', async () => {
    const err = await producer.send({ topic: 'ok', messages: [{ value: 'x' }, { value: Buffer.alloc(2 << 20) }] }).catch((e) => e)
    expect(err).toMatchObject({ type: 'MESSAGE_TOO_LARGE', code: 10, retriable: false })
  })

  test('numbers and booleans are sent as strings, as kafkajs sends them', async () => {
    await producer.send({ topic: 'coerced', messages: [{ key: 7, value: 42, partition: 0 }, { value: true, partition: 0 }] })
    const [a, b] = readPartition(dataDir, 'coerced', 0)
    expect([a.key.toString(), a.value.toString(), b.value.toString()]).toEqual(['7', '42', 'true'])
  })

  test('an unknown topic with auto-creation off is UNKNOWN_TOPIC_OR_PARTITION, retried as kafkajs retries it', async () => {
    const strict = kafka.producer({ allowAutoTopicCreation: false, retry: { retries: 2, initialRetryTime: 5 } })
    await strict.connect()
    const err = await strict.send({ topic: 'never-created', messages: [{ value: 'x' }] }).catch((e) => e)
    expect(err).toMatchObject({ name: 'KafkaJSNumberOfRetriesExceeded', retryCount: 2 })
    expect(err.cause).toMatchObject({ type: 'UNKNOWN_TOPIC_OR_PARTITION', retriable: true, message: expect.stringContaining('never-created') })
    await strict.disconnect()
  })

  test('broker options are checked', () => {
    expect(() => new Kafka({ dataDir: tempDir(), fsync: 'yes' })).toThrow(/fsync must be a boolean/)
    expect(() => new Kafka({ dataDir: tempDir(), segmentBytes: -5 })).toThrow(/segmentBytes must be an integer/)
    expect(() => new Kafka({ dataDir: 42 })).toThrow(/dataDir must be a non-empty string/)
    expect(() => new Kafka({ dataDir: tempDir(), requestTimeout: '1s' })).toThrow(/requestTimeout must be an integer number of milliseconds of at least 1, got string "1s"/)
    expect(() => new Kafka({ dataDir: tempDir(), requestTimeout: 0 })).toThrow(/requestTimeout must be/)
    expect(() => new Kafka({ dataDir: tempDir(), enforceRequestTimeout: 'no' })).toThrow(/enforceRequestTimeout must be a boolean, got string "no"/)
    expect(() => new Kafka({ dataDir: tempDir(), cleanerBackoffMs: -1 })).toThrow(/cleanerBackoffMs must be an integer of at least 0, got number -1/)
    expect(() => new Kafka({ dataDir: tempDir(), cleanerDedupeBufferSize: (1 << 20) - 1 })).toThrow(/cleanerDedupeBufferSize must be an integer of at least 1048576/)
    expect(() => new Kafka({ dataDir: tempDir(), cleanerIoMaxBytesPerSecond: Infinity })).toThrow(/cleanerIoMaxBytesPerSecond must be a number of at least 0 \(0 for unthrottled\)/)
    expect(() => new Kafka({ dataDir: tempDir(), cleanerIoMaxBytesPerSecond: '1mb' })).toThrow(/cleanerIoMaxBytesPerSecond must be a number/)
    expect(() => new Kafka({ dataDir: tempDir(), cleanerBackoffMs: 0, cleanerDedupeBufferSize: 1 << 20, cleanerIoMaxBytesPerSecond: 0.5 })).not.toThrow()
  })

  test('a broker with auto-creation off refuses unknown topics for every producer', async () => {
    const strict = new Kafka({ dataDir: tempDir(), autoCreateTopics: false, logLevel: logLevel.NOTHING, retry: { retries: 0 } })
    const p = strict.producer()
    await p.connect()
    // retries: 0 still ends in KafkaJSNumberOfRetriesExceeded, as with kafkajs.
    const err = await p.send({ topic: 'nope', messages: [{ value: 'x' }] }).catch((e) => e)
    expect(err).toMatchObject({ name: 'KafkaJSNumberOfRetriesExceeded', retryCount: 0, cause: expect.objectContaining({ type: 'UNKNOWN_TOPIC_OR_PARTITION' }) })
    await p.disconnect()
  })
})
