'use strict'

// Many processes on one data directory, the way Node apps run in production: the first to
// open it owns it and serves it on a Unix socket recorded in the directory; every later
// `new Kafka({ dataDir })` in another process reaches it through that process, with the
// same API: admin, producers, and consumers whose groups span processes (KIP-848).

const fs = require('node:fs')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { Kafka, logLevel, CompressionTypes, KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSRequestTimeoutError } = require('..')
const { tempDir, runNode, sendInterleaved, ROOT } = require('./helpers')
const { spawnNode, until } = require('./wire-helpers')

const TUTORIAL = path.join(ROOT, 'examples', 'tutorial')
const fixture = (name) => path.join(__dirname, 'fixtures', name)
// Every Kafka object a test makes is closed after it, passed or failed: a client left
// connected to an owner would keep jest from exiting after a failure.
const made = []
const quiet = (dataDir, extra = {}) => {
  const kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING, ...extra })
  made.push(kafka)
  return kafka
}
afterEach(async () => {
  await Promise.all(made.splice(0).map((kafka) => kafka.close().catch(() => {})))
})

/** SIGSTOPs a process and waits until every thread of it is stopped: until then it may
 * still answer what reached it. */
async function stop(proc) {
  proc.child.kill('SIGSTOP')
  const threads = `/proc/${proc.child.pid}/task`
  const stopped = (t) => {
    try {
      return /^\d+ \(.*\) [Tt] /.test(fs.readFileSync(`${threads}/${t}/stat`, 'utf8'))
    } catch {
      return true // the thread ended meanwhile
    }
  }
  await until(() => fs.readdirSync(threads).every(stopped), {
    timeoutMs: 5000,
    what: 'the owner to stop',
  })
}

/** Starts a process that opens `dataDir` and holds it (the owner) until stopped. */
/** Kills `owner` while a program that is not samsa waits for the directory's lock
 * (flock(1)): the kernel hands it the lock as the owner dies, so the directory stays held
 * and unserved (no process can take it over) until `release()`. */
async function killOwnerLeavingItHeld(owner, dataDir) {
  const squatter = spawn('flock', ['-x', '-o', path.join(dataDir, '.lock'), '-c', 'echo locked; exec sleep 300'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] })
  let out = ''
  squatter.stdout.on('data', (d) => (out += d))
  const waiting = () => fs.readFileSync('/proc/locks', 'utf8').split('\n').some((l) => l.includes('->') && l.split(/\s+/).includes(String(squatter.pid)))
  await until(waiting, { timeoutMs: 5000, what: 'flock(1) to wait for the lock' })
  await owner.stop('SIGKILL')
  await until(() => out.includes('locked'), { timeoutMs: 5000, what: 'flock(1) to take the lock' })
  return {
    release() {
      try {
        process.kill(-squatter.pid, 'SIGKILL')
      } catch {
        // Gone already.
      }
    },
  }
}

async function holder(dataDir, options = {}) {
  const proc = spawnNode([fixture('hold-lock.js'), dataDir, JSON.stringify(options)])
  await until(() => proc.lines.includes('ready'), { timeoutMs: 15000, what: () => `the owner to open the directory\n${proc.output()}` })
  return proc
}

