// Compiled (not run) by __test__/types.test.js: kafkajs-style code must type-check
// against index.d.ts.
import { Kafka, Partitioners, PartitionAssigners, CompressionTypes, ConfigResourceTypes, logLevel, KafkaJSProtocolError, KafkaJSRequestTimeoutError, EachMessagePayload } from '../..'

async function main(): Promise<void> {
  const kafka = new Kafka({ clientId: 'rider-app', dataDir: './data', logLevel: logLevel.WARN, fsync: true })
  const admin = kafka.admin()
  await admin.connect()
  const created: boolean = await admin.createTopics({ topics: [{ topic: 'rider-updates', numPartitions: 4, configEntries: [{ name: 'retention.ms', value: '3600000' }] }] })
  const offsets = await admin.fetchTopicOffsets('rider-updates')
  const high: string = offsets[0].high
  await admin.describeConfigs({ resources: [{ type: ConfigResourceTypes.TOPIC, name: 'rider-updates' }], includeSynonyms: false })
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const [meta] = await producer.send({ topic: 'rider-updates', compression: CompressionTypes.GZIP, messages: [{ key: 'rider-42', value: JSON.stringify({ lat: 1 }), headers: { trace: 'x' } }] })
  const base: string | undefined = meta.baseOffset
  const consumer = kafka.consumer({ groupId: 'db-writer', partitionAssigners: [PartitionAssigners.roundRobin], sessionTimeout: 10000 })
  await consumer.connect()
  await consumer.subscribe({ topics: ['rider-updates', /^rider-/], fromBeginning: true })
  consumer.on(consumer.events.GROUP_JOIN, (e) => console.log(e.payload))
  await consumer.run({
    eachMessage: async ({ topic, partition, message }: EachMessagePayload) => {
      const v: Buffer | null = message.value
      console.log(topic, partition, message.offset, v && v.toString())
    },
  })
  await consumer.run({ eachBatch: async ({ batch, resolveOffset, heartbeat }) => { for (const m of batch.messages) { resolveOffset(m.offset); await heartbeat() } } })
  consumer.seek({ topic: 'rider-updates', partition: 0, offset: '0' })
  const groups = await admin.describeGroups(['db-writer'])
  console.log(created, high, base, groups.groups[0].state)
  try {
    await producer.send({ topic: 'x', messages: [{ value: 'y' }] })
  } catch (e) {
    if (e instanceof KafkaJSProtocolError) console.log(e.type, e.code, e.retriable)
    else if (e instanceof KafkaJSRequestTimeoutError) console.log('timeout')
  }
  await kafka.close()
}

void main
