'use strict'

// What the console reads from the data directory's files rather than from the broker:
// each partition's segment files (bytes on disk, segment count, last append), the owner
// record, the disk's free space, and the owning process as Linux's /proc shows it. All of
// it is plain file metadata, readable from any process of the directory's user, and read
// asynchronously (on libuv's threads), so the JS thread only adds up the answers.

const fs = require('node:fs/promises')
const path = require('node:path')
const { mapLimited } = require('./limited')

// Directories read at once: enough to keep libuv's threads busy, few enough that a
// thousand topics do not queue thousands of requests ahead of the application's own I/O.
const PARALLEL_DIRS = 32
// Linux's USER_HZ, the unit of /proc/<pid>/stat's start time: 100 on every architecture
// Node runs on.
const CLOCK_TICKS_PER_SECOND = 100
// A process with more descriptors than this is not searched for its listening sockets.
const MAX_FDS_SCANNED = 65536

/** Bytes, segments and the newest append of one partition's directory; zeros when the
 * partition has no files yet (nothing was ever written to it). */
async function partitionFiles(dataDir, topic, partition) {
  const dir = path.join(dataDir, 'topics', topic, String(partition))
  let names
  try {
    names = await fs.readdir(dir)
  } catch {
    return { bytes: 0, segments: 0, lastAppend: null }
  }
  let bytes = 0
  let segments = 0
  let lastAppend = null
  await Promise.all(
    names.map(async (name) => {
      let st
      try {
        st = await fs.stat(path.join(dir, name))
      } catch {
        return // a segment retention removed meanwhile
      }
      if (!st.isFile()) return
      bytes += st.size
      if (name.endsWith('.log')) {
        segments += 1
        if (st.size > 0 && (lastAppend === null || st.mtimeMs > lastAppend)) lastAppend = Math.round(st.mtimeMs)
      }
    })
  )
  return { bytes, segments, lastAppend }
}

/** partitionFiles of every partition of `topics` ([{ name, partitions: count }]), at most
 * PARALLEL_DIRS directories at a time: Map name -> array by partition. */
async function topicFiles(dataDir, topics) {
  const jobs = []
  for (const { name, partitions } of topics) for (let p = 0; p < partitions; p++) jobs.push([name, p])
  const files = await mapLimited(jobs, PARALLEL_DIRS, ([name, p]) => partitionFiles(dataDir, name, p))
  const out = new Map(topics.map(({ name, partitions }) => [name, new Array(partitions)]))
  jobs.forEach(([name, p], i) => (out.get(name)[p] = files[i]))
  return out
}

/** The owner record the owning process keeps in the directory ({ pid, socket }), or null. */
async function ownerRecord(dataDir) {
  try {
    const r = JSON.parse(await fs.readFile(path.join(dataDir, 'samsa.owner'), 'utf8'))
    return Number.isInteger(r.pid) ? { pid: r.pid, socket: typeof r.socket === 'string' ? r.socket : null } : null
  } catch {
    return null
  }
}

/** A process as /proc shows it: its command line and when it started (ms since the
 * epoch), or null when it is gone or not ours to read. */
async function processInfo(pid) {
  try {
    const [cmdline, stat, uptime] = await Promise.all([
      fs.readFile(`/proc/${pid}/cmdline`, 'utf8'),
      fs.readFile(`/proc/${pid}/stat`, 'utf8'),
      fs.readFile('/proc/uptime', 'utf8'),
    ])
    // "pid (comm) state ppid ...": comm may hold spaces, so fields count from its last ')';
    // the start time (in clock ticks after boot) is field 22.
    const startTicks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19])
    const bootedAt = Date.now() - Number(uptime.split(' ')[0]) * 1000
    return {
      command: cmdline.split('\0').filter(Boolean).join(' '),
      startedAt: Math.round(bootedAt + (startTicks / CLOCK_TICKS_PER_SECOND) * 1000),
    }
  } catch {
    return null
  }
}

/** The TCP ports process `pid` listens on ([{ host, port }]), from its descriptors and
 * the kernel's socket tables; empty when they cannot be read. */
async function listeningPorts(pid) {
  let fds
  try {
    fds = await fs.readdir(`/proc/${pid}/fd`)
  } catch {
    return []
  }
  if (fds.length > MAX_FDS_SCANNED) return []
  const inodes = new Set()
  for (let i = 0; i < fds.length; i += 256) {
    const links = await Promise.all(fds.slice(i, i + 256).map((fd) => fs.readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')))
    for (const l of links) if (l.startsWith('socket:[')) inodes.add(l.slice(8, -1))
  }
  const out = []
  for (const table of ['tcp', 'tcp6']) {
    let text
    try {
      text = await fs.readFile(`/proc/${pid}/net/${table}`, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      // local_address rem_address st ... inode (field 9); st 0A is LISTEN.
      if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9])) continue
      const [hexHost, hexPort] = f[1].split(':')
      out.push({ host: hostOf(hexHost), port: parseInt(hexPort, 16) })
    }
  }
  return out.sort((a, b) => a.port - b.port)
}

/** An address of /proc/net/tcp{,6}: 32-bit words in the host's (little-endian) order. */
function hostOf(hex) {
  const words = hex.match(/.{8}/g).map((w) => Buffer.from(w, 'hex').reverse())
  if (words.length === 1) return [...words[0]].join('.')
  const bytes = Buffer.concat(words)
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return [...bytes.subarray(12)].join('.')
  const groups = []
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16))
  // The longest run of two or more zero groups is written '::' (RFC 5952).
  let best = { at: -1, length: 1 }
  for (let i = 0; i < 8; ) {
    let j = i
    while (j < 8 && groups[j] === '0') j++
    if (j - i > best.length) best = { at: i, length: j - i }
    i = j === i ? i + 1 : j
  }
  if (best.at < 0) return groups.join(':')
  return `${groups.slice(0, best.at).join(':')}::${groups.slice(best.at + best.length).join(':')}`
}

/** The free and total bytes of the file system holding the directory, or null. */
async function diskSpace(dataDir) {
  try {
    const s = await fs.statfs(dataDir)
    return { free: s.bavail * s.bsize, total: s.blocks * s.bsize }
  } catch {
    return null
  }
}

module.exports = { topicFiles, ownerRecord, processInfo, listeningPorts, diskSpace }