describe('many processes, one data directory', () => {
  test("the crash course's four programs, samsa in every process and one dataDir: group-1's two consumers split the partitions, group-2 gets every message", async () => {
    const dataDir = tempDir('samsa-tutorial-mp-')
    const env = { SAMSA_DATA_DIR: dataDir, KAFKA_BROKER: '' }
    const RIDERS = ['tony north', 'maria south', 'alex north', 'priya east', 'sam west', 'lena north', 'omar south', 'kim north']
    const MESSAGE = /^(group-\d+): \[rider-updates\]: PART:(\d+): (.*)$/
    const consumer = (group) => {
      const proc = spawnNode([path.join(TUTORIAL, 'consumer.js'), group], { cwd: TUTORIAL, env })
      const messages = () =>
        proc.lines
          .map((l) => MESSAGE.exec(l))
          .filter(Boolean)
          .map((m) => ({ partition: Number(m[2]), value: m[3] }))
      const assignment = () => {
        let last = null
        for (const l of proc.lines) if (l.startsWith('{') && l.includes('Consumer has joined the group')) last = JSON.parse(l).memberAssignment['rider-updates'] || []
        return last
      }
      return Object.assign(proc, { messages, assignment })
    }

    const admin = await runNode([path.join(TUTORIAL, 'admin.js')], { cwd: TUTORIAL, env, timeoutMs: 15000 })
    expect({ code: admin.code, stderr: admin.stderr }).toEqual({ code: 0, stderr: '' })
    expect(admin.stdout).toContain('Topic created success [rider-updates]')

    // The first consumer owns the directory now (admin.js has exited); the others reach it
    // through that process.
    const one = consumer('group-1')
    await until(() => one.assignment()?.length === 2, { timeoutMs: 15000, what: () => `the first group-1 consumer\n${one.output()}` })
    const two = consumer('group-1')
    const all = consumer('group-2')
    const consumers = [one, two, all]
    const state = () => consumers.map((c) => `${c.child.pid}: ${JSON.stringify(c.assignment())}, ${c.messages().length} messages`).join('; ')
    await until(
      () => {
        const [a, b] = [one.assignment(), two.assignment()]
        return a && b && a.length === 1 && b.length === 1 && a[0] !== b[0] && all.assignment()?.length === 2
      },
      { timeoutMs: 20000, what: () => `group-1 to split the partitions (${state()})` }
    )

    const producer = spawnNode([path.join(TUTORIAL, 'producer.js')], { cwd: TUTORIAL, env, stdin: 'pipe' })
    await until(() => producer.lines.includes('Producer connected successfully'), { timeoutMs: 15000, what: () => `the producer\n${producer.output()}` })
    producer.child.stdin.write(RIDERS.map((r) => `${r}\n`).join(''))
    const sent = RIDERS.map((r) => {
      const [name, location] = r.split(' ')
      return JSON.stringify({ name, location })
    })
    await until(() => all.messages().length >= sent.length && one.messages().length + two.messages().length >= sent.length, {
      timeoutMs: 20000,
      what: () => `every message in both groups (${state()})`,
    })
    producer.child.stdin.end()
    expect(await producer.exited).toEqual({ code: 0, signal: null })

    const [m1, m2, m3] = consumers.map((c) => c.messages())
    expect([...m1, ...m2].map((m) => m.value).sort()).toEqual([...sent].sort())
    expect(m3.map((m) => m.value).sort()).toEqual([...sent].sort())
    for (const [c, m] of [
      [one, m1],
      [two, m2],
    ]) {
      expect(new Set(m.map((x) => x.partition))).toEqual(new Set(m.length ? c.assignment() : []))
    }
    // The consumers that do not own the directory stop first, then its owner.
    for (const c of [two, all, one]) expect(await c.stop('SIGTERM')).toEqual({ code: null, signal: 'SIGTERM' })
    const verify = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'samsa.js'), 'verify', dataDir], { encoding: 'utf8', timeout: 15000 })
    expect([verify.status, verify.stdout]).toEqual([0, expect.stringContaining('no damage found')])
  }, 90000)

  test('four producing processes and one group across two processes, one of them the owner: every acknowledged message consumed once, per-key order kept, one owner per partition at a time; a member joining and leaving moves only what must move', async () => {
    const dataDir = tempDir('samsa-mp-')
    const topic = 'rider-updates'
    const PARTITIONS = 6
    const consumer = (create) => spawnNode([fixture('mp-consumer.js'), dataDir, topic, 'db-writer', ...(create ? [String(PARTITIONS)] : [])])
    const assignments = (proc) => proc.lines.filter((l) => l.startsWith('{"assigned"')).map((l) => JSON.parse(l).assigned)
    const messages = (proc) => proc.lines.filter((l) => l.startsWith('{"m"')).map((l) => JSON.parse(l).m)
    const last = (proc) => assignments(proc).at(-1) || null

    const owner = consumer(true)
    await until(() => last(owner)?.length === PARTITIONS, { timeoutMs: 15000, what: () => `the owner's consumer\n${owner.output()}` })
    const before = last(owner)

    // Each producer sends until its stdin closes.
    const producers = [1, 2, 3, 4].map((id) => spawnNode([fixture('mp-producer.js'), dataDir, topic, String(id)], { stdin: 'pipe' }))
    const acked = () => producers.reduce((n, p) => n + Number((p.lines.filter((l) => l.startsWith('acked ')).at(-1) || 'acked 0').slice(6)), 0)
    await until(() => acked() >= 400, { timeoutMs: 20000, what: () => `the producers to start\n${producers.map((p) => p.output()).join('\n')}` })

    // A member in another process joins while the producers run: the owner's consumer
    // gives up half its partitions and keeps the rest.
    const other = consumer(false)
    await until(() => last(other)?.length === PARTITIONS / 2 && last(owner)?.length === PARTITIONS / 2, {
      timeoutMs: 20000,
      what: () => `the partitions to be split: owner ${JSON.stringify(last(owner))}, other ${JSON.stringify(last(other))}\n${other.output()}`,
    })
    const during = last(owner)
    expect(during.every((p) => before.includes(p))).toBe(true)
    expect(last(other).every((p) => !during.includes(p))).toBe(true)
    await until(() => messages(other).length > 0, { timeoutMs: 15000, what: () => `the other member to consume\n${other.output()}` })

    // ...and leaves: only its partitions move back; the owner's never moved.
    expect(await other.stop('SIGTERM')).toEqual({ code: 0, signal: null })
    expect(other.lines).toContain('stopped')
    await until(() => last(owner)?.length === PARTITIONS, { timeoutMs: 15000, what: () => `the owner to take the partitions back: ${JSON.stringify(last(owner))}` })
    expect(during.every((p) => last(owner).includes(p))).toBe(true)

    // The producers go on a while with the owner alone, then stop.
    const atLeave = acked()
    await until(() => acked() >= atLeave + 2000, { timeoutMs: 20000, what: 'more sends' })
    for (const p of producers) p.child.stdin.end()
    let total = 0
    for (const p of producers) {
      const exit = await p.exited
      expect({ exit, stderr: p.stderr() }).toEqual({ exit: { code: 0, signal: null }, stderr: '' })
      const done = p.lines.find((l) => l.startsWith('done '))
      expect(done).toBeDefined()
      total += Number(done.slice(5))
    }
    const consumed = () => messages(owner).length + messages(other).length
    await until(() => consumed() >= total, { timeoutMs: 30000, what: () => `every message consumed: ${consumed()} of ${total}` })

    // Once each, nothing lost, nothing twice (every rebalance here was a clean one).
    const all = [...messages(owner).map((m) => ['owner', ...m]), ...messages(other).map((m) => ['other', ...m])]
    const seen = new Set(all.map(([, p, o]) => `${p}:${o}`))
    expect({ consumed: all.length, distinct: seen.size }).toEqual({ consumed: total, distinct: total })
    // Per partition, offsets in order and each a run of one member at a time; per key,
    // the values in the order they were sent.
    for (let p = 0; p < PARTITIONS; p++) {
      const list = all.filter((m) => m[1] === p).sort((a, b) => a[2] - b[2])
      list.forEach((m, i) => expect(m[2]).toBe(i))
    }
    const perKey = new Map()
    for (const who of [owner, other]) {
      for (const [, , key, value] of messages(who)) {
        const seq = Number(value.split(':')[1])
        const k = `${who === owner ? 'o' : 'x'}/${key}`
        const prev = perKey.get(k)
        expect([key, seq > (prev ?? -1)]).toEqual([key, true])
        perKey.set(k, seq)
      }
    }
    expect(await owner.stop('SIGTERM')).toEqual({ code: 0, signal: null })
  }, 120000)

  test("a member in another process that is killed is removed after its own sessionTimeout (not the owner's default), and its partitions move to the members left", async () => {
    const dataDir = tempDir('samsa-mp-')
    const topic = 'rider-updates'
    const consumer = (create, env = {}) => spawnNode([fixture('mp-consumer.js'), dataDir, topic, 'live-map', ...(create ? ['4'] : [])], { env })
    const last = (proc) => proc.lines.filter((l) => l.startsWith('{"assigned"')).map((l) => JSON.parse(l)).at(-1) || null
    const owner = consumer(true)
    await until(() => last(owner)?.assigned.length === 4, { timeoutMs: 15000, what: () => `the owner's consumer\n${owner.output()}` })
    const other = consumer(false, { SESSION_TIMEOUT: '3000' })
    await until(() => last(other)?.assigned.length === 2 && last(owner)?.assigned.length === 2, {
      timeoutMs: 20000,
      what: () => `the partitions to be split\n${other.output()}`,
    })
    // No disconnect, no leave: only the session timeout can tell the group.
    const killed = Date.now()
    await other.stop('SIGKILL')
    await until(() => last(owner)?.assigned.length === 4, { timeoutMs: 20000, what: () => `the owner's consumer to take the partitions back\n${owner.output()}` })
    const waited = last(owner).at - killed
    expect(waited).toBeGreaterThanOrEqual(2500)
    expect(waited).toBeLessThan(15000)
    expect(await owner.stop('SIGTERM')).toEqual({ code: 0, signal: null })
  }, 60000)

  test('a directory whose path is too deep for a socket path (over 108 bytes) works: the socket lies in a private directory of this user', async () => {
    const dataDir = path.join(tempDir('samsa-deep-'), 'a'.repeat(50), 'b'.repeat(50), 'rider-updates-data')
    fs.mkdirSync(dataDir, { recursive: true })
    expect(path.join(dataDir, 'samsa.sock').length).toBeGreaterThan(108)
    const owner = await holder(dataDir)
    const record = JSON.parse(fs.readFileSync(path.join(dataDir, 'samsa.owner'), 'utf8'))
    expect(record.pid).toBe(owner.child.pid)
    expect(record.socket.length).toBeLessThanOrEqual(107)
    const privateDir = fs.statSync(path.dirname(record.socket))
    expect([privateDir.uid, privateDir.mode & 0o777]).toEqual([process.getuid(), 0o700])

    const kafka = quiet(dataDir)
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic: 'deep', messages: [{ key: 'k', value: 'v' }] })
    const consumer = kafka.consumer({ groupId: 'deep-group' })
    await consumer.connect()
    await consumer.subscribe({ topics: ['deep'], fromBeginning: true })
    const got = []
    await consumer.run({ eachMessage: async ({ message }) => got.push(message.value.toString()) })
    await until(() => got.length === 1, { timeoutMs: 15000, what: 'the message' })
    expect(got).toEqual(['v'])
    await kafka.close()
    await owner.stop('SIGTERM')
    // The owner's clean stop takes its socket and record away.
    expect(fs.existsSync(record.socket)).toBe(false)
  }, 60000)

  test('two groups in one process that does not own the directory each read every message (what is fetched ahead for one is not taken by the other)', async () => {
    const dataDir = tempDir('samsa-two-groups-')
    const owner = await holder(dataDir)
    const kafka = quiet(dataDir)
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: 'rides', numPartitions: 2 }] })
    const producer = kafka.producer()
    await producer.connect()
    const got = { writer: [], map: [] }
    const consumers = []
    for (const groupId of ['writer', 'map']) {
      const c = kafka.consumer({ groupId, maxWaitTimeInMs: 5000 })
      await c.connect()
      await c.subscribe({ topics: ['rides'], fromBeginning: true })
      await c.run({ eachBatch: async ({ batch }) => got[groupId].push(...batch.messages.map((m) => m.value.toString())) })
      consumers.push(c)
    }
    const sent = []
    for (let i = 0; i < 20; i++) {
      const messages = Array.from({ length: 200 }, (_, j) => ({ key: `rider-${j % 7}`, value: `${i}-${j}` }))
      await producer.send({ topic: 'rides', messages })
      sent.push(...messages.map((m) => m.value))
    }
    // maxWaitTimeInMs is 5 s: a consumer left waiting for a notice would take far longer.
    await until(() => got.writer.length >= sent.length && got.map.length >= sent.length, {
      timeoutMs: 10000,
      what: () => `both groups to read everything: writer ${got.writer.length}, map ${got.map.length} of ${sent.length}`,
    })
    expect(got.writer.sort()).toEqual([...sent].sort())
    expect(got.map.sort()).toEqual([...sent].sort())
    // Auto-commit runs beside the handlers (one commit in flight, the rest coalesced):
    // with the consumers still running, everything handled ends up committed.
    const ends = (await admin.fetchTopicOffsets('rides')).map((p) => `${p.partition}:${p.high}`).sort()
    const committed = async (groupId) => (await admin.fetchOffsets({ groupId, topics: ['rides'] }))[0].partitions.map((p) => `${p.partition}:${p.offset}`).sort()
    for (const groupId of ['writer', 'map']) {
      await until(async () => JSON.stringify(await committed(groupId)) === JSON.stringify(ends), {
        timeoutMs: 10000,
        what: () => `${groupId}'s offsets to be committed up to ${ends}`,
      })
    }
    await kafka.close()
    await owner.stop('SIGTERM')
  }, 60000)

  test('when the owner dies and another process opens the directory, a consumer in a third process rejoins there and goes on', async () => {
    const dataDir = tempDir('samsa-new-owner-')
    const first = await holder(dataDir)
    const kafka = quiet(dataDir)
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: 'rides', numPartitions: 1 }] })
    const producer = kafka.producer()
    await producer.connect()
    const consumer = kafka.consumer({ groupId: 'map', heartbeatInterval: 200, maxWaitTimeInMs: 500 })
    await consumer.connect()
    await consumer.subscribe({ topics: ['rides'], fromBeginning: true })
    const got = []
    await consumer.run({ eachMessage: async ({ message }) => got.push(message.value.toString()) })
    await producer.send({ topic: 'rides', messages: [{ value: 'before' }] })
    await until(() => got.includes('before'), { timeoutMs: 10000, what: 'the first message' })

    expect(await first.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' })
    const sending = producer.send({ topic: 'rides', messages: [{ value: 'after' }] })
    const second = await holder(dataDir)
    await sending
    // The old member is unknown to the new owner: the consumer joins again and reads on
    // (what was not committed before the crash may come again: at least once).
    await until(() => got.includes('after'), { timeoutMs: 20000, what: () => `the message sent across the change of owner (got ${JSON.stringify(got)})` })
    expect(got.filter((v) => v === 'after')).toHaveLength(1)
    await kafka.close()
    await second.stop('SIGTERM')
  }, 60000)

  const asRoot = typeof process.getuid === 'function' && process.getuid() === 0
  ;(asRoot ? test : test.skip)('a process whose user may not use the data directory gets a clear KafkaJS error naming it (as root: the client runs as nobody)', async () => {
    const base = tempDir('samsa-perm-')
    fs.chmodSync(base, 0o755)
    const dataDir = path.join(base, 'data')
    fs.mkdirSync(dataDir, { mode: 0o755 })
    const owner = await holder(dataDir)
    // The package as nobody can read it (the checkout may lie in a directory only root
    // may enter): its runtime files, copied.
    const pkg = path.join(base, 'samsa')
    fs.mkdirSync(path.join(pkg, 'lib'), { recursive: true, mode: 0o755 })
    const files = ['index.js', 'binding.js', 'package.json', ...fs.readdirSync(ROOT).filter((f) => f.endsWith('.node'))]
    for (const f of files) fs.copyFileSync(path.join(ROOT, f), path.join(pkg, f))
    fs.cpSync(path.join(ROOT, 'lib'), path.join(pkg, 'lib'), { recursive: true })
    for (const f of files) fs.chmodSync(path.join(pkg, f), 0o644)
    for (const f of fs.readdirSync(path.join(pkg, 'lib'), { recursive: true })) {
      const p = path.join(pkg, 'lib', f)
      fs.chmodSync(p, fs.statSync(p).isDirectory() ? 0o755 : 0o644)
    }
    fs.chmodSync(pkg, 0o755)
    fs.chmodSync(path.join(pkg, 'lib'), 0o755)
    const script = path.join(base, 'client.js')
    fs.writeFileSync(
      script,
      `const { Kafka, logLevel } = require(${JSON.stringify(pkg)})
const kafka = new Kafka({ dataDir: ${JSON.stringify(dataDir)}, logLevel: logLevel.NOTHING })
kafka.producer().connect().then(() => console.log('connected'), (e) => console.log(JSON.stringify({ name: e.name, retriable: e.retriable, message: e.message })))
`
    )
    fs.chmodSync(script, 0o644)
    const nobody = spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' })
    const uid = Number(nobody.stdout.trim())
    const r = spawnSync(process.execPath, [script], { uid, gid: uid, encoding: 'utf8', timeout: 30000, cwd: base })
    expect(r.stderr).toBe('')
    const out = JSON.parse(r.stdout.trim())
    expect(out.name).toBe('KafkaJSConnectionError')
    expect(out.retriable).toBe(false)
    expect(out.message).toContain(dataDir)
    expect(out.message).toMatch(/permission denied/i)
    expect(out.message).toMatch(/is user root's alone/)
    await owner.stop('SIGTERM')
  }, 60000)

  test("a consumer in another process keeps its options: the owner's describeGroups shows its assigner and its clientId", async () => {
    const dataDir = tempDir('samsa-options-')
    const kafka = quiet(dataDir)
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: 'opts', numPartitions: 4 }] })
    const member = spawnNode([fixture('mp-consumer.js'), dataDir, 'opts', 'ranged'], { env: { ASSIGNER: 'range' } })
    await until(() => member.lines.some((l) => l.includes('"assigned"')), { timeoutMs: 15000, what: () => `the member to join\n${member.output()}` })
    const { groups } = await admin.describeGroups(['ranged'])
    expect(groups[0]).toMatchObject({ groupId: 'ranged', protocol: 'RangeAssigner' })
    expect(groups[0].members.map((m) => m.clientId)).toEqual([`consumer-${member.child.pid}`])
    await member.stop('SIGTERM')
  })

  test('broker settings belong to the data directory: a process or Kafka object whose options differ gets an error naming the setting', async () => {
    const dataDir = tempDir('samsa-settings-')
    const first = quiet(dataDir, { retentionMs: 60000 })
    const admin = first.admin()
    await admin.connect()
    // The same process, another Kafka object with other settings.
    const err = await quiet(dataDir, { retentionMs: 1000 }).admin().connect().catch((e) => e)
    expect(err).toBeInstanceOf(KafkaJSNonRetriableError)
    expect(err.message).toMatch(/^retentionMs: .*60000/)
    // Leaving a setting out takes the directory's; giving the same value is fine.
    const same = quiet(dataDir, { retentionMs: 60000, fsync: false }).admin()
    await same.connect()
    await same.disconnect()
    await admin.disconnect()

    // Another process owns it now, with the settings recorded: a process asking for fsync
    // is told the directory does not fsync.
    const owner = await holder(dataDir)
    const remote = await quiet(dataDir, { fsync: true }).producer().connect().catch((e) => e)
    expect(remote).toBeInstanceOf(KafkaJSNonRetriableError)
    expect(remote.message).toMatch(/^fsync: .*fsync: false/)
    const ok = quiet(dataDir, { retentionMs: 60000 })
    const producer = ok.producer()
    await producer.connect()
    await producer.send({ topic: 't', messages: [{ value: 'x' }] })
    await producer.disconnect()
    await owner.stop('SIGTERM')
  }, 60000)
})

