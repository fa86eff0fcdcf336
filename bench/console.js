'use strict'

// The console's cost, in two parts:
//
//   overview   a directory of 1,000 topics (2 partitions, 20 messages each) and 100
//              groups (offsets committed on 10 topics each, one of them with a running
//              consumer): the latency of GET /api/overview, each request made after the
//              console's reuse windows have passed (a fresh look at the broker and at the
//              segment files every time), p50/p99/max; then, with Debian's Chromium
//              (when /usr/bin/chromium is there), the time for the overview page to
//              load and draw, and for a keystroke in its topic filter to redraw it.
//   produce    produce throughput in the same process as bench/produce.js measures it
//              (sends of 1000 messages of 100 bytes with 16-byte keys, 4 partitions, fsync
//              off; 10 million a run, a few seconds) without a console, with a console started and no page open, and with
//              a page following it (its sampler running): alternating runs, medians of 3.
//
//   node bench/console.js [overview | produce ...]   (both by default)

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const http = require('node:http')
const { Kafka, logLevel } = require('..')

const TOPICS = 1000
const PARTITIONS = 2
const GROUPS = 100
const TOPICS_PER_GROUP = 10
const OVERVIEW_REQUESTS = 25
// Longer than the console reuses a look at the broker (1 s) and the files' sizes (2 s).
const FRESH_AFTER_MS = 2100
// Messages built (as bench/produce.js builds them), and sent per run: the same ones
// again and again, so that a run lasts a few of the sampler's 2-second intervals.
const BUILT_MESSAGES = 500_000
const PRODUCE_MESSAGES = 10_000_000
const RUNS = 3

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const percentile = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}
const median = (xs) => percentile(xs, 50)

function get(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let size = 0
        res.on('data', (c) => (size += c.length))
        res.on('end', () => (res.statusCode === 200 ? resolve(size) : reject(new Error(`${url}: ${res.statusCode}`))))
      })
      .on('error', reject)
  })
}

