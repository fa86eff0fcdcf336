'use strict'

// The takeover scenario that __test__/takeover.test.js checks and bench/takeover.js
// measures (no jest in here: the bench runs it too).
//
// A data directory's first owner (fixtures/takeover-owner.js) creates the topic; four
// producing processes (fixtures/takeover-producer.js, idempotent) and a group of two
// consumer processes (fixtures/takeover-consumer.js) work through it. Each round ends the
// owner (the pid in samsa.owner): another of the processes must take the directory over
// (samsa.owner names it), and every producer must have a send acknowledged and every
// consumer must handle a message produced after the owner's end; a producer or consumer
// that was ended is replaced (once the new owner is known, so that the replacement does
// not just open the free directory itself). At the end the producers stop, the whole
// topic is read by a fresh group, and the consumers catch up; `check(result)` then
// compares what was acknowledged, stored and consumed.
//
// Every wait has a deadline and says what it waited for. Children exit by themselves if
// this process dies; `killAll()` ends any left (SIGKILL).

const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { Kafka, logLevel } = require('..')

const FIXTURES = path.join(__dirname, 'fixtures')
const TOPIC = 'rider-updates'
const PARTITIONS = 6
const GROUP = 'db-writer'
const PRODUCERS = 4
const CONSUMERS = 2

