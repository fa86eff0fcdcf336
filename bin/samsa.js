#!/usr/bin/env node
'use strict'

// The samsa command.
//
//   samsa serve [--data-dir DIR] [--port 9092] [--host 127.0.0.1] [settings]   a Kafka broker for any client
//   samsa verify [DIR] [--repair]   check a closed data directory's logs whole; exit 1 on damage
//   samsa console [--data-dir DIR] [--port 9080] [--host 127.0.0.1] [--allow-writes]   the web console
//
// All default to the data directory ./data (of the working directory), not the library's
// default for `new Kafka()`, ./.samsa: give --data-dir / DIR to serve or check that one.
//
// serve logs one line with the address once it accepts connections, and stops cleanly
// (flushes, marks a clean shutdown) on SIGINT or SIGTERM, or when the process that started
// it exits (`npx samsa serve &` then `kill $!` stops npx: the broker follows), unless
// started with --detached. SIGHUP keeps its default (or what nohup made of it). Every broker setting of `new Kafka()` and every limit of
// `kafka.listen()` is a flag, named as the option in kebab case.
//
// verify reads every batch (CRC, offsets) and every index entry of every partition, and
// prints what it found. --repair cuts each damaged partition at its first damage and
// prints the offsets it gives up; it never runs unless asked.
//
// console serves the pages of an existing data directory (kafka.console()), whether or not
// another process owns it: one that does is reached through it. Read-only unless
// --allow-writes. It stops as serve does.

const fs = require('node:fs')
const path = require('node:path')
// Before the addon loads, which on a busy machine takes long enough for a parent to die.
const STARTED_BY = startedBy()
const { Kafka, logLevel } = require('..')

const DEFAULT_DATA_DIR = './data'

// Flag -> [option name, kind, where it goes]. Kinds: 'int' (an integer), 'number' (a
// decimal number), 'bool' (--x sets true, --no-x false), 'string'.
const SERVE_FLAGS = {
  'data-dir': ['dataDir', 'string', 'serve'],
  port: ['port', 'int', 'listen'],
  host: ['host', 'string', 'listen'],
  'advertised-host': ['advertisedHost', 'string', 'listen'],
  'advertised-port': ['advertisedPort', 'int', 'listen'],
  'max-request-bytes': ['maxRequestBytes', 'int', 'listen'],
  'max-queued-request-bytes': ['maxQueuedRequestBytes', 'int', 'listen'],
  'max-connections': ['maxConnections', 'int', 'listen'],
  'idle-timeout-ms': ['idleTimeoutMs', 'int', 'listen'],
  'request-read-timeout-ms': ['requestReadTimeoutMs', 'int', 'listen'],
  fsync: ['fsync', 'bool', 'broker'],
  'auto-create-topics': ['autoCreateTopics', 'bool', 'broker'],
  'default-num-partitions': ['defaultNumPartitions', 'int', 'broker'],
  'segment-bytes': ['segmentBytes', 'int', 'broker'],
  'segment-ms': ['segmentMs', 'int', 'broker'],
  'retention-ms': ['retentionMs', 'int', 'broker'],
  'retention-bytes': ['retentionBytes', 'int', 'broker'],
  'max-message-bytes': ['maxMessageBytes', 'int', 'broker'],
  'retention-check-interval-ms': ['retentionCheckIntervalMs', 'int', 'broker'],
  'max-open-files': ['maxOpenFiles', 'int', 'broker'],
  'cleaner-backoff-ms': ['cleanerBackoffMs', 'int', 'broker'],
  'cleaner-dedupe-buffer-size': ['cleanerDedupeBufferSize', 'int', 'broker'],
  'cleaner-io-max-bytes-per-second': ['cleanerIoMaxBytesPerSecond', 'number', 'broker'],
  detached: ['detached', 'bool', 'serve'],
}

// The console's flags, as SERVE_FLAGS.
const CONSOLE_FLAGS = {
  'data-dir': ['dataDir', 'string', 'serve'],
  port: ['port', 'int', 'listen'],
  host: ['host', 'string', 'listen'],
  'allow-writes': ['allowWrites', 'bool', 'listen'],
  detached: ['detached', 'bool', 'serve'],
}