test("a send from another process with a message too large for one of its partitions fails whole, nothing of it stored, as in the owner's process", async () => {
  const dataDir = tempDir('samsa-too-large-')
  const owner = await holder(dataDir)
  const kafka = quiet(dataDir)
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 'a', numPartitions: 3 }, { topic: 'b' }, { topic: 'c' }] })
  const producer = kafka.producer()
  await producer.connect()
  const big = Buffer.alloc(2 << 20)
  const err = await producer
    .sendBatch({
      topicMessages: [
        { topic: 'b', messages: [{ partition: 0, value: 'w' }] },
        { topic: 'a', messages: [{ partition: 1, value: 'x' }, { partition: 0, value: big }, { partition: 2, value: 'y' }] },
        { topic: 'c', messages: [{ partition: 0, value: big }] },
      ],
    })
    .catch((e) => e)
  expect(err.name).toBe('KafkaJSProtocolError')
  expect(err.type).toBe('MESSAGE_TOO_LARGE')
  expect(err.message).toMatch(/larger than the max message size.*max.message.bytes 1048576/)
  const highs = async (topic) => (await admin.fetchTopicOffsets(topic)).sort((x, y) => x.partition - y.partition).map((o) => Number(o.high))
  expect(await highs('a')).toEqual([0, 0, 0])
  expect(await highs('b')).toEqual([0])
  expect(await highs('c')).toEqual([0])
  // The producer goes on.
  await producer.send({ topic: 'a', messages: [{ partition: 2, value: 'z' }] })
  expect(await highs('a')).toEqual([0, 0, 1])
  await producer.disconnect()
  await admin.disconnect()
  await owner.stop('SIGTERM')
}, 60000)

