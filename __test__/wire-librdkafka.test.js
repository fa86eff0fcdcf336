'use strict'

// librdkafka against samsa's Kafka listener (src/wire): kcat from Debian's package
// (librdkafka 2.0) and Confluent's Python client (confluent-kafka 2.16 from PyPI, which
// bundles librdkafka 2.16 with lz4 and zstd). The broker runs in this process (listen() on
// an ephemeral loopback port), so samsa's own clients, admin and logs sit beside the
// librdkafka processes. Every child exits by itself: kcat consumers with -e, the Python
// fixture (fixtures/rdkafka_client.py) after a message count, an idle time, a "stop" line
// or its deadline; a child still running at a test's deadline is killed and fails the test.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const requires = require('./requirements')
const { waitFor, batchHeaders: readBatchHeaders } = require('./helpers')
const { Kafka, logLevel } = require('..')

const kcat = requires.debianPackage({ name: 'kcat', binary: '/usr/bin/kcat' })
const py = requires.pythonVenv({ name: 'confluent-kafka', packages: ['confluent-kafka==2.16.1'], imports: ['confluent_kafka'] })
const both = requires.all(kcat, py)
const FIXTURE = path.join(__dirname, 'fixtures', 'rdkafka_client.py')

let dataDir
let kafka
let admin
let bootstrap
let address
const brokerLogs = []
const children = new Set()

beforeAll(async () => {
  if (!kcat.available && !py.available) return
  // Not helpers.tempDir: its afterAll (registered first) would remove the directory
  // before this file's afterAll has closed the broker.
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-librdkafka-'))
  kafka = new Kafka({
    dataDir,
    clientId: 'wire-librdkafka',
    logLevel: logLevel.DEBUG,
    logCreator: () => ({ namespace, level, log }) => {
      const { message, timestamp, ...rest } = log
      brokerLogs.push(`${timestamp} ${level} ${namespace} ${message} ${JSON.stringify(rest)}`)
    },
  })
  address = await kafka.listen({ port: 0, host: '127.0.0.1' })
  bootstrap = `${address.host}:${address.port}`
  admin = kafka.admin()
  await admin.connect()
}, 30000)

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL')
  if (admin) await admin.disconnect()
  if (kafka) await kafka.close()
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true })
  // The broker's whole log (the core's lines included), for looking into a failure.
  if (process.env.SAMSA_TEST_BROKER_LOG) fs.writeFileSync(process.env.SAMSA_TEST_BROKER_LOG, `${brokerLogs.join('\n')}\n`)
})

/** The broker's last log lines (the core's own included), for a failure message. */
const logTail = (n = 40) => brokerLogs.slice(-n).join('\n')

/**
 * Starts a child. `input` is written to stdin and stdin closed, unless `keepStdin` (the
 * Python consumer's "stop" line). Lines of stdout are kept (parsed when `json`);
 * `waitLine` resolves with the first that matches; `done` with the exit.
 */
function start(cmd, args, { input, keepStdin = false, json = false, timeoutMs = 60000, name = path.basename(cmd) } = {}) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } })
  children.add(child)
  const proc = { child, name, stdout: '', stderr: '', lines: [], exit: null, waiters: new Set() }
  let partial = ''
  const check = () => {
    for (const w of proc.waiters) {
      const hit = proc.lines.find(w.pred)
      if (hit !== undefined) {
        proc.waiters.delete(w)
        w.resolve(hit)
      } else if (proc.exit) {
        proc.waiters.delete(w)
        w.reject(new Error(`${name} exited (${JSON.stringify(proc.exit)}) before ${w.what}\n${proc.describe()}`))
      }
    }
  }
  child.stdout.on('data', (d) => {
    proc.stdout += d
    partial += d
    let nl
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl)
      partial = partial.slice(nl + 1)
      if (json) {
        try {
          proc.lines.push(JSON.parse(line))
        } catch {
          proc.lines.push({ event: 'unparsed', line })
        }
      } else proc.lines.push(line)
    }
    check()
  })
  child.stderr.on('data', (d) => {
    proc.stderr += d
  })
  child.stdin.on('error', () => {}) // a child that exits before reading its input
  if (input !== undefined) child.stdin.write(input)
  if (!keepStdin) child.stdin.end()
  proc.describe = () =>
    `${name} ${args.join(' ')}\n--- stdout (tail):\n${proc.stdout.slice(-3000)}\n--- stderr (tail):\n${proc.stderr.slice(-3000)}\n--- broker log (tail):\n${logTail()}`
  const timer = setTimeout(() => {
    proc.timedOut = true
    child.kill('SIGKILL')
  }, timeoutMs)
  proc.done = new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      children.delete(child)
      proc.exit = { code, signal, timedOut: !!proc.timedOut }
      check()
      resolve(proc)
    })
  })
  proc.waitLine = (pred, { timeoutMs: ms = 30000, what = 'the expected output' } = {}) =>
    new Promise((resolve, reject) => {
      const w = { pred, what, resolve, reject }
      const t = setTimeout(() => {
        proc.waiters.delete(w)
        reject(new Error(`timed out after ${ms} ms waiting for ${what} from ${proc.describe()}`))
      }, ms)
      const settle = (f) => (v) => {
        clearTimeout(t)
        f(v)
      }
      w.resolve = settle(resolve)
      w.reject = settle(reject)
      proc.waiters.add(w)
      check()
    })
  proc.stop = () => {
    try {
      child.stdin.end('stop\n')
    } catch {}
  }
  /** Waits for the exit; fails (with the child's output and the broker's log) unless it exited 0. */
  proc.ok = async () => {
    await proc.done
    if (proc.exit.code !== 0) throw new Error(`${name} failed (${JSON.stringify(proc.exit)})\n${proc.describe()}`)
    return proc
  }
  return proc
}