async function overview() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-bench-console-'))
  const kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING })
  try {
    const admin = kafka.admin()
    await admin.connect()
    const names = Array.from({ length: TOPICS }, (_, i) => `topic-${String(i).padStart(4, '0')}`)
    let t = performance.now()
    await admin.createTopics({ topics: names.map((topic) => ({ topic, numPartitions: PARTITIONS })) })
    const producer = kafka.producer()
    await producer.connect()
    await producer.sendBatch({ topicMessages: names.map((topic) => ({ topic, messages: Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: 'x'.repeat(100) })) })) })
    for (let g = 0; g < GROUPS; g++) {
      for (let k = 0; k < TOPICS_PER_GROUP; k++) {
        const topic = names[(g * TOPICS_PER_GROUP + k) % TOPICS]
        await admin.setOffsets({ groupId: `group-${String(g).padStart(3, '0')}`, topic, partitions: [{ partition: 0, offset: '5' }, { partition: 1, offset: '5' }] })
      }
    }
    const consumer = kafka.consumer({ groupId: 'running' })
    await consumer.connect()
    await consumer.subscribe({ topic: names[0], fromBeginning: true })
    await consumer.run({ eachMessage: async () => {} })
    console.log(`a directory of ${TOPICS} topics x ${PARTITIONS} partitions and ${GROUPS + 1} groups made in ${((performance.now() - t) / 1000).toFixed(1)} s`)

    const c = await kafka.console({ port: 0 })
    const url = `${c.url}api/overview`
    const times = []
    let size = 0
    for (let i = 0; i < OVERVIEW_REQUESTS; i++) {
      await sleep(FRESH_AFTER_MS)
      t = performance.now()
      size = await get(url)
      times.push(performance.now() - t)
    }
    const fmt = (ms) => `${ms.toFixed(0)} ms`
    console.log(`GET /api/overview, a fresh look each time (${OVERVIEW_REQUESTS} requests, ${(size / 1024).toFixed(0)} KiB of JSON): p50 ${fmt(median(times))}, p99 ${fmt(percentile(times, 99))}, max ${fmt(Math.max(...times))}`)
    const warm = []
    for (let i = 0; i < OVERVIEW_REQUESTS; i++) {
      t = performance.now()
      await get(url)
      warm.push(performance.now() - t)
    }
    console.log(`GET /api/overview within the reuse window: p50 ${fmt(median(warm))}, p99 ${fmt(percentile(warm, 99))}`)
    await page(c.url)
    await consumer.disconnect()
  } finally {
    await kafka.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

/** The overview page in Chromium, when it is there: load and draw, and a filter keystroke. */
async function page(url) {
  const chromiumPath = '/usr/bin/chromium'
  if (!fs.existsSync(chromiumPath)) {
    console.log(`the page: not measured (no ${chromiumPath}: apt-get install chromium)`)
    return
  }
  const { chromium } = require('playwright-core')
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--headless', '--no-sandbox', '--disable-gpu'] })
  try {
    const loads = []
    const filters = []
    for (let i = 0; i < 5; i++) {
      const p = await browser.newPage({ viewport: { width: 1360, height: 900 } })
      let t = performance.now()
      await p.goto(url)
      await p.waitForSelector('body[data-loaded="true"]')
      loads.push(performance.now() - t)
      // Typing a filter redraws the table at once (no request).
      t = performance.now()
      await p.fill('#topic-filter', 'topic-09')
      await p.waitForFunction(() => document.querySelectorAll('#topics tr[data-topic]').length === 100)
      filters.push(performance.now() - t)
      await p.close()
    }
    console.log(`the overview page (${TOPICS} topics, the first 100 rows drawn): loaded and drawn in ${median(loads).toFixed(0)} ms (median of 5), a filter keystroke redrawn in ${median(filters).toFixed(0)} ms`)
  } finally {
    await browser.close()
  }
}

// The produce benchmark's messages and method (bench/produce.js): built before the clock starts.
const messages = Array.from({ length: BUILT_MESSAGES }, (_, i) => {
  const value = Buffer.alloc(100, 120)
  value.writeUInt32BE(i, 0)
  return { key: `rider-${String(i % 100000).padStart(10, '0')}`, value }
})

/** Sends of 1000, one after the other, into a fresh directory; `mode`: 'none' (no
 * console), 'idle' (a console, no page), 'followed' (a console and a page following it). */
async function produceRate(mode) {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-bench-'))
  const kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING })
  const follower = new AbortController()
  try {
    const admin = kafka.admin()
    await admin.createTopics({ topics: [{ topic: 'bench', numPartitions: 4 }] })
    const producer = kafka.producer()
    await producer.connect()
    if (mode !== 'none') {
      const c = await kafka.console({ port: 0 })
      if (mode === 'followed') {
        const res = await fetch(`${c.url}api/events`, { signal: follower.signal })
        // Read the stream as a page does, and let each sample's look run.
        res.body.pipeTo(new WritableStream()).catch(() => {})
      }
    }
    const start = performance.now()
    for (let i = 0; i < PRODUCE_MESSAGES; i += 1000) {
      const from = i % BUILT_MESSAGES
      await producer.send({ topic: 'bench', messages: messages.slice(from, from + 1000) })
    }
    return (PRODUCE_MESSAGES / (performance.now() - start)) * 1000
  } finally {
    follower.abort()
    await kafka.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

async function produce() {
  const modes = { none: 'no console', idle: 'console started, no page open', followed: 'console with a page following it' }
  const rates = { none: [], idle: [], followed: [] }
  await produceRate('none') // warms V8's JIT for all
  for (let run = 0; run < RUNS; run++) for (const mode of Object.keys(modes)) rates[mode].push(await produceRate(mode))
  const base = median(rates.none)
  console.log(`\nproduce: sends of 1000 messages, ${PRODUCE_MESSAGES.toLocaleString()} per run, medians of ${RUNS} alternating runs`)
  for (const [mode, label] of Object.entries(modes)) {
    const m = median(rates[mode])
    const range = `${Math.round(Math.min(...rates[mode]) / 1000)}–${Math.round(Math.max(...rates[mode]) / 1000)} k`
    console.log(`${label.padEnd(34)} ${Math.round(m).toLocaleString().padStart(10)} msgs/s (${range}), ${((m / base) * 100).toFixed(0)}% of no console`)
  }
}

;(async () => {
  const which = process.argv.slice(2)
  if (which.length === 0 || which.includes('overview')) await overview()
  if (which.length === 0 || which.includes('produce')) await produce()
})().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
