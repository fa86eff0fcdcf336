'use strict'

// Nothing durable happens on the application's JavaScript thread: segment rolls,
// fsync-ed sends, commits, topic creation and group deletion do their fsyncs (and index
// flushes) on samsa's own threads, so the event loop never waits for the disk. Checked by
// running the work under the sync shim, which records the thread of every fsync, fdatasync,
// syncfs, sync_file_range and msync call.

const path = require('node:path')
const { tempDir, runNode } = require('./helpers')
const { gcc, buildShim, shimCalls } = require('./sync-shim')

gcc.test('segment rolls, fsync-ed sends, commits and group deletion never sync on the JS thread', async () => {
  const work = tempDir('samsa-js-thread-')
  const log = path.join(work, 'calls.log')
  let report = null
  const r = await runNode([path.join(__dirname, 'fixtures', 'durable-work-child.js'), path.join(work, 'data')], {
    timeoutMs: 20000,
    env: { LD_PRELOAD: buildShim(), SAMSA_EIO_LOG: log },
    onLine: (line) => (report = JSON.parse(line)),
  })
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' })
  expect(report.segments).toBeGreaterThan(5) // the sends rolled segments many times
  const calls = shimCalls(log)
  expect(calls.some((c) => c.startsWith('fdatasync samsa-fsync'))).toBe(true) // the shim saw the syncs
  expect(calls.filter((c) => c.split(' ')[1] === 'main')).toEqual([])
}, 30000)
