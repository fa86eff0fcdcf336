// A topic: its partitions and produce rate (refreshed on every sample), the groups that
// read it, its configs, the message browser (which reads only when asked, so the list
// does not move under the reader), and, with writes enabled, a test message and record
// deletion.

import { h, fill, getJson, postJson, followSamples, bytes, count, time, ago, stateBadge, header, showProblem } from './common.js'
import { lineChart } from './charts.js'

const topic = decodeURIComponent(location.pathname.split('/')[2])
const base = `/api/topics/${encodeURIComponent(topic)}`
const drawRate = lineChart(document.getElementById('rate-chart'), { yLabel: 'messages/s' })
let partitionCount = 0
let writesShown = false

document.title = `${topic} · samsa console`
header(h('span', {}, 'topics'), h('span', { id: 'topic-name' }, topic))

function renderPartitions(t) {
  let messages = 0
  let size = 0
  for (const p of t.partitions) {
    messages += p.messages
    size += p.bytes
  }
  fill('partitions-sub', `${count(t.partitions.length)} partitions, ${count(messages)} messages, ${bytes(size)}`)
  fill(
    'partitions',
    t.partitions.map((p) =>
      h(
        'tr',
        { dataset: { partition: p.partition, high: p.high, low: p.low } },
        h('td', { class: 'num' }, p.partition),
        h('td', { class: 'num' }, count(p.low)),
        h('td', { class: 'num' }, count(p.high)),
        h('td', { class: 'num' }, count(p.messages)),
        h('td', { class: 'num' }, bytes(p.bytes)),
        h('td', { class: 'num' }, count(p.segments)),
        h('td', { title: p.lastAppend ? time(p.lastAppend) : '' }, p.lastAppend ? ago(p.lastAppend, t.at) : '–')
      )
    )
  )
  if (t.partitions.length !== partitionCount) {
    partitionCount = t.partitions.length
    const select = document.getElementById('partition')
    const chosen = select.value
    select.replaceChildren(h('option', { value: '' }, 'all'), ...t.partitions.map((p) => h('option', { value: String(p.partition) }, String(p.partition))))
    select.value = chosen
  }
}

function renderGroups(groups) {
  fill(
    'groups',
    groups.length
      ? groups.map((g) =>
          h(
            'tr',
            { dataset: { group: g.groupId, lag: g.lag === null ? '' : g.lag } },
            h('td', {}, h('a', { href: `/groups/${encodeURIComponent(g.groupId)}` }, g.groupId)),
            h('td', {}, stateBadge(g.state)),
            h('td', { class: 'num' }, g.lag === null ? '–' : count(g.lag))
          )
        )
      : h('tr', {}, h('td', { colspan: 3, class: 'empty' }, 'No group has committed offsets for this topic.'))
  )
}

function renderConfigs(configs) {
  const row = (c) => h('tr', { dataset: { config: c.name } }, h('td', { class: 'mono' }, c.name), h('td', { class: 'mono' }, c.value === null ? '(hidden)' : c.value))
  const set = configs.filter((c) => !c.isDefault)
  fill('configs-sub', `${set.length} set, ${configs.length - set.length} default`)
  fill('configs', set.length ? set.map(row) : h('tr', {}, h('td', { colspan: 2, class: 'empty' }, 'Every config has its default.')))
  fill('default-configs', configs.filter((c) => c.isDefault).map(row))
}

function result(id, ok, text) {
  return fill(id, h('div', { class: `result ${ok ? 'ok' : 'bad'}` }, text))
}

function renderWrites(allowWrites) {
  if (writesShown) return
  writesShown = true
  const mode = document.getElementById('mode')
  mode.textContent = allowWrites ? 'writes enabled' : 'read-only'
  mode.classList.toggle('writes', allowWrites)
  if (!allowWrites) {
    fill('writes-body', h('p', { class: 'note' }, 'The console is read-only. Started with allowWrites: true (samsa console --allow-writes), it can produce a test message here and delete records.'))
    return
  }
  const produce = h(
    'form',
    { class: 'toolbar', id: 'produce', onsubmit: async (ev) => {
      ev.preventDefault()
      const f = ev.target.elements
      const body = { key: f.key.value === '' ? null : f.key.value, value: f.value.value }
      if (f.partition.value !== '') body.partition = Number(f.partition.value)
      try {
        const r = await postJson(`${base}/messages`, body)
        result('produce-result', true, `Stored at partition ${r.partition}, offset ${r.offset}.`)
      } catch (e) {
        result('produce-result', false, e.message)
      }
    } },
    h('label', {}, 'Partition', h('input', { name: 'partition', type: 'number', min: '0', placeholder: 'by key' })),
    h('label', {}, 'Key', h('input', { name: 'key', autocomplete: 'off' })),
    h('label', {}, 'Value', h('input', { name: 'value', autocomplete: 'off', value: '{"test": true}' })),
    h('button', { type: 'submit' }, 'Produce')
  )
  const remove = h(
    'form',
    { class: 'toolbar', id: 'delete-records', onsubmit: async (ev) => {
      ev.preventDefault()
      const f = ev.target.elements
      try {
        const r = await postJson(`${base}/delete-records`, { partition: Number(f.partition.value), offset: Number(f.offset.value) })
        result('delete-result', true, `Partition ${r.partition} now starts at offset ${r.lowWatermark}.`)
      } catch (e) {
        result('delete-result', false, e.message)
      }
    } },
    h('label', {}, 'Partition', h('input', { name: 'partition', type: 'number', min: '0', required: true })),
    h('label', {}, 'Delete records before offset', h('input', { name: 'offset', type: 'number', min: '0', required: true })),
    h('button', { type: 'submit' }, 'Delete')
  )
  fill('writes-body', h('h3', { class: 'note' }, 'Produce a test message'), produce, h('div', { id: 'produce-result' }), h('h3', { class: 'note' }, 'Delete records'), remove, h('div', { id: 'delete-result' }))
}