const kcatRun = (args, opts = {}) => start(kcat.path, ['-b', bootstrap, ...args], { name: 'kcat', ...opts })
const pyRun = (args, opts = {}) => start(py.python, [FIXTURE, ...args], { name: `python ${args[0]}`, json: true, ...opts })
const events = (proc, event) => proc.lines.filter((l) => l.event === event)

async function createTopic(topic, numPartitions) {
  await admin.createTopics({ topics: [{ topic, numPartitions }], waitForLeaders: true })
}

async function committed(groupId, topic) {
  const [t] = await admin.fetchOffsets({ groupId, topics: [topic] })
  return Object.fromEntries(t.partitions.map((p) => [p.partition, Number(p.offset)]))
}

async function highWatermarks(topic) {
  return Object.fromEntries((await admin.fetchTopicOffsets(topic)).map((p) => [p.partition, Number(p.high)]))
}

/** Every record batch header of a partition's segment files (helpers.batchHeaders). */
const batchHeaders = (topic, partition) => readBatchHeaders(dataDir, topic, partition)

/** Reads `count` messages of `topics` with a samsa consumer of this process in `groupId`. */
async function samsaRead(groupId, topic, count, timeoutMs = 15000) {
  const consumer = kafka.consumer({ groupId })
  const got = []
  await consumer.connect()
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        got.push({ p: partition, o: Number(message.offset), k: message.key && message.key.toString(), v: message.value.toString() })
      },
    })
    await waitFor(() => got.length >= count, { timeoutMs, what: `${count} messages of ${topic} read by samsa's consumer (have ${got.length})` })
  } finally {
    await consumer.disconnect()
  }
  return got
}

/** Messages grouped by partition, each list in offset order as delivered. */
function byPartition(msgs) {
  const out = {}
  for (const m of msgs) (out[m.p] = out[m.p] || []).push(m)
  return out
}

function expectOrderedPerPartition(msgs) {
  for (const list of Object.values(byPartition(msgs))) {
    const offsets = list.map((m) => m.o)
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b))
    expect(new Set(offsets).size).toBe(offsets.length)
  }
}

const sorted = (xs) => [...xs].sort()

// --- kcat (librdkafka 2.0) ------------------------------------------------------------

