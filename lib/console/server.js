'use strict'

// The console's HTTP server (Node's own http module): routes requests to the pages, their
// assets and the JSON API, streams sample events to open pages, and guards the door:
// only the Host names of the address it serves (a web page elsewhere cannot reach it by
// DNS rebinding), writes only when started with them, JSON bodies only (other sites'
// forms cannot post here), and every answer with headers that keep the pages to their
// own scripts and styles.

const fs = require('node:fs/promises')
const http = require('node:http')
const path = require('node:path')
const { HttpError, topicName, groupId, jsonBody } = require('./params')
const { isConnectionLoss } = require('../errors')

const PUBLIC_DIR = path.join(__dirname, 'public')
const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
}
// uPlot's files, served from the package that ships them.
const VENDOR = {
  'uPlot.iife.min.js': require.resolve('uplot/dist/uPlot.iife.min.js'),
  'uPlot.min.css': require.resolve('uplot/dist/uPlot.min.css'),
}
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
}
const MAX_EVENT_STREAMS = 64
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1'])

// Pages: [path pattern, its <main> (in public/), its script, its title, whether it draws
// charts]. Every page is the same shell (public/shell.html) around its <main>; its script
// reads the topic or group from the path.
const PAGES = [
  [/^\/$/, 'overview.html', 'overview.js', 'samsa console', false],
  [/^\/topics\/[^/]+$/, 'topic.html', 'topic.js', 'topic · samsa console', true],
  [/^\/groups\/[^/]+$/, 'group.html', 'group.js', 'group · samsa console', true],
]
const CHART_ASSETS = '<link rel="stylesheet" href="/assets/vendor/uPlot.min.css">\n  <script src="/assets/vendor/uPlot.iife.min.js"></script>\n  '

/**
 * The pages and assets, read once when the console starts: URL path -> { body, type } for
 * the assets (public/ but its HTML, and uPlot's files), and page file -> { body, type }.
 */
async function loadAssets() {
  const files = new Map()
  const read = async (file) => ({ body: await fs.readFile(file), type: CONTENT_TYPES[path.extname(file)] || 'application/octet-stream' })
  const names = (await fs.readdir(PUBLIC_DIR)).filter((n) => path.extname(n) !== '.html')
  await Promise.all([
    ...names.map(async (name) => files.set(`/assets/${name}`, await read(path.join(PUBLIC_DIR, name)))),
    ...Object.entries(VENDOR).map(async ([name, file]) => files.set(`/assets/vendor/${name}`, await read(file))),
  ])
  const shell = await fs.readFile(path.join(PUBLIC_DIR, 'shell.html'), 'utf8')
  for (const [, main, script, title, charts] of PAGES) {
    const fill = { title, script, charts: charts ? CHART_ASSETS : '', main: await fs.readFile(path.join(PUBLIC_DIR, main), 'utf8') }
    files.set(main, { body: Buffer.from(shell.replace(/\{\{(\w+)\}\}/g, (m, k) => fill[k])), type: CONTENT_TYPES['.html'] })
  }
  return files
}

// The API: [method, path pattern, whether it writes, handler(api, match, url, req)].
const ROUTES = [
  ['GET', /^\/api\/overview$/, false, (api, m, url) => api.overview(url.searchParams)],
  ['GET', /^\/api\/topics\/([^/]+)$/, false, (api, m, url) => api.topic(topicName(m[1]), url.searchParams)],
  ['GET', /^\/api\/topics\/([^/]+)\/messages$/, false, (api, m, url) => api.messages(topicName(m[1]), url.searchParams)],
  ['POST', /^\/api\/topics\/([^/]+)\/messages$/, true, (api, m, url, body) => api.produce(topicName(m[1]), body)],
  ['POST', /^\/api\/topics\/([^/]+)\/delete-records$/, true, (api, m, url, body) => api.deleteRecords(topicName(m[1]), body)],
  ['GET', /^\/api\/groups\/([^/]+)$/, false, (api, m, url) => api.group(groupId(m[1]), url.searchParams)],
  ['POST', /^\/api\/groups\/([^/]+)\/reset$/, true, (api, m, url, body) => api.resetOffsets(groupId(m[1]), body)],
]

/** An error's HTTP status: a bad request is a 4xx, a broker that cannot answer now 503. */
function statusOf(e) {
  if (e instanceof HttpError) return e.status
  if (e && e.type === 'UNKNOWN_TOPIC_OR_PARTITION') return 404
  if (e instanceof TypeError || (e && e.type === 'INVALID_TOPIC_EXCEPTION')) return 400
  if (e && (e.retriable || isConnectionLoss(e))) return 503
  return 500
}

