// The crash course's Kafka client: kafkajs, pointed at a broker. Start one with
//   npx samsa serve
// (it listens on localhost:9092), or set KAFKA_BROKER to another address.
const { Kafka } = require('kafkajs')

exports.kafka = new Kafka({
  clientId: 'my-app',
  brokers: [process.env.KAFKA_BROKER || 'localhost:9092'],
})
