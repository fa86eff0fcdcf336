'use strict'

// Simulated riders: each moves around the city and posts its location once a second.
//   node examples/rider-updates/simulate.js [riders=1000] [url=http://localhost:3000] [seconds=forever]

const { CITY_CENTRE } = require('./regions')

const RIDERS = Number(process.argv[2] || 1000)
const URL = process.argv[3] || process.env.URL || 'http://localhost:3000'
const SECONDS = Number(process.argv[4] || Infinity)

const riders = Array.from({ length: RIDERS }, (_, i) => ({
  id: `rider-${i}`,
  lat: CITY_CENTRE.lat + (Math.random() - 0.5) * 0.3,
  lng: CITY_CENTRE.lng + (Math.random() - 0.5) * 0.45,
  heading: Math.random() * 2 * Math.PI,
}))

let sent = 0
let failed = 0
let inFlight = 0
const started = Date.now()

function move(r) {
  r.heading += (Math.random() - 0.5) * 0.6
  r.lat += Math.cos(r.heading) * 0.0015
  r.lng += Math.sin(r.heading) * 0.0022
  // Stay in town: turn back towards the centre near the edge.
  if (Math.abs(r.lat - CITY_CENTRE.lat) > 0.17 || Math.abs(r.lng - CITY_CENTRE.lng) > 0.25) r.heading += Math.PI
}

async function post(r) {
  inFlight++
  try {
    const res = await fetch(`${URL}/riders/${r.id}/location`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ lat: r.lat, lng: r.lng }),
    })
    if (res.status === 202) sent++
    else failed++
    await res.arrayBuffer()
  } catch {
    failed++
  } finally {
    inFlight--
  }
}

const tick = setInterval(() => {
  // Spread each second's posts over the second, as real riders would be.
  riders.forEach((r, i) => {
    setTimeout(() => {
      move(r)
      post(r)
    }, (i / RIDERS) * 1000)
  })
}, 1000)

const progress = setInterval(() => {
  const secs = (Date.now() - started) / 1000
  process.stdout.write(`\r${RIDERS} riders · ${sent.toLocaleString()} updates sent (${Math.round(sent / secs).toLocaleString()}/s) · ${failed} failed · ${inFlight} in flight   `)
  if (secs >= SECONDS) {
    clearInterval(tick)
    clearInterval(progress)
    process.stdout.write('\n')
  }
}, 500)