class ConsoleServer {
  constructor({ api, sampler, assets, allowWrites, log }) {
    this.api = api
    this.sampler = sampler
    this.assets = assets
    this.allowWrites = allowWrites
    this.log = log
    this.allowedHosts = null // set by listen() for a loopback address
    this.server = http.createServer((req, res) => {
      // handle() answers every error itself; one in answering (the client went away) ends
      // that connection and nothing else.
      this.handle(req, res).catch(() => res.destroy())
    })
    // Kafka's own listener bounds what a client can hold: so does this one.
    this.server.maxConnections = 256
    this.server.headersTimeout = 10_000
    this.server.requestTimeout = 30_000
  }

  /** Listens; resolves to the bound { host, port }. */
  listen(port, host) {
    return new Promise((resolve, reject) => {
      const onError = (e) => {
        this.server.off('listening', onListening)
        reject(e)
      }
      const onListening = () => {
        this.server.off('error', onError)
        const a = this.server.address()
        if (LOOPBACK.has(host)) {
          this.allowedHosts = new Set([`127.0.0.1:${a.port}`, `localhost:${a.port}`, `[::1]:${a.port}`])
        }
        resolve({ host: a.address, port: a.port })
      }
      this.server.once('error', onError)
      this.server.once('listening', onListening)
      this.server.listen(port, host)
    })
  }

  async close() {
    this.sampler.stop()
    const closed = new Promise((resolve) => this.server.close(resolve))
    this.server.closeAllConnections()
    await closed
  }

  async handle(req, res) {
    let url
    try {
      // DNS rebinding: a page of another site whose name now points at 127.0.0.1 sends its
      // own name as the Host.
      if (this.allowedHosts && !this.allowedHosts.has(String(req.headers.host).toLowerCase())) {
        throw new HttpError(403, 'unexpected Host header: open the console by the address it printed')
      }
      url = new URL(req.url, 'http://console')
      if (url.pathname.startsWith('/api/')) await this.handleApi(req, res, url)
      else this.handleAsset(req, res, url)
    } catch (e) {
      this.fail(res, e, url)
    }
  }

  handleAsset(req, res, url) {
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} is not served here`)
    const page = PAGES.find(([pattern]) => pattern.test(url.pathname))
    const asset = this.assets.get(page ? page[1] : url.pathname)
    if (!asset) throw new HttpError(404, `nothing at ${url.pathname}`)
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': asset.type, 'content-length': asset.body.length, 'cache-control': 'no-cache' })
    res.end(req.method === 'HEAD' ? undefined : asset.body)
  }

  async handleApi(req, res, url) {
    if (url.pathname === '/api/events') return this.openEvents(req, res, url)
    const matching = ROUTES.filter(([, pattern]) => pattern.test(url.pathname))
    if (matching.length === 0) throw new HttpError(404, `no API at ${url.pathname}`)
    const route = matching.find(([method]) => method === req.method)
    if (!route) {
      res.setHeader('allow', matching.map(([method]) => method).join(', '))
      throw new HttpError(405, `${req.method} is not allowed here (${matching.map(([method]) => method).join(', ')})`)
    }
    const [, pattern, writes, handler] = route
    let body
    if (writes) {
      if (!this.allowWrites) {
        throw new HttpError(403, 'the console is read-only: start it with kafka.console({ allowWrites: true }) or `samsa console --allow-writes` to produce, reset offsets or delete records')
      }
      const origin = req.headers.origin
      if (origin !== undefined && origin !== `http://${req.headers.host}`) throw new HttpError(403, `requests from ${origin} may not write here`)
      body = await jsonBody(req)
    }
    const result = await handler(this.api, url.pathname.match(pattern), url, body)
    this.sendJson(res, 200, result)
  }

  openEvents(req, res, url) {
    if (req.method !== 'GET') throw new HttpError(405, `${req.method} is not allowed here (GET)`)
    if (url.search !== '') throw new HttpError(400, 'the event stream takes no query parameters')
    if (this.sampler.clients.size >= MAX_EVENT_STREAMS) throw new HttpError(503, `at most ${MAX_EVENT_STREAMS} pages can follow the console at once`)
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' })
    // The browser reconnects by itself after this long when the stream breaks.
    res.write(`retry: ${this.sampler.intervalMs}\n\n`)
    this.sampler.addClient(res)
    req.on('close', () => this.sampler.removeClient(res))
  }

  sendJson(res, status, value) {
    const body = JSON.stringify(value)
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' })
    res.end(body)
  }

  fail(res, e, url) {
    const status = statusOf(e)
    if (status === 500) this.log.error(`Console request failed: ${e && e.message}`, { path: url && url.pathname, stack: e && e.stack })
    if (res.headersSent) {
      res.destroy()
      return
    }
    this.sendJson(res, status, { error: e && e.message ? e.message : String(e), status })
  }
}

module.exports = { ConsoleServer, loadAssets }
