'use strict'

// The rider-updates server in cluster mode (`server.js --workers N`) run as a user runs it:
// a node:cluster primary and its workers as real processes on one port and one data
// directory, riders posting at once over HTTP, SQLite read back, and live-map clients
// (Server-Sent Events) on every worker, also after a restart. Then the same with the worker
// that owns the data directory killed midway.

const fs = require('node:fs')
const http = require('node:http')
const path = require('node:path')
const { spawn } = require('node:child_process')
const Database = require('better-sqlite3')
const { REGIONS, CITY_CENTRE, regionOf } = require('../examples/rider-updates/regions')
const { ownerPid } = require('../examples/rider-updates/owner')
const { dataPaths } = require('../examples/rider-updates/server')
const { tempDir, waitFor, ROOT } = require('./helpers')

const SERVER = path.join(ROOT, 'examples', 'rider-updates', 'server.js')
const LISTENING = /^rider-updates listening on http:\/\/localhost:(\d+) \((\d+) workers\)$/
const WORKER_LINE = /^\[worker (\d+) pid (\d+)\] (.*)$/

// Every cluster a test starts is killed after it, passed or failed: the primary runs in a
// process group of its own, with its workers, and the whole group gets SIGKILL.
const clusters = new Set()
afterEach(() => {
  for (const c of clusters) c.killAll()
  clusters.clear()
})

const alive = (pid) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** Starts `server.js --workers n` on an ephemeral port; resolves once the primary says
 * where it listens. */
async function startCluster(dataDir, workers) {
  const child = spawn(process.execPath, [SERVER, '--workers', String(workers)], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', DATA_DIR: dataDir },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const lines = []
  let rest = ''
  let stderr = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (d) => {
    rest += d
    const parts = rest.split('\n')
    rest = parts.pop()
    lines.push(...parts)
  })
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (d) => {
    stderr += d
  })
  let exit = null
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve((exit = { code, signal }))))
  const c = {
    child,
    lines,
    exited,
    output: () => `stdout:\n${lines.join('\n')}\n${rest}\nstderr:\n${stderr}`,
    /** For a failure: the server's own lines, and the last of samsa's (JSON) log lines. */
    summary() {
      const json = lines.filter((l) => l.startsWith('{'))
      return `server lines:\n${lines.filter((l) => !l.startsWith('{')).join('\n')}\nlast samsa log lines:\n${json.slice(-20).join('\n')}\nstderr:\n${stderr.slice(-5000)}`
    },
    /** Worker number -> { pid, owner } from the line each worker logs once it serves. */
    workers() {
      const out = new Map()
      for (const l of lines) {
        const m = WORKER_LINE.exec(l)
        if (m && m[3].startsWith('serves HTTP')) out.set(Number(m[1]), { pid: Number(m[2]), owner: m[3].endsWith('owns the data directory') })
      }
      return out
    },
    /** Worker pid -> the partitions of `group` it was last given. */
    assignments(group) {
      const out = new Map()
      for (const l of lines) {
        const m = WORKER_LINE.exec(l)
        const a = m && new RegExp(`^${group}: partitions (.*)$`).exec(m[3])
        if (a) out.set(Number(m[2]), a[1] === 'none' ? [] : a[1].split(',').map(Number))
      }
      return out
    },
    killAll() {
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {
        // Already gone.
      }
    },
  }
  clusters.add(c)
  const m = await waitFor(
    () => {
      if (exit) throw new Error(`the primary exited before the server was up (${JSON.stringify(exit)})\n${c.output()}`)
      for (const l of lines) {
        const r = LISTENING.exec(l)
        if (r) return r
      }
      return null
    },
    { timeoutMs: 30000, intervalMs: 20, what: 'the cluster to listen' }
  ).catch((e) => {
    if (!/exited before/.test(e.message)) e.message += `\n${c.output()}`
    throw e
  })
  expect(Number(m[2])).toBe(workers)
  expect(c.workers().size).toBe(workers)
  return Object.assign(c, { base: `http://localhost:${m[1]}` })
}

