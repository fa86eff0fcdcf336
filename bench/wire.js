'use strict'

// Kafka clients against samsa's listener, beside samsa in-process, in one run: the same
// workload as bench/produce.js and bench/consume.js (100-byte values, 16-byte keys, 4
// partitions). Each figure is the median of 3 runs, printed with the CPU time per message
// of the client process and of the listener's process (`samsa serve`, a child of this
// one), so a miss can be placed on one side or the other.
//
//   node bench/wire.js [messages]
//
// Scenarios: produce in sends of 1000 and consume with eachBatch, in-process and with
// kafkajs 2.2.4 over the wire (kafkajs's defaults: maxWaitTimeInMs 5000, minBytes 1);
// produce-to-handler latency at 1,000 msgs/s with kafkajs's defaults; a librdkafka
// producer and consumer (kcat, Debian's package: `kcat -P -l` of a file of keyed lines with
// linger.ms=5, and `kcat -C -e -q`), if kcat is installed.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { Kafka: Samsa, logLevel } = require('..')
const { Kafka } = require('kafkajs')

const N = Number(process.argv[2] || 200_000)
const RUNS = 3
const VALUE = Buffer.alloc(100, 120)
const keys = Array.from({ length: N }, (_, i) => `rider-${String(i % 100000).padStart(10, '0')}`)
const messages = keys.map((key) => ({ key, value: VALUE }))
const KCAT = ['/usr/bin/kcat', '/usr/local/bin/kcat'].find((p) => fs.existsSync(p))
const CLK_TCK = 100 // Linux's USER_HZ

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const tempDir = (p) => fs.mkdtempSync(path.join(os.tmpdir(), p))

/** CPU seconds (user + system) of a process, from /proc. */
function cpuOf(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK
}

const selfCpu = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}

/** CPU seconds of this process's children that have exited (kcat runs). */
function childrenCpu() {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[13]) + Number(fields[14])) / CLK_TCK
}