test('a consumer in another process reads small and large runs, compressed or not, byte for byte', async () => {
  const dataDir = tempDir('samsa-remote-runs-')
  const owner = await holder(dataDir)
  const kafka = quiet(dataDir)
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 'runs' }] })
  const producer = kafka.producer()
  await producer.connect()
  // Runs up to 64 KiB leave the addon copied, larger ones handed over: both kinds here
  // (the gzip batch is small on the wire and 90 KB once decompressed).
  const big = 'rider location '.repeat(3000)
  const raw = Buffer.alloc(100000, 7)
  await producer.send({ topic: 'runs', messages: [{ key: 'k', value: 'small', headers: { h: 'x' } }] })
  await producer.send({ topic: 'runs', compression: CompressionTypes.GZIP, messages: [{ value: big }, { value: big, headers: { h: 'y' } }] })
  await producer.send({ topic: 'runs', messages: [{ value: raw }] })
  const consumer = kafka.consumer({ groupId: 'runs-reader' })
  await consumer.connect()
  await consumer.subscribe({ topic: 'runs', fromBeginning: true })
  const got = []
  await consumer.run({ eachMessage: async ({ message }) => got.push(message) })
  await until(() => got.length === 4, { timeoutMs: 30000, what: () => `4 messages, got ${got.length}` })
  expect(got.map((m) => m.offset)).toEqual(['0', '1', '2', '3'])
  expect(got[0].key.toString()).toBe('k')
  expect(got[0].value.toString()).toBe('small')
  expect(got[0].headers.h.toString()).toBe('x')
  expect(got[1].value.toString()).toBe(big)
  expect(got[2].value.toString()).toBe(big)
  expect(got[2].headers.h.toString()).toBe('y')
  expect(got[3].value.equals(raw)).toBe(true)
  await consumer.disconnect()
  await producer.disconnect()
  await admin.disconnect()
  await owner.stop('SIGTERM')
}, 60000)

