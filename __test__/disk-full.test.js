'use strict'

// A full disk is an error for the send that hit it, never a crash, a SIGBUS from a mapped
// index, or a damaged log. Runs on a small tmpfs, which needs root (CI runs as root).

const fs = require('node:fs')
const path = require('node:path')
const { execFileSync, spawn } = require('node:child_process')
const { Kafka, logLevel } = require('..')
const os = require('node:os')
const { readPartition } = require('./helpers')

const mounts = []

/** A fresh 2 MiB tmpfs: a disk to fill. */
function smallDisk() {
  const mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-full-'))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint], { stdio: 'pipe' })
  } catch (e) {
    throw new Error(`the full-disk test mounts a 2 MiB tmpfs and needs root: ${e.stderr || e.message}`)
  }
  mounts.push(mountPoint)
  return mountPoint
}

afterAll(() => {
  for (const mountPoint of mounts) {
    execFileSync('umount', ['-l', mountPoint])
    fs.rmSync(mountPoint, { recursive: true, force: true })
  }
})

/** An admin and a producer of `kafka`, and topic "full": 2 partitions of 64 KiB segments. */
async function fullTopic(kafka) {
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 'full', numPartitions: 2, configEntries: [{ name: 'segment.bytes', value: '65536' }] }] })
  const producer = kafka.producer()
  await producer.connect()
  return { admin, producer }
}

/** Sends 8 KB at a time until a send fails; resolves with the failure and how long it took. */
async function fillDisk(producer, topic) {
  for (let i = 0; i < 10000; i++) {
    const messages = Array.from({ length: 8 }, (_, j) => ({ key: `k${i}-${j}`, value: `${i}-${j}:`.padEnd(1000, 'x') }))
    const started = Date.now()
    try {
      await producer.send({ topic, messages })
    } catch (e) {
      return { error: e, ms: Date.now() - started }
    }
  }
  throw new Error('the disk never filled')
}

test('sends fail with a storage error when the disk is full, and the log stays intact', async () => {
  const dataDir = path.join(smallDisk(), 'data')
  const kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING })
  const { admin, producer } = await fullTopic(kafka)

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

test('with fsync, a full disk fails the call that hit it: createTopics fails alone, and once space is freed everything works (only a failed fsync poisons)', async () => {
  const dataDir = path.join(smallDisk(), 'data')
  const kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING, fsync: true })
  const { admin, producer } = await fullTopic(kafka)
  const { error } = await fillDisk(producer, 'full')
  expect(error).toMatchObject({ type: 'KAFKA_STORAGE_ERROR', retriable: false })
  const createError = await admin.createTopics({ topics: [{ topic: 'more', numPartitions: 20 }] }).catch((e) => e)
  expect(createError.errors).toEqual([expect.objectContaining({ topic: 'more', type: 'KAFKA_STORAGE_ERROR' })])
  expect(createError.errors[0].message).toMatch(/disk full/)

  await admin.deleteTopicRecords({ topic: 'full', partitions: [{ partition: 0, offset: '-1' }, { partition: 1, offset: '-1' }] })
  await producer.send({ topic: 'full', messages: [{ value: 'after-freeing' }] })
  await admin.createTopics({ topics: [{ topic: 'more', numPartitions: 2 }] })
  expect((await admin.listTopics()).sort()).toEqual(['full', 'more'])
  await kafka.close()
})

test('a full disk means the same in another process: not retriable, so a send fails at once rather than after the retry budget', async () => {
  const dataDir = path.join(smallDisk(), 'data')
  fs.mkdirSync(dataDir)
  const owner = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'hold-lock.js'), dataDir], { stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    await new Promise((resolve, reject) => {
      owner.stdout.on('data', (d) => String(d).includes('ready') && resolve())
      owner.once('exit', (code) => reject(new Error(`the owner exited (${code})`)))
    })
    const kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING })
    const { admin, producer } = await fullTopic(kafka)
    const { error, ms } = await fillDisk(producer, 'full')
    // As in the owner's process: KAFKA_STORAGE_ERROR, not retriable; kafkajs's retry
    // budget (about 10 s) would end in KafkaJSNumberOfRetriesExceeded.
    expect(error).toMatchObject({ name: 'KafkaJSProtocolError', type: 'KAFKA_STORAGE_ERROR', retriable: false })
    expect(error.message).toMatch(/disk full/)
    expect(ms).toBeLessThan(2000)
    const createError = await admin.createTopics({ topics: [{ topic: 'more', numPartitions: 20 }] }).catch((e) => e)
    expect(createError.errors).toEqual([expect.objectContaining({ topic: 'more', type: 'KAFKA_STORAGE_ERROR', retriable: false })])
    await kafka.close()
  } finally {
    owner.kill('SIGKILL')
  }
}, 60000)
