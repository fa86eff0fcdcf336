'use strict'

// The two backends (this process owns the directory; another one does) are one napi class
// whose every method has one shape: the same methods, async in both or sync in both, with
// results of the same form. lib/ relies on it to keep one code path. The Rust trait makes
// the signatures agree at compile time; this checks what JS sees, method by method, on a
// local handle and a remote one over the same directory (the remote one reaches the local
// one through its socket, in this same process).

const native = require('../binding.js')
const { tempDir } = require('./helpers')

// Every method of NativeBroker, with arguments valid for both backends. A method added to
// the class must be added here (checked below), so its shape is compared too.
const BROKER_CALLS = {
  topicsVersion: [],
  partitionCount: ['shapes'],
  refreshTopics: [],
  topics: [],
  createTopic: ['made-here', 1, -1, [], [], false],
  createTopics: [[{ name: 'validated', numPartitions: 1, replicationFactor: -1, configNames: [], configValues: [] }], true],
  createPartitions: ['shapes', 2, null, true],
  deleteTopic: ['no-such-topic'],
  produce: [['shapes'], Buffer.from('v'), new Int32Array([0, 0, -1, 1, 0]), new Float64Array(0), 0, -1, -1, new Int32Array(0)],
  initProducerId: [],
  initTransactions: ['shapes-tx', 60000],
  sendOffsetsToTransaction: ['no-such-tx', 0, 0, 'no-group', [{ topic: 'shapes', partition: 0, offset: 0 }]],
  endTransaction: ['no-such-tx', 0, 0, true],
  verify: [],
  sync: [],
  watermarks: ['shapes'],
  offsets: ['shapes'],
  offsetForTimestamp: ['shapes', 0, 0],
  deleteRecords: ['shapes', 0, 0],
  describeConfigs: [2, 'shapes', null, false],
  alterConfigs: [2, 'shapes', ['retention.ms'], ['3600000'], true],
  fetch: ['shapes', 0, 0, 1 << 20, 1],
  injectAppendFailures: ['shapes', 0, 0],
  injectFsyncFailures: [0],
  runMaintenance: [Date.now()],
  listen: [{ host: '127.0.0.1', port: 0 }],
  stopListening: [],
  watchAppends: [null],
  onTakeover: [() => {}],
  joinGroup: null, // compared below, with the member's methods
  committedOffsets: ['no-group', 'shapes'],
  committedTopics: ['no-group'],
  setGroupOffsets: ['idle-group', [{ topic: 'shapes', partition: 0, offset: 0 }]],
  groupLeader: ['no-group'],
  listGroups: [],
  describeGroup: ['no-group'],
  deleteGroup: ['no-group'],
  close: null, // compared last
  closeSync: null, // close's synchronous twin, for process exit
}

/** What a call returned, reduced to its form: a promise or not, and whether it threw. */
async function shapeOf(call) {
  let r
  try {
    r = call()
  } catch (e) {
    return { async: false, threw: true, message: String(e.message) }
  }
  const async = r !== null && typeof r === 'object' && typeof r.then === 'function'
  let value = r
  let rejected = false
  if (async) {
    try {
      value = await r
    } catch (e) {
      rejected = true
      value = e
    }
  }
  return { async, rejected, form: formOf(value) }
}

function formOf(v) {
  if (v === null || v === undefined) return 'nothing'
  if (v instanceof Error) return 'error'
  if (Array.isArray(v)) return 'array'
  if (ArrayBuffer.isView(v)) return v.constructor.name
  if (typeof v === 'object') return `object{${Object.keys(v).sort().join(',')}}`
  return typeof v
}

function methodsOf(cls) {
  return Object.getOwnPropertyNames(cls.prototype).filter((m) => m !== 'constructor' && typeof Object.getOwnPropertyDescriptor(cls.prototype, m).value === 'function')
}

test('the local and the remote backend have the same methods, each async in both or sync in both, with results of the same form', async () => {
  const dataDir = tempDir('samsa-backends-')
  const local = await native.openBroker(dataDir, {}, null)
  const remote = await native.connectBroker(dataDir, {}, null, 10000)
  try {
    expect(local).toBeInstanceOf(native.NativeBroker)
    expect(remote).toBeInstanceOf(native.NativeBroker)
    expect(local.remote).toBe(false)
    expect(remote.remote).toBe(true)
    expect(methodsOf(native.NativeBroker).sort()).toEqual(Object.keys(BROKER_CALLS).sort())
    await local.createTopic('shapes', 1, -1, [], [], false)
    await remote.refreshTopics()

    const differences = []
    for (const [method, args] of Object.entries(BROKER_CALLS)) {
      if (args === null) continue
      const l = await shapeOf(() => local[method](...args))
      let r = await shapeOf(() => remote[method](...args))
      // Records another process reads are fetched ahead: asked for, they are there soon.
      for (const deadline = Date.now() + 5000; method === 'fetch' && r.form === 'nothing' && Date.now() < deadline; ) {
        await new Promise((resolve) => setTimeout(resolve, 10))
        r = await shapeOf(() => remote[method](...args))
      }
      // Work only the owner can do (verify, fault injection, maintenance, listen) is
      // refused elsewhere: a promise rejects, a synchronous call throws. A result's form
      // must match where both give one.
      const failed = (x) => x.threw || x.rejected
      const same = l.async === r.async && (failed(l) || failed(r) || l.form === r.form) && (!r.threw || !l.async)
      if (!same) differences.push({ method, local: l, remote: r })
    }
    expect(differences).toEqual([])
    await local.stopListening()

    // A member of a group, joined through each backend.
    const members = [
      await local.joinGroup('both', 'here', ['shapes'], 30000, 60000, 'RoundRobinAssigner', 3000),
      await remote.joinGroup('both', 'there', ['shapes'], 30000, 60000, 'RoundRobinAssigner', 100),
    ]
    for (const m of members) expect(m).toBeInstanceOf(native.NativeMember)
    const memberCalls = {
      stateVersion: [],
      owns: ['shapes', 0],
      poll: [null],
      beat: [null],
      subscribe: [['shapes']],
      release: [[]],
      commit: [[]],
      leave: [],
    }
    expect(methodsOf(native.NativeMember).sort()).toEqual(Object.keys(memberCalls).sort())
    for (const [method, args] of Object.entries(memberCalls)) {
      const [l, r] = [await shapeOf(() => members[0][method](...args)), await shapeOf(() => members[1][method](...args))]
      expect({ method, async: r.async, form: r.rejected ? l.form : r.form }).toEqual({ method, async: l.async, form: l.form })
    }
  } finally {
    await remote.close()
    await local.close()
  }
}, 30000)
