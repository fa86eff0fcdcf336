'use strict'

// Produce throughput: 1,000,000 messages (16-byte string keys, 100-byte Buffer values,
// built before the clock starts), 4 partitions, fsync off, in sends of 1, 100 and 1000,
// and 64 concurrent single-message sends; beside the floor: the same records framed by
// JS into one Buffer per 1000 and appended with fs.writeSync. Then the fsync figures,
// beside the fsync floor: the same records framed by JS, per send of 100, written to one
// file per partition the send touches and fdatasync-ed file by file (medians of 3 runs).
//
//   node bench/produce.js [messages]

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Kafka, logLevel } = require('..')

const TOTAL = Number(process.argv[2] || 1_000_000)
const VALUE_BYTES = 100
const KEY_CHARS = 16

const keys = Array.from({ length: TOTAL }, (_, i) => `rider-${String(i % 100000).padStart(10, '0')}`)
const values = Array.from({ length: TOTAL }, (_, i) => {
  const b = Buffer.alloc(VALUE_BYTES, 120)
  b.writeUInt32BE(i, 0)
  return b
})
const messages = keys.map((key, i) => ({ key, value: values[i] }))
const payloadBytes = TOTAL * (KEY_CHARS + VALUE_BYTES)

function report(name, n, ms) {
  const rate = (n / ms) * 1000
  const mb = ((n * (KEY_CHARS + VALUE_BYTES)) / ms) * 1000 / 1e6
  console.log(`${name.padEnd(44)} ${Math.round(rate).toLocaleString().padStart(12)} msgs/s ${mb.toFixed(1).padStart(8)} MB/s   (${n.toLocaleString()} in ${ms.toFixed(0)} ms)`)
  return rate
}

async function withBroker(options, fn) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-bench-'))
  const kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING, ...options })
  const admin = kafka.admin()
  await admin.createTopics({ topics: [{ topic: 'bench', numPartitions: 4 }] })
  const producer = kafka.producer()
  await producer.connect()
  try {
    return await fn(producer)
  } finally {
    await kafka.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

async function sequential(options, size, n = TOTAL) {
  return withBroker(options, async (producer) => {
    const start = performance.now()
    for (let i = 0; i < n; i += size) {
      await producer.send({ topic: 'bench', messages: messages.slice(i, Math.min(i + size, n)) })
    }
    return performance.now() - start
  })
}

async function concurrent(options, workers, n = TOTAL) {
  return withBroker(options, async (producer) => {
    let next = 0
    const start = performance.now()
    await Promise.all(
      Array.from({ length: workers }, async () => {
        while (next < n) {
          const i = next++
          await producer.send({ topic: 'bench', messages: [messages[i]] })
        }
      })
    )
    return performance.now() - start
  })
}

function floor(n = TOTAL) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-floor-'))
  const fd = fs.openSync(path.join(dir, 'floor.log'), 'a')
  const buf = Buffer.allocUnsafe(1000 * (8 + KEY_CHARS + VALUE_BYTES))
  const start = performance.now()
  for (let i = 0; i < n; i += 1000) {
    let pos = 0
    for (let j = i; j < i + 1000 && j < n; j++) {
      buf.writeUInt32BE(KEY_CHARS, pos)
      pos += 4
      pos += buf.utf8Write(keys[j], pos)
      buf.writeUInt32BE(VALUE_BYTES, pos)
      pos += 4
      pos += values[j].copy(buf, pos)
    }
    fs.writeSync(fd, buf, 0, pos)
  }
  const ms = performance.now() - start
  fs.closeSync(fd)
  fs.rmSync(dir, { recursive: true, force: true })
  return ms
}

/** The durable floor: sends of 100 records spread over `partitions` files; each send
 * writes every file it touches and fdatasyncs them one after the other, as a broker that
 * syncs each partition it appended to must. */
