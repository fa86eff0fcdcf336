'use strict'

// kill -9 during cleaning, round after round (issue 23): a compacted log must read as it
// was before a pass or as it is after it, never a mix, with nothing acknowledged lost, and
// `samsa verify` must find no damage in the segments the cleaner rewrote.
//
// A child (fixtures/compaction-child.js) produces keyed updates and tombstones over 50 keys
// to a compacted topic with small segments, while its cleaner runs pass after pass, slowed
// down so that passes take a good share of its time. Each round starts the child on the
// same data directory and kills it with SIGKILL: a quarter of the rounds just after a pass
// is seen writing in a partition directory (its `cleaning/` directory), a quarter as soon
// as a swap is seen being finished (a `swap-*` directory: the shortest window), the others
// after a delay spread over 0.6 s, which lands anywhere (mapping keys, rewriting, swapping,
// sleeping between passes, producing). Then it checks the directory: `samsa verify`, and a
// read of every partition from the beginning with the native fetch and with a consumer of
// a new group, against the child's journal of what it sent and what was acknowledged at
// which offset, and against what earlier rounds read. Some rounds verify first (verify
// finishes an interrupted swap), the others open the directory first (opening finishes it).
// A failing round keeps the directory, as the kill left it and as the check found it, in
// /tmp/crash-evidence-<n>.

const fs = require('node:fs')
const path = require('node:path')
const { Kafka, logLevel } = require('..')
const { tempDir, readPartition, runNode, ROOT } = require('./helpers')
const { startConsumer, waitFor } = require('./consumer-helpers')

const CHILD = path.join(__dirname, 'fixtures', 'compaction-child.js')
const BIN = path.join(ROOT, 'bin', 'samsa.js')
const TOPIC = 'table'
const PARTITIONS = 2
const ROUNDS = 32
// The child's cleaner reads and writes at most this many bytes a second: a pass over the
// few segments of each partition takes a tenth of a second or more, about a quarter of the
// child's time, and keeps up with what it produces (the log stays a few segments long).
const IO_RATE = 300000
// A round kills the child only once it has journaled this many new bytes (some 100
// messages)...
const MIN_NEW_JOURNAL_BYTES = 4000
// ... and a pass has been seen; a round where none shows up in this time is killed anyway,
const PASS_WAIT_MS = 6000
// as is one whose moment (a work or swap directory) does not come in this time.
const WAIT_FOR_MOMENT_MS = 3000
// Of the rounds, at least this many must have left a pass's work directory behind (and one
// a swap's), or the test would pass without ever testing what it is for. A run on two busy
// cores hits about 19 of 32, 5 of them in a swap.
const MIN_MID_PASS = 8

// Kill delays, the same from run to run and spread evenly over their range: the fractional
// parts of multiples of the golden ratio.
const spread = (round) => (round * 0.6180339887) % 1

const partitionDir = (dataDir, p) => path.join(dataDir, 'topics', TOPIC, String(p))

/** The cleaner's work directories (`cleaning`, `swap-<base>-<next>`) in the partitions. */
function workDirs(dataDir) {
  const out = []
  for (let p = 0; p < PARTITIONS; p++) {
    let names
    try {
      names = fs.readdirSync(partitionDir(dataDir, p))
    } catch {
      continue // not created yet
    }
    for (const n of names) if (n === 'cleaning' || n.startsWith('swap-')) out.push(`${p}/${n}`)
  }
  return out
}

/**
 * What the kill interrupted, per work directory: the files in it, and for a swap the old
 * segments it has not deleted yet (a swap deletes them, then moves its files out).
 */
