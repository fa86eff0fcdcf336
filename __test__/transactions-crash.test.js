'use strict'

// Exactly once through kill -9 (KIP-98's promise): a consume-transform-produce loop
// (fixtures/tx-transform-child.js) turns inputs over 4 partitions into one result each, a
// transaction per run of inputs (the results and the group's offsets, committed together).
// Round after round this test kills it with SIGKILL at a random moment and starts it again
// on the same directory, until it reports every input done. Then, with the child gone, the
// results read committed (the native fetch, a consumer of a new group, and one in another
// process) must hold exactly one result per input: none lost, none twice, each the right
// one. A read uncommitted shows what the kills left: results of aborted transactions,
// which must all be results of inputs done again later.
//
// Two tests: the child owns the data directory (4,000 inputs, 60 kills: each kill takes
// the broker down with it, and the next start recovers), and the child reaches this
// process's broker over its socket (1,000 inputs, 15 kills: the broker lives on, and the
// next child's producer fences and aborts what the last one left open).
//
// The kill moments: 40% of the rounds a random 0-20 ms after the child's first commit
// (inside whatever transaction runs then, or between two); 20% a random 0-3 ms after a
// transaction opens (in its sends or offsets); 10% 0-1 ms after it calls commit; 20%
// (owning child only) inside a commit, after the coordinator's decision is durable and
// before the markers and offsets are all written (found by stopping the child at random
// moments and looking); 10% a random 0-40 ms after the child starts (fencing the last
// run's transaction, joining the group).
// fsync stays off (the default): kill -9 does not lose the page cache.

const fs = require('node:fs')
const path = require('node:path')
const { Kafka, logLevel } = require('..')
const { tempDir, waitFor, readPartition, runNode, ROOT } = require('./helpers')
const { spawnNode, until } = require('./wire-helpers')

const CHILD = path.join(__dirname, 'fixtures', 'tx-transform-child.js')
const PEER = path.join(__dirname, 'fixtures', 'tx-peer.js')
const PARTITIONS = 4
const GROUP = 'transformer'
// One round's child, start to kill or end.
const ROUND_TIMEOUT_MS = 20000

const resultOf = (value) => `result-${value}-${(Number(value) * 7919) % 1000}`

// The same from run to run: the fractional parts of multiples of the golden ratio.
const spread = (n) => (n * 0.6180339887) % 1

/** The transaction coordinator's state of the child's transactional id on disk, as the
 * last whole line of transactions.log for it says (its tail is enough: the child writes a
 * line per step): what a kill interrupted. */
function coordinatorState(dataDir) {
  let text
  try {
    const fd = fs.openSync(path.join(dataDir, 'transactions.log'), 'r')
    try {
      const size = fs.fstatSync(fd).size
      const buf = Buffer.alloc(Math.min(size, 16384))
      fs.readSync(fd, buf, 0, buf.length, size - buf.length)
      text = buf.toString('utf8')
    } finally {
      fs.closeSync(fd)
    }
  } catch {
    return 'none'
  }
  const lines = text.split('\n')
  lines.pop() // empty, or a line the kill tore
  for (let i = lines.length - 1; i > 0; i--) {
    let meta
    try {
      meta = JSON.parse(lines[i])
    } catch {
      continue
    }
    if (meta.id !== 'transformer') continue
    if (meta.state !== 'Ongoing') return meta.state
    return `Ongoing${meta.pending_offsets.length ? ' with offsets' : meta.groups.length ? ' with the group' : meta.partitions.length ? ' with results' : ''}`
  }
  return 'none'
}

/** SIGSTOPs `child` and waits until every thread of it is stopped. */
async function freeze(child) {
  child.kill('SIGSTOP')
  const tasks = `/proc/${child.pid}/task`
  const stopped = (t) => {
    try {
      // Stopped, or gone (the child exited as it was stopped).
      return /^\d+ \(.*\) [TtZX] /.test(fs.readFileSync(`${tasks}/${t}/stat`, 'utf8'))
    } catch {
      return true
    }
  }
  await waitFor(() => fs.readdirSync(tasks).every(stopped), { timeoutMs: 5000, intervalMs: 1, what: 'the child to stop' })
}

