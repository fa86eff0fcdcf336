'use strict'

// Cost as work grows: does the event loop, memory and the file-descriptor count stay
// bounded as the backlog, the partitions, the groups and the topics grow? One table per
// scenario, one row per size, so the growth is visible:
//
//   catchup          a backlog of N messages (100-byte values, 4 partitions, sends of 1000,
//                    produced by a separate process before the clock starts), read by one
//                    consumer (fromBeginning, maxWaitTimeInMs 100) with a synchronous
//                    handler: eachBatch that counts batch.messages.length, and eachMessage
//                    that counts (async functions that never await). Catch-up rate, the
//                    event loop's longest delay (monitorEventLoopDelay max and p99), how
//                    often a 10 ms setInterval fired against how often it should have and
//                    its longest gap, an HTTP server in the same process ('ok') hit by a
//                    client in another process (a few requests at a time: answered,
//                    p99 and max latency as the client saw them), and RSS (before, sampled
//                    in-process every 100 ms, and VmHWM, reset when the clock starts).
//   join-partitions  a topic of P partitions, one message in each; one consumer joins
//                    (eachBatch): time from run() to GROUP_JOIN and to every partition's
//                    first message, and the event loop's longest block meanwhile.
//   join-groups      G groups of one consumer each on one 4-partition topic, all started
//                    together: time until every one has emitted GROUP_JOIN, loop blocks.
//   create-topics    one admin.createTopics call of T topics x P partitions (TxP); then
//                    one message into every partition, `await kafka.close()`, and
//                    reopening the data directory.
//   fds              under `ulimit -n 1024` (and 256): a topic of P partitions, one message
//                    each, consumed by one consumer; whether it worked, the error if not,
//                    and the open descriptors (/proc/self/fd) along the way.
//
// Every row runs in a fresh child process (so RSS and fds are that row's alone) with its
// own temporary data directory, removed afterwards. A row that runs past its timeout or
// past the RSS bound is killed and reported as such, and the next row runs.
//
//   node bench/scale.js [all | catchup | join-partitions | join-groups | create-topics | fds ...]
//   node bench/scale.js catchup=100k,300k join-partitions=10,100   # sizes per scenario
//   node bench/scale.js --quick                                     # small sizes
//   SAMSA=/path/to/other/checkout node bench/scale.js               # measure another build
//
// Environment: SAMSA (samsa module path, default: this repository), SCALE_<SCENARIO>
// (sizes, e.g. SCALE_JOIN_PARTITIONS=10,100), SCALE_FD_LIMITS (default 1024,256),
// SCALE_TIMEOUT_S (one timeout for every row instead of the per-scenario defaults),
// SCALE_MAX_RSS_MB (kill a row above this RSS, default 12288), SCALE_HTTP_CONCURRENCY
// (client requests in flight, default 4). Linux only (/proc).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const http = require('node:http')
const { spawn, execFileSync } = require('node:child_process')
const { monitorEventLoopDelay, performance } = require('node:perf_hooks')

const SAMSA = process.env.SAMSA ? path.resolve(process.env.SAMSA) : path.join(__dirname, '..')
const MAX_RSS = Number(process.env.SCALE_MAX_RSS_MB || 12288) * 1024 * 1024
const HTTP_CONCURRENCY = Number(process.env.SCALE_HTTP_CONCURRENCY || 4)
const BYTES_PER_MESSAGE = 125 // on disk, 100-byte value and no key, a little generous
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
// CLOCK_MONOTONIC in ms: the same clock in every process, to line the HTTP client's
// requests up with the catch-up window.
const clock = () => Number(process.hrtime.bigint()) / 1e6

// ---------------------------------------------------------------------------------------
// Measuring, inside a child

function samsa() {
  return require(SAMSA)
}

function newKafka(dataDir, extra = {}) {
  const { Kafka, logLevel } = samsa()
  return new Kafka({ clientId: 'scale', dataDir, logLevel: logLevel.NOTHING, ...extra })
}

function status(field) {
  const m = fs.readFileSync('/proc/self/status', 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))
  return m ? Number(m[1]) * 1024 : null
}

/** Resets VmHWM to the current RSS (Linux's clear_refs "5"); false if not allowed. */
function resetPeakRss() {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5')
    return true
  } catch {
    return false
  }
}

const openFds = () => fs.readdirSync('/proc/self/fd').length

/**
 * Watches the event loop from when it resolves: monitorEventLoopDelay (10 ms resolution),
 * a 10 ms setInterval (fires counted, longest gap) and RSS sampled every 100 ms. `mark()`
 * ends the window (it may be called from a microtask while the loop is still blocked);
 * `finish()` then lets the loop turn once so the delay of the block is recorded.
 */
