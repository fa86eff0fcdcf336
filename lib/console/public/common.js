// What every console page shares: building the DOM (never from HTML strings: topic names,
// keys and values are shown as text), asking the API, following the sample events, and
// formatting numbers, sizes and times.

/** An element: h('td', { class: 'num', dataset: { lag: 3 } }, 'text', child, ...). */
export function h(tag, props = {}, ...children) {
  const e = document.createElement(tag)
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue
    if (k === 'class') e.className = v
    else if (k === 'dataset') Object.assign(e.dataset, v)
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v)
    else if (k in e && typeof v !== 'string') e[k] = v
    else e.setAttribute(k, v === true ? '' : v)
  }
  for (const c of children.flat(Infinity)) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : String(c))
  return e
}

/** Replaces the children of the element with id `id`. */
export function fill(id, ...children) {
  const e = document.getElementById(id)
  e.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false))
  return e
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message)
    this.status = status
  }
}

async function answer(res) {
  const body = await res.json().catch(() => ({ error: `${res.status} ${res.statusText}` }))
  if (!res.ok) throw new ApiError(res.status, body.error || `${res.status} ${res.statusText}`)
  return body
}

export async function getJson(path) {
  return answer(await fetch(path, { headers: { accept: 'application/json' } }))
}

export async function postJson(path, body) {
  return answer(await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }))
}

/** Shows a problem above the page's content (null clears it). */
export function showProblem(message) {
  const bar = document.getElementById('problem')
  bar.hidden = !message
  bar.textContent = message || ''
}

/**
 * Calls `refresh` now and after every sample the console takes while this page is open;
 * a refresh still running when the next sample comes is not started twice.
 */
export function followSamples(refresh) {
  let running = false
  let again = false
  const run = async () => {
    if (running) {
      again = true
      return
    }
    running = true
    try {
      do {
        again = false
        await refresh()
        showProblem(null)
      } while (again)
    } catch (e) {
      showProblem(e.message)
    } finally {
      running = false
    }
  }
  const events = new EventSource('/api/events')
  events.addEventListener('sample', run)
  const live = document.getElementById('live')
  events.addEventListener('open', () => live && live.classList.add('on'))
  events.addEventListener('error', () => live && live.classList.remove('on'))
  window.addEventListener('pagehide', () => events.close())
  return run()
}

const UNITS = ['B', 'KB', 'MB', 'GB', 'TB']

export function bytes(n) {
  if (n === null || n === undefined) return '–'
  let i = 0
  while (n >= 1000 && i < UNITS.length - 1) {
    n /= 1000
    i++
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${UNITS[i]}`
}

export function count(n) {
  if (n === null || n === undefined) return '–'
  return Number(n).toLocaleString('en-US')
}

export function duration(ms) {
  if (ms === null || ms === undefined) return '–'
  const s = Math.floor(ms / 1000)
  if (s < 60) return `${s} s`
  if (s < 3600) return `${Math.floor(s / 60)} min`
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`
}

export function time(ms) {
  if (ms === null || ms === undefined) return '–'
  const d = new Date(ms)
  const pad = (n, w = 2) => String(n).padStart(w, '0')
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`
}

export function ago(ms, now = Date.now()) {
  if (ms === null || ms === undefined) return '–'
  return `${duration(Math.max(0, now - ms))} ago`
}

/** A small line of the values (nulls are gaps), as an inline SVG `slots` values wide: the
 * newest on the right, so a line that has few values yet fills in from there. */
export function sparkline(values, { slots = values.length, width = 120, height = 24 } = {}) {
  const ns = 'http://www.w3.org/2000/svg'
  const svg = document.createElementNS(ns, 'svg')
  svg.setAttribute('viewBox', `0 0 ${width} ${height}`)
  svg.setAttribute('width', width)
  svg.setAttribute('height', height)
  svg.setAttribute('class', 'spark')
  const known = values.filter((v) => v !== null)
  // Headroom above the highest value: a steady rate draws a line below the top, not on it.
  const max = Math.max(1, ...known) * 1.25
  const step = slots > 1 ? width / (slots - 1) : width
  const first = slots - values.length
  let d = ''
  let pen = false
  values.forEach((v, i) => {
    if (v === null) {
      pen = false
      return
    }
    const x = ((first + i) * step).toFixed(1)
    const y = (height - 1 - (v / max) * (height - 2)).toFixed(1)
    d += `${pen ? 'L' : 'M'}${x} ${y}`
    pen = true
  })
  const p = document.createElementNS(ns, 'path')
  p.setAttribute('d', d || `M0 ${height - 1}L${width} ${height - 1}`)
  svg.append(p)
  return svg
}

/** host:port, with an IPv6 host in brackets. */
export function address({ host, port }) {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

export function stateBadge(state) {
  return h('span', { class: `badge state-${String(state).toLowerCase()}` }, state)
}

/** The console's header: where you are, and whether the page follows the broker live. */
export function header(...trail) {
  fill(
    'crumbs',
    h('a', { href: '/' }, 'samsa console'),
    trail.map((t) => [h('span', { class: 'sep' }, '/'), t])
  )
}
