'use strict'

// Broker settings belong to the data directory, not to whichever process opened it first.
// The process that owns the directory records them in `samsa.settings.json`: the options it
// was given, over those recorded before (an owner started with a new value changes it, as a
// Kafka broker restarted with a new server.properties does). Any other process, or another
// Kafka object in this one, whose options differ gets an error naming the setting.

const fs = require('node:fs')
const path = require('node:path')
const { KafkaJSNonRetriableError } = require('./errors')

const FILE = 'samsa.settings.json'

// The core's defaults (src/broker/config.rs, src/log/partition.rs), for settings never given.
const DEFAULTS = {
  fsync: false,
  autoCreateTopics: true,
  defaultNumPartitions: 1,
  segmentBytes: 2 ** 30,
  segmentMs: 7 * 24 * 3600 * 1000,
  retentionMs: 7 * 24 * 3600 * 1000,
  retentionBytes: -1,
  maxMessageBytes: 1024 * 1024,
  retentionCheckIntervalMs: 5 * 60 * 1000,
  cleanerBackoffMs: 15000,
  cleanerDedupeBufferSize: 128 * 1024 * 1024,
  cleanerIoMaxBytesPerSecond: 100 * 1024 * 1024,
}

// How many descriptors the owner keeps open is its own process's business.
const PER_PROCESS = new Set(['maxOpenFiles'])

function read(dir) {
  try {
    const parsed = JSON.parse(fs.readFileSync(path.join(dir, FILE), 'utf8'))
    return parsed && typeof parsed === 'object' ? parsed : {}
  } catch {
    return {}
  }
}

/** The settings an owner opens `dir` with: recorded ones, overridden by `given`. */
function forOwner(dir, given) {
  const out = { ...read(dir) }
  for (const [k, v] of Object.entries(given)) if (!PER_PROCESS.has(k)) out[k] = v
  for (const k of Object.keys(out)) if (!(k in DEFAULTS)) delete out[k]
  if (given.maxOpenFiles !== undefined) out.maxOpenFiles = given.maxOpenFiles
  return out
}

/** The record of an owner's settings: the native side writes it once it holds the
 * directory's lock and before it serves other processes. */
function serialize(settings) {
  const kept = {}
  for (const [k, v] of Object.entries(settings)) if (k in DEFAULTS) kept[k] = v
  return JSON.stringify(kept, null, 2) + '\n'
}

/** The settings in force: recorded values, defaults for the rest. */
function effective(settings) {
  const out = { ...DEFAULTS }
  for (const [k, v] of Object.entries(settings)) if (k in DEFAULTS) out[k] = v
  return out
}

/** Throws when an option `given` differs from the directory's setting in force. */
function check(dir, inForce, given, where) {
  for (const [k, v] of Object.entries(given)) {
    if (PER_PROCESS.has(k) || !(k in DEFAULTS)) continue
    if (inForce[k] !== v) {
      throw new KafkaJSNonRetriableError(
        `${k}: this Kafka object asks for ${JSON.stringify(v)}, but the data directory ${dir} is open with ${k}: ${JSON.stringify(inForce[k])} (${where}). ` +
          `Broker settings belong to the data directory: give every process the same ${k}, or leave it out to use the directory's.`
      )
    }
  }
}

module.exports = { read, forOwner, serialize, effective, check, FILE }
