'use strict'

const { KafkaJSNonRetriableError, PartitionAssigners } = require('..')
const { setup, produce, startConsumer, values, waitFor, FAST, track } = require('./consumer-helpers')

const messages = (n, prefix = 'm') => Array.from({ length: n }, (_, i) => ({ key: `rider-${i % 7}`, value: `${prefix}${i}` }))

describe('consumer', () => {
  test('1. one consumer in a group receives every partition and every message', async () => {
    const { kafka } = setup()
    await kafka.admin().createTopics({ topics: [{ topic: 'rider-updates', numPartitions: 4 }] })
    await produce(kafka, 'rider-updates', messages(100))
    const c = await startConsumer(kafka, { groupId: 'db-writer', topics: ['rider-updates'] })
    await waitFor(() => c.got.length >= 100, { what: '100 messages' })
    expect(c.owned()).toEqual({ 'rider-updates': [0, 1, 2, 3] })
    expect(c.joinEvents[0]).toMatchObject({ groupId: 'db-writer', memberId: c.consumer.memberId, isLeader: true, leaderId: c.consumer.memberId })
    expect(new Set(values(c.got)).size).toBe(100)
    // Messages appended later arrive too, woken by the append.
    await produce(kafka, 'rider-updates', [{ key: 'rider-1', value: 'late' }])
    await waitFor(() => c.got.length === 101, { what: 'the late message' })
    await c.consumer.disconnect()
    await kafka.close()
  })

  test('without fromBeginning a new group starts at the latest offset', async () => {
    const { kafka } = setup()
    await kafka.admin().createTopics({ topics: [{ topic: 'latest', numPartitions: 2 }] })
    await produce(kafka, 'latest', messages(20, 'old'))
    const c = await startConsumer(kafka, { groupId: 'late-joiner', topics: ['latest'], fromBeginning: false })
    // run() has resolved: the starting positions are fixed, so this is new to the group.
    await produce(kafka, 'latest', messages(5, 'new'))
    await waitFor(() => c.got.length >= 5)
    expect(values(c.got).sort()).toEqual(['new0', 'new1', 'new2', 'new3', 'new4'])
  })

  test('4. order per key holds across many messages and partitions', async () => {
    const { kafka } = setup()
    await kafka.admin().createTopics({ topics: [{ topic: 'ordered', numPartitions: 5 }] })
    const producer = kafka.producer()
    await producer.connect()
    const sent = []
    for (let round = 0; round < 20; round++) {
      const batch = Array.from({ length: 50 }, (_, i) => ({ key: `rider-${i % 13}`, value: `${i % 13}:${round * 50 + i}` }))
      sent.push(...batch)
      await producer.send({ topic: 'ordered', messages: batch })
    }
    const c = await startConsumer(kafka, { groupId: 'map', topics: ['ordered'] })
    await waitFor(() => c.got.length >= 1000, { what: '1000 messages' })
    const perKey = {}
    for (const v of values(c.got)) {
      const [k, seq] = v.split(':').map(Number)
      if (perKey[k] !== undefined) expect(seq).toBeGreaterThan(perKey[k])
      perKey[k] = seq
    }
    expect(Object.keys(perKey)).toHaveLength(13)
    await c.consumer.disconnect()
    await producer.disconnect()
  })

  test('9a. seek moves the position; pause and resume stop and restart a partition', async () => {
    const { kafka } = setup()
    await kafka.admin().createTopics({ topics: [{ topic: 'seeky', numPartitions: 2 }] })
    await produce(kafka, 'seeky', Array.from({ length: 10 }, (_, i) => ({ value: `p0-${i}`, partition: 0 })))
    const c = await startConsumer(kafka, { groupId: 'seekers', topics: ['seeky'] })
    await waitFor(() => c.got.length >= 10)
    c.consumer.seek({ topic: 'seeky', partition: 0, offset: '7' })
    await waitFor(() => c.got.length >= 13, { what: 'replay from offset 7' })
    expect(values(c.got).slice(10)).toEqual(['p0-7', 'p0-8', 'p0-9'])

    c.consumer.pause([{ topic: 'seeky', partitions: [0] }])
    expect(c.consumer.paused()).toEqual([{ topic: 'seeky', partitions: [0] }])
    await produce(kafka, 'seeky', [{ value: 'while-paused', partition: 0 }, { value: 'other', partition: 1 }])
    await waitFor(() => values(c.got).includes('other'), { what: 'the unpaused partition to flow' })
    expect(values(c.got)).not.toContain('while-paused')
    c.consumer.resume([{ topic: 'seeky', partitions: [0] }])
    await waitFor(() => values(c.got).includes('while-paused'), { what: 'the resumed partition' })
    expect(c.consumer.paused()).toEqual([])
    await c.consumer.disconnect()
  })

  test('9b. eachBatch with manual resolveOffset commits only what was resolved', async () => {
    const { kafka } = setup()
    await produce(kafka, 'batchy', Array.from({ length: 10 }, (_, i) => ({ value: `b${i}` })))
    const consumer = track(kafka.consumer({ groupId: 'batcher', ...FAST }))
    await consumer.connect()
    await consumer.subscribe({ topic: 'batchy', fromBeginning: true })
    const seen = []
    let sawBatch
    await consumer.run({
      eachBatchAutoResolve: false,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        sawBatch = batch
        for (const m of batch.messages) {
          if (!isRunning() || isStale()) break
          seen.push(m.value.toString())
          if (Number(m.offset) < 6) resolveOffset(m.offset)
          await heartbeat()
        }
      },
    })
    await waitFor(() => seen.length >= 10)
    expect(sawBatch.isEmpty()).toBe(false)
    expect(sawBatch.firstOffset()).toBe('0')
    expect(sawBatch.lastOffset()).toBe('9')
    expect(sawBatch.highWatermark).toBe('10')
    expect(sawBatch.offsetLag()).toBe('0')
    expect(sawBatch.offsetLagLow()).toBe('9')
    await consumer.disconnect()
    const offsets = await kafka.admin().fetchOffsets({ groupId: 'batcher', topics: ['batchy'] })
    expect(offsets).toEqual([{ topic: 'batchy', partitions: [{ partition: 0, offset: '6', metadata: null }] }])
  })

  test('message payloads have kafkajs shapes', async () => {
    const { kafka } = setup()
    await produce(kafka, 'shapes', [{ key: 'k', value: 'v', headers: { trace: 'abc' }, timestamp: '1700000000000' }, { value: null }])
    const received = []
    const c = await startConsumer(kafka, { groupId: 'shape', topics: ['shapes'], onMessage: (p) => received.push(p) })
    await waitFor(() => received.length === 2)
    const [{ topic, partition, message, heartbeat, pause }, tomb] = received
    expect(topic).toBe('shapes')
    expect(partition).toBe(0)
    expect(typeof heartbeat).toBe('function')
    expect(typeof pause).toBe('function')
    expect(Buffer.isBuffer(message.key) && message.key.toString()).toBe('k')
    expect(message.value.toString()).toBe('v')
    expect(message.offset).toBe('0')
    expect(message.timestamp).toBe('1700000000000')
    expect(message.headers.trace).toEqual(Buffer.from('abc'))
    expect(tomb.message.value).toBeNull()
    expect(tomb.message.key).toBeNull()
    await c.consumer.disconnect()
  })

  test('autoCommitThreshold commits while a batch is still being processed', async () => {
    const { kafka } = setup()
    await produce(kafka, 'threshold', Array.from({ length: 20 }, (_, i) => ({ value: `t${i}` })))
    const commits = []
    const consumer = track(kafka.consumer({ groupId: 'th', ...FAST }))
    consumer.on(consumer.events.COMMIT_OFFSETS, (e) => commits.push(e.payload.topics[0].partitions[0].offset))
    await consumer.connect()
    await consumer.subscribe({ topic: 'threshold', fromBeginning: true })
    await consumer.run({ autoCommitThreshold: 5, eachMessage: async () => {} })
    await waitFor(() => commits.includes('20'), { what: 'all committed' })
    // Commits came every 5 resolved messages inside the one batch, not only at its end.
    expect(commits.slice(0, 4)).toEqual(['5', '10', '15', '20'])
  })

  test('commits after back-to-back batches are spaced out, the last one still made', async () => {
    const { kafka } = setup()
    await kafka.admin().createTopics({ topics: [{ topic: 'trickle', numPartitions: 1 }] })
    const commits = []
    const c = await startConsumer(kafka, { groupId: 'trickle-db', topics: ['trickle'] })
    c.consumer.on(c.consumer.events.COMMIT_OFFSETS, (e) => commits.push({ at: performance.now(), offset: e.payload.topics[0].partitions[0].offset }))
    // One message per send, each its own batch as the consumer keeps up.
    const producer = kafka.producer()
    await producer.connect()
    const start = performance.now()
    for (let i = 0; i < 300; i++) await producer.send({ topic: 'trickle', messages: [{ value: `t${i}` }] })
    await waitFor(() => commits.some((x) => x.offset === '300'), { what: 'the last offset committed' })
    const elapsed = performance.now() - start
    // A commit starts at most every 5 ms (each ends after it starts): never one per batch.
    expect(commits.length).toBeLessThanOrEqual(Math.ceil(elapsed / 5) + 1)
    const admin = kafka.admin()
    const [{ partitions }] = await admin.fetchOffsets({ groupId: 'trickle-db', topics: ['trickle'] })
    expect(partitions[0].offset).toBe('300')
    // A message handled just before a stop is committed by the time stop() returns.
    await producer.send({ topic: 'trickle', messages: [{ value: 'last' }] })
    await waitFor(() => c.got.length === 301, { what: 'the last message' })
    await c.consumer.stop()
    const [after] = await admin.fetchOffsets({ groupId: 'trickle-db', topics: ['trickle'] })
    expect(after.partitions[0].offset).toBe('301')
    await producer.disconnect()
  })

  test('disconnect() from inside a handler takes effect once the handler returns', async () => {
    const { kafka } = setup()
    await produce(kafka, 'once', [{ value: 'a' }, { value: 'b' }, { value: 'c' }])
    const consumer = track(kafka.consumer({ groupId: 'once', ...FAST }))
    const seen = []
    let stopped = false
    consumer.on(consumer.events.STOP, () => (stopped = true))
    await consumer.connect()
    await consumer.subscribe({ topic: 'once', fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.value.toString())
        await consumer.disconnect()
      },
    })
    await waitFor(() => stopped, { what: 'the consumer to stop' })
    expect(seen).toEqual(['a'])
    // What it handled was committed before it left.
    const [{ partitions }] = await kafka.admin().fetchOffsets({ groupId: 'once', topics: ['once'] })
    expect(partitions[0].offset).toBe('1')
  })

  test('10. bad input gets clear errors', async () => {
    const { kafka } = setup()
    expect(() => kafka.consumer()).toThrow(KafkaJSNonRetriableError)
    expect(() => kafka.consumer({ groupId: '' })).toThrow('groupId must be a non-empty string')
    expect(() => kafka.consumer({ groupId: 'g', partitionAssigners: [() => ({})] })).toThrow(/Custom partition assigners/)
    expect(() => kafka.consumer({ groupId: 'g', partitionAssigners: [PartitionAssigners.range] })).not.toThrow()
    const consumer = track(kafka.consumer({ groupId: 'g', ...FAST }))
    await expect(consumer.subscribe({ topic: 'x' })).rejects.toThrow('not connected')
    await consumer.connect()
    await expect(consumer.subscribe({ topic: 'bad name' })).rejects.toMatchObject({ type: 'INVALID_TOPIC_EXCEPTION' })
    await expect(consumer.subscribe({ topic: 42 })).rejects.toThrow(/has to be a String or a RegExp/)
    await expect(consumer.run({ eachMessage: async () => {} })).rejects.toThrow(/no subscriptions/)
    await consumer.subscribe({ topic: 'x', fromBeginning: true })
    expect(() => consumer.seek({ topic: 'x', partition: 0, offset: '0' })).toThrow(/consumer#run must be called first/)
    await expect(consumer.run({})).rejects.toThrow(/eachMessage or an eachBatch/)
    await consumer.run({ eachMessage: async () => {} })
    await expect(consumer.run({ eachMessage: async () => {} })).resolves.toBeUndefined() // kafkajs: a warning, not an error
    await expect(consumer.subscribe({ topic: 'y' })).rejects.toThrow('Cannot subscribe to topic while consumer is running')
    expect(() => consumer.seek({ topic: 'x', partition: 5, offset: '0' })).toThrow(/has partitions 0 to 0/)
    expect(() => consumer.seek({ topic: 'nope', partition: 0, offset: '0' })).toThrow(/unknown topic/)
    // As kafkajs: an offset that is not a long, then a negative one.
    expect(() => consumer.seek({ topic: 'x', partition: 0, offset: 'abc' })).toThrow(/Invalid offset, expected a long received abc/)
    expect(() => consumer.seek({ topic: 'x', partition: 0, offset: '-5' })).toThrow(/Offset must not be a negative number/)
    const strict = kafka.consumer({ groupId: 'g2', allowAutoTopicCreation: false, ...FAST })
    await strict.connect()
    await expect(strict.subscribe({ topic: 'never-made' })).rejects.toMatchObject({ type: 'UNKNOWN_TOPIC_OR_PARTITION' })
    await strict.disconnect()
    await consumer.disconnect()
  })
})
