'use strict'

// The console's pages in headless Chromium (Debian's package, driven by playwright-core),
// against a directory with topics, groups and lag while messages flow: every page renders
// with no console errors, the lag chart moves, the message browser finds a message by key
// and by time, and a reset of offsets is refused while read-only and works with writes.
// A screenshot of each page is written to test-output/console/ for a person to look at.

const fs = require('node:fs')
const path = require('node:path')
const { chromium } = require('playwright-core')
const { Kafka, logLevel } = require('..')
const { tempDir } = require('./helpers')
const { seed, RIDER_MESSAGES } = require('./console-helpers')
const requires = require('./requirements')

// Installed with apt when missing and running as root; otherwise skipped loudly (fails under CI).
const browserBinary = requires.debianPackage({ name: 'chromium', binary: '/usr/bin/chromium' })
const SCREENSHOTS = path.join(__dirname, '..', 'test-output', 'console')
// A sample every 2 s: waits for a few of them are bounded by this.
const SAMPLES_MS = 15000

/** A time as a datetime-local input takes it, in this machine's time zone (the browser's). */
/** The value of a datetime-local input for `ms`, in the shortest form Chromium keeps (it
 * drops trailing zeros of the milliseconds, then zero seconds, and Playwright's fill checks
 * the value it set is the value the input has). */