async function loopProbe() {
  const h = monitorEventLoopDelay({ resolution: 10 })
  h.enable()
  // The histogram records the time between two ticks of its timer, so it must have
  // ticked once before the window opens, or a block at the very start goes unrecorded
  // (h.reset() would forget that tick too).
  await sleep(25)
  const start = performance.now()
  const from = clock()
  let last = start
  let fired = 0
  let maxGap = 0
  let end = null
  let window = null
  const timer = setInterval(() => {
    const now = performance.now()
    if (end !== null) return
    fired++
    maxGap = Math.max(maxGap, now - last)
    last = now
  }, 10)
  let rssMax = process.memoryUsage.rss()
  const sampler = setInterval(() => {
    if (end === null) rssMax = Math.max(rssMax, process.memoryUsage.rss())
  }, 100)
  return {
    start,
    mark() {
      if (end !== null) return
      end = performance.now()
      rssMax = Math.max(rssMax, process.memoryUsage.rss())
      window = { from, to: clock(), ms: end - start, fired, expected: Math.floor((end - start) / 10), maxGap: Math.max(maxGap, end - last), rssMax }
    },
    async finish() {
      this.mark()
      await sleep(30) // the delay monitor records a block when its timer next runs
      clearInterval(timer)
      clearInterval(sampler)
      h.disable()
      return { ...window, eldMax: h.max / 1e6, eldP99: h.percentile(99) / 1e6, eldCount: h.count }
    },
  }
}

/** A promise and its resolver. */
function deferred() {
  let resolve
  const promise = new Promise((r) => (resolve = r))
  return { promise, resolve }
}

async function timed(fn) {
  const t = performance.now()
  const value = await fn()
  return { ms: performance.now() - t, value }
}

function dirBytes(dir) {
  let total = 0
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name)
    if (e.isDirectory()) total += dirBytes(p)
    else total += fs.statSync(p).blocks * 512
  }
  return total
}

// --- catchup ---------------------------------------------------------------------------

async function childCatchupFill(n, dataDir) {
  const kafka = newKafka(dataDir)
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 'backlog', numPartitions: 4 }] })
  const producer = kafka.producer()
  await producer.connect()
  const value = Buffer.alloc(100, 120)
  const messages = Array.from({ length: 1000 }, () => ({ value }))
  const t = performance.now()
  for (let i = 0; i < n; i += 1000) {
    await producer.send({ topic: 'backlog', messages: n - i >= 1000 ? messages : messages.slice(0, n - i) })
  }
  const produceMs = performance.now() - t
  await kafka.close()
  return { produceMs, diskBytes: dirBytes(dataDir), rssPeak: status('VmHWM') }
}

