'use strict'

// A user's project installs samsa from its tarball: the install script builds the addon
// with cargo (none of samsa's devDependencies are there) and `require('samsa')` works.
// The cargo target directory is shared with this checkout so the build is incremental.

const fs = require('node:fs')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { tempDir, runNode, ROOT } = require('./helpers')

test('npm pack, then npm install <tarball> in a fresh project builds and runs', async () => {
  const packDir = tempDir('samsa-pack-')
  const app = tempDir('samsa-app-')
  const tarball = execFileSync('npm', ['pack', '--silent', '--pack-destination', packDir], { cwd: ROOT, encoding: 'utf8' }).trim().split('\n').pop()
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'rider-app', version: '1.0.0', private: true }))
  execFileSync('npm', ['install', '--no-audit', '--no-fund', path.join(packDir, tarball)], {
    cwd: app,
    env: { ...process.env, CARGO_TARGET_DIR: path.join(ROOT, 'target') },
    stdio: 'pipe',
  })
  const installed = path.join(app, 'node_modules', 'samsa')
  expect(fs.readdirSync(installed).some((f) => f.endsWith('.node'))).toBe(true)
  // None of samsa's devDependencies came along.
  expect(fs.existsSync(path.join(app, 'node_modules', 'jest'))).toBe(false)
  expect(fs.existsSync(path.join(app, 'node_modules', 'kafkajs'))).toBe(false)

  fs.writeFileSync(
    path.join(app, 'main.js'),
    `const { Kafka, logLevel } = require('samsa')
    ;(async () => {
      const kafka = new Kafka({ clientId: 'rider-app', dataDir: './data', logLevel: logLevel.NOTHING })
      const admin = kafka.admin(); await admin.connect()
      await admin.createTopics({ topics: [{ topic: 'rider-updates', numPartitions: 4 }] })
      const producer = kafka.producer(); await producer.connect()
      const [r] = await producer.send({ topic: 'rider-updates', messages: [{ key: 'rider-42', value: JSON.stringify({ lat: 1, lng: 2 }) }] })
      console.log('partition', r.partition, 'offset', r.baseOffset)
      await producer.disconnect(); await admin.disconnect()
    })()`
  )
  const r = await runNode([path.join(app, 'main.js')], { timeoutMs: 15000, cwd: app })
  expect(r.stderr).toBe('')
  expect(r.stdout.trim()).toMatch(/^partition [0-3] offset 0$/)
}, 300000)
