'use strict'

// Property: whatever arguments the public API is given, across every method of Kafka,
// admin, producer and consumer, a call resolves or fails with a TypeError or a kafkajs
// error (never the native addon's "Failed to convert JavaScript value", another class, a
// hang, an unhandled rejection or a crash), and afterwards every acknowledged send reads
// back. `FUZZ_SEED` replays a run; `FUZZ_RUNS` makes it longer.

const fc = require('fast-check')
const { apiCall, createHarness } = require('./api-fuzz')

const RUNS = Number(process.env.FUZZ_RUNS) || 20_000
const SEED = Number(process.env.FUZZ_SEED) || Date.now() % 2 ** 31

test(`${RUNS} random calls with bad arguments across the public API: only TypeErrors and kafkajs errors, and good sends read back`, async () => {
  const harness = await createHarness({ callTimeoutMs: 10_000 })
  const started = Date.now()
  let calls = 0
  try {
    await fc.assert(
      fc.asyncProperty(apiCall, async (call) => {
        calls++
        if (calls % 50 === 0) await harness.goodSend()
        const failure = await harness.run(call)
        if (failure) throw new Error(failure)
      }),
      { numRuns: RUNS, seed: SEED, endOnFailure: true }
    )
    await harness.goodSend()
    const { total, seen } = await harness.readBack()
    expect(total).toBe(harness.sent.length)
    expect(seen.sort()).toEqual([...harness.sent].sort())
    const rejected = Object.fromEntries(harness.stats.rejected)
    const resolved = [...harness.stats.resolved.values()].reduce((a, b) => a + b, 0)
    console.log(
      `${calls} calls in ${Date.now() - started} ms (seed ${SEED}): ${resolved} resolved, rejected by class ${JSON.stringify(rejected)}; ${harness.sent.length} good sends read back`
    )
    expect(calls).toBeGreaterThanOrEqual(RUNS)
  } finally {
    await harness.close()
  }
}, Number(process.env.FUZZ_RUNS) > 20_000 ? 600_000 : 60_000)