async function childCatchup(n, dataDir, variant) {
  const kafka = newKafka(dataDir)
  const consumer = kafka.consumer({ groupId: `catchup-${variant}`, maxWaitTimeInMs: 100 })
  const open = await timed(() => consumer.connect()) // opens the broker on the backlog
  await consumer.subscribe({ topic: 'backlog', fromBeginning: true })

  // The HTTP server in this process, and its client in another one.
  const server = http.createServer((req, res) => res.end('ok'))
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const client = spawn(process.execPath, [__filename, '--http-client', String(server.address().port), String(HTTP_CONCURRENCY)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  const clientMessage = (type) => new Promise((resolve) => client.on('message', (m) => m.type === type && resolve(m)))
  const ready = clientMessage('ready')
  const stats = clientMessage('stats')
  await ready

  await sleep(50)
  const rssBefore = process.memoryUsage.rss()
  const hwmReset = resetPeakRss()
  let count = 0
  const finished = deferred()
  const probe = await loopProbe()
  let anonAtEnd = null
  let heapAtEnd = null
  const reached = () => {
    probe.mark()
    anonAtEnd = status('RssAnon')
    heapAtEnd = process.memoryUsage().heapUsed
    finished.resolve()
  }
  if (variant === 'eachBatch') {
    await consumer.run({
      eachBatch: async ({ batch }) => {
        count += batch.messages.length
        if (count >= n) reached()
      },
    })
  } else {
    await consumer.run({
      eachMessage: async () => {
        if (++count >= n) reached()
      },
    })
  }
  await finished.promise
  const loop = await probe.finish()
  const vmHwm = status('VmHWM')
  client.send({ type: 'stop', from: loop.from, to: loop.to })
  const h = await Promise.race([stats, sleep(30000).then(() => ({ answered: 0, error: 'no answer from the client' }))])
  client.kill()
  server.close()
  // What is left once the loop has run freely for a second (the consumer idle, caught up).
  await sleep(1000)
  const rssIdle = process.memoryUsage.rss()
  await consumer.disconnect()
  await kafka.close()
  return { openMs: open.ms, ...loop, count, http: h, rssBefore, vmHwm, hwmReset, rssIdle, anon: anonAtEnd, heap: heapAtEnd }
}

/**
 * The HTTP client: `concurrency` loops of one http.get at a time, until told to stop. A new
 * connection per request: with keep-alive, a server blocked for longer than its
 * keepAliveTimeout (5 s) drops the idle sockets as it wakes up, and the requests waiting
 * on them fail instead of measuring the wait.
 */
function httpClient(port, concurrency) {
  const requests = [] // [start, end] on the shared clock
  const failures = [] // [start, end, message]
  let stopping = false
  let readySent = false
  const get = () =>
    new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        res.resume()
        res.on('end', resolve)
        res.on('error', reject)
      })
      req.on('error', reject)
    })
  const loop = async () => {
    while (!stopping) {
      const t = clock()
      try {
        await get()
        requests.push([t, clock()])
        if (!readySent) {
          readySent = true
          process.send({ type: 'ready' })
        }
      } catch (e) {
        failures.push([t, clock(), e.code || e.message])
        await sleep(10)
      }
    }
  }
  const loops = Array.from({ length: concurrency }, loop)
  process.on('disconnect', () => process.exit(0))
  process.on('message', async (m) => {
    if (m.type === 'stop') {
      stopping = true
      await Promise.all(loops) // the requests still in flight are part of the picture
      // The requests in flight at any time during the window [from, to].
      const during = ([s, e]) => e >= m.from && s <= m.to
      const latencies = requests.filter(during).map(([s, e]) => e - s)
      const failed = failures.filter(during)
      latencies.sort((a, b) => a - b)
      const q = (p) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : null)
      process.send(
        {
          type: 'stats', answered: latencies.length, failed: failed.length, failure: failed.length ? failed[0][2] : null,
          p50: q(0.5), p99: q(0.99), max: latencies.length ? latencies[latencies.length - 1] : null,
        },
        () => process.exit(0)
      )
    }
  })
}

// --- join-partitions -------------------------------------------------------------------

async function childJoinPartitions(p, dataDir) {
  const kafka = newKafka(dataDir)
  const admin = kafka.admin()
  await admin.connect()
  const create = await timed(() => admin.createTopics({ topics: [{ topic: 'wide', numPartitions: p }] }))
  const producer = kafka.producer()
  await producer.connect()
  const send = await timed(() =>
    producer.send({ topic: 'wide', messages: Array.from({ length: p }, (_, i) => ({ value: 'x', partition: i })) })
  )
  const consumer = kafka.consumer({ groupId: 'wide', maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topic: 'wide', fromBeginning: true })
  let joinedAt = null
  let deliveredAt = null
  const seen = new Uint8Array(p)
  let seenCount = 0
  const done = deferred()
  consumer.on(consumer.events.GROUP_JOIN, () => {
    if (joinedAt === null) joinedAt = performance.now()
  })
  const probe = await loopProbe()
  const t0 = probe.start
  await consumer.run({
    eachBatch: async ({ batch }) => {
      if (seen[batch.partition]) return
      seen[batch.partition] = 1
      if (++seenCount === p) {
        deliveredAt = performance.now()
        probe.mark()
        done.resolve()
      }
    },
  })
  const runMs = performance.now() - t0
  await done.promise
  const loop = await probe.finish()
  const fds = openFds()
  const close = await timed(() => kafka.close())
  return {
    createMs: create.ms, sendMs: send.ms, runMs, joinMs: joinedAt - t0, deliveredMs: deliveredAt - t0, ...loop,
    closeMs: close.ms, vmHwm: status('VmHWM'), fds,
  }
}

// --- join-groups -----------------------------------------------------------------------

