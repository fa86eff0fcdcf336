'use strict'

// A failed fsync is not forgotten, end to end: a child process runs with an LD_PRELOAD shim
// (fixtures/eio-shim.c, compiled here) whose fsync, fdatasync, syncfs, sync_file_range and
// msync fail with EIO while a trigger file exists. The failing send, every later one and the
// close must fail with a storage error, no clean-shutdown marker may be written, and the
// next open must recover. (tests/fsync_failure.rs covers the same with an injected failure.)

const fs = require('node:fs')
const path = require('node:path')
const { Kafka, logLevel } = require('..')
const { tempDir, readPartition, runNode } = require('./helpers')
const { gcc, buildShim, shimCalls } = require('./sync-shim')

const fixture = (name) => path.join(__dirname, 'fixtures', name)

gcc.describe('a failed fsync (EIO through an LD_PRELOAD shim)', () => {
  let shim

  beforeAll(() => {
    shim = buildShim()
  })

  /** Runs fixtures/fsync-child.js under the shim; returns its steps by name and the shim's log. */
  async function runChild(mode, closeHow) {
    const work = tempDir('samsa-eio-')
    const dataDir = path.join(work, 'data')
    const trigger = path.join(work, 'trigger')
    const shimLog = path.join(work, 'shim.log')
    const steps = {}
    const result = await runNode([fixture('fsync-child.js'), dataDir, mode, closeHow], {
      timeoutMs: 15000,
      env: { LD_PRELOAD: shim, SAMSA_EIO_TRIGGER: trigger, SAMSA_EIO_LOG: shimLog },
      onLine: (line) => {
        const step = JSON.parse(line)
        steps[step.step] = step
      },
    })
    const context = `child ${mode}/${closeHow}: ${JSON.stringify(result)}`
    expect({ context, code: result.code, signal: result.signal }).toEqual({ context, code: 0, signal: null })
    expect(steps.done).toBeDefined()
    expect(fs.existsSync(trigger)).toBe(false)
    // One line per intercepted call: "<function> <thread> ok|EIO|err".
    const calls = shimCalls(shimLog)
    return { dataDir, steps, calls }
  }

  /** Opens `dataDir` in this process (no shim) with fsync on; returns the log lines too. */
  async function reopen(dataDir) {
    const entries = []
    const logCreator = () => ({ level, log }) => entries.push({ level, message: log.message })
    const kafka = new Kafka({ dataDir, fsync: true, logLevel: logLevel.INFO, logCreator })
    const producer = kafka.producer()
    await producer.connect()
    const native = require('../lib/broker').find(dataDir).native
    const recovered = entries.some((e) => e.level === logLevel.INFO && e.message === 'Recovered the data directory after an unclean stop')
    const values = () => readPartition(dataDir, 'eio', 0).map((r) => r.value.toString())
    return { kafka, producer, openedClean: native.openedClean, recovered, values }
  }

  const storageError = (step) => {
    expect(step.ok).toBe(false)
    expect(step.error).toMatchObject({ type: 'KAFKA_STORAGE_ERROR', code: 56, retriable: false })
    expect(step.error.message).toMatch(/fsync/)
    expect(step.error.message).toMatch(/reopen/)
  }

  test('control: with the shim loaded and no failure, everything is acknowledged and the stop is clean', async () => {
    const { dataDir, steps, calls } = await runChild('control', 'disconnect')
    for (const s of ['first', 'second', 'third', 'close']) expect(steps[s]).toMatchObject({ ok: true })
    expect(steps.third.result[0].baseOffset).toBe('2')
    expect(fs.existsSync(path.join(dataDir, '.clean-shutdown'))).toBe(true)
    // The shim really was in the path: the sends' fdatasyncs on the group-commit thread
    // went through it, and none of its calls failed.
    expect(calls).toContain('fdatasync samsa-fsync ok')
    expect(calls.filter((c) => !c.endsWith(' ok'))).toEqual([])

    const again = await reopen(dataDir)
    expect(again.openedClean).toBe(true)
    expect(again.recovered).toBe(false)
    expect(again.values()).toEqual(['first', 'second', 'third'])
    await again.kafka.close()
  })

  test.each(['disconnect', 'close'])(
    'a send whose fdatasync fails, and every later one, is refused; no clean stop (%s)',
    async (closeHow) => {
      const { dataDir, steps, calls } = await runChild('fail', closeHow)
      expect(steps.first).toMatchObject({ ok: true, result: [{ baseOffset: '0' }] })
      // The send whose fsync failed is not acknowledged ...
      storageError(steps.second)
      // ... and neither is the next one, though its fsync would work again now.
      storageError(steps.third)
      // The close refuses to pretend the data is safe.
      storageError(steps.close)
      expect(steps.close.error.name).toBe('KafkaJSProtocolError')
      expect(fs.existsSync(path.join(dataDir, '.clean-shutdown'))).toBe(false)
      // What failed: exactly one call, the group commit's fdatasync of the partition's log.
      expect(calls.filter((c) => !c.endsWith(' ok'))).toEqual(['fdatasync samsa-fsync EIO'])

      // The next open (without the shim) recovers from an unclean stop, keeps the
      // acknowledged message, and takes writes again.
      const again = await reopen(dataDir)
      expect(again.openedClean).toBe(false)
      expect(again.recovered).toBe(true)
      const before = again.values()
      expect(before[0]).toBe('first')
      // The refused third send was never appended (the second was written before its
      // fsync failed, so whether it is there is up to the page cache).
      expect(before).not.toContain('third')
      const [r] = await again.producer.send({ topic: 'eio', messages: [{ value: 'after' }] })
      expect(r.baseOffset).toBe(String(before.length))
      expect(again.values()).toEqual([...before, 'after'])
      await again.kafka.close()
      expect(fs.existsSync(path.join(dataDir, '.clean-shutdown'))).toBe(true)
    }
  )

  test("a failure of the close's own sync leaves no clean-shutdown marker", async () => {
    const { dataDir, steps, calls } = await runChild('fail-at-close', 'disconnect')
    for (const s of ['first', 'second', 'third']) expect(steps[s]).toMatchObject({ ok: true })
    storageError(steps.close)
    expect(fs.existsSync(path.join(dataDir, '.clean-shutdown'))).toBe(false)
    // Some sync of the close failed, with EIO only (today its syncfs: with fsync on, the
    // sends' data is synced already).
    const failed = calls.filter((c) => !c.endsWith(' ok'))
    expect(failed.length).toBeGreaterThan(0)
    expect(failed.every((c) => c.endsWith(' EIO'))).toBe(true)

    const again = await reopen(dataDir)
    expect(again.openedClean).toBe(false)
    expect(again.recovered).toBe(true)
    expect(again.values()).toEqual(['first', 'second', 'third'])
    await again.producer.send({ topic: 'eio', messages: [{ value: 'after' }] })
    await again.kafka.close()
  })
})
