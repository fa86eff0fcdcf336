// The overview: the broker, every topic and every group, refreshed on every sample.
// A thousand topics are filtered and shown a page of rows at a time, so the page stays
// quick to redraw whatever the directory holds.

import { h, fill, getJson, followSamples, bytes, count, duration, sparkline, stateBadge, header, address } from './common.js'

const ROWS = 100
let shown = { topics: ROWS, groups: ROWS }
let last = null

function fact(label, ...value) {
  return h('div', { class: 'fact' }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, ...value))
}

function renderBroker(b) {
  const owner = b.owner
  const ownerText = owner
    ? [`pid ${owner.pid}`, owner.thisProcess ? ' (this process)' : '', owner.command ? h('div', { class: 'mono note' }, owner.command) : null]
    : ['none recorded']
  const listeners = [
    b.listeners.socket ? h('div', {}, 'Unix socket ', h('span', { class: 'mono' }, b.listeners.socket)) : null,
    ...b.listeners.kafka.map((l) => h('div', {}, 'Kafka protocol ', h('span', { class: 'mono' }, address(l)))),
    b.listeners.ownerPorts.length
      ? h('div', { class: 'note' }, 'TCP ports of the owning process: ', b.listeners.ownerPorts.map(address).join(', '))
      : null,
  ]
  fill('broker-sub', b.dataDir)
  fill(
    'broker',
    fact('Data directory', h('span', { class: 'mono', id: 'data-dir' }, b.dataDir)),
    fact('Owning process', ...ownerText),
    fact('This console reaches it', b.reachedThroughOwner ? 'through the owning process' : 'directly (its process owns it)'),
    fact('Owner uptime', owner ? duration(owner.uptimeMs) : '–'),
    fact('fsync', b.settings && b.settings.fsync ? 'on: a send is acknowledged once on disk' : 'off: a send is acknowledged once written to the OS'),
    fact('Listeners', ...listeners),
    fact('Disk free', b.disk ? `${bytes(b.disk.free)} of ${bytes(b.disk.total)}` : '–'),
    fact('Cluster id', h('span', { class: 'mono' }, b.clusterId)),
    fact('Console', `pid ${b.console.pid}, up ${duration(b.console.uptimeMs)}, `, b.console.allowWrites ? 'writes enabled' : 'read-only')
  )
  const mode = document.getElementById('mode')
  mode.textContent = b.console.allowWrites ? 'writes enabled' : 'read-only'
  mode.classList.toggle('writes', b.console.allowWrites)
}

function moreButton(id, kind, total) {
  if (total <= shown[kind]) return fill(id)
  fill(
    id,
    h('button', { class: 'secondary', onclick: () => {
      shown[kind] += ROWS * 5
      render()
    } }, `Show more (${count(total - shown[kind])} not shown)`)
  )
}

function renderTopics(topics, sparkPoints) {
  const filter = document.getElementById('topic-filter').value.trim()
  const matching = filter ? topics.filter((t) => t.name.includes(filter)) : topics
  let messages = 0
  let disk = 0
  for (const t of topics) {
    messages += t.messages
    disk += t.bytes
  }
  fill('topics-sub', `${count(topics.length)} topics, ${count(messages)} messages, ${bytes(disk)} on disk`)
  const rows = matching.slice(0, shown.topics).map((t) =>
    h(
      'tr',
      { dataset: { topic: t.name, messages: t.messages } },
      h('td', {}, h('a', { href: `/topics/${encodeURIComponent(t.name)}` }, t.name)),
      h('td', { class: 'num' }, count(t.partitions)),
      h('td', { class: 'num' }, count(t.messages)),
      h('td', { class: 'num' }, bytes(t.bytes)),
      h('td', { class: 'num' }, count(t.segments)),
      h('td', { class: 'num' }, t.rate === null ? '–' : count(t.rate)),
      h('td', {}, sparkline(t.spark, { slots: sparkPoints }))
    )
  )
  fill('topics', rows.length ? rows : h('tr', {}, h('td', { colspan: 7, class: 'empty' }, filter ? 'No topic matches.' : 'No topics yet.')))
  moreButton('topics-more', 'topics', matching.length)
}

function renderGroups(groups) {
  const filter = document.getElementById('group-filter').value.trim()
  const matching = filter ? groups.filter((g) => g.groupId.includes(filter)) : groups
  fill('groups-sub', `${count(groups.length)} groups`)
  const rows = matching.slice(0, shown.groups).map((g) =>
    h(
      'tr',
      { dataset: { group: g.groupId, lag: g.lag === null ? '' : g.lag, state: g.state } },
      h('td', {}, h('a', { href: `/groups/${encodeURIComponent(g.groupId)}` }, g.groupId)),
      h('td', {}, stateBadge(g.state)),
      h('td', { class: 'num' }, count(g.members)),
      h('td', {}, g.topics.map((t, i) => [i ? ', ' : '', h('a', { href: `/topics/${encodeURIComponent(t)}` }, t)])),
      h('td', { class: `num${g.lag > 0 ? ' lag-high' : ''}` }, g.lag === null ? '–' : count(g.lag))
    )
  )
  fill('groups', rows.length ? rows : h('tr', {}, h('td', { colspan: 5, class: 'empty' }, filter ? 'No group matches.' : 'No consumer groups yet.')))
  moreButton('groups-more', 'groups', matching.length)
}

function render() {
  if (!last) return
  renderBroker(last.broker)
  renderTopics(last.topics, last.sparkPoints)
  renderGroups(last.groups)
  document.body.dataset.loaded = 'true'
}

header()
for (const id of ['topic-filter', 'group-filter']) {
  document.getElementById(id).addEventListener('input', () => {
    shown = { topics: ROWS, groups: ROWS }
    render()
  })
}
followSamples(async () => {
  last = await getJson('/api/overview')
  render()
})