async function childJoinGroups(g, dataDir) {
  const kafka = newKafka(dataDir)
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 'small', numPartitions: 4 }] })
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic: 'small', messages: Array.from({ length: 4 }, (_, i) => ({ value: 'x', partition: i })) })
  const consumers = []
  const setup = await timed(async () => {
    for (let i = 0; i < g; i++) {
      const c = kafka.consumer({ groupId: `group-${i}` })
      await c.connect()
      await c.subscribe({ topic: 'small', fromBeginning: true })
      consumers.push(c)
    }
  })
  let joined = 0
  let firstAt = null
  let allAt = null
  const done = deferred()
  let probe = null
  for (const c of consumers) {
    let mine = false
    c.on(c.events.GROUP_JOIN, () => {
      if (mine) return
      mine = true
      const now = performance.now()
      if (firstAt === null) firstAt = now
      if (++joined === g) {
        allAt = now
        probe.mark()
        done.resolve()
      }
    })
  }
  probe = await loopProbe()
  const t0 = probe.start
  await Promise.all(consumers.map((c) => c.run({ eachBatch: async () => {} })))
  const runMs = performance.now() - t0
  await done.promise
  const loop = await probe.finish()
  const fds = openFds()
  const close = await timed(() => kafka.close())
  return { setupMs: setup.ms, runMs, firstMs: firstAt - t0, allMs: allAt - t0, ...loop, closeMs: close.ms, vmHwm: status('VmHWM'), fds }
}

// --- create-topics ---------------------------------------------------------------------

/**
 * The file system's share: the directories and files a topic's creation makes (a directory
 * per topic and per partition, a small metadata file written aside and renamed), made with
 * plain synchronous fs calls in a scratch directory beside the data directory. Metadata
 * operations on this VM's disk cost from 40 µs to 850 µs each, from minute to minute.
 */
function fsFloorMs(dataDir, t, p) {
  const scratch = `${dataDir}-floor`
  const started = performance.now()
  fs.mkdirSync(scratch)
  for (let i = 0; i < t; i++) {
    const dir = path.join(scratch, `topic-${i}`)
    fs.mkdirSync(dir)
    for (let j = 0; j < p; j++) fs.mkdirSync(path.join(dir, String(j)))
    fs.writeFileSync(path.join(dir, 'topic.json.tmp'), '{"partitions":4}')
    fs.renameSync(path.join(dir, 'topic.json.tmp'), path.join(dir, 'topic.json'))
  }
  const ms = performance.now() - started
  fs.rmSync(scratch, { recursive: true, force: true })
  return ms
}

async function childCreateTopics(spec, dataDir) {
  const [t, p] = spec.split('x').map(Number)
  const kafka = newKafka(dataDir)
  const admin = kafka.admin()
  await admin.connect()
  const topics = Array.from({ length: t }, (_, i) => ({ topic: `topic-${i}`, numPartitions: p }))
  const floorBefore = fsFloorMs(dataDir, t, p)
  const probe = await loopProbe()
  await admin.createTopics({ topics })
  probe.mark()
  const loop = await probe.finish()
  const floorMs = (floorBefore + fsFloorMs(dataDir, t, p)) / 2
  const fdsCreated = openFds()
  const producer = kafka.producer()
  await producer.connect()
  const send = await timed(() =>
    producer.sendBatch({
      topicMessages: topics.map(({ topic }) => ({ topic, messages: Array.from({ length: p }, (_, i) => ({ value: 'x', partition: i })) })),
    })
  )
  const fdsSent = openFds()
  const close = await timed(() => kafka.close())
  const fdsClosed = openFds()
  const again = newKafka(dataDir)
  const admin2 = again.admin()
  const reopen = await timed(() => admin2.connect())
  const fdsReopened = openFds()
  await again.close()
  return {
    createMs: loop.ms, floorMs, eldMax: loop.eldMax, gapMax: loop.maxGap, sendMs: send.ms, closeMs: close.ms, reopenMs: reopen.ms,
    fdsCreated, fdsSent, fdsClosed, fdsReopened, vmHwm: status('VmHWM'),
  }
}

// --- fds -------------------------------------------------------------------------------

