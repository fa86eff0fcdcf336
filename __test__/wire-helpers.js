'use strict'

// Helpers for the tests of samsa's Kafka-protocol listener with real Kafka clients
// (kafkajs 2.2.4 in this process or in child processes):
// - the kafkajs codecs for Snappy, LZ4 and ZSTD registered on kafkajs's CompressionCodecs;
// - `serve(dataDir)`: `node bin/samsa.js serve` as a child process on an ephemeral port;
// - `spawnNode(args)`: a long-running Node child whose stdout is read line by line
//   (`spawnLines(cmd, args)`: any other program);
// - `runToExit(cmd, args)`: a child run to its exit, with its output;
// - `FAST` kafkajs consumer settings, and `undoAfterEach()` for what a test started;
// - every child is killed (SIGKILL) after the test file if a test left it running.

const path = require('node:path')
const { spawn } = require('node:child_process')
const kafkajs = require('kafkajs')
const { ROOT, waitFor } = require('./helpers')

// kafkajs ships GZIP only; Snappy and LZ4 come from codec packages. kafkajs-lz4 needs the
// `lz4` package, whose native build (node-gyp) fails to load here; @2l/kafkajs-lz4 is the
// same codec over lz4-napi, which the registry ships prebuilt. ZSTD: zstd-codec
// (emscripten/wasm, no build) in the shape of a kafkajs codec.
const SnappyCodec = require('kafkajs-snappy')
const LZ4Codec = require('@2l/kafkajs-lz4')

let zstdSimple = null
function zstd() {
  if (!zstdSimple) {
    zstdSimple = new Promise((resolve) => {
      require('zstd-codec').ZstdCodec.run((z) => resolve(new z.Simple()))
    })
  }
  return zstdSimple
}
const ZstdCodec = () => ({
  compress: async (encoder) => Buffer.from((await zstd()).compress(encoder.buffer)),
  decompress: async (buffer) => {
    const out = (await zstd()).decompress(buffer)
    if (!out) throw new Error('zstd-codec could not decompress the batch')
    return Buffer.from(out)
  },
})

const { CompressionCodecs, CompressionTypes } = kafkajs
CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
CompressionCodecs[CompressionTypes.LZ4] = new LZ4Codec().codec
CompressionCodecs[CompressionTypes.ZSTD] = ZstdCodec

const children = new Set()

afterAll(() => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  children.clear()
})

/**
 * A child with stdout read line by line. `lines` holds every stdout line so far;
 * `exited` resolves with { code, signal } when it exits; `stop(signal)` signals it and waits.
 */
function spawnLines(cmd, args, { env = {}, cwd = ROOT, stdin = 'ignore', onLine } = {}) {
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: [stdin, 'pipe', 'pipe'] })
  children.add(child)
  const lines = []
  let stderr = ''
  let buffered = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (d) => {
    buffered += d
    let nl
    while ((nl = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, nl)
      buffered = buffered.slice(nl + 1)
      lines.push(line)
      if (onLine) onLine(line)
    }
  })
  child.stderr.setEncoding('utf8')
  child.stderr.on('data', (d) => {
    stderr += d
  })
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      children.delete(child)
      resolve({ code, signal })
    })
  })
  const proc = {
    child,
    lines,
    exited,
    stderr: () => stderr,
    output: () => `stdout:\n${lines.join('\n')}${buffered}\nstderr:\n${stderr}`,
    /** Sends `signal` and waits for the exit (SIGKILL after `timeoutMs`, then throws). */
    async stop(signal = 'SIGTERM', { timeoutMs = 10000 } = {}) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal)
      let timer
      const late = new Promise((resolve) => {
        timer = setTimeout(() => resolve('late'), timeoutMs)
      })
      const r = await Promise.race([exited, late])
      clearTimeout(timer)
      if (r === 'late') {
        child.kill('SIGKILL')
        await exited
        throw new Error(`pid ${child.pid} did not exit within ${timeoutMs} ms of ${signal}\n${proc.output()}`)
      }
      return r
    },
  }
  child.on('error', (e) => {
    stderr += `spawn error: ${e.message}\n`
  })
  return proc
}

/** A Node child with stdout read line by line (see spawnLines). */
const spawnNode = (args, options) => spawnLines(process.execPath, args, options)

