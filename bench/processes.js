'use strict'

// Many processes on one data directory: what a process that does not own the directory
// gets, against the owner's own process, in the same run (fsync off, 100-byte values).
//  - produce: msgs/s in sends of 1000 messages, awaited one after another, and with 8
//    sends in flight at a time
//  - eachBatch: msgs/s reading a backlog from the beginning
//  - latency: produce-to-handler p50/p99/p999 at a steady 10,000 msgs/s, the producer and
//    the consumer each in a process of its own, neither the owner (the producer waiting for
//    each tick's answers, and not waiting: an app taking requests meanwhile); beside it, the floor
//    this machine sets at that moment: the same two hops (producer -> middle -> consumer)
//    between plain Node processes over Unix sockets, the timestamps relayed and not stored
// Each figure is the median of RUNS runs. Beside each latency run: the share of CPU time
// the host stole from this VM meanwhile (/proc/stat), which moves every p99 here, the
// floor's too.
//
//   node bench/processes.js [messages] [runs]
//   (child roles: node bench/processes.js --role <produce|consume|latency-*> ...)

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const net = require('node:net')
const { once } = require('node:events')
const { spawn } = require('node:child_process')
const { Kafka, logLevel } = require('..')

const VALUE = Buffer.alloc(100, 120)

async function produce(kafka, topic, total, inFlight = 1) {
  const producer = kafka.producer()
  await producer.connect()
  const messages = Array.from({ length: 1000 }, (_, j) => ({ key: `rider-${j % 100}`, value: VALUE }))
  // The same warm-up in either process (JIT, connections), to the topic `warm`.
  for (let i = 0; i < 50; i++) await producer.send({ topic: 'warm', messages })
  const start = performance.now()
  if (inFlight === 1) {
    for (let i = 0; i < total; i += 1000) await producer.send({ topic, messages })
  } else {
    // `inFlight` sends outstanding at a time, as an app serving many requests has.
    let next = 0
    const lane = async () => {
      while (next < total) {
        next += 1000
        await producer.send({ topic, messages })
      }
    }
    await Promise.all(Array.from({ length: inFlight }, lane))
  }
  const ms = performance.now() - start
  await producer.disconnect()
  return ms
}

async function consume(kafka, topic, total, groupId) {
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  let count = 0
  let done
  const finished = new Promise((r) => (done = r))
  const start = performance.now()
  await consumer.run({
    eachBatch: async ({ batch }) => {
      count += batch.messages.length
      if (count >= total) done()
    },
  })
  await finished
  const ms = performance.now() - start
  await consumer.disconnect()
  return ms
}

/** Sends one message every 0.1 ms on average (in ticks of 1 ms) for `seconds`. A tick
 * waits for its sends' answers, unless `open` (as an app whose requests each send, and
 * which takes the next request meanwhile). */
async function steadyProducer(kafka, topic, seconds, open = false) {
  const producer = kafka.producer()
  await producer.connect()
  const end = Date.now() + seconds * 1000
  let sent = 0
  let failed = null
  // Open: the sends still unanswered are counted, not kept (holding a run's 100,000
  // promises would make the bench's own garbage collections part of the figure).
  let unanswered = 0
  let allAnswered = null
  const answered = () => --unanswered === 0 && allAnswered && allAnswered()
  const start = performance.now()
  while (Date.now() < end) {
    const due = Math.floor((performance.now() - start) * 10)
    const sends = []
    for (; sent < due; sent++) {
      const send = producer.send({ topic, messages: [{ key: `rider-${sent % 1000}`, value: String(performance.timeOrigin + performance.now()) }] })
      if (open) {
        unanswered++
        send.catch((e) => (failed = e)).then(answered)
      } else sends.push(send.catch((e) => (failed = e)))
    }
    if (!open) await Promise.all(sends)
    await new Promise((r) => setTimeout(r, 1))
  }
  if (unanswered > 0) await new Promise((r) => (allAnswered = r))
  if (failed) throw failed
  await producer.disconnect()
  return sent
}

async function latencyConsumer(kafka, topic, seconds) {
  const consumer = kafka.consumer({ groupId: `latency-${topic}`, maxWaitTimeInMs: 100 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic] })
  const delays = []
  await consumer.run({
    eachMessage: async ({ message }) => {
      delays.push(performance.timeOrigin + performance.now() - Number(message.value))
    },
  })
  if (process.argv[2] === '--role') console.log('ready')
  await new Promise((r) => setTimeout(r, (seconds + 2) * 1000))
  await consumer.disconnect()
  return delays
}

