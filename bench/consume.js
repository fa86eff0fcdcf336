'use strict'

// Consume benchmark (handlers return at once, fsync off):
//  - msgs/s through eachBatch and through eachMessage, 1,000,000 messages of 100 bytes
//  - produce-to-handler latency p50/p99/p999 at a steady 10,000 msgs/s
//  - time from a 6th member joining a 5-member group over 64 partitions until every
//    partition is owned and flowing again
//
//   node bench/consume.js [messages]

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Kafka, logLevel } = require('..')

const TOTAL = Number(process.argv[2] || 1_000_000)
const FAST = { heartbeatInterval: 100, maxWaitTimeInMs: 100 }

function tempKafka(options = {}) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-consume-'))
  const kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING, ...options })
  return { kafka, cleanup: async () => { await kafka.close(); fs.rmSync(dataDir, { recursive: true, force: true }) } }
}

async function fill(kafka, topic, partitions, n) {
  await kafka.admin().createTopics({ topics: [{ topic, numPartitions: partitions }] })
  const producer = kafka.producer()
  await producer.connect()
  const value = Buffer.alloc(100, 120)
  for (let i = 0; i < n; i += 1000) {
    await producer.send({ topic, messages: Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({ key: `rider-${(i + j) % 10000}`, value })) })
  }
  await producer.disconnect()
}

async function throughput(mode, total = TOTAL) {
  const { kafka, cleanup } = tempKafka()
  await fill(kafka, 'bench', 4, total)
  const consumer = kafka.consumer({ groupId: `bench-${mode}`, ...FAST })
  await consumer.connect()
  await consumer.subscribe({ topic: 'bench', fromBeginning: true })
  let count = 0
  let done
  const finished = new Promise((r) => (done = r))
  const start = performance.now()
  if (mode === 'eachBatch') {
    await consumer.run({ eachBatch: async ({ batch }) => { count += batch.messages.length; if (count >= total) done() } })
  } else {
    await consumer.run({ eachMessage: async () => { if (++count >= total) done() } })
  }
  await finished
  const ms = performance.now() - start
  await consumer.disconnect()
  await cleanup()
  return ms
}

async function latency() {
  const { kafka, cleanup } = tempKafka()
  await kafka.admin().createTopics({ topics: [{ topic: 'live', numPartitions: 4 }] })
  const consumer = kafka.consumer({ groupId: 'live-map', ...FAST })
  await consumer.connect()
  await consumer.subscribe({ topic: 'live' })
  const samples = []
  let joined
  const ready = new Promise((r) => (joined = r))
  consumer.on(consumer.events.GROUP_JOIN, () => joined())
  await consumer.run({
    eachMessage: async ({ message }) => {
      samples.push(Number(process.hrtime.bigint() - BigInt(message.value.toString())) / 1e6)
    },
  })
  await ready
  const producer = kafka.producer()
  await producer.connect()
  // 10,000 msgs/s as 10 messages every millisecond, each stamped with its send time.
  const seconds = 3
  const start = performance.now()
  let sent = 0
  while (sent < 10000 * seconds) {
    const due = Math.floor((performance.now() - start) * 10)
    const batch = []
    while (sent < due && sent < 10000 * seconds) {
      batch.push({ key: `rider-${sent % 1000}`, value: String(process.hrtime.bigint()) })
      sent++
    }
    if (batch.length) await Promise.all(batch.map((m) => producer.send({ topic: 'live', messages: [m] })))
    else await new Promise((r) => setImmediate(r))
  }
  while (samples.length < sent) await new Promise((r) => setTimeout(r, 5))
  await producer.disconnect()
  await consumer.disconnect()
  await cleanup()
  samples.sort((a, b) => a - b)
  const q = (p) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]
  return { n: samples.length, p50: q(0.5), p99: q(0.99), p999: q(0.999) }
}

async function rebalance() {
  const { kafka, cleanup } = tempKafka()
  await fill(kafka, 'wide', 64, 6400)
  const producer = kafka.producer()
  await producer.connect()
  const members = []
  const owned = new Map() // consumer -> Set of partitions currently consuming
  const lastSeen = new Map() // partition -> time of the last message handled
  async function member() {
    const c = kafka.consumer({ groupId: 'wide-group', ...FAST })
    owned.set(c, new Set())
    c.on(c.events.GROUP_JOIN, (e) => owned.set(c, new Set(e.payload.memberAssignment.wide || [])))
    await c.connect()
    await c.subscribe({ topic: 'wide', fromBeginning: true })
    await c.run({ eachMessage: async ({ partition }) => { lastSeen.set(partition, performance.now()) } })
    members.push(c)
    return c
  }
  const allOwned = () => {
    const seen = new Set()
    for (const s of owned.values()) for (const p of s) seen.add(p)
    return seen.size === 64
  }
  for (let i = 0; i < 5; i++) await member()
  while (!allOwned() || lastSeen.size < 64) await new Promise((r) => setTimeout(r, 5))
  const results = []
  for (let round = 0; round < 5; round++) {
    const start = performance.now()
    const joiner = await member()
    // Flowing again: every partition owned once, and a message sent after the join to each
    // partition has been handled.
    // Taken before sending: consumers may handle the ticks before send() resumes here.
    const sentAt = performance.now()
    await producer.send({ topic: 'wide', messages: Array.from({ length: 64 }, (_, p) => ({ value: 'tick', partition: p })) })
    while (!allOwned() || owned.get(joiner).size === 0 || [...Array(64).keys()].some((p) => !(lastSeen.get(p) >= sentAt))) {
      await new Promise((r) => setImmediate(r))
    }
    results.push({ ms: performance.now() - start, took: owned.get(joiner).size })
    await joiner.disconnect()
    members.pop()
    owned.delete(joiner)
    await new Promise((r) => setTimeout(r, 50))
  }
  for (const c of members) await c.disconnect()
  await producer.disconnect()
  await cleanup()
  return results
}

;(async () => {
  console.log(`samsa consume benchmark (${TOTAL.toLocaleString()} messages of 100 bytes, 4 partitions, fsync off)\n`)
  // Steady state: one unreported pass of 200,000 messages warms up V8's JIT first.
  for (const mode of ['eachBatch', 'eachMessage']) await throughput(mode, 200_000)
  for (const mode of ['eachBatch', 'eachMessage']) {
    const ms = await throughput(mode)
    console.log(`${mode.padEnd(12)} ${Math.round((TOTAL / ms) * 1000).toLocaleString().padStart(12)} msgs/s   (${ms.toFixed(0)} ms)`)
  }
  const l = await latency()
  console.log(`latency at 10,000 msgs/s: p50 ${l.p50.toFixed(3)} ms, p99 ${l.p99.toFixed(3)} ms, p999 ${l.p999.toFixed(3)} ms (${l.n.toLocaleString()} messages)`)
  const r = await rebalance()
  const times = r.map((x) => x.ms).sort((a, b) => a - b)
  console.log(`rebalance, 6th member joining 5 over 64 partitions: median ${times[Math.floor(times.length / 2)].toFixed(1)} ms, max ${times[times.length - 1].toFixed(1)} ms; the new member took ${r.map((x) => x.took).join(', ')} partitions`)
  console.log('\ntargets: eachBatch >= 2,000,000 msgs/s; eachMessage >= 1,000,000 msgs/s; p99 <= 1 ms; rebalance < 50 ms')
})()
