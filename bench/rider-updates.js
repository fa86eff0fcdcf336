'use strict'

// The rider-updates server under load (autocannon, 50 connections, POST location updates
// from 1,000 riders), one server process per mode, at equal durability:
//   samsa fsync on  + db-writer SQLite synchronous=FULL   vs  --direct SQLite synchronous=FULL
//   samsa fsync off + db-writer SQLite synchronous=OFF    vs  --direct SQLite synchronous=OFF
// beside a no-op Express handler as the ceiling; then the server in cluster mode
// (`--workers N`: N processes on one port and one data directory) with 1, 2 and 4
// workers, fsync off. Prints requests/s, latency p50/p99, and how far behind the database
// writer fell.
//
//   node bench/rider-updates.js [seconds=5] [connections=50]

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const autocannon = require('autocannon')

const SECONDS = Number(process.argv[2] || 5)
const CONNECTIONS = Number(process.argv[3] || 50)
const SERVER = path.join(__dirname, '..', 'examples', 'rider-updates', 'server.js')

const NOOP = `
const express = require(${JSON.stringify(require.resolve('express'))})
const app = express()
app.use(express.json())
app.post('/riders/:id/location', (req, res) => res.status(202).json({ ok: true }))
app.get('/stats', (req, res) => res.json({ dbRows: 0, groups: {} }))
const s = app.listen(Number(process.env.PORT), () => console.log('listening'))
process.on('SIGTERM', () => s.close(() => process.exit(0)))
`

function start(args) {
  return new Promise((resolve, reject) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-rider-bench-'))
    const port = 4100 + Math.floor(Math.random() * 800)
    const child = spawn(process.execPath, args, { env: { ...process.env, PORT: String(port), DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'inherit'] })
    child.stdout.on('data', (d) => {
      if (String(d).includes('listening')) resolve({ child, port, dataDir })
    })
    child.on('exit', (code) => reject(new Error(`server exited with ${code}`)))
  })
}

async function stop({ child, dataDir }) {
  child.removeAllListeners('exit')
  await new Promise((r) => {
    child.once('exit', r)
    child.kill('SIGTERM')
  })
  fs.rmSync(dataDir, { recursive: true, force: true })
}

async function load(port) {
  let n = 0
  const result = await autocannon({
    url: `http://localhost:${port}`,
    connections: CONNECTIONS,
    duration: SECONDS,
    requests: [
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => {
          const i = n++
          req.path = `/riders/rider-${i % 1000}/location`
          req.body = JSON.stringify({ lat: 52.52 + ((i * 7919) % 300) / 1000 - 0.15, lng: 13.405 + ((i * 104729) % 450) / 1000 - 0.225 })
          return req
        },
      },
    ],
  })
  return result
}

async function stats(port) {
  return (await fetch(`http://localhost:${port}/stats`)).json()
}

async function run(name, args) {
  const server = await start(args)
  try {
    const r = await load(server.port)
    const ok = r['2xx']
    let behind = ''
    const s = await stats(server.port)
    if (s.groups && s.groups['db-writer']) {
      const lagAtEnd = s.groups['db-writer'].lag
      const t = performance.now()
      while ((await stats(server.port)).groups['db-writer'].lag > 0) await new Promise((res) => setTimeout(res, 20))
      behind = `${lagAtEnd.toLocaleString()} updates, caught up in ${(performance.now() - t).toFixed(0)} ms`
    }
    return { name, rps: ok / SECONDS, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx, behind }
  } finally {
    await stop(server)
  }
}

;(async () => {
  console.log(`rider-updates under load: ${CONNECTIONS} connections, ${SECONDS} s per mode\n`)
  const rows = []
  rows.push(await run('no-op Express handler (ceiling)', ['-e', NOOP]))
  rows.push(await run('samsa, fsync on (db-writer SQLite FULL)', [SERVER, '--fsync']))
  rows.push(await run('direct SQLite insert, synchronous=FULL', [SERVER, '--direct', '--fsync']))
  rows.push(await run('samsa, fsync off (db-writer SQLite OFF)', [SERVER]))
  rows.push(await run('direct SQLite insert, synchronous=OFF', [SERVER, '--direct']))
  for (const n of [1, 2, 4]) {
    rows.push(await run(`samsa, fsync off, --workers ${n}`, [SERVER, '--workers', String(n)]))
  }
  console.log('| mode | requests/s | p50 ms | p99 ms | errors | db-writer behind at the end |')
  console.log('|---|---|---|---|---|---|')
  for (const r of rows) {
    console.log(`| ${r.name} | ${Math.round(r.rps).toLocaleString()} | ${r.p50} | ${r.p99} | ${r.errors} | ${r.behind || 'n/a'} |`)
  }
})().catch((e) => {
  console.error(e)
  process.exit(1)
})