// The floor: plain Node processes, the same ticks as steadyProducer, one write per tick.
async function relayProducer(socket, seconds) {
  const out = net.connect(socket)
  await once(out, 'connect')
  const end = Date.now() + seconds * 1000
  let sent = 0
  const start = performance.now()
  while (Date.now() < end) {
    const due = Math.floor((performance.now() - start) * 10)
    let lines = ''
    for (; sent < due; sent++) lines += `${performance.timeOrigin + performance.now()}\n`
    if (lines) out.write(lines)
    await new Promise((r) => setTimeout(r, 1))
  }
  out.end()
  await once(out, 'close')
  return sent
}

/** Passes what arrives on `inSocket` on to `outSocket` until the producer ends. */
async function relay(inSocket, outSocket) {
  const out = net.connect(outSocket)
  await once(out, 'connect')
  const server = net.createServer((c) => {
    c.on('data', (d) => out.write(d))
    c.on('end', () => {
      out.end()
      server.close()
    })
  })
  server.listen(inSocket)
  await once(server, 'listening')
  console.log('ready')
  await once(server, 'close')
  return {}
}

/** Receives relayed timestamps until the relay ends; resolves to the delays. */
async function relayConsumer(socket) {
  const delays = []
  let rest = ''
  const server = net.createServer((c) => {
    c.on('data', (d) => {
      const now = performance.timeOrigin + performance.now()
      const lines = (rest + d).split('\n')
      rest = lines.pop()
      for (const l of lines) delays.push(now - Number(l))
    })
    c.on('end', () => server.close())
  })
  server.listen(socket)
  await once(server, 'listening')
  console.log('ready')
  await once(server, 'close')
  return delays
}

/** The CPU time the hypervisor gave to other guests (steal), and all CPU time, so far. */
function cpuTimes() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number)
  return { steal: f[7] || 0, total: f.reduce((a, b) => a + b, 0) }
}

/** Runs `measure` (resolving to { count, sent, p50, p99, p999 }) `runs` times, noting the
 * share of this machine's CPU time stolen by the host in each: on a shared VM that is what
 * moves a p99 from run to run (the floor's with it). */
async function latencyRuns(runs, measure) {
  const out = []
  for (let r = 0; r < runs; r++) {
    const before = cpuTimes()
    const x = await measure(r)
    const after = cpuTimes()
    out.push({ ...x, steal: (100 * (after.steal - before.steal)) / Math.max(1, after.total - before.total) })
  }
  const m = (k) => median(out.map((x) => x[k])).toFixed(2)
  const each = out.map((x) => `${x.p99.toFixed(2)} ms at ${x.steal.toFixed(0)}%`).join(', ')
  return `(${out.map((x) => `${x.count}/${x.sent}`).join(', ')} delivered): p50 ${m('p50')} ms, p99 ${m('p99')} ms, p999 ${m('p999')} ms (each run's p99 at the CPU steal during it: ${each})`
}

function summary(delays) {
  delays.sort((a, b) => a - b)
  return { count: delays.length, p50: quantile(delays, 0.5), p99: quantile(delays, 0.99), p999: quantile(delays, 0.999) }
}

function quantile(sorted, q) {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

/** Runs `file` (this one unless given) as a child in `role`; resolves to what it prints
 * last (JSON). */
function child(role, args, onLine, file = __filename) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [file, '--role', role, ...args.map(String)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    p.stdout.on('data', (d) => {
      out += d
      let nl
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl)
        out = out.slice(nl + 1)
        if (line.startsWith('{')) resolve(JSON.parse(line))
        else if (onLine) onLine(line)
      }
    })
    p.on('exit', (code) => (code === 0 ? null : reject(new Error(`${role} exited with ${code}`))))
  })
}

async function runChild() {
  const [, , , role, dataDir, topic, n] = process.argv // argv[7]: sends in flight
  // The floor's roles: sockets in place of a data directory and a topic.
  if (role.startsWith('relay')) {
    let result
    if (role === 'relay-produce') result = { sent: await relayProducer(dataDir, Number(topic)) }
    else if (role === 'relay') result = await relay(dataDir, topic)
    else result = summary(await relayConsumer(dataDir))
    console.log(JSON.stringify(result))
    return
  }
  const kafka = new Kafka({ dataDir, logLevel: logLevel.ERROR })
  let result
  if (role === 'produce') result = { ms: await produce(kafka, topic, Number(n), Number(process.argv[7] || 1)) }
  else if (role === 'consume') result = { ms: await consume(kafka, topic, Number(n), `remote-${process.pid}`) }
  else if (role === 'latency-produce') result = { sent: await steadyProducer(kafka, topic, Number(n), process.argv[7] === 'open') }
  else if (role === 'latency-consume') result = summary(await latencyConsumer(kafka, topic, Number(n)))
  console.log(JSON.stringify(result))
  await kafka.close()
}

