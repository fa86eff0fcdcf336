'use strict'

// `samsa serve` and `samsa verify` as a user runs them: every broker setting is a flag,
// the broker stops with the process that started it (`npx samsa serve &` then `kill $!`),
// a second serve of a held directory names the holder, a listener on every interface
// tells clients an address they can reach and warns that it has no authentication, and
// verify looks where serve writes.

const fs = require('node:fs')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { Kafka, logLevel } = require('..')
const { tempDir, waitFor } = require('./helpers')
const { kafkajs, serve, spawnNode, kafkajsClient, ROOT } = require('./wire-helpers')

jest.setTimeout(60000)

const BIN = path.join(ROOT, 'bin', 'samsa.js')
const READY = /^samsa: accepting Kafka connections on (\S+):(\d+) /

async function ready(proc) {
  return waitFor(() => {
    if (proc.child.exitCode !== null) throw new Error(`samsa serve exited: ${proc.output()}`)
    return proc.lines.map((l) => READY.exec(l)).find(Boolean)
  }, { timeoutMs: 15000, what: 'samsa serve to accept connections' })
}

test('every broker setting is a flag: --default-num-partitions 4 gives auto-created topics 4 partitions', async () => {
  const dataDir = tempDir()
  const cleaner = ['--cleaner-backoff-ms', '1000', '--cleaner-dedupe-buffer-size', '16777216', '--cleaner-io-max-bytes-per-second', '1048576.5']
  const broker = await serve(dataDir, { extra: ['--default-num-partitions', '4', '--retention-ms', '3600000', '--fsync', '--max-message-bytes', '2097152', ...cleaner] })
  const { kafka } = kafkajsClient(broker.broker)
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic: 'auto', messages: [{ value: 'x' }] })
  const admin = kafka.admin()
  await admin.connect()
  const { topics } = await admin.fetchTopicMetadata({ topics: ['auto'] })
  expect(topics[0].partitions).toHaveLength(4)
  // The broker runs with the cleaner's flags, under Kafka's names.
  const described = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: kafkajs.ConfigResourceTypes.BROKER, name: '0', configNames: ['log.cleaner.backoff.ms', 'log.cleaner.dedupe.buffer.size', 'log.cleaner.io.max.bytes.per.second'] }] })
  const values = Object.fromEntries(described.resources[0].configEntries.map((e) => [e.configName, e.configValue]))
  expect(values).toEqual({ 'log.cleaner.backoff.ms': '1000', 'log.cleaner.dedupe.buffer.size': '16777216', 'log.cleaner.io.max.bytes.per.second': '1048576.5' })
  await producer.disconnect()
  await admin.disconnect()
  await broker.stop()
  expect(JSON.parse(fs.readFileSync(path.join(dataDir, 'samsa.settings.json'), 'utf8'))).toMatchObject({
    defaultNumPartitions: 4,
    retentionMs: 3600000,
    fsync: true,
    maxMessageBytes: 2097152,
    cleanerBackoffMs: 1000,
    cleanerDedupeBufferSize: 16777216,
    cleanerIoMaxBytesPerSecond: 1048576.5,
  })

  const bad = spawnSync(process.execPath, [BIN, 'serve', '--data-dir', dataDir, '--retention-hours', '5'], { encoding: 'utf8', timeout: 15000 })
  expect(bad.status).toBe(2)
  expect(bad.stderr).toMatch(/unknown flag --retention-hours/)
  const small = spawnSync(process.execPath, [BIN, 'serve', '--data-dir', dataDir, '--cleaner-dedupe-buffer-size', '1000'], { encoding: 'utf8', timeout: 15000 })
  expect(small.status).toBe(2)
  expect(small.stderr).toMatch(/cleanerDedupeBufferSize must be an integer of at least 1048576 \(1 MiB\), got number 1000/)
})

