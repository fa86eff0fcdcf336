'use strict'

// The consumer's offset manager (lib/consumer/offset-manager.js) through the public API:
// what eachBatch resolves is uncommitted until a commit, and a committed offset is where
// the group starts again.

const { setup, produce, startConsumer, values, waitFor } = require('./consumer-helpers')

const messages = (n) => Array.from({ length: n }, (_, i) => ({ value: `m${i}` }))

test('resolved offsets are uncommitted until committed, and the group restarts from the commit', async () => {
  const { kafka } = setup()
  await kafka.admin().createTopics({ topics: [{ topic: 'resolved', numPartitions: 1 }] })
  await produce(kafka, 'resolved', messages(5))
  const seen = []
  const first = await startConsumer(kafka, {
    groupId: 'g',
    topics: ['resolved'],
    run: {
      eachMessage: undefined,
      eachBatchAutoResolve: false,
      autoCommitInterval: 0,
      eachBatch: async ({ batch, resolveOffset, uncommittedOffsets, commitOffsetsIfNecessary }) => {
        seen.push(uncommittedOffsets())
        resolveOffset(batch.messages[1].offset)
        seen.push(uncommittedOffsets())
        await commitOffsetsIfNecessary()
        seen.push(uncommittedOffsets())
      },
    },
  })
  await waitFor(() => seen.length === 3, { what: 'the batch' })
  expect(seen).toEqual([
    { topics: [] },
    { topics: [{ topic: 'resolved', partitions: [{ partition: 0, offset: '2' }] }] },
    { topics: [] },
  ])
  await first.consumer.disconnect()
  const admin = kafka.admin()
  expect(await admin.fetchOffsets({ groupId: 'g', topics: ['resolved'] })).toEqual([
    { topic: 'resolved', partitions: [{ partition: 0, offset: '2', metadata: null }] },
  ])
  // The messages after the commit come again to the next member.
  const second = await startConsumer(kafka, { groupId: 'g', topics: ['resolved'] })
  await waitFor(() => second.got.length === 3, { what: 'the uncommitted messages' })
  expect(values(second.got)).toEqual(['m2', 'm3', 'm4'])
  await second.consumer.disconnect()
  await kafka.close()
})
