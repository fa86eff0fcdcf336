// Reads lines like "tony north" from stdin and sends each rider's location: partition 0
// for the north, 1 for everything else.
const readline = require('readline')
const { kafka } = require('./client')

async function init() {
  const producer = kafka.producer()

  console.log('Connecting Producer')
  await producer.connect()
  console.log('Producer connected successfully')

  const rl = readline.createInterface({
    input: process.stdin,
    output: process.stdout,
  })

  rl.setPrompt('> ')
  rl.prompt()

  rl.on('line', async function (line) {
    const [riderName, location] = line.split(' ')
    await producer.send({
      topic: 'rider-updates',
      messages: [
        {
          partition: location.toLowerCase() === 'north' ? 0 : 1,
          key: 'location-update',
          value: JSON.stringify({ name: riderName, location }),
        },
      ],
    })
  }).on('close', async () => {
    await producer.disconnect()
  })
}

init()