test('from another process too, a bad send made together with good ones fails alone: the good ones to the same partition are stored (idempotent or not)', async () => {
  const dataDir = tempDir('samsa-bad-send-alone-')
  const owner = await holder(dataDir)
  const kafka = quiet(dataDir)
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 't' }] })
  const reported = [] // [base offset a send resolved to, its value]
  let madeBy = 0 // when the last of the sends had been made
  for (const idempotent of [false, true]) {
    const producer = kafka.producer({ idempotent })
    await producer.connect()
    const sends = [
      producer.send({ topic: 't', messages: [{ value: `ok-1-${idempotent}` }] }),
      producer.send({ topic: 't', messages: [{ value: Buffer.alloc(2 << 20) }] }),
      producer.send({ topic: 't', messages: [{ value: `ok-2-${idempotent}` }] }),
    ]
    madeBy = Date.now()
    // The event loop is held past that millisecond, so the attempts of their own come
    // later: the messages keep the time their sends gave them.
    while (Date.now() <= madeBy + 2);
    const outcomes = await Promise.allSettled(sends)
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect(outcomes[1].reason.type).toBe('MESSAGE_TOO_LARGE')
    reported.push([outcomes[0].value[0].baseOffset, `ok-1-${idempotent}`], [outcomes[2].value[0].baseOffset, `ok-2-${idempotent}`])
    await producer.disconnect()
  }
  const consumer = kafka.consumer({ groupId: 'alone' })
  await consumer.connect()
  await consumer.subscribe({ topics: ['t'], fromBeginning: true })
  const values = []
  const late = []
  await consumer.run({
    eachMessage: async ({ message }) => {
      values.push(`${message.offset}:${message.value}`)
      if (Number(message.timestamp) > madeBy) late.push(`${message.value}`)
    },
  })
  await until(() => values.length === 4, { timeoutMs: 15000, what: () => `4 messages, got ${values}` })
  expect(values.map((v) => v.split(':')[1]).sort()).toEqual(['ok-1-false', 'ok-1-true', 'ok-2-false', 'ok-2-true'])
  expect(late).toEqual([])
  // Each good send's reported offset holds its message.
  expect(reported.map(([offset, value]) => `${offset}:${value}`).sort()).toEqual([...values].sort())
  await owner.stop('SIGTERM')
}, 60000)