/** Rider `r`'s `k`th position: every rider stays in one region (one partition, so its
 * updates are read in the order they were sent) and every update has its own place. */
function position(r, k) {
  const region = REGIONS[r % REGIONS.length]
  const [dLat, dLng] = { north: [0.05, 0], south: [-0.05, 0], east: [0, 0.1], west: [0, -0.1] }[region]
  const jitter = r * 1e-4 + k * 1e-7
  const p = { lat: CITY_CENTRE.lat + dLat + (dLat === 0 ? jitter : 0), lng: CITY_CENTRE.lng + dLng + (dLng === 0 ? jitter : 0) }
  expect(regionOf(p)).toBe(region)
  return p
}

// A worker answers within the producer's retry budget (kafkajs's 30 s), 202 or 5xx. A
// connection that node:cluster's primary was handing to a worker in the instant it was
// killed is never answered (the primary keeps it: the worker's "accepted" never comes), so
// a client gives up on a request after longer than that budget and tries it again, as a
// rider app with a timeout does. The test counts such requests.
const ANSWER_WITHIN_MS = 40000

/**
 * Posts one update until it is answered 202, as a rider app does: a 5xx or a dropped
 * connection (a worker killed under it) is tried again, anything else fails the test.
 * Resolves with the 202's body, the worker that answered and how many tries it took.
 */
async function deliver(base, riderId, pos, { deadline, tally }) {
  for (let attempt = 1; ; attempt++) {
    let status = 0
    let body = null
    let worker = null
    let failure = null
    try {
      const res = await fetch(`${base}/riders/${riderId}/location`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(pos),
        signal: AbortSignal.timeout(ANSWER_WITHIN_MS),
      })
      status = res.status
      worker = Number(res.headers.get('x-rider-worker'))
      body = await res.json()
    } catch (e) {
      failure = e
    }
    if (status === 202) return { ...body, riderId, ...pos, worker, attempts: attempt }
    if (status > 0 && status < 500) throw new Error(`${riderId}: answered ${status} ${JSON.stringify(body)}`)
    if (status >= 500) tally.serverErrors++
    else if (failure.name === 'TimeoutError') tally.unanswered++
    else tally.dropped++
    if (Date.now() > deadline) throw new Error(`${riderId}: no 202 before the deadline (last: ${status || failure})`)
    await new Promise((resolve) => setTimeout(resolve, Math.min(50 * attempt, 500)))
  }
}

/** `riders` riders post updates `from`..`to - 1` each, all riders at once, each rider one
 * update after another. `onAck` sees the number of 202s so far. */
async function ride(base, { riders, from, to, deadline, tally, acks, onAck = () => {} }) {
  await Promise.all(
    Array.from({ length: riders }, async (_, r) => {
      for (let k = from; k < to; k++) {
        acks.push(await deliver(base, `rider-${r}`, position(r, k), { deadline, tally }))
        onAck(acks.length)
      }
    })
  )
}

/** GET `url` on a connection of its own (node:cluster hands each new connection to the
 * next worker; fetch would reuse the posts' connections); resolves with the response. */
const getOnNewConnection = (url, signal) =>
  new Promise((resolve, reject) => {
    http.get(url, { agent: false, signal }, resolve).on('error', reject)
  })

/**
 * A live-map client: reads /events as a browser's EventSource does, keeping each rider's
 * newest position by timestamp as map.html does, and connects again when the stream ends
 * (its worker killed). `worker` is the worker serving it now; `first` the riders of the
 * first event it got, what a page opened then draws at once.
 */
