'use strict'

// The crash course's flow, as separate processes: the four programs of examples/tutorial
// (kafkajs, pointed at `samsa serve` through KAFKA_BROKER) run as a reader would run them.
// admin.js creates `rider-updates` (2 partitions); two `consumer.js group-1` split the
// partitions, so each message reaches exactly one of them; `consumer.js group-2` gets every
// message; producer.js reads "name location" lines from stdin (north to partition 0, the
// rest to 1). The consumers never exit on their own: the test stops them, then the broker,
// which must stop cleanly on SIGTERM.

const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { tempDir, runNode, ROOT } = require('./helpers')
const { kafkajs, serve, spawnNode, until } = require('./wire-helpers')

const TUTORIAL = path.join(ROOT, 'examples', 'tutorial')
const MESSAGE = /^(group-\d+): \[rider-updates\]: PART:(\d+): (.*)$/

const RIDERS = [
  ['tony', 'north'],
  ['maria', 'south'],
  ['alex', 'north'],
  ['priya', 'east'],
  ['sam', 'west'],
  ['lena', 'north'],
  ['omar', 'south'],
  ['kim', 'north'],
  ['ines', 'south'],
  ['yusuf', 'north'],
  ['mia', 'west'],
  ['jon', 'south'],
]

/** A tutorial consumer: what it printed, parsed. */
function consumer(group, env) {
  const proc = spawnNode([path.join(TUTORIAL, 'consumer.js'), group], { cwd: TUTORIAL, env })
  const messages = () =>
    proc.lines
      .map((l) => MESSAGE.exec(l))
      .filter(Boolean)
      .map((m) => ({ group: m[1], partition: Number(m[2]), value: m[3] }))
  // kafkajs's default logger prints "Consumer has joined the group" with the assignment.
  const assignment = () => {
    let last = null
    for (const l of proc.lines) {
      if (!l.startsWith('{') || !l.includes('Consumer has joined the group')) continue
      last = JSON.parse(l).memberAssignment['rider-updates'] || []
    }
    return last
  }
  return Object.assign(proc, { messages, assignment })
}