test("from another process, sends keep flowing while earlier ones are unanswered, and a partition's failure fails only its own send: the sends already out behind it are stored, once each, in call order", async () => {
  const dataDir = tempDir('samsa-pipelined-sends-')
  // The owner answers a send once it is on disk, so a send's answer takes a while.
  const owner = await holder(dataDir, { fsync: true })
  const kafka = quiet(dataDir)
  const admin = kafka.admin()
  await admin.connect()
  // The topic's own limit is below the directory's, so the producer lets the large message
  // go and the owner refuses its partition, after the sends behind it have gone.
  await admin.createTopics({ topics: [{ topic: 'p', configEntries: [{ name: 'max.message.bytes', value: '200000' }] }] })
  const producer = kafka.producer()
  await producer.connect()
  const sends = []
  const expected = []
  const bad = new Set()
  const firsts = [] // each send's first value
  const turn = () => new Promise((resolve) => setImmediate(resolve))
  const tooLarge = () => {
    bad.add(sends.length)
    sends.push(producer.send({ topic: 'p', messages: [{ value: Buffer.alloc(300000, 98) }] }))
    firsts.push(null)
  }
  // The producer's very first send is refused: the owner does not know the producer yet,
  // and would take a send behind it at any sequence.
  tooLarge()
  await turn()
  for (let i = 0; i < 3; i++) {
    sends.push(producer.send({ topic: 'p', messages: [{ value: `first-${i}` }] }))
    firsts.push(`first-${i}`)
    expected.push(`first-${i}`)
    await turn()
  }
  for (let round = 0; round < 4; round++) {
    // A large send the owner takes a while over, then a message too large for the topic,
    // then small sends, each made in a turn of the event loop of its own: each goes in a
    // flush of its own while those before it are still out.
    const large = Array.from({ length: 5000 }, (_, j) => ({ value: `a${round}-${j}` }))
    sends.push(producer.send({ topic: 'p', messages: large }))
    firsts.push(large[0].value)
    expected.push(...large.map((m) => m.value))
    await turn()
    tooLarge()
    await turn()
    for (let i = 0; i < 3; i++) {
      const messages = [{ value: `v${round}-${i}` }, { value: `w${round}-${i}` }]
      sends.push(producer.send({ topic: 'p', messages }))
      firsts.push(messages[0].value)
      expected.push(...messages.map((m) => m.value))
      await turn()
    }
  }
  const outcomes = await Promise.allSettled(sends)
  outcomes.forEach((o, i) => {
    expect([i, o.status]).toEqual([i, bad.has(i) ? 'rejected' : 'fulfilled'])
    if (o.status === 'rejected') expect(o.reason.type).toBe('MESSAGE_TOO_LARGE')
  })
  // The producer's sequences are right afterwards too.
  await producer.send({ topic: 'p', messages: [{ value: 'last' }] })
  expected.push('last')
  const consumer = kafka.consumer({ groupId: 'pipelined' })
  await consumer.connect()
  await consumer.subscribe({ topics: ['p'], fromBeginning: true })
  const stored = []
  await consumer.run({ eachMessage: async ({ message }) => stored.push([message.offset, String(message.value)]) })
  await until(() => stored.length >= expected.length, { timeoutMs: 15000, what: () => `${expected.length} messages, got ${stored.length}` })
  expect(stored.map(([, v]) => v)).toEqual(expected)
  // Each send's reported base offset holds its first message.
  const at = new Map(stored)
  outcomes.forEach((o, i) => {
    if (o.status === 'fulfilled') expect(at.get(o.value[0].baseOffset)).toBe(firsts[i])
  })
  await consumer.disconnect()
  await producer.disconnect()
  await owner.stop('SIGTERM')
}, 60000)

test('sends out from another process when the owner is killed go again, in the order they were made, to the next owner: each stored once, none refused', async () => {
  const dataDir = tempDir('samsa-pipelined-restart-')
  const first = await holder(dataDir)
  const kafka = quiet(dataDir)
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 'r', numPartitions: 2 }] })
  // A producer the owner has not seen a send from yet may start at any sequence: were a
  // later request of it to reach the next owner first, that one would be taken and the
  // earlier ones refused.
  const producer = kafka.producer()
  await producer.connect()
  const sends = []
  const expected = [[], []]
  let killed = null
  for (let i = 0; i < 120; i++) {
    const partition = i % 2
    const messages = [{ partition, value: `m${i}` }]
    sends.push(producer.send({ topic: 'r', messages }))
    expected[partition].push(`m${i}`)
    if (i === 10) killed = first.stop('SIGKILL')
    await new Promise((resolve) => setImmediate(resolve))
  }
  await killed
  const second = await holder(dataDir)
  const outcomes = await Promise.allSettled(sends)
  expect(outcomes.filter((o) => o.status === 'rejected').map((o) => o.reason.message)).toEqual([])
  const consumer = kafka.consumer({ groupId: 'restart' })
  await consumer.connect()
  await consumer.subscribe({ topics: ['r'], fromBeginning: true })
  const stored = [[], []]
  await consumer.run({ eachMessage: async ({ partition, message }) => stored[partition].push(String(message.value)) })
  await until(() => stored[0].length + stored[1].length >= 120, { timeoutMs: 20000, what: () => `120 messages, got ${stored[0].length + stored[1].length}` })
  expect(stored).toEqual(expected)
  await consumer.disconnect()
  await producer.disconnect()
  await second.stop('SIGTERM')
}, 60000)

test('sends made together from another process to a topic it has not seen yet are stored in call order (the topic looked up over the socket meanwhile)', async () => {
  const dataDir = tempDir('samsa-new-topic-order-')
  const owner = await holder(dataDir)
  const kafka = quiet(dataDir)
  const producer = kafka.producer()
  await producer.connect()
  await sendInterleaved(producer, 'fresh', 400)
  const consumer = kafka.consumer({ groupId: 'order' })
  await consumer.connect()
  await consumer.subscribe({ topics: ['fresh'], fromBeginning: true })
  const values = []
  await consumer.run({ eachMessage: async ({ message }) => values.push(Number(message.value)) })
  await until(() => values.length === 400, { timeoutMs: 15000, what: () => `400 messages, got ${values.length}` })
  expect(values).toEqual(Array.from({ length: 400 }, (_, i) => i))
  await consumer.disconnect()
  await producer.disconnect()
  await owner.stop('SIGTERM')
}, 60000)