kcat.describe('kcat (Debian, librdkafka 2.0)', () => {
  test('kcat -V names the librdkafka it uses', async () => {
    const p = await start(kcat.path, ['-V'], { name: 'kcat' }).ok()
    expect(p.stdout).toMatch(/librdkafka 2\.\d+\.\d+/)
    console.log(`kcat -V: ${p.stdout.split('\n').find((l) => l.includes('librdkafka'))}`)
  })

  test('-L lists topics with their partitions, led by the broker at the advertised address', async () => {
    await createTopic('kc-list-3', 3)
    await createTopic('kc-list-1', 1)
    const p = await kcatRun(['-L', '-J']).ok()
    const md = JSON.parse(p.stdout)
    expect(md.brokers).toEqual([{ id: 0, name: bootstrap }])
    expect(md.controllerid).toBe(0)
    const topics = Object.fromEntries(md.topics.map((t) => [t.topic, t]))
    expect(topics['kc-list-3'].partitions.map((x) => x.partition).sort()).toEqual([0, 1, 2])
    expect(topics['kc-list-1'].partitions.map((x) => x.partition)).toEqual([0])
    for (const t of [topics['kc-list-3'], topics['kc-list-1']]) {
      expect(t.error).toBeUndefined()
      for (const x of t.partitions) {
        expect(x.leader).toBe(0)
        expect(x.replicas).toEqual([{ id: 0 }])
        expect(x.isrs).toEqual([{ id: 0 }])
      }
    }
    // One topic asked for by name (kcat -L -t), and the plain text form.
    const one = await kcatRun(['-L', '-t', 'kc-list-3']).ok()
    expect(one.stdout).toContain(`broker 0 at ${bootstrap}`)
    expect(one.stdout).toContain('topic "kc-list-3" with 3 partitions')
  })

  test('-P with keys (-K:) and each codec (-z lz4, zstd, snappy, gzip); -C -e reads exactly those lines back in order; so does samsa', async () => {
    const topic = 'kc-lines'
    await createTopic(topic, 1)
    const codecs = ['none', 'lz4', 'zstd', 'snappy', 'gzip']
    const expected = []
    for (const codec of codecs) {
      const lines = Array.from({ length: 40 }, (_, i) => [`${codec}-key-${i}`, `${codec} value ${i} ${'x'.repeat(i)}`])
      await kcatRun(['-P', '-t', topic, '-K:', '-z', codec], { input: lines.map(([k, v]) => `${k}:${v}\n`).join('') }).ok()
      expected.push(...lines.map(([k, v]) => `${k.length}|${k}|${v}`))
    }
    // Lines without -K: no key at all (%K prints -1 for a null key).
    const plain = ['plain one', 'plain two', 'plain three']
    await kcatRun(['-P', '-t', topic], { input: plain.map((l) => `${l}\n`).join('') }).ok()
    expected.push(...plain.map((v) => `-1||${v}`))

    const c = await kcatRun(['-C', '-t', topic, '-o', 'beginning', '-e', '-f', '%K|%k|%s\n'], { timeoutMs: 30000 }).ok()
    expect(c.stdout.split('\n').slice(0, -1)).toEqual(expected)
    expect(c.stderr).toMatch(new RegExp(`Reached end of topic ${topic} \\[0\\] at offset ${expected.length}`))


    // samsa's own consumer in this process reads the same records.
    const got = await samsaRead('kc-lines-samsa', topic, expected.length)
    expect(got.map((m) => `${m.k === null ? -1 : m.k.length}|${m.k ?? ''}|${m.v}`)).toEqual(expected)
  }, 60000)

  test('-C -o N -c M (starting inside a compressed batch), -o -N (from the end), -Q (offsets by timestamp)', async () => {
    const topic = 'kc-offsets'
    await createTopic(topic, 1)
    for (const codec of ['zstd', 'none']) {
      const lines = Array.from({ length: 50 }, (_, i) => `${codec}-${i}`)
      await kcatRun(['-P', '-t', topic, '-z', codec], { input: lines.map((l) => `${l}\n`).join('') }).ok()
    }
    const all = (await kcatRun(['-C', '-t', topic, '-o', 'beginning', '-e', '-f', '%o\t%T\t%s\n']).ok()).stdout
      .split('\n')
      .slice(0, -1)
      .map((l) => {
        const [o, ts, v] = l.split('\t')
        return { o: Number(o), ts: Number(ts), v }
      })
    expect(all.map((m) => m.o)).toEqual(Array.from({ length: 100 }, (_, i) => i))
    // From offset 7 (inside the first, zstd-compressed batch), 5 messages, then exit.
    const mid = await kcatRun(['-C', '-t', topic, '-p', '0', '-o', '7', '-c', '5', '-f', '%o %s\n']).ok()
    expect(mid.stdout).toBe(all.slice(7, 12).map((m) => `${m.o} ${m.v}\n`).join(''))
    // The last three (kcat asks ListOffsets for the end).
    const tail = await kcatRun(['-C', '-t', topic, '-p', '0', '-o', '-3', '-e', '-f', '%o %s\n']).ok()
    expect(tail.stdout).toBe(all.slice(97).map((m) => `${m.o} ${m.v}\n`).join(''))
    // -Q: the earliest offset whose timestamp is at least T; -1 (end) and -2 (beginning).
    const t = all[60].ts
    const query = async (ts) => (await kcatRun(['-Q', '-t', `${topic}:0:${ts}`]).ok()).stdout
    expect(await query(t)).toBe(`${topic} [0] offset ${all.find((m) => m.ts >= t).o}\n`)
    expect(await query(t + 1)).toBe(`${topic} [0] offset ${all.find((m) => m.ts >= t + 1)?.o ?? -1}\n`)
    expect(await query(-1)).toBe(`${topic} [0] offset 100\n`)
    expect(await query(-2)).toBe(`${topic} [0] offset 0\n`)
    expect(await query(all[99].ts + 3600000)).toBe(`${topic} [0] offset -1\n`)
  }, 60000)

  test('-z gzip, snappy, lz4 and zstd are really used: kcat compresses its batches, samsa stores them so', async () => {
    // librdkafka 2.0 enables gzip, snappy and lz4 only if the broker's ApiVersions range for
    // Produce includes v0 (and zstd only if it includes v7): a broker advertising Produce 3+
    // gets those batches uncompressed, with a debug line "Broker does not support
    // compression type ...: not compressing batch" (librdkafka#4956). Kafka 4.0 advertises
    // Produce from v0 for this reason while refusing v0-v2 requests (KAFKA-18659).
    const topic = 'kc-codecs'
    await createTopic(topic, 1)
    const ids = { gzip: 1, snappy: 2, lz4: 3, zstd: 4 }
    const refused = []
    for (const codec of Object.keys(ids)) {
      const lines = Array.from({ length: 20 }, (_, i) => `${codec} ${i} ${'y'.repeat(100)}`)
      const p = await kcatRun(['-P', '-t', topic, '-z', codec, '-d', 'msg'], { input: lines.map((l) => `${l}\n`).join('') }).ok()
      refused.push(...p.stderr.split('\n').filter((l) => /does not support compression/.test(l)).map((l) => l.replace(/^.*?: (?=\S+ \[\d+\]: Broker)/, '')))
    }
    const stored = batchHeaders(topic, 0).map((b) => b.codec)
    expect({ refused, stored }).toEqual({ refused: [], stored: Object.values(ids) })
    const c = await kcatRun(['-C', '-t', topic, '-o', 'beginning', '-e', '-q']).ok()
    expect(c.stdout.split('\n').length - 1).toBe(80)
  }, 60000)

  test('-P to three partitions by key, -C -e: in order per partition, keys stay on one partition; samsa reads the same', async () => {
    const topic = 'kc-keyed-3'
    await createTopic(topic, 3)
    const sent = Array.from({ length: 90 }, (_, i) => ({ k: `key-${i % 9}`, v: `value-${i}` }))
    await kcatRun(['-P', '-t', topic, '-K:', '-z', 'lz4'], { input: sent.map((m) => `${m.k}:${m.v}\n`).join('') }).ok()

    const c = await kcatRun(['-C', '-t', topic, '-o', 'beginning', '-e', '-f', '%p\t%o\t%k\t%s\n']).ok()
    const got = c.stdout
      .split('\n')
      .slice(0, -1)
      .map((l) => {
        const [p, o, k, v] = l.split('\t')
        return { p: Number(p), o: Number(o), k, v }
      })
    expect(sorted(got.map((m) => m.v))).toEqual(sorted(sent.map((m) => m.v)))
    expectOrderedPerPartition(got)
    const partitionOf = new Map()
    for (const m of got) {
      if (partitionOf.has(m.k)) expect(m.p).toBe(partitionOf.get(m.k))
      partitionOf.set(m.k, m.p)
    }
    for (const list of Object.values(byPartition(got))) {
      // Within a partition, the order kcat produced them in.
      const idx = list.map((m) => Number(m.v.split('-')[1]))
      expect(idx).toEqual([...idx].sort((a, b) => a - b))
    }
    expect(new Set(got.map((m) => m.p)).size).toBeGreaterThan(1)

    const mine = await samsaRead('kc-keyed-samsa', topic, sent.length)
    expect(mine.length).toBe(sent.length)
    const where = (msgs) => sorted(msgs.map((m) => `${m.p}/${m.o}/${m.k}/${m.v}`))
    expect(where(mine)).toEqual(where(got))
  }, 60000)

  test('-G (classic balanced consumer) reads everything once, commits; a second run gets only what is new', async () => {
    const topic = 'kc-group-3'
    const group = 'kc-group'
    await createTopic(topic, 3)
    const first = Array.from({ length: 30 }, (_, i) => `first-${i}`)
    await kcatRun(['-P', '-t', topic, '-z', 'zstd'], { input: first.map((l) => `${l}\n`).join('') }).ok()
    const high = await highWatermarks(topic)
    expect(Object.values(high).reduce((a, b) => a + b, 0)).toBe(first.length)

    const groupArgs = ['-G', group, '-e', '-X', 'auto.offset.reset=earliest', '-X', 'session.timeout.ms=6000', '-X', 'heartbeat.interval.ms=300', '-f', '%p\t%o\t%s\n', topic]
    const parse = (p) =>
      p.stdout
        .split('\n')
        .slice(0, -1)
        .map((l) => {
          const [part, o, v] = l.split('\t')
          return { p: Number(part), o: Number(o), v }
        })
    const run1 = await kcatRun(groupArgs).ok()
    const got1 = parse(run1)
    expect(sorted(got1.map((m) => m.v))).toEqual(sorted(first))
    expectOrderedPerPartition(got1)
    expect(run1.stderr).toMatch(/assigned: .*kc-group-3 \[0\]/)
    // kcat commits what it consumed as it leaves (auto commit on close); nothing for a
    // partition it read nothing from (fetchOffsets says -1 there).
    const withData = (offsets) => Object.fromEntries(Object.entries(offsets).filter(([p]) => high[p] > 0))
    expect(withData(await committed(group, topic))).toEqual(withData(high))

    const run2 = await kcatRun(groupArgs).ok()
    expect(parse(run2)).toEqual([])

    const second = ['second-a', 'second-b', 'second-c', 'second-d']
    await kcatRun(['-P', '-t', topic], { input: second.map((l) => `${l}\n`).join('') }).ok()
    const run3 = await kcatRun(groupArgs).ok()
    expect(sorted(parse(run3).map((m) => m.v))).toEqual(sorted(second))
    const high3 = await highWatermarks(topic)
    const got3 = await committed(group, topic)
    for (const [p, h] of Object.entries(high3)) if (h > high[p]) expect(got3[p]).toBe(h)
  }, 90000)
})