function describeWork(dataDir) {
  return workDirs(dataDir).map((w) => {
    const [p, name] = w.split('/')
    const dir = partitionDir(dataDir, p)
    const files = fs.readdirSync(path.join(dir, name)).map((f) => f.replace(/^0+(?=\d)/, ''))
    let olds = ''
    const m = /^swap-(\d+)-(\d+)$/.exec(name)
    if (m) {
      const [base, next] = [Number(m[1]), Number(m[2])]
      const left = fs.readdirSync(dir).filter((f) => f.endsWith('.log') && Number(f.slice(0, -4)) > base && Number(f.slice(0, -4)) < next)
      olds = `, ${left.length} old segment(s) not deleted yet`
    }
    return `${p}/${m ? `swap-${Number(m[1])}-${Number(m[2])}` : name} [${files.join(' ')}]${olds}`
  })
}

function listing(dataDir) {
  return Array.from({ length: PARTITIONS }, (_, p) => {
    const dir = partitionDir(dataDir, p)
    const names = fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []
    const entries = names.map((n) => {
      const st = fs.statSync(path.join(dir, n))
      return st.isDirectory() ? `${n}/ [${fs.readdirSync(path.join(dir, n)).join(' ')}]` : `${n} ${st.size}`
    })
    return `partition ${p}:\n  ${entries.join('\n  ')}`
  }).join('\n')
}

/**
 * The child's journal: `sent <seq> <key> <partition> value|tombstone` before each send,
 * `ack <seq> <offset>` after. A line cut short by the kill is left out: a torn "sent" line
 * was written before its send started, a torn "ack" only makes the check weaker.
 */
function readJournal(file) {
  const sent = new Map()
  const acked = new Map()
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : ''
  const lines = text.split('\n')
  lines.pop() // the part after the last newline: empty, or a torn line
  for (const line of lines) {
    const f = line.split(' ')
    if (f[0] === 'sent') sent.set(Number(f[1]), { key: f[2], partition: Number(f[3]), tombstone: f[4] === 'tombstone' })
    else if (f[0] === 'ack') acked.set(Number(f[1]), Number(f[2]))
    else throw new Error(`unexpected journal line: ${line}`)
  }
  return { sent, acked }
}

/**
 * Runs the child until it is killed, as `plan` says: once it has journaled new sends and a
 * pass has been seen, `at-work` kills `delayMs` after the next sight of a work directory,
 * `at-swap` at the next sight of a `swap-*` directory (a swap is being finished: the
 * shortest window), `delay` `delayMs` later whatever the cleaner is doing. A plan whose
 * moment does not come within WAIT_FOR_MOMENT_MS kills anyway.
 */
async function crashRound(dataDir, journal, firstSeq, plan) {
  const startBytes = fs.existsSync(journal) ? fs.statSync(journal).size : 0
  const seen = { passLines: 0, workDirSeen: false, passSeen: false }
  let poll = null
  let readyAt = 0
  let satisfiedAt = 0
  let momentAt = 0
  const result = runNode([CHILD, dataDir, journal, String(firstSeq), String(IO_RATE)], {
    timeoutMs: 30000,
    onLine: (line, child) => {
      if (line.startsWith('cleaned ')) seen.passLines++
      if (line !== 'ready' || poll) return
      readyAt = Date.now()
      poll = setInterval(() => {
        const now = Date.now()
        const work = workDirs(dataDir)
        if (work.length) seen.workDirSeen = true
        if (!satisfiedAt) {
          const grown = fs.statSync(journal).size - startBytes >= MIN_NEW_JOURNAL_BYTES
          const pass = seen.workDirSeen || seen.passLines > 0
          if ((grown && pass) || now - readyAt > PASS_WAIT_MS) {
            satisfiedAt = now
            seen.passSeen = pass
          }
          if (!satisfiedAt) return
        }
        if (!momentAt) {
          const moment =
            plan.mode === 'delay' ||
            (plan.mode === 'at-work' && work.length > 0) ||
            (plan.mode === 'at-swap' && work.some((w) => w.includes('/swap-'))) ||
            now - satisfiedAt > WAIT_FOR_MOMENT_MS
          if (moment) momentAt = now
          else return
        }
        if (now - momentAt >= plan.delayMs && !child.killed) {
          child.kill('SIGKILL')
          clearInterval(poll)
        }
      }, 1)
    },
  })
  const r = await result.finally(() => clearInterval(poll))
  if (r.signal !== 'SIGKILL') {
    throw new Error(`the child did not run until killed (code ${r.code}, signal ${r.signal}):\n${r.stderr}`)
  }
  return seen
}

