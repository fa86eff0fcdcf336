// Creates the topic the riders' location updates go to: two partitions, one for the
// north of the city and one for the south.
const { kafka } = require('./client')

async function init() {
  const admin = kafka.admin()
  console.log('Admin connecting...')
  admin.connect()
  console.log('Admin connection success...')

  console.log('Creating topic [rider-updates]')
  await admin.createTopics({
    topics: [
      {
        topic: 'rider-updates',
        numPartitions: 2,
      },
    ],
  })
  console.log('Topic created success [rider-updates]')

  console.log('Disconnecting admin...')
  await admin.disconnect()
}

init()
