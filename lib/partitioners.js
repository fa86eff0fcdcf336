'use strict'

// Partitioners with kafkajs's contract: `createPartitioner()` returns
// `({ topic, partitionMetadata, message }) => partition`, called for every message.

const SEED = 0x9747b28c
const M = 0x5bd1e995

/** Java's murmur2 (Kafka's DefaultPartitioner) over bytes, as a signed int32. */
function murmur2Bytes(data, start = 0, length = data.length - start) {
  let h = SEED ^ length
  const length4 = length >>> 2
  for (let i = 0; i < length4; i++) {
    const i4 = start + (i << 2)
    let k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24)
    k = Math.imul(k, M)
    k ^= k >>> 24
    k = Math.imul(k, M)
    h = Math.imul(h, M) ^ k
  }
  const tail = start + (length & ~3)
  switch (length & 3) {
    case 3:
      h ^= data[tail + 2] << 16
    // falls through
    case 2:
      h ^= data[tail + 1] << 8
    // falls through
    case 1:
      h ^= data[tail]
      h = Math.imul(h, M)
  }
  h ^= h >>> 13
  h = Math.imul(h, M)
  h ^= h >>> 15
  return h | 0
}

/** The same hash over a string's UTF-8 bytes, without allocating for ASCII strings. */
function murmur2String(s) {
  const length = s.length
  for (let i = 0; i < length; i++) {
    if (s.charCodeAt(i) > 0x7f) return murmur2Bytes(Buffer.from(s))
  }
  let h = SEED ^ length
  const length4 = length >>> 2
  for (let i = 0; i < length4; i++) {
    const i4 = i << 2
    let k = s.charCodeAt(i4) | (s.charCodeAt(i4 + 1) << 8) | (s.charCodeAt(i4 + 2) << 16) | (s.charCodeAt(i4 + 3) << 24)
    k = Math.imul(k, M)
    k ^= k >>> 24
    k = Math.imul(k, M)
    h = Math.imul(h, M) ^ k
  }
  const tail = length & ~3
  switch (length & 3) {
    case 3:
      h ^= s.charCodeAt(tail + 2) << 16
    // falls through
    case 2:
      h ^= s.charCodeAt(tail + 1) << 8
    // falls through
    case 1:
      h ^= s.charCodeAt(tail)
      h = Math.imul(h, M)
  }
  h ^= h >>> 13
  h = Math.imul(h, M)
  h ^= h >>> 15
  return h | 0
}

/** murmur2 of a key as kafkajs hashes it: Buffers as bytes, anything else as String(key). */
function murmur2(key) {
  if (typeof key === 'string') return murmur2String(key)
  if (key instanceof Uint8Array) return murmur2Bytes(key)
  return murmur2String(String(key))
}

/**
 * kafkajs 1.x's partitioner hash: murmur2 computed in floating point, which drifts from
 * Java's for most keys. Kept so topics written with kafkajs's LegacyPartitioner keep their
 * key-to-partition mapping.
 */
function legacyMurmur2(key) {
  const data = Buffer.isBuffer(key) ? key : Buffer.from(String(key))
  const length = data.length
  let h = SEED ^ length
  const length4 = length / 4
  for (let i = 0; i < length4; i++) {
    const i4 = i * 4
    let k =
      (data[i4 + 0] & 0xff) +
      ((data[i4 + 1] & 0xff) << 8) +
      ((data[i4 + 2] & 0xff) << 16) +
      ((data[i4 + 3] & 0xff) << 24)
    k *= M
    k ^= k >>> 24
    k *= M
    h *= M
    h ^= k
  }
  switch (length % 4) {
    case 3:
      h ^= (data[(length & ~3) + 2] & 0xff) << 16
    // falls through
    case 2:
      h ^= (data[(length & ~3) + 1] & 0xff) << 8
    // falls through
    case 1:
      h ^= data[length & ~3] & 0xff
      h *= M
  }
  h ^= h >>> 13
  h *= M
  h ^= h >>> 15
  return h
}

const toPositive = (x) => x & 0x7fffffff

/**
 * Kafka's default strategy: explicit partition, else key hash, else round-robin.
 * The default partitioner also exposes `samsaKeyBytes`: the same choice given the key's
 * bytes, which the producer has just packed, so hot sends skip building an argument
 * object and hashing a string per message. The result is identical.
 */
const partitionerWith = (hash, exposeKeyBytes) => () => {
  const counters = new Map()
  const roundRobin = (topic, partitionMetadata) => {
    let counter = counters.get(topic)
    if (counter === undefined) counter = Math.floor(Math.random() * 0x7fffffff)
    counters.set(topic, ++counter)
    const available = partitionMetadata.filter((p) => p.leader >= 0)
    if (available.length > 0) return available[toPositive(counter) % available.length].partitionId
    return toPositive(counter) % partitionMetadata.length
  }
  const partitioner = ({ topic, partitionMetadata, message }) => {
    if (message.partition !== null && message.partition !== undefined) return message.partition
    const numPartitions = partitionMetadata.length
    if (message.key !== null && message.key !== undefined) {
      return toPositive(hash(message.key)) % numPartitions
    }
    return roundRobin(topic, partitionMetadata)
  }
  if (exposeKeyBytes) {
    // (topic, partitionMetadata, bytes, start, length): length -1 means a null key.
    partitioner.samsaKeyBytes = (topic, partitionMetadata, bytes, start, length) =>
      length < 0 ? roundRobin(topic, partitionMetadata) : toPositive(murmur2Bytes(bytes, start, length)) % partitionMetadata.length
  }
  return partitioner
}

const DefaultPartitioner = partitionerWith(murmur2, true)
const LegacyPartitioner = partitionerWith(legacyMurmur2, false)

module.exports = {
  Partitioners: {
    DefaultPartitioner,
    LegacyPartitioner,
    JavaCompatiblePartitioner: DefaultPartitioner,
  },
  murmur2,
  legacyMurmur2,
  DefaultPartitioner,
}