/** `samsa serve` in a child process; resolves once it accepts connections. */
async function startServer() {
  const dataDir = tempDir('samsa-wire-bench-')
  const child = spawn(process.execPath, [path.join(__dirname, '..', 'bin', 'samsa.js'), 'serve', '--data-dir', dataDir, '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const port = await new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (d) => {
      out += d
      const m = /accepting Kafka connections on [^:]+:(\d+)/.exec(out)
      if (m) resolve(Number(m[1]))
    })
    child.once('exit', (code) => reject(new Error(`samsa serve exited with ${code}: ${out}`)))
  })
  return {
    port,
    pid: child.pid,
    async stop() {
      const exited = new Promise((r) => child.once('exit', r))
      child.kill('SIGTERM')
      await exited
      fs.rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** Runs `fn` and returns { rate, clientUs, serverUs } per message. `clientCpu` reads the
 * client's CPU seconds (this process, or kcat children). */
async function measure(n, serverPid, fn, clientCpu = selfCpu) {
  const c0 = clientCpu()
  const s0 = serverPid ? cpuOf(serverPid) : 0
  const t0 = performance.now()
  const { joinedAt } = (await fn()) || {}
  const ms = performance.now() - t0
  return {
    rate: (n / ms) * 1000,
    // Consumers: from the group join on, and the join itself (a classic group's first
    // rebalance waits group.initial.rebalance.delay.ms for more members).
    joinMs: joinedAt === undefined ? null : joinedAt - t0,
    rateFromJoin: joinedAt === undefined ? null : (n / (performance.now() - joinedAt)) * 1000,
    clientUs: ((clientCpu() - c0) / n) * 1e6,
    serverUs: serverPid ? ((cpuOf(serverPid) - s0) / n) * 1e6 : null,
  }
}

function row(name, runs, extra = '') {
  const rate = median(runs.map((r) => r.rate))
  const client = median(runs.map((r) => r.clientUs))
  const server = runs[0].serverUs === null ? '      -' : median(runs.map((r) => r.serverUs)).toFixed(2).padStart(7)
  console.log(`${name.padEnd(52)} ${Math.round(rate).toLocaleString().padStart(10)} msgs/s   client ${client.toFixed(2).padStart(6)} µs/msg   listener ${server} µs/msg ${extra}`)
  return rate
}

async function sendAll(send) {
  for (let i = 0; i < N; i += 1000) await send(messages.slice(i, i + 1000))
}

async function consumeAll(consumer, topic) {
  let count = 0
  let done
  let joinedAt
  const finished = new Promise((r) => (done = r))
  consumer.on(consumer.events.GROUP_JOIN, () => (joinedAt = joinedAt ?? performance.now()))
  await consumer.subscribe({ topic, fromBeginning: true })
  await consumer.run({
    eachBatch: async ({ batch }) => {
      count += batch.messages.length
      if (count >= N) done()
    },
  })
  await finished
  return { joinedAt }
}

/** The consume rows' second line: the rate from the group join on, and the join. */
function fromJoin(name, runs, extra = '') {
  const rate = median(runs.map((r) => r.rateFromJoin))
  const join = median(runs.map((r) => r.joinMs))
  console.log(`${name.padEnd(52)} ${Math.round(rate).toLocaleString().padStart(10)} msgs/s   (the join took ${join.toFixed(0)} ms) ${extra}`)
}

// ---------------------------------------------------------------- in-process

async function inProcess() {
  const produce = []
  const consume = []
  for (let run = 0; run < RUNS; run++) {
    const dataDir = tempDir('samsa-wire-bench-inproc-')
    const kafka = new Samsa({ dataDir, logLevel: logLevel.NOTHING })
    await kafka.admin().createTopics({ topics: [{ topic: 'bench', numPartitions: 4 }] })
    const producer = kafka.producer()
    await producer.connect()
    produce.push(await measure(N, null, () => sendAll((m) => producer.send({ topic: 'bench', messages: m }))))
    const consumer = kafka.consumer({ groupId: `g${run}` })
    await consumer.connect()
    consume.push(await measure(N, null, () => consumeAll(consumer, 'bench')))
    await kafka.close()
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
  row('samsa in-process: send() x 1000', produce)
  row('samsa in-process: eachBatch', consume)
  fromJoin('samsa in-process: eachBatch, from the group join', consume)
}

// ---------------------------------------------------------------- kafkajs over the wire

async function kafkajsWire() {
  const produce = []
  const consume = []
  const latencies = []
  for (let run = 0; run < RUNS; run++) {
    const server = await startServer()
    const kafka = new Kafka({ clientId: 'bench', brokers: [`127.0.0.1:${server.port}`], logLevel: 1 })
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: 'bench', numPartitions: 4 }, { topic: 'live', numPartitions: 4 }] })
    const producer = kafka.producer()
    await producer.connect()
    produce.push(await measure(N, server.pid, () => sendAll((m) => producer.send({ topic: 'bench', messages: m }))))
    const consumer = kafka.consumer({ groupId: `g${run}` })
    await consumer.connect()
    consume.push(await measure(N, server.pid, () => consumeAll(consumer, 'bench')))
    await consumer.disconnect()
    latencies.push(await latency(kafka, producer))
    await producer.disconnect()
    await admin.disconnect()
    await server.stop()
  }
  row('kafkajs -> listener: send() x 1000', produce, '(target 130,000)')
  row('kafkajs -> listener: eachBatch, default settings', consume, '(target 400,000)')
  fromJoin('kafkajs -> listener: eachBatch, from the group join', consume)
  const p = (q) => median(latencies.map((l) => l[q])).toFixed(2)
  console.log(`kafkajs -> listener: produce-to-handler at 1,000 msgs/s, kafkajs defaults: p50 ${p('p50')} ms, p99 ${p('p99')} ms, max ${p('max')} ms (target p99 <= 5 ms)`)
}

