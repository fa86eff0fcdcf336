'use strict'

const fs = require('node:fs')
const path = require('node:path')
const { Kafka, logLevel, KafkaJSConnectionError } = require('..')
const { tempDir, readPartition, runNode } = require('./helpers')

const fixture = (name) => path.join(__dirname, 'fixtures', name)

async function openAndRead(dataDir, topic) {
  const kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  const offsets = await admin.fetchTopicOffsets(topic)
  const records = offsets.flatMap(({ partition }) => readPartition(dataDir, topic, partition))
  return { kafka, admin, offsets, records }
}

describe('durability and lifecycle', () => {
  test('close and reopen: offsets continue where they stopped', async () => {
    const dataDir = tempDir()
    {
      const kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING })
      const producer = kafka.producer()
      await producer.connect()
      await producer.send({ topic: 'restart', messages: [{ value: 'a' }, { value: 'b' }] })
      await kafka.close()
      expect(fs.existsSync(path.join(dataDir, '.clean-shutdown'))).toBe(true)
    }
    const kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING })
    const producer = kafka.producer()
    await producer.connect()
    const [r] = await producer.send({ topic: 'restart', messages: [{ value: 'c' }] })
    expect(r.baseOffset).toBe('2')
    expect(readPartition(dataDir, 'restart', 0).map((m) => m.value.toString())).toEqual(['a', 'b', 'c'])
    await kafka.close()
  })

  test("recovery's log lines reach the application's logCreator", async () => {
    const dataDir = tempDir()
    {
      const kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING })
      const producer = kafka.producer()
      await producer.connect()
      await producer.send({ topic: 'torn', messages: [{ value: 'kept' }] })
      await kafka.close()
    }
    // A torn write at the end of the log, as a crash mid-append leaves it.
    const seg = path.join(dataDir, 'topics', 'torn', '0', '00000000000000000000.log')
    fs.appendFileSync(seg, Buffer.from([0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0x20]))
    const entries = []
    const logCreator = () => ({ level, log }) => entries.push({ level, message: log.message, fields: log.fields })
    const kafka = new Kafka({ dataDir, logLevel: logLevel.INFO, logCreator })
    const producer = kafka.producer()
    await producer.connect()
    const [r] = await producer.send({ topic: 'torn', messages: [{ value: 'next' }] })
    expect(r.baseOffset).toBe('1')
    const warning = entries.find((e) => e.level === logLevel.WARN && /cutting off bytes after the last valid batch/.test(e.message))
    expect(warning).toBeDefined()
    expect(warning.fields).toContain('00000000000000000000.log')
    await kafka.close()
  })

  test("a connect made while the last client's disconnect is still running works", async () => {
    const dataDir = tempDir()
    const a = new Kafka({ dataDir, logLevel: logLevel.NOTHING })
    const b = new Kafka({ dataDir, logLevel: logLevel.NOTHING })
    for (let i = 0; i < 10; i++) {
      const first = a.producer()
      await first.connect()
      const second = b.producer()
      // The disconnect closes the broker (last client) while the connect opens it again.
      await Promise.all([first.disconnect(), second.connect()])
      const [r] = await second.send({ topic: 'overlap', messages: [{ value: `m${i}` }] })
      expect(r.baseOffset).toBe(String(i))
      const admin = b.admin()
      await Promise.all([second.disconnect(), admin.connect()])
      await admin.disconnect()
    }
  })

  test('several Kafka objects on the same directory share one broker', async () => {
    const dataDir = tempDir()
    const a = new Kafka({ dataDir, logLevel: logLevel.NOTHING })
    const b = new Kafka({ dataDir: path.join(dataDir, '.', ''), logLevel: logLevel.NOTHING })
    const pa = a.producer()
    const pb = b.producer()
    await pa.connect()
    await pb.connect()
    await pa.send({ topic: 'shared', messages: [{ value: '1' }] })
    const [r] = await pb.send({ topic: 'shared', messages: [{ value: '2' }] })
    expect(r.baseOffset).toBe('1')
    await pa.disconnect()
    // b still works after a's client left.
    await pb.send({ topic: 'shared', messages: [{ value: '3' }] })
    await pb.disconnect()
    expect(fs.existsSync(path.join(dataDir, '.clean-shutdown'))).toBe(true)
  })

  test.each([
    ['write to the OS', 'false', 50],
    ['fsync', 'true', 1],
  ])('kill -9 of a producing process loses no acknowledged message (%s)', async (_, fsync, batch) => {
    const dataDir = tempDir()
    const target = 3000
    let acked = 0
    const result = await runNode([fixture('producer-child.js'), dataDir, fsync, String(batch)], {
      timeoutMs: 30000,
      onLine: (line, child) => {
        const m = /^ack (\d+)$/.exec(line)
        if (!m) return
        acked = Number(m[1])
        if (acked >= target && !child.killed) child.kill('SIGKILL')
      },
    })
    expect(result.signal).toBe('SIGKILL')
    expect(acked).toBeGreaterThanOrEqual(target)
    const { kafka, records } = await openAndRead(dataDir, 'acked')
    const values = new Set(records.map((r) => r.value.toString()))
    for (let i = 0; i < acked; i++) {
      if (!values.has(`message-${i}`)) throw new Error(`acknowledged message-${i} was lost (acked ${acked}, found ${values.size})`)
    }
    await kafka.close()
  }, 40000)

  test.each(['disconnect', 'close', 'leave'])('a script that connects and sends exits by itself (%s)', async (mode) => {
    const dataDir = tempDir()
    const r = await runNode([fixture('connect-send-disconnect.js'), dataDir, mode], { timeoutMs: 10000 })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/^sent \d 0/)
    // Even the script that never disconnects stopped cleanly on exit.
    expect(fs.existsSync(path.join(dataDir, '.clean-shutdown'))).toBe(true)
    const { kafka, records } = await openAndRead(dataDir, 'exit')
    expect(records.map((m) => m.value.toString())).toEqual(['b'])
    await kafka.close()
  })

  test('another process on a held data directory works through its owner; when the owner dies, calls fail with a retriable connection error and work again once a process holds it', async () => {
    const dataDir = tempDir()
    const startHolder = async () => {
      let holder
      const done = runNode([fixture('hold-lock.js'), dataDir], {
        onLine: (line, child) => {
          if (line === 'ready') holder = child
        },
      })
      const deadline = Date.now() + 10000
      while (!holder && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
      expect(holder).toBeDefined()
      return { holder, done }
    }
    const first = await startHolder()
    const kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING, retry: { retries: 0 } })
    const producer = kafka.producer()
    const admin = kafka.admin()
    await producer.connect()
    await admin.connect()
    await producer.send({ topic: 'held', messages: [{ value: 'a' }] })
    expect(await admin.listTopics()).toEqual(['held'])

    first.holder.kill('SIGKILL')
    await first.done
    // No owner: a call fails at once with kafkajs's retriable connection error.
    const err = await admin.listTopics().catch((e) => e)
    expect(err).toBeInstanceOf(KafkaJSConnectionError)
    expect(err.retriable).toBe(true)
    expect(err.message).toContain(dataDir)

    // A send made while no process holds the directory waits for the next one (it is
    // resent as it was, so nothing is stored twice), and the next owner has everything.
    const pending = producer.send({ topic: 'held', messages: [{ value: 'b' }] })
    const second = await startHolder()
    await pending
    await producer.send({ topic: 'held', messages: [{ value: 'c' }] })
    const offsets = await admin.fetchTopicOffsets('held')
    expect(offsets).toEqual([{ partition: 0, offset: '3', high: '3', low: '0' }])
    await producer.disconnect()
    await admin.disconnect()
    second.holder.kill('SIGKILL')
    await second.done
  })
})