function fsyncFloor(n, size = 100, partitions = 4) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-fsync-floor-'))
  const fds = Array.from({ length: partitions }, (_, p) => fs.openSync(path.join(dir, `${p}.log`), 'a'))
  const bufs = fds.map(() => Buffer.allocUnsafe(size * (8 + KEY_CHARS + VALUE_BYTES)))
  const start = performance.now()
  for (let i = 0; i < n; i += size) {
    const pos = new Array(partitions).fill(0)
    for (let j = i; j < i + size && j < n; j++) {
      const p = j % partitions
      const buf = bufs[p]
      buf.writeUInt32BE(KEY_CHARS, pos[p])
      pos[p] += 4
      pos[p] += buf.utf8Write(keys[j], pos[p])
      buf.writeUInt32BE(VALUE_BYTES, pos[p])
      pos[p] += 4
      pos[p] += values[j].copy(buf, pos[p])
    }
    for (let p = 0; p < partitions; p++) {
      if (pos[p] === 0) continue
      fs.writeSync(fds[p], bufs[p], 0, pos[p])
      fs.fdatasyncSync(fds[p])
    }
  }
  const ms = performance.now() - start
  for (const fd of fds) fs.closeSync(fd)
  fs.rmSync(dir, { recursive: true, force: true })
  return ms
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const quiet = (n, ms) => (n / ms) * 1000

;(async () => {
  console.log(`samsa produce benchmark: ${TOTAL.toLocaleString()} messages, ${KEY_CHARS}-byte keys, ${VALUE_BYTES}-byte values, 4 partitions (${(payloadBytes / 1e6).toFixed(0)} MB of payload)\n`)
  // Steady state: an unreported pass of 200,000 messages warms up V8's JIT for both.
  floor(200_000)
  await sequential({}, 1000, 200_000)
  const floorRate = report('floor: JS framing + fs.writeSync per 1000', TOTAL, floor())
  const r1000 = report('send() x 1000 messages, fsync off', TOTAL, await sequential({}, 1000))
  report('send() x 100 messages, fsync off', TOTAL, await sequential({}, 100))
  report('send() x 1 message, awaited one at a time', TOTAL / 4, await sequential({}, 1, TOTAL / 4))
  const c64 = report('64 concurrent single-message sends', TOTAL / 2, await concurrent({}, 64, TOTAL / 2))
  report('send() x 1000 messages, fsync on', TOTAL / 2, await sequential({ fsync: true }, 1000, TOTAL / 2))
  report('64 concurrent single-message sends, fsync on', TOTAL / 20, await concurrent({ fsync: true }, 64, TOTAL / 20))
  // The durable path against the disk, in the same run: three alternating runs each.
  const DURABLE = TOTAL / 20
  const floorRuns = []
  const samsaRuns = []
  for (let run = 0; run < 3; run++) {
    floorRuns.push(quiet(DURABLE, fsyncFloor(DURABLE)))
    samsaRuns.push(quiet(DURABLE, await sequential({ fsync: true }, 100, DURABLE)))
  }
  const fsyncFloorRate = median(floorRuns)
  const fsync100 = median(samsaRuns)
  const row = (name, rate) => console.log(`${name.padEnd(44)} ${Math.round(rate).toLocaleString().padStart(12)} msgs/s   (median of 3 runs of ${DURABLE.toLocaleString()})`)
  row('fsync floor: write + fdatasync per 100, 4 files', fsyncFloorRate)
  row('send() x 100 messages, fsync on', fsync100)
  console.log(`\nsends of 1000 reach ${((r1000 / floorRate) * 100).toFixed(0)}% of the floor (target: 2,000,000 msgs/s and at least 50%)`)
  console.log(`64 concurrent single sends: ${Math.round(c64).toLocaleString()} msgs/s (target: 200,000)`)
  console.log(`durable sends of 100 reach ${((fsync100 / fsyncFloorRate) * 100).toFixed(0)}% of the fsync floor`)
})()