const DEADLINES = {
  // The processes start, the producers send and both consumers handle messages.
  startMs: 30000,
  // From the owner's end to samsa.owner naming another live process.
  takeoverMs: 20000,
  // From there to every producer acknowledged and every consumer handling new messages.
  resumeMs: 30000,
  // A SIGTERMed process closing its Kafka and exiting.
  exitMs: 20000,
  // The producers' sends out answered after "stop"; the consumers catching up; reading the
  // whole topic.
  finishMs: 60000,
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

class Takeover {
  constructor(dataDir, { log = () => {}, budgetMs = Infinity } = {}) {
    this.dataDir = dataDir
    // Every wait ends by then too (a test's own timeout would say less).
    this.endBy = Date.now() + budgetMs
    this.log = log
    this.procs = []
    this.made = { owner: 0, producer: 0, consumer: 0 }
    // value -> when its send was acknowledged (the producer's clock: Date.now()).
    this.ackAt = new Map()
    // `${partition}:${offset}` -> how many times the group handled it.
    this.handled = new Map()
    this.rounds = []
    this.kafka = null
  }

  // ---- processes ----

  spawnProc(kind) {
    const n = ++this.made[kind]
    const name = { owner: 'owner', producer: 'p', consumer: 'c' }[kind] + n
    const script = path.join(FIXTURES, `takeover-${kind}.js`)
    const args = {
      owner: [this.dataDir, TOPIC, String(PARTITIONS)],
      producer: [this.dataDir, TOPIC, String(n)],
      consumer: [this.dataDir, TOPIC, GROUP],
    }[kind]
    const child = spawn(process.execPath, [script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] })
    const proc = {
      kind,
      name,
      pid: child.pid,
      child,
      startedAt: Date.now(),
      // Set before this test ends it on purpose; any other exit fails the scenario.
      ending: false,
      exit: null,
      closedStdio: false,
      stderr: '',
      tail: [],
      ready: false,
      done: null,
      closed: false,
      // producers
      ackTimes: [],
      longestSend: 0,
      failures: [],
      // consumers: [at, partition, offset, value]
      consumed: [],
      // [at, partition, offset]
      commits: [],
      assignments: [],
      crashes: [],
    }
    let buffered = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (d) => {
      buffered += d
      let nl
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        this.onLine(proc, line)
      }
    })
    child.stderr.setEncoding('utf8')
    child.stderr.on('data', (d) => {
      proc.stderr += d
    })
    child.stdin.on('error', () => {})
    child.on('error', (e) => {
      proc.stderr += `spawn error: ${e.message}\n`
    })
    child.on('exit', (code, signal) => {
      proc.exit = { code, signal, at: Date.now() }
    })
    child.on('close', () => {
      proc.closedStdio = true
    })
    this.procs.push(proc)
    this.log(`started ${name} (pid ${child.pid})`)
    return proc
  }

  onLine(proc, line) {
    const sp = line.indexOf(' ')
    const word = sp < 0 ? line : line.slice(0, sp)
    const rest = sp < 0 ? '' : line.slice(sp + 1)
    const keep = () => {
      proc.tail.push(line)
      if (proc.tail.length > 20) proc.tail.shift()
    }
    switch (word) {
      case 'acked': {
        const [called, at, values] = rest.split(' ')
        const t = Number(at)
        proc.ackTimes.push(t)
        if (t - called > proc.longestSend) proc.longestSend = t - called
        for (const v of values.split(',')) this.ackAt.set(v, t)
        return
      }
      case 'm': {
        const [at, p, o, value] = rest.split(' ')
        proc.consumed.push([Number(at), Number(p), Number(o), value])
        const k = `${p}:${o}`
        this.handled.set(k, (this.handled.get(k) || 0) + 1)
        return
      }
      case 'c': {
        const [at, list] = rest.split(' ')
        for (const po of list.split(',')) {
          const [p, o] = po.split(':')
          proc.commits.push([Number(at), Number(p), Number(o)])
        }
        return
      }
      case 'a': {
        const [at, list = ''] = rest.split(' ')
        proc.assignments.push([Number(at), list ? list.split(',').map(Number) : []])
        break
      }
      case 'failed': {
        const [called, at, values, ...error] = rest.split(' ')
        proc.failures.push({ at: Number(at), ms: at - called, values: values.split(','), error: error.join(' ') })
        break
      }
      case 'crash':
        proc.crashes.push(rest)
        break
      case 'ready':
      case 'running':
        proc.ready = true
        break
      case 'done': {
        const [acked, failed] = rest.split(' ').map(Number)
        proc.done = { acked, failed }
        break
      }
      case 'closed':
        proc.closed = true
        break
    }
    keep()
  }

  live(kind) {
    return this.procs.filter((p) => !p.exit && !p.ending && (!kind || p.kind === kind))
  }

  byPid(pid) {
    return this.procs.find((p) => p.pid === pid) || null
  }

  ownerRecord() {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.dataDir, 'samsa.owner'), 'utf8'))
    } catch {
      return null
    }
  }

  ownerPid() {
    return this.ownerRecord()?.pid ?? null
  }

  /** Each process: name, pid, state, and the last lines it printed that were not data. */
  describe({ tails = true } = {}) {
    const owner = this.ownerPid()
    return this.procs
      .map((p) => {
        const state = p.exit ? `exited ${p.exit.signal || p.exit.code}` : p.ending ? 'ending' : 'running'
        const counts =
          p.kind === 'producer'
            ? `, ${p.ackTimes.length} sends acked, ${p.failures.length} failed`
            : p.kind === 'consumer'
              ? `, ${p.consumed.length} handled, ${p.commits.length} commits, ${p.crashes.length} crashes, assigned ${JSON.stringify(p.assignments.at(-1)?.[1] ?? null)}`
              : ''
        const head = `${p.name} pid ${p.pid}${p.pid === owner ? ' (samsa.owner)' : ''}: ${state}${counts}`
        if (!tails) return head
        const lines = [...p.tail, ...(p.stderr ? [`stderr: ...${p.stderr.slice(-600)}`] : [])]
        return lines.length ? `${head}\n    ${lines.join('\n    ')}` : head
      })
      .join('\n')
  }

  /** Polls `check` every 20 ms until it returns a truthy value; throws after `timeoutMs`,
   * or at once when a process exits that was not being ended. */
  async until(check, timeoutMs, what) {
    const deadline = Math.min(Date.now() + timeoutMs, this.endBy)
    for (;;) {
      const gone = this.procs.find((p) => p.exit && !p.ending)
      if (gone) {
        throw new Error(`${gone.name} (pid ${gone.pid}) exited on its own (${gone.exit.signal || `code ${gone.exit.code}`}) while waiting for ${typeof what === 'function' ? what() : what}\n${this.describe()}`)
      }
      const v = await check()
      if (v) return v
      if (Date.now() > deadline) {
        const why = deadline === this.endBy ? "the scenario's time budget ran out" : `timed out after ${timeoutMs} ms`
        throw new Error(`${why} waiting for ${typeof what === 'function' ? what() : what}\n${this.describe()}`)
      }
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  /** `promise`'s outcome, or an error after `timeoutMs` saying what it was. */
  async within(what, promise, timeoutMs = DEADLINES.exitMs) {
    let timer
    const late = new Promise((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${timeoutMs} ms\n${this.describe()}`)), Math.max(0, Math.min(timeoutMs, this.endBy - Date.now())))
    })
    try {
      return await Promise.race([promise, late])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Signals `proc` (which may then exit) and waits for its exit. */
  async end(proc, signal, timeoutMs = signal === 'SIGKILL' ? 5000 : DEADLINES.exitMs) {
    proc.ending = true
    proc.endSignal = signal
    if (!proc.exit) proc.child.kill(signal)
    await this.until(() => proc.exit, timeoutMs, `${proc.name} (pid ${proc.pid}) to exit after ${signal}`)
  }

  // ---- the scenario ----

  async start() {
    const owner = this.spawnProc('owner')
    await this.until(() => owner.ready && this.ownerPid() === owner.pid, DEADLINES.startMs, () => `${owner.name} to open the directory`)
    for (let i = 0; i < PRODUCERS; i++) this.spawnProc('producer')
    for (let i = 0; i < CONSUMERS; i++) this.spawnProc('consumer')
    await this.until(
      () => this.live('producer').every((p) => p.ackTimes.length > 0) && this.live('consumer').every((c) => c.consumed.length > 0),
      DEADLINES.startMs,
      'every producer to have a send acknowledged and every consumer to handle messages'
    )
    await this.settle()
    this.startedAt = Date.now()
  }

  /** Waits for the work to go on a while: every producer has 25 more sends acknowledged
   * and every consumer, assigned partitions, handles 50 more messages. */
  async settle() {
    const from = new Map(this.live().map((p) => [p, p.kind === 'producer' ? p.ackTimes.length : p.consumed.length]))
    await this.until(
      () =>
        this.live('producer').every((p) => p.ackTimes.length >= (from.get(p) ?? 0) + 25) &&
        this.live('consumer').every((c) => c.assignments.at(-1)?.[1].length > 0 && c.consumed.length >= (from.get(c) ?? 0) + 50),
      DEADLINES.resumeMs,
      'the producers and consumers to go on working'
    )
  }

  /** Whether every live producer had a send acknowledged after `t` and every live consumer
   * handled a message acknowledged after `t`. */
  resumedSince(t) {
    return this.live('producer').every((p) => p.ackTimes.at(-1) > t) && this.live('consumer').every((c) => this.firstNewHandled(c, t) !== null)
  }

  /** When consumer `c` first handled, after `t`, a message whose send was acknowledged
   * after `t` (one sent through the new owner, not one fetched before the end), or null. */
  firstNewHandled(c, t) {
    let first = null
    for (let i = c.consumed.length - 1; i >= 0 && c.consumed[i][0] > t; i--) {
      const at = this.ackAt.get(c.consumed[i][3])
      if (at !== undefined && at > t) first = c.consumed[i][0]
    }
    return first
  }

  /** One round: ends the owner with `signal` and waits for the directory to be taken over
   * and for everyone to work again. */
  async round(signal) {
    const n = this.rounds.length + 1
    await this.settle()
    const pid = this.ownerPid()
    const victim = this.live().find((p) => p.pid === pid)
    if (!victim) throw new Error(`round ${n}: samsa.owner names pid ${pid}, not a live process of this scenario\n${this.describe()}`)
    const endedAt = Date.now()
    await this.end(victim, signal)
    const exitedAt = victim.exit.at
    this.log(`round ${n}: ${signal} ${victim.name} (pid ${pid}, the owner) at ${endedAt}, exited +${exitedAt - endedAt} ms`)

    const newPid = await this.until(
      () => {
        const p = this.ownerPid()
        return p !== null && p !== pid && this.live().some((x) => x.pid === p) ? p : null
      },
      DEADLINES.takeoverMs,
      () => `round ${n}: another process to take the data directory over after ${signal} of its owner ${victim.name} (pid ${pid}); samsa.owner says ${JSON.stringify(this.ownerRecord())}`
    )
    const ownerSeenAt = Date.now()
    const newOwner = this.byPid(newPid)
    this.log(`round ${n}: ${newOwner.name} (pid ${newPid}) owns the directory, seen +${ownerSeenAt - endedAt} ms`)
    // The replacement starts only now, so as not to open the free directory itself.
    const started = this.topUp()

    await this.until(
      () => this.resumedSince(exitedAt),
      DEADLINES.resumeMs,
      () => `round ${n}: every producer to have a send acknowledged and every consumer to handle a new message, after ${signal} of ${victim.name}`
    )
    const round = {
      n,
      signal,
      victim: victim.name,
      newOwner: newOwner.name,
      started: started.map((p) => p.name),
      consumers: this.live('consumer').map((c) => c.name),
      endedAt,
      exitedAt,
      ownerSeenAt,
    }
    this.rounds.push(round)
    return round
  }

  /** Starts producers and consumers until there are PRODUCERS and CONSUMERS running. */
  topUp() {
    const started = []
    for (const [kind, want] of [['producer', PRODUCERS], ['consumer', CONSUMERS]]) {
      while (this.live(kind).length < want) started.push(this.spawnProc(kind))
    }
    return started
  }

  /** Stops the producers, reads the whole topic with a fresh group, lets the consumers catch
   * up and their commits reach the end, then ends every process (the owner last). */
  async finish() {
    const producers = this.live('producer')
    for (const p of producers) p.child.stdin.write('stop\n')
    await this.until(() => producers.every((p) => p.done), DEADLINES.finishMs, 'the producers to have their sends out answered after "stop"')
    this.stoppedAt = Date.now()

    this.kafka = new Kafka({ dataDir: this.dataDir, clientId: 'takeover-check', logLevel: logLevel.NOTHING })
    try {
      const admin = this.kafka.admin()
      await this.within('admin.connect()', admin.connect())
      const ends = await this.within('admin.fetchTopicOffsets()', admin.fetchTopicOffsets(TOPIC))
      const high = new Map(ends.map((e) => [e.partition, Number(e.high)]))
      // The whole topic, by a fresh group from the beginning: partition -> offset -> value.
      const log = new Map([...high.keys()].map((p) => [p, []]))
      const reader = this.kafka.consumer({ groupId: `takeover-check-${Date.now()}`, maxWaitTimeInMs: 100 })
      await this.within('connect() of a fresh consumer', reader.connect())
      await this.within('subscribe() of a fresh consumer', reader.subscribe({ topics: [TOPIC], fromBeginning: true }))
      await this.within('run() of a fresh consumer', reader.run({
        eachBatch: async ({ batch }) => {
          const list = log.get(batch.partition)
          for (const m of batch.messages) list[Number(m.offset)] = m.value.toString()
        },
      }))
      const read = () => [...high].every(([p, h]) => log.get(p).length >= h)
      await this.until(read, DEADLINES.finishMs, () => `the whole topic read back (${[...high].map(([p, h]) => `${p}: ${log.get(p).length}/${h}`).join(', ')})`)
      await this.within('disconnect() of a fresh consumer', reader.disconnect())
      this.topicLog = log
      this.high = high

      const total = [...high.values()].reduce((a, b) => a + b, 0)
      await this.until(
        () => {
          for (const [p, h] of high) for (let o = 0; o < h; o++) if (!this.handled.has(`${p}:${o}`)) return false
          return true
        },
        DEADLINES.finishMs,
        () => `the group to have handled all ${total} records (${this.handled.size} distinct handled)`
      )
      let committed = null
      await this.until(
        async () => {
          const [t] = await this.within('admin.fetchOffsets()', admin.fetchOffsets({ groupId: GROUP, topics: [TOPIC] }))
          committed = new Map(t.partitions.map((x) => [x.partition, Number(x.offset)]))
          return [...high].every(([p, h]) => committed.get(p) === h)
        },
        DEADLINES.finishMs,
        () => `the group's committed offsets to reach the end of each partition (${[...high].map(([p, h]) => `${p}: ${committed?.get(p)}/${h}`).join(', ')})`
      )
      this.committed = committed
      await this.within('admin.disconnect()', admin.disconnect())
    } finally {
      await this.within('kafka.close()', this.kafka.close()).catch(() => {})
    }

    // The others first, the owner last: nobody has to take over.
    const owner = this.ownerPid()
    const rest = this.live().filter((p) => p.pid !== owner)
    await Promise.all(rest.map((p) => this.end(p, 'SIGTERM')))
    await Promise.all(this.live().map((p) => this.end(p, 'SIGTERM')))
    await this.until(() => this.procs.every((p) => p.closedStdio), 10000, 'every process to close its output')
    return this.result()
  }

  result() {
    return {
      rounds: this.rounds,
      procs: this.procs,
      ackAt: this.ackAt,
      log: this.topicLog,
      high: this.high,
      committed: this.committed,
      startedAt: this.startedAt,
    }
  }

  /** SIGKILLs every child still running. */
  killAll() {
    for (const p of this.procs) {
      if (!p.exit) {
        p.ending = true
        p.child.kill('SIGKILL')
      }
    }
  }
}

/** The times of each round, from the owner's end (ms): to samsa.owner naming the new owner
 * (as this process polled it), to the first acknowledged send after it, and to the first
 * message (sent through the new owner) handled by the group. */
function timings(result) {
  const producers = result.procs.filter((p) => p.kind === 'producer')
  const consumers = result.procs.filter((p) => p.kind === 'consumer')
  return result.rounds.map((r) => {
    const t = r.exitedAt
    const firstAck = Math.min(...producers.map((p) => p.ackTimes.find((a) => a > t) ?? Infinity))
    let firstHandled = Infinity
    for (const c of consumers) {
      for (const [at, , , value] of c.consumed) {
        if (at <= t || at >= firstHandled) continue
        const acked = result.ackAt.get(value)
        if (acked !== undefined && acked > t) firstHandled = at
      }
    }
    return { n: r.n, signal: r.signal, victim: r.victim, newOwner: r.newOwner, ownerMs: r.ownerSeenAt - r.endedAt, ackMs: firstAck - r.endedAt, handledMs: firstHandled - r.endedAt }
  })
}

/** What the scenario's records say, every list of problems empty when all went right. */
function check(result) {
  const { log, procs, ackAt, rounds } = result
  const producers = procs.filter((p) => p.kind === 'producer')
  const consumers = procs.filter((p) => p.kind === 'consumer')
  const out = {}

  // The log: every acknowledged value in it, none twice, each producer's in call order on
  // each partition.
  const where = new Map()
  const twice = []
  const misordered = []
  let records = 0
  for (const [p, list] of log) {
    const last = new Map()
    for (let o = 0; o < list.length; o++) {
      const v = list[o]
      records++
      if (where.has(v)) twice.push(`${v} at ${where.get(v)} and ${p}:${o}`)
      else where.set(v, `${p}:${o}`)
      const m = /^p(\d+)-(\d+)$/.exec(v ?? '')
      if (!m) {
        misordered.push(`${p}:${o} holds ${JSON.stringify(v)}`)
        continue
      }
      const seq = Number(m[2])
      if (last.has(m[1]) && last.get(m[1]) >= seq) misordered.push(`partition ${p}: p${m[1]}-${seq} at ${o} after p${m[1]}-${last.get(m[1])}`)
      last.set(m[1], Math.max(seq, last.get(m[1]) ?? -1))
    }
  }
  out.records = records
  out.acked = ackAt.size
  out.lostAcked = [...ackAt.keys()].filter((v) => !where.has(v))
  out.storedTwice = twice
  out.misordered = misordered
  out.failedSends = producers.flatMap((p) => p.failures.map((f) => `${p.name}: ${f.values.length} messages at ${f.at}, after ${f.ms} ms: ${f.error}`))
  out.longestSendMs = Math.max(0, ...producers.map((p) => p.longestSend))
  // Stored but never acknowledged: the sends out when a producer process was killed.
  out.storedUnacked = records - [...where.keys()].filter((v) => ackAt.has(v)).length

  // The group: every record handled, as stored; a process starting on a partition (its
  // first message there, or one not following its last there) starts at or after every
  // offset committed by then; records handled twice only after an owner's end.
  const events = consumers.flatMap((c) => c.consumed.map((e) => [...e, c.name]))
  events.sort((a, b) => a[0] - b[0])
  const commits = new Map()
  for (const c of consumers) for (const [at, p, o] of c.commits) (commits.get(p) || commits.set(p, []).get(p)).push([at, o])
  for (const list of commits.values()) list.sort((a, b) => a[0] - b[0])
  // (Acknowledged before `t`: a process handles a batch, then commits it, often in the same
  // millisecond.)
  const committedBy = (p, t) => {
    let max = 0
    for (const [at, o] of commits.get(p) || []) {
      if (at >= t) break
      if (o > max) max = o
    }
    return max
  }
  const seen = new Map()
  const lastOf = new Map()
  const wrongValue = []
  const badResume = []
  const dupes = new Map()
  let starts = 0
  for (const [at, p, o, value, who] of events) {
    if (log.get(p)?.[o] !== value) wrongValue.push(`${who} handled ${p}:${o} as ${value}, stored ${log.get(p)?.[o]}`)
    const k = `${who}/${p}`
    if (lastOf.get(k) !== o - 1) {
      starts++
      const floor = committedBy(p, at)
      if (o < floor) badResume.push(`${who} started partition ${p} at offset ${o} at ${at}, below the committed offset ${floor}`)
    }
    lastOf.set(k, o)
    const po = `${p}:${o}`
    if (seen.has(po)) {
      const r = rounds.filter((x) => x.endedAt <= at).at(-1)
      const key = r ? `after round ${r.n}` : 'before any round'
      dupes.set(key, (dupes.get(key) || 0) + 1)
    } else seen.set(po, at)
  }
  const missing = []
  for (const [p, list] of log) for (let o = 0; o < list.length; o++) if (!seen.has(`${p}:${o}`)) missing.push(`${p}:${o}`)
  out.handled = events.length
  out.handledTwice = Object.fromEntries(dupes)
  out.handledTwiceBeforeAnyRound = dupes.get('before any round') || 0
  out.runStarts = starts
  out.notHandled = missing
  out.handledWrong = wrongValue
  out.resumedBelowCommitted = badResume
  out.commitsShort = [...result.high].filter(([p, h]) => result.committed.get(p) !== h).map(([p, h]) => `${p}: ${result.committed.get(p)} of ${h}`)

  // Every consumer running at the end of a round handled messages sent through the new
  // owner.
  out.notResumed = []
  for (const r of rounds) {
    for (const c of consumers.filter((x) => r.consumers.includes(x.name))) {
      const resumed = c.consumed.some(([at, , , v]) => at > r.exitedAt && (ackAt.get(v) ?? 0) > r.exitedAt)
      if (!resumed) out.notResumed.push(`${c.name} after round ${r.n}`)
    }
  }
  // A process told to close (SIGTERM) closes its Kafka and exits 0.
  out.uncleanExits = procs.filter((p) => p.endSignal === 'SIGTERM' && p.exit?.code !== 0).map((p) => `${p.name}: ${p.exit?.signal || `code ${p.exit?.code}`}`)
  return out
}

/** The rounds' times as lines of text, with the median and worst of the kill -9 rounds. */
function report(times) {
  const ms = (x) => (Number.isFinite(x) ? `${Math.round(x)} ms` : 'never')
  const out = times.map((t) => `  round ${t.n} (${t.signal === 'SIGKILL' ? 'kill -9' : 'SIGTERM, clean exit'} of ${t.victim}, ${t.newOwner} took over): samsa.owner ${ms(t.ownerMs)}, first send acknowledged ${ms(t.ackMs)}, first message handled ${ms(t.handledMs)}`)
  const killed = times.filter((t) => t.signal === 'SIGKILL')
  if (killed.length) {
    const line = (what, key) => `${what} ${ms(median(killed.map((t) => t[key])))} / ${ms(Math.max(...killed.map((t) => t[key])))}`
    out.push(`  median / worst of the ${killed.length} kill -9 rounds: ${line('samsa.owner', 'ownerMs')}; ${line('first send acknowledged', 'ackMs')}; ${line('first message handled', 'handledMs')}`)
  }
  return out.join('\n')
}

module.exports = { Takeover, check, timings, report, median, DEADLINES, TOPIC, PARTITIONS, GROUP }
