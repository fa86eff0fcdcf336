'use strict'

// What the install tests (prebuilt.test.js, package.test.js) share: packing a release,
// running npm as a user would (with or without cargo on PATH), and a small app that
// sends and consumes a message through the installed samsa.

const fs = require('node:fs')
const path = require('node:path')
const { spawn, spawnSync, execFileSync } = require('node:child_process')
const { tempDir, runNode, ROOT } = require('./helpers')

/**
 * Runs scripts/pack-release.js into a fresh folder; resolves with the paths of the main
 * tarball and the platform tarball.
 */
async function packRelease({ build = true } = {}) {
  const out = tempDir('samsa-release-')
  const args = [path.join(ROOT, 'scripts', 'pack-release.js'), '--out', out]
  if (!build) args.push('--no-build')
  const r = await run(process.execPath, args, { cwd: ROOT, env: cleanEnv(), timeoutMs: 15 * 60 * 1000 })
  if (r.code !== 0) throw new Error(`pack-release failed (${r.code})\n${r.stdout}\n${r.stderr}`)
  const files = fs.readdirSync(out)
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
  const main = files.find((f) => f === `${pkg.name}-${pkg.version}.tgz`)
  const platform = files.find((f) => f === `${pkg.name}-linux-x64-gnu-${pkg.version}.tgz`)
  if (!main || !platform) throw new Error(`pack-release wrote ${files.join(', ')}`)
  return { main: path.join(out, main), platform: path.join(out, platform), version: pkg.version, stdout: r.stdout }
}

/**
 * The environment for a user's npm: none of this run's npm_* variables (an outer `npm
 * test` sets some), no CARGO_TARGET_DIR (a dependency's build must pick its own), no
 * --build-from-source.
 */
function cleanEnv(extra = {}) {
  const env = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) || k === 'CARGO_TARGET_DIR' || k === 'INIT_CWD') continue
    env[k] = v
  }
  return { ...env, ...extra }
}

function which(cmd, PATH = process.env.PATH) {
  for (const dir of PATH.split(path.delimiter)) {
    if (!dir) continue
    const p = path.join(dir, cmd)
    try {
      fs.accessSync(p, fs.constants.X_OK)
      return p
    } catch {}
  }
  return null
}

/**
 * A PATH on which cargo (and rustc, rustup) cannot be found but node and npm can: every
 * directory holding a cargo is dropped, and node and npm are reached through a folder of
 * links put first (in case they shared a directory with cargo).
 */
function pathWithoutCargo() {
  const shim = tempDir('samsa-bin-')
  fs.symlinkSync(process.execPath, path.join(shim, 'node'))
  for (const tool of ['npm', 'npx']) {
    const p = which(tool)
    if (p) fs.symlinkSync(fs.realpathSync(p), path.join(shim, tool))
  }
  const dirs = process.env.PATH.split(path.delimiter).filter((d) => d && !['cargo', 'rustc', 'rustup'].some((t) => fs.existsSync(path.join(d, t))))
  const PATH = [shim, ...dirs].join(path.delimiter)
  // The check that it worked, as the user's shell would do it.
  const probe = spawnSync('/bin/sh', ['-c', 'command -v cargo || command -v rustc'], { env: { PATH }, encoding: 'utf8' })
  if (probe.status === 0) throw new Error(`cargo is still reachable on the PATH meant to hide it: ${probe.stdout.trim()}`)
  return PATH
}

/** Spawns a command (never blocking this process's event loop); resolves with its output and time. */
function run(cmd, args, { cwd, env, timeoutMs = 10 * 60 * 1000 } = {}) {
  return new Promise((resolve, reject) => {
    const started = Date.now()
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${cmd} ${args.join(' ')} did not finish within ${timeoutMs} ms\n${stdout}\n${stderr}`))
    }, timeoutMs)
    child.on('error', (e) => {
      clearTimeout(timer)
      reject(e)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started })
    })
  })
}

/**
 * A fresh project folder with its own npm cache and user config, so nothing from this
 * machine's npm setup (a cache holding some other `samsa-linux-x64-gnu`, `omit=optional`)
 * changes what the install does.
 */
function freshProject(name = 'rider-app') {
  const app = tempDir('samsa-app-')
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name, version: '1.0.0', private: true }, null, 2))
  const npmHome = tempDir('samsa-npm-')
  fs.writeFileSync(path.join(npmHome, 'npmrc'), '')
  const npmArgs = ['--no-audit', '--no-fund', '--foreground-scripts', '--cache', path.join(npmHome, 'cache'), '--userconfig', path.join(npmHome, 'npmrc')]
  return { app, npmArgs }
}

/** Sizes in KiB (du -sk) of each path that exists. */
function sizeKiB(p) {
  if (!fs.existsSync(p)) return 0
  return Number(execFileSync('du', ['-sk', p], { encoding: 'utf8' }).split(/\s/)[0])
}

/** Sends a message through the installed samsa and consumes it with a consumer group. */
async function sendAndConsume(app, env) {
  fs.writeFileSync(
    path.join(app, 'main.js'),
    `const { Kafka, logLevel } = require('samsa')
    ;(async () => {
      const kafka = new Kafka({ clientId: 'rider-app', dataDir: './data', logLevel: logLevel.NOTHING })
      const admin = kafka.admin(); await admin.connect()
      await admin.createTopics({ topics: [{ topic: 'rider-updates', numPartitions: 4 }] })
      const producer = kafka.producer(); await producer.connect()
      const [r] = await producer.send({ topic: 'rider-updates', messages: [{ key: 'rider-42', value: JSON.stringify({ lat: 1, lng: 2 }) }] })
      console.log('sent to partition', r.partition, 'offset', r.baseOffset)
      const consumer = kafka.consumer({ groupId: 'db-writer' }); await consumer.connect()
      await consumer.subscribe({ topic: 'rider-updates', fromBeginning: true })
      await new Promise((resolve) => consumer.run({ eachMessage: async ({ partition, message }) => {
        console.log('consumed', message.key.toString(), message.value.toString(), 'from partition', partition, 'offset', message.offset)
        resolve()
      } }))
      await consumer.disconnect(); await producer.disconnect(); await admin.disconnect()
    })().catch((e) => { console.error(e); process.exit(1) })`
  )
  return runNode([path.join(app, 'main.js')], { timeoutMs: 30000, cwd: app, env })
}

const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`
const mib = (kib) => `${(kib / 1024).toFixed(1)} MiB`

module.exports = { packRelease, cleanEnv, pathWithoutCargo, run, freshProject, sizeKiB, sendAndConsume, which, seconds, mib }