/**
 * Kills `child` while its transaction is being ended: between the coordinator's durable
 * decision (PrepareCommit or PrepareAbort on disk) and Complete*, while the markers and
 * the offsets are written. That window is some 1% of the child's time, too short to hit
 * by timing, so the child is stopped (SIGSTOP) again and again, looked at, and killed when
 * it is in the window or let go on (SIGCONT) for a moment when not: it gets there in a
 * few hundred looks. Gives up after `budgetMs` and kills it wherever it is. Resolves
 * with the number of looks.
 */
async function killInsideCommit(child, dataDir, budgetMs = 2000) {
  const until = Date.now() + budgetMs
  for (let look = 1; ; look++) {
    if (child.exitCode !== null || child.signalCode !== null) return look
    await new Promise((resolve) => setImmediate(resolve))
    try {
      await freeze(child)
    } catch {
      return look // it exited
    }
    const state = coordinatorState(dataDir)
    if (state.startsWith('Prepare') || Date.now() > until) {
      child.kill('SIGKILL')
      return look
    }
    child.kill('SIGCONT')
  }
}

/** One round: the child from start to kill (as `plan` says) or to "all-done". */
async function round(dataDir, n, plan, remote) {
  const seen = { start: null, opened: 0, committed: [], allDone: false, lastLine: null, killedAfter: null, probeError: null }
  let armed = false
  const r = await runNode([CHILD, dataDir, String(n * 7919 + 1), remote ? 'remote' : 'owner'], {
    timeoutMs: ROUND_TIMEOUT_MS,
    onLine: (line, child) => {
      seen.lastLine = line
      const [word, ...rest] = line.split(' ')
      if (word === 'start') seen.start = JSON.parse(rest.join(' '))
      else if (word === 'open') seen.opened++
      else if (word === 'committed') seen.committed.push(rest.map(Number))
      else if (word === 'all-done') seen.allDone = true
      if (!plan || armed || word !== plan.after) return
      armed = true
      seen.killedAfter = line
      if (plan.inside) {
        killInsideCommit(child, dataDir).catch((e) => {
          seen.probeError = e
          child.kill('SIGKILL')
        })
      }
      else setTimeout(() => child.kill('SIGKILL'), plan.delayMs)
    },
  })
  return { ...seen, code: r.code, signal: r.signal, stderr: r.stderr }
}

/** The kill moment of round `n`: spread over the kinds the header describes (without
 * "inside a commit" for a child on another process's directory: its commits run there). */
function planOf(n, remote) {
  const kind = spread(n)
  const delay = (max) => Math.floor(spread(n * 3) * (max + 1))
  if (kind < 0.1) return { after: 'start', delayMs: delay(40) }
  if (kind < 0.3) return { after: 'open', delayMs: delay(3) }
  if (kind < 0.4) return { after: 'committing', delayMs: delay(1) }
  if (kind < 0.6 && !remote) return { after: 'committed', inside: true }
  return { after: 'committed', delayMs: delay(20) }
}

/**
 * The scenario: the inputs, then rounds of the child until it is done (killed in the first
 * `minKills` rounds at least, and in more while `budgetMs` lasts, up to `maxKills`), then
 * the checks. `remote`: this process owns the directory the whole time, and the child
 * reaches it over its socket (its transactions, offsets and group there).
 */
