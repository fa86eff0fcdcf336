'use strict'

// The live map in headless Chromium (Debian's package, driven by playwright-core): load
// the page, post updates, and see the riders appear and the counters move; a page opened
// afterwards draws every rider at once.

const { chromium } = require('playwright-core')
const { createRiderApp } = require('../examples/rider-updates/server')
const { CITY_CENTRE } = require('../examples/rider-updates/regions')
const { tempDir } = require('./helpers')
const requires = require('./requirements')

// Installed with apt when missing and running as root; otherwise skipped loudly (fails under CI).
const browserBinary = requires.debianPackage({ name: 'chromium', binary: '/usr/bin/chromium' })

browserBinary.test('the live map shows riders coloured by region and the counters move', async () => {
  const rider = await createRiderApp({ dataDir: tempDir(), quiet: true })
  const base = `http://localhost:${await rider.listen(0)}`
  const browser = await chromium.launch({
    executablePath: browserBinary.path,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  })
  try {
    const page = await browser.newPage()
    await page.goto(base)
    await page.waitForSelector('svg#map')
    const riders = { 'rider-n': [0.05, 0], 'rider-s': [-0.05, 0], 'rider-e': [0, 0.1], 'rider-w': [0, -0.1] }
    for (const [id, [dLat, dLng]] of Object.entries(riders)) {
      const res = await fetch(`${base}/riders/${id}/location`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ lat: CITY_CENTRE.lat + dLat, lng: CITY_CENTRE.lng + dLng }),
      })
      expect(res.status).toBe(202)
    }
    await page.waitForFunction(() => document.querySelectorAll('circle.rider').length === 4, null, { timeout: 5000 })
    const drawn = await page.$$eval('circle.rider', (cs) => cs.map((c) => [c.dataset.rider, c.dataset.region, c.dataset.partition]).sort())
    expect(drawn).toEqual([
      ['rider-e', 'east', '2'],
      ['rider-n', 'north', '0'],
      ['rider-s', 'south', '1'],
      ['rider-w', 'west', '3'],
    ])
    // The counters follow: rows in the database, partition high watermarks, group lag.
    await page.waitForFunction(() => document.getElementById('db-rows').dataset.value === '4', null, { timeout: 5000 })
    await page.waitForFunction(() => document.querySelectorAll('#partitions tr[data-high="1"]').length === 4, null, { timeout: 5000 })
    await page.waitForFunction(() => document.querySelector('#groups tr[data-group="db-writer"]')?.dataset.lag === '0', null, { timeout: 5000 })
    // A rider moving north updates its dot in place.
    await fetch(`${base}/riders/rider-e/location`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ lat: CITY_CENTRE.lat + 0.2, lng: CITY_CENTRE.lng + 0.01 }),
    })
    await page.waitForFunction(() => document.querySelector('circle[data-rider="rider-e"]').dataset.region === 'north', null, { timeout: 5000 })
    expect(await page.$eval('#rider-count', (e) => e.dataset.value)).toBe('4')
    // A page opened now, with nothing posted after it, draws every rider where it last was:
    // the server's first event, its table of the compacted topic rider-positions.
    const later = await browser.newPage()
    await later.goto(base)
    await later.waitForFunction(() => document.querySelectorAll('circle.rider').length === 4, null, { timeout: 5000 })
    expect(await later.$eval('circle[data-rider="rider-e"]', (c) => c.dataset.region)).toBe('north')
  } finally {
    await browser.close()
    await rider.close()
  }
}, 60000)