// --- confluent-kafka (librdkafka 2.16) --------------------------------------------------

py.describe('confluent-kafka for Python (librdkafka 2.16)', () => {
  test('versions', async () => {
    const p = await pyRun(['versions']).ok()
    const [v] = events(p, 'versions')
    expect(v.version).toBe('2.16.1')
    expect(v.libversion).toMatch(/^2\.16\./)
    console.log(`confluent_kafka.version() ${v.version}, libversion() ${v.libversion}`)
  })

  test('AdminClient: create_topics, list_topics, describe_configs', async () => {
    const p = await pyRun(['admin', bootstrap, 'py-admin-4', '--partitions', '4', '--deadline', '30']).ok()
    expect(events(p, 'created')).toEqual([{ event: 'created', topic: 'py-admin-4' }])
    const [t] = events(p, 'topics')
    expect(t.topics['py-admin-4']).toEqual([0, 1, 2, 3])
    expect(t.brokers).toEqual([[0, address.host, address.port]])
    const [c] = events(p, 'configs')
    expect(c.configs['retention.ms']).toBe('3600000')
    expect(c.configs['cleanup.policy']).toBe('delete')
    expect((await admin.fetchTopicMetadata({ topics: ['py-admin-4'] })).topics[0].partitions.length).toBe(4)
  }, 40000)

  for (const [codec, codecId] of [['lz4', 3], ['zstd', 4]]) {
    test(`idempotent producer with ${codec}: every delivery report OK, every message stored once`, async () => {
      const topic = `py-idem-${codec}`
      await createTopic(topic, 3)
      const n = 3000
      const p = await pyRun(['produce', bootstrap, topic, '--count', String(n), '--compression', codec, '--idempotence', '--deadline', '40'], {
        timeoutMs: 45000,
      }).ok()
      const [r] = events(p, 'produced')
      expect(r.errors).toEqual([])
      expect(r.left).toBe(0)
      expect(r.delivered).toBe(n)
      // Offsets reported back are distinct per partition.
      expect(new Set(r.offsets.map(([part, o]) => `${part}/${o}`)).size).toBe(n)
      const high = await highWatermarks(topic)
      expect(Object.values(high).reduce((a, b) => a + b, 0)).toBe(n)

      // Stored as sent: compressed with the codec, with a producer id and sequences.
      for (let part = 0; part < 3; part++) {
        const batches = batchHeaders(topic, part)
        expect(batches.length).toBeGreaterThan(0)
        let seq = 0
        for (const b of batches) {
          expect(b.codec).toBe(codecId)
          expect(b.producerId).toBeGreaterThanOrEqual(0)
          expect(b.producerEpoch).toBeGreaterThanOrEqual(0)
          expect(b.baseSequence).toBe(seq)
          seq += b.count
        }
      }

      const got = await samsaRead(`py-idem-${codec}-samsa`, topic, n)
      expect(got.length).toBe(n)
      expect(new Set(got.map((m) => m.v)).size).toBe(n)
      expect(sorted(got.map((m) => m.v))).toEqual(sorted(Array.from({ length: n }, (_, i) => String(i))))
      expectOrderedPerPartition(got)
      for (const list of Object.values(byPartition(got))) {
        const idx = list.map((m) => Number(m.v))
        expect(idx).toEqual([...idx].sort((a, b) => a - b))
      }
    }, 60000)
  }

  test('classic group (group.protocol=classic): consume all, commit sync, close; the next run gets only what is new', async () => {
    const topic = 'py-classic-3'
    const group = 'py-classic'
    await createTopic(topic, 3)
    await pyRun(['produce', bootstrap, topic, '--count', '60', '--partitions', '3', '--compression', 'lz4']).ok()
    const run1 = await pyRun(['consume', bootstrap, topic, group, '--protocol', 'classic', '--expect', '60', '--deadline', '30'], { timeoutMs: 40000 }).ok()
    const got1 = events(run1, 'msg')
    expect(sorted(got1.map((m) => m.v))).toEqual(sorted(Array.from({ length: 60 }, (_, i) => String(i))))
    expectOrderedPerPartition(got1)
    expect(events(run1, 'commit-error')).toEqual([])
    expect(events(run1, 'committed').flatMap((c) => c.offsets.map(([, part, o, err]) => [part, o, err])).sort()).toEqual([
      [0, 20, null],
      [1, 20, null],
      [2, 20, null],
    ])
    expect(events(run1, 'error')).toEqual([])
    expect(events(run1, 'committed-read')[0].offsets.sort()).toEqual([
      [topic, 0, 20, null],
      [topic, 1, 20, null],
      [topic, 2, 20, null],
    ])
    expect(await committed(group, topic)).toEqual({ 0: 20, 1: 20, 2: 20 })
    // AdminClient: list_consumer_groups, describe_consumer_groups, list_consumer_group_offsets.
    const g = await pyRun(['groups', bootstrap, group, '--deadline', '30']).ok()
    expect(events(g, 'groups')[0].groups[group]).toBe('EMPTY')
    expect(events(g, 'described')[0]).toMatchObject({ group, state: 'EMPTY', members: [] })
    expect(events(g, 'group-offsets')[0].offsets).toEqual([
      [topic, 0, 20],
      [topic, 1, 20],
      [topic, 2, 20],
    ])

    await pyRun(['produce', bootstrap, topic, '--count', '6', '--partitions', '3', '--prefix', 'new-']).ok()
    const run2 = await pyRun(['consume', bootstrap, topic, group, '--protocol', 'classic', '--expect', '6', '--deadline', '30'], { timeoutMs: 40000 }).ok()
    expect(sorted(events(run2, 'msg').map((m) => m.v))).toEqual(sorted(Array.from({ length: 6 }, (_, i) => `new-${i}`)))
    expect(await committed(group, topic)).toEqual({ 0: 22, 1: 22, 2: 22 })
  }, 90000)

  test('classic group: a member killed (SIGKILL) is dropped after session.timeout.ms and the other gets its partition', async () => {
    const topic = 'py-classic-crash-2'
    const group = 'py-classic-crash'
    await createTopic(topic, 2)
    const consumer = (name) =>
      pyRun(['consume', bootstrap, topic, group, '--protocol', 'classic', '--stdin', '--name', name, '--deadline', '60'], {
        keepStdin: true,
        timeoutMs: 70000,
        name: `python classic consumer ${name}`,
      })
    const owned = (proc) => {
      let s = []
      for (const l of proc.lines) {
        if (l.event === 'assign') s = l.parts.map(([, part]) => part) // eager: the whole assignment
        if (l.event === 'revoke' || l.event === 'lost') s = []
      }
      return s.sort()
    }
    const a = consumer('A')
    await a.waitLine((l) => l.event === 'assign' && l.parts.length === 2, { what: 'A assigned both partitions' })
    const b = consumer('B')
    await waitFor(() => owned(a).length === 1 && owned(b).length === 1, {
      timeoutMs: 20000,
      what: `one partition each (A ${owned(a)}, B ${owned(b)})\n${b.describe()}`,
    })
    await pyRun(['produce', bootstrap, topic, '--count', '10', '--partitions', '2']).ok()
    await waitFor(() => events(a, 'msg').length === 5 && events(b, 'msg').length === 5, { timeoutMs: 20000, what: 'five messages each' })
    const aHad = owned(a)[0]
    a.child.kill('SIGKILL') // no LeaveGroup, no commit
    await a.done
    const killed = Date.now()
    await waitFor(() => owned(b).length === 2, { timeoutMs: 20000, what: `B owning both partitions (has ${owned(b)})\n${b.describe()}` })
    const took = Date.now() - killed
    // session.timeout.ms is 6000 in the fixture: not before, and not much after.
    expect(took).toBeGreaterThan(4000)
    expect(took).toBeLessThan(12000)
    // A never committed: B reads A's partition from the start (at least once).
    await waitFor(() => events(b, 'msg').filter((m) => m.p === aHad).length >= 5, { timeoutMs: 20000, what: "B reading A's partition" })
    b.stop()
    await b.ok()
    expect(sorted(events(b, 'msg').map((m) => m.v))).toEqual(sorted(Array.from({ length: 10 }, (_, i) => String(i))))
    expect(events(b, 'commit-error')).toEqual([])
    expect(await committed(group, topic)).toEqual({ 0: 5, 1: 5 })
  }, 90000)

  test('KIP-848 group (group.protocol=consumer): consume all, commit; the next run gets only what is new', async () => {
    const topic = 'py-848-3'
    const group = 'py-848'
    await createTopic(topic, 3)
    await pyRun(['produce', bootstrap, topic, '--count', '60', '--partitions', '3', '--compression', 'zstd', '--idempotence']).ok()
    const run1 = await pyRun(['consume', bootstrap, topic, group, '--protocol', 'consumer', '--expect', '60', '--deadline', '30'], { timeoutMs: 40000 }).ok()
    const got1 = events(run1, 'msg')
    expect(sorted(got1.map((m) => m.v))).toEqual(sorted(Array.from({ length: 60 }, (_, i) => String(i))))
    expectOrderedPerPartition(got1)
    expect(events(run1, 'commit-error')).toEqual([])
    expect(events(run1, 'error')).toEqual([])
    expect(events(run1, 'client-error')).toEqual([])
    // The member reads its group's commits back (OffsetFetch with its member id and epoch).
    expect(events(run1, 'committed-read')[0].offsets.sort()).toEqual([
      [topic, 0, 20, null],
      [topic, 1, 20, null],
      [topic, 2, 20, null],
    ])
    expect(await committed(group, topic)).toEqual({ 0: 20, 1: 20, 2: 20 })

    await pyRun(['produce', bootstrap, topic, '--count', '6', '--partitions', '3', '--prefix', 'new-']).ok()
    const run2 = await pyRun(['consume', bootstrap, topic, group, '--protocol', 'consumer', '--expect', '6', '--deadline', '30'], { timeoutMs: 40000 }).ok()
    expect(sorted(events(run2, 'msg').map((m) => m.v))).toEqual(sorted(Array.from({ length: 6 }, (_, i) => `new-${i}`)))
    expect(await committed(group, topic)).toEqual({ 0: 22, 1: 22, 2: 22 })
  }, 90000)

  test('KIP-848: two consumers split the partitions (each message once); one leaves, the other takes its partitions over', async () => {
    const topic = 'py-848-split-4'
    const group = 'py-848-split'
    await createTopic(topic, 4)
    const consumer = (name) =>
      pyRun(['consume', bootstrap, topic, group, '--protocol', 'consumer', '--stdin', '--name', name, '--deadline', '60'], {
        keepStdin: true,
        timeoutMs: 70000,
        name: `python consumer ${name}`,
      })
    // What each member owns now, from its assign/revoke callbacks (incremental with KIP-848).
    const owned = (proc) => {
      const s = new Set()
      for (const l of proc.lines) {
        if (l.event === 'assign') for (const [, part] of l.parts) s.add(part)
        if (l.event === 'revoke' || l.event === 'lost') for (const [, part] of l.parts) s.delete(part)
      }
      return [...s].sort()
    }
    const a = consumer('A')
    await a.waitLine((l) => l.event === 'assign' && l.parts.length === 4, { what: 'A assigned all four partitions' })
    const b = consumer('B')
    await waitFor(() => owned(a).length === 2 && owned(b).length === 2, {
      timeoutMs: 20000,
      what: `A and B owning two partitions each (A ${owned(a)}, B ${owned(b)})\n${b.describe()}`,
    })
    expect(sorted([...owned(a), ...owned(b)])).toEqual([0, 1, 2, 3])

    await pyRun(['produce', bootstrap, topic, '--count', '80', '--partitions', '4', '--idempotence', '--compression', 'lz4']).ok()
    const msgs = () => [...events(a, 'msg').map((m) => ({ ...m, who: 'A' })), ...events(b, 'msg').map((m) => ({ ...m, who: 'B' }))]
    await waitFor(() => msgs().length >= 80, { timeoutMs: 20000, what: `80 messages between A and B (have ${msgs().length})` })
    expect(sorted(msgs().map((m) => m.v))).toEqual(sorted(Array.from({ length: 80 }, (_, i) => String(i))))
    expect(events(a, 'msg').length).toBe(40)
    expect(events(b, 'msg').length).toBe(40)
    for (const m of events(a, 'msg')) expect(owned(a)).toContain(m.p)
    for (const m of events(b, 'msg')) expect(owned(b)).toContain(m.p)
    const aHad = owned(a)

    // A leaves (commits, closes); B gets A's partitions and reads on from A's commits.
    a.stop()
    await a.ok()
    expect(events(a, 'commit-error')).toEqual([])
    await waitFor(() => owned(b).length === 4, { timeoutMs: 20000, what: `B owning all four partitions (has ${owned(b)})\n${b.describe()}` })
    await pyRun(['produce', bootstrap, topic, '--count', '40', '--partitions', '4', '--prefix', 'after-']).ok()
    await waitFor(() => events(b, 'msg').length >= 80, { timeoutMs: 20000, what: `B reading the 40 new messages (has ${events(b, 'msg').length - 40})` })
    b.stop()
    await b.ok()
    const after = events(b, 'msg').slice(40)
    expect(sorted(after.map((m) => m.v))).toEqual(sorted(Array.from({ length: 40 }, (_, i) => `after-${i}`)))
    expect(after.filter((m) => aHad.includes(m.p)).length).toBe(20)
    expect(events(b, 'commit-error')).toEqual([])
    expect(await committed(group, topic)).toEqual({ 0: 30, 1: 30, 2: 30, 3: 30 })
  }, 120000)

  test('KIP-848: partitions added (CreatePartitions) are assigned to the running member', async () => {
    const topic = 'py-848-grow'
    const group = 'py-848-grow'
    await createTopic(topic, 1)
    const c = pyRun(['consume', bootstrap, topic, group, '--protocol', 'consumer', '--expect', '3', '--deadline', '40'], { timeoutMs: 50000 })
    await c.waitLine((l) => l.event === 'assign' && l.parts.length === 1, { what: 'the member assigned partition 0' })
    const grow = await pyRun(['partitions', bootstrap, topic, '3']).ok()
    expect(events(grow, 'partitions-created')).toEqual([{ event: 'partitions-created', topic, count: 3 }])
    await pyRun(['produce', bootstrap, topic, '--count', '3', '--partitions', '3']).ok()
    await c.ok()
    expect(sorted(events(c, 'msg').map((m) => `${m.p}:${m.v}`))).toEqual(['0:0', '1:1', '2:2'])
    expect(events(c, 'revoke').slice(0, -1)).toEqual([]) // only the final one, on close
    expect(await committed(group, topic)).toEqual({ 0: 1, 1: 1, 2: 1 })
  }, 60000)
})