async function scenario({ inputs, minKills, maxKills, budgetMs, remote }) {
  const dataDir = tempDir('samsa-tx-crash-')
  const began = Date.now()
  let kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING })
  const rounds = []
  try {
    const admin = kafka.admin()
    await admin.connect()
    await admin.createTopics({ topics: [{ topic: 'inputs', numPartitions: PARTITIONS }, { topic: 'results', numPartitions: PARTITIONS }] })
    const producer = kafka.producer()
    await producer.connect()
    await producer.send({ topic: 'inputs', messages: Array.from({ length: inputs }, (_, i) => ({ key: `in-${i}`, value: String(i) })) })
    await producer.disconnect()
    if (!remote) {
      await kafka.close() // the child owns the directory
      kafka = null
    }

    // The group's offsets a commit the child reported must have reached (they are
    // durable once commit resolves): partition -> the highest next offset reported.
    const reported = new Map()
    for (let n = 1; ; n++) {
      const kills = rounds.filter((r) => r.signal === 'SIGKILL').length
      const killing = kills < minKills || (kills < maxKills && Date.now() - began < budgetMs)
      const plan = killing ? planOf(n, remote) : null
      const r = await round(dataDir, n, plan, remote)
      const where = `round ${n} (${!plan ? 'to the end' : plan.inside ? 'kill inside a commit' : `kill ${plan.delayMs} ms after "${plan.after}"`})`
      if (r.probeError) throw new Error(`${where}: looking for the moment to kill failed: ${r.probeError.stack}`)
      if (r.signal !== 'SIGKILL' && !(r.code === 0 && r.allDone)) {
        throw new Error(`${where}: the child exited with ${r.signal || `code ${r.code}`}, last line ${JSON.stringify(r.lastLine)}:\n${r.stderr}`)
      }
      // Where the child started: at or past every commit reported before.
      for (const [p, next] of r.start ? reported : []) {
        if (!(r.start[p] >= next)) throw new Error(`${where}: the group's offset of partition ${p} is ${r.start[p]} at start, but a commit to ${next} was reported`)
      }
      for (const [p, next] of r.committed) reported.set(p, Math.max(reported.get(p) ?? 0, next))
      rounds.push({ n, plan, lastLine: r.lastLine, committed: r.committed.length, signal: r.signal, left: r.signal === 'SIGKILL' ? coordinatorState(dataDir) : null })
      if (r.allDone && r.signal !== 'SIGKILL') break // (done but killed before it exited: once more)
      if (Date.now() - began > 100000) throw new Error(`not done after ${n} rounds in 100 s:\n${JSON.stringify(rounds.slice(-5))}`)
    }

    // The child is gone: read the results here.
    kafka ||= new Kafka({ dataDir, logLevel: logLevel.NOTHING })
    const reader = kafka.admin()
    await reader.connect()
    const high = (await reader.fetchTopicOffsets('inputs')).map((o) => [o.partition, o.high])
    const [{ partitions }] = await reader.fetchOffsets({ groupId: GROUP, topics: ['inputs'] })
    expect(partitions.map((p) => [p.partition, p.offset]).sort()).toEqual(high.sort())

    const committed = []
    const uncommitted = []
    for (let p = 0; p < PARTITIONS; p++) {
      committed.push(...readPartition(dataDir, 'results', p).map((m) => m.value.toString()))
      uncommitted.push(...readPartition(dataDir, 'results', p, 0, { readUncommitted: true }).map((m) => m.value.toString()))
    }
    // A kafkajs-API consumer (read committed, the default) reads the same: up to a record
    // sent now to the end of each partition, so that it has read everything before.
    const ends = kafka.producer()
    await ends.connect()
    await ends.send({ topic: 'results', messages: Array.from({ length: PARTITIONS }, (_, p) => ({ value: `end-${p}`, partition: p })) })
    await ends.disconnect()
    const consumer = kafka.consumer({ groupId: 'checker', maxWaitTimeInMs: 100 })
    let consumed = []
    await consumer.connect()
    await consumer.subscribe({ topics: ['results'], fromBeginning: true })
    await consumer.run({ eachMessage: async ({ message }) => void consumed.push(message.value.toString()) })
    // And one in another process, which reaches this one's broker over its socket (the
    // remote fetch, with its own filtering of aborted records).
    const other = spawnNode([PEER, dataDir], { stdin: 'pipe' })
    await until(() => other.lines.includes('ready'), { timeoutMs: 15000, what: () => `the reading process to start\n${other.output()}` })
    other.child.stdin.write(`${JSON.stringify({ n: 1, op: 'consume', groupId: 'remote-checker', topics: ['results'] })}\n`)
    const remoteValues = () => other.lines.filter((l) => l.startsWith('{"m"')).map((l) => JSON.parse(l).m[4])
    await waitFor(() => consumed.filter((v) => v.startsWith('end-')).length === PARTITIONS, {
      timeoutMs: 20000,
      what: 'the consumer to read every partition of the results to its end',
    })
    await until(() => remoteValues().filter((v) => v.startsWith('end-')).length === PARTITIONS, {
      timeoutMs: 20000,
      what: () => `the consumer in another process to read every partition of the results to its end\n${other.output().slice(-2000)}`,
    })
    other.child.stdin.write(`${JSON.stringify({ n: 2, op: 'exit' })}\n`)
    expect(await other.exited).toEqual({ code: 0, signal: null })
    await consumer.disconnect()
    await reader.disconnect()
    consumed = consumed.filter((v) => !v.startsWith('end-'))
    const consumedRemotely = remoteValues().filter((v) => !v.startsWith('end-'))

    const expected = Array.from({ length: inputs }, (_, i) => resultOf(String(i)))
    const known = new Set(expected)
    const summary = (list) => {
      const c = count(list)
      return {
        records: list.length,
        distinct: c.size,
        twice: [...c].filter(([, k]) => k > 1).map(([v, k]) => `${v} x${k}`).slice(0, 10),
        missing: expected.filter((v) => !c.has(v)).slice(0, 10),
        foreign: [...c.keys()].filter((v) => !known.has(v)).slice(0, 10),
      }
    }
    const once = { records: inputs, distinct: inputs, twice: [], missing: [], foreign: [] }
    expect(summary(committed)).toEqual(once)
    expect(summary(consumed)).toEqual(once)
    expect(summary(consumedRemotely)).toEqual(once)
    // Read uncommitted: those and the results of the transactions the kills aborted, each
    // again the result of an input (one redone later).
    const all = summary(uncommitted)
    expect({ distinct: all.distinct, missing: all.missing, foreign: all.foreign }).toEqual({ distinct: inputs, missing: [], foreign: [] })
    return { dataDir, rounds, began, committed, uncommitted }
  } finally {
    if (kafka) await kafka.close()
  }
}