/** Produce-to-handler latency at 1,000 msgs/s for 3 s, kafkajs's defaults throughout. */
async function latency(kafka, producer) {
  const consumer = kafka.consumer({ groupId: `live-${Date.now()}` })
  await consumer.connect()
  await consumer.subscribe({ topic: 'live', fromBeginning: false })
  const samples = []
  let joined
  const ready = new Promise((r) => (joined = r))
  consumer.on(consumer.events.GROUP_JOIN, () => joined())
  await consumer.run({ eachMessage: async ({ message }) => samples.push(performance.now() - Number(message.value.toString())) })
  await ready
  // Let the first fetches settle (kafkajs fetches its starting offsets after joining).
  await new Promise((r) => setTimeout(r, 500))
  const start = performance.now()
  let sent = 0
  while (performance.now() - start < 3000) {
    const due = Math.floor(performance.now() - start)
    while (sent < due) {
      sent++
      producer.send({ topic: 'live', messages: [{ key: `r${sent}`, value: String(performance.now()) }] })
    }
    await new Promise((r) => setImmediate(r))
  }
  const deadline = performance.now() + 10000
  while (samples.length < sent && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  await consumer.disconnect()
  samples.sort((a, b) => a - b)
  const q = (x) => samples[Math.min(samples.length - 1, Math.floor(samples.length * x))]
  return { p50: q(0.5), p99: q(0.99), max: samples[samples.length - 1] }
}

// ---------------------------------------------------------------- librdkafka (kcat)

async function kcatWire() {
  if (!KCAT) {
    console.log('librdkafka (kcat): skipped, kcat is not installed (apt-get install kcat)')
    return
  }
  const about = spawnSync(KCAT, ['-V'], { encoding: 'utf8' }).stdout
  const version = `kcat ${(/Version ([^ ]+)/.exec(about) || [])[1]}, librdkafka ${(/librdkafka ([^ ]+)/.exec(about) || [])[1]}`
  const input = path.join(tempDir('samsa-wire-bench-kcat-'), 'lines')
  fs.writeFileSync(input, keys.map((k) => `${k}:${VALUE.toString()}`).join('\n') + '\n')
  const produce = []
  const consume = []
  for (let run = 0; run < RUNS; run++) {
    const server = await startServer()
    const broker = `127.0.0.1:${server.port}`
    const samsa = spawnSync(KCAT, ['-b', broker, '-L'], { encoding: 'utf8' })
    if (samsa.status !== 0) throw new Error(`kcat -L failed: ${samsa.stderr}`)
    const kafka = new Kafka({ clientId: 'bench', brokers: [broker], logLevel: 1 })
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: 'bench', numPartitions: 4 }] })
    await admin.disconnect()
    const kcat = (args, quiet) => measure(N, server.pid, () => runKcat(args, quiet), childrenCpu)
    produce.push(await kcat(['-b', broker, '-P', '-t', 'bench', '-K:', '-l', '-X', 'linger.ms=5', input]))
    consume.push(await kcat(['-b', broker, '-C', '-t', 'bench', '-o', 'beginning', '-e', '-q', '-c', String(N)], true))
    await server.stop()
  }
  fs.rmSync(path.dirname(input), { recursive: true, force: true })
  // kcat's CPU (its own process's) is shown as the client's.
  row(`librdkafka producer (${version}: kcat -P -l, linger.ms=5)`, produce, '(target 500,000)')
  row('librdkafka consumer (kcat -C -e)', consume)
}

function runKcat(args, quietOutput = false) {
  return new Promise((resolve, reject) => {
    const child = spawn(KCAT, args, { stdio: ['ignore', quietOutput ? 'ignore' : 'pipe', 'pipe'] })
    let err = ''
    child.stderr.on('data', (d) => (err += d))
    child.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`kcat ${args.join(' ')} exited with ${code}: ${err}`))
      resolve()
    })
  })
}

;(async () => {
  console.log(`samsa wire benchmark: ${N.toLocaleString()} messages of ${VALUE.length} bytes with 16-byte keys, 4 partitions, medians of ${RUNS} runs`)
  console.log(`node ${process.version}, ${os.cpus().length} CPUs, ${new Date().toISOString()}\n`)
  await inProcess()
  await kafkajsWire()
  await kcatWire()
})().catch((e) => {
  console.error(e)
  process.exit(1)
})