const READY = /^samsa: accepting Kafka connections on (\S+):(\d+) /

/**
 * `node bin/samsa.js serve --data-dir DIR --port 0`; resolves once it prints its address,
 * with { host, port, broker: 'host:port', ...spawnNode's fields }.
 */
async function serve(dataDir, { timeoutMs = 15000, extra = [] } = {}) {
  const proc = spawnNode([path.join(ROOT, 'bin', 'samsa.js'), 'serve', '--data-dir', dataDir, '--port', '0', '--host', '127.0.0.1', ...extra])
  let exit = null
  proc.exited.then((r) => {
    exit = r
  })
  let m
  try {
    m = await waitFor(() => {
      if (exit) throw new Error(`samsa serve exited before it was ready (${JSON.stringify(exit)})`)
      for (const line of proc.lines) {
        const r = READY.exec(line)
        if (r) return r
      }
      return null
    }, { timeoutMs, intervalMs: 20, what: 'samsa serve to accept connections' })
  } catch (e) {
    if (!exit) proc.child.kill('SIGKILL')
    e.message += `\n${proc.output()}`
    throw e
  }
  return Object.assign(proc, { host: m[1], port: Number(m[2]), broker: `${m[1]}:${m[2]}` })
}

/**
 * waitFor with a `what` that may be a function: called when the wait times out, so the
 * error says how things stood then (not when the wait began).
 */
async function until(check, { what = 'condition', ...options } = {}) {
  if (typeof what !== 'function') return waitFor(check, { what, ...options })
  try {
    return await waitFor(check, { what: '', ...options })
  } catch (e) {
    e.message = `${e.message}${what()}`
    throw e
  }
}

/** Runs a child to its exit; rejects unless it exits 0. Returns { stdout, stderr, what }. */
function runToExit(cmd, args, { input, timeoutMs = 30000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.stdin.on('error', () => {})
    child.stdin.end(input)
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      const what = `${path.basename(cmd)} ${args.join(' ')} exited ${code} ${signal || ''}\nstdout:\n${stdout.slice(-3000)}\nstderr:\n${stderr.slice(-3000)}`
      if (code !== 0) reject(new Error(what))
      else resolve({ stdout, stderr, what })
    })
  })
}

// kafkajs consumer settings for a quick test: samsa's classic groups refuse session
// timeouts under 6 s (Kafka's group.min.session.timeout.ms); a short fetch wait and
// heartbeat interval make a member notice a rebalance within a fraction of a second.
const FAST = {
  sessionTimeout: 6000,
  rebalanceTimeout: 6000,
  heartbeatInterval: 200,
  maxWaitTimeInMs: 100,
  retry: { initialRetryTime: 100, retries: 3 },
}

/**
 * What a test started, undone after it (last first), even when it failed: `live` takes
 * undo functions; `track(client)` disconnects a client; `connected(client)` connects it too.
 */
function undoAfterEach() {
  const live = []
  afterEach(async () => {
    for (const undo of live.splice(0).reverse()) await undo().catch(() => {})
  })
  const track = (client) => {
    live.push(() => client.disconnect())
    return client
  }
  const connected = async (client) => {
    track(client)
    await client.connect()
    return client
  }
  return { live, track, connected }
}

/** A kafkajs client whose log entries are kept (`logs`) rather than printed. */
function kafkajsClient(brokers, options = {}) {
  const logs = []
  const kafka = new kafkajs.Kafka({
    clientId: 'wire-test',
    brokers: Array.isArray(brokers) ? brokers : [brokers],
    logLevel: kafkajs.logLevel.INFO,
    logCreator: () => ({ namespace, level, log }) => {
      const { message, timestamp, logger, ...rest } = log
      logs.push(`${['', 'ERROR', 'WARN', 'INFO', '', 'DEBUG'][level]} [${namespace}] ${message} ${JSON.stringify(rest)}`)
    },
    retry: { initialRetryTime: 100, retries: 5 },
    ...options,
  })
  return { kafka, logs }
}

module.exports = { kafkajs, serve, spawnNode, spawnLines, runToExit, kafkajsClient, until, FAST, undoAfterEach, ROOT }
