'use strict'

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')

const dirs = []

/** A fresh data directory, removed after the test file. */
function tempDir(prefix = 'samsa-test-') {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  dirs.push(d)
  return d
}

afterAll(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true })
})

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
async function waitFor(check, { timeoutMs = 5000, intervalMs = 10, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await check()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, intervalMs))
  }
}

/**
 * Reads back every record of a partition through the native fetch path of the broker
 * open for `dataDir` in this process (the consumer API arrives with consumer groups).
 * Follows each fetch's nextOffset, so it reads a compacted log across its gaps and past
 * batches the cleaner emptied. Reads committed (below the last stable offset, no aborted
 * records), as a consumer does by default; `readUncommitted` reads every record stored.
 */
function readPartition(dataDir, topic, partition, from = 0, { readUncommitted = false } = {}) {
  const shared = require('../lib/broker').find(dataDir)
  if (!shared || !shared.native) throw new Error(`no broker open for ${dataDir}`)
  const out = []
  let next = from
  for (;;) {
    const r = shared.native.fetch(topic, partition, next, 1 << 20, undefined, readUncommitted)
    const n = r === null ? 0 : r.records.length / 8
    if (n === 0) {
      if (r === null || !(r.nextOffset > next)) break
      next = r.nextOffset
      continue
    }
    for (let i = 0; i < n; i++) {
      const f = r.records.subarray(i * 8, i * 8 + 8)
      const slice = (start, len) => (len < 0 ? null : Buffer.from(r.data.subarray(start, start + len)))
      const headers = {}
      for (let h = f[6]; h < f[6] + f[7]; h++) {
        const hd = r.headers.subarray(h * 4, h * 4 + 4)
        headers[slice(hd[0], hd[1]).toString()] = slice(hd[2], hd[3])
      }
      out.push({ offset: f[0], timestamp: f[1], key: slice(f[2], f[3]), value: slice(f[4], f[5]), headers })
    }
    next = Math.max(out[out.length - 1].offset + 1, r.nextOffset || 0)
  }
  return out
}

/**
 * Sends `n` single messages with key `k` and values 0..n-1 the way a busy server does: each
 * made before the earlier ones resolve, between them now nothing, now a microtask, now a
 * turn of the event loop. Resolves once all are acknowledged.
 */
async function sendInterleaved(producer, topic, n) {
  const sends = []
  for (let i = 0; i < n; i++) {
    sends.push(producer.send({ topic, messages: [{ key: 'k', value: String(i) }] }))
    if (i % 4 === 1) await null
    else if (i % 4 === 2) await new Promise((resolve) => setImmediate(resolve))
    else if (i % 4 === 3) await Promise.resolve().then(() => null)
  }
  await Promise.all(sends)
}

/** Runs a Node script in a child process; resolves with { code, signal, stdout, stderr }. */
function runNode(args, { timeoutMs = 15000, env = {}, onLine, cwd } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    let buffered = ''
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`child did not exit within ${timeoutMs} ms\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, timeoutMs)
    child.stdout.on('data', (d) => {
      stdout += d
      if (!onLine) return
      buffered += d
      let nl
      while ((nl = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, nl)
        buffered = buffered.slice(nl + 1)
        onLine(line, child)
      }
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/**
 * The record batch headers (RecordBatch v2) of a partition's segment files, in order: base
 * and last offset, record count, codec (attributes & 7), producer id, epoch and base
 * sequence, and whether the batch carries a delete horizon (attribute bit 6, KIP-534).
 */
function batchHeaders(dataDir, topic, partition) {
  const dir = path.join(dataDir, 'topics', topic, String(partition))
  const out = []
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.log')).sort()) {
    const b = fs.readFileSync(path.join(dir, f))
    for (let pos = 0; pos + 61 <= b.length; ) {
      const len = b.readInt32BE(pos + 8)
      if (len <= 0) break
      const baseOffset = Number(b.readBigInt64BE(pos))
      const attributes = b.readInt16BE(pos + 21)
      out.push({
        baseOffset,
        lastOffset: baseOffset + b.readInt32BE(pos + 23),
        count: b.readInt32BE(pos + 57),
        codec: attributes & 7,
        horizon: (attributes & 0x40) !== 0,
        producerId: Number(b.readBigInt64BE(pos + 43)),
        producerEpoch: b.readInt16BE(pos + 51),
        baseSequence: b.readInt32BE(pos + 53),
      })
      pos += 12 + len
    }
  }
  return out
}

const ROOT = path.resolve(__dirname, '..')

module.exports = { tempDir, waitFor, readPartition, runNode, sendInterleaved, batchHeaders, ROOT }
