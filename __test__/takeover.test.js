'use strict'

// Takeover: when the process that owns a data directory ends (kill -9 or a clean exit),
// one of the processes working through it takes the directory over (the lock, recovery,
// serving, samsa.owner), and the others go on through it: sends out are resent and stored
// once, nothing acknowledged is lost, consumers rejoin and resume from committed offsets,
// no call hangs. The scenario (__test__/takeover-helpers.js): a first owner, four producing
// processes (idempotent) and a group of two consumer processes; five rounds of kill -9 of
// whichever process owns the directory, then one of SIGTERM (a clean close); a producer or
// consumer ended is replaced. bench/takeover.js measures the same scenario.

const { tempDir } = require('./helpers')
const { Takeover, check, timings, report } = require('./takeover-helpers')

const ROUNDS = ['SIGKILL', 'SIGKILL', 'SIGKILL', 'SIGKILL', 'SIGKILL', 'SIGTERM']

let scenario = null
afterAll(() => scenario?.killAll())

test("kill -9 of the owner five times, then its clean exit, under four producing processes and a group in two: each time another process takes over, every acknowledged send is stored once, and the consumers resume from committed offsets", async () => {
  const dataDir = tempDir('samsa-takeover-')
  const began = Date.now()
  const progress = []
  scenario = new Takeover(dataDir, { log: (line) => progress.push(`+${Date.now() - began} ms ${line}`), budgetMs: 225000 })
  let result
  try {
    await scenario.start()
    for (const signal of ROUNDS) await scenario.round(signal)
    result = await scenario.finish()
  } catch (e) {
    e.message += `\nprogress:\n  ${progress.join('\n  ')}`
    throw e
  } finally {
    scenario.killAll()
  }

  const times = timings(result)
  const c = check(result)
  console.log(
    `takeover, times from the owner's end:\n${report(times)}\n` +
      `  ${c.acked} messages acknowledged, ${c.records} stored (${c.storedUnacked} stored unacknowledged: sends out when their process was killed); ` +
      `the longest send took ${c.longestSendMs} ms; ` +
      `${c.handled} handled by the group, of which handled twice: ${JSON.stringify(c.handledTwice)}; ${c.runStarts} starts on a partition`
  )

  const first = (list) => (list.length > 10 ? [...list.slice(0, 10), `... ${list.length} in all`] : list)
  expect({
    'acknowledged, not in the log': first(c.lostAcked),
    'in the log twice': first(c.storedTwice),
    'out of call order in the log': first(c.misordered),
    'sends that failed': first(c.failedSends),
    'records the group never handled': first(c.notHandled),
    'handled with another value than stored': first(c.handledWrong),
    'started a partition below its committed offset': first(c.resumedBelowCommitted),
    'handled twice before any owner ended': c.handledTwiceBeforeAnyRound,
    'consumers that did not resume after a round': c.notResumed,
    "committed offsets short of the partitions' ends": c.commitsShort,
    'processes that did not close cleanly on SIGTERM': c.uncleanExits,
  }).toEqual({
    'acknowledged, not in the log': [],
    'in the log twice': [],
    'out of call order in the log': [],
    'sends that failed': [],
    'records the group never handled': [],
    'handled with another value than stored': [],
    'started a partition below its committed offset': [],
    'handled twice before any owner ended': 0,
    'consumers that did not resume after a round': [],
    "committed offsets short of the partitions' ends": [],
    'processes that did not close cleanly on SIGTERM': [],
  })
  // No call hung: a send out while the owner changed was answered well within kafkajs's
  // 30 s retry budget.
  expect(c.longestSendMs).toBeLessThan(30000)
  // Each round, another process took over: after the first, the owner was a producer or a
  // consumer, and it was replaced.
  expect(result.rounds.map((r) => r.newOwner !== r.victim && /^[pc]\d+$/.test(r.newOwner))).toEqual(ROUNDS.map(() => true))
  expect(result.rounds.slice(1).map((r) => /^[pc]\d+$/.test(r.victim) && r.started.length === 1)).toEqual(ROUNDS.slice(1).map(() => true))
}, 240000)
