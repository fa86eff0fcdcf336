#!/usr/bin/env node
'use strict'

// The samsa command.
//
//   samsa serve [--data-dir DIR] [--port 9092] [--host 127.0.0.1]   a Kafka broker for any client
//   samsa verify <dataDir> [--repair]   check a closed data directory's logs whole; exit 1 on damage
//
// serve logs one line with the address once it accepts connections, and stops cleanly
// (flushes, marks a clean shutdown) on SIGINT or SIGTERM.
//
// verify reads every batch (CRC, offsets) and every index entry of every partition, and
// prints what it found. --repair cuts each damaged partition at its first damage and
// prints the offsets it gives up; it never runs unless asked.

const path = require('node:path')
const { Kafka, logLevel } = require('..')

const USAGE = `usage:
  samsa serve [--data-dir DIR] [--port N] [--host H] [--advertised-host H] [--advertised-port N] [--fsync]
                                      serve the Kafka protocol (default ./data on 127.0.0.1:9092)
  samsa verify <dataDir> [--repair]   check every batch and index of a closed data directory`

/** --name value pairs and --flags; returns null on anything else. */
function flags(args, known, booleans = []) {
  const out = {}
  for (let i = 0; i < args.length; i++) {
    const name = args[i].replace(/^--/, '')
    if (!args[i].startsWith('--') || (!known.includes(name) && !booleans.includes(name))) return null
    if (booleans.includes(name)) out[name] = true
    else if (i + 1 < args.length) out[name] = args[++i]
    else return null
  }
  return out
}

async function serve(args) {
  const f = flags(args, ['data-dir', 'port', 'host', 'advertised-host', 'advertised-port'], ['fsync'])
  const port = f && Number(f.port ?? 9092)
  if (!f || !Number.isInteger(port) || (f['advertised-port'] !== undefined && !Number.isInteger(Number(f['advertised-port'])))) {
    console.error(USAGE)
    return 2
  }
  const dataDir = path.resolve(f['data-dir'] || './data')
  const kafka = new Kafka({ clientId: 'samsa-serve', dataDir, fsync: !!f.fsync, logLevel: logLevel.WARN })
  const address = await kafka.listen({
    port,
    host: f.host || '127.0.0.1',
    advertisedHost: f['advertised-host'],
    advertisedPort: f['advertised-port'] === undefined ? undefined : Number(f['advertised-port']),
  })
  // performance.now() counts from the start of the process: node itself included.
  const ms = performance.now().toFixed(0)
  console.log(`samsa: accepting Kafka connections on ${address.host}:${address.port} (data in ${dataDir}, ready in ${ms} ms)`)
  await new Promise((resolve) => {
    const stop = (signal) => {
      console.log(`samsa: ${signal}: stopping`)
      resolve()
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  await kafka.close()
  return 0
}

async function verify(args) {
  const repair = args.includes('--repair')
  const rest = args.filter((a) => a !== '--repair')
  if (rest.length !== 1 || rest[0].startsWith('-')) {
    console.error(USAGE)
    return 2
  }
  const dataDir = path.resolve(rest[0])
  const kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING })
  const r = await kafka.verify({ repair })
  const mb = (r.bytes / 1e6).toFixed(1)
  console.log(`samsa verify ${dataDir}: ${r.partitions} partitions, ${r.segments} segments, ${r.batches} batches, ${mb} MB`)
  for (const d of r.damage) {
    const range = d.lastOffset >= d.firstOffset ? `offsets ${d.firstOffset} to ${d.lastOffset}` : `before offset ${d.firstOffset} (no record lost)`
    console.log(`DAMAGE ${d.topic}-${d.partition}: ${range}, ${d.file} at byte ${d.position}: ${d.detail}`)
  }
  for (const p of r.indexProblems) console.log(`index: ${p} (indexes are rebuilt by --repair; the data is not affected)`)
  for (const t of r.tornTails) console.log(`torn write: ${t} (cut off when the directory is next opened)`)
  for (const x of r.repaired) {
    console.log(`REPAIRED ${x.topic}-${x.partition}: cut at offset ${x.firstOffset}; offsets ${x.firstOffset} to ${x.lastOffset} are given up`)
  }
  if (r.ok) {
    console.log('no damage found')
    return 0
  }
  console.log(repair ? `${r.repaired.length} partition(s) repaired` : `${r.damage.length} damaged range(s) found; run again with --repair to cut the damaged partitions at their first damage`)
  return repair ? 0 : 1
}

async function main(argv) {
  const [command, ...args] = argv
  if (command === 'serve') return serve(args)
  if (command === 'verify') return verify(args)
  console.error(USAGE)
  return 2
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (e) => {
    console.error(`samsa: ${e.message}`)
    process.exitCode = 2
  }
)
