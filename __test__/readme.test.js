'use strict'

// The README's code runs as written: the quick start as a program of its own (with
// `require('samsa')` resolving to this checkout, as in a project that installed it) that
// must exit by itself, and the Python example against a listener (only the address
// changed, to the ephemeral port). A README edit that breaks either fails here.

const fs = require('node:fs')
const path = require('node:path')
const requires = require('./requirements')
const { tempDir } = require('./helpers')
const { run } = require('./install-helpers')
const { Kafka, logLevel } = require('..')

const ROOT = path.resolve(__dirname, '..')
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8')
const py = requires.pythonVenv({ name: 'confluent-kafka', packages: ['confluent-kafka==2.16.1'], imports: ['confluent_kafka'] })

/** The first fenced block of `lang` after the heading `heading`. */
function codeBlock(heading, lang) {
  const at = README.indexOf(`\n## ${heading}\n`)
  if (at < 0) throw new Error(`README has no section "${heading}"`)
  const m = README.slice(at).match(new RegExp('```' + lang + '\\n([\\s\\S]*?)```'))
  if (!m) throw new Error(`README section "${heading}" has no ${lang} block`)
  return m[1]
}

test('the quick start runs as written and exits by itself', async () => {
  const project = tempDir('samsa-readme-')
  // A project that depends on samsa: node_modules/samsa is this checkout.
  fs.mkdirSync(path.join(project, 'node_modules'))
  fs.symlinkSync(ROOT, path.join(project, 'node_modules', 'samsa'), 'dir')
  fs.writeFileSync(path.join(project, 'rider.js'), codeBlock('Quick start', 'js'))

  const r = await run(process.execPath, ['rider.js'], { cwd: project, timeoutMs: 30000 })
  expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' })
  // The send's result, as the comment beside it shows, then the message read back.
  expect(r.stdout).toMatch(/topicName: 'rider-updates',\s+partition: 3,\s+errorCode: 0/)
  expect(r.stdout).toMatch(/baseOffset: '0'/)
  expect(r.stdout).toContain('3 0 {"lat":52.52,"lng":13.4}')
  expect(fs.statSync(path.join(project, 'data', 'topics', 'rider-updates', '3', '00000000000000000000.log')).size).toBeGreaterThan(0)
}, 40000)

py.test('the Python example runs as written against a listener', async () => {
  const kafka = new Kafka({ dataDir: tempDir('samsa-readme-py-'), logLevel: logLevel.NOTHING })
  try {
    const { host, port } = await kafka.listen({ port: 0 })
    const script = codeBlock('Talk to samsa from any Kafka client', 'python')
    expect(script).toContain("'localhost:9092'")
    const file = path.join(tempDir('samsa-readme-py-'), 'example.py')
    fs.writeFileSync(file, script.replaceAll('localhost:9092', `${host}:${port}`))

    const r = await run(py.python, [file], { cwd: path.dirname(file), timeoutMs: 60000 })
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' })
    expect(r.stdout).toMatch(/^\d+ 0 b'rider-7' b'\{"lat": 52\.51, "lng": 13\.39\}'\n$/)

    // The example's consumer committed on close, in samsa's own group state.
    const admin = kafka.admin()
    await admin.connect()
    const [{ partitions }] = await admin.fetchOffsets({ groupId: 'db-writer', topics: ['rider-updates'] })
    expect(partitions.some((p) => p.offset === '1')).toBe(true)
    await admin.disconnect()
  } finally {
    await kafka.close()
  }
}, 90000)
