'use strict'

// Damage on disk is a property of one partition: the consumer stops that partition with
// a CRASH naming the file, partition and offset (no retry loop), its other partitions keep
// flowing, and a seek past the damage starts it again. kafka.verify() and
// `npx samsa verify` find it; `--repair` cuts it only when asked.

const fs = require('node:fs')
const path = require('node:path')
const { setup, produce, waitFor, FAST, track } = require('./consumer-helpers')
const { runNode, ROOT } = require('./helpers')

/** Byte positions of the batches of a segment file. */
function batchPositions(file) {
  const bytes = fs.readFileSync(file)
  const out = []
  for (let pos = 0; pos + 12 <= bytes.length; pos += 12 + bytes.readInt32BE(pos + 8)) out.push(pos)
  return out
}

function flipByte(file, at) {
  const fd = fs.openSync(file, 'r+')
  const b = Buffer.alloc(1)
  fs.readSync(fd, b, 0, 1, at)
  b[0] ^= 0x10
  fs.writeSync(fd, b, 0, 1, at)
  fs.closeSync(fd)
}

const segment = (dataDir, topic, partition) => path.join(dataDir, 'topics', topic, String(partition), '00000000000000000000.log')

/** Two partitions of 5 batches of 10 records each, in a closed data directory. */
async function fiveBatchesEach(kafka, topic) {
  const admin = kafka.admin()
  await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] })
  for (let b = 0; b < 5; b++) {
    await produce(kafka, topic, [0, 1].flatMap((partition) => Array.from({ length: 10 }, (_, i) => ({ partition, value: `${partition}-${b * 10 + i}` }))))
  }
  await admin.disconnect()
  await kafka.close()
}

test('a consumer stops only the damaged partition, with CRASH, and goes on after a seek past it', async () => {
  const { dataDir, kafka } = setup()
  await fiveBatchesEach(kafka, 'rides')
  const file = segment(dataDir, 'rides', 0)
  flipByte(file, batchPositions(file)[2] + 70) // inside the records of offsets 20..29

  const crashes = []
  const seen = { 0: [], 1: [] }
  const consumer = track(kafka.consumer({ groupId: 'db-writer', ...FAST }))
  consumer.on(consumer.events.CRASH, (e) => crashes.push(e.payload))
  await consumer.connect()
  await consumer.subscribe({ topic: 'rides', fromBeginning: true })
  await consumer.run({ eachMessage: async ({ partition, message }) => seen[partition].push(Number(message.offset)) })

  await waitFor(() => seen[1].length === 50 && crashes.length === 1, { what: 'partition 1 whole and one CRASH' })
  expect(seen[0]).toEqual(Array.from({ length: 20 }, (_, i) => i))
  const { error, restart } = crashes[0]
  expect(restart).toBe(false)
  expect(error).toMatchObject({ type: 'CORRUPT_MESSAGE', retriable: false })
  expect(error.message).toContain(file)
  expect(error.message).toMatch(/topic "rides" partition 0, offset 20/)

  // The partition stays stopped (no retry loop) while the others flow.
  await produce(kafka, 'rides', [{ partition: 1, value: 'later' }])
  await waitFor(() => seen[1].length === 51, { what: 'the later message on partition 1' })
  expect(crashes).toHaveLength(1)
  expect(seen[0]).toHaveLength(20)

  // The application decides: seek past the damage, and the partition goes on.
  consumer.seek({ topic: 'rides', partition: 0, offset: 30 })
  await waitFor(() => seen[0].length === 40, { what: 'offsets 30 to 49' })
  expect(seen[0].slice(20)).toEqual(Array.from({ length: 20 }, (_, i) => 30 + i))

  // verify() on the open directory reports the damage.
  const report = await kafka.verify()
  expect(report.ok).toBe(false)
  expect(report.damage).toEqual([expect.objectContaining({ topic: 'rides', partition: 0, firstOffset: 20, lastOffset: 29, file })])
  await expect(kafka.verify({ repair: true })).rejects.toThrow(/needs the data directory closed/)
  await consumer.disconnect()
})

test('after a clean stop a damaged last batch is kept and reported, not cut off', async () => {
  const { dataDir, kafka } = setup()
  await fiveBatchesEach(kafka, 'tail')
  const file = segment(dataDir, 'tail', 1)
  const size = fs.statSync(file).size
  flipByte(file, batchPositions(file)[4] + 65)

  const admin = kafka.admin()
  const offsets = await admin.fetchTopicOffsets('tail')
  expect(offsets.find((o) => o.partition === 1).high).toBe('50')
  expect(fs.statSync(file).size).toBe(size)
  const crashes = []
  const seen = []
  const consumer = track(kafka.consumer({ groupId: 'g', ...FAST }))
  consumer.on(consumer.events.CRASH, (e) => crashes.push(e.payload.error))
  await consumer.connect()
  await consumer.subscribe({ topic: 'tail', fromBeginning: true })
  await consumer.run({ eachMessage: async ({ partition, message }) => partition === 1 && seen.push(Number(message.offset)) })
  await waitFor(() => crashes.length === 1 && seen.length === 40)
  expect(crashes[0].message).toMatch(/partition 1, offset 40/)
  // New records go after the damaged batch and read back.
  await produce(kafka, 'tail', [{ partition: 1, value: 'new' }])
  consumer.seek({ topic: 'tail', partition: 1, offset: 50 })
  await waitFor(() => seen.includes(50))
  await consumer.disconnect()
  await admin.disconnect()
})

test('npx samsa verify finds damage (exit 1), --repair cuts it and says what it gave up', async () => {
  const { dataDir, kafka } = setup()
  await fiveBatchesEach(kafka, 'cli')
  const bin = path.join(ROOT, 'bin', 'samsa.js')
  let r = await runNode([bin, 'verify', dataDir])
  expect(r.code).toBe(0)
  expect(r.stdout).toMatch(/2 partitions, 2 segments, 10 batches/)
  expect(r.stdout).toMatch(/no damage found/)

  const file = segment(dataDir, 'cli', 0)
  flipByte(file, batchPositions(file)[3] + 70)
  r = await runNode([bin, 'verify', dataDir])
  expect(r.code).toBe(1)
  expect(r.stdout).toMatch(/DAMAGE cli-0: offsets 30 to 39/)
  expect(fs.statSync(file).size).toBeGreaterThan(batchPositions(file)[3])

  // A directory in use is not checked behind its owner's back.
  const admin = kafka.admin()
  await admin.connect()
  r = await runNode([bin, 'verify', dataDir])
  expect(r.code).toBe(2)
  expect(r.stderr).toMatch(/locked by another process/)
  await admin.disconnect()

  r = await runNode([bin, 'verify', dataDir, '--repair'])
  expect(r.code).toBe(0)
  expect(r.stdout).toMatch(/REPAIRED cli-0: cut at offset 30; offsets 30 to 49 are given up/)
  r = await runNode([bin, 'verify', dataDir])
  expect(r.code).toBe(0)
  const offsets = await admin.fetchTopicOffsets('cli')
  expect(offsets.map((o) => o.high)).toEqual(['30', '50'])
  await admin.disconnect()
})