const USAGE = `usage:
  samsa serve [--data-dir DIR] [--port N] [--host H] [--advertised-host H] [--advertised-port N]
              [--fsync] [--no-auto-create-topics] [--default-num-partitions N] [--segment-bytes N]
              [--segment-ms N] [--retention-ms N] [--retention-bytes N] [--max-message-bytes N]
              [--retention-check-interval-ms N] [--max-open-files N] [--cleaner-backoff-ms N]
              [--cleaner-dedupe-buffer-size N] [--cleaner-io-max-bytes-per-second N]
              [--max-request-bytes N] [--max-queued-request-bytes N] [--max-connections N]
              [--idle-timeout-ms N] [--request-read-timeout-ms N] [--detached]
        serve the Kafka protocol on 127.0.0.1:9092 (defaults); stops with the process that
        started it unless --detached
  samsa verify [DIR] [--repair]
        check every batch and index of a closed data directory
  samsa console [--data-dir DIR] [--port N] [--host H] [--allow-writes] [--detached]
        the web console of a data directory on http://127.0.0.1:9080/ (defaults), owned by
        another process or not; read-only unless --allow-writes

  All default to the data directory ${DEFAULT_DATA_DIR} (--data-dir DIR, DIR to name another);
  new Kafka({ dataDir }) in code defaults to ./.samsa instead.`

class UsageError extends Error {}

/** Command-line flags by `flags` (SERVE_FLAGS, CONSOLE_FLAGS) as { serve, listen, broker }
 * option objects. */
