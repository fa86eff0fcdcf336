'use strict'

// The rider-updates server under node:cluster (`server.js --workers N`). The primary serves
// nothing itself: it prepares the database, forks N workers that share the HTTP port
// (node:cluster hands each of them connections) and the data directory, says where the
// server listens once all of them do, starts a worker in place of any that dies, and stops
// them in order.
//
// The workers all run server.js. The first of them to open the data directory owns it; the
// others reach it through that one's socket (docs/many-processes.md). The primary never
// opens it: the owner is a worker like the others, and when it dies the one started in
// its place (or another worker, once samsa hands a directory over) owns it next.

const cluster = require('node:cluster')
const fs = require('node:fs')
const { openDatabase } = require('./db')
const { ownerPid } = require('./owner')
const { dataPaths } = require('./server')

// A worker that dies this soon after it started may not be able to start at all (the
// data directory unusable for a moment): the next one waits a little, not to fork in a
// tight loop.
const QUICK_EXIT_MS = 2000
const RETRY_DELAY_MS = 1000
// How long a worker has to close after SIGTERM (answer its requests, leave its groups,
// commit) before it is killed.
const STOP_TIMEOUT_MS = 10_000

/** Runs the primary: `workers` processes of server.js on `port` and `dataDir`. */
function startPrimary({ workers, dataDir, direct = false, port }) {
  const { samsaDir, dbFile } = dataPaths(dataDir, direct)
  const log = (line) => console.log(`[primary pid ${process.pid}] ${line}`)
  // Create the tables and switch the file to WAL once, before several processes open it
  // at the same moment.
  fs.mkdirSync(dataDir, { recursive: true })
  openDatabase(dbFile).close()

  const running = new Map() // cluster worker id -> { number 1..N, started, listening }
  let up = false
  let stopping = false

  const fork = (number) => {
    const worker = cluster.fork({ RIDER_WORKER: String(number) })
    running.set(worker.id, { number, started: Date.now(), listening: false })
  }

  cluster.on('listening', (worker, address) => {
    const w = running.get(worker.id)
    if (!w) return
    w.listening = true
    if (up) return log(`worker ${w.number} (pid ${worker.process.pid}) serves in place of the one that died`)
    if ([...running.values()].every((x) => x.listening) && running.size === workers) {
      up = true
      console.log(`rider-updates ${direct ? '(direct SQLite mode) ' : ''}listening on http://localhost:${address.port} (${workers} workers)`)
    }
  })

  cluster.on('exit', (worker, code, signal) => {
    const w = running.get(worker.id)
    running.delete(worker.id)
    if (stopping || !w) return
    const how = signal ? `was killed (${signal})` : `exited with code ${code}`
    if (!up) {
      // It could not start (a port in use, a data directory it may not open): the others
      // would fail alike, as the single-process server exits when it cannot start.
      console.error(`[primary pid ${process.pid}] worker ${w.number} ${how} before the server was up: stopping`)
      stop(1)
      return
    }
    log(`worker ${w.number} (pid ${worker.process.pid}) ${how}; starting another in its place`)
    const delay = Date.now() - w.started < QUICK_EXIT_MS ? RETRY_DELAY_MS : 0
    setTimeout(() => {
      if (!stopping) fork(w.number)
    }, delay)
  })

  /** Sends SIGTERM and resolves when the worker has exited (SIGKILL after the timeout). */
  const end = (worker) =>
    new Promise((resolve) => {
      if (worker.isDead()) return resolve()
      const timer = setTimeout(() => worker.process.kill('SIGKILL'), STOP_TIMEOUT_MS)
      worker.once('exit', () => {
        clearTimeout(timer)
        resolve()
      })
      worker.process.kill('SIGTERM')
    })

  async function stop(code = 0) {
    if (stopping) return
    stopping = true
    log('stopping the workers')
    // The workers that reach the directory through its owner close first: leaving their
    // groups and committing go through the owner, which must still be there.
    const owner = ownerPid(samsaDir)
    const all = Object.values(cluster.workers)
    await Promise.all(all.filter((w) => w.process.pid !== owner).map(end))
    await Promise.all(all.filter((w) => w.process.pid === owner).map(end))
    process.exit(code)
  }
  process.once('SIGINT', () => stop())
  process.once('SIGTERM', () => stop())

  log(`starting ${workers} worker${workers === 1 ? '' : 's'} on port ${port}, data in ${dataDir}`)
  for (let n = 1; n <= workers; n++) fork(n)
}

module.exports = { startPrimary }