test('two consumers in group-1 split the partitions, group-2 gets every message', async () => {
  const dataDir = tempDir('samsa-tutorial-')
  const broker = await serve(dataDir)
  const env = { KAFKA_BROKER: broker.broker, KAFKAJS_NO_PARTITIONER_WARNING: '1' }

  const admin = await runNode([path.join(TUTORIAL, 'admin.js')], { cwd: TUTORIAL, env, timeoutMs: 15000 })
  expect({ code: admin.code, stderr: admin.stderr }).toEqual({ code: 0, stderr: '' })
  expect(admin.stdout).toContain('Topic created success [rider-updates]')

  const one = consumer('group-1', env)
  const all = consumer('group-2', env)
  const consumers = [one, all]
  const state = () => consumers.map((c) => `${c.child.pid}: assignment ${JSON.stringify(c.assignment())}, ${c.messages().length} messages`).join('; ')
  // The second group-1 consumer starts once the first has both partitions, so its joining
  // is a rebalance of a running group (started together, they could share the first
  // generation). kafkajs's defaults (3 s heartbeats, 5 s fetch waits) decide how soon the
  // first member notices: the rebalance takes a few seconds.
  await until(() => one.assignment()?.length === 2, { timeoutMs: 15000, intervalMs: 50, what: () => `the first group-1 consumer to join (${state()})` })
  const two = consumer('group-1', env)
  consumers.splice(1, 0, two)
  await until(
    () => {
      const a = one.assignment()
      const b = two.assignment()
      return a && b && a.length === 1 && b.length === 1 && a[0] !== b[0] && all.assignment()?.length === 2
    },
    { timeoutMs: 30000, intervalMs: 50, what: () => `group-1 to split the partitions and group-2 to join (${state()})` }
  )

  const producer = spawnNode([path.join(TUTORIAL, 'producer.js')], { cwd: TUTORIAL, env, stdin: 'pipe' })
  // producer.js listens for lines only once connected: lines typed before that are lost
  // (and stdin closed before that leaves it running), so wait as a person would.
  await until(() => producer.lines.includes('Producer connected successfully'), { timeoutMs: 15000, what: 'the producer to connect' })
  producer.child.stdin.write(RIDERS.map(([name, location]) => `${name} ${location}\n`).join(''))

  const sent = RIDERS.map(([name, location]) => JSON.stringify({ name, location }))
  await until(() => all.messages().length >= sent.length && one.messages().length + two.messages().length >= sent.length, {
    timeoutMs: 20000,
    intervalMs: 50,
    what: () => `every message in both groups (${state()})`,
  })
  // Closing stdin makes the producer disconnect and exit.
  producer.child.stdin.end()
  await until(() => producer.child.exitCode !== null || producer.child.signalCode !== null, { timeoutMs: 10000, what: () => `the producer to exit once its stdin closed\n${producer.output()}` })
  const exit = await producer.exited
  expect({ ...exit, stderr: producer.stderr() }).toEqual({ code: 0, signal: null, stderr: '' })

  // Both groups have committed everything, so nothing is left to be delivered again.
  const admin2 = new kafkajs.Kafka({ brokers: [broker.broker], logLevel: kafkajs.logLevel.NOTHING }).admin()
  await admin2.connect()
  try {
    const high = (await admin2.fetchTopicOffsets('rider-updates')).map((o) => [o.partition, o.high]).sort()
    expect(high).toEqual([
      [0, String(RIDERS.filter(([, l]) => l === 'north').length)],
      [1, String(RIDERS.filter(([, l]) => l !== 'north').length)],
    ])
    for (const groupId of ['group-1', 'group-2']) {
      await until(
        async () => {
          const [t] = await admin2.fetchOffsets({ groupId, topics: ['rider-updates'] })
          return JSON.stringify(t.partitions.map((p) => [p.partition, p.offset]).sort()) === JSON.stringify(high)
        },
        { timeoutMs: 15000, what: () => `${groupId} to commit every message` }
      )
    }
  } finally {
    await admin2.disconnect()
  }

  // Each message reached exactly one group-1 consumer, each of which read one partition
  // (north is partition 0), and group-2's consumer got every message once.
  const [m1, m2, m3] = consumers.map((c) => c.messages())
  expect([...m1, ...m2].map((m) => m.value).sort()).toEqual([...sent].sort())
  expect(m3.map((m) => m.value).sort()).toEqual([...sent].sort())
  for (const [c, m] of [
    [one, m1],
    [two, m2],
  ]) {
    expect(new Set(m.map((x) => x.partition))).toEqual(new Set(m.length ? c.assignment() : []))
  }
  for (const m of [...m1, ...m2, ...m3]) {
    expect([m.value, m.partition]).toEqual([m.value, JSON.parse(m.value).location === 'north' ? 0 : 1])
  }
  // Per partition, both groups saw the log in the same order. (Not necessarily the order of
  // the lines: producer.js sends each line without waiting for the previous send.)
  for (const p of [0, 1]) {
    const owner = [m1, m2].find((m) => m.some((x) => x.partition === p)) || []
    expect(owner.filter((x) => x.partition === p).map((x) => x.value)).toEqual(m3.filter((x) => x.partition === p).map((x) => x.value))
  }

  // The consumers run until stopped; then the broker stops cleanly on SIGTERM.
  for (const c of consumers) expect(await c.stop('SIGTERM')).toEqual({ code: null, signal: 'SIGTERM' })
  expect(await broker.stop('SIGTERM')).toEqual({ code: 0, signal: null })
  expect(broker.lines).toContainEqual(expect.stringMatching(/^samsa: SIGTERM: stopping/))
  // Connections of the consumers just stopped may still be open when it stops: those get a
  // WARN line each ("closing a Kafka connection: the listener is stopping"); nothing worse.
  expect(broker.stderr().split('\n').filter((l) => l && !/"level":"(WARN|INFO)"/.test(l))).toEqual([])
  const verify = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'samsa.js'), 'verify', dataDir], { encoding: 'utf8', timeout: 15000 })
  expect([verify.status, verify.stdout]).toEqual([0, expect.stringContaining('no damage found')])
}, 90000)