function parseFlags(args, flags) {
  const out = { serve: {}, listen: {}, broker: {} }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument "${arg}"`)
    let name = arg.slice(2)
    let value
    const eq = name.indexOf('=')
    if (eq >= 0) [name, value] = [name.slice(0, eq), name.slice(eq + 1)]
    const negated = name.startsWith('no-') && flags[name.slice(3)]?.[1] === 'bool'
    if (negated) name = name.slice(3)
    const spec = Object.hasOwn(flags, name) ? flags[name] : null
    if (!spec) throw new UsageError(`unknown flag --${name}`)
    const [option, kind, where] = spec
    if (kind === 'bool') {
      if (value !== undefined && value !== 'true' && value !== 'false') throw new UsageError(`--${name} takes no value (or =true / =false)`)
      out[where][option] = negated ? false : value !== 'false'
      continue
    }
    if (value === undefined) {
      if (i + 1 >= args.length) throw new UsageError(`--${name} needs a value`)
      value = args[++i]
    }
    if (kind === 'int') {
      if (!/^-?\d+$/.test(value)) throw new UsageError(`--${name} must be an integer, got "${value}"`)
      out[where][option] = Number(value)
    } else if (kind === 'number') {
      if (!/^-?\d+(\.\d+)?$/.test(value)) throw new UsageError(`--${name} must be a number, got "${value}"`)
      out[where][option] = Number(value)
    } else {
      out[where][option] = value
    }
  }
  return out
}

/** The parent of process `pid` (from /proc), or null. */
function parentOf(pid) {
  try {
    // "pid (comm) state ppid ...": comm may hold spaces, so read after its last ')'.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  } catch {
    return null
  }
}

function commandOf(pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
  } catch {
    return ''
  }
}

/** The processes whose exit stops `samsa serve`: its parent and, when that is a shell, the
 * shell's parent, since npx runs the command through `sh -c` and `kill -9` of npx should stop
 * the broker as its `kill` does. Read before anything slow: a parent that exits while the
 * broker is still opening counts too. */
function startedBy() {
  const parent = process.ppid
  const starter = /^(sh|dash|bash|zsh)$/.test(commandOf(parent)) ? parentOf(parent) : null
  return { parent, starter }
}

/** Resolves when a process of `startedBy()` exits (this process or the shell is reparented). */
function parentExit({ parent, starter }) {
  return new Promise((resolve) => {
    const check = () => {
      if (process.ppid !== parent || (starter !== null && parentOf(parent) !== starter)) {
        clearInterval(timer)
        resolve()
      }
    }
    const timer = setInterval(check, 250)
    timer.unref()
    check()
  })
}

async function serve(args) {
  const { serve: own, listen, broker } = parseFlags(args, SERVE_FLAGS)
  const dataDir = path.resolve(own.dataDir || DEFAULT_DATA_DIR)
  const kafka = new Kafka({ clientId: 'samsa-serve', dataDir, logLevel: logLevel.WARN, ...broker })
  const address = await kafka.listen({ port: 9092, host: '127.0.0.1', ...listen })
  // performance.now() counts from the start of the process: node itself included.
  const ms = performance.now().toFixed(0)
  console.log(`samsa: accepting Kafka connections on ${address.host}:${address.port} (data in ${dataDir}, ready in ${ms} ms)`)
  const reason = await stopSignal(own.detached)
  console.log(`samsa: ${reason}: stopping`)
  await kafka.close()
  return 0
}

/** Resolves with why the command should stop: SIGINT, SIGTERM, or (unless `detached`)
 * the exit of the process that started it. */
function stopSignal(detached) {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'))
    process.once('SIGTERM', () => resolve('SIGTERM'))
    if (!detached) parentExit(STARTED_BY).then(() => resolve('the process that started it exited'))
  })
}

/** The pid the directory's owner record names (the directory is open, so there is one). */
function ownerPid(dataDir) {
  try {
    return JSON.parse(fs.readFileSync(path.join(dataDir, 'samsa.owner'), 'utf8')).pid
  } catch {
    return null
  }
}

async function consoleCommand(args) {
  const { serve: own, listen } = parseFlags(args, CONSOLE_FLAGS)
  const dataDir = path.resolve(own.dataDir || DEFAULT_DATA_DIR)
  // A console of nothing is a mistyped path: it must not make an empty directory there.
  if (!fs.existsSync(path.join(dataDir, 'meta.properties'))) {
    throw new UsageError(`${dataDir} is not a samsa data directory (no meta.properties): give the one to look at with --data-dir`)
  }
  const kafka = new Kafka({ clientId: 'samsa-console', dataDir, logLevel: logLevel.WARN })
  const c = await kafka.console({ port: 9080, ...listen })
  const owner = ownerPid(dataDir)
  const how = owner === process.pid ? 'this process owns it' : `reached through pid ${owner}, which owns it`
  console.log(`samsa: console on ${c.url} (data in ${dataDir}, ${how}; ${c.allowWrites ? 'writes enabled' : 'read-only'})`)
  const reason = await stopSignal(own.detached)
  console.log(`samsa: ${reason}: stopping`)
  await kafka.close()
  return 0
}

async function verify(args) {
  const repair = args.includes('--repair')
  const rest = args.filter((a) => a !== '--repair')
  if (rest.length > 1 || rest.some((a) => a.startsWith('-'))) throw new UsageError(`unexpected arguments: ${rest.join(' ')}`)
  const dataDir = path.resolve(rest[0] || DEFAULT_DATA_DIR)
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
  if (r.markers > 0) console.log(`${r.markers} transaction marker(s)`)
  for (const h of r.hangingTransactions) {
    const what = `${h.topic}-${h.partition}: producer ${h.producerId} from offset ${h.firstOffset} has no marker and no open transaction in transactions.log`
    console.log(h.aborted ? `ABORTED hanging transaction ${what}` : `HANGING transaction ${what}: read-committed consumers stop before it; --repair aborts it`)
  }
  for (const x of r.repaired) {
    console.log(`REPAIRED ${x.topic}-${x.partition}: cut at offset ${x.firstOffset}; offsets ${x.firstOffset} to ${x.lastOffset} are given up`)
  }
  if (r.ok) {
    console.log('no damage found')
    return 0
  }
  console.log(
    repair
      ? `${r.repaired.length} partition(s) repaired`
      : `${r.damage.length} damaged range(s), ${r.hangingTransactions.length} hanging transaction(s) found; run again with --repair to cut the damaged partitions at their first damage and abort hanging transactions`
  )
  return repair ? 0 : 1
}

async function main(argv) {
  const [command, ...args] = argv
  if (command === 'serve') return serve(args)
  if (command === 'verify') return verify(args)
  if (command === 'console') return consoleCommand(args)
  throw new UsageError(command ? `unknown command "${command}"` : 'no command given')
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (e) => {
    if (e instanceof UsageError) {
      console.error(`samsa: ${e.message}\n${USAGE}`)
    } else {
      console.error(`samsa: ${e.message}`)
    }
    process.exitCode = 2
  }
)
