'use strict'

const fs = require('node:fs')
const path = require('node:path')
const { setup, produce, startConsumer, values, waitFor, track, FAST } = require('./consumer-helpers')
const { runNode } = require('./helpers')

describe('consumer durability and failures', () => {
  test('5a. close and reopen: the group resumes at its committed offset, replaying nothing it committed', async () => {
    const first = setup()
    await first.kafka.admin().createTopics({ topics: [{ topic: 'resume', numPartitions: 2 }] })
    await produce(first.kafka, 'resume', Array.from({ length: 50 }, (_, i) => ({ key: `k${i}`, value: `old${i}` })))
    const c1 = await startConsumer(first.kafka, { groupId: 'db-writer', topics: ['resume'] })
    await waitFor(() => c1.got.length === 50)
    await c1.consumer.disconnect()
    await first.kafka.close()

    const second = setup({ dataDir: first.dataDir })
    await produce(second.kafka, 'resume', Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `new${i}` })))
    const c2 = await startConsumer(second.kafka, { groupId: 'db-writer', topics: ['resume'] })
    await waitFor(() => c2.got.length >= 10)
    // Give a replay the chance to show up: wait for the consumer to go idle at the end.
    await waitFor(async () => {
      const offsets = await second.kafka.admin().fetchOffsets({ groupId: 'db-writer', topics: ['resume'] })
      return offsets[0].partitions.reduce((n, p) => n + Number(p.offset), 0) === 60
    })
    expect(values(c2.got).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `new${i}`).sort())
    await second.kafka.close()
  })

  test('5b. kill -9 of a consuming process loses nothing (at-least-once)', async () => {
    const { kafka, dataDir } = setup()
    await kafka.admin().createTopics({ topics: [{ topic: 'work', numPartitions: 3 }] })
    const total = 600
    await produce(kafka, 'work', Array.from({ length: total }, (_, i) => ({ key: `k${i}`, value: `w${i}` })))
    await kafka.close() // the child process opens the directory
    const doneFile = path.join(dataDir, 'handled-by-child.txt')
    const r = await runNode([path.join(__dirname, 'fixtures', 'consumer-child.js'), dataDir, doneFile], {
      timeoutMs: 20000,
      onLine: (line, child) => {
        const m = /^done (\d+)$/.exec(line)
        if (m && Number(m[1]) >= 250 && !child.killed) child.kill('SIGKILL')
      },
    })
    expect(r.signal).toBe('SIGKILL')
    const doneInChild = new Set(fs.readFileSync(doneFile, 'utf8').split('\n').filter(Boolean))
    expect(doneInChild.size).toBeGreaterThanOrEqual(250)
    const after = setup({ dataDir })
    const c = await startConsumer(after.kafka, { groupId: 'workers', topics: ['work'] })
    await waitFor(() => new Set([...doneInChild, ...values(c.got)]).size === total, { timeoutMs: 10000, what: 'every message handled' })
    // The restart picked up from committed offsets: far less than everything was replayed.
    expect(c.got.length).toBeLessThan(total)
    await after.kafka.close()
  }, 40000)

  test('6a. a throwing handler gets its message again and later messages wait for it', async () => {
    const { kafka } = setup()
    await kafka.admin().createTopics({ topics: [{ topic: 'flaky', numPartitions: 2 }] })
    await produce(kafka, 'flaky', [
      ...['a0', 'a1', 'a2', 'a3'].map((value) => ({ value, partition: 0 })),
      ...['b0', 'b1'].map((value) => ({ value, partition: 1 })),
    ])
    const attempts = []
    let failures = 0
    const consumer = track(kafka.consumer({ groupId: 'flaky', ...FAST, retry: { initialRetryTime: 100, retries: 3 } }))
    const crashes = []
    consumer.on(consumer.events.CRASH, (e) => crashes.push(e))
    let rebalances = 0
    let joins = 0
    consumer.on(consumer.events.REBALANCING, () => rebalances++)
    consumer.on(consumer.events.GROUP_JOIN, () => joins++)
    await consumer.connect()
    await consumer.subscribe({ topic: 'flaky', fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message }) => {
        const v = message.value.toString()
        attempts.push(v)
        if (v === 'a1' && failures < 2) {
          failures++
          throw new Error('database is down')
        }
      },
    })
    await waitFor(() => attempts.includes('a3') && attempts.includes('b1'), { what: 'every message' })
    const p0 = attempts.filter((v) => v.startsWith('a'))
    expect(p0).toEqual(['a0', 'a1', 'a1', 'a1', 'a2', 'a3'])
    // The other partition was not held up by a1's backoff.
    expect(attempts.indexOf('b1')).toBeLessThan(attempts.lastIndexOf('a1'))
    expect(crashes).toHaveLength(0)
    expect(rebalances).toBe(0)
    expect(joins).toBe(1)
    const [{ partitions }] = await kafka.admin().fetchOffsets({ groupId: 'flaky', topics: ['flaky'] })
    await waitFor(async () => {
      const [{ partitions: ps }] = await kafka.admin().fetchOffsets({ groupId: 'flaky', topics: ['flaky'] })
      return ps[0].offset === '4'
    })
    void partitions
  })

  test('6b. when retries run out the consumer emits CRASH and restarts from the committed offset', async () => {
    const { kafka } = setup()
    await produce(kafka, 'poison', [{ value: 'ok' }, { value: 'bad' }, { value: 'after' }])
    const attempts = []
    let healed = false
    const consumer = track(kafka.consumer({ groupId: 'p', ...FAST, retry: { initialRetryTime: 30, retries: 1 } }))
    const crashes = []
    consumer.on(consumer.events.CRASH, (e) => {
      crashes.push(e.payload)
      healed = true
    })
    await consumer.connect()
    await consumer.subscribe({ topic: 'poison', fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ message }) => {
        attempts.push(message.value.toString())
        if (message.value.toString() === 'bad' && !healed) throw new Error('cannot parse')
      },
    })
    await waitFor(() => attempts.includes('after'), { what: 'recovery after the crash' })
    expect(crashes).toHaveLength(1)
    expect(crashes[0]).toMatchObject({ groupId: 'p', restart: true })
    expect(crashes[0].error.name).toBe('KafkaJSNumberOfRetriesExceeded')
    expect(attempts).toEqual(['ok', 'bad', 'bad', 'bad', 'after'])
  })

  test('6c. restartOnFailure returning false stops the consumer', async () => {
    const { kafka } = setup()
    await produce(kafka, 'fatal', [{ value: 'bad' }])
    const consumer = track(
      kafka.consumer({ groupId: 'f', ...FAST, retry: { initialRetryTime: 20, retries: 0, restartOnFailure: async () => false } })
    )
    const events = []
    consumer.on(consumer.events.CRASH, (e) => events.push(['crash', e.payload.restart]))
    consumer.on(consumer.events.STOP, () => events.push(['stop']))
    await consumer.connect()
    await consumer.subscribe({ topic: 'fatal', fromBeginning: true })
    await consumer.run({
      eachMessage: async () => {
        throw new Error('always')
      },
    })
    await waitFor(() => events.length === 2, { what: 'crash and stop' })
    expect(events).toEqual([['crash', false], ['stop']])
    // Nothing was committed past the failed message.
    const [{ partitions }] = await kafka.admin().fetchOffsets({ groupId: 'f', topics: ['fatal'] })
    expect(partitions[0].offset).toBe('-1')
  })
})
