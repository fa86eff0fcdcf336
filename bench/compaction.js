'use strict'

// Log compaction, measured against baselines taken in the same run:
//   1. the disk's own copy rate: a file the size of the log, read and written in 1 MiB
//      chunks and fsynced (what a cleaner that kept every byte would cost at best);
//   2. the cleaner, unthrottled: a log of MESSAGES records over KEYS keys written with
//      cleaning off (cleanup.policy=delete), then switched to compact; the cleaner's own
//      report (its info log line) gives the bytes it read and wrote, the keys it mapped,
//      its key map's memory and its time;
//   3. produce latency: the p99 of sends of 100 (acks 1) and the worst lag of a consumer
//      group for PHASE_MS, on a topic with cleanup.policy=delete, then on the same
//      workload compacted, its cleaner running all along (small segments, dirty ratio
//      0.1) at the default cleanerIoMaxBytesPerSecond and unthrottled.
// Ratios matter here; absolute times vary on shared machines.
//
//   node bench/compaction.js [messages, 3000000] [keys, 1000000] [phase seconds, 10]

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Kafka, logLevel } = require('..')

const MESSAGES = Number(process.argv[2] || 3_000_000)
const KEYS = Number(process.argv[3] || 1_000_000)
const PHASE_MS = Number(process.argv[4] || 10) * 1000
const VALUE_BYTES = 100
const MB = 1e6

function tmp(name) {
  return fs.mkdtempSync(path.join(os.tmpdir(), `samsa-bench-${name}-`))
}

function key(i) {
  return `rider-${String(i % KEYS).padStart(10, '0')}`
}

function value(i) {
  const b = Buffer.alloc(VALUE_BYTES, 120)
  b.writeUInt32BE(i >>> 0, 0)
  return b
}