/** `samsa verify` on the closed directory: exit 0, no damage, nothing else reported. */
async function verify(dataDir) {
  const r = await runNode([BIN, 'verify', dataDir], { timeoutMs: 20000 })
  const problems = r.stdout.split('\n').filter((l) => /^(DAMAGE|index:|torn write:|REPAIRED)/.test(l))
  if (r.code !== 0 || problems.length > 0 || !/no damage found/.test(r.stdout)) {
    throw new Error(`samsa verify exited ${r.code}:\n${r.stdout}${r.stderr}`)
  }
  const left = workDirs(dataDir)
  if (left.length) throw new Error(`samsa verify left the cleaner's work directories: ${left.join(', ')}`)
}

/**
 * Opens the directory in this process and reads every partition from the beginning twice:
 * through the native fetch and with a consumer of a new group (which has to move across
 * the gaps and emptied batches by itself). Both must be the same records.
 */
async function readAll(dataDir, round) {
  // A cleaner that moves at one byte a second never gets to a swap: the log does not change
  // while the two reads are compared.
  const kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING, cleanerIoMaxBytesPerSecond: 1 })
  let read
  try {
    const admin = kafka.admin()
    await admin.connect() // opens the directory
    const left = workDirs(dataDir)
    if (left.length) throw new Error(`opening the directory left the cleaner's work directories: ${left.join(', ')}`)
    const offsets = await admin.fetchTopicOffsets(TOPIC)
    const marks = new Map(offsets.map((o) => [o.partition, { low: Number(o.low), high: Number(o.high) }]))
    const record = (partition, m) => ({
      partition,
      offset: Number(m.offset),
      key: m.key === null ? null : m.key.toString(),
      value: m.value === null ? null : m.value.toString(),
      seq: m.headers.seq === undefined ? null : Number(m.headers.seq.toString()),
    })
    const native = new Map()
    for (let p = 0; p < PARTITIONS; p++) native.set(p, readPartition(dataDir, TOPIC, p).map((m) => record(p, m)))
    const total = [...native.values()].reduce((n, rs) => n + rs.length, 0)
    const consumed = new Map(Array.from({ length: PARTITIONS }, (_, p) => [p, []]))
    let count = 0
    const { consumer } = await startConsumer(kafka, {
      groupId: `check-${round}`,
      topics: [TOPIC],
      onMessage: ({ partition, message }) => {
        consumed.get(partition).push(record(partition, message))
        count++
      },
    })
    await waitFor(() => count >= total, { timeoutMs: 15000, what: `round ${round}: the consumer reading the ${total} records the native fetch read` })
    await consumer.disconnect()
    await admin.disconnect()
    for (let p = 0; p < PARTITIONS; p++) {
      const a = JSON.stringify(native.get(p))
      const b = JSON.stringify(consumed.get(p))
      if (a !== b) throw new Error(`round ${round}, partition ${p}: the consumer read other records than the native fetch:\nnative:   ${a.slice(0, 2000)}\nconsumer: ${b.slice(0, 2000)}`)
    }
    read = { records: native, marks }
  } finally {
    await kafka.close()
  }
  const left = workDirs(dataDir)
  if (left.length) throw new Error(`closing the directory left the cleaner's work directories: ${left.join(', ')}`)
  return read
}

/**
 * Checks one read of the log against the journal and against what earlier rounds read.
 * `durable` maps a sequence number to its offset for every record known to be in the log
 * for good: acknowledged, or read back in an earlier round. Returns counts for the report.
 */