function bytesView(v) {
  if (v === null) return h('div', { class: 'note' }, 'null (a tombstone)')
  const cut = v.truncated ? `, the first ${count(v.text.length)} shown` : ''
  return h('pre', { class: `value format-${v.format}`, title: `${count(v.bytes)} bytes, shown as ${v.format}${cut}` }, v.text)
}

/** The start of a value on one line, for the list. */
function preview(v) {
  if (v === null) return 'null'
  const line = v.format === 'json' ? JSON.stringify(JSON.parse(v.text)) : v.text.split('\n')[0]
  return line.length > 160 ? `${line.slice(0, 160)}…` : line
}

function renderMessages(r, query) {
  const scanned = r.partitions.map((p) => `${p.partition}: ${p.from}–${p.to}${p.complete ? '' : ' (stopped early)'}`).join('; ')
  fill('messages-sub', `${r.messages.length} shown`)
  fill('scanned', `Offsets read, by partition: ${scanned || 'none'}. Click a message for its whole value and headers.`)
  const list = r.messages.map((m) =>
    h(
      'details',
      { class: 'message', dataset: { partition: m.partition, offset: m.offset, key: m.key && m.key.format === 'text' ? m.key.text : '' } },
      h(
        'summary',
        { class: 'meta' },
        h('span', { class: 'at' }, h('b', {}, `${m.partition}`), ' / ', h('b', {}, m.offset)),
        h('span', { class: 'when', title: String(m.timestamp) }, time(m.timestamp)),
        h('span', { class: 'key mono' }, m.key === null ? 'null' : m.key.text),
        h('span', { class: 'preview mono' }, preview(m.value)),
        m.headers.length ? h('span', { class: 'note' }, `${m.headers.length} header${m.headers.length > 1 ? 's' : ''}`) : null
      ),
      bytesView(m.value),
      m.headers.length
        ? h('div', { class: 'headers' }, 'headers: ', m.headers.map((hd, i) => [i ? ', ' : '', h('span', { class: 'mono' }, `${hd.name}=${hd.value === null ? 'null' : hd.value.text}`)]))
        : null
    )
  )
  fill('messages', list.length ? [h('div', { class: 'meta head' }, h('span', { class: 'at' }, 'partition / offset'), h('span', { class: 'when' }, 'time'), h('span', { class: 'key' }, 'key'), h('span', { class: 'preview' }, 'value')), list] : h('div', { class: 'empty' }, query.key !== undefined ? 'No message with this key in what was read.' : 'No messages.'))
  document.getElementById('messages').dataset.count = String(r.messages.length)
}

async function browse() {
  const q = {}
  const partition = document.getElementById('partition').value
  const start = document.getElementById('start').value
  const key = document.getElementById('key').value
  if (partition !== '') q.partition = partition
  if (start === 'offset') q.offset = document.getElementById('offset').value || '0'
  if (start === 'timestamp') {
    const at = new Date(document.getElementById('time').value).getTime()
    if (!Number.isFinite(at)) {
      showProblem('Choose a time to start from.')
      return
    }
    q.timestamp = String(at)
  }
  if (key !== '') q.key = key
  q.limit = document.getElementById('limit').value
  q.format = document.getElementById('format').value
  const messages = document.getElementById('messages')
  messages.dataset.loading = 'true'
  try {
    renderMessages(await getJson(`${base}/messages?${new URLSearchParams(q)}`), q)
    showProblem(null)
  } catch (e) {
    showProblem(e.message)
  } finally {
    delete messages.dataset.loading
  }
}

document.getElementById('start').addEventListener('change', (ev) => {
  document.getElementById('offset-field').hidden = ev.target.value !== 'offset'
  document.getElementById('time-field').hidden = ev.target.value !== 'timestamp'
})
document.getElementById('browse').addEventListener('submit', (ev) => {
  ev.preventDefault()
  browse()
})

let configsShown = false
followSamples(async () => {
  const t = await getJson(base)
  renderPartitions(t)
  renderGroups(t.groups)
  if (!configsShown) {
    configsShown = true
    renderConfigs(t.configs)
    renderWrites(t.allowWrites)
  }
  drawRate(t.history.times, [{ label: 'messages/s', values: t.history.rates }])
  document.body.dataset.loaded = 'true'
}).then(browse)
