'use strict'

const kafkajs = require('kafkajs')
const { Kafka, Partitioners, logLevel } = require('..')
const { tempDir } = require('./helpers')

const keys = [
  'rider-42', 'rider-1', '', 'a', 'ab', 'abc', 'abcd', 'abcde', 'north', 'south', 'east', 'west',
  'ünïcödé-ключ', '🚲 courier', 'x'.repeat(257), '0', '123456789',
  Buffer.from([0]), Buffer.from([255, 254, 253]), Buffer.from('rider-42'), Buffer.alloc(31, 7),
  ...Array.from({ length: 200 }, (_, i) => `rider-${i * 7919}`),
]
const counts = [1, 2, 3, 4, 5, 7, 12, 16, 64, 100]

function partitionsWith(create, numPartitions) {
  const partitioner = create()
  const partitionMetadata = Array.from({ length: numPartitions }, (_, partitionId) => ({ partitionId, leader: 0 }))
  return keys.map((key) => partitioner({ topic: 't', partitionMetadata, message: { key, value: 'v' } }))
}

describe('partitioners', () => {
  test.each(counts)('DefaultPartitioner picks what kafkajs picks for %i partitions', (n) => {
    expect(partitionsWith(Partitioners.DefaultPartitioner, n)).toEqual(partitionsWith(kafkajs.Partitioners.DefaultPartitioner, n))
  })

  test.each(counts)('LegacyPartitioner picks what kafkajs picks for %i partitions', (n) => {
    expect(partitionsWith(Partitioners.LegacyPartitioner, n)).toEqual(partitionsWith(kafkajs.Partitioners.LegacyPartitioner, n))
  })

  test('an explicit partition wins and null keys round-robin over every partition', () => {
    const partitioner = Partitioners.DefaultPartitioner()
    const partitionMetadata = Array.from({ length: 4 }, (_, partitionId) => ({ partitionId, leader: 0 }))
    expect(partitioner({ topic: 't', partitionMetadata, message: { key: 'rider-42', partition: 3 } })).toBe(3)
    const seen = Array.from({ length: 8 }, () => partitioner({ topic: 't', partitionMetadata, message: { value: 'x' } }))
    expect(new Set(seen).size).toBe(4)
    for (let i = 1; i < seen.length; i++) expect(seen[i]).toBe((seen[i - 1] + 1) % 4)
  })

  test('the producer stores each key where kafkajs would send it', async () => {
    const dataDir = tempDir()
    const kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING })
    const admin = kafka.admin()
    await admin.createTopics({ topics: [{ topic: 'keyed', numPartitions: 7 }] })
    const producer = kafka.producer()
    await producer.connect()
    const stringKeys = keys.filter((k) => typeof k === 'string')
    const results = await Promise.all(stringKeys.map((key) => producer.send({ topic: 'keyed', messages: [{ key, value: 'v' }] })))
    const expected = partitionsWith(kafkajs.Partitioners.DefaultPartitioner, 7).filter((_, i) => typeof keys[i] === 'string')
    expect(results.map((r) => r[0].partition)).toEqual(expected)
    await producer.disconnect()
    await admin.disconnect()
  })

  test('a custom partitioner is called for every message with kafkajs arguments', async () => {
    const dataDir = tempDir()
    const kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING })
    const calls = []
    const byRegion = () => ({ topic, partitionMetadata, message }) => {
      calls.push({ topic, n: partitionMetadata.length, key: message.key })
      return { north: 0, south: 1, east: 2, west: 3 }[message.headers.region]
    }
    await kafka.admin().createTopics({ topics: [{ topic: 'regions', numPartitions: 4 }] })
    const producer = kafka.producer({ createPartitioner: byRegion })
    await producer.connect()
    const result = await producer.send({
      topic: 'regions',
      messages: ['north', 'south', 'east', 'west', 'east'].map((region, i) => ({ key: `r${i}`, value: 'v', headers: { region } })),
    })
    expect(calls).toHaveLength(5)
    expect(calls[0]).toEqual({ topic: 'regions', n: 4, key: 'r0' })
    expect(result.map((r) => [r.partition, r.baseOffset])).toEqual([[0, '0'], [1, '0'], [2, '0'], [3, '0']])
    await producer.disconnect()
  })
})