function checkLog(round, { records, marks }, { sent, acked }, durable) {
  const fail = (msg) => {
    throw new Error(`round ${round}: ${msg}`)
  }
  for (const [seq, offset] of acked) durable.set(seq, offset)
  const present = new Map() // key -> the highest sequence number read
  let read = 0
  for (let p = 0; p < PARTITIONS; p++) {
    const { low, high } = marks.get(p)
    // Cleaning keeps offsets: it never moves the log start (a compact-only topic).
    if (low !== 0) fail(`partition ${p} starts at offset ${low}, not 0`)
    let last = null
    for (const r of records.get(p)) {
      read++
      const where = `partition ${p} offset ${r.offset} (key ${r.key}, seq ${r.seq})`
      if (last && r.offset <= last.offset) fail(`${where} follows offset ${last.offset}: offsets must increase`)
      if (r.offset >= high) fail(`${where} is at or past the high watermark ${high}`)
      // Sends are made one after the other, so in a partition a later offset is a later send.
      if (last && r.seq <= last.seq) fail(`${where} follows seq ${last.seq} at offset ${last.offset}: sends out of order`)
      last = r
      const s = sent.get(r.seq)
      if (!s) fail(`${where} was never sent`)
      if (s.key !== r.key || s.partition !== p) fail(`${where} was sent with key ${s.key} to partition ${s.partition}`)
      const value = s.tombstone ? null : `v${r.seq}-`
      if (s.tombstone ? r.value !== null : !r.value || !r.value.startsWith(value)) {
        fail(`${where} has value ${JSON.stringify(r.value && r.value.slice(0, 20))}, sent as ${s.tombstone ? 'a tombstone' : value}`)
      }
      if (durable.has(r.seq) && durable.get(r.seq) !== r.offset) fail(`${where} was stored at offset ${durable.get(r.seq)}: cleaning moved it`)
      durable.set(r.seq, r.offset)
      if (!(present.get(r.key) >= r.seq)) present.set(r.key, r.seq)
    }
    let lastDurable = -1
    for (const [seq, o] of durable) if (sent.get(seq).partition === p && o > lastDurable) lastDurable = o
    if (high <= lastDurable) fail(`partition ${p} ends at ${high}, below acknowledged offset ${lastDurable}`)
  }
  // Per key, the latest record known to be in the log (acknowledged, or read before) is
  // there, or a later send of the key is. Older records may or may not be: a pass removes
  // them, and before or after it both are right. Tombstones stay (delete.retention.ms is a
  // day), so a delete is checked like an update.
  const latest = new Map()
  for (const seq of durable.keys()) {
    const { key } = sent.get(seq)
    if (!(latest.get(key) >= seq)) latest.set(key, seq)
  }
  for (const [key, seq] of latest) {
    const has = present.get(key)
    if (has === undefined || has < seq) {
      const s = sent.get(seq)
      fail(
        `key ${key}: its latest acknowledged (or already read) record, seq ${seq} (${s.tombstone ? 'tombstone' : 'value'}) at partition ${s.partition} offset ${durable.get(seq)}, ` +
          `is lost: ${has === undefined ? 'no record of the key is left' : `the latest left is seq ${has} at offset ${durable.get(has)}`}`
      )
    }
  }
  const offsets = [...marks.values()].reduce((n, m) => n + m.high, 0)
  return { read, offsets, tombstones: [...records.values()].flat().filter((r) => r.value === null).length }
}

// A copy of a data directory, without the owner's socket (which cannot be copied).
function copyData(from, to) {
  fs.cpSync(from, to, { recursive: true, filter: (src) => !fs.lstatSync(src).isSocket() })
}

/** Keeps the failing data directory (and its state right after the kill) for a post-mortem. */
function keepEvidence(dataDir, snapshot, journal) {
  try {
    let n = 1
    while (fs.existsSync(`/tmp/crash-evidence-${n}`)) n++
    const dir = `/tmp/crash-evidence-${n}`
    fs.mkdirSync(dir)
    copyData(dataDir, path.join(dir, 'data-after-check'))
    if (snapshot) copyData(snapshot, path.join(dir, 'data-right-after-kill'))
    if (fs.existsSync(journal)) fs.copyFileSync(journal, path.join(dir, 'journal'))
    return dir
  } catch (e) {
    return `nowhere (${e.message})`
  }
}