function localInput(ms) {
  const d = new Date(ms)
  const pad = (n, w = 2) => String(n).padStart(w, '0')
  let time = `${pad(d.getHours())}:${pad(d.getMinutes())}`
  if (d.getSeconds() || d.getMilliseconds()) time += `:${pad(d.getSeconds())}`
  if (d.getMilliseconds()) time += `.${pad(d.getMilliseconds(), 3)}`.replace(/0+$/, '')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${time}`
}

browserBinary.describe('the console in Chromium', () => {
  let dataDir, kafka, writer, readOnly, writable, browser, data, producer, liveMap
  let sending = true
  let flow = null
  const problems = [] // console errors and page errors of every page opened
  // Chromium logs every 4xx answer to fetch() as a console error: the statuses a test
  // provokes on purpose are not problems.
  let provoked = new Set()

  beforeAll(async () => {
    fs.mkdirSync(SCREENSHOTS, { recursive: true })
    dataDir = tempDir('samsa-console-browser-')
    kafka = new Kafka({ dataDir, logLevel: logLevel.NOTHING })
    data = await seed(kafka)
    // A group with a running member, reading slowly: Stable, with lag.
    liveMap = kafka.consumer({ groupId: 'live-map' })
    await liveMap.connect()
    await liveMap.subscribe({ topic: 'rider-updates', fromBeginning: true })
    await liveMap.run({ eachMessage: () => new Promise((resolve) => setTimeout(resolve, 20)) })
    // Messages keep flowing (keys of their own, so the browser's searches find only the
    // seeded ones): db-writer's lag grows, produce rates move.
    producer = kafka.producer()
    await producer.connect()
    flow = (async () => {
      for (let n = 0; sending; n++) {
        await producer.send({ topic: 'rider-updates', messages: Array.from({ length: 20 }, (_, i) => ({ key: `flow-${i}`, value: JSON.stringify({ n, i }) })) })
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    })()
    readOnly = await kafka.console({ port: 0 })
    // A second Kafka object on the directory (the same broker) serves a console with writes.
    writer = new Kafka({ dataDir, logLevel: logLevel.NOTHING })
    writable = await writer.console({ port: 0, allowWrites: true })
    browser = await chromium.launch({
      executablePath: browserBinary.path,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
    })
  }, 60000)

  afterAll(async () => {
    sending = false
    await flow
    if (browser) await browser.close()
    await writer.close()
    await kafka.close()
  })

  afterEach(() => {
    provoked = new Set()
    expect(problems.splice(0)).toEqual([])
  })

  async function open(url) {
    const page = await browser.newPage({ viewport: { width: 1360, height: 900 } })
    page.on('console', (m) => {
      if (m.type() !== 'error') return
      const status = /^Failed to load resource: the server responded with a status of (\d+)/.exec(m.text())
      if (!status || !provoked.has(Number(status[1]))) problems.push(`${page.url()}: console error: ${m.text()}`)
    })
    page.on('pageerror', (e) => problems.push(`${page.url()}: ${e.message}`))
    page.on('requestfailed', (r) => !r.url().endsWith('/api/events') && problems.push(`${page.url()}: ${r.url()} failed: ${r.failure().errorText}`))
    await page.goto(url)
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 10000 })
    return page
  }

  test('the lag chart of a lagging group moves while messages flow', async () => {
    const page = await open(`${readOnly.url}groups/db-writer`)
    const chart = page.locator('#lag-chart')
    await page.waitForFunction(() => Number(document.getElementById('lag-chart').dataset.points) >= 2, null, { timeout: SAMPLES_MS })
    const first = Number(await chart.getAttribute('data-last'))
    await page.waitForFunction((before) => Number(document.getElementById('lag-chart').dataset.last) > before, first, { timeout: SAMPLES_MS })
    expect(Number(await chart.getAttribute('data-points'))).toBeGreaterThanOrEqual(3)
    // uPlot drew it: a canvas with the total and one line per partition in its legend.
    expect(await page.locator('#lag-chart canvas').count()).toBe(1)
    expect(await page.locator('#lag-chart .u-legend .u-series').count()).toBe(1 + 4)
    // The total shown above it follows too.
    await page.waitForFunction((before) => Number(document.getElementById('total-lag').dataset.lag) > before, first, { timeout: SAMPLES_MS })
    await page.close()
  }, 60000)

  test('every page renders with no console errors; a screenshot of each is written', async () => {
    const overview = await open(readOnly.url)
    // Both topics, both groups, the broker, and a produce rate sampled while pages were open.
    await overview.waitForSelector('#topics tr[data-topic="rider-updates"]')
    expect(await overview.locator('#topics tr[data-topic]').count()).toBe(2)
    expect(await overview.locator('#groups tr[data-group]').count()).toBe(2)
    expect(await overview.locator('#groups tr[data-group="live-map"] .badge').textContent()).toBe('Stable')
    expect(await overview.locator('#groups tr[data-group="db-writer"]').getAttribute('data-lag')).not.toBe('')
    expect(await overview.locator('#data-dir').textContent()).toBe(fs.realpathSync(dataDir))
    expect(await overview.locator('#mode').textContent()).toBe('read-only')
    await overview.waitForFunction(() => document.querySelectorAll('#topics tr[data-topic="rider-updates"] svg.spark path')[0].getAttribute('d').includes('L'), null, { timeout: SAMPLES_MS })
    await overview.screenshot({ path: path.join(SCREENSHOTS, 'overview.png'), fullPage: true })
    // Filtering keeps the rows that match.
    await overview.fill('#topic-filter', 'restaurant')
    expect(await overview.locator('#topics tr[data-topic]').count()).toBe(1)
    // A topic's link leads to its page.
    await overview.fill('#topic-filter', '')
    await Promise.all([overview.waitForURL(/\/topics\/rider-updates$/), overview.click('#topics a[href="/topics/rider-updates"]')])
    await overview.waitForSelector('body[data-loaded="true"]')
    await overview.close()

    const topic = await open(`${readOnly.url}topics/rider-updates`)
    expect(await topic.locator('#partitions tr[data-partition]').count()).toBe(4)
    // The newest messages are shown when the page opens.
    await topic.waitForSelector('#messages[data-count="50"]')
    expect(await topic.locator('#configs tr[data-config="retention.ms"]').count()).toBe(1)
    expect(await topic.locator('#writes-body').textContent()).toContain('read-only')
    await topic.waitForFunction(() => Number(document.getElementById('rate-chart').dataset.points) >= 1, null, { timeout: SAMPLES_MS })
    await topic.screenshot({ path: path.join(SCREENSHOTS, 'topic.png'), fullPage: true })
    await topic.close()

    const group = await open(`${readOnly.url}groups/live-map`)
    expect(await group.locator('#members tr[data-member]').count()).toBe(1)
    expect(await group.locator('#members').textContent()).toContain(`this console's process (pid ${process.pid}, the owner)`)
    expect(await group.locator('#offsets tr[data-partition]').count()).toBe(4)
    await group.waitForFunction(() => Number(document.getElementById('lag-chart').dataset.points) >= 2, null, { timeout: SAMPLES_MS })
    await group.screenshot({ path: path.join(SCREENSHOTS, 'group.png'), fullPage: true })
    await group.close()
    for (const name of ['overview', 'topic', 'group']) expect(fs.statSync(path.join(SCREENSHOTS, `${name}.png`)).size).toBeGreaterThan(10_000)
  }, 60000)

  test('the message browser finds a message by key and by timestamp', async () => {
    const page = await open(`${readOnly.url}topics/rider-updates`)
    await page.waitForSelector('#messages[data-count]')
    // By key, over every partition.
    await page.fill('#key', 'rider-7')
    await page.click('#show')
    await page.waitForSelector(`#messages[data-count="${RIDER_MESSAGES / 10}"]:not([data-loading])`)
    expect(await page.locator('#messages .message').evaluateAll((ms) => ms.map((m) => m.dataset.key))).toEqual(Array(RIDER_MESSAGES / 10).fill('rider-7'))
    // A message opens to its whole value and headers.
    await page.click('#messages .message summary')
    expect(JSON.parse(await page.locator('#messages .message[open] pre').textContent())).toMatchObject({ seq: 37 })
    expect(await page.locator('#messages .message[open] .headers').textContent()).toBe('headers: region=north')
    // By time: the first message at or after it, then on in time order.
    await page.fill('#key', '')
    await page.selectOption('#start', 'timestamp')
    await page.fill('#time', localInput(data.firstTimestamp + 30_500))
    await page.selectOption('#limit', '20')
    await page.click('#show')
    await page.waitForFunction(() => {
      const first = document.querySelector('#messages .message .preview')
      return first && first.textContent.includes('"seq":31') && !document.getElementById('messages').dataset.loading
    }, null, { timeout: 10000 })
    const seqs = await page.locator('#messages .message .preview').evaluateAll((ps) => ps.slice(0, 3).map((p) => JSON.parse(p.textContent).seq))
    expect(seqs).toEqual([31, 32, 33])
    // Hex, from an offset of one partition.
    await page.selectOption('#start', 'offset')
    await page.selectOption('#partition', '0')
    await page.fill('#offset', '0')
    await page.selectOption('#format', 'hex')
    await page.click('#show')
    await page.waitForFunction(() => document.querySelector('#messages .message .preview')?.textContent.startsWith('00000000  7b 22 73 65 71'), null, { timeout: 10000 })
    await page.close()
  }, 60000)

  test('a reset of offsets is refused while read-only and works with writes enabled', async () => {
    provoked = new Set([403, 409])
    const page = await open(`${readOnly.url}groups/db-writer`)
    expect(await page.locator('#reset-note').textContent()).toContain('read-only')
    expect(await page.locator('#reset-button').isDisabled()).toBe(true)
    // Asked all the same, the server refuses it.
    const refused = await page.evaluate(async () => {
      const res = await fetch(`${location.pathname.replace('/groups/', '/api/groups/')}/reset`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ topic: 'rider-updates', to: 'earliest' }),
      })
      return { status: res.status, error: (await res.json()).error }
    })
    expect(refused.status).toBe(403)
    expect(refused.error).toMatch(/read-only/)
    expect(await page.locator('#offsets tr[data-partition]').evaluateAll((rs) => rs.map((r) => r.dataset.committed))).toEqual(['2', '2', '2', '2'])
    await page.close()

    // With writes: a running group is refused, as Kafka refuses it.
    const running = await open(`${writable.url}groups/live-map`)
    expect(await running.locator('#mode').textContent()).toBe('writes enabled')
    await running.click('#reset-button')
    await running.waitForSelector('#reset-result .result.bad')
    expect(await running.locator('#reset-result').textContent()).toMatch(/live-map" is Stable with 1 member\(s\): offsets can be reset only while the group is empty/)
    await running.close()

    // An empty group: reset to the earliest offsets.
    const empty = await open(`${writable.url}groups/db-writer`)
    expect(await empty.locator('#reset-button').isDisabled()).toBe(false)
    await empty.selectOption('#reset select[name="to"]', 'earliest')
    await empty.click('#reset-button')
    await empty.waitForSelector('#reset-result .result.ok')
    expect(await empty.locator('#reset-result').textContent()).toBe('Committed rider-updates-0 at 0, rider-updates-1 at 0, rider-updates-2 at 0, rider-updates-3 at 0.')
    await empty.waitForFunction(() => [...document.querySelectorAll('#offsets tr[data-partition]')].every((r) => r.dataset.committed === '0'), null, { timeout: SAMPLES_MS })
    await empty.close()
  }, 60000)
})