function copyRate(bytes) {
  const dir = tmp('copy')
  try {
    const chunk = Buffer.alloc(1 << 20, 7)
    const from = path.join(dir, 'from')
    const fd = fs.openSync(from, 'w')
    for (let left = bytes; left > 0; left -= chunk.length) fs.writeSync(fd, chunk, 0, Math.min(left, chunk.length))
    fs.fsyncSync(fd)
    fs.closeSync(fd)
    const start = performance.now()
    const input = fs.openSync(from, 'r')
    const output = fs.openSync(path.join(dir, 'to'), 'w')
    let n
    while ((n = fs.readSync(input, chunk, 0, chunk.length)) > 0) fs.writeSync(output, chunk, 0, n)
    fs.fsyncSync(output)
    fs.closeSync(input)
    fs.closeSync(output)
    return bytes / ((performance.now() - start) / 1000)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** A Kafka whose cleaner looks for work every 100 ms, and the cleaner's reports.
 * `io`: cleanerIoMaxBytesPerSecond (undefined: the default). */
function open(dataDir, io) {
  const reports = []
  const logCreator = () => ({ log }) => {
    if (log.message === 'cleaned a partition') reports.push(Object.fromEntries(String(log.fields).split(' ').map((kv) => kv.split('='))))
  }
  const kafka = new Kafka({ dataDir, logLevel: logLevel.INFO, logCreator, cleanerBackoffMs: 100, cleanerIoMaxBytesPerSecond: io })
  return { kafka, reports }
}

async function until(what, check, ms) {
  const deadline = Date.now() + ms
  for (;;) {
    const v = check()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

async function cleanerThroughput() {
  const dataDir = tmp('clean')
  const { kafka, reports } = open(dataDir, 0)
  const admin = kafka.admin()
  const producer = kafka.producer()
  try {
    await admin.createTopics({ topics: [{ topic: 'positions', numPartitions: 1, configEntries: [{ name: 'segment.bytes', value: String(64 << 20) }] }] })
    await producer.connect()
    for (let i = 0; i < MESSAGES; i += 1000) {
      const messages = []
      for (let j = i; j < Math.min(i + 1000, MESSAGES); j++) messages.push({ key: key(j), value: value(j) })
      await producer.send({ topic: 'positions', messages })
    }
    // One more record in a segment of its own, so everything before it is sealed.
    await admin.alterConfigs({ resources: [{ type: 2, name: 'positions', configEntries: [{ name: 'segment.ms', value: '1' }] }] })
    await new Promise((r) => setTimeout(r, 5))
    await producer.send({ topic: 'positions', messages: [{ key: key(0), value: value(0) }] })
    const logBytes = dirBytes(path.join(dataDir, 'topics'))
    await admin.alterConfigs({
      resources: [{ type: 2, name: 'positions', configEntries: [{ name: 'cleanup.policy', value: 'compact' }, { name: 'segment.ms', value: String(7 * 86400000) }] }],
    })
    const r = await until('the cleaner', () => reports[0], 600_000)
    const seconds = Number(r.seconds)
    return { logBytes, read: Number(r.read), written: Number(r.written), keys: Number(r.keys), mapBytes: Number(r.map_bytes), seconds }
  } finally {
    await kafka.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

function dirBytes(dir) {
  let total = 0
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.log')) total += fs.statSync(path.join(e.parentPath ?? e.path, e.name)).size
  }
  return total
}

async function latency(policy, io) {
  const dataDir = tmp('latency')
  const { kafka, reports } = open(dataDir, io)
  const admin = kafka.admin()
  const producer = kafka.producer()
  const consumer = kafka.consumer({ groupId: 'map' })
  try {
    const configEntries = [
      { name: 'cleanup.policy', value: policy },
      { name: 'segment.bytes', value: String(4 << 20) },
      { name: 'min.cleanable.dirty.ratio', value: '0.1' },
    ]
    await admin.createTopics({ topics: [{ topic: 'positions', numPartitions: 1, configEntries }] })
    await producer.connect()
    let consumed = 0
    await consumer.connect()
    await consumer.subscribe({ topic: 'positions', fromBeginning: true })
    await consumer.run({ eachBatch: async ({ batch }) => { consumed += batch.messages.length } })
    const times = []
    let sent = 0
    let worstLag = 0
    const start = performance.now()
    while (performance.now() - start < PHASE_MS) {
      const messages = []
      for (let j = 0; j < 100; j++, sent++) messages.push({ key: key(sent), value: value(sent) })
      const t = performance.now()
      await producer.send({ topic: 'positions', acks: 1, messages })
      times.push(performance.now() - t)
      if (sent % 10_000 === 0) worstLag = Math.max(worstLag, sent - consumed)
      if (sent % 1000 === 0) await new Promise((r) => setImmediate(r))
    }
    times.sort((a, b) => a - b)
    return { sends: times.length, p50: times[Math.floor(times.length * 0.5)], p99: times[Math.floor(times.length * 0.99)], worstLag, passes: reports.length }
  } finally {
    await consumer.disconnect().catch(() => {})
    await kafka.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

async function main() {
  console.log(`log compaction (${os.cpus().length} cores): ${MESSAGES.toLocaleString()} records of ${VALUE_BYTES} B over ${KEYS.toLocaleString()} keys`)
  const c = await cleanerThroughput()
  const copy = copyRate(c.logBytes)
  const rate = c.logBytes / c.seconds
  console.log(`  disk copy (read + write + fsync)   ${(copy / MB).toFixed(0).padStart(6)} MB/s   (${(c.logBytes / MB).toFixed(0)} MB)`)
  console.log(`  cleaner, log bytes per second      ${(rate / MB).toFixed(0).padStart(6)} MB/s   ${((100 * rate) / copy).toFixed(0)}% of the copy rate; read ${(c.read / MB).toFixed(0)} MB, wrote ${(c.written / MB).toFixed(0)} MB in ${c.seconds.toFixed(2)} s`)
  console.log(`  key map                            ${(c.mapBytes / MB).toFixed(1).padStart(6)} MB    for ${c.keys.toLocaleString()} keys (${(c.mapBytes / c.keys).toFixed(0)} B a key)`)
  const runs = [['delete', undefined, 'delete'], ['compact', undefined, 'compact, default throttle'], ['compact', 0, 'compact, unthrottled']]
  for (const [policy, io, name] of runs) {
    const l = await latency(policy, io)
    console.log(
      `  sends of 100, ${name.padEnd(26)} p50 ${l.p50.toFixed(3)} ms  p99 ${l.p99.toFixed(3)} ms  (${l.sends.toLocaleString()} sends, consumer lag at most ${l.worstLag.toLocaleString()}, ${l.passes} cleaner passes)`
    )
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
