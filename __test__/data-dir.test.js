'use strict'

// The data directory as a whole: it is its owner's alone (other users of the machine can
// neither read its messages nor take its lock), a process holding its lock is named, and
// it has one cluster id, kept in it, which every door reports.

const fs = require('node:fs')
const path = require('node:path')
const { spawn, spawnSync } = require('node:child_process')
const { Kafka, logLevel } = require('..')
const { tempDir, waitFor } = require('./helpers')
const { box } = require('./requirements')
const { kafkajsClient, spawnNode, ROOT } = require('./wire-helpers')

jest.setTimeout(60000)

const quiet = (dataDir, options = {}) => new Kafka({ dataDir, logLevel: logLevel.NOTHING, ...options })
const mode = (p) => fs.statSync(p).mode & 0o777
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0
if (!asRoot) {
  console.warn(box(['SKIPPED: the test of another user (nobody) reading the data directory needs root', 'to run a process as another user; run the tests as root (CI does) to include it']))
}

/** Every file and directory under `dir`, with its mode. */
function modes(dir) {
  const out = {}
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name)
      out[path.relative(dir, p)] = mode(p)
      if (e.isDirectory()) walk(p)
    }
  }
  walk(dir)
  return out
}

async function withMessages(dataDir) {
  const kafka = quiet(dataDir)
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 'private', numPartitions: 2 }] })
  const producer = kafka.producer({ idempotent: true })
  await producer.connect()
  await producer.send({ topic: 'private', messages: [{ key: 'rider-1', value: 'where rider 1 is' }] })
  const consumer = kafka.consumer({ groupId: 'g' })
  await consumer.connect()
  await consumer.subscribe({ topics: ['private'], fromBeginning: true })
  let seen
  const got = new Promise((resolve) => (seen = resolve))
  await consumer.run({ eachMessage: async () => seen() })
  await got
  await consumer.commitOffsets([{ topic: 'private', partition: 0, offset: '1' }])
  return { kafka, admin, producer, consumer }
}

test('a new data directory and everything in it are its owner\'s alone (0700 and 0600)', async () => {
  const dataDir = path.join(tempDir(), 'nested', 'data')
  const { kafka } = await withMessages(dataDir)
  expect(mode(dataDir)).toBe(0o700)
  const all = modes(dataDir)
  expect(Object.keys(all)).toEqual(expect.arrayContaining(['.lock', 'meta.properties', 'topics', 'groups', 'samsa.sock', 'samsa.owner']))
  expect(Object.keys(all).some((f) => f.endsWith('.log'))).toBe(true)
  for (const [f, m] of Object.entries(all)) {
    const isDir = fs.statSync(path.join(dataDir, f)).isDirectory()
    expect({ f, mode: m.toString(8) }).toEqual({ f, mode: (isDir ? 0o700 : 0o600).toString(8) })
  }
  await kafka.close()
})

test('a data directory other users may write is refused, naming the fix', async () => {
  const dataDir = tempDir()
  fs.chmodSync(dataDir, 0o777)
  const kafka = quiet(dataDir)
  const e = await kafka.admin().connect().catch((x) => x)
  expect(e).toMatchObject({ name: 'KafkaJSProtocolError', type: 'INVALID_CONFIG', retriable: false })
  expect(e.message).toContain(`chmod 700 ${fs.realpathSync(dataDir)}`)
  expect(fs.readdirSync(dataDir)).toEqual([])
})

;(asRoot ? test : test.skip)('another user of the machine can read no message, take no lock and reach no socket (as root: the other user is nobody)', async () => {
  // The directory's parent, and even the directory itself, may be open to all: what samsa
  // makes in it is not.
  const base = tempDir('samsa-other-user-')
  fs.chmodSync(base, 0o755)
  const dataDir = path.join(base, 'data')
  fs.mkdirSync(dataDir, { mode: 0o755 })
  fs.chmodSync(dataDir, 0o755)
  const { kafka } = await withMessages(dataDir)
  const segment = path.join(dataDir, 'topics', 'private', '0', '00000000000000000000.log')
  expect(fs.readFileSync(segment).includes('where rider 1 is')).toBe(true)
  const probe = `
const fs = require('fs'), net = require('net')
const tries = {}
const attempt = (name, fn) => { try { fn(); tries[name] = 'allowed' } catch (e) { tries[name] = e.code } }
attempt('list topics', () => fs.readdirSync(${JSON.stringify(path.join(dataDir, 'topics'))}))
attempt('read a segment', () => fs.readFileSync(${JSON.stringify(segment)}))
attempt('open the lock file', () => fs.openSync(${JSON.stringify(path.join(dataDir, '.lock'))}, 'r'))
attempt('read committed offsets', () => fs.readdirSync(${JSON.stringify(path.join(dataDir, 'groups'))}))
attempt('read the owner record', () => fs.readFileSync(${JSON.stringify(path.join(dataDir, 'samsa.owner'))}))
const s = net.connect(${JSON.stringify(path.join(dataDir, 'samsa.sock'))})
s.on('connect', () => { tries['connect to the socket'] = 'allowed'; done() })
s.on('error', (e) => { tries['connect to the socket'] = e.code; done() })
function done() { console.log(JSON.stringify(tries)); process.exit(0) }
`
  const r = spawnSync(process.execPath, ['-e', probe], { uid: 65534, gid: 65534, encoding: 'utf8', timeout: 15000, cwd: '/' })
  expect(r.stderr).toBe('')
  expect(JSON.parse(r.stdout)).toEqual({
    'list topics': 'EACCES',
    'read a segment': 'EACCES',
    'open the lock file': 'EACCES',
    'read committed offsets': 'EACCES',
    'read the owner record': 'EACCES',
    'connect to the socket': 'EACCES',
  })
  await kafka.close()
})