test('a send from another process goes out when the task that made it ends, not after the timers and I/O callbacks that follow it: stored and consumed while the sender is still busy', async () => {
  const dataDir = tempDir('samsa-send-at-once-')
  // The owner consumes the topic and prints when it handled each message.
  const owner = spawnNode([fixture('mp-consumer.js'), dataDir, 'at-once', 'g', '1'])
  const handled = (value) => owner.lines.map((l) => (l.startsWith('{"m"') ? JSON.parse(l) : null)).find((l) => l && l.m[3] === value)
  await until(() => owner.lines.some((l) => l.startsWith('{"assigned":[0]')), { timeoutMs: 20000, what: () => `the owner's consumer to be assigned\n${owner.output()}` })
  const kafka = quiet(dataDir)
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic: 'at-once', messages: [{ key: 'k', value: 'first' }] })
  await until(() => handled('first'), { timeoutMs: 20000, what: () => `the first message to be handled\n${owner.output()}` })
  // Two timers due together: the first sends, the second holds the event loop. The send
  // must not wait for the second (nor for anything else the event loop has to do).
  const BUSY_MS = 1500
  let sending
  const busyUntil = await new Promise((resolve) => {
    setTimeout(() => {
      sending = producer.send({ topic: 'at-once', messages: [{ key: 'k', value: 'second' }] })
    }, 1)
    setTimeout(() => {
      const end = Date.now() + BUSY_MS
      while (Date.now() < end);
      resolve(Date.now())
    }, 1)
  })
  await sending
  await until(() => handled('second'), { timeoutMs: 20000, what: () => `the second message to be handled\n${owner.output()}` })
  expect(handled('second').at).toBeLessThan(busyUntil)
  await producer.disconnect()
  await owner.stop('SIGTERM')
}, 60000)

test("the same admin, producer and consumer calls, bad ones among them, answer the same from another process as from the owner's", async () => {
  const tour = async (dataDir) => {
    const r = await runNode([fixture('api-tour.js'), dataDir], { timeoutMs: 30000 })
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    return JSON.parse(r.stdout)
  }
  const own = await tour(tempDir('samsa-tour-own-'))
  const dataDir = tempDir('samsa-tour-remote-')
  const owner = await holder(dataDir)
  const remote = await tour(dataDir)
  await owner.stop('SIGTERM')
  expect(own.length).toBeGreaterThan(30)
  for (let i = 0; i < own.length; i++) expect(remote[i]).toEqual(own[i])
}, 90000)

test('a process on a held directory sees a connection error if nobody serves it (the owner record is gone)', async () => {
  const dataDir = tempDir('samsa-norecord-')
  const owner = await holder(dataDir)
  fs.renameSync(path.join(dataDir, 'samsa.owner'), path.join(dataDir, 'moved'))
  const started = Date.now()
  const err = await quiet(dataDir).admin().connect().catch((e) => e)
  expect(err).toBeInstanceOf(KafkaJSConnectionError)
  expect(err.message).toContain(dataDir)
  expect(Date.now() - started).toBeLessThan(20000)
  await owner.stop('SIGTERM')
}, 60000)

test('a process whose owner stops answering (SIGSTOP) gets retriable errors, never a hang: an admin call a KafkaJSRequestTimeoutError after its requestTimeout, a send larger than the socket holds after its resends; both work again once the owner goes on', async () => {
  const dataDir = tempDir('samsa-stuck-owner-')
  const owner = await holder(dataDir)
  const kafka = quiet(dataDir, { requestTimeout: 1000, retry: { retries: 0 } })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 'stuck', numPartitions: 1 }] })
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic: 'stuck', messages: [{ value: 'before' }] })
  await stop(owner)
  try {
    let started = Date.now()
    const adminErr = await admin.createTopics({ topics: [{ topic: 'stuck-2' }] }).catch((e) => e)
    // As kafkajs reports a broker that stops answering.
    expect(adminErr).toBeInstanceOf(KafkaJSRequestTimeoutError)
    expect(adminErr.name).toBe('KafkaJSRequestTimeoutError')
    expect(adminErr.retriable).toBe(true)
    expect(adminErr.message).toContain(dataDir)
    expect(Date.now() - started).toBeGreaterThanOrEqual(500)
    expect(Date.now() - started).toBeLessThan(10000)
    // 2 MB: more than the socket takes while nobody reads it, so the write itself waits
    // (bounded by requestTimeout too); the send is resent, with the same producer
    // sequences, over new connections for 30 s before it fails.
    started = Date.now()
    const big = Array.from({ length: 2000 }, (_, i) => ({ key: String(i), value: Buffer.alloc(1000, 97) }))
    const sendErr = await producer.send({ topic: 'stuck', messages: big }).catch((e) => e)
    // Its last try timed out, or found the owner's socket taking no connection.
    expect(['KafkaJSRequestTimeoutError', 'KafkaJSConnectionError']).toContain(sendErr.name)
    expect(sendErr.retriable).toBe(true)
    expect(Date.now() - started).toBeLessThan(45000)
  } finally {
    owner.child.kill('SIGCONT')
  }
  // The owner goes on: calls work again, once it has worked through what waited for it
  // (the failed send may have been stored meanwhile, once at most: at least once, as a
  // timed-out Kafka produce).
  await until(() => admin.createTopics({ topics: [{ topic: 'stuck-3' }] }).then(() => true, () => false), { timeoutMs: 20000, what: () => `an admin call to work again\n${owner.output()}` })
  let after
  await until(() => producer.send({ topic: 'stuck', messages: [{ value: 'after' }] }).then(([r]) => (after = r), () => false), { timeoutMs: 20000, what: () => `a send to work again\n${owner.output()}` })
  const offsets = await admin.fetchTopicOffsets('stuck')
  expect(Number(offsets[0].high)).toBe(Number(after.baseOffset) + 1)
  expect([2, 2002]).toContain(Number(offsets[0].high))
  await owner.stop('SIGTERM')
}, 90000)

