'use strict'

// Consumer, producer and admin behaviour that kafkajs 2.2.4 code relies on: seek inside a
// handler and right after run(), pause/resume by partition, destructured methods, the
// consumer-protocol bytes of describeGroups, event payloads and Batch's methods, and
// where an out-of-range position resets to.

const { AssignerProtocol } = require('..')
const { setup, produce, startConsumer, waitFor, FAST, track } = require('./consumer-helpers')

const numbered = (n, prefix = 'm') => Array.from({ length: n }, (_, i) => ({ value: `${prefix}${i}` }))

async function topicWith(kafka, topic, partitions, perPartition) {
  const admin = kafka.admin()
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }] })
  const producer = kafka.producer()
  await producer.connect()
  for (let p = 0; p < partitions; p++) {
    await producer.send({ topic, messages: Array.from({ length: perPartition }, (_, i) => ({ partition: p, value: `p${p}-${i}` })) })
  }
  await producer.disconnect()
  await admin.disconnect()
}

describe('seek', () => {
  test('inside eachMessage skips the rest of the batch and resumes from the sought offset', async () => {
    const { kafka } = setup()
    await topicWith(kafka, 'seek-in', 1, 20)
    const seen = []
    let sought = false
    const consumer = track(kafka.consumer({ groupId: 'g', ...FAST }))
    await consumer.connect()
    await consumer.subscribe({ topic: 'seek-in', fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(Number(message.offset))
        if (message.offset === '3' && !sought) {
          sought = true
          consumer.seek({ topic: 'seek-in', partition: 0, offset: '15' })
        }
      },
    })
    await waitFor(() => seen.includes(19), { what: 'the end of the partition' })
    expect(seen).toEqual([0, 1, 2, 3, 15, 16, 17, 18, 19])
  })

  test('inside eachBatch makes the batch stale and the next batch starts at the sought offset', async () => {
    const { kafka } = setup()
    await topicWith(kafka, 'seek-batch', 1, 10)
    const batches = []
    let staleAfterSeek = null
    const consumer = track(kafka.consumer({ groupId: 'g', ...FAST }))
    await consumer.connect()
    await consumer.subscribe({ topic: 'seek-batch', fromBeginning: true })
    await consumer.run({
      eachBatch: async ({ batch, isStale }) => {
        batches.push(batch.messages.map((m) => Number(m.offset)))
        if (batches.length === 1) {
          consumer.seek({ topic: 'seek-batch', partition: 0, offset: 7 })
          staleAfterSeek = isStale()
        }
      },
    })
    await waitFor(() => batches.length === 2, { what: 'a second batch' })
    expect(staleAfterSeek).toBe(true)
    expect(batches[1]).toEqual([7, 8, 9])
  })

  test('right after run() resolves, it applies before anything is delivered', async () => {
    const { kafka } = setup()
    await topicWith(kafka, 'seek-after-run', 2, 10)
    const seen = []
    const consumer = track(kafka.consumer({ groupId: 'g', ...FAST }))
    await consumer.connect()
    await consumer.subscribe({ topic: 'seek-after-run', fromBeginning: true })
    await consumer.run({ eachMessage: async ({ partition, message }) => seen.push(`${partition}:${message.offset}`) })
    consumer.seek({ topic: 'seek-after-run', partition: 1, offset: '8' })
    await waitFor(() => seen.length === 12, { what: '12 messages' })
    expect(seen.filter((s) => s.startsWith('1:'))).toEqual(['1:8', '1:9'])
    expect(seen.filter((s) => s.startsWith('0:'))).toHaveLength(10)
  })
})

