'use strict'

// Transactions at their edges, found by review: a transaction that added nothing ends
// cleanly; "latest" for a read-committed consumer and kafkajs's fetchTopicOffsets is the
// last stable offset, so a transaction open when a consumer starts is not skipped; the
// last stable offset never lies below the log start.

const { Kafka } = require('..')
const { tempDir, waitFor } = require('./helpers')

async function setup(topic, partitions = 1) {
  const kafka = new Kafka({ dataDir: tempDir(), logLevel: 0 })
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions }] })
  return { kafka, admin }
}

test('a transaction that added nothing commits or aborts, and the next one begins', async () => {
  const { kafka, admin } = await setup('out')
  const producer = kafka.producer({ transactionalId: 'edges', idempotent: true, allowAutoTopicCreation: false, retry: { retries: 0 } })
  await producer.connect()
  let tx = await producer.transaction()
  await tx.send({ topic: 'out', messages: [] })
  await tx.commit()
  await expect(tx.abort()).rejects.toThrow('Cannot continue to use transaction once ended')
  // A send refused before its partition was added, then abort.
  tx = await producer.transaction()
  await expect(tx.send({ topic: 'no-such-topic', messages: [{ value: 'x' }] })).rejects.toMatchObject({ retriable: false })
  await tx.abort()
  tx = await producer.transaction()
  await expect(tx.send(null)).rejects.toThrow()
  await tx.send({ topic: 'out', messages: [{ value: 'kept' }] })
  await tx.commit()
  expect(await admin.fetchTopicOffsets('out')).toEqual([{ partition: 0, offset: '2', high: '2', low: '0' }])
  await producer.disconnect()
  await admin.disconnect()
  await kafka.close()
})

test('a consumer starting at latest while a transaction is open gets its records once committed', async () => {
  const { kafka, admin } = await setup('orders')
  const producer = kafka.producer({ transactionalId: 'latest', idempotent: true })
  await producer.connect()
  const tx = await producer.transaction()
  await tx.send({ topic: 'orders', messages: [{ value: 'in the open transaction' }] })
  // kafkajs's fetchTopicOffsets reads committed: latest is the last stable offset.
  expect(await admin.fetchTopicOffsets('orders')).toEqual([{ partition: 0, offset: '0', high: '0', low: '0' }])
  const seen = []
  const consumer = kafka.consumer({ groupId: 'from-latest' })
  await consumer.connect()
  await consumer.subscribe({ topic: 'orders' })
  let joined = false
  consumer.on(consumer.events.GROUP_JOIN, () => (joined = true))
  await consumer.run({ eachMessage: async ({ message }) => seen.push(`${message.offset}:${message.value}`) })
  await waitFor(() => joined)
  await tx.commit()
  const plain = kafka.producer()
  await plain.connect()
  await plain.send({ topic: 'orders', messages: [{ value: 'after' }] })
  await waitFor(() => seen.length === 2)
  expect(seen).toEqual(['0:in the open transaction', '2:after'])
  await consumer.disconnect()
  await Promise.all([producer.disconnect(), plain.disconnect(), admin.disconnect()])
  await kafka.close()
})

test('records deleted past an open transaction move its stable offset to the log start', async () => {
  const { kafka, admin } = await setup('trimmed')
  const producer = kafka.producer({ transactionalId: 'trimmed', idempotent: true })
  const plain = kafka.producer()
  await Promise.all([producer.connect(), plain.connect()])
  const tx = await producer.transaction()
  await tx.send({ topic: 'trimmed', messages: [{ value: 't0' }] })
  for (let i = 0; i < 4; i++) await plain.send({ topic: 'trimmed', messages: [{ value: `p${i}` }] })
  await admin.deleteTopicRecords({ topic: 'trimmed', partitions: [{ partition: 0, offset: '3' }] })
  expect(await admin.fetchTopicOffsets('trimmed')).toEqual([{ partition: 0, offset: '3', high: '3', low: '3' }])
  await tx.abort()
  expect((await admin.fetchTopicOffsets('trimmed'))[0].offset).toBe('6')
  await Promise.all([producer.disconnect(), plain.disconnect(), admin.disconnect()])
  await kafka.close()
})