async function main() {
  const total = Number(process.argv[2] || 200_000)
  const runs = Number(process.argv[3] || 3)
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-processes-'))
  const owner = new Kafka({ dataDir, logLevel: logLevel.ERROR })
  const admin = owner.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 'warm', numPartitions: 4 }] })
  const rows = { produceLocal: [], produceRemote: [], produce8Local: [], produce8Remote: [], batchLocal: [], batchRemote: [] }
  const throughputStart = cpuTimes()
  for (let r = 0; r < runs; r++) {
    const topic = `bench-${r}`
    await admin.createTopics({ topics: [{ topic, numPartitions: 4 }] })
    rows.produceLocal.push(total / ((await produce(owner, topic, total)) / 1000))
    rows.produceRemote.push(total / ((await child('produce', [dataDir, topic, total])).ms / 1000))
    rows.produce8Local.push(total / ((await produce(owner, topic, total, 8)) / 1000))
    rows.produce8Remote.push(total / ((await child('produce', [dataDir, topic, total, 8])).ms / 1000))
    rows.batchLocal.push((2 * total) / ((await consume(owner, topic, 2 * total, `local-${r}`)) / 1000))
    rows.batchRemote.push((2 * total) / ((await child('consume', [dataDir, topic, 2 * total])).ms / 1000))
  }
  const fmt = (x) => Math.round(x).toLocaleString('en-US')
  const throughputEnd = cpuTimes()
  const steal = (100 * (throughputEnd.steal - throughputStart.steal)) / Math.max(1, throughputEnd.total - throughputStart.total)
  console.log(`samsa, ${os.cpus().length} cores, ${total.toLocaleString('en-US')} messages of 100 bytes, medians of ${runs} runs (CPU steal meanwhile ${steal.toFixed(0)}%)`)
  console.log('                         owner process   another process   ratio')
  for (const [label, local, remote] of [
    ['produce, sends of 1000', rows.produceLocal, rows.produceRemote],
    ['  ...8 sends in flight', rows.produce8Local, rows.produce8Remote],
    ['eachBatch from the start', rows.batchLocal, rows.batchRemote],
  ]) {
    const [l, m] = [median(local), median(remote)]
    console.log(`${label.padEnd(25)}${`${fmt(l)} msgs/s`.padStart(15)}${`${fmt(m)} msgs/s`.padStart(18)}${`${Math.round((100 * m) / l)}%`.padStart(8)}`)
  }

  // Latency: producer and consumer in two other processes, 10,000 msgs/s for 10 s.
  await admin.createTopics({ topics: [{ topic: 'live', numPartitions: 4 }] })
  const latency = (open) =>
    latencyRuns(runs, async () => {
      let ready
      const isReady = new Promise((res) => (ready = res))
      const consumer = child('latency-consume', [dataDir, 'live', 10], (line) => line === 'ready' && ready())
      await isReady
      const sent = await child('latency-produce', [dataDir, 'live', 10, open ? 'open' : 'ticks'])
      return { ...(await consumer), sent: sent.sent }
    })
  console.log(`produce->handler at 10,000 msgs/s, producer and consumer each in a process that does not own the directory ${await latency(false)}`)
  console.log(`the same, the producer not waiting for a tick's answers before the next tick ${await latency(true)}`)

  // The floor, measured now: the same ticks through three plain Node processes.
  const floor = await latencyRuns(runs, async (r) => {
    const sockets = [0, 1].map((k) => path.join(dataDir, `relay-${r}-${k}.sock`))
    const started = (role, args) => {
      let ready
      const isReady = new Promise((res) => (ready = res))
      const done = child(role, args, (line) => line === 'ready' && ready())
      // Once it is listening: its result, still to come.
      return isReady.then(() => ({ done }))
    }
    const consumer = await started('relay-consume', [sockets[1]])
    const middle = await started('relay', sockets)
    const sent = await child('relay-produce', [sockets[0], 10])
    await middle.done
    return { ...(await consumer.done), sent: sent.sent }
  })
  console.log(`the floor: the same two hops between plain Node processes over Unix sockets, nothing stored ${floor}`)

  // The same, with the consumer in the owner's process (a worker that owns the directory,
  // web processes producing into it).
  const own = await latencyRuns(runs, async (r) => {
    const topic = `live-owner-${r}`
    await admin.createTopics({ topics: [{ topic, numPartitions: 4 }] })
    const consuming = latencyConsumer(owner, topic, 10)
    await new Promise((res) => setTimeout(res, 500))
    const sent = await child('latency-produce', [dataDir, topic, 10])
    return { ...summary(await consuming), sent: sent.sent }
  })
  console.log(`the same, consumer in the owner's process ${own}`)
  await admin.disconnect()
  fs.rmSync(dataDir, { recursive: true, force: true })
}

module.exports = { child, summary, median }

if (require.main !== module) {
  // Required by another bench for its helpers.
} else if (process.argv[2] === '--role') {
  runChild().catch((e) => {
    console.error(e)
    process.exit(1)
  })
} else {
  main().catch((e) => {
    console.error(e)
    process.exit(1)
  })
}
