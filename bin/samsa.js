#!/usr/bin/env node
'use strict'

// The samsa command.
//
//   samsa verify <dataDir> [--repair]   check a closed data directory's logs whole; exit 1 on damage
//
// verify reads every batch (CRC, offsets) and every index entry of every partition, and
// prints what it found. --repair cuts each damaged partition at its first damage and
// prints the offsets it gives up; it never runs unless asked.

const path = require('node:path')
const { Kafka, logLevel } = require('..')

const USAGE = `usage:
  samsa verify <dataDir> [--repair]   check every batch and index of a closed data directory`

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