function liveMapClient(base) {
  const client = { seen: new Map(), first: null, worker: null, connects: 0, closed: false }
  const abort = new AbortController()
  client.done = (async () => {
    while (!client.closed) {
      try {
        const res = await getOnNewConnection(`${base}/events`, abort.signal)
        client.worker = Number(res.headers['x-rider-worker'])
        client.connects++
        const decoder = new TextDecoder()
        let buffered = ''
        for await (const chunk of res) {
          buffered += decoder.decode(chunk, { stream: true })
          let end
          while ((end = buffered.indexOf('\n\n')) >= 0) {
            const event = buffered.slice(0, end)
            buffered = buffered.slice(end + 2)
            const data = event.split('\n').find((l) => l.startsWith('data: '))
            if (!event.includes('event: positions') || !data) continue
            const riders = JSON.parse(data.slice(6))
            if (client.first === null) client.first = new Map(riders.map((u) => [u.riderId, u]))
            for (const u of riders) {
              const prev = client.seen.get(u.riderId)
              if (!prev || u.ts >= prev.ts) client.seen.set(u.riderId, u)
            }
          }
        }
      } catch {
        // The stream broke (its worker died) or the client was closed.
      }
      client.worker = null
      if (!client.closed) await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })()
  client.close = () => {
    client.closed = true
    abort.abort()
    return client.done
  }
  return client
}

/** Opens live-map clients until every worker 1..n serves one; returns one per worker. */
async function clientOnEveryWorker(base, n, opened) {
  const byWorker = new Map()
  for (let i = 0; i < 10 * n && byWorker.size < n; i++) {
    const c = liveMapClient(base)
    opened.push(c)
    await waitFor(() => c.worker, { timeoutMs: 10000, what: 'a live-map client to connect' })
    if (!byWorker.has(c.worker)) byWorker.set(c.worker, c)
  }
  expect([...byWorker.keys()].sort()).toEqual(Array.from({ length: n }, (_, i) => i + 1))
  return [...byWorker.values()]
}

/** Whether `shown` (rider id -> position) has every rider at its last position. */
const showsFinal = (shown, riders, last) =>
  Array.from({ length: riders }, (_, r) => r).every((r) => {
    const u = shown.get(`rider-${r}`)
    const p = position(r, last)
    return u && u.lat === p.lat && u.lng === p.lng
  })

/**
 * Waits until SQLite has a row for every acknowledged update, at the partition and offset
 * its 202 named, with its rider and position; then returns every row.
 */
async function rowsFor(dataDir, acks) {
  const db = new Database(path.join(dataDir, 'riders.sqlite'), { readonly: true, fileMustExist: true })
  try {
    const all = db.prepare('SELECT partition, offset, rider_id AS riderId, lat, lng, region FROM rider_updates')
    let rows = []
    let missing = acks
    await waitFor(
      () => {
        rows = all.all()
        const at = new Map(rows.map((row) => [`${row.partition}/${row.offset}`, row]))
        missing = acks.filter((a) => {
          const row = at.get(`${a.partition}/${a.offset}`)
          return !row || row.riderId !== a.riderId || row.lat !== a.lat || row.lng !== a.lng
        })
        return missing.length === 0
      },
      { timeoutMs: 30000, intervalMs: 100, what: 'every acknowledged update in SQLite' }
    ).catch((e) => {
      e.message += `: ${missing.length} of ${acks.length} missing or different, e.g. ${JSON.stringify(missing.slice(0, 3))}`
      throw e
    })
    return rows
  } finally {
    db.close()
  }
}

/** How many rows hold each posted update (a rider at a position). */
const countByUpdate = (rows) => {
  const n = new Map()
  for (const row of rows) {
    const k = `${row.riderId}@${row.lat},${row.lng}`
    n.set(k, (n.get(k) || 0) + 1)
  }
  return n
}

/** Stops the cluster as a user does (SIGTERM to the primary) and checks that every
 * process of it is gone. */
async function stopCluster(c) {
  const pids = [...c.workers().values()].map((w) => w.pid)
  c.child.kill('SIGTERM')
  let timer
  const r = await Promise.race([c.exited, new Promise((resolve) => (timer = setTimeout(() => resolve('late'), 30000)))])
  clearTimeout(timer)
  if (r === 'late') throw new Error(`the primary did not exit within 30 s of SIGTERM\n${c.output()}`)
  expect(r).toEqual({ code: 0, signal: null })
  await waitFor(() => pids.every((pid) => !alive(pid)), { timeoutMs: 5000, what: 'every worker to exit' })
}

describe('rider-updates in cluster mode', () => {
  test('every worker takes updates, SQLite gets each exactly once from one db-writer group, and every worker\'s map shows every rider, at once on a new page, also after a restart', async () => {
    const WORKERS = 3
    const RIDERS = 24
    const UPDATES = 25
    const dataDir = tempDir('samsa-rider-cluster-')
    let c = await startCluster(dataDir, WORKERS)
    const clients = []
    try {
      const workers = c.workers()
      expect([...workers.values()].filter((w) => w.owner)).toHaveLength(1)
      const mapped = await clientOnEveryWorker(c.base, WORKERS, clients)

      const tally = { serverErrors: 0, dropped: 0, unanswered: 0 }
      const acks = []
      await ride(c.base, { riders: RIDERS, from: 0, to: UPDATES, deadline: Date.now() + 60000, tally, acks })
      expect(acks).toHaveLength(RIDERS * UPDATES)
      expect(tally).toEqual({ serverErrors: 0, dropped: 0, unanswered: 0 })
      // Connections are spread over the workers, and each of them produced.
      expect(new Set(acks.map((a) => a.worker))).toEqual(new Set([1, 2, 3]))
      for (const a of acks) expect(a.partition).toBe(REGIONS.indexOf(regionOf(a)))

      const rows = await rowsFor(dataDir, acks)
      expect(rows).toHaveLength(acks.length)
      expect([...countByUpdate(rows).values()].every((n) => n === 1)).toBe(true)

      // One db-writer group for the whole server: its members in the workers share the
      // four partitions, each partition with one of them.
      await waitFor(
        () => {
          const latest = c.assignments('db-writer')
          const live = [...workers.values()].map((w) => latest.get(w.pid) || [])
          const given = live.flat().sort()
          return live.filter((p) => p.length > 0).length >= 2 && JSON.stringify(given) === '[0,1,2,3]'
        },
        { timeoutMs: 20000, intervalMs: 50, what: 'db-writer partitions spread over the workers' }
      )

      // Every worker's live map shows every rider where it last was.
      await waitFor(() => mapped.every((m) => showsFinal(m.seen, RIDERS, UPDATES - 1)), {
        timeoutMs: 20000,
        intervalMs: 50,
        what: 'every live-map client to show every rider',
      })
      // A page opened now, on any worker, draws every rider at once.
      const opened = await clientOnEveryWorker(c.base, WORKERS, clients)
      await waitFor(() => opened.every((m) => m.first), { timeoutMs: 10000, what: 'a first event on every new client' })
      for (const m of opened) expect({ worker: m.worker, final: showsFinal(m.first, RIDERS, UPDATES - 1) }).toEqual({ worker: m.worker, final: true })

      await Promise.all(clients.map((m) => m.close()))
      await stopCluster(c)

      // Restarted with the database gone, every worker reads rider-positions from the
      // beginning before it serves: a page opened on any of them draws every rider at once.
      const { dbFile } = dataPaths(dataDir)
      for (const f of [dbFile, `${dbFile}-wal`, `${dbFile}-shm`]) fs.rmSync(f, { force: true })
      c = await startCluster(dataDir, WORKERS)
      const reopened = await clientOnEveryWorker(c.base, WORKERS, clients)
      await waitFor(() => reopened.every((m) => m.first), { timeoutMs: 10000, what: 'a first event on every client after the restart' })
      for (const m of reopened) expect({ worker: m.worker, final: showsFinal(m.first, RIDERS, UPDATES - 1) }).toEqual({ worker: m.worker, final: true })

      await Promise.all(clients.map((m) => m.close()))
      await stopCluster(c)
    } catch (e) {
      e.message += `\n${c.summary()}`
      throw e
    } finally {
      await Promise.all(clients.map((m) => m.close()))
    }
  }, 120000)

  test('the worker that owns the data directory killed midway: it is replaced, every 202 is in SQLite exactly once, and the maps go on updating', async () => {
    const WORKERS = 3
    const RIDERS = 24
    const UPDATES = 30
    const dataDir = tempDir('samsa-rider-cluster-kill-')
    const c = await startCluster(dataDir, WORKERS)
    const clients = []
    try {
      const mapped = await clientOnEveryWorker(c.base, WORKERS, clients)
      // The owner's record (`samsa.owner`), null while it is missing or being rewritten.
      const owner = () => ownerPid(path.join(dataDir, 'samsa'))
      const killed = owner()
      const [killedNumber] = [...c.workers()].find(([, w]) => w.pid === killed) || []
      expect(killedNumber).toBeDefined() // the owner is a worker, not the primary

      const tally = { serverErrors: 0, dropped: 0, unanswered: 0 }
      const acks = []
      const deadline = Date.now() + 120000
      // Phase 1: the owner is killed once a third of the updates are in.
      const killAt = Math.floor((RIDERS * UPDATES) / 3)
      await ride(c.base, {
        riders: RIDERS,
        from: 0,
        to: UPDATES,
        deadline,
        tally,
        acks,
        onAck: (n) => {
          if (n === killAt) process.kill(killed, 'SIGKILL')
        },
      })
      expect(alive(killed)).toBe(false)

      // The primary starts a worker in its place, and a live process owns the directory.
      await waitFor(() => c.lines.some((l) => l.includes(`worker ${killedNumber} (pid ${killed}) was killed (SIGKILL); starting another`)), {
        timeoutMs: 10000,
        what: 'the primary to see the owner die',
      })
      await waitFor(() => c.lines.some((l) => /serves in place of the one that died$/.test(l)), { timeoutMs: 30000, what: 'a worker in place of the killed one' })
      await waitFor(
        () => {
          const pid = owner()
          return pid !== null && pid !== killed && alive(pid)
        },
        { timeoutMs: 30000, what: 'a new owner of the data directory' }
      )

      // Phase 2: everything posted after the replacement is up.
      await ride(c.base, { riders: RIDERS, from: UPDATES, to: 2 * UPDATES, deadline, tally, acks })
      expect(acks).toHaveLength(2 * RIDERS * UPDATES)
      console.log(`owner killed: ${tally.serverErrors} answers 5xx, ${tally.dropped} requests dropped, ${tally.unanswered} never answered, ${acks.filter((a) => a.attempts > 1).length} updates tried again`)
      // Only a connection on its way to the killed worker goes unanswered, and the primary
      // hands a worker one connection at a time.
      expect(tally.unanswered).toBeLessThanOrEqual(1)

      // Every 202 is in SQLite at its partition and offset; an update answered 202 on its
      // first try is there once; one tried again is there at least once (an earlier try
      // may have been stored before its answer was lost).
      const rows = await rowsFor(dataDir, acks)
      const counts = countByUpdate(rows)
      for (const a of acks) {
        const n = counts.get(`${a.riderId}@${a.lat},${a.lng}`)
        if (a.attempts === 1) expect({ update: a, rows: n }).toEqual({ update: a, rows: 1 })
        else expect(n).toBeGreaterThanOrEqual(1)
      }
      const posted = new Set(acks.map((a) => `${a.riderId}@${a.lat},${a.lng}`))
      expect([...counts.keys()].filter((k) => !posted.has(k))).toEqual([])

      // The maps went on: the clients from before (connecting again when their worker
      // died) and new ones on every worker, the replacement among them, show where every
      // rider went after it.
      await waitFor(() => mapped.every((m) => showsFinal(m.seen, RIDERS, 2 * UPDATES - 1)), {
        timeoutMs: 30000,
        intervalMs: 50,
        what: 'the live-map clients from before to show every rider after the kill',
      })
      const fresh = await clientOnEveryWorker(c.base, WORKERS, clients)
      await waitFor(() => fresh.every((m) => showsFinal(m.seen, RIDERS, 2 * UPDATES - 1)), {
        timeoutMs: 30000,
        intervalMs: 50,
        what: 'new live-map clients on every worker to show every rider',
      })

      await Promise.all(clients.map((m) => m.close()))
      await stopCluster(c)
    } catch (e) {
      e.message += `\n${c.summary()}`
      throw e
    } finally {
      await Promise.all(clients.map((m) => m.close()))
    }
  }, 180000)
})