describe('pause and resume', () => {
  test('resuming one partition of a topic paused whole resumes only that partition', async () => {
    const { kafka } = setup()
    await topicWith(kafka, 'pr', 3, 2)
    const consumer = track(kafka.consumer({ groupId: 'g', ...FAST }))
    await consumer.connect()
    await consumer.subscribe({ topic: 'pr', fromBeginning: true })
    expect(() => consumer.pause([{ topic: 'pr' }])).toThrow(/Consumer group was not initialized, consumer#run must be called first/)
    expect(consumer.paused()).toEqual([])
    const seen = []
    await consumer.run({ eachMessage: async ({ partition, message }) => seen.push(`${partition}:${message.offset}`) })
    consumer.pause([{ topic: 'pr' }])
    expect(consumer.paused()).toEqual([{ topic: 'pr', partitions: [0, 1, 2] }])
    consumer.resume([{ topic: 'pr', partitions: [1] }])
    expect(consumer.paused()).toEqual([{ topic: 'pr', partitions: [0, 2] }])
    await waitFor(() => seen.length === 2, { what: 'partition 1' })
    // Partitions 0 and 2 stay paused: new messages there wait.
    await produce(kafka, 'pr', [{ partition: 1, value: 'x' }, { partition: 0, value: 'y' }])
    await waitFor(() => seen.length === 3, { what: 'the new message of partition 1' })
    expect(seen.every((s) => s.startsWith('1:'))).toBe(true)
    consumer.resume([{ topic: 'pr' }])
    expect(consumer.paused()).toEqual([])
    await waitFor(() => seen.length === 8, { what: 'everything after resume' })
    expect(() => consumer.pause([{ topic: 'pr', partitions: ['x'] }])).toThrow(/Array of valid partitions required/)
    expect(() => consumer.pause([{}])).toThrow(/Invalid topic/)
  })
})

test('methods work destructured, as kafkajs clients are objects of closures', async () => {
  const { kafka } = setup()
  const { connect: connectAdmin, createTopics, disconnect: disconnectAdmin, fetchTopicOffsets } = kafka.admin()
  await connectAdmin()
  await createTopics({ topics: [{ topic: 'd', numPartitions: 1 }] })
  const { connect, send, disconnect } = kafka.producer()
  await connect()
  await send({ topic: 'd', messages: [{ value: 'one' }] })
  await disconnect()
  const consumer = track(kafka.consumer({ groupId: 'g', ...FAST }))
  const { connect: c, subscribe, run, stop, pause, paused } = consumer
  await c()
  await subscribe({ topic: 'd', fromBeginning: true })
  const got = []
  await run({ eachMessage: async ({ message }) => got.push(message.value.toString()) })
  pause([{ topic: 'd' }])
  expect(paused()).toEqual([{ topic: 'd', partitions: [0] }])
  await stop()
  expect((await fetchTopicOffsets('d'))[0].high).toBe('1')
  await disconnectAdmin()
})

test('describeGroups reports the consumer-protocol bytes AssignerProtocol decodes', async () => {
  const { kafka } = setup()
  await topicWith(kafka, 'ap', 3, 1)
  const c = await startConsumer(kafka, { groupId: 'described', topics: ['ap'] })
  await waitFor(() => c.got.length === 3)
  const admin = kafka.admin()
  const { groups } = await admin.describeGroups(['described'])
  const [member] = groups[0].members
  expect(AssignerProtocol.MemberAssignment.decode(member.memberAssignment)).toMatchObject({ version: 0, assignment: { ap: [0, 1, 2] } })
  expect(AssignerProtocol.MemberMetadata.decode(member.memberMetadata)).toMatchObject({ version: 0, topics: ['ap'] })
  expect(member.clientHost).toBe('/127.0.0.1')
  const described = await c.consumer.describeGroup()
  expect(AssignerProtocol.MemberAssignment.decode(described.members[0].memberAssignment).assignment).toEqual({ ap: [0, 1, 2] })
  await admin.disconnect()
})

test('FETCH_START carries { nodeId } and batches have kafkajs methods', async () => {
  const { kafka } = setup()
  await topicWith(kafka, 'ev', 1, 3)
  const consumer = track(kafka.consumer({ groupId: 'g', ...FAST }))
  const starts = []
  consumer.on(consumer.events.FETCH_START, (e) => starts.push(e.payload))
  await consumer.connect()
  await consumer.subscribe({ topic: 'ev', fromBeginning: true })
  const checks = []
  await consumer.run({
    eachBatch: async ({ batch }) => {
      checks.push({
        isEmpty: batch.isEmpty(),
        isEmptyIncludingFiltered: batch.isEmptyIncludingFiltered(),
        isEmptyControlRecord: batch.isEmptyControlRecord(),
        isEmptyDueToLogCompactedMessages: batch.isEmptyDueToLogCompactedMessages(),
        firstOffset: batch.firstOffset(),
        lastOffset: batch.lastOffset(),
        offsetLag: batch.offsetLag(),
        offsetLagLow: batch.offsetLagLow(),
        fetchedOffset: batch.fetchedOffset,
      })
    },
  })
  await waitFor(() => checks.length === 1 && starts.length > 0)
  expect(starts[0]).toEqual({ nodeId: 0 })
  expect(checks[0]).toEqual({
    isEmpty: false,
    isEmptyIncludingFiltered: false,
    isEmptyControlRecord: false,
    isEmptyDueToLogCompactedMessages: false,
    firstOffset: '0',
    lastOffset: '2',
    offsetLag: '0',
    offsetLagLow: '2',
    fetchedOffset: '0',
  })
})

describe('a position out of range resets as kafkajs does', () => {
  for (const fromBeginning of [true, false]) {
    test(`to the ${fromBeginning ? 'earliest' : 'latest'} offset with fromBeginning: ${fromBeginning}`, async () => {
      const warnings = []
      const logCreator = () => ({ log }) => warnings.push(log.message)
      const { kafka } = setup({ logLevel: 2, logCreator })
      await topicWith(kafka, 'oor', 1, 10)
      const seen = []
      const consumer = track(kafka.consumer({ groupId: `g-${fromBeginning}`, ...FAST }))
      await consumer.connect()
      await consumer.subscribe({ topic: 'oor', fromBeginning })
      await consumer.run({ eachMessage: async ({ message }) => seen.push(Number(message.offset)) })
      if (fromBeginning) await waitFor(() => seen.length === 10)
      // The consumer is sent back to offset 0, and the records before 5 go away under it.
      consumer.pause([{ topic: 'oor' }])
      consumer.seek({ topic: 'oor', partition: 0, offset: 0 })
      const admin = kafka.admin()
      await admin.deleteTopicRecords({ topic: 'oor', partitions: [{ partition: 0, offset: '5' }] })
      seen.length = 0
      consumer.resume([{ topic: 'oor' }])
      await waitFor(() => warnings.some((w) => /Offset out of range, resetting/.test(w)), { what: 'the reset' })
      await produce(kafka, 'oor', numbered(2, 'new'))
      await waitFor(() => seen.includes(11), { what: 'the new messages' })
      expect(seen).toEqual(fromBeginning ? [5, 6, 7, 8, 9, 10, 11] : [10, 11])
      await admin.disconnect()
    })
  }
})

test('disconnect() made elsewhere while a handler runs waits for it, commits it and leaves', async () => {
  const { kafka } = setup()
  await topicWith(kafka, 'wait', 1, 3)
  let entered
  const inHandler = new Promise((r) => (entered = r))
  let release
  const released = new Promise((r) => (release = r))
  const consumer = track(kafka.consumer({ groupId: 'g', ...FAST }))
  await consumer.connect()
  await consumer.subscribe({ topic: 'wait', fromBeginning: true })
  const handled = []
  await consumer.run({
    eachMessage: async ({ message }) => {
      if (message.offset === '1') {
        entered()
        await released
      }
      handled.push(message.offset)
    },
  })
  await inHandler
  let disconnected = false
  const d = consumer.disconnect().then(() => (disconnected = true))
  await new Promise((r) => setImmediate(r))
  expect(disconnected).toBe(false) // it waits for the handler, as kafkajs's does
  release()
  await d
  expect(handled).toEqual(['0', '1'])
  const admin = kafka.admin()
  expect((await admin.describeGroups(['g'])).groups[0].members).toEqual([])
  const [{ partitions }] = await admin.fetchOffsets({ groupId: 'g', topics: ['wait'] })
  expect(partitions[0].offset).toBe('2')
  await admin.disconnect()
})
