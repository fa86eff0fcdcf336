'use strict'

// Takeover: how long the processes working through a data directory stand still when its
// owner dies. The scenario of __test__/takeover.test.js (__test__/takeover-helpers.js): a
// first owner, four producing processes (idempotent, two sends out each) and a group of
// two consumer processes; each round ends whichever process owns the directory (kill -9,
// and a last round of SIGTERM, a clean exit), another takes it over, and a producer or
// consumer ended is replaced. Printed, from the owner's end: when samsa.owner names the new
// owner (as polled every 20 ms), the first acknowledged send after it, and the first
// message handled by the group that was sent through the new owner; then the median and
// worst of the kill -9 rounds, and whether what was acknowledged, stored and consumed
// adds up (the test checks that; here it is a line).
//
//   node bench/takeover.js [kill -9 rounds, 5]

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Takeover, check, timings, report } = require('../__test__/takeover-helpers')

async function main() {
  const kills = Number(process.argv[2] || 5)
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-bench-takeover-'))
  const scenario = new Takeover(dataDir)
  try {
    await scenario.start()
    for (let i = 0; i < kills; i++) await scenario.round('SIGKILL')
    await scenario.round('SIGTERM')
    const result = await scenario.finish()
    const c = check(result)
    console.log(`takeover (${os.cpus().length} cores), times from the owner's end:`)
    console.log(report(timings(result)))
    const problems = Object.entries(c).filter(([k, v]) => (Array.isArray(v) ? v.length > 0 : k === 'handledTwiceBeforeAnyRound' && v > 0))
    console.log(
      `  ${c.acked} messages acknowledged, ${c.records} stored; longest send ${c.longestSendMs} ms; handled twice by the group: ${JSON.stringify(c.handledTwice)}; ` +
        (problems.length ? `PROBLEMS: ${problems.map(([k, v]) => `${k} ${Array.isArray(v) ? v.length : v}`).join(', ')} (run __test__/takeover.test.js)` : 'the checks of __test__/takeover.test.js pass')
    )
  } finally {
    scenario.killAll()
    fs.rmSync(dataDir, { recursive: true, force: true })
  }
}

main().catch((e) => {
  console.error(e.message)
  process.exit(1)
})