// --- the serve command --------------------------------------------------------------------

kcat.describe('samsa serve (bin/samsa.js) as a child process', () => {
  test('serves kcat until SIGTERM, then stops cleanly', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-serve-'))
    try {
      const serve = start(process.execPath, [path.join(__dirname, '..', 'bin', 'samsa.js'), 'serve', '--data-dir', dir, '--port', '0'], {
        name: 'samsa serve',
        timeoutMs: 30000,
      })
      const line = await serve.waitLine((l) => /accepting Kafka connections on/.test(l), { what: 'the accepting line' })
      const [, addr] = line.match(/on (\S+:\d+) /)
      // Still running a moment later: kcat can talk to it.
      const p = await start(kcat.path, ['-b', addr, '-P', '-t', 'served'], { name: 'kcat', input: 'one\ntwo\n' }).done
      const c = await start(kcat.path, ['-b', addr, '-C', '-t', 'served', '-e', '-q'], { name: 'kcat' }).done
      const alive = serve.exit === null
      serve.child.kill('SIGTERM')
      await serve.done
      expect({ alive, produced: p.exit.code, consumed: c.stdout, serveExit: serve.exit.code, stopping: /stopping/.test(serve.stdout) }).toEqual({
        alive: true,
        produced: 0,
        consumed: 'one\ntwo\n',
        serveExit: 0,
        stopping: true,
      })
    } finally {
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }, 40000)
})

