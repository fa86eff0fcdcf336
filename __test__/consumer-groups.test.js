'use strict'

const { setup, produce, startConsumer, values, waitFor } = require('./consumer-helpers')

const spread = (n, prefix) => Array.from({ length: n }, (_, i) => ({ key: `rider-${i}`, value: `${prefix}${i}` }))

async function describeGroup(kafka, groupId) {
  const admin = kafka.admin()
  const { groups } = await admin.describeGroups([groupId])
  return groups[0]
}

const ownedCounts = (g) => g.members.map((m) => Object.values(m.assignment).flat().length).sort()

describe('consumer groups', () => {
  test('2. four partitions, five consumers: one idle, and it takes over when an owner leaves', async () => {
    const { kafka } = setup()
    await kafka.admin().createTopics({ topics: [{ topic: 'rider-updates', numPartitions: 4 }] })
    const cs = []
    for (let i = 0; i < 5; i++) cs.push(await startConsumer(kafka, { groupId: 'db-writer', topics: ['rider-updates'] }))
    await waitFor(async () => {
      const g = await describeGroup(kafka, 'db-writer')
      return g.state === 'Stable' && g.members.length === 5 && ownedCounts(g).join() === '0,1,1,1,1'
    }, { what: 'four owners and one idle member' })

    await produce(kafka, 'rider-updates', spread(200, 'a'))
    const total = () => cs.reduce((n, c) => n + c.got.length, 0)
    await waitFor(() => total() >= 200, { what: '200 messages' })
    const g = await describeGroup(kafka, 'db-writer')
    const idle = g.members.find((m) => Object.values(m.assignment).flat().length === 0)
    const owner = g.members.find((m) => Object.values(m.assignment).flat().length === 1)
    const byId = (id) => cs.find((c) => c.consumer.memberId === id)
    expect(byId(idle.memberId).got).toHaveLength(0)

    await byId(owner.memberId).consumer.disconnect()
    await waitFor(async () => {
      const g2 = await describeGroup(kafka, 'db-writer')
      return g2.members.length === 4 && ownedCounts(g2).join() === '1,1,1,1'
    }, { what: 'the idle member to take over' })
    await produce(kafka, 'rider-updates', spread(200, 'b'))
    await waitFor(() => total() >= 400, { what: '400 messages' })
    const all = cs.flatMap((c) => values(c.got))
    expect(all).toHaveLength(400) // none twice
    expect(new Set(all).size).toBe(400) // none lost
    expect(byId(idle.memberId).got.length).toBeGreaterThan(0)
  })

  test('3. two groups each receive every message; within a group each message once', async () => {
    const { kafka } = setup()
    await kafka.admin().createTopics({ topics: [{ topic: 'rider-updates', numPartitions: 3 }] })
    const db = [await startConsumer(kafka, { groupId: 'db-writer', topics: ['rider-updates'] }), await startConsumer(kafka, { groupId: 'db-writer', topics: ['rider-updates'] })]
    const map = [await startConsumer(kafka, { groupId: 'live-map', topics: ['rider-updates'] }), await startConsumer(kafka, { groupId: 'live-map', topics: ['rider-updates'] })]
    await produce(kafka, 'rider-updates', spread(300, 'm'))
    const got = (group) => group.flatMap((c) => values(c.got))
    await waitFor(() => got(db).length >= 300 && got(map).length >= 300, { what: 'both groups to receive everything' })
    for (const group of [db, map]) {
      expect(got(group)).toHaveLength(300)
      expect(new Set(got(group)).size).toBe(300)
    }
  })

  test('a clean rebalance delivers no duplicates while messages keep flowing', async () => {
    const { kafka } = setup()
    await kafka.admin().createTopics({ topics: [{ topic: 'flow', numPartitions: 6 }] })
    const producer = kafka.producer()
    await producer.connect()
    const cs = [await startConsumer(kafka, { groupId: 'g', topics: ['flow'] })]
    let sent = 0
    for (let round = 0; round < 30; round++) {
      await producer.send({ topic: 'flow', messages: spread(20, `r${round}-`) })
      sent += 20
      if (round === 5 || round === 15) cs.push(await startConsumer(kafka, { groupId: 'g', topics: ['flow'] }))
      if (round === 22) await cs[0].consumer.disconnect()
      await new Promise((r) => setImmediate(r))
    }
    const all = () => cs.flatMap((c) => values(c.got))
    await waitFor(() => all().length >= sent, { what: `${sent} messages` })
    expect(all()).toHaveLength(sent)
    expect(new Set(all()).size).toBe(sent)
    await producer.disconnect()
  })

  test('7a. a member that lost a partition cannot commit for it', async () => {
    const { kafka } = setup()
    await kafka.admin().createTopics({ topics: [{ topic: 'fenced', numPartitions: 2 }] })
    const a = await startConsumer(kafka, { groupId: 'g', topics: ['fenced'] })
    await waitFor(() => (a.owned().fenced || []).length === 2)
    const b = await startConsumer(kafka, { groupId: 'g', topics: ['fenced'] })
    await waitFor(() => (b.owned().fenced || []).length === 1, { what: 'b to get a partition' })
    const lost = b.owned().fenced[0]
    const err = await a.consumer.commitOffsets([{ topic: 'fenced', partition: lost, offset: '1' }]).catch((e) => e)
    expect(err).toMatchObject({ name: 'KafkaJSProtocolError', type: 'ILLEGAL_GENERATION' })
    const kept = a.owned().fenced[0]
    await a.consumer.commitOffsets([{ topic: 'fenced', partition: kept, offset: '0' }])
  })

  test('7b. a stuck handler loses its partitions after rebalanceTimeout and its commit is refused', async () => {
    const { kafka } = setup()
    await kafka.admin().createTopics({ topics: [{ topic: 'stuck', numPartitions: 1 }] })
    await produce(kafka, 'stuck', [{ value: 'slow' }, { value: 'next' }])
    let release
    const stuckAt = new Promise((resolve) => {
      release = resolve
    })
    let entered = false
    const a = await startConsumer(kafka, {
      groupId: 'g',
      topics: ['stuck'],
      options: { rebalanceTimeout: 300 },
      onMessage: async () => {
        if (!entered) {
          entered = true
          await stuckAt
        }
      },
    })
    await waitFor(() => entered, { what: 'the handler to start' })
    let b
    try {
      b = await startConsumer(kafka, { groupId: 'g', topics: ['stuck'], options: { rebalanceTimeout: 300 } })
      // b takes the partition and gets the message a is stuck on (at-least-once).
      await waitFor(() => values(b.got).join() === 'slow,next', { timeoutMs: 5000, what: 'b to take over' })
      const g = await describeGroup(kafka, 'g')
      expect(g.members.map((m) => m.memberId)).toEqual([b.consumer.memberId])
    } finally {
      release()
    }
    // a's late handler finishes; its commit is fenced and it rejoins without redelivering
    // what b already committed.
    await waitFor(async () => (await describeGroup(kafka, 'g')).members.length === 2, { what: 'a to rejoin' })
    expect(values(a.got)).toEqual(['slow'])
    const [{ partitions }] = await kafka.admin().fetchOffsets({ groupId: 'g', topics: ['stuck'] })
    expect(partitions[0].offset).toBe('2')
  })

  test("a fenced eachBatch member sees isStale() turn true once its partition has moved", async () => {
    const { kafka } = setup()
    await kafka.admin().createTopics({ topics: [{ topic: 'stale', numPartitions: 1 }] })
    await produce(kafka, 'stale', [{ value: 'only' }])
    const staleness = []
    const a = await startConsumer(kafka, {
      groupId: 'g',
      topics: ['stale'],
      options: { rebalanceTimeout: 300 },
      run: {
        eachMessage: undefined,
        eachBatch: async ({ isStale }) => {
          staleness.push(isStale())
          // A long batch that checks, as kafkajs's docs advise, whether to go on.
          await waitFor(() => isStale(), { timeoutMs: 10000, what: 'the batch to go stale' })
          staleness.push(isStale())
        },
      },
    })
    await waitFor(() => staleness.length === 1, { what: 'the batch to start' })
    const b = await startConsumer(kafka, { groupId: 'g', topics: ['stale'], options: { rebalanceTimeout: 300 } })
    await waitFor(() => values(b.got).join() === 'only', { timeoutMs: 10000, what: 'b to take over' })
    await waitFor(() => staleness.length === 2, { what: 'a to see it' })
    expect(staleness).toEqual([false, true])
    await a.consumer.disconnect()
  })

  test('8. a RegExp subscription receives messages from a topic created after run', async () => {
    const { kafka } = setup()
    await kafka.admin().createTopics({ topics: [{ topic: 'rider-north' }] })
    const c = await startConsumer(kafka, { groupId: 'regex', topics: [/^rider-/] })
    await produce(kafka, 'rider-north', [{ value: 'n1' }])
    await waitFor(() => c.got.length === 1)
    await kafka.admin().createTopics({ topics: [{ topic: 'rider-south', numPartitions: 2 }, { topic: 'other' }] })
    await produce(kafka, 'rider-south', [{ value: 's1', partition: 1 }])
    await produce(kafka, 'other', [{ value: 'not-mine' }])
    await waitFor(() => values(c.got).includes('s1'), { what: 'the new topic' })
    expect(values(c.got)).not.toContain('not-mine')
    expect(c.owned()).toEqual({ 'rider-north': [0], 'rider-south': [0, 1] })
  })

  test('admin group methods: list, describe, fetch/set/reset offsets, delete', async () => {
    const { kafka } = setup()
    const admin = kafka.admin()
    await admin.createTopics({ topics: [{ topic: 'offs', numPartitions: 2 }] })
    await produce(kafka, 'offs', spread(10, 'o'))
    const c = await startConsumer(kafka, { groupId: 'ops', topics: ['offs'] })
    await waitFor(() => c.got.length === 10)
    expect((await admin.listGroups()).groups).toEqual([{ groupId: 'ops', protocolType: 'consumer' }])
    const g = await describeGroup(kafka, 'ops')
    expect(g).toMatchObject({ groupId: 'ops', state: 'Stable', protocolType: 'consumer', protocol: 'RoundRobinAssigner' })
    await expect(admin.resetOffsets({ groupId: 'ops', topic: 'offs', earliest: true })).rejects.toThrow(/no running instances/)
    await expect(admin.deleteGroups(['ops'])).rejects.toMatchObject({ name: 'KafkaJSDeleteGroupsError' })
    await c.consumer.disconnect()
    const high = await admin.fetchTopicOffsets('offs')
    const fetched = await admin.fetchOffsets({ groupId: 'ops', topics: ['offs'] })
    expect(fetched[0].partitions.map((p) => p.offset)).toEqual(high.map((p) => p.high))
    await admin.resetOffsets({ groupId: 'ops', topic: 'offs', earliest: true })
    // As kafkajs commits it: the EARLIEST sentinel, which a consumer resolves when it starts
    // (and fetchOffsets({ resolveOffsets: true }) resolves and commits).
    expect((await admin.fetchOffsets({ groupId: 'ops', topics: ['offs'] }))[0].partitions.map((p) => p.offset)).toEqual(['-2', '-2'])
    await admin.setOffsets({ groupId: 'ops', topic: 'offs', partitions: [{ partition: 1, offset: '2' }] })
    expect((await admin.fetchOffsets({ groupId: 'ops' }))[0].partitions[1].offset).toBe('2')
    // A consumer of the group starts where the offsets were set.
    const again = await startConsumer(kafka, { groupId: 'ops', topics: ['offs'] })
    // Partition 0 from the start, partition 1 from offset 2: 10 - 2 messages.
    await waitFor(() => again.got.length === 8, { what: 'the re-read from the set offsets' })
    expect(again.got.filter((g) => g.startsWith('1:')).map((g) => Number(g.split(':')[1])).every((o) => o >= 2)).toBe(true)
    await again.consumer.disconnect()
    expect(await admin.deleteGroups(['ops'])).toEqual([{ groupId: 'ops', errorCode: 0 }])
    expect((await admin.listGroups()).groups).toEqual([])
    expect((await admin.fetchOffsets({ groupId: 'ops', topics: ['offs'] }))[0].partitions[0].offset).toBe('-1')
    await admin.disconnect()
  })

  test('a topic deleted while consumed drops out; the consumer keeps consuming the others', async () => {
    const { kafka } = setup()
    const admin = kafka.admin()
    await admin.createTopics({ topics: [{ topic: 'keep' }, { topic: 'drop' }] })
    const c = await startConsumer(kafka, { groupId: 'g', topics: [/^(keep|drop)$/] })
    await produce(kafka, 'drop', [{ value: 'd1' }])
    await waitFor(() => values(c.got).includes('d1'))
    await admin.deleteTopics({ topics: ['drop'] })
    await produce(kafka, 'keep', [{ value: 'k1' }])
    await waitFor(() => values(c.got).includes('k1'), { what: 'the remaining topic to flow' })
    await waitFor(() => JSON.stringify(c.owned()) === JSON.stringify({ keep: [0] }), { what: 'the deleted topic to leave the assignment' })
  })

  test('the run loop keeps a member alive without heartbeat() calls from a long handler', async () => {
    const { kafka } = setup()
    await produce(kafka, 'slow', [{ value: 'x' }, { value: 'y' }])
    const c = await startConsumer(kafka, {
      groupId: 'g',
      topics: ['slow'],
      // Each handler outlasts the session timeout; only the loop's own timer keeps it in.
      options: { sessionTimeout: 600, rebalanceTimeout: 5000 },
      onMessage: () => new Promise((r) => setTimeout(r, 1300)),
    })
    await waitFor(() => c.got.length === 2, { timeoutMs: 8000 })
    const g = await describeGroup(kafka, 'g')
    expect(g.members.map((m) => m.memberId)).toEqual([c.consumer.memberId])
    expect(c.joins).toHaveLength(1) // never kicked out, never rejoined
  })
})
