'use strict'

// Many small asynchronous calls (a native call per topic, a directory read per partition)
// made a few at a time, with the event loop let go every few milliseconds: their answers
// arrive in bursts, and a thousand continuations run back to back would hold the
// application's JS thread for tens of milliseconds.

const { setImmediate: nextTurn } = require('node:timers/promises')

// The longest the continuations run before the event loop turns (timers, I/O, the
// application's requests).
const YIELD_AFTER_MS = 4

/** `fn` over `items`, at most `parallel` at a time; resolves to the results in order. */
async function mapLimited(items, parallel, fn) {
  const out = new Array(items.length)
  let next = 0
  let turnStarted = performance.now()
  const worker = async () => {
    while (next < items.length) {
      if (performance.now() - turnStarted > YIELD_AFTER_MS) {
        await nextTurn()
        turnStarted = performance.now()
        continue // another worker may have taken the rest meanwhile
      }
      const i = next++
      out[i] = await fn(items[i], i)
    }
  }
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, worker))
  return out
}

module.exports = { mapLimited }