test('kill -9 during cleaning, round after round: the log reads as before or after each pass, nothing acknowledged is lost, verify finds no damage', async () => {
  const dataDir = tempDir('samsa-compaction-crash-')
  const work = tempDir('samsa-compaction-crash-journal-')
  const journal = path.join(work, 'journal')
  const snapshot = path.join(work, 'right-after-kill')
  const durable = new Map()
  const rounds = []
  let nextSeq = 0
  for (let round = 1; round <= ROUNDS; round++) {
    const mode = ['at-work', 'delay', 'at-swap', 'delay'][round % 4]
    const plan = { mode, delayMs: mode === 'at-swap' ? 0 : Math.floor(spread(round) * (mode === 'delay' ? 600 : 30)) }
    // By blocks of four rounds, so that every kind of kill meets both orders.
    const verifyFirst = Math.floor(round / 4) % 2 === 0
    const started = Date.now()
    let stage = 'running the child'
    try {
      const seen = await crashRound(dataDir, journal, nextSeq, plan)
      // Right after the kill, before anything opens the directory: did it die in a pass?
      const midPass = describeWork(dataDir)
      fs.rmSync(snapshot, { recursive: true, force: true })
      copyData(dataDir, snapshot)
      const j = readJournal(journal)
      for (const seq of j.sent.keys()) if (seq >= nextSeq) nextSeq = seq + 1
      let log
      if (verifyFirst) {
        stage = 'verify (first)'
        await verify(dataDir)
        stage = 'reading'
        log = await readAll(dataDir, round)
      } else {
        stage = 'reading (first)'
        log = await readAll(dataDir, round)
        stage = 'verify'
        await verify(dataDir)
      }
      stage = 'checking'
      const counts = checkLog(round, log, j, durable)
      rounds.push({ round, plan, verifyFirst, midPass, passSeen: seen.passSeen, sent: j.sent.size, acked: j.acked.size, ...counts, ms: Date.now() - started })
    } catch (e) {
      const evidence = keepEvidence(dataDir, fs.existsSync(snapshot) ? snapshot : null, journal)
      e.message = `round ${round} (${JSON.stringify(plan)}), ${stage}: ${e.message}\nevidence kept in ${evidence}\nright after the kill:\n${fs.existsSync(snapshot) ? listing(snapshot) : '(no snapshot)'}`
      throw e
    }
  }
  const midPass = rounds.filter((r) => r.midPass.length > 0).length
  const inSwap = rounds.filter((r) => r.midPass.some((w) => w.includes('/swap-'))).length
  const passSeen = rounds.filter((r) => r.passSeen).length
  const last = rounds[rounds.length - 1]
  process.stdout.write(`compaction-crash: ${midPass}/${ROUNDS} kills inside a pass, ${inSwap} of them in a swap\n`)
  const summary = rounds
    .map((r) => `round ${r.round} ${r.plan.mode} ${r.plan.delayMs} ms, ${r.verifyFirst ? 'verify' : 'open'} first: killed in ${r.midPass.join(', ') || '-'}; ${r.read} of ${r.offsets} records left, ${r.tombstones} tombstones; ${r.ms} ms`)
    .join('\n')
  const expectations = [
    [midPass >= MIN_MID_PASS, `at least ${MIN_MID_PASS} kills inside a pass`],
    [inSwap >= 1, 'at least one kill inside a swap'],
    [passSeen >= ROUNDS * 0.75, 'a pass seen in three rounds out of four'],
    // The cleaner did clean: far fewer records are left than were written.
    [last.read < last.offsets / 2, 'at most half of the records left at the end'],
    [last.tombstones > 0, 'tombstones left at the end'],
  ]
  for (const [ok, what] of expectations) if (!ok) throw new Error(`expected ${what}:\n${summary}`)
}, 180000)
