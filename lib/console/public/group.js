// A consumer group: its state and members, the lag of each partition now and over the
// last minutes, its committed offsets, and, with writes enabled and the group empty (as
// Kafka requires), a reset of its offsets.

import { h, fill, getJson, postJson, followSamples, count, stateBadge, header } from './common.js'
import { lineChart } from './charts.js'

const groupId = decodeURIComponent(location.pathname.split('/')[2])
const base = `/api/groups/${encodeURIComponent(groupId)}`
const drawLag = lineChart(document.getElementById('lag-chart'), { yLabel: 'messages behind' })
// Lines on the chart beside the total: more would be a legend nobody reads.
const MAX_PARTITION_LINES = 9
let resetShown = false
let topicsShown = ''

document.title = `${groupId} · samsa console`
header(h('span', {}, 'groups'), h('span', { id: 'group-name' }, groupId))

function fact(label, ...value) {
  return h('div', { class: 'fact' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, ...value))
}

function processOf(m, g) {
  if (m.process) return `this console's process (pid ${m.process.pid}${m.process.owner ? ', the owner' : ''})`
  // Another samsa process on the directory: the owner records its pid in the member's host.
  const pid = /\bpid (\d+)$/.exec(m.clientHost || '')
  if (pid) return `pid ${pid[1]}${Number(pid[1]) === g.ownerPid ? ' (the owner)' : ''}`
  if (g.ownerPid && m.clientHost === '/127.0.0.1') return h('span', { class: 'note' }, `the owner's process (pid ${g.ownerPid}) or a Kafka client on this machine`)
  return h('span', { class: 'note' }, `a Kafka client at ${m.clientHost || 'an unknown address'}`)
}

function render(g) {
  fill('group-sub', g.protocol || '')
  fill(
    'summary',
    fact('State', stateBadge(g.state)),
    fact('Members', count(g.members.length)),
    fact('Total lag', h('span', { id: 'total-lag', dataset: { lag: g.lag === null ? '' : g.lag } }, g.lag === null ? '–' : count(g.lag))),
    fact('Topics', g.offsets.map((o, i) => [i ? ', ' : '', h('a', { href: `/topics/${encodeURIComponent(o.topic)}` }, o.topic)]))
  )
  document.body.dataset.state = g.state
  fill('members-sub', `${g.members.length} members`)
  fill(
    'members',
    g.members.length
      ? g.members.map((m) =>
          h(
            'tr',
            { dataset: { member: m.memberId } },
            h('td', { class: 'mono' }, m.memberId),
            h('td', {}, m.clientId),
            h('td', {}, processOf(m, g)),
            h('td', {}, [...m.assigned].sort((a, b) => a.topic.localeCompare(b.topic) || a.partition - b.partition).map((a, i) => [i ? ', ' : '', `${a.topic}-${a.partition}`]))
          )
        )
      : h('tr', {}, h('td', { colspan: 4, class: 'empty' }, 'No members: no consumer of this group is running.'))
  )
  const rows = []
  for (const o of g.offsets) {
    for (const p of o.partitions) {
      rows.push(
        h(
          'tr',
          { dataset: { topic: o.topic, partition: p.partition, committed: p.committed === null ? '' : p.committed, lag: p.lag === null ? '' : p.lag } },
          h('td', {}, h('a', { href: `/topics/${encodeURIComponent(o.topic)}` }, o.topic)),
          h('td', { class: 'num' }, p.partition),
          h('td', { class: 'num' }, p.committed === null ? 'none' : count(p.committed)),
          h('td', { class: 'num' }, count(p.high)),
          h('td', { class: `num${p.lag > 0 ? ' lag-high' : ''}` }, p.lag === null ? '–' : count(p.lag)),
          h('td', { class: 'mono note' }, p.member || '')
        )
      )
    }
  }
  fill('offsets', rows.length ? rows : h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No committed offsets.')))
  const lines = g.history.partitions
    .slice(0, MAX_PARTITION_LINES)
    .map((p) => ({ label: `${p.topic}-${p.partition}`, values: p.values }))
  drawLag(g.history.times, [{ label: 'total', values: g.history.total }, ...lines])
  renderReset(g)
}

function renderReset(g) {
  const mode = document.getElementById('mode')
  mode.textContent = g.allowWrites ? 'writes enabled' : 'read-only'
  mode.classList.toggle('writes', g.allowWrites)
  const topics = g.offsets.map((o) => o.topic).join('\0')
  document.getElementById('reset-body').dataset.resettable = String(g.resettable)
  if (resetShown && topics === topicsShown) return
  resetShown = true
  topicsShown = topics
  const note = g.allowWrites
    ? 'Kafka moves a group\'s offsets only while the group is empty: stop its consumers first.'
    : 'The console is read-only. Started with allowWrites: true (samsa console --allow-writes), it resets offsets here.'
  const form = h(
    'form',
    { class: 'toolbar', id: 'reset', onsubmit: async (ev) => {
      ev.preventDefault()
      const f = ev.target.elements
      const body = { topic: f.topic.value, to: f.to.value }
      if (f.partition.value !== '') body.partition = Number(f.partition.value)
      if (body.to === 'offset') body.offset = Number(f.offset.value)
      if (body.to === 'timestamp') body.timestamp = new Date(f.time.value).getTime()
      try {
        const r = await postJson(`${base}/reset`, body)
        fill('reset-result', h('div', { class: 'result ok' }, `Committed ${r.partitions.map((p) => `${r.topic}-${p.partition} at ${p.offset}`).join(', ')}.`))
      } catch (e) {
        fill('reset-result', h('div', { class: 'result bad' }, e.message))
      }
    } },
    h('label', {}, 'Topic', h('select', { name: 'topic' }, g.offsets.map((o) => h('option', { value: o.topic }, o.topic)))),
    h('label', {}, 'Partition', h('input', { name: 'partition', type: 'number', min: '0', placeholder: 'all' })),
    h('label', {}, 'To', h('select', { name: 'to' }, ['earliest', 'latest', 'offset', 'timestamp'].map((v) => h('option', { value: v }, v)))),
    h('label', {}, 'Offset', h('input', { name: 'offset', type: 'number', min: '0' })),
    h('label', {}, 'Time', h('input', { name: 'time', type: 'datetime-local', step: '0.001' })),
    h('button', { type: 'submit', id: 'reset-button', disabled: !g.allowWrites || g.offsets.length === 0 }, 'Reset offsets')
  )
  fill('reset-body', h('p', { class: 'note', id: 'reset-note' }, note), form, h('div', { id: 'reset-result' }))
}

followSamples(async () => {
  render(await getJson(base))
  document.body.dataset.loaded = 'true'
})