test('the broker stops when the process that started it exits, unless --detached', async () => {
  // As `npx samsa serve &` runs it: a parent process (npx), which may start it through
  // `sh -c`, killed with `kill -9 $!` (the shell then outlives it).
  for (const { via, detached } of [{ via: 'node' }, { via: 'sh' }, { via: 'node', detached: true }]) {
    const dataDir = tempDir()
    const serveArgs = [BIN, 'serve', '--data-dir', dataDir, '--port', '0', ...(detached ? ['--detached'] : [])]
    const command = via === 'sh' ? ['/bin/sh', ['-c', `${JSON.stringify(process.execPath)} ${serveArgs.map((a) => JSON.stringify(a)).join(' ')}; true`]] : [process.execPath, serveArgs]
    const parent = spawnNode(['-e', `
const { spawn } = require('child_process')
const child = spawn(...${JSON.stringify(command)}, { stdio: 'inherit' })
setInterval(() => {}, 1000)
`])
    await ready(parent)
    const owner = JSON.parse(fs.readFileSync(path.join(dataDir, 'samsa.owner'), 'utf8')).pid
    parent.child.kill('SIGKILL')
    await parent.exited
    const alive = () => {
      try {
        process.kill(owner, 0)
        return true
      } catch {
        return false
      }
    }
    if (detached) {
      await new Promise((resolve) => setTimeout(resolve, 1500))
      expect(alive()).toBe(true)
      process.kill(owner, 'SIGTERM')
    }
    await waitFor(() => !alive(), { timeoutMs: 10000, what: `samsa serve (pid ${owner}) to exit` })
    // It stopped cleanly, releasing the directory.
    expect(fs.existsSync(path.join(dataDir, '.clean-shutdown'))).toBe(true)
    const again = new Kafka({ dataDir, logLevel: logLevel.NOTHING })
    await again.admin().connect()
    await again.close()
  }
})

test('a second serve of a held directory says which process holds it', async () => {
  const dataDir = tempDir()
  const first = await serve(dataDir)
  const owner = JSON.parse(fs.readFileSync(path.join(dataDir, 'samsa.owner'), 'utf8')).pid
  const second = spawnSync(process.execPath, [BIN, 'serve', '--data-dir', dataDir, '--port', '0'], { encoding: 'utf8', timeout: 20000 })
  expect(second.status).toBe(2)
  expect(second.stderr).toContain(`is held by pid ${owner} (node`)
  await first.stop()
})

test('verify without a directory checks ./data, where serve writes by default', async () => {
  const cwd = tempDir()
  const kafka = new Kafka({ dataDir: path.join(cwd, 'data'), logLevel: logLevel.NOTHING })
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic: 'checked', messages: [{ value: 'x' }] })
  await kafka.close()
  const r = spawnSync(process.execPath, [BIN, 'verify'], { cwd, encoding: 'utf8', timeout: 15000 })
  expect(r.stdout).toContain(`samsa verify ${fs.realpathSync(cwd)}/data: 1 partitions`)
  expect(r.status).toBe(0)
})

test('a listener on every interface advertises an address clients can reach, and warns that it has no authentication', async () => {
  const dataDir = tempDir()
  const proc = spawnNode([BIN, 'serve', '--data-dir', dataDir, '--port', '0', '--host', '0.0.0.0'])
  try {
    const [, host, port] = await ready(proc)
    expect(host).not.toBe('0.0.0.0')
    // Through the loopback: the broker then tells the client the advertised address.
    const { kafka } = kafkajsClient(`127.0.0.1:${port}`)
    const admin = kafka.admin()
    await admin.connect()
    const cluster = await admin.describeCluster()
    expect(cluster.brokers).toEqual([{ nodeId: 0, host, port: Number(port) }])
    await admin.createTopics({ topics: [{ topic: 'reached' }] })
    await admin.disconnect()
    await waitFor(() => /no authentication: anyone who can reach port \d+ on this machine can read and write every topic/.test(proc.output()), {
      timeoutMs: 5000,
      what: 'the warning',
    })
  } finally {
    await proc.stop()
  }
})