async function childFds(p, dataDir) {
  const limit = (fs.readFileSync('/proc/self/limits', 'utf8').match(/^Max open files\s+(\d+)/m) || [])[1]
  const logged = []
  const { logLevel } = samsa()
  // Errors are collected (not printed) so the first one can be reported.
  const kafka = newKafka(dataDir, {
    logLevel: logLevel.ERROR,
    logCreator: () => ({ log }) => {
      if (logged.length < 5) logged.push(log.message)
    },
  })
  const out = { limit: Number(limit), fdsStart: openFds(), ok: false, step: null, error: null }
  const step = async (name, fn) => {
    out.step = name
    const r = await fn()
    out[`fds_${name}`] = openFds()
    return r
  }
  try {
    const admin = kafka.admin()
    await step('open', () => admin.connect())
    await step('create', () => admin.createTopics({ topics: [{ topic: 'many', numPartitions: p }] }))
    const producer = kafka.producer()
    await producer.connect()
    await step('send', () =>
      producer.send({ topic: 'many', messages: Array.from({ length: p }, (_, i) => ({ value: 'x', partition: i })) })
    )
    await step('consume', async () => {
      const consumer = kafka.consumer({ groupId: 'many', maxWaitTimeInMs: 100 })
      await consumer.connect()
      await consumer.subscribe({ topic: 'many', fromBeginning: true })
      const seen = new Uint8Array(p)
      let seenCount = 0
      const done = deferred()
      await consumer.run({
        eachBatch: async ({ batch }) => {
          if (!seen[batch.partition]) {
            seen[batch.partition] = 1
            if (++seenCount === p) done.resolve(true)
          }
        },
      })
      const all = await Promise.race([done.promise, sleep(60000).then(() => false)])
      out.delivered = seenCount
      if (!all) throw new Error(`only ${seenCount} of ${p} partitions delivered in 60 s${logged.length ? `; logged: ${logged[0]}` : ''}`)
    })
    out.ok = true
    out.fdsEnd = openFds()
    await step('close', () => Promise.race([kafka.close(), sleep(10000).then(() => { throw new Error('close took over 10 s') })]))
  } catch (e) {
    out.error = `${e.name || 'Error'}: ${e.message}`.slice(0, 300)
    out.fdsAtError = openFds()
    await Promise.race([kafka.close().catch(() => {}), sleep(10000)])
  }
  out.fdsClosed = openFds()
  out.logged = logged
  out.vmHwm = status('VmHWM')
  return out
}

const CHILDREN = {
  'catchup-fill': (size, dir) => childCatchupFill(Number(size), dir),
  catchup: (size, dir, variant) => childCatchup(Number(size), dir, variant),
  'join-partitions': (size, dir) => childJoinPartitions(Number(size), dir),
  'join-groups': (size, dir) => childJoinGroups(Number(size), dir),
  'create-topics': (size, dir) => childCreateTopics(size, dir),
  fds: (size, dir) => childFds(Number(size), dir),
}

async function child(name, args) {
  let result
  try {
    result = { ok: true, ...(await CHILDREN[name](...args)) }
  } catch (e) {
    result = { ok: false, error: `${e.name || 'Error'}: ${e.message}`.slice(0, 300) }
  }
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`)
  process.exit(0)
}

// ---------------------------------------------------------------------------------------
// Running children and printing tables, in the parent

/**
 * Runs one child (`--child name ...args`) and resolves with { result } or { failure }.
 * Its RSS is watched from outside (it may not be able to sample its own while its loop
 * is blocked): above MAX_RSS, or past `timeoutMs`, it is killed.
 */
function runChild(args, { timeoutMs, ulimit = null }) {
  const nodeArgs = [__filename, '--child', ...args.map(String)]
  const cmd = ulimit ? '/bin/sh' : process.execPath
  const argv = ulimit ? ['-c', `ulimit -n ${ulimit} && exec "$0" "$@"`, process.execPath, ...nodeArgs] : nodeArgs
  if (process.env.SCALE_TIMEOUT_S) timeoutMs = Number(process.env.SCALE_TIMEOUT_S) * 1000
  return new Promise((resolve) => {
    const started = performance.now()
    const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let killedFor = null
    let peakRss = 0
    proc.stdout.on('data', (d) => (stdout += d))
    proc.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)))
    const kill = (why) => {
      if (killedFor) return
      killedFor = why
      try {
        process.kill(proc.pid, 'SIGKILL')
      } catch {
        // Already gone.
      }
    }
    const watch = setInterval(() => {
      let rss = null
      try {
        const m = fs.readFileSync(`/proc/${proc.pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m)
        rss = m ? Number(m[1]) * 1024 : null
      } catch {
        return
      }
      if (rss !== null) peakRss = Math.max(peakRss, rss)
      if (rss !== null && rss > MAX_RSS) kill(`killed: RSS ${mb(rss)} MB over the ${mb(MAX_RSS)} MB bound`)
      else if (performance.now() - started > timeoutMs) kill(`killed: timeout after ${(timeoutMs / 1000).toFixed(0)} s`)
    }, 200)
    proc.on('close', (code, signal) => {
      clearInterval(watch)
      const seconds = (performance.now() - started) / 1000
      const line = stdout.split('\n').find((l) => l.startsWith('RESULT '))
      const peak = `peak RSS seen from outside ${mb(peakRss)} MB`
      if (line) {
        const result = JSON.parse(line.slice(7))
        if (result.ok) return resolve({ result, peakRss, seconds })
        return resolve({ failure: `${result.error} (${peak})`, result, peakRss, seconds })
      }
      const tail = stderr.trim().split('\n').slice(-3).join(' | ')
      const why = killedFor || `exited with ${signal ? `signal ${signal}${signal === 'SIGKILL' ? ' (out of memory?)' : ''}` : `code ${code}`}`
      resolve({ failure: `${why} after ${seconds.toFixed(1)} s, ${peak}${tail ? `; stderr: ${tail}` : ''}`, peakRss, seconds })
    })
  })
}