// --- mixed: samsa's own consumer, KIP-848 and classic librdkafka members -----------------

both.describe('one group, several kinds of member', () => {
  test("samsa's in-process consumer and a KIP-848 Python consumer share a group's partitions, each message once", async () => {
    const topic = 'mixed-4'
    const group = 'mixed'
    await createTopic(topic, 4)
    const samsa = kafka.consumer({ groupId: group, sessionTimeout: 10000, heartbeatInterval: 500 })
    const mine = []
    let assignment = []
    samsa.on(samsa.events.GROUP_JOIN, ({ payload }) => {
      assignment = (payload.memberAssignment[topic] || []).slice().sort()
    })
    await samsa.connect()
    let pyc
    try {
      await samsa.subscribe({ topics: [topic], fromBeginning: true })
      await samsa.run({
        eachMessage: async ({ partition, message }) => {
          mine.push({ p: partition, o: Number(message.offset), v: message.value.toString() })
        },
      })
      await waitFor(() => assignment.length === 4, { timeoutMs: 10000, what: `samsa's consumer owning all four partitions (has ${assignment})` })

      pyc = pyRun(['consume', bootstrap, topic, group, '--protocol', 'consumer', '--stdin', '--name', 'P', '--deadline', '60'], {
        keepStdin: true,
        timeoutMs: 70000,
        name: 'python KIP-848 consumer',
      })
      const owned = () => {
        const s = new Set()
        for (const l of pyc.lines) {
          if (l.event === 'assign') for (const [, part] of l.parts) s.add(part)
          if (l.event === 'revoke' || l.event === 'lost') for (const [, part] of l.parts) s.delete(part)
        }
        return [...s].sort()
      }
      await waitFor(() => owned().length === 2 && assignment.length === 2, {
        timeoutMs: 20000,
        what: `two partitions each (samsa ${assignment}, python ${owned()})`,
      })
      expect(sorted([...assignment, ...owned()])).toEqual([0, 1, 2, 3])
      const d = await admin.describeGroups([group])
      expect(d.groups[0].members.length).toBe(2)

      // A classic member cannot join a group run by samsa's coordinator.
      const classic = await pyRun(['consume', bootstrap, topic, group, '--protocol', 'classic', '--idle', '4', '--deadline', '20'], { timeoutMs: 30000 }).ok()
      expect(events(classic, 'msg')).toEqual([])
      expect(events(classic, 'error')[0]).toMatchObject({ name: 'INCONSISTENT_GROUP_PROTOCOL', code: 23 })
      const k = await kcatRun(['-G', group, '-e', topic]).done
      expect(k.exit.code).toBe(1)
      expect(k.stderr).toMatch(/JoinGroup failed: Broker: Inconsistent group protocol/)

      const producer = kafka.producer()
      await producer.connect()
      await producer.send({ topic, messages: Array.from({ length: 40 }, (_, i) => ({ partition: i % 4, value: String(i) })) })
      const all = () => [...mine, ...events(pyc, 'msg')]
      await waitFor(() => all().length >= 40, { timeoutMs: 20000, what: `40 messages between samsa and python (have ${all().length})` })
      expect(sorted(all().map((m) => m.v))).toEqual(sorted(Array.from({ length: 40 }, (_, i) => String(i))))
      for (const m of mine) expect(assignment).toContain(m.p)
      for (const m of events(pyc, 'msg')) expect(owned()).toContain(m.p)
      expect(mine.length).toBe(20)

      // Python leaves: samsa's consumer takes its partitions over from its commits.
      const pyHad = owned()
      pyc.stop()
      await pyc.ok()
      expect(events(pyc, 'commit-error')).toEqual([])
      await waitFor(() => assignment.length === 4, { timeoutMs: 20000, what: `samsa's consumer owning all four again (has ${assignment})` })
      await producer.send({ topic, messages: Array.from({ length: 8 }, (_, i) => ({ partition: i % 4, value: `after-${i}` })) })
      await producer.disconnect()
      await waitFor(() => mine.length >= 28, { timeoutMs: 20000, what: `samsa's consumer reading the 8 new messages (has ${mine.length - 20})` })
      const after = mine.slice(20)
      expect(sorted(after.map((m) => m.v))).toEqual(sorted(Array.from({ length: 8 }, (_, i) => `after-${i}`)))
      expect(after.filter((m) => pyHad.includes(m.p)).length).toBe(4)
    } finally {
      if (pyc) pyc.stop()
      await samsa.disconnect()
    }
  }, 120000)

  test('a classic member (Python, kcat -G) joining a KIP-848 group gets INCONSISTENT_GROUP_PROTOCOL', async () => {
    const topic = 'mixed-848-2'
    const group = 'mixed-848'
    await createTopic(topic, 2)
    const k848 = pyRun(['consume', bootstrap, topic, group, '--protocol', 'consumer', '--stdin', '--name', 'K', '--deadline', '40'], {
      keepStdin: true,
      timeoutMs: 50000,
    })
    try {
      await k848.waitLine((l) => l.event === 'assign' && l.parts.length === 2, { what: 'the KIP-848 member assigned both partitions' })
      const classic = await pyRun(['consume', bootstrap, topic, group, '--protocol', 'classic', '--idle', '4', '--deadline', '20'], { timeoutMs: 30000 }).ok()
      const [err] = events(classic, 'error')
      expect(err).toMatchObject({ name: 'INCONSISTENT_GROUP_PROTOCOL', code: 23, fatal: false })
      expect(err.error).toContain('JoinGroup failed: Broker: Inconsistent group protocol')
      expect(events(classic, 'assign')).toEqual([])
      const k = await kcatRun(['-G', group, '-e', topic]).done
      expect(k.exit.code).toBe(1)
      expect(k.stderr).toMatch(/JoinGroup failed: Broker: Inconsistent group protocol/)
      // The KIP-848 member kept both partitions throughout.
      expect(events(k848, 'revoke')).toEqual([])
    } finally {
      k848.stop()
      await k848.ok()
    }
  }, 60000)
})
