'use strict'

// A full disk is an error for the send that hit it, never a crash, a SIGBUS from a mapped
// index, or a damaged log. Runs on a small tmpfs, which needs root (CI runs as root).

const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { Kafka, logLevel } = require('..')
const os = require('node:os')
const { readPartition } = require('./helpers')

let mountPoint

beforeAll(() => {
  mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-full-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint], { stdio: 'pipe' })
  } catch (e) {
    throw new Error(`the full-disk test mounts a 2 MiB tmpfs and needs root: ${e.stderr || e.message}`)
  }
})

afterAll(() => {
  execFileSync('umount', ['-l', mountPoint])
  fs.rmSync(mountPoint, { recursive: true, force: true })
})

test('sends fail with a storage error when the disk is full, and the log stays intact', async () => {
  const dataDir = path.join(mountPoint, 'data')
  const kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 'full', numPartitions: 2, configEntries: [{ name: 'segment.bytes', value: '65536' }] }] })
  const producer = kafka.producer()
  await producer.connect()

  const acked = []
  let failure = null
  let failedSend = []
  for (let i = 0; i < 10000 && !failure; i++) {
    const messages = Array.from({ length: 8 }, (_, j) => ({ key: `k${i}-${j}`, value: `${i}-${j}:`.padEnd(1000, 'x') }))
    try {
      await producer.send({ topic: 'full', messages })
      acked.push(...messages.map((m) => m.value))
    } catch (e) {
      failure = e
      failedSend = messages.map((m) => m.value)
    }
  }
  expect(failure).not.toBeNull()
  expect(failure).toMatchObject({ name: 'KafkaJSProtocolError', type: 'KAFKA_STORAGE_ERROR', retriable: false })
  expect(failure.message).toMatch(/disk full/)
  expect(acked.length).toBeGreaterThan(100)

  // Reads still work and hold every acknowledged message. As with Kafka's per-partition
  // produce results, the failed send may have landed on the partitions that had room
  // before the one that did not; nothing else is there, and no record is torn.
  const stored = [0, 1].flatMap((p) => readPartition(dataDir, 'full', p)).map((r) => r.value.toString())
  const storedSet = new Set(stored)
  expect(acked.every((v) => storedSet.has(v))).toBe(true)
  const unacked = stored.filter((v) => !acked.includes(v))
  expect(unacked.every((v) => failedSend.includes(v))).toBe(true)
  // Other calls fail cleanly too, and the broker keeps serving.
  // (createTopics reports each topic's failure in a KafkaJSAggregateError, as kafkajs does.)
  const createError = await admin.createTopics({ topics: [{ topic: 'more', numPartitions: 50 }] }).catch((e) => e)
  expect(createError.name).toBe('KafkaJSAggregateError')
  expect(createError.errors).toEqual([expect.objectContaining({ name: 'KafkaJSCreateTopicError', topic: 'more', type: 'KAFKA_STORAGE_ERROR' })])
  expect(await admin.listTopics()).toEqual(['full'])

  // Freeing space (retention, here DeleteRecords) lets sends through again.
  await admin.deleteTopicRecords({ topic: 'full', partitions: [{ partition: 0, offset: '-1' }, { partition: 1, offset: '-1' }] })
  await producer.send({ topic: 'full', messages: [{ value: 'after-freeing', partition: 1 }] })
  await kafka.close()

  // The log reopens cleanly (no damage to recover from) and offsets continue.
  const again = new Kafka({ dataDir, logLevel: logLevel.NOTHING })
  const p2 = again.producer()
  await p2.connect()
  const offsets = await again.admin().fetchTopicOffsets('full')
  const total = offsets.reduce((n, o) => n + Number(o.high), 0)
  expect(total).toBe(stored.length + 1)
  await p2.send({ topic: 'full', messages: [{ value: 'after', partition: 0 }] })
  await again.close()
  expect(fs.existsSync(path.join(dataDir, '.clean-shutdown'))).toBe(true)
})