const mb = (bytes) => (bytes === null || bytes === undefined ? '?' : Math.round(bytes / 1048576).toLocaleString('en-US'))
const ms = (v, digits = 0) => (v === null || v === undefined || Number.isNaN(v) ? '?' : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }))
const int = (v) => (v === null || v === undefined ? '?' : Math.round(v).toLocaleString('en-US'))

/** A table printed row by row: columns [title, width]; the first one is left-aligned. */
function table(title, columns) {
  const cell = (v, i) => (i === 0 ? String(v).padEnd(columns[i][1]) : String(v).padStart(columns[i][1]))
  console.log(`\n${title}\n`)
  console.log(columns.map(([t], i) => cell(t, i)).join('  '))
  console.log(columns.map(([, w]) => '-'.repeat(w)).join('  '))
  return {
    row: (values) => console.log(values.map(cell).join('  ')),
    note: (first, text) => console.log(`${cell(first, 0)}  ${text}`),
  }
}

function freeBytes(dir) {
  const s = fs.statfsSync(dir)
  return s.bavail * s.bsize
}

async function withDir(prefix, fn) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `samsa-scale-${prefix}-`))
  try {
    return await fn(dir)
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

async function runCatchup(sizes) {
  const t = table(
    'catchup: a backlog of N messages (100-byte values, 4 partitions) read by one consumer with a synchronous handler\n' +
      `(loop = monitorEventLoopDelay; timer = a 10 ms setInterval; http = ${HTTP_CONCURRENCY} requests in flight from another process; ` +
      'VmHWM reset when the clock starts, * if it could not be; anon = RssAnon and heap = V8 heapUsed when the last message\n' +
      'is counted; rss +1 s = RSS after the loop has then run freely for a second; times from run())',
    [
      ['messages', 11], ['handler', 11], ['open ms', 8], ['catch-up s', 10], ['msgs/s', 10], ['loop max ms', 11], ['loop p99 ms', 11],
      ['timer fired/expected', 20], ['timer gap ms', 12], ['http answered', 13], ['failed', 6], ['http p99 ms', 11], ['http max ms', 11],
      ['rss before MB', 13], ['rss sampled MB', 14], ['VmHWM MB', 8], ['anon MB', 7], ['heap MB', 7], ['rss +1 s MB', 11],
    ]
  )
  for (const n of sizes) {
    const label = int(n)
    const need = n * BYTES_PER_MESSAGE
    const free = freeBytes(os.tmpdir())
    if (free < 3 * need) {
      t.note(label, `skipped: ${mb(free)} MB free in ${os.tmpdir()}, under 3 x the ${mb(need)} MB this backlog needs`)
      continue
    }
    await withDir('catchup', async (dir) => {
      const fill = await runChild(['catchup-fill', n, dir], { timeoutMs: 120000 + n * 0.02 })
      if (fill.failure) {
        t.note(label, `producing the backlog failed: ${fill.failure}`)
        return
      }
      const f = fill.result
      t.note(label, `backlog produced in ${(f.produceMs / 1000).toFixed(1)} s (${int((n / f.produceMs) * 1000)} msgs/s), ${mb(f.diskBytes)} MB on disk, producer VmHWM ${mb(f.rssPeak)} MB`)
      for (const variant of ['eachBatch', 'eachMessage']) {
        const r = await runChild(['catchup', n, dir, variant], { timeoutMs: 120000 + n * 0.02 })
        if (r.failure) {
          t.note(label, `${variant}: ${r.failure}`)
          continue
        }
        const x = r.result
        t.row([
          label, variant, int(x.openMs), ms(x.ms / 1000, 1), int((n / x.ms) * 1000), int(x.eldMax), int(x.eldP99),
          `${int(x.fired)}/${int(x.expected)}`, int(x.maxGap), int(x.http.answered), int(x.http.failed), ms(x.http.p99, 1), int(x.http.max),
          mb(x.rssBefore), mb(x.rssMax), x.hwmReset ? mb(x.vmHwm) : `${mb(x.vmHwm)}*`, mb(x.anon), mb(x.heap), mb(x.rssIdle),
        ])
        if (x.http.failure) t.note('', `${variant}: HTTP requests failed (${x.http.failure})`)
      }
    })
  }
}

async function runJoinPartitions(sizes) {
  const t = table(
    'join-partitions: one consumer joins a topic of P partitions (one message in each), eachBatch\n' +
      '(times from run(); loop = monitorEventLoopDelay; timer = a 10 ms setInterval)',
    [
      ['partitions', 10], ['create ms', 9], ['send ms', 8], ['run() ms', 8], ['GROUP_JOIN ms', 13], ['all delivered ms', 16],
      ['loop max ms', 11], ['loop p99 ms', 11], ['timer fired/expected', 20], ['timer gap ms', 12], ['close ms', 8], ['VmHWM MB', 8], ['fds', 6],
    ]
  )
  for (const p of sizes) {
    const r = await withDir('join', (dir) => runChild(['join-partitions', p, dir], { timeoutMs: 600000 }))
    if (r.failure) {
      t.note(int(p), r.failure)
      continue
    }
    const x = r.result
    t.row([
      int(p), int(x.createMs), int(x.sendMs), int(x.runMs), int(x.joinMs), int(x.deliveredMs), int(x.eldMax), int(x.eldP99),
      `${int(x.fired)}/${int(x.expected)}`, int(x.maxGap), int(x.closeMs), mb(x.vmHwm), int(x.fds),
    ])
  }
}

async function runJoinGroups(sizes) {
  const t = table(
    'join-groups: G groups of one consumer each on one 4-partition topic, all started together\n' +
      '(times from the first run(); loop = monitorEventLoopDelay; timer = a 10 ms setInterval)',
    [
      ['groups', 8], ['setup ms', 8], ['run() ms', 8], ['first join ms', 13], ['all joined ms', 13], ['loop max ms', 11],
      ['loop p99 ms', 11], ['timer fired/expected', 20], ['timer gap ms', 12], ['close ms', 8], ['VmHWM MB', 8], ['fds', 6],
    ]
  )
  for (const g of sizes) {
    const r = await withDir('groups', (dir) => runChild(['join-groups', g, dir], { timeoutMs: 600000 }))
    if (r.failure) {
      t.note(int(g), r.failure)
      continue
    }
    const x = r.result
    t.row([
      int(g), int(x.setupMs), int(x.runMs), int(x.firstMs), int(x.allMs), int(x.eldMax), int(x.eldP99),
      `${int(x.fired)}/${int(x.expected)}`, int(x.maxGap), int(x.closeMs), mb(x.vmHwm), int(x.fds),
    ])
  }
}

async function runCreateTopics(sizes) {
  const t = table(
    'create-topics: one admin.createTopics call of T topics x P partitions; then one message into every partition,\n' +
      'kafka.close() (clean), and opening the data directory again (admin.connect()); fs floor = the same directories\n' +
      'and metadata files made with plain fs calls just before and after createTopics (their mean)',
    [
      ['topics x parts', 14], ['partitions', 10], ['createTopics ms', 15], ['fs floor ms', 11], ['loop max ms', 11], ['timer gap ms', 12], ['send ms', 8],
      ['close ms', 8], ['reopen ms', 9], ['fds created', 11], ['fds sent', 8], ['fds closed', 10], ['fds reopened', 12], ['VmHWM MB', 8],
    ]
  )
  for (const spec of sizes) {
    const [tt, pp] = spec.split('x').map(Number)
    const r = await withDir('topics', (dir) => runChild(['create-topics', spec, dir], { timeoutMs: 600000 }))
    if (r.failure) {
      t.note(spec, r.failure)
      continue
    }
    const x = r.result
    t.row([
      spec, int(tt * pp), int(x.createMs), int(x.floorMs), int(x.eldMax), int(x.gapMax), int(x.sendMs), int(x.closeMs), int(x.reopenMs),
      int(x.fdsCreated), int(x.fdsSent), int(x.fdsClosed), int(x.fdsReopened), mb(x.vmHwm),
    ])
  }
}

async function runFds(sizes) {
  const limits = (process.env.SCALE_FD_LIMITS || '1024,256').split(',').map(Number)
  const t = table(
    'fds: under `ulimit -n L`, a topic of P partitions, one message each, consumed by one consumer\n' +
      '(open descriptors from /proc/self/fd after each step; "-" = the step was not reached)',
    [
      ['ulimit', 6], ['partitions', 10], ['result', 6], ['fds start', 9], ['created', 7], ['sent', 6], ['consumed', 8],
      ['closed', 6], ['VmHWM MB', 8], ['error', 5],
    ]
  )
  const f = (v) => (v === undefined ? '-' : int(v))
  for (const limit of limits) {
    for (const p of sizes) {
      const r = await withDir('fds', (dir) => runChild(['fds', p, dir], { timeoutMs: 180000, ulimit: limit }))
      const x = r.result
      if (!x || (!x.ok && x.step === undefined)) {
        t.note(String(limit), `${int(p)}: ${r.failure}`)
        continue
      }
      t.row([
        `${limit}${x.limit !== limit ? ` (${x.limit})` : ''}`, int(p), x.ok ? 'ok' : 'FAIL', f(x.fdsStart), f(x.fds_create), f(x.fds_send),
        f(x.fds_consume), f(x.fdsClosed), mb(x.vmHwm), x.ok ? '' : `at ${x.step}: ${x.error} (${f(x.fdsAtError)} fds open then)`,
      ])
    }
  }
}

const SCENARIOS = {
  catchup: { run: runCatchup, sizes: ['1M', '3M', '10M', '30M'], quick: ['100k', '300k'] },
  'join-partitions': { run: runJoinPartitions, sizes: [10, 100, 1000, 2000, 3000, 5000], quick: [10, 100, 1000] },
  'join-groups': { run: runJoinGroups, sizes: [1, 10, 100, 500], quick: [1, 10, 100] },
  'create-topics': { run: runCreateTopics, sizes: ['10x4', '100x4', '300x4', '1000x4', '1x1000', '1x5000'], quick: ['10x4', '100x4', '1x1000'] },
  fds: { run: runFds, sizes: [400, 1000, 2000, 5000], quick: [400, 1000] },
}

/** '1M' -> 1000000, '300k' -> 300000; 'TxP' specs are kept as they are. */
function parseSize(s) {
  s = String(s).trim()
  if (/^\d+x\d+$/i.test(s)) return s.toLowerCase()
  const m = s.match(/^(\d+(?:\.\d+)?)([kKmM]?)$/)
  if (!m) throw new Error(`bad size "${s}"`)
  return Math.round(Number(m[1]) * { '': 1, k: 1e3, m: 1e6 }[m[2].toLowerCase()])
}

function gitDescribe(dir) {
  try {
    const head = execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    const dirty = execFileSync('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
    return `${head}${dirty ? ' (with uncommitted changes)' : ''}`
  } catch {
    return 'not a git checkout'
  }
}

async function main(argv) {
  const quick = argv.includes('--quick')
  const picked = [] // [name, sizes]
  for (const a of argv.filter((x) => !x.startsWith('--'))) {
    const [name, list] = a.split('=')
    if (name === 'all') continue
    if (!SCENARIOS[name]) {
      console.error(`unknown scenario "${name}"; one of: all, ${Object.keys(SCENARIOS).join(', ')}`)
      process.exit(2)
    }
    picked.push([name, list])
  }
  const names = picked.length ? picked : Object.keys(SCENARIOS).map((n) => [n, undefined])

  let addon = '?'
  try {
    addon = fs.statSync(path.join(SAMSA, 'samsa.linux-x64-gnu.node')).mtime.toISOString()
  } catch {
    // Another layout.
  }
  console.log('samsa scale benchmark: cost as work grows (event loop, memory, file descriptors)')
  console.log(`samsa:  ${SAMSA} (git ${gitDescribe(SAMSA)}, addon built ${addon})`)
  console.log(`node:   ${process.version}, ${os.cpus().length} CPUs, ${mb(os.totalmem())} MB RAM, ${os.tmpdir()} (${mb(freeBytes(os.tmpdir()))} MB free)`)
  console.log(`date:   ${new Date().toISOString()}`)
  console.log(`every row runs in a fresh child process; rows over ${mb(MAX_RSS)} MB RSS or over their timeout are killed and reported`)

  for (const [name, list] of names) {
    const s = SCENARIOS[name]
    const env = process.env[`SCALE_${name.toUpperCase().replace(/-/g, '_')}`]
    const sizes = (list ? list.split(',') : env ? env.split(',') : quick ? s.quick : s.sizes).map(parseSize)
    const started = performance.now()
    await s.run(sizes)
    console.log(`(${name}: ${((performance.now() - started) / 1000).toFixed(0)} s)`)
  }
}

if (process.argv[2] === '--child') child(process.argv[3], process.argv.slice(4))
else if (process.argv[2] === '--http-client') httpClient(Number(process.argv[3]), Number(process.argv[4]))
else main(process.argv.slice(2))