test('a process holding the lock that is not a samsa owner is named: its pid, command and user', async () => {
  const dataDir = tempDir()
  // Another program takes the lock (flock(1), as any user could on a lock file it may open).
  const holder = spawn('flock', ['--exclusive', path.join(dataDir, '.lock'), 'sleep', '60'], { stdio: 'ignore' })
  const failed = new Promise((resolve) => holder.once('error', resolve))
  try {
    const spawnError = await Promise.race([failed, new Promise((resolve) => setTimeout(resolve, 50))])
    if (spawnError) throw new Error(`flock(1) (util-linux) could not be run: ${spawnError.message}`)
    await waitFor(() => fs.readFileSync('/proc/locks', 'utf8').split('\n').some((l) => l.includes(` ${holder.pid} `)), { what: 'flock to take the lock' })
    const e = await quiet(dataDir).admin().connect().catch((x) => x)
    expect(e.name).toBe('KafkaJSConnectionError')
    expect(e.message).toContain(`pid ${holder.pid} (flock, user ${require('node:os').userInfo().username})`)
    expect(e.message).toMatch(/which does not serve it/)
  } finally {
    holder.kill('SIGKILL')
  }
}, 30000)

test('one cluster id, kept in the data directory, from every door; a wiped directory is a new cluster', async () => {
  const dataDir = tempDir()
  const kafka = quiet(dataDir)
  const admin = kafka.admin()
  await admin.connect()
  const inProcess = (await admin.describeCluster()).clusterId
  expect(inProcess).toMatch(/^[A-Za-z0-9_-]{22}$/)
  expect(fs.readFileSync(path.join(dataDir, 'meta.properties'), 'utf8')).toContain(`cluster.id=${inProcess}`)

  const address = await kafka.listen({ port: 0 })
  const wire = kafkajsClient(`${address.host}:${address.port}`).kafka.admin()
  await wire.connect()
  expect((await wire.describeCluster()).clusterId).toBe(inProcess)
  await wire.disconnect()

  // A process that does not own the directory reports the owner's.
  const other = spawnNode(['-e', `
const { Kafka, logLevel } = require(${JSON.stringify(ROOT)})
const admin = new Kafka({ dataDir: ${JSON.stringify(dataDir)}, logLevel: logLevel.NOTHING }).admin()
admin.connect().then(() => admin.describeCluster()).then((c) => { console.log(c.clusterId); return admin.disconnect() })
`])
  expect(await other.exited).toEqual({ code: 0, signal: null })
  expect(other.lines).toEqual([inProcess])
  await kafka.close()

  // Reopened: the same id. Wiped and made again at the same path: another.
  const again = quiet(dataDir)
  const againAdmin = again.admin()
  await againAdmin.connect()
  expect((await againAdmin.describeCluster()).clusterId).toBe(inProcess)
  await again.close()
  fs.rmSync(dataDir, { recursive: true })
  const fresh = quiet(dataDir)
  const freshAdmin = fresh.admin()
  await freshAdmin.connect()
  const id = (await freshAdmin.describeCluster()).clusterId
  expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/)
  expect(id).not.toBe(inProcess)
  await fresh.close()
})

test('new Kafka({ ssl, sasl }) warns once that the embedded broker ignores them', () => {
  const lines = []
  const logCreator = () => ({ level, log }) => lines.push({ level, message: log.message })
  new Kafka({ dataDir: tempDir(), logCreator, ssl: true, sasl: { mechanism: 'plain', username: 'u', password: 'p' } })
  const warnings = lines.filter((l) => l.level === logLevel.WARN).map((l) => l.message)
  expect(warnings).toEqual([expect.stringMatching(/"ssl" option is ignored/), expect.stringMatching(/"sasl" option is ignored/)])
  expect(JSON.stringify(lines)).not.toContain('"p"')
})