const count = (list) => list.reduce((m, v) => m.set(v, (m.get(v) || 0) + 1), new Map())

function report(name, { rounds, began, committed, uncommitted }) {
  const kills = rounds.filter((r) => r.signal === 'SIGKILL')
  const left = count(kills.map((r) => r.left))
  console.log(
    `${name}: ${rounds.length} rounds, ${kills.length} kills, ${rounds.reduce((k, r) => k + r.committed, 0)} commits reported, ` +
      `${committed.length} results committed, one per input; read uncommitted ${uncommitted.length} records (${uncommitted.length - committed.length} of aborted transactions), ` +
      `${((Date.now() - began) / 1000).toFixed(1)} s\nthe coordinator's state as the kills left it: ${[...left].map(([k, v]) => `${k} ${v}`).join(', ')}`
  )
  return { kills, left }
}

test('kill -9 of a consume-transform-produce loop owning the data directory, round after round: exactly one committed result per input', async () => {
  const result = await scenario({ inputs: 4000, minKills: 20, maxKills: 60, budgetMs: 45000, remote: false })
  const { kills, left } = report('transactions-crash (owner)', result)
  expect(kills.length).toBeGreaterThanOrEqual(20)
  // The moments this test is for came up: a kill inside a transaction with results
  // stored and the group's offsets pending (aborted at the next start), and one inside a
  // commit (finished at the next start, by the recovery of PrepareCommit).
  expect({ ongoing: left.get('Ongoing with offsets') > 0, prepared: left.get('PrepareCommit') > 0 }).toEqual({ ongoing: true, prepared: true })
  // More than what was committed was stored: the committed reads above left records of
  // aborted transactions out. (Not required: every kill could have missed a transaction.)
  if (result.uncommitted.length === result.committed.length) console.log('transactions-crash (owner): no kill left an aborted record behind this time')
  const verify = await runNode([path.join(ROOT, 'bin', 'samsa.js'), 'verify', result.dataDir], { timeoutMs: 20000 })
  expect([verify.code, verify.stdout]).toEqual([0, expect.stringContaining('no damage found')])
}, 120000)

test('kill -9 of a consume-transform-produce loop in a process using another process\'s data directory, round after round: exactly one committed result per input', async () => {
  const result = await scenario({ inputs: 1000, minKills: 10, maxKills: 15, budgetMs: 20000, remote: true })
  const { kills } = report('transactions-crash (remote)', result)
  expect(kills.length).toBeGreaterThanOrEqual(10)
}, 90000)