test('with enforceRequestTimeout: false, a request from another process waits for an owner that stopped answering past requestTimeout, as in kafkajs, and is answered once it goes on', async () => {
  const dataDir = tempDir('samsa-unenforced-')
  const owner = await holder(dataDir)
  const admin = quiet(dataDir, { requestTimeout: 300, enforceRequestTimeout: false, retry: { retries: 0 } }).admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 'first' }] })
  await stop(owner)
  let outcome = null
  const started = Date.now()
  try {
    admin.createTopics({ topics: [{ topic: 'patient' }] }).then((created) => (outcome = { created }), (error) => (outcome = { error }))
    // Five times requestTimeout: enforced, it would have failed by now.
    await until(() => outcome !== null || Date.now() - started >= 1500, { timeoutMs: 5000 })
    expect(outcome).toBe(null)
  } finally {
    owner.child.kill('SIGCONT')
  }
  await until(() => outcome !== null, { timeoutMs: 20000, what: () => `the call to be answered\n${owner.output()}` })
  expect(outcome).toEqual({ created: true })
  expect((await admin.listTopics()).sort()).toEqual(['first', 'patient'])
  await owner.stop('SIGTERM')
}, 60000)

test('a consumer in another process tries again less and less often while no process serves the directory (a log line every few seconds, not every 300 ms), and reads again soon after this process takes it over', async () => {
  const dataDir = tempDir('samsa-owner-away-')
  const first = await holder(dataDir)
  const tries = [] // when the consumer's loop failed and waited to try again
  const logCreator = () => ({ log }) => {
    if (log.retryTime !== undefined) tries.push({ at: Date.now(), retryTime: log.retryTime, message: log.message })
  }
  const kafka = quiet(dataDir, { logLevel: logLevel.WARN, logCreator })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 'away', numPartitions: 1 }] })
  const producer = kafka.producer()
  await producer.connect()
  const consumer = kafka.consumer({ groupId: 'away-group' })
  await consumer.connect()
  await consumer.subscribe({ topics: ['away'], fromBeginning: true })
  const got = []
  await consumer.run({ eachMessage: async ({ message }) => got.push(String(message.value)) })
  await producer.send({ topic: 'away', messages: [{ value: 'before' }] })
  await until(() => got.includes('before'), { timeoutMs: 15000, what: () => `the first message, got ${JSON.stringify(got)}` })
  const held = await killOwnerLeavingItHeld(first, dataDir)
  await until(() => tries.length >= 4, { timeoutMs: 20000, what: () => `four failed tries, got ${JSON.stringify(tries)}` })
  // kafkajs's default retry: 300 ms, then twice as long each time (give or take 20%), at
  // most 5 s here. Three waits at a flat 300 ms would take about 0.9 s.
  expect(tries.slice(0, 4).map((t) => t.retryTime)).toEqual([
    expect.any(Number), expect.any(Number), expect.any(Number), expect.any(Number),
  ])
  expect(tries[3].retryTime).toBeGreaterThan(tries[0].retryTime)
  expect(tries[3].at - tries[0].at).toBeGreaterThanOrEqual(1500)
  expect(tries.every((t) => t.retryTime <= 5000)).toBe(true)
  held.release()
  const back = Date.now()
  await until(() => producer.send({ topic: 'away', messages: [{ value: 'after' }] }).then(() => true, () => false), { timeoutMs: 20000, what: 'a send to work again' })
  await until(() => got.includes('after'), { timeoutMs: 20000, what: () => `the message sent to the new owner, got ${JSON.stringify(got)}; tries ${JSON.stringify(tries.slice(-3))}` })
  // Within the longest wait and a rejoin of the group.
  expect(Date.now() - back).toBeLessThan(15000)
  await consumer.disconnect()
  await producer.disconnect()
  await admin.disconnect()
}, 90000)

test('a consumer in another process that waits to try again while no process serves the directory disconnects at once, not after the wait', async () => {
  const dataDir = tempDir('samsa-away-disconnect-')
  const owner = await holder(dataDir)
  const tries = []
  const logCreator = () => ({ log }) => {
    if (log.retryTime !== undefined) tries.push({ at: Date.now(), retryTime: log.retryTime })
  }
  const kafka = quiet(dataDir, { logLevel: logLevel.WARN, logCreator })
  await kafka.admin().connect()
  const consumer = kafka.consumer({ groupId: 'away-disconnect' })
  await consumer.connect()
  await consumer.subscribe({ topics: ['gone'] })
  await consumer.run({ eachMessage: async () => {} })
  const held = await killOwnerLeavingItHeld(owner, dataDir)
  // The third failed try waits about 1.2 s, the fourth about 2.4 s.
  await until(() => tries.length >= 3, { timeoutMs: 20000, what: () => `three failed tries, got ${JSON.stringify(tries)}` })
  const started = Date.now()
  await consumer.disconnect()
  expect(Date.now() - started).toBeLessThan(Math.min(1000, tries[tries.length - 1].retryTime))
  held.release()
}, 60000)

test("admin.fetchTopicMetadata from another process asks the owner each time, as kafkajs asks the broker: partitions a third process added show at once", async () => {
  const dataDir = tempDir('samsa-fresh-metadata-')
  const owner = await holder(dataDir)
  const admin = quiet(dataDir).admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 'grow', numPartitions: 1 }] })
  const count = async () => (await admin.fetchTopicMetadata({ topics: ['grow'] })).topics[0].partitions.length
  expect(await count()).toBe(1)
  const grow = `
    const { Kafka, logLevel } = require(${JSON.stringify(ROOT)})
    const admin = new Kafka({ dataDir: process.argv[1], logLevel: logLevel.NOTHING }).admin()
    admin.connect().then(() => admin.createPartitions({ topicPartitions: [{ topic: 'grow', count: 3 }] })).then(() => admin.disconnect())`
  const r = await runNode(['-e', grow, dataDir], { timeoutMs: 20000 })
  expect(r.code).toBe(0)
  expect(await count()).toBe(3)
  await owner.stop('SIGTERM')
}, 60000)
